"""Saving and loading fitted estimators without pickle.

Unpickling runs whatever code the file names, so a pickle from an untrusted source
is unsafe to open. :func:`save` writes one `safetensors <https://huggingface.co/docs/
safetensors>`_ file instead, which any safetensors reader can open. Its tensors are
the module's weights and buffers (``module.*``), the optimizer's per-parameter state
(``optimizer.state.<index>.<key>``), float16's loss scale (``scaler.*``) and the
fitted arrays (``attributes.*``); its
metadata holds a JSON document (``skae.estimator``: class name, the skae release
that wrote it and the versions of its dependencies, parameters, other fitted
attributes, ``set_output`` setting, metadata requests if any were set) and
``skae.sha256``, a digest of the document
and of every tensor's name, dtype, shape and bytes. The network, its optimizer
settings and its training history are not stored: they are rebuilt from the
parameters and fitted attributes.

:func:`load` checks everything in one pass (``_rebuild``, top to bottom) before
anything uses it; its docstring lists the checks. It reads the files of every
release since 0.2.0, whose format is this one: a parameter that a file's release
did not have yet takes its default, which reproduces what that release did (each
estimator class names in ``_parameters_added`` the release that added each
parameter; a file lacking one that its release had is refused). A version's label
spans the commits that added its parameters, so its files may lack those too.
"""

import errno
import hashlib
import json
import math
import numbers
import os
import re
import secrets
import stat
import struct
import warnings
from pathlib import Path

import numpy as np
import safetensors.numpy
import sklearn
import skorch
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import _ESTIMATORS
from ._modules import ConvAutoencoder, MLPAutoencoder
from ._net import _restore_device
from ._validation import _caller_level
from ._version import InconsistentVersionWarning, __version__

# format "1" also stored skorch's history and optimizer settings; format "2" kept
# its three metadata entries in an order that changed from one save to the next
_FORMAT = "3"
_SECTIONS = {"class", "skae_version", "params", "attributes", "output"}
# sections that skae 0.2.0's files lack: optional, so that those files keep loading;
# "requests" is written only for an estimator with metadata requests set
_OPTIONAL_SECTIONS = {"dependencies", "requests"}
_OUTPUTS = [{}, {"transform": "default"}, {"transform": "pandas"}, {"transform": "polars"}]


def _dependencies():
    """The installed release of each package whose code computes a loaded model's
    outputs or continues its training."""
    return {
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
    }


# a dependency's release as a file records it ("2.13.0+cpu"): ASCII digits (``\d``
# takes any script's) and a bounded length, since the file is untrusted
_DEPENDENCY_RELEASE = re.compile(r"([0-9]{1,6})\.([0-9]{1,6})[0-9A-Za-z.+_-]{0,256}")


def _release(version, what):
    """``version`` ("0.3.0") as integers, to compare releases by number ("0.10.0"
    comes after "0.9.0"); ValueError naming ``what`` if it is not such a number."""
    match = (
        re.fullmatch(r"([0-9]{1,6})\.([0-9]{1,6})\.([0-9]{1,6})", version)
        if isinstance(version, str)
        else None
    )
    if match is None:
        raise ValueError(f"its {what} {version!r} is not a release number such as '0.3.0'.")
    return tuple(int(part) for part in match.groups())


def _major_minor(version):
    """The first two numbers of a package's ``version`` ("2.13.0+cpu": (2, 13))."""
    return tuple(int(part) for part in _DEPENDENCY_RELEASE.match(version).groups())


