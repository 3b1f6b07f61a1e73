"""Saving and loading fitted estimators without pickle.

Unpickling runs whatever code the file names, so a pickle from an untrusted source
is unsafe to open. :func:`save` writes one `safetensors <https://huggingface.co/docs/
safetensors>`_ file instead, which any safetensors reader can open:

- tensors: the module's weights (``module.*``), the optimizer's state
  (``optimizer.*``) and the fitted numeric arrays (``attributes.*``), stored bit for
  bit;
- metadata ``skae.estimator``: a JSON document with the estimator's class name,
  its parameters, its other fitted attributes, its training history, and where
  each tensor belongs;
- metadata ``skae.sha256``: the SHA-256 of the whole file, computed with these 64
  hex digits set to zeros.

:func:`load` checks the digest before it interprets anything, and builds objects
only from a fixed table: skae's estimators and modules, torch's optimizers, and
classes the caller passes as ``trusted``. Nothing in a file is executed.
"""

import hashlib
import hmac
import json
import numbers
import struct
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._autoencoder import AutoencoderOutlierDetector, AutoencoderTransformer
from ._base import _restore_device
from ._linear import LinearAETransformer
from ._modules import ConvAutoencoder, MLPAutoencoder
from ._net import _make_net
from ._validation import _validate_params
from ._version import __version__

_FORMAT = "1"
_ESTIMATORS = {
    cls.__name__: cls
    for cls in (AutoencoderTransformer, AutoencoderOutlierDetector, LinearAETransformer)
}
_DIGEST_KEY = b'"skae.sha256":"'
_DIGEST_LENGTH = 64


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
    """JSON-ready form of a value; arrays and tensors go to ``tensors`` by name.

    Tuples, dicts (with any keys), classes, arrays, tensors and NumPy random states
    become one-key objects whose key says what to rebuild, so that loading gives
    back values of the same types.
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
            return {
                "dict": [
                    [self(k, f"{name}.key{i}"), self(v, f"{name}.{k}")]
                    for i, (k, v) in enumerate(value.items())
                ]
            }
        if isinstance(value, type):
            self.classes.append(value)
            return {"class": _class_name(value)}
        if isinstance(value, np.random.RandomState):
            return {"random_state": self(value.get_state(), name)}
        if name in self.tensors:
            raise ValueError(f"two entries would both be stored as {name!r}.")
        if isinstance(value, torch.Tensor):
            self.tensors[name] = value.detach().cpu().contiguous().numpy()
            return {"tensor": name}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                if not all(isinstance(v, str) for v in value.flat):
                    raise TypeError(f"{name} holds objects other than strings.")
                return {"strings": value.tolist()}
            self.tensors[name] = np.ascontiguousarray(value)
            return {"array": name}
        raise TypeError(f"{name} is a {type(value).__name__}, which skae.save cannot store.")


def _decode(value, tensors, classes):
    """Rebuild what ``_Encoder`` encoded."""
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
        random_state.set_state(_decode(content, tensors, classes))
        return random_state
    if kind == "tensor":
        return torch.from_numpy(np.array(tensors[content]))
    if kind == "array":
        return np.array(tensors[content])
    if kind == "strings":
        return np.array(content, dtype=object)
    raise ValueError(f"unknown entry {kind!r}")


def _digest_span(data):
    """Start and end of the digest's hex digits inside the header of ``data``."""
    (header_length,) = struct.unpack("<Q", data[:8])
    header_end = 8 + header_length
    if data.count(_DIGEST_KEY, 8, header_end) != 1:
        raise ValueError("no single skae.sha256 entry in the header")
    start = data.index(_DIGEST_KEY, 8, header_end) + len(_DIGEST_KEY)
    return start, start + _DIGEST_LENGTH


def _sha256(data, span):
    start, stop = span
    return hashlib.sha256(data[:start] + b"0" * _DIGEST_LENGTH + data[stop:]).hexdigest()


def _serialize(document, tensors):
    """The bytes of a skae file holding ``document`` (JSON-ready) and ``tensors``."""
    metadata = {
        "skae.format": _FORMAT,
        "skae.estimator": json.dumps(document),
        "skae.sha256": "0" * _DIGEST_LENGTH,
    }
    data = safetensors.numpy.save(tensors, metadata=metadata)
    span = _digest_span(data)
    return data[: span[0]] + _sha256(data, span).encode() + data[span[1] :]


