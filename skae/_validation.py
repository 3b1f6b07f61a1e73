"""Declarative checks of hyper-parameters, done in ``fit``, and of fitted state,
done by ``skae.load``.

Each estimator keeps a class-level table ``_parameter_rules`` that maps a
parameter name to a list of allowed forms; ``_validate_params`` checks every value
against its list and names the parameter, the value given and what is allowed.
Its table ``_fitted_state`` maps each fitted attribute to a ``_Fitted`` (allowed
forms) or an ``_Array`` (dtype and shape), each saying whether it may be absent.
scikit-learn keeps a similar machinery private, so we keep our own small one, under
another name: scikit-learn's estimator checks read ``_parameter_constraints`` as its
own private types.
"""

import inspect
import math
import numbers
import os
import sys
from dataclasses import dataclass

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
import skorch
import torch
from sklearn.utils import check_array

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class _Interval:
    """Numbers between ``left`` and ``right``; ``None`` leaves a side open."""

    kind: type  # numbers.Integral or numbers.Real
    left: float | None
    right: float | None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def accepts(self, value):
        if isinstance(value, bool | np.bool_) or not isinstance(value, self.kind):
            return False
        # NaN compares False with every bound, and an infinity is no number in a range
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return False
        # torch and NumPy compute with 64-bit ints: a larger Python int overflows there
        if isinstance(value, numbers.Integral) and not _INT64_MIN <= value <= _INT64_MAX:
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self):
        name = "an int" if self.kind is numbers.Integral else "a float"
        lo = "-inf" if self.left is None else self.left
        hi = "inf" if self.right is None else self.right
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        return f"{name} in the range {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class _Options:
    """One of a fixed set of strings."""

    options: tuple

    def accepts(self, value):
        return isinstance(value, str) and value in self.options

    def __str__(self):
        if len(self.options) == 1:
            return repr(self.options[0])
        return "one of " + ", ".join(repr(o) for o in self.options)


class _Sizes:
    """A sequence of positive ints, such as ``hidden_layer_sizes``, or one positive int
    for a single layer (as ``MLPRegressor`` takes it; ``_modules._widths`` reads
    either as a tuple)."""

    def accepts(self, value):
        size = _Interval(numbers.Integral, 1, None)
        if isinstance(value, np.ndarray) and value.ndim != 1:
            return False
        if isinstance(value, tuple | list | np.ndarray):
            return all(size.accepts(v) for v in value)
        return size.accepts(value)

    def __str__(self):
        return "a positive int or a tuple of positive ints"


class _Instance:
    """An instance of one of the given types (``None`` allowed by passing NoneType)."""

    def __init__(self, *types, name):
        self.types, self.name = types, name

    def accepts(self, value):
        return isinstance(value, self.types)

    def __str__(self):
        return self.name


class _SubclassOf:
    """A class deriving from ``base``, e.g. a ``torch.optim.Optimizer`` subclass."""

    def __init__(self, base, name):
        self.base, self.name = base, name

    def accepts(self, value):
        return isinstance(value, type) and issubclass(value, self.base)

    def __str__(self):
        return self.name


class _ListOf:
    """A list whose items all pass ``rule``."""

    def __init__(self, rule):
        self.rule = rule

    def accepts(self, value):
        return isinstance(value, list) and all(self.rule.accepts(v) for v in value)

    def __str__(self):
        return f"a list of {self.rule}"


_BOOLEAN = _Instance(bool, np.bool_, name="a bool")
_NONE = _Instance(type(None), name="None")
# what numpy seeds from, as scikit-learn allows it
_RANDOM_STATE = [
    _NONE,
    _Interval(numbers.Integral, 0, 2**32 - 1),
    _Instance(np.random.RandomState, name="a RandomState"),
]


class _InvalidParameterError(ValueError, TypeError):
    """A parameter outside its allowed forms.

    Both a ``ValueError`` and a ``TypeError``, as scikit-learn's own
    ``InvalidParameterError`` is, so callers catching either see it.
    """