def _version_drift(document):
    """``(written, current)``: the releases of skae and of its dependencies that
    differ between the file's ``document`` and this environment in a way that may
    change results (any other skae; another major or minor dependency release)."""
    written = {"skae": document["skae_version"]}
    # skae 0.2.0 recorded no dependencies: only its own release can be compared
    written |= document.get("dependencies", {})
    current = {"skae": __version__} | _dependencies()
    # a file without them (0.2.0's, or one of the commits labelled 0.3.0 before
    # they were recorded) says nothing of them: its skae is named as the difference
    unknown = "dependencies" not in document
    differ = [
        package
        for package in written
        if (package == "skae" and unknown)
        or (
            written[package] != current[package]
            and (
                package == "skae"
                or _major_minor(written[package]) != _major_minor(current[package])
            )
        )
    ]
    return {p: written[p] for p in differ}, {p: current[p] for p in differ}


def _warn_of_version_drift(document, source):
    written, current = _version_drift(document)
    if not written:
        return
    recorded = ", ".join(f"{package} {version}" for package, version in written.items())
    here = ", ".join(f"{package} {version}" for package, version in current.items())
    if "dependencies" not in document:
        recorded += ", which did not record its dependencies"
        here += " with " + ", ".join(f"{p} {v}" for p, v in _dependencies().items())
    message = (
        f"{source} was written with {recorded}; this is {here}. It loads as saved, but "
        "its outputs may differ in their last bits and further training may take other "
        "steps. Save it again to record this environment, or refit it."
    )
    warnings.warn(InconsistentVersionWarning(message, written, current), stacklevel=_caller_level())


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
        if isinstance(value, torch.Tensor):
            # kept as a NumPy array, it came back as one, which a module may refuse
            raise TypeError(
                f"{name} is a torch.Tensor, which skae.save cannot store as a parameter: "
                "pass a NumPy array (the module can make a tensor of it), or store with "
                "pickle."
            )
        if not isinstance(value, np.ndarray) and hasattr(value, "__array__"):
            # a pandas Index or Series (categorical_features, as HistGradientBoosting
            # takes it): kept as its NumPy array
            value = np.asarray(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
            items = value.tolist()
            others = [v for v in items if not isinstance(v, str)] if value.ndim == 1 else [items]
            if others:
                # a category array of one kind of number or booleans is typed
                # (_categorical._typed): objects here are mixed, or out of range
                kinds = sorted({type(v).__name__ for v in (items if value.ndim == 1 else others)})
                raise TypeError(
                    f"{name} holds objects of type {', '.join(kinds)}: skae.save stores "
                    "arrays whose entries are all numbers (integers within int64 or "
                    "uint64), all booleans or all strings, one dimension for strings (fit "
                    "on a categorical column cast with .astype(str), or store with pickle)."
                )
            return {"strings": items}
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            self.tensors[name] = np.ascontiguousarray(value)
            return {"array": name}
        raise TypeError(f"{name} is a {type(value).__name__}, which skae.save cannot store.")


def _generator_state(content):
    """A RandomState's state as the file gives it, checked: NumPy reads its key at
    the position the state names without a bound, so a position past the key's 624
    words crashed the interpreter at the first draw."""
    if not (isinstance(content, list) and len(content) == 5):
        raise ValueError("a random_state entry must hold the five parts of MT19937's state.")
    algorithm, key, position, has_gauss, gauss = content
    words = isinstance(key, list) and len(key) == 624
    if not (
        algorithm == "MT19937"
        and words
        and all(type(w) is int and 0 <= w < 2**32 for w in key)
        and type(position) is int
        and 0 <= position <= 624
        and has_gauss in (0, 1)
        and type(has_gauss) is int
        and type(gauss) is float
        and math.isfinite(gauss)
    ):
        raise ValueError(
            "a random_state entry is no MT19937 state: it needs 624 words below 2**32, "
            "a position from 0 to 624, a flag of 0 or 1 and a finite float."
        )
    return algorithm, np.array(key, dtype=np.uint32), position, has_gauss, gauss


def _decode(value, tensors, classes):
    """Rebuild what ``_Encoder`` encoded, taking each array out of ``tensors``."""
    if isinstance(value, list):
        return [_decode(v, tensors, classes) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:  # the encoder writes one kind per entry
        raise ValueError(f"an entry holds {len(value)} kinds ({sorted(value)}), not one.")
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
        random_state.set_state(_generator_state(content))
        return random_state
    if kind == "array":
        if content not in tensors:
            raise ValueError(f"the file refers to an array {content!r} that it does not hold.")
        return tensors.pop(content)
    if kind == "strings":
        # what the encoder writes: a flat list of strings (names, categories)
        if not (isinstance(content, list) and all(isinstance(v, str) for v in content)):
            raise ValueError("an entry of strings holds something other than a list of strings.")
        array = np.empty(len(content), dtype=object)
        array[:] = content
        return array
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


# safetensors' own bound on the JSON header
_MAX_HEADER = 100_000_000


def _check_declared_size(path):
    """Raise ValueError unless the file at ``path`` has the size that its header
    declares (8 bytes of length, the JSON header, the tensors' bytes), read from the
    header alone: a file of gigabytes, sparse on disk, was read whole before
    safetensors refused its trailing bytes."""
    declared, size = None, os.stat(path).st_size
    try:
        with open(path, "rb") as file:
            (header_length,) = struct.unpack("<Q", file.read(8))
            if header_length <= min(_MAX_HEADER, size - 8):
                header = json.loads(file.read(header_length))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
                declared = 8 + header_length + max(ends, default=0)
    except Exception:  # whatever the bytes hold, the caller gets a ValueError
        pass
    if declared != size:
        raise ValueError(
            f"{path} is not a file written by skae.save, or it is damaged: its size is "
            "not the one its header declares."
        )


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
        newer = isinstance(version, str) and version.isascii() and version.isdigit()
        newer = newer and len(version) < 6 and int(version) > int(_FORMAT)
        advice = "Upgrade skae to load it" if newer else "Load it with the skae that wrote it"
        raise ValueError(
            f"{source} has skae format {version!r}; this skae ({__version__}) reads "
            f"format {_FORMAT!r}. {advice}, or refit."
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
        "dependencies": _dependencies(),
        "params": encode(estimator.get_params(deep=False), "params"),
        "attributes": encode(attributes, "attributes"),
        "output": encode(getattr(estimator, "_sklearn_output_config", {}), "output"),
    }
    # set_fit_request and the like: kept as a pickle keeps them, or a routed
    # search refused the loaded estimator's weights
    if "_metadata_request" in vars(estimator):
        document["requests"] = encode(estimator._metadata_request._serialize(), "requests")
    return _serialize(document, encode.tensors | tensors), encode.classes


def _from_bytes(data, source, trusted):
    """The fitted estimator in skae file bytes, its network on the CPU, and the
    file's document."""
    document, tensors = _deserialize(data, source)
    try:
        return _rebuild(document, tensors, _known_classes(trusted)), document
    except Exception as error:  # whatever the file holds, the caller gets a ValueError
        reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        raise ValueError(f"Cannot load {source}: {reason}") from None


def _write_atomically(path, data):
    """Write ``data`` to a new file in the folder of ``path``, then rename it to
    ``path``: an existing file is replaced whole or, if anything fails, kept, and
    the replaced file's permissions carry over; a file this process may not write
    is refused, as ``open`` refuses it. A symbolic link is written
    through, to the file it names, as ``open`` writes; the temporary name is short,
    so that any name the folder takes can be written. What is not a file (a device
    such as /dev/null, a pipe) is written into, as ``open`` writes it: a file
    renamed over it replaced it."""
    given = os.fsdecode(path)
    if not given or given.endswith(os.sep):  # names no file: as open(path, "wb") answers
        error = IsADirectoryError if given else FileNotFoundError
        raise error(errno.EISDIR if given else errno.ENOENT, "Not a file name", given)
    path = Path(os.path.realpath(given))
    temporary = path.with_name(f".skae-{secrets.token_hex(8)}.tmp")
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        with open(path, "wb") as file:
            file.write(data)
        return
    mode = None if info is None else stat.S_IMODE(info.st_mode)
    if mode is not None and not os.access(path, os.W_OK):
        # the rename needs only the folder's permission; refuse as open(path, "wb")
        # would, rather than replace a file its owner made read-only
        raise PermissionError(errno.EACCES, "Cannot replace a file not writable", str(path))
    try:
        file = open(temporary, "xb")
    except OSError as error:
        # no such folder, no permission: named by the path given, as open names
        # it, not by a temporary name the caller never gave
        raise type(error)(error.errno, error.strerror, given) from None
    try:
        with file:
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

    The file is a safetensors file: weights, the optimizer's per-parameter state (Adam's
    moments, SGD's momentum; not L-BFGS's history, which restarts), the loss scale of
    float16 training and fitted arrays as tensors; parameters and other fitted
    attributes as JSON in its metadata, with the releases of skae, PyTorch, NumPy,
    scikit-learn and skorch that wrote it; and a SHA-256 of both, which :func:`load`
    verifies. The bytes are loaded back in memory before they are written, so a file
    that ``save`` writes loads. They go to a temporary file in the same folder, renamed
    to ``path`` once complete: an existing file at ``path`` is replaced whole, or kept
    if writing fails.

    Parameters
    ----------
    estimator : fitted skae estimator
        Any of skae's estimators. A custom ``module`` class is stored by name;
        loading it needs ``trusted=[that class]``. An array-like parameter (a
        pandas Index or Series) is stored as its NumPy array.
    path : str or path-like
        File to write, conventionally ending in ``.skae``.

    Raises
    ------
    TypeError
        If the estimator is not one of skae's, or a parameter holds a value that
        cannot be stored without pickle (an object other than numbers, strings,
        tuples, lists, dicts, arrays, classes and NumPy random states).
    ValueError
        If the estimator's parameters no longer describe its fitted network
        (changed with ``set_params`` after fitting), so the file could not load.
    OSError
        If the file cannot be written (``PermissionError`` for an existing file this
        process may not write, even where its folder would let it be replaced); an
        existing file at ``path`` is unchanged.

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

    Files of every skae release since 0.2.0 load in every later one. A parameter
    added since the file's release takes its default, which does what that
    release did; where a new default would not, the estimator lists the parameter
    and the file is refused with a message naming it and the release that added
    it. A file of a newer skae than this one is refused.

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
        If ``path`` is not a file (a folder, a device, a pipe), if the file is not a
        skae file or is damaged, if it was written by a newer
        skae, if it names a class that is neither skae's nor trusted, or if any
        entry breaks the rules or does not fit the others; the message names the
        entry.

    Warns
    -----
    InconsistentVersionWarning
        If the file was written by another skae release, or with another major or
        minor release of PyTorch, NumPy, scikit-learn or skorch than those
        installed here.

    See Also
    --------
    save : Write such a file.
    show_versions : The releases installed here.

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
    try:
        classes = None if isinstance(trusted, str | type) else tuple(trusted)
    except TypeError:  # not iterable
        classes = None
    if classes is None or not all(isinstance(c, type) for c in classes):
        raise TypeError(f"trusted must be a sequence of classes, got {trusted!r}.")
    trusted = classes  # a generator is read once
    path = os.fsdecode(path)  # a str, bytes or os.PathLike, as save takes it
    # a device or a pipe would be read without end (/dev/zero) or wait for a writer
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"Cannot load {path}: it is not a file.")
    _check_declared_size(path)
    estimator, document = _from_bytes(Path(path).read_bytes(), path, trusted)
    _warn_of_version_drift(document, path)
    _restore_device(estimator.net_, estimator.device)
    return estimator