def _deserialize(data, source):
    """``(document, tensors)`` of skae file bytes, after checking their digest.

    The digest is compared as bytes, before any JSON is parsed.
    """
    try:
        span = _digest_span(data)
    except (struct.error, ValueError) as error:
        raise ValueError(
            f"{source} is not a file written by skae.save, or it is damaged ({error})."
        ) from None
    if not hmac.compare_digest(data[span[0] : span[1]], _sha256(data, span).encode()):
        raise ValueError(
            f"SHA-256 check failed for {source}: its bytes changed after skae.save "
            "wrote it. Refusing to load it."
        )
    try:
        (header_length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8 : 8 + header_length])["__metadata__"]
        if metadata.get("skae.format") != _FORMAT:
            raise ValueError(
                f"it has skae format {metadata.get('skae.format')!r}; this skae "
                f"({__version__}) reads format {_FORMAT!r}"
            )
        document = json.loads(metadata["skae.estimator"])
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # whatever the bytes hold, the caller gets a ValueError
        raise ValueError(f"Cannot load {source}: {type(error).__name__}: {error}") from None
    return document, tensors


def _to_bytes(estimator):
    """The bytes of a skae file for a fitted ``estimator``, and the classes it names."""
    encode = _Encoder()
    net = estimator.net_
    attributes = {name: value for name, value in vars(estimator).items() if _is_fitted_name(name)}
    document = {
        "class": type(estimator).__name__,
        "skae_version": __version__,
        "params": encode(estimator.get_params(deep=False), "params"),
        "attributes": encode(attributes, "attributes"),
        "output": encode(getattr(estimator, "_sklearn_output_config", {}), "output"),
        "net": {
            "module": encode(net.module_.state_dict(), "module"),
            "optimizer_class": _class_name(type(net.optimizer_)),
            "optimizer": encode(net.optimizer_.state_dict(), "optimizer"),
            "history": encode(list(net.history), "history"),
            "batch_size": net.batch_size,
        },
    }
    return _serialize(document, encode.tensors), encode.classes


def _from_bytes(data, source, trusted):
    """The fitted estimator in skae file bytes, its network on the CPU."""
    document, tensors = _deserialize(data, source)
    name = document.get("class") if isinstance(document, dict) else None
    if not isinstance(name, str) or name not in _ESTIMATORS:
        raise ValueError(
            f"{source} holds a {name!r}, which is not a skae estimator; skae.load builds "
            f"only {', '.join(_ESTIMATORS)}."
        )
    try:
        return _rebuild(_ESTIMATORS[name], document, tensors, _known_classes(trusted))
    except Exception as error:  # whatever the file holds, the caller gets a ValueError
        raise ValueError(f"Cannot load {source}: {error}") from None


def save(estimator, path):
    """Store a fitted skae estimator in a file that loading cannot make run code.

    The file is a safetensors file: weights, optimizer state and fitted arrays as
    tensors, parameters and the rest of the fitted state as JSON in its metadata,
    and a SHA-256 of all its bytes, which :func:`load` verifies. Before writing,
    the bytes are loaded back in memory, so a file that ``save`` writes loads.

    Parameters
    ----------
    estimator : AutoencoderTransformer, AutoencoderOutlierDetector or \
LinearAETransformer
        A fitted estimator. A custom ``module`` class is stored by name; loading
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
    n_components = (
        estimator.n_components_ if estimator.n_components is None else estimator.n_components
    )
    changes = estimator._net_changes(estimator.net_, estimator.n_features_in_, n_components)
    if changes:
        described = ", ".join(f"{k}={old!r} (now {new!r})" for k, (old, new) in changes.items())
        raise ValueError(
            f"Cannot save this {type(estimator).__name__}: its parameters no longer "
            f"describe its fitted network, which was built with {described}. Were they "
            "changed after fit? Refit, or set them back, before saving."
        )
    data, _ = _to_bytes(estimator)
    Path(path).write_bytes(data)


def load(path, *, trusted=()):
    """Load an estimator stored by :func:`save`, refusing changed or foreign files.

    The file's SHA-256 is checked first, so any byte changed since :func:`save`
    wrote it (by damage or by hand) is refused. The digest is not a signature:
    whoever can write a file can also write a matching digest. What keeps loading
    safe is that nothing in the file is executed: it is parsed as JSON and tensors,
    and only skae's estimators and modules, torch's optimizers and the classes in
    ``trusted`` are ever built. The network goes on the estimator's ``device`` if
    that exists here, else on the CPU (with a warning unless ``device="auto"``).

    Parameters
    ----------
    path : str or path-like
        File written by :func:`save`.
    trusted : sequence of classes, default=()
        Classes, besides skae's modules and torch's optimizers, that the file may
        name, such as a custom ``module`` class.

    Returns
    -------
    estimator : AutoencoderTransformer, AutoencoderOutlierDetector or \
