"""Categorical columns as categories: the ``categorical_features`` parameter of the
nonlinear autoencoders, spelled as
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` spells it.

The estimator encodes each categorical column itself. The network's input and
output hold the numeric columns first, in their order, then one block per
categorical column of one entry per category of the first fit
(``categories_``, sorted: those its rows hold, and every one the column's dtype
declares, a pandas ``category`` or a polars ``Enum``): a one-hot block in the
input, and the logits of a softmax head in the output, trained with its
cross-entropy. A missing entry
(NaN, None, NaT, ``pd.NA``: what ``pd.isna`` finds) is a missing value: its whole
block is missing, enters the encoder as the fill values (the categories' training
frequencies) and is left out of the loss, as the missing-values feature does for
a numeric entry. A category unseen in the first fit enters the encoder as missing
when transforming or scoring, as :class:`~sklearn.preprocessing.OneHotEncoder`
with ``handle_unknown="ignore"`` ignores it; a score counts it as observed, at
the cross-entropy of the row's least probable known category and at least that
of a category never seen in training (``_new_category_surprise``), so that a new
category does not make a row look more typical; in a later
``partial_fit`` or warm-started
``fit`` it is an error naming the column, since the network's heads are sized by
the first fit's categories.

Weighting: a row's loss and its reconstruction error are the mean over its
observed original columns, each column counting once: a numeric column by the
estimator's loss (squared error on standardized data is about 1 for a guess of
the mean), a categorical column by its cross-entropy in nats (``log(k)`` for a
uniform guess over ``k`` categories, 0 for a certain right one). One-hot encoding
the columns by hand instead would count a column of ``k`` categories ``k`` times.
The variational autoencoder's likelihood is a product over the columns: a
Gaussian (or Bernoulli) for each numeric one, a categorical for each categorical
one.
"""

import itertools
import math
import numbers
import re
import sys

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.utils.validation import validate_data

from ._changes import _cannot_continue, _check_scored_settings
from ._distributed import _refuse_in_group
from ._losses import _bernoulli_divergence, _by_column, _unknown_marks
from ._missing import _as_fill, _filled, _hide_unobserved, _observed_entries
from ._net import _run_chunks
from ._validation import _Array, _in_memory_table

# the dtype names of table columns that "from_dtype" takes as categorical, before
# any "(", "[" or "<": pandas' (with its pyarrow-backed strings and dictionaries,
# Arrow's categorical) and polars'
_CATEGORICAL_DTYPES = {
    "category",
    "object",
    "string",
    "str",
    "large_string",
    "string_view",
    "dictionary",
    "String",
    "Utf8",
    "Categorical",
    "Enum",
}


class _CategoricalSpec:
    """The forms of ``categorical_features`` (the details are checked in fit)."""

    def accepts(self, value):
        if value is None or (isinstance(value, str) and value == "from_dtype"):
            return True
        # HistGradientBoosting's array-likes: a pandas Index of names
        # (X.select_dtypes("category").columns) or Series of bools too
        return isinstance(value, list | tuple | range | np.ndarray) or (
            hasattr(value, "__array__") and not isinstance(value, str | bytes)
        )

    def __str__(self):
        return "None, 'from_dtype', or an array-like of bool, int or str"


class _CategoryState:
    """``is_categorical_`` (a boolean array of ``n_features_in_`` entries, or None)
    and ``categories_`` (one array of distinct categories per categorical column,
    strictly increasing, or None), checked together: what ``skae.load`` checks of them."""

    optional = True

    def check(self, name, value, estimator):
        mask = getattr(estimator, "is_categorical_", None)
        categories = getattr(estimator, "categories_", None)
        if mask is None and categories is None:
            return
        if not (
            isinstance(mask, np.ndarray)
            and mask.dtype == bool
            and mask.shape == (estimator.n_features_in_,)
            and mask.any()
            and isinstance(categories, list)
            and len(categories) == int(mask.sum())
        ):
            raise ValueError(
                "is_categorical_ must be a boolean array of n_features_in_ entries and "
                "categories_ a list of one array per categorical column (or both None)."
            )
        fill = getattr(estimator, "fill_values_", None)
        widths = int((~mask).sum()) + sum(np.size(c) for c in categories)
        if fill is not None and np.shape(fill) != (widths,):
            raise ValueError(
                f"categories_ hold {widths - int((~mask).sum())} categories, which with "
                f"{int((~mask).sum())} numeric columns make {widths} network inputs and "
                f"head outputs, but the network has {np.size(fill)}."
            )
        for i, values in enumerate(categories):
            if not (
                isinstance(values, np.ndarray)
                and values.ndim == 1
                and len(values) > 0
                and (values.dtype.kind in "biuf" or values.dtype == object)
                and _strictly_increasing(values)
            ):
                raise ValueError(
                    f"categories_[{i}] must be a non-empty 1-D array of distinct categories, "
                    "sorted (each less than the next): a category's code is its position."
                )