def _check_missing_parameters(cls, missing, version, written):
    """Refuse a file without the parameters ``missing`` of ``cls``, unless its
    release (``version``, ``written`` as numbers) came before them: then their
    defaults do what that release did. ``_parameters_added`` names the release
    that added each; a version's label spans the commits that added some of them
    (0.2.0's did, and so does this unreleased one's), so a file of that version may
    lack those too. A file lacking a parameter that its release had is no file of
    that release (one without ``whiten`` loaded unwhitened)."""
    if not missing:
        return
    added = cls._parameters_added
    held = sorted(p for p in missing if p not in added or _release(added[p], p) < written)
    if held:
        raise ValueError(
            f"it lacks the parameters {held}, which the files of skae {version} hold: it "
            "was not written by skae.save, or was changed after."
        )


def _set_requests(estimator, requests):
    """Set the metadata ``requests`` (``{method: {parameter: request}}``) of a file on
    ``estimator`` through its ``set_<method>_request`` methods, which check them."""
    methods = estimator._get_metadata_request()._serialize()
    if not (
        isinstance(requests, dict)
        and requests.keys() <= methods.keys()
        and all(isinstance(r, dict) and r.keys() <= methods[m].keys() for m, r in requests.items())
    ):
        raise ValueError(
            f"its metadata requests {requests!r} must be among those of "
            f"{type(estimator).__name__}: {methods}."
        )
    with sklearn.config_context(enable_metadata_routing=True):
        for method, request in requests.items():
            if not all(v is None or isinstance(v, bool | str) for v in request.values()):
                raise ValueError(f"its metadata requests {requests!r} must be None, bool or str.")
            try:
                getattr(estimator, f"set_{method}_request")(**request)
            except ValueError as error:
                raise ValueError(f"its metadata requests {requests!r}: {error}") from None


