"""Saving and loading fitted estimators without pickle.

Unpickling runs whatever code the file names, so a pickle from an untrusted source
is unsafe to open. :func:`save` writes one `safetensors <https://huggingface.co/docs/
safetensors>`_ file instead, which any safetensors reader can open. Its tensors are
the module's weights and buffers (``module.*``), the optimizer's per-parameter state
(``optimizer.state.<index>.<key>``) and the fitted arrays (``attributes.*``); its
metadata holds a JSON document (``skae.estimator``: class name, parameters, other
fitted attributes, ``set_output`` setting) and ``skae.sha256``, a digest of the
document and of every tensor's name, dtype, shape and bytes. The network, its
optimizer settings and its training history are not stored: they are rebuilt from
the parameters and fitted attributes.

:func:`load` checks everything in one pass (``_rebuild``, top to bottom) before
anything uses it; its docstring lists the checks.
"""

import hashlib
import json
import numbers
import os
import secrets
import stat
import struct
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import _ESTIMATORS
from ._modules import ConvAutoencoder, MLPAutoencoder
from ._net import _restore_device
from ._version import __version__

# format "1" also stored skorch's history and optimizer settings; format "2" kept
# its three metadata entries in an order that changed from one save to the next
_FORMAT = "3"
_SECTIONS = {"class", "skae_version", "params", "attributes", "output"}
_OUTPUTS = [{}, {"transform": "default"}, {"transform": "pandas"}, {"transform": "polars"}]


def _class_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _known_classes(trusted):
    """Classes a file may name: skae's modules, torch's optimizers, and ``trusted``."""
    optimizers = [
        value
        for value in vars(torch.optim).values()
        if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
    ]
    return {
        _class_name(cls): cls for cls in [MLPAutoencoder, ConvAutoencoder, *optimizers, *trusted]
    }