# n_jobs: None, "adaptive", a positive count, or -1, -2, ... (every core, all but one, ...)
_N_JOBS = [
    _NONE,
    _Options(("adaptive",)),
    _Interval(numbers.Integral, -(2**15), -1),
    _Interval(numbers.Integral, 1, 2**15),
]


def _validate_params(estimator, constraints):
    """Raise ``_InvalidParameterError`` for the first parameter that breaks
    ``constraints`` (a rule of a base class's parameter that a subclass fixes
    instead, as the imputer fixes its autoencoder's loss, does not apply)."""
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if not any(c.accepts(value) for c in allowed):
            described = " or ".join(str(c) for c in allowed)
            beyond = (
                " (an int beyond the 64 bits that torch and NumPy compute with)"
                if isinstance(value, numbers.Integral) and not _INT64_MIN <= value <= _INT64_MAX
                else ""
            )
            raise _InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be "
                f"{described}. Got {value!r} instead{beyond}."
            )


class _Fitted:
    """A fitted scalar or list attribute: one of ``rules``; ``optional`` if a fit
    may leave it unset."""

    def __init__(self, *rules, optional=False):
        self.rules, self.optional = rules, optional

    def check(self, name, value, estimator):
        if not any(rule.accepts(value) for rule in self.rules):
            described = " or ".join(str(rule) for rule in self.rules)
            raise ValueError(f"{name}={value!r} must be {described}.")


class _Array:
    """A fitted array whose shape is given by other attributes (``dims``): float32
    or float64, or with ``strings`` str objects; None too if ``none``; ``optional``
    if a fit may leave it unset."""

    def __init__(self, *dims, strings=False, none=False, optional=False):
        self.dims, self.strings, self.none, self.optional = dims, strings, none, optional

    def check(self, name, value, estimator):
        if value is None and self.none:
            return
        shape = tuple(getattr(estimator, d) for d in self.dims)
        dtypes = (object,) if self.strings else (np.float32, np.float64)
        if (
            not isinstance(value, np.ndarray)
            or value.dtype not in dtypes
            or value.shape != shape
            or (self.strings and not all(isinstance(v, str) for v in value))
        ):
            raise ValueError(
                f"{name} must be an array of {'str' if self.strings else 'float32 or float64'}"
                f" of shape {shape} ({', '.join(self.dims)}); got {type(value).__name__} "
                f"of shape {np.shape(value)}, dtype {getattr(value, 'dtype', None)}."
            )


def _check_same_tensors(what, expected, found):
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


def _in_memory_table(X):
    """A Dask DataFrame as its pandas frame, anything else as it is: scikit-learn's
    checks read neither its column names nor its nullable columns (``pd.NA``)."""
    return X.compute() if hasattr(X, "__dask_graph__") and hasattr(X, "columns") else X


def _check_weights(sample_weight, X):
    """``sample_weight`` as a float64 array of one finite, non-negative weight per
    row of ``X`` (a number: that weight for every row), not all zero; ValueError
    naming it otherwise. The caller's array is never written to."""
    n_rows = X.shape[0]
    if isinstance(sample_weight, numbers.Number):
        weights = np.full(n_rows, sample_weight, dtype=np.float64)
    else:
        weights = check_array(
            sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
        )
        # scikit-learn's wording
        if weights.ndim != 1:
            raise ValueError("Sample weights must be 1D array or scalar")
        if weights.shape != (n_rows,):
            raise ValueError(f"sample_weight.shape == {weights.shape}, expected {(n_rows,)}!")
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight holds NaN or infinite values.")
    if (weights < 0).any():
        raise ValueError(
            f"sample_weight must be non-negative; got {weights.min():.4g} "
            f"(sample {int(np.argmin(weights))})."
        )
    if not weights.any():
        raise ValueError("sample_weight is zero for every sample: at least one must weigh more.")
    return weights