LinearAETransformer
        The fitted estimator; ``transform`` gives the same result bit for bit, and
        ``partial_fit`` or a warm start continue the training exactly as the saved
        estimator would.

    Raises
    ------
    ValueError
        If any byte of the file changed after it was written (its SHA-256 does
        not match), if it names an estimator class that skae does not have or a
        class that is not trusted, if its parameters do not fit its weights or
        fitted arrays, or if it is not a skae file at all.

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
    >>> ae = skae.AutoencoderTransformer(4, max_iter=3, random_state=0).fit(X)
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


def _is_fitted_name(name):
    """Whether ``name`` is a public fitted attribute that a file stores (not ``net_``)."""
    return (
        isinstance(name, str)
        and name.isidentifier()
        and name.endswith("_")
        and not name.startswith("_")
        and name != "net_"
    )


def _check_fitted_state(estimator):
    """Raise ValueError where fitted attributes are missing, malformed, or
    contradict each other or the parameters."""
    optional = {"feature_names_in_"}
    if not getattr(estimator, "align", True):
        optional |= set(estimator._aligned)
    for name, allowed in estimator._fitted_state.items():
        if not hasattr(estimator, name):
            if name in optional:
                continue
            raise ValueError(f"the fitted attribute {name} is missing.")
        value = getattr(estimator, name)
        if isinstance(allowed, tuple):
            shape = tuple(getattr(estimator, d) for d in allowed)
            kind = np.object_ if name == "feature_names_in_" else np.floating
            if (
                not isinstance(value, np.ndarray)
                or not np.issubdtype(value.dtype, kind)
                or value.shape != shape
                or (kind is np.object_ and not all(isinstance(v, str) for v in value))
            ):
                raise ValueError(
                    f"{name} must be an array of {'str' if kind is np.object_ else 'floats'}"
                    f" of shape {shape} ({', '.join(allowed)}); got {type(value).__name__} "
                    f"of shape {np.shape(value)}."
                )
        elif not any(rule.accepts(value) for rule in allowed):
            described = " or ".join(str(rule) for rule in allowed)
            raise ValueError(f"{name}={value!r} must be {described}.")
    if estimator.n_components is not None and estimator.n_components != estimator.n_components_:
        raise ValueError(
            f"n_components={estimator.n_components!r} but "
            f"n_components_={estimator.n_components_!r}."
        )


def _rebuild(cls, document, tensors, classes):
    """The fitted estimator that ``document`` describes, its net on the CPU."""
    estimator = cls(**_decode(document["params"], tensors, classes))
    _validate_params(estimator, estimator._parameter_rules)
    for attribute, value in _decode(document["attributes"], tensors, classes).items():
        if attribute not in cls._fitted_state:
            raise ValueError(f"{attribute!r} is not a fitted attribute of {cls.__name__}.")
        setattr(estimator, attribute, value)
    output = _decode(document["output"], tensors, classes)
    if output:
        estimator.set_output(**output)
    _check_fitted_state(estimator)
    estimator.net_ = _restore_net(estimator, document["net"], tensors, classes)
    return estimator


def _restore_net(estimator, stored, tensors, classes):
    """Build the estimator's net on the CPU and load the stored state into it."""
    weights = _decode(stored["module"], tensors, classes)
    params = estimator._net_params(estimator.n_features_in_, estimator.n_components_)
    net = _make_net(0, **params | {"device": "cpu", "batch_size": stored["batch_size"]})
    expected = {k: (tuple(v.shape), v.dtype) for k, v in net.module_.state_dict().items()}
    found = {k: (tuple(v.shape), v.dtype) for k, v in weights.items()}
    if expected != found:
        difference = sorted(set(expected.items()) ^ set(found.items()), key=str)
        raise ValueError(
            f"its parameters do not fit its weights: they build {expected}, the file "
            f"holds {found} (first difference: {difference[0]})."
        )
    optimizer_class = _class_name(type(net.optimizer_))
    if optimizer_class != stored["optimizer_class"]:
        raise ValueError(
            f"its parameters do not fit its optimizer state: they build a "
            f"{optimizer_class}, the file holds the state of a {stored['optimizer_class']}."
        )
    net.module_.load_state_dict(weights)
    net.optimizer_.load_state_dict(_decode(stored["optimizer"], tensors, classes))
    net.history = History(_decode(stored["history"], tensors, classes))
    return net