def _rebuild(document, tensors, classes):
    """The fitted estimator that ``document`` and ``tensors`` describe, its net on the CPU."""
    if not isinstance(document, dict) or not _SECTIONS <= set(document) <= _SECTIONS | (
        _OPTIONAL_SECTIONS
    ):
        raise ValueError(
            f"its document must have the entries {sorted(_SECTIONS)}, and may have "
            f"{sorted(_OPTIONAL_SECTIONS)}."
        )
    # first, since a newer release's file may hold anything
    written = _release(document["skae_version"], "skae_version")
    if written < (0, 2, 0):
        raise ValueError(
            f"it says skae {document['skae_version']} wrote it, but releases before 0.2.0 "
            f"wrote other formats than {_FORMAT!r}: it was not written by skae.save."
        )
    if written > _release(__version__, "version"):
        raise ValueError(
            f"it was written by skae {document['skae_version']}, which is newer than this "
            f"skae ({__version__}). Upgrade skae to load it."
        )
    # every release since 0.3.0 records these packages (a release that records more
    # must accept files without them)
    dependencies = document.get("dependencies", _dependencies())
    if not (
        isinstance(dependencies, dict)
        and dependencies.keys() == _dependencies().keys()
        and all(
            isinstance(v, str) and _DEPENDENCY_RELEASE.fullmatch(v) for v in dependencies.values()
        )
    ):
        raise ValueError(
            f"its dependencies {dependencies!r} must name a release of each of "
            f"{sorted(_dependencies())}."
        )
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
    if not isinstance(params, dict) or not params.keys() <= names:
        raise ValueError(f"its parameters must be among those of {name}: {sorted(names)}.")
    _check_missing_parameters(cls, names - params.keys(), document["skae_version"], written)
    estimator = cls(**params)  # a parameter the file's release lacked takes its default
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
    # a dict first: an array compared with the dicts had no truth value
    if not isinstance(output, dict) or output not in _OUTPUTS:
        raise ValueError(f"its set_output setting {output!r} is none of {_OUTPUTS}.")
    if output:
        estimator.set_output(**output)
    if "requests" in document:
        _set_requests(estimator, _decode(document["requests"], tensors, classes))
    estimator._restore_net(tensors)
    if tensors:
        raise ValueError(f"it holds tensors that {name} does not use: {sorted(tensors)}.")
    return estimator
