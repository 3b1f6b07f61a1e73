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
import struct
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._autoencoder import AutoencoderOutlierDetector, AutoencoderTransformer
from ._base import _describe_changes, _restore_device
from ._linear import LinearAETransformer
from ._modules import ConvAutoencoder, MLPAutoencoder
from ._net import _make_net
from ._vae import VAEOutlierDetector, VAETransformer
from ._validation import _validate_params
from ._version import __version__

# format "1" also stored skorch's history and optimizer settings, which load no
# longer takes from a file
_FORMAT = "2"
_ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        AutoencoderTransformer,
        AutoencoderOutlierDetector,
        LinearAETransformer,
        VAETransformer,
        VAEOutlierDetector,
    )
}
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
    """The bytes of a skae file holding ``document`` (JSON-ready) and ``tensors``."""
    text = json.dumps(document)
    metadata = {
        "skae.format": _FORMAT,
        "skae.estimator": text,
        "skae.sha256": _sha256(text, tensors),
    }
    return safetensors.numpy.save(tensors, metadata=metadata)


def _deserialize(data, source):
    """``(document, tensors)`` of skae file bytes, after checking format and digest."""
    try:
        tensors = safetensors.numpy.load(data)
        (header_length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8 : 8 + header_length])["__metadata__"]
        text, digest, version = (metadata[f"skae.{k}"] for k in ("estimator", "sha256", "format"))
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


def _optimizer_state(optimizer):
    """The optimizer's per-parameter state as ``{"optimizer.state.<index>.<key>":
    tensor}``; empty where it holds other values (L-BFGS keeps lists and numbers),
    which a file does not store."""
    entries = {
        f"optimizer.state.{index}.{key}": value
        for index, state in optimizer.state_dict()["state"].items()
        for key, value in state.items()
    }
    return entries if all(isinstance(v, torch.Tensor) for v in entries.values()) else {}


def _on_cpu(estimator):
    """An unfitted copy of ``estimator`` with ``device="cpu"``: its ``_net_params``
    describe the same network, also where the estimator's device does not exist."""
    return clone(estimator).set_params(device="cpu")


def _to_bytes(estimator):
    """The bytes of a skae file for a fitted ``estimator``, and the classes it names."""
    encode = _Encoder()
    attributes = {k: v for k, v in vars(estimator).items() if k in estimator._fitted_state}
    document = {
        "class": type(estimator).__name__,
        "skae_version": __version__,
        "params": encode(estimator.get_params(deep=False), "params"),
        "attributes": encode(attributes, "attributes"),
        "output": encode(getattr(estimator, "_sklearn_output_config", {}), "output"),
    }
    net = estimator.net_
    state = net.module_.state_dict(prefix="module.") | _optimizer_state(net.optimizer_)
    tensors = {name: t.detach().cpu().contiguous().numpy() for name, t in state.items()}
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
    ``path``: an existing file is replaced whole or, if anything fails, kept."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "xb") as file:
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
    name, net, cpu = type(estimator).__name__, estimator.net_, _on_cpu(estimator)
    n_features = estimator.n_features_in_
    # a width that fit found from the data (None, a variance ratio) is n_components_
    n_components = estimator.n_components
    if not isinstance(n_components, numbers.Integral):
        n_components = estimator.n_components_
    # load builds the network from the parameters alone, learning rate and batch
    # size included, so all of them must still describe it
    now = cpu._net_params(n_features, n_components)
    changes = cpu._net_changes(net, n_features, n_components) | {
        key: (getattr(net, key), now[key])
        for key in ("lr", "batch_size")
        if getattr(net, key) != now[key]
    }
    if changes:
        raise ValueError(
            f"Cannot save this {name}: its parameters no longer describe its fitted "
            f"network, which was built with {_describe_changes(changes)}. Were they "
            "changed after fit? "
            "Refit, or set them back, before saving."
        )
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
    _validate_params(estimator, estimator._parameter_rules)
    attributes = _decode(document["attributes"], tensors, classes)
    if not isinstance(attributes, dict) or not attributes.keys() <= cls._fitted_state.keys():
        raise ValueError(
            f"its fitted attributes must be among those of {name}: {list(cls._fitted_state)}."
        )
    vars(estimator).update(attributes)
    _check_fitted_state(estimator)
    output = _decode(document["output"], tensors, classes)
    if output not in _OUTPUTS:
        raise ValueError(f"its set_output setting {output!r} is none of {_OUTPUTS}.")
    if output:
        estimator.set_output(**output)
    estimator.net_ = _restore_net(estimator, tensors)
    if tensors:
        raise ValueError(f"it holds tensors that {name} does not use: {sorted(tensors)}.")
    return estimator


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
        if value is None and name in getattr(estimator, "_fitted_none", ()):
            continue
        if isinstance(allowed, tuple):
            shape = tuple(getattr(estimator, d) for d in allowed)
            strings = name == "feature_names_in_"
            dtypes = (object,) if strings else (np.float32, np.float64)
            if (
                not isinstance(value, np.ndarray)
                or value.dtype not in dtypes
                or value.shape != shape
                or (strings and not all(isinstance(v, str) for v in value))
            ):
                raise ValueError(
                    f"{name} must be an array of {'str' if strings else 'float32 or float64'}"
                    f" of shape {shape} ({', '.join(allowed)}); got {type(value).__name__} "
                    f"of shape {np.shape(value)}, dtype {getattr(value, 'dtype', None)}."
                )
        elif not any(rule.accepts(value) for rule in allowed):
            described = " or ".join(str(rule) for rule in allowed)
            raise ValueError(f"{name}={value!r} must be {described}.")
    n_components = estimator.n_components
    if isinstance(n_components, numbers.Integral) and n_components != estimator.n_components_:
        raise ValueError(
            f"n_components={estimator.n_components!r} but "
            f"n_components_={estimator.n_components_!r}."
        )
    # the network's history is rebuilt from these, so they must agree as fit leaves them
    n_iter, scores = estimator.n_iter_, estimator.validation_scores_
    best = estimator.best_validation_score_
    if (
        len(estimator.loss_curve_) != n_iter
        or (scores is None) == estimator.early_stopping
        or (scores is None and best is not None)
        or (scores is not None and (len(scores) != n_iter or best != max(scores)))
    ):
        raise ValueError(
            f"n_iter_={n_iter}, loss_curve_, validation_scores_ and best_validation_score_"
            f" do not agree with each other or with early_stopping={estimator.early_stopping}"
            ": fit records one loss and, with early stopping, one validation score per epoch."
        )