class _Encoder:
    """JSON-ready form of a value; numeric arrays go to ``tensors`` by name.

    Tuples, dicts, classes, arrays and NumPy random states become one-key objects
    whose key says what to rebuild, so that loading gives back the same types.
    """

    def __init__(self):
        self.tensors = {}
        self.classes = []

    def __call__(self, value, name):
        if value is None or isinstance(value, str | bool):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, tuple):
            return {"tuple": [self(v, f"{name}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self(v, f"{name}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {"dict": [[self(k, name), self(v, f"{name}.{k}")] for k, v in value.items()]}
        if isinstance(value, type):
            self.classes.append(value)
            return {"class": _class_name(value)}
        if isinstance(value, np.random.RandomState):
            algorithm, key, *rest = value.get_state()
            return {"random_state": [algorithm, key.tolist(), *rest]}
        if isinstance(value, np.ndarray) and value.dtype == object:
            if not all(isinstance(v, str) for v in value.flat):
                raise TypeError(f"{name} holds objects other than strings.")
            return {"strings": value.tolist()}
        if isinstance(value, np.ndarray):
            self.tensors[name] = np.ascontiguousarray(value)
            return {"array": name}
        raise TypeError(f"{name} is a {type(value).__name__}, which skae.save cannot store.")


def _decode(value, tensors, classes):
    """Rebuild what ``_Encoder`` encoded, taking each array out of ``tensors``."""
    if isinstance(value, list):
        return [_decode(v, tensors, classes) for v in value]
    if not isinstance(value, dict):
        return value
    ((kind, content),) = value.items()
    if kind == "tuple":
        return tuple(_decode(v, tensors, classes) for v in content)
    if kind == "dict":
        return {_decode(k, tensors, classes): _decode(v, tensors, classes) for k, v in content}
    if kind == "class":
        if content not in classes:
            raise ValueError(
                f"the file names the class {content!r}, which skae.load does not build "
                "unless it is passed in trusted=[...]."
            )
        return classes[content]
    if kind == "random_state":
        random_state = np.random.RandomState()
        random_state.set_state(tuple(content))
        return random_state
    if kind == "array":
        return tensors.pop(content)
    if kind == "strings":
        return np.array(content, dtype=object)
    raise ValueError(f"unknown entry {kind!r}")


def _sha256(text, tensors):
    """SHA-256 of the document ``text``, of the tensors' names, dtypes and shapes,
    and of their bytes, in name order."""
    names = sorted(tensors)
    index = [text, [[name, tensors[name].dtype.str, tensors[name].shape] for name in names]]
    digest = hashlib.sha256(json.dumps(index).encode())
    for name in names:
        digest.update(tensors[name].tobytes())
    return digest.hexdigest()


def _serialize(document, tensors):
    """The bytes of a skae file holding ``document`` (JSON-ready) and ``tensors``;
    the same bytes for the same content."""
    text = json.dumps(document)
    # one metadata entry, since safetensors writes several in no fixed order
    header = {"format": _FORMAT, "estimator": text, "sha256": _sha256(text, tensors)}
    return safetensors.numpy.save(tensors, metadata={"skae": json.dumps(header)})


def _deserialize(data, source):
    """``(document, tensors)`` of skae file bytes, after checking format and digest."""
    try:
        tensors = safetensors.numpy.load(data)
        (header_length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8 : 8 + header_length])["__metadata__"]
        if "skae" in metadata:
            header = json.loads(metadata["skae"])
            text, digest, version = (header[k] for k in ("estimator", "sha256", "format"))
        else:
            text, digest, version = None, None, metadata["skae.format"]
        if version == _FORMAT:
            document = json.loads(text)
    except Exception:  # whatever the bytes hold, the caller gets a ValueError
        raise ValueError(
            f"{source} is not a file written by skae.save, or it is damaged: safetensors "
            "cannot read it, or it lacks skae's metadata."
        ) from None
    if version != _FORMAT:
        raise ValueError(
            f"{source} has skae format {version!r}; this skae ({__version__}) reads "
            f"format {_FORMAT!r}. Load it with the skae that wrote it, or refit."
        )
    if digest != _sha256(text, tensors):
        raise ValueError(
            f"SHA-256 check failed for {source}: it is damaged, or its bytes changed "
            "after skae.save wrote it. Refusing to load it."
        )
    return document, tensors


def _to_bytes(estimator):
    """The bytes of a skae file for a fitted ``estimator``, and the classes it names."""
    encode = _Encoder()
    attributes, tensors = estimator._saved_state()
    document = {
        "class": type(estimator).__name__,
        "skae_version": __version__,
        "params": encode(estimator.get_params(deep=False), "params"),
        "attributes": encode(attributes, "attributes"),
        "output": encode(getattr(estimator, "_sklearn_output_config", {}), "output"),
    }
    return _serialize(document, encode.tensors | tensors), encode.classes


def _from_bytes(data, source, trusted):
    """The fitted estimator in skae file bytes, its network on the CPU."""
    document, tensors = _deserialize(data, source)
    try:
        return _rebuild(document, tensors, _known_classes(trusted))
    except Exception as error:  # whatever the file holds, the caller gets a ValueError
        reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        raise ValueError(f"Cannot load {source}: {reason}") from None


def _write_atomically(path, data):
    """Write ``data`` to a new file in the folder of ``path``, then rename it to
    ``path``: an existing file is replaced whole or, if anything fails, kept, and
    the replaced file's permissions carry over."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    try:
        with open(temporary, "xb") as file:
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save(estimator, path):
    """Store a fitted skae estimator in a file that loading cannot make run code.

    The file is a safetensors file: weights, the optimizer's per-parameter state
    (Adam's moments, SGD's momentum; not L-BFGS's history, which restarts) and
    fitted arrays as tensors; parameters and other fitted attributes as JSON in its
    metadata; and a SHA-256 of both, which :func:`load` verifies. The bytes are
    loaded back in memory before they are written, so a file that ``save`` writes
    loads. They go to a temporary file in the same folder, renamed to ``path`` once
    complete: an existing file at ``path`` is replaced whole, or kept if writing
    fails.

    Parameters
    ----------
    estimator : fitted skae estimator
        AutoencoderTransformer, AutoencoderOutlierDetector, LinearAETransformer,
        VAETransformer or VAEOutlierDetector. A custom ``module`` class is stored by name; loading
        it needs ``trusted=[that class]``.
    path : str or path-like
        File to write, conventionally ending in ``.skae``.

    Raises
    ------
    TypeError
        If the estimator is not one of skae's, or a parameter holds a value that
        cannot be stored without pickle (an object other than numbers, strings,
        tuples, lists, dicts, classes and NumPy random states).
    ValueError
        If the estimator's parameters no longer describe its fitted network
        (changed with ``set_params`` after fitting), so the file could not load.
    OSError
        If the file cannot be written; an existing file at ``path`` is unchanged.

    See Also
    --------
    load : Read the file back.
    pickle, joblib.dump : Store any object, but loading runs code from the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> import skae
    >>> X = load_iris().data
    >>> lae = skae.LinearAETransformer(n_components=2, random_state=0).fit(X)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lae.skae"
    >>> skae.save(lae, path)
    >>> bool(np.array_equal(skae.load(path).transform(X), lae.transform(X)))
    True
    """
    if type(estimator) not in _ESTIMATORS.values():
        raise TypeError(
            f"skae.save stores skae's estimators ({', '.join(_ESTIMATORS)}), "
            f"not {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    name = type(estimator).__name__
    try:
        # load builds the network from the parameters alone, learning rate and
        # batch size included, so all of them must still describe it
        estimator._check_net_matches_params()
    except ValueError as error:
        raise ValueError(f"Cannot save this {name}: {error}") from None
    data, classes = _to_bytes(estimator)
    try:
        _from_bytes(data, path, classes)
    except ValueError as error:
        raise ValueError(
            f"Cannot save this {name}: the file would not load. {error} If parameters were "
            "changed after fit, refit, or set them back, before saving."
        ) from None
    _write_atomically(path, data)


def load(path, *, trusted=()):
    """Load an estimator stored by :func:`save`, refusing changed or foreign files.

    Everything in the file is checked before it is used: its SHA-256, which catches
    damage (not forgery: whoever can write a file can write a matching digest); the
    classes it names, built only if they are skae's estimators and modules, torch's
    optimizers or in ``trusted``; its parameters, by the rules ``fit`` applies; its
    fitted attributes, by type, shape and value; and every tensor, for finite
    values and for the shape and dtype the parameters imply. The module is first
    built on PyTorch's meta device, which allocates nothing, so a file cannot make
    loading allocate more than its own tensors. Learning rate, batch size and the
    rest of the training setup come from the parameters, never from the file, and
    nothing in the file is executed. The network goes on the estimator's
    ``device`` if that exists here, else on the CPU (with a warning unless
    ``device="auto"``).

    Parameters
    ----------
    path : str or path-like
        File written by :func:`save`.
    trusted : sequence of classes, default=()
        Classes, besides skae's modules and torch's optimizers, that the file may
        name, such as a custom ``module`` class. Such a module must be buildable on
        PyTorch's meta device, where load first builds it to check the file.

    Returns
    -------
    estimator : fitted skae estimator
        The estimator the file holds; ``transform`` gives the same result bit for bit, and
        ``partial_fit`` or a warm start continue the training exactly as the saved
        estimator would.

    Raises
    ------
    ValueError
        If the file is not a skae file or is damaged, if it names a class that is
        neither skae's nor trusted, or if any entry breaks the rules or does not
        fit the others; the message names the entry.

    See Also
    --------
    save : Write such a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> import skae
    >>> X = load_digits().data / 16
    >>> ae = skae.AutoencoderTransformer(4, max_iter=3, n_iter_no_change=None,
    ...                                  random_state=0).fit(X)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ae.skae"
    >>> skae.save(ae, path)
    >>> loaded = skae.load(path)
    >>> bool(np.array_equal(loaded.transform(X), ae.transform(X)))
    True
    >>> loaded.partial_fit(X).n_iter_
    4
    """
    estimator = _from_bytes(Path(path).read_bytes(), path, trusted)
    _restore_device(estimator.net_, estimator.device)
    return estimator


def _rebuild(document, tensors, classes):
    """The fitted estimator that ``document`` and ``tensors`` describe, its net on the CPU."""
    if not isinstance(document, dict) or set(document) != _SECTIONS:
        raise ValueError(f"its document must have exactly the entries {sorted(_SECTIONS)}.")
    name = document["class"]
    if not isinstance(name, str) or name not in _ESTIMATORS:
        raise ValueError(
            f"it holds a {name!r}, which is not a skae estimator; skae.load builds only "
            f"{', '.join(_ESTIMATORS)}."
        )
    cls = _ESTIMATORS[name]
    for tensor_name, array in tensors.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise ValueError(f"the tensor {tensor_name} holds NaN or infinite values.")
    tensors = dict(tensors)  # each array is taken out as it is used
    params = _decode(document["params"], tensors, classes)
    names = set(cls().get_params(deep=False))
    if not isinstance(params, dict) or set(params) != names:
        raise ValueError(f"its parameters must be exactly those of {name}: {sorted(names)}.")
    estimator = cls(**params)
    estimator._check_params()
    attributes = _decode(document["attributes"], tensors, classes)
    if not isinstance(attributes, dict) or not attributes.keys() <= cls._fitted_state.keys():
        raise ValueError(
            f"its fitted attributes must be among those of {name}: {list(cls._fitted_state)}."
        )
    vars(estimator).update(attributes)
    for attribute, entry in cls._fitted_state.items():
        if attribute in attributes:
            entry.check(attribute, attributes[attribute], estimator)
        elif not entry.optional:
            raise ValueError(f"the fitted attribute {attribute} is missing.")
    estimator._check_consistency()
    output = _decode(document["output"], tensors, classes)
    if output not in _OUTPUTS:
        raise ValueError(f"its set_output setting {output!r} is none of {_OUTPUTS}.")
    if output:
        estimator.set_output(**output)
    estimator._restore_net(tensors)
    if tensors:
        raise ValueError(f"it holds tensors that {name} does not use: {sorted(tensors)}.")
    return estimator
