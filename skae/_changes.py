"""Whether an estimator's parameters still describe the net it built.

A warm start, ``partial_fit`` and ``skae.save`` compare the skorch arguments a net
was built with against those the estimator's parameters give now, by value
(``_comparable``): lists and dicts entry by entry, arrays by a digest of their
bytes, NaN equal to NaN; objects without a value (a module instance) are not
compared. Scores and reconstructions compare only the few settings they read
(``_check_scored_settings``), on every call.
"""

import dataclasses
import hashlib
import math
import numbers

import numpy as np
import torch

# skorch arguments that do not change what a net computes or the state it trains
# (nor do the callbacks': stopping, schedule, progress)
_UNCOMPARED = {"device", "verbose", "max_epochs", "batch_size", "lr", "precision", "n_jobs"}


def _changed_args(net, params, *, training=False):
    """``{name: (built, now)}`` for each skorch argument of ``params`` (its
    module's, criterion's, optimizer's, corruption's) with which ``net`` was built
    differently, by value (``_comparable``): an argument set anew, or a list or
    dict changed in place since ``_make_net`` kept a copy of it; learning rate and
    batch size only with ``training``; device, logging and the callbacks' settings
    never."""
    built, kept = net.get_params(), getattr(net, "built_args_", {})
    compared = {"lr", "batch_size"} if training else set()
    changes = {}
    for key, value in params.items():
        if (key in _UNCOMPARED and key not in compared) or key.startswith("callbacks__"):
            continue
        if built.get(key) is not value and not _same_value(
            _comparable(built.get(key)), _comparable(value)
        ):
            changes[key] = (built.get(key), value)
        # the net's own list or dict is the user's: changed in place, it differs
        # from the copy kept only
        elif key in kept and not _same_value(kept[key], _comparable(value, arrays=False)):
            changes[key] = (kept[key], value)
    return changes


_PLAIN = str | bytes | numbers.Number | np.generic | np.dtype | type | torch.dtype | None


_UNCOMPARABLE = object()  # an object that has no value to compare: not compared


@dataclasses.dataclass(frozen=True)
class _ArrayDigest:
    """What an array holds: its dtype, shape and the SHA-256 of its bytes."""

    dtype: str
    shape: tuple
    sha256: str


def _comparable(value, *, arrays=True):
    """``value`` as the data it builds a network from, for ``_same_value``: a list
    or tuple as a tuple, a dict entry by entry, a string, number (NumPy's scalars
    included), class or dtype as it is, and an array (``_as_array``) as an
    ``_ArrayDigest`` (one of objects or strings entry by entry); any other object
    (a module, a generator) is ``_UNCOMPARABLE``, and so is an array without
    ``arrays`` (the copy a net keeps of its arguments): a module may hold it as a
    parameter and train it in place, so its values kept from the build would
    differ without any change by the user (and double its memory)."""
    if isinstance(value, list | tuple):
        return tuple(_comparable(v, arrays=arrays) for v in value)
    if isinstance(value, dict):
        return {k: _comparable(v, arrays=arrays) for k, v in value.items()}
    if isinstance(value, _PLAIN):
        return value
    array = _as_array(value) if arrays else None
    if array is None:
        return _UNCOMPARABLE
    if array.dtype.hasobject or array.dtype.kind == "T":
        return (array.shape, *(_comparable(v) for v in array.ravel()))
    try:
        digest = hashlib.sha256(np.ascontiguousarray(array).view(np.uint8)).hexdigest()
    except (TypeError, ValueError):
        return _UNCOMPARABLE
    return _ArrayDigest(array.dtype.str, array.shape, digest)


def _as_array(value):
    """``value`` as an ndarray where it is an array: an ndarray, a pandas object, a
    CPU tensor, anything NumPy reads through ``__array__`` (a polars Series), but
    a Dask array (which it would compute); else None."""
    if isinstance(value, np.ndarray):
        return value
    library = type(value).__module__.partition(".")[0]
    # no warnings.catch_warnings here: it changes every thread's filters, and fits
    # run in threads at once
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy() if value.device.type == "cpu" else None
        if library == "pandas":
            return value.to_numpy()
        if hasattr(value, "__array__") and library != "dask":
            return np.asarray(value)
    except Exception:  # a dtype NumPy has not (bfloat16)
        return None
    return None


def _same_value(built, now):
    """Whether two ``_comparable`` values are equal, NaN equal to NaN."""
    if built is _UNCOMPARABLE or now is _UNCOMPARABLE:
        return True
    if isinstance(built, tuple) and isinstance(now, tuple):
        return len(built) == len(now) and all(map(_same_value, built, now))
    if isinstance(built, dict) and isinstance(now, dict):
        return built.keys() == now.keys() and all(_same_value(built[k], now[k]) for k in now)
    try:
        return bool(built == now) or _both_missing(built, now)
    except Exception:  # an equality that raises (a structured scalar of arrays)
        return False


def _both_missing(built, now):
    """Whether ``built`` and ``now`` are both NaN (floats) or both NaT, of one type."""
    if type(built) is not type(now):
        return False
    if isinstance(built, numbers.Real):
        return math.isnan(built) and math.isnan(now)
    if isinstance(built, np.datetime64 | np.timedelta64):
        return bool(np.isnat(built) and np.isnat(now))
    return False


def _describe_changes(changes):
    """``name=built (now value)`` for each entry of ``_net_changes``."""
    return ", ".join(f"{k}={old!r} (now {new!r})" for k, (old, new) in changes.items())


def _cannot_continue(changes):
    """The ValueError of a fit that would continue a network built with other
    settings, ``changes`` as ``_describe_changes`` takes them."""
    return ValueError(
        f"Cannot continue training: the network was built with {_describe_changes(changes)}. "
        "Set the parameters back, or call fit with warm_start=False to build a new network."
    )


def _scored_changes(estimator):
    """``{name: (fitted, now)}`` for each parameter that scores and reconstructions
    read (``estimator._scored_settings``: the loss, the output activation, the
    likelihood) that differs from its fitted net's criterion's. Plain attribute
    reads: inference asks on every call."""
    net = estimator.net_
    return {
        name: (getattr(net, f"criterion__{name}"), getattr(estimator, name))
        for name in estimator._scored_settings
        if getattr(net, f"criterion__{name}") != getattr(estimator, name)
    }


def _check_scored_settings(estimator):
    """ValueError where ``_scored_changes`` finds any: scores and reconstructions
    would mix two models (a detector's ``offset_`` came from the fitted one's)."""
    changes = _scored_changes(estimator)
    if changes:
        raise ValueError(
            f"{type(estimator).__name__} was fitted with {_describe_changes(changes)}: "
            "scores and reconstructions would mix the fitted network with the new "
            "setting. Refit, or set the parameters back."
        )