def _check_tensors(what, expected, found):
    """Raise ValueError unless the tensors ``found`` have exactly the names, dtypes
    and shapes of the tensors ``expected``."""

    def described(name, tensors):
        tensor = tensors.get(name)
        return "nothing" if tensor is None else f"{tensor.dtype} of shape {tuple(tensor.shape)}"

    names = expected.keys() | found.keys()
    wrong = sorted(n for n in names if described(n, expected) != described(n, found))
    if wrong:
        raise ValueError(
            f"its parameters do not fit its {what}: {wrong[0]} should hold "
            f"{described(wrong[0], expected)}, the file holds {described(wrong[0], found)} "
            f"({len(wrong)} of {len(names)} entries differ)."
        )


def _state_after_a_step(net):
    """The state tensors that a step of ``net``'s optimizer creates, found by taking
    one with zero gradients; the optimizer is then built afresh (the weights it
    changed are about to be overwritten)."""
    parameters = [p for group in net.optimizer_.param_groups for p in group["params"]]
    for parameter in parameters:
        parameter.grad = torch.zeros_like(parameter)
    net.optimizer_.step(lambda: torch.zeros(()))
    state = _optimizer_state(net.optimizer_)
    for parameter in parameters:
        parameter.grad = None
    net.initialize_optimizer()
    return state


def _restore_net(estimator, tensors):
    """Build the estimator's net on the CPU from its parameters, and load into it
    the weights and optimizer state it takes out of ``tensors``, once checked."""
    params = _on_cpu(estimator)._net_params(estimator.n_features_in_, estimator.n_components_)
    module_params = {k[len("module__") :]: v for k, v in params.items() if k.startswith("module__")}
    with torch.device("meta"):
        expected = params["module"](**module_params).state_dict(prefix="module.")
    weights = {
        n: torch.from_numpy(tensors.pop(n)) for n in list(tensors) if n.startswith("module.")
    }
    _check_tensors("weights", expected, weights)
    net = _make_net(estimator._net_class, 0, **params)
    expected = _state_after_a_step(net)
    stored = {
        n: torch.from_numpy(tensors.pop(n)) for n in list(tensors) if n.startswith("optimizer.")
    }
    # a parameter that the optimizer never stepped has no state in the file
    stepped = {name.rsplit(".", 1)[0] for name in stored}
    expected = {n: t for n, t in expected.items() if n.rsplit(".", 1)[0] in stepped}
    _check_tensors("optimizer state", expected, stored)
    state = {}
    for name, tensor in stored.items():
        if name.endswith(".step") and (tensor < 0).any():
            raise ValueError(f"{name} is negative.")
        _, _, index, key = name.split(".")
        state.setdefault(int(index), {})[key] = tensor
    net.module_.load_state_dict(
        {n.removeprefix("module."): w for n, w in weights.items()}, strict=True
    )
    optimizer = net.optimizer_
    optimizer.load_state_dict(
        {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
    )
    scores = estimator.validation_scores_
    net.history = History(
        [
            {"epoch": i + 1, "train_loss": loss}
            | ({} if scores is None else {"valid_loss": -scores[i]})
            for i, loss in enumerate(estimator.loss_curve_)
        ]
    )
    return net