class _DeclaredDtypes:
    """``categorical_dtypes_``: per categorical column, None or ``(categories,
    ordered)`` whose categories hold the column's ``categories_``, each once."""

    optional = True  # 0.2.0's files, and a fit with no categorical column

    def check(self, name, value, estimator):
        categories = getattr(estimator, "categories_", None)
        if value is None and categories is None:
            return
        if not (isinstance(value, list) and len(value) == len(categories or [])):
            raise ValueError(f"{name} must hold one entry per categorical column.")
        for i, (declared, seen) in enumerate(zip(value, categories, strict=True)):
            if declared is None:
                continue
            if not (
                isinstance(declared, tuple)
                and len(declared) == 2
                and isinstance(declared[0], np.ndarray)
                and declared[0].ndim == 1
                and isinstance(declared[1], bool)
                and len(set(declared[0].tolist())) == len(declared[0])
                and set(seen.tolist()) <= set(declared[0].tolist())
            ):
                raise ValueError(
                    f"{name}[{i}] must be (categories, ordered): distinct categories that "
                    f"hold categories_[{i}], and a bool."
                )


# fitted state of an estimator with categorical_features: the fill values and
# counts are those of the network's inputs, one per one-hot entry
_CATEGORICAL_STATE = {
    "is_categorical_": _CategoryState(),
    "categories_": _CategoryState(),
    "categorical_dtypes_": _DeclaredDtypes(),
    "fill_values_": _Array("_n_inputs", optional=True),
    "n_observed_": _Array("_n_inputs", optional=True),
}


def _row_labels(X):
    """The row labels of a pandas DataFrame ``X``, which a table made from its rows
    keeps; None for anything else (a list's ``.index`` is a method)."""
    pandas = sys.modules.get("pandas")
    return X.index if pandas is not None and isinstance(X, pandas.DataFrame) else None


def _is_missing(values):
    """Per entry of a 1-D array, whether it is missing as ``pd.isna`` says: NaN,
    None, NaT or pandas' NA (which only exist where pandas is imported)."""
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        return np.asarray(pandas.isna(values), dtype=bool)
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind in "mM":
        return np.isnat(values)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.array([v is None or (isinstance(v, numbers.Number) and v != v) for v in values])


def _strictly_increasing(values):
    """Whether each entry of the 1-D array ``values`` is less than the next."""
    try:
        return all(bool(a < b) for a, b in itertools.pairwise(values))
    except TypeError:
        return False