def _check_unit_interval(X, setting, alternative, sample_weight=None):
    """Raise ValueError unless the observed values of ``X`` (NaN: missing) lie in
    [0, 1], as ``setting`` needs; a row of zero ``sample_weight`` counts for
    nothing, whatever it holds."""
    values = X.data if sp.issparse(X) else X
    if sample_weight is not None and not (sample_weight > 0).all():
        kept = sample_weight > 0
        values = values[np.repeat(kept, np.diff(X.indptr))] if sp.issparse(X) else values[kept]
    # fmin and fmax skip NaN; a sparse matrix's implicit zeros lie in [0, 1]
    low = np.fmin.reduce(values, axis=None, initial=np.inf)
    high = np.fmax.reduce(values, axis=None, initial=-np.inf)
    if low < 0 or high > 1:
        # an end past the interval in full (1.0000001 is not 1)
        ends = [f"{v:.4g}" if 0 <= v <= 1 else repr(float(v)) for v in (low, high)]
        # negative values in scikit-learn's words, as its checks of estimators
        # tagged positive_only (and check_non_negative) expect them
        negative = "Negative values in data: " if low < 0 else ""
        raise ValueError(
            f"{negative}{setting} needs X in [0, 1]; got values in [{ends[0]}, {ends[1]}]. "
            f"Scale X (e.g. MinMaxScaler) or use {alternative}."
        )


def _check_min_rows(n_rows, minimum, estimator):
    """Raise ValueError where ``n_rows`` is fewer than the ``minimum`` that a fit of
    ``estimator`` needs (scikit-learn's wording)."""
    if n_rows < minimum:
        raise ValueError(
            f"Found array with {n_rows} sample(s) while a minimum of {minimum} is "
            f"required by {type(estimator).__name__}."
        )


def _caller_level():
    """The ``stacklevel`` at which ``warnings.warn``, called in the function that
    calls this, names the first caller outside skae, skorch, scikit-learn and joblib: the
    line of the user's code, however many frames of theirs lie between
    (``fit_transform``, the ``set_output`` wrapper, a Pipeline, a search).
    In a process that joblib started (loky), its worker's frames."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level


_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, skorch.__file__, sklearn.__file__, joblib.__file__)
)


def _check_training_record(estimator):
    """Raise ValueError where a fitted estimator's ``n_iter_``, ``loss_curve_``,
    ``validation_scores_`` and ``best_validation_score_`` disagree with each other
    or with its ``early_stopping``, as no fit leaves them."""
    n_iter, scores = estimator.n_iter_, estimator.validation_scores_
    best, early_stopping = estimator.best_validation_score_, estimator.early_stopping
    if (
        len(estimator.loss_curve_) != n_iter
        or (scores is None) == early_stopping
        or (scores is None and best is not None)
        or (scores is not None and (len(scores) != n_iter or best not in (scores or [None])))
    ):
        raise ValueError(
            f"n_iter_={n_iter}, loss_curve_, validation_scores_ and best_validation_score_"
            f" do not agree with each other or with early_stopping={early_stopping}"
            ": fit records one loss and, with early stopping, one validation score per "
            "epoch, the best of its last run among them."
        )


def _merged_table(cls, table):
    """The class attribute ``table`` merged over ``cls``'s bases, base entries first."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get(table, {}))
    return merged


def _check_optimizer_settings(optimizer, alpha, precision):
    """Raise ValueError where ``alpha`` or ``precision`` asks of ``optimizer`` (a
    class) what it cannot do."""
    if alpha > 0 and "weight_decay" not in inspect.signature(optimizer).parameters:
        raise ValueError(
            f"alpha={alpha} is applied as the optimizer's weight_decay, which "
            f"{optimizer.__name__} does not take; set alpha=0."
        )
    if precision == "float16" and optimizer is torch.optim.LBFGS:
        raise ValueError(
            "precision='float16' scales the loss step by step, which L-BFGS's "
            "line search cannot take; use precision='bfloat16' or 'float32'."
        )