def _dtype_mask(X, n_features):
    """The columns of table ``X`` whose dtype is categorical (category, string,
    object); none for an array, which has no column dtypes."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return np.zeros(n_features, dtype=bool)
    return np.array([re.split(r"[(\[<]", str(d))[0] in _CATEGORICAL_DTYPES for d in dtypes])


def _names_a_column(spec, X):
    """Whether ``categorical_features`` (``spec``, not None) names a column of the
    table ``X``, before it is validated: with "from_dtype", a category or string
    column (none of an array); else any column at all."""
    if isinstance(spec, str):
        return hasattr(X, "columns") and bool(_dtype_mask(X, 0).any())
    spec = np.asarray(spec)
    return bool(spec.any()) if spec.dtype == bool else spec.size > 0


def _categorical_mask(spec, X, n_features, names):
    """The boolean mask of the categorical columns that ``spec`` (the parameter)
    names, ValueError naming what is wrong with it."""
    if isinstance(spec, str):
        return _dtype_mask(X, n_features)
    spec = np.asarray(spec)
    if spec.ndim != 1:
        raise ValueError(
            "categorical_features must be 1-D (a boolean mask, indices or column "
            f"names); got a {spec.ndim}-D array: {spec.tolist()!r}."
        )
    if spec.dtype == bool:
        if spec.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask must have one entry per "
                f"feature ({n_features}), got shape {spec.shape}."
            )
        return spec.copy()
    mask = np.zeros(n_features, dtype=bool)
    if spec.size == 0:
        return mask
    if spec.dtype.kind in "iu":
        if spec.min() < 0 or spec.max() >= n_features:
            raise ValueError(
                f"categorical_features as indices must lie in [0, {n_features - 1}], "
                f"got {spec.tolist()}."
            )
        mask[spec] = True
        return mask
    if spec.dtype.kind in "UO":
        if names is None:
            raise ValueError(
                "categorical_features names columns, but X has no column names "
                "(scikit-learn reads a table's names only where all are strings: fit "
                "with a DataFrame whose columns are strings, or give indices or a "
                "boolean mask)."
            )
        position = {name: i for i, name in enumerate(names)}
        unknown = [str(s) for s in spec if s not in position]
        if unknown:
            raise ValueError(
                f"categorical_features names {unknown}, which are not columns of X ({list(names)})."
            )
        mask[[position[s] for s in spec]] = True
        return mask
    raise ValueError(
        "categorical_features must be None, 'from_dtype', a boolean mask, integer "
        f"indices or column names; got an array of dtype {spec.dtype}."
    )


def _categories_of(values, column, declared=None):
    """The sorted distinct observed values of a categorical column, with every
    category its dtype declares (``declared``: ``(categories, ordered)`` or None),
    so that a stream knows a declared category before its first row holds it."""
    observed = values[~_is_missing(values)]
    pool = observed if declared is None else np.concatenate([observed, declared[0]])
    if not len(pool):
        raise ValueError(
            f"categorical column {column} has no observed value: it has no category "
            "to learn. Drop it, or leave it out of categorical_features."
        )
    try:
        categories = _typed(np.unique(pool))
    except TypeError as error:
        what = "values" if declared is None else "values and declared categories"
        raise ValueError(
            f"categorical column {column} mixes {what} that cannot be ordered (strings "
            f"and numbers?): {error}. Give it categories of one type (.astype(str))."
        ) from None
    if not _strictly_increasing(categories):
        raise ValueError(
            f"categorical column {column} holds values that do not sort into distinct "
            f"categories, each less than the next (the first: {categories[:5].tolist()})."
        )
    if categories.dtype.kind == "f" and not np.isfinite(categories).all():
        raise ValueError(f"categorical column {column} holds infinity.")
    for category in categories.tolist():
        try:  # a category is found by its value (a dict from category to column)
            hash(category)
        except TypeError:
            raise ValueError(
                f"categorical column {column} holds {category!r}, which is not hashable: "
                "a category must be (numbers or strings are)."
            ) from None
    if categories.dtype.kind in "UT":  # NumPy's fixed-width and variable-width strings
        categories = categories.astype(object)
    return categories


def _declared(table, j):
    """``(categories, ordered)`` of column ``j`` of a table whose dtype declares
    its categories: every one, in the dtype's order, and whether they are
    ordered (a pandas ``category``; a polars ``Enum``, ordered by its
    categories' order); None for any other column."""
    dtypes = getattr(table, "dtypes", None)
    if hasattr(table, "iloc"):
        dtype = dtypes.iloc[j]
    elif isinstance(dtypes, list):  # polars
        dtype = dtypes[j]
    else:
        return None
    if getattr(dtype, "name", None) == "category":
        declared, ordered = dtype.categories, bool(dtype.ordered)
    elif type(dtype).__name__ == "Enum" and type(dtype).__module__.startswith("polars"):
        declared, ordered = dtype.categories, True
    else:
        return None
    categories = declared.to_numpy()
    if categories.dtype.kind not in "biuf":
        # each category as the column's values hold it (a Timestamp, not the
        # integer that NumPy's datetime64[ns] becomes as an object)
        categories = np.asarray(list(declared), dtype=object)
    return categories, ordered


def _own_values(table, X, j):
    """Column ``j`` of the input ``table`` (``X`` validated) as objects, each value
    as the table holds it: scikit-learn casts a table whole to one dtype, integer
    and boolean categories beside a float column to floats."""
    if isinstance(table, np.ndarray) or not hasattr(table, "columns"):
        return X[:, j]
    if hasattr(table, "iloc"):
        # a category column's own values: as an array, pandas takes integer
        # categories with a missing value to floats (2**53 + 1 becomes 2**53)
        return table.iloc[:, j].astype(object).to_numpy()
    column = table.to_series(j)  # polars
    if column.dtype.is_integer():
        # as an array, polars takes integers with a null to floats too
        return np.fromiter(column.to_list(), dtype=object, count=len(column))
    return np.asarray(column, dtype=object)


def _float_dtype(table, X, numeric):
    """The float dtype of the network's input: float32 where the ``numeric``
    columns of the input ``table`` (``X`` validated) are float32 together (as
    scikit-learn's check_array keeps them), else float64. A table is validated
    as objects, so its own column dtypes decide."""
    dtypes = [X.dtype]
    if hasattr(table, "dtypes") and not isinstance(table, np.ndarray):
        dtypes = [_numpy_dtype(d) for d, kept in zip(table.dtypes, numeric, strict=True) if kept]
    return np.float32 if dtypes and np.result_type(*dtypes) == np.float32 else np.float64


def _numpy_dtype(dtype):
    """A table column's dtype as NumPy's (a pandas nullable Float32 as float32);
    object where NumPy has none."""
    try:
        return np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:
        return np.dtype(object)


def _typed(categories):
    """Categories read as objects in the array of their own type: booleans as bool,
    integers as int64 (uint64 above its range), numbers with a float among them as
    float64; strings and other objects as objects. An integer category stays an
    integer: float64 would merge integers above 2**53."""
    if categories.dtype != object:
        return categories
    kinds = {_kind(v) for v in categories}
    if kinds == {"bool"}:
        return categories.astype(bool)
    if kinds == {"int"}:
        for dtype in (np.int64, np.uint64):
            if np.iinfo(dtype).min <= categories[0] and categories[-1] <= np.iinfo(dtype).max:
                return categories.astype(dtype)
    elif kinds <= {"int", "float"}:
        return categories.astype(np.float64)
    return categories


def _kind(value):
    """What a category value is: "bool", "int", "float" or "other"."""
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    return "float" if isinstance(value, numbers.Real) else "other"


def _validated_numbers(validate, X, *, stage="fit"):
    """``validate()``, the validation of ``X`` as numbers, with numpy's bare "could
    not convert string to float" said as what it is: the first column holding a
    value that is not a number, and what to do about it at this ``stage``: a new
    "fit", a fit that would "continue" a network built with no categorical column
    (build a new one), or "inference" by an estimator fitted on numbers."""
    try:
        return validate()
    except ValueError as error:
        if "could not convert" not in str(error):
            raise
        names = getattr(X, "columns", None)
        columns = [X[name] for name in names] if names is not None else np.asarray(X).T
        found = _first_non_number(columns)
        if found is None:
            raise
        j, value = found
        name = repr(names[j]) if names is not None else j
        advice = {
            "fit": 'list it in categorical_features ("from_dtype" finds a table\'s '
            "category and string columns) or encode it.",
            "continue": "the network was built with no categorical column, and a fit that "
            "continues it cannot add one: encode it, or call fit with warm_start=False "
            "and the column in categorical_features.",
            "inference": "the estimator was fitted on numbers in every column: encode it "
            "as fit was given it, or refit with the column in categorical_features.",
        }[stage]
        raise ValueError(
            f"{error}: column {name} of X holds {value!r}, which is not a number; {advice}"
        ) from error


def _first_non_number(columns):
    """``(position, value)`` of the first value in the 1-D ``columns`` that is
    neither a number nor missing (a missing entry is no string), or None."""
    for j, column in enumerate(columns):
        values = np.asarray(column, dtype=object)
        for value in values[~_is_missing(values)]:
            try:
                float(value)
            except (TypeError, ValueError):
                return j, value
    return None


def _codes(values, categories):
    """Each value's index in ``categories``; -1 where missing or unknown. Each value
    is looked up on its own, by equality as Python compares it (the integer 1 is
    the category 1.0, the string "1" is not), so that a row's code does not depend
    on the other values of the column."""
    index = {category: i for i, category in enumerate(categories.tolist())}
    missing = _is_missing(values)
    return np.array(
        [
            -1 if gone else _index_of(value, index)
            for value, gone in zip(values.tolist(), missing, strict=True)
        ],
        dtype=np.intp,
    )


def _index_of(value, index):
    """``index[value]``; -1 for a value not in it, or unhashable."""
    try:
        return index.get(value, -1)
    except TypeError:
        return -1


class _Categorical:
    """``categorical_features`` for an estimator of the base: its validation into the
    network's encoding, the net's widths and heads, and the table that
    ``inverse_transform`` gives back. Mixed in before the base."""

    _parameter_rules = {"categorical_features": [_CategoricalSpec()]}

    _fitted_state = _CATEGORICAL_STATE

    @property
    def _n_inputs(self):
        """The network's input width: one per numeric column and one per category."""
        categories = getattr(self, "categories_", None)
        if categories is None:
            return self.n_features_in_
        return int((~self.is_categorical_).sum()) + sum(len(c) for c in categories)

    def _input_columns(self):
        """The original column of each of the network's inputs."""
        categories = getattr(self, "categories_", None)
        if categories is None:
            return np.arange(self.n_features_in_)
        numeric = np.flatnonzero(~self.is_categorical_)
        blocks = [
            np.full(len(c), j)
            for j, c in zip(np.flatnonzero(self.is_categorical_), categories, strict=True)
        ]
        return np.concatenate([numeric, *blocks])

    def _widths(self):
        categories = getattr(self, "categories_", None)
        return () if categories is None else tuple(len(c) for c in categories)

    def _validate(self, X, *, unknown=np.nan, untrained=True, **kwargs):
        reset = kwargs.get("reset", True)
        # a fit that continues (partial_fit, warm_start) validates with
        # ensure_min_samples, which transform and the scores do not
        training = "ensure_min_samples" in kwargs and not reset
        if reset and self.categorical_features is None:
            self.is_categorical_ = self.categories_ = self.categorical_dtypes_ = None
        if (reset and self.categorical_features is None) or (
            not reset and getattr(self, "categories_", None) is None
        ):
            return self._validated_numbers(
                lambda: super(_Categorical, self)._validate(X, **kwargs),
                X,
                training=training,
                reset=reset,
            )
        if sp.issparse(X):
            raise TypeError(
                "categorical_features needs dense input: a sparse matrix cannot hold "
                "categories (encode them yourself and set categorical_features=None)."
            )
        X = table = _in_memory_table(X)
        # a table is read as objects: scikit-learn would cast it whole to the numeric
        # dtype of a nullable column (pandas' Int64), categories included
        is_table = hasattr(X, "columns") and not isinstance(X, np.ndarray)
        if hasattr(X, "iloc") and any(getattr(d, "kind", "") in ("m", "M") for d in X.dtypes):
            # check_array asks NumPy for one dtype of all the columns', which has
            # none for datetimes beside numbers: as objects, as it would read them
            X = X.astype(object)
        X = validate_data(
            self, X, dtype=object if is_table else None, ensure_all_finite=False, **kwargs
        )
        if reset:
            mask = _categorical_mask(
                self.categorical_features,
                table,
                X.shape[1],
                getattr(self, "feature_names_in_", None),
            )
            if not mask.any():
                # no categorical column: the data is numeric, validated as such
                self.is_categorical_ = self.categories_ = self.categorical_dtypes_ = None
                return _validated_numbers(
                    lambda: super(_Categorical, self)._validate(table, **kwargs), table
                )
            _refuse_in_group(
                "categorical_features is not supported in a process group yet: each rank "
                "would record the categories of its own rows. Encode the categories "
                "beforehand (OneHotEncoder with categories given) and set "
                "categorical_features=None."
            )
        else:
            if training:
                self._check_same_columns(table)
            mask = self.is_categorical_
        columns = [_own_values(table, X, j) for j in np.flatnonzero(mask)]
        if reset:
            declared = [_declared(table, j) for j in np.flatnonzero(mask)]
            self.categories_ = [
                _categories_of(values, self._column_name(j), given)
                for j, values, given in zip(np.flatnonzero(mask), columns, declared, strict=True)
            ]
            self.categorical_dtypes_ = declared
            self.is_categorical_ = mask
        dtype = _float_dtype(table, X, ~mask)
        return self._encoded(
            X, columns, dtype, training=training, fitted=untrained and not reset, unknown=unknown
        )

    def _validated_numbers(self, validate, X, *, training, reset):
        """``validate()``, the validation of ``X`` as numbers (``_validated_numbers``),
        for a network with no categorical column; in a fit that continues it (
        ``training``), ValueError unless ``categorical_features`` still names none,
        also where a column now holds strings: that it cannot continue, before
        numpy's "could not convert"."""
        stage = "fit" if reset else "continue" if training else "inference"
        try:
            validated = _validated_numbers(validate, X, stage=stage)
        except ValueError:
            if training and not isinstance(self.categorical_features, str):
                self._check_same_columns(X)
            raise
        if training:
            self._check_same_columns(X)
        return validated

    def _new_category_surprise(self):
        """Per categorical column, what a category unseen in training costs a score
        at least: ``log(n + K + 1)`` nats for a column observed in ``n`` (weighted)
        training rows with ``K`` trained categories (a category declared by its
        dtype but held by no training row is as new as one never seen), the
        cross-entropy of the probability that add-one smoothing with one category
        more gives a category never seen, below that of any category seen once. So
        a new category costs something also where the row's least probable known
        one costs nothing (``K = 1``)."""
        widths = np.array(self._widths())
        first = int((~self.is_categorical_).sum()) + np.cumsum(widths) - widths
        known = np.array([(~untrained).sum() for untrained in self._untrained_categories()])
        return torch.from_numpy(np.log(self.n_observed_[first] + known + 1))

    def _validate_scored(self, X):
        # a category unseen in training is marked, for the scores to count it
        # as their least probable category (see _by_column), not as missing
        return _hide_unobserved(self, self._validate(X, reset=False, unknown=np.inf))

    def _check_same_columns(self, table):
        """In a fit that continues the network, ValueError unless
        ``categorical_features`` names the columns it was built with."""
        built = getattr(self, "is_categorical_", None)
        if built is None:
            built = np.zeros(self.n_features_in_, dtype=bool)
        now = np.zeros_like(built)
        if isinstance(self.categorical_features, str) and not hasattr(table, "dtypes"):
            # "from_dtype" on a chunk with no column dtypes (an array): nothing to
            # read, so the columns stay as built, as transform takes them
            return
        if self.categorical_features is not None:
            names = getattr(self, "feature_names_in_", None)
            now = _categorical_mask(self.categorical_features, table, len(built), names)
        if isinstance(self.categorical_features, str):
            # "from_dtype" reads a chunk's dtypes, and a column with no value in the
            # chunk has none of its own (read_csv makes it float64, None makes it
            # object): it continues as it was built
            changed = np.flatnonzero(built != now)
            X = np.asarray(table, dtype=object) if len(changed) else None
            for j in changed:
                if _is_missing(_own_values(table, X, j)).all():
                    now[j] = built[j]
        if not np.array_equal(built, now):
            columns = [[self._column_label(j) for j in np.flatnonzero(m)] for m in (built, now)]
            raise _cannot_continue({"categorical_features": tuple(columns)})

    def _column_name(self, j):
        """Column ``j`` as an error message names it: its name, or its index."""
        return repr(self._column_label(j))

    def _column_label(self, j):
        """Column ``j``'s name, or its index where ``X`` has no column names."""
        names = getattr(self, "feature_names_in_", None)
        return int(j) if names is None else str(names[j])

    def _encoded(self, X, columns, dtype, *, training, fitted, unknown=np.nan):
        """The network's input, of float ``dtype``, for the validated table ``X``:
        its numeric columns, then each categorical column (its values in
        ``columns``) one-hot (NaN where missing; unless ``training``, a category
        unseen in training fills its block with ``unknown``, and so, for a
        ``fitted`` estimator's inference, does one no training row weighed)."""
        mask = self.is_categorical_
        numeric = X[:, ~mask]
        if numeric.dtype == object:
            numeric = np.where(_is_missing(numeric.ravel()).reshape(numeric.shape), np.nan, numeric)
        try:
            numeric = numeric.astype(dtype)
        except (TypeError, ValueError) as error:
            positions = np.flatnonzero(~mask)
            found = _first_non_number(X[:, j] for j in positions)
            if found is None:
                raise
            j, value = positions[found[0]], found[1]
            raise ValueError(
                f"column {self._column_name(j)} of X holds {value!r}, which is not a "
                "number and not in categorical_features; list the column there, or "
                "encode it."
            ) from error
        if np.isinf(numeric).any():
            raise ValueError("Input X contains infinity or a value too large for dtype.")
        # written into one array, block by block: stacked at the end, the one-hot
        # blocks of a column of thousands of categories were held twice
        encoded = np.zeros((len(X), self._n_inputs), dtype)
        encoded[:, : numeric.shape[1]] = numeric
        start = numeric.shape[1]
        untrained = self._untrained_categories() if fitted and not training else None
        for i, (j, categories, values) in enumerate(
            zip(np.flatnonzero(mask), self.categories_, columns, strict=True)
        ):
            codes = _codes(values, categories)
            if untrained is not None:
                # a category no training row weighed (declared by the column's
                # dtype only, or held by rows of weight zero) has an input whose
                # weights were never trained: it is as unknown as a new one
                codes = np.where((codes >= 0) & untrained[i][codes.clip(0)], -1, codes)
            unseen = (codes < 0) & ~_is_missing(values)  # observed, but no category
            new = values[unseen]
            if any(isinstance(v, numbers.Real) and math.isinf(v) for v in new):
                # as fit refuses it: no category, and no number either
                raise ValueError(f"categorical column {self._column_name(j)} holds infinity.")
            if training and len(new):
                raise ValueError(
                    f"categorical column {self._column_name(j)} has the category {new[0]!r}, "
                    "which the first fit did not see: the network's heads are sized by the "
                    "first fit's categories_. Refit with fit (warm_start=False) on data "
                    "with every category."
                )
            block = encoded[:, start : start + len(categories)]
            block[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1
            block[codes < 0] = np.nan
            if not np.isnan(unknown):
                block[unseen] = unknown
            start += len(categories)
        return encoded

    def _untrained_categories(self):
        """Per categorical column, which of its categories no training row weighed
        (their training frequency, the fill value of their input, is 0); none
        where the fill values are not recorded (0.2.0's files)."""
        fill = getattr(self, "fill_values_", None)
        start = int((~self.is_categorical_).sum())
        untrained = []
        for categories in self.categories_:
            stop = start + len(categories)
            untrained.append(
                np.zeros(len(categories), dtype=bool) if fill is None else fill[start:stop] == 0
            )
            start = stop
        return untrained

    def _mark_untrained(self, X, into, value):
        """In ``into`` (``X``, validated rows, or the network's input made of them),
        set the block of each categorical entry whose category no
        training row weighed (``_untrained_categories``) to ``value``: NaN, missing,
        or infinity, unknown, as inference encodes it."""
        numeric = np.zeros(int((~self.is_categorical_).sum()), dtype=bool)
        untrained = np.concatenate([numeric, *self._untrained_categories()])
        columns = self._input_columns()
        for j in np.unique(columns[untrained]):
            block = columns == j
            rows = (X[:, block & untrained] == 1).any(axis=1)
            into[np.ix_(rows, block)] = value
        return into

    def _net_params(self, n_features, n_components):
        params = super()._net_params(n_features, n_components)
        widths = self._widths()
        return params | {"criterion__categories": widths} if widths else params

    def _cpu_net_params(self):
        if getattr(self, "categories_", None) is None:
            return super()._cpu_net_params()
        cpu = clone(self).set_params(device="cpu")
        cpu.is_categorical_, cpu.categories_ = self.is_categorical_, self.categories_
        return cpu._net_params(self._n_inputs, self.n_components_)

    def _train_net(self, net, data, sample_weight, *, incremental):
        if getattr(self, "categories_", None) is not None:
            net.iterator_train__columns = torch.from_numpy(self._input_columns())
        super()._train_net(net, data, sample_weight, incremental=incremental)

    def _check_consistency(self):
        super()._check_consistency()
        spec, fitted = self.categorical_features, getattr(self, "is_categorical_", None)
        if spec is None and getattr(self, "categories_", None) is not None:
            raise ValueError("categories_ is set, but categorical_features is None.")
        if spec is None or isinstance(spec, str):
            return  # "from_dtype" named the columns by the dtypes of fit's table
        # the columns the parameter names, by the rules fit applied to it
        names = getattr(self, "feature_names_in_", None)
        mask = _categorical_mask(spec, None, self.n_features_in_, names)
        if not np.array_equal(mask, np.zeros_like(mask) if fitted is None else fitted):
            raise ValueError(
                f"categorical_features={spec!r} names other columns than those the "
                "fitted categories_ are of."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.categorical_features is not None:
            tags.input_tags.sparse = False
            tags.input_tags.categorical = True
            tags.input_tags.string = True
        return tags

    # -- inference ------------------------------------------------------------

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Codes, as returned by ``transform``.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, `n_features_in_`)
            Reconstructions, in the float dtype of the codes. With categorical
            columns, the table: each categorical column's most probable category,
            as a pandas DataFrame (categorical columns of dtype ``category``)
            where the estimator was fitted on a table with column names, else an
            array: of floats where every category is a float (the columns of a
            numeric array), else of objects.
        """
        # codes in a DataFrame (transform's, with set_output) keep their rows' labels
        decoded = self._trained_logits(super().inverse_transform(X))
        return self._as_table(decoded, index=_row_labels(X))

    def _trained_logits(self, decoded):
        """The decoder's output ``decoded`` with the logit of each category that no
        training row weighed at -inf (a copy): a reconstruction, a fill or a draw
        never picks a category whose head no target trained."""
        if getattr(self, "categories_", None) is None:
            return decoded
        numeric = np.zeros(int((~self.is_categorical_).sum()), dtype=bool)
        untrained = np.concatenate([numeric, *self._untrained_categories()])
        if not untrained.any():
            return decoded
        decoded = decoded.copy()
        decoded[:, untrained] = -np.inf
        return decoded

    def _as_table(self, decoded, index=None):
        """The decoder's output as the table of the original columns (a
        DataFrame's rows labelled by ``index``, None: 0, 1, ...)."""
        if getattr(self, "categories_", None) is None:
            return decoded
        mask = self.is_categorical_
        n_numeric = int((~mask).sum())
        columns = {}
        for k, j in enumerate(np.flatnonzero(~mask)):
            columns[j] = decoded[:, k]
        start = n_numeric
        for j, categories in zip(np.flatnonzero(mask), self.categories_, strict=True):
            block = decoded[:, start : start + len(categories)]
            columns[j] = categories[block.argmax(axis=1)]
            none = np.isneginf(block).all(axis=1)
            if none.any():
                # no category was ever trained (a declared column no training row
                # observed): nothing to reconstruct, so missing
                columns[j] = columns[j].astype(float if categories.dtype.kind == "f" else object)
                columns[j][none] = np.nan
            start += len(categories)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            # an array of floats where the categories are floats (a numeric array's
            # columns), as an imputer keeps its input's dtype; else objects
            floats = all(c.dtype.kind == "f" for c in self.categories_)
            dtype = decoded.dtype if floats else object
            table = np.empty((len(decoded), len(mask)), dtype=dtype)
            for j, values in columns.items():
                table[:, j] = values
            return table
        import pandas as pd

        # each column's categories as its pandas dtype declared them (order, unused
        # ones, ordered), else as fit saw them
        declared = getattr(self, "categorical_dtypes_", None) or [None] * len(self.categories_)
        dtypes = {
            j: pd.CategoricalDtype(*(given or (seen, False)))
            for j, seen, given in zip(np.flatnonzero(mask), self.categories_, declared, strict=True)
        }
        return pd.DataFrame(
            {
                names[j]: pd.Categorical(columns[j], dtype=dtypes[j]) if j in dtypes else columns[j]
                for j in range(len(mask))
            },
            index=index,
        )

    def _column_errors(self, X, *, validated=False, squared=False):
        """Per sample and original column, the reconstruction error (NaN where
        missing): a numeric column's squared error (Bernoulli divergence with a
        Bernoulli model, unless ``squared``: what skae.metrics measures), a
        categorical column's cross-entropy."""
        _check_scored_settings(self)
        if not validated:
            X = self._validate_scored(X)
        numeric_order = np.flatnonzero(~self.is_categorical_)
        order = np.argsort(np.concatenate([numeric_order, np.flatnonzero(self.is_categorical_)]))
        fill, bernoulli = _as_fill(self), self._bernoulli_setting is not None and not squared
        sigmoid, widths = self._sigmoid_output, self._widths()
        surprise = self._new_category_surprise()

        def errors(module, x):
            x, unknown = _unknown_marks(x)
            raw = module.decode(module.encode(_filled(x, fill))).to(x.dtype)
            target, observed = _observed_entries(x)
            if bernoulli:
                n = raw.shape[1]
                terms = torch.stack(
                    [_bernoulli_divergence(raw[:, i : i + 1], x[:, i : i + 1]) for i in range(n)],
                    dim=1,
                )
            else:
                terms = ((torch.sigmoid(raw) if sigmoid else raw) - target) ** 2
            terms, observed = _by_column(
                terms, raw, target, observed, widths, unknown, surprise.to(raw)
            )
            if observed is not None:
                terms = terms.masked_fill(~observed, float("nan"))
            return terms[:, torch.from_numpy(order).to(terms.device)]

        return _run_chunks(self, errors, X)

    def _reconstruction_errors(self, X):
        if getattr(self, "categories_", None) is None:
            return super()._reconstruction_errors(X)
        errors = self._column_errors(X, validated=True)
        return np.nanmean(errors, axis=1)
