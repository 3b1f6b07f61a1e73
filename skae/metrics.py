"""Reconstruction error as one yardstick for every transformer that can invert itself.

``score`` means different things for different estimators: PCA's is a
log-likelihood, skae's a negative reconstruction error, and a search that compares
them without ``scoring=`` ranks on two scales at once. :func:`reconstruction_scorer`
gives one scale: pass it as ``scoring=`` to any scikit-learn search or to
``cross_validate``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import OneToOneFeatureMixin
from sklearn.utils import metadata_routing

from ._chunks import _by_rows, _chunks, _dense, _rows_of
from ._validation import _check_weights, _in_memory_table


def reconstruction_error(estimator, X, *, per_feature=False):
    """Mean squared reconstruction error of each sample, in the input space.

    Each sample goes through ``estimator.transform`` and back through
    ``estimator.inverse_transform``; its error is the squared difference with the
    original, averaged over the features. With ``per_feature=True`` the squared
    differences themselves, feature by feature, so that one sees which features
    make a sample's error (or a detector's anomaly score) large. Works for any fitted estimator or
    :class:`~sklearn.pipeline.Pipeline` with both methods (PCA, IncrementalPCA,
    KernelPCA with ``fit_inverse_transform=True``, TruncatedSVD, NMF, FastICA and
    every skae estimator but the imputer), and a fitted search (``GridSearchCV``),
    measured as its best estimator. Computed chunk by chunk, so memory beyond the
    output does not grow with ``n_samples``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Must have ``transform`` and ``inverse_transform``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples, as ``estimator.transform`` accepts them (a DataFrame too). A
        Dask array is measured chunk by chunk; one of unknown sizes, or a Dask
        DataFrame, is computed first.
    per_feature : bool, default=False
        Whether to return each feature's squared error rather than their mean.
        The result is then dense, ``n_features`` values per sample, also for
        sparse ``X``.

    Returns
    -------
    errors : ndarray of shape (n_samples,) or (n_samples, n_features)
        Squared reconstruction error of each sample, averaged over the features;
        with ``per_feature=True`` of each sample and feature, whose mean over the
        features (``errors.mean(axis=1)``) is the per-sample error. For a skae
        estimator with ``categorical_features``, one value per original column:
        a categorical column's error is its cross-entropy in nats (NaN for a
        missing entry; the per-sample error is the mean over observed columns).
        A Pipeline ending in such an estimator is measured where its last step
        reconstructs: on ``X`` as the steps before it transform it. A feature that
        a skae estimator never observed in training is missing (NaN, left out of
        the mean), alone or after steps that keep each column in its place
        (scikit-learn's scalers, ``OneToOneFeatureMixin``).

    Raises
    ------
    TypeError
        If ``estimator`` lacks ``transform`` or ``inverse_transform``.

    See Also
    --------
    reconstruction_scorer : Its negative mean, as a scorer for searches.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from skae.metrics import reconstruction_error
    >>> X = load_iris().data
    >>> pca = PCA(2).fit(X)
    >>> reconstruction_error(pca, X).shape
    (150,)
    >>> per_feature = reconstruction_error(pca, X, per_feature=True)
    >>> per_feature.shape
    (150, 4)
    >>> bool(np.allclose(per_feature.mean(axis=1), reconstruction_error(pca, X)))
    True
    """
    if not isinstance(per_feature, bool | np.bool_):
        raise TypeError(f"per_feature must be a bool, got {per_feature!r}.")
    X = _countable(X)
    estimator = _best(estimator)
    # a skae estimator with categorical columns reconstructs at the last step: a
    # categorical column's error is its cross-entropy, which the estimator computes
    # from its logits, since categories cannot be subtracted
    categorical = getattr(_last_step(estimator), "categories_", None) is not None
    for method in ("transform", "inverse_transform"):
        reconstructs = _last_step(estimator) if categorical else estimator
        if not hasattr(reconstructs, method):
            raise TypeError(
                f"{type(reconstructs).__name__} has no {method} method, so it has no "
                "reconstruction error; use an estimator (or a Pipeline of steps) that "
                "has both transform and inverse_transform."
            )
    if categorical:
        while hasattr(estimator, "steps"):
            X = estimator[:-1].transform(X) if len(estimator) > 1 else X
            estimator = _best(estimator[-1])
        errors = estimator._column_errors(X, squared=True)
        return errors if per_feature else _observed_mean(errors, 0)
    X = _by_rows(X)
    if len(X.shape) != 2:
        raise ValueError(
            f"Expected a 2D array of shape (n_samples, n_features), got shape {X.shape}; "
            "reshape a single sample with X.reshape(1, -1)."
        )
    # a skae estimator's features never observed in training are missing to it, and
    # to a Pipeline whose steps before it keep each column as one (the scalers)
    counts = getattr(_last_step(estimator), "n_observed_", None)
    if counts is not None and not _column_for_column(estimator):
        counts = None

    def reconstruct(chunk):
        return np.asarray(estimator.inverse_transform(estimator.transform(chunk)))

    if X.shape[0] == 0:
        reconstruct(X)  # the estimator's own answer to no rows (or to being unfitted)
    return _squared_errors(
        X,
        reconstruct,
        per_feature=per_feature,
        unobserved=None if counts is None or counts.all() else counts == 0,
    )


def _last_step(estimator):
    """The estimator that reconstructs: the last step of a Pipeline, nested too,
    and the best estimator of a fitted search."""
    estimator = _best(estimator)
    while hasattr(estimator, "steps"):
        estimator = _best(estimator[-1])
    return estimator


def _best(estimator):
    """A fitted search's best estimator, which its ``transform`` and
    ``inverse_transform`` call (nested searches too); else ``estimator``."""
    while hasattr(estimator, "best_estimator_"):
        estimator = estimator.best_estimator_
    return estimator


def _column_for_column(estimator):
    """Whether every step of a Pipeline before its last keeps each column in its
    place (``_keeps_columns``), and so on into a Pipeline as its last step; True
    for an estimator alone."""
    if not hasattr(estimator, "steps"):
        return True
    before = [step for _, step in estimator.steps[:-1]]
    return all(map(_keeps_columns, before)) and _column_for_column(_best(estimator[-1]))


def _keeps_columns(step):
    """Whether a Pipeline step maps each column to one column, itself: none, a
    scikit-learn ``OneToOneFeatureMixin`` (the scalers), or a Pipeline of such."""
    if step in ("passthrough", None) or isinstance(step, OneToOneFeatureMixin):
        return True
    return hasattr(step, "steps") and all(_keeps_columns(inner) for _, inner in step.steps)


def _squared_errors(X, reconstruct, *, per_feature=False, dtype=np.float64, unobserved=None):
    """Squared differences between the rows of ``X`` and ``reconstruct(rows)``, one
    chunk of rows at a time, averaged over the features unless ``per_feature``
    (the columns of the mask ``unobserved`` taken as missing); memory beyond the
    output is a chunk's rows and their reconstruction."""
    errors = np.empty(X.shape if per_feature else X.shape[0], dtype=dtype)
    for rows in _chunks(*X.shape):
        chunk = _rows_of(X, rows)
        try:
            target = _numbers(chunk)
        except (TypeError, ValueError):
            reconstruct(chunk)  # the estimator's own error for rows it refuses
            raise
        # a new array (a reconstruction may be the caller's own rows), squared in
        # place; the reconstruction a temporary, whose memory numpy reuses for it
        residual = reconstruct(chunk) - target
        if unobserved is not None:
            target = np.where(unobserved, np.nan, target)  # a new array: never the caller's
            residual[:, unobserved] = np.nan
        # a residual past the dtype's range is an infinite error, as it should be
        with np.errstate(over="ignore", invalid="ignore"):
            residual **= 2
        # a missing entry of the input is NaN; a NaN at an observed one is a
        # reconstruction that overflowed (inf - inf): an infinite error too
        nan = missing = np.isnan(residual)
        if nan.any():
            missing = np.isnan(target)
            # NaN in the residual where the input has none (in place: one chunk mask)
            residual[np.greater(nan, missing, out=nan)] = np.inf
        errors[rows] = residual if per_feature else _observed_mean(residual, rows.start, missing)
        del chunk, target, residual, nan, missing  # before the next chunk is allocated
    return errors


def _numbers(chunk):
    """The rows ``chunk`` as a dense array, NaN where missing (``pd.NA`` of a
    pandas nullable column too)."""
    if sp.issparse(chunk):
        return _dense(chunk)
    if hasattr(chunk, "iloc") and not all(
        isinstance(t, np.dtype) and t.kind in "fiub" for t in chunk.dtypes
    ):
        # nullable and object columns: their NA (pd.NA, None) as NaN
        return chunk.to_numpy(dtype=np.float64, na_value=np.nan)
    chunk = np.asarray(chunk)
    # objects (a list of rows with None for missing, numbers as strings) as the
    # estimators' validation casts them: None is NaN
    return chunk if chunk.dtype.kind in "fiub" else chunk.astype(np.float64)


def _observed_mean(squares, first_row, missing=None):
    """Per row, the mean of ``squares`` over its observed entries (``missing``, by
    default the NaN entries of ``squares``); ValueError for a row with none,
    numbered from ``first_row``."""
    if missing is None:
        missing = np.isnan(squares)
    if not missing.any():
        return squares.mean(axis=1)
    counts = (~missing).sum(axis=1)
    if not counts.all():
        raise ValueError(
            f"row {first_row + int(np.argmin(counts))} of X has no observed value (every "
            "entry is NaN): it has no reconstruction error."
        )
    return np.where(missing, 0, squares).sum(axis=1) / counts


def reconstruction_scorer(estimator, X, y=None, sample_weight=None):
    """Negative mean squared reconstruction error: a scorer for any search.

    Higher is better, as scikit-learn's scorers expect. Use it as ``scoring=``
    in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and the like, to compare PCA,
    skae's autoencoders and any other transformer with ``inverse_transform`` on
    one scale, whatever each one's own ``score`` computes. Under metadata
    routing, ``reconstruction_scorer.set_score_request(sample_weight=True)``
    gives a scorer to which a search routes the held-out rows' weights, as
    scikit-learn's scorers do (a new scorer: this one requests nothing, so a
    search given weights for it raises); without routing, a search that is
    fitted with ``sample_weight`` passes the held-out rows' weights to any
    scorer that takes them, this one included.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Must have ``transform`` and ``inverse_transform``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples to reconstruct.
    y : None
        Ignored; present for the scorer signature.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in the mean; rows of weight zero count for
        nothing, whatever their error.

    Returns
    -------
    score : float
        ``-reconstruction_error(estimator, X).mean()``, weighted by
        ``sample_weight``.

    See Also
    --------
    reconstruction_error : The per-sample errors.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skae.metrics import reconstruction_scorer
    >>> X = load_digits().data
    >>> search = GridSearchCV(PCA(), {"n_components": [4, 16]}, scoring=reconstruction_scorer)
    >>> search.fit(X).best_params_
    {'n_components': 16}
    """
    if sample_weight is None:
        return -float(reconstruction_error(estimator, X).mean())
    X, weights = _weighted_rows(X, sample_weight)
    return -float(np.average(reconstruction_error(estimator, X), weights=weights))


def _countable(X):
    """A Dask collection of rows that cannot be counted (blocks of unknown sizes)
    computed, since they cannot be sliced either; anything else as it is."""
    if hasattr(X, "__dask_graph__") and not all(isinstance(n, int) for n in X.shape):
        return X.compute()
    return X


def _weighted_rows(X, sample_weight):
    """``(rows, weights)``: the rows of ``X`` whose ``sample_weight`` is positive
    and their weights (divided by the largest: a total past float64's range stays
    finite). A row of weight zero is not scored: it may have nothing observed,
    which has no score. ``X`` is taken as the estimators take it: a Dask DataFrame
    as its pandas frame, a Dask array of unknown block sizes computed (its rows
    cannot be counted), a list as an array, a sparse matrix as CSR; input that is
    no table of rows (None, a number) as it is, for the estimator to refuse."""
    X = _countable(_by_rows(_in_memory_table(X)))
    if len(getattr(X, "shape", ())) != 2:
        return X, sample_weight
    weights = _check_weights(sample_weight, X)
    kept = np.flatnonzero(weights > 0)
    rows = X if len(kept) == len(weights) else _rows_of(X, kept)
    return rows, weights[kept] / weights.max()


class _Requested:
    """``reconstruction_scorer`` with a request for ``sample_weight`` (True, False,
    None or an alias), as scikit-learn's metadata routing reads it from a scorer;
    ``set_score_request`` sets it, as on scikit-learn's scorers."""

    def __init__(self, sample_weight=None):
        self.sample_weight = sample_weight

    def __repr__(self):
        return f"reconstruction_scorer.set_score_request(sample_weight={self.sample_weight!r})"

    def __call__(self, estimator, X, y=None, sample_weight=None):
        return reconstruction_scorer(estimator, X, y, sample_weight=sample_weight)

    def get_metadata_routing(self):
        request = metadata_routing.MetadataRequest(owner="reconstruction_scorer")
        request.score.add_request(param="sample_weight", alias=self.sample_weight)
        return request

    def set_score_request(self, *, sample_weight=metadata_routing.UNCHANGED):
        if not get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "set_score_request needs metadata routing: "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        if sample_weight is not metadata_routing.UNCHANGED:
            self.sample_weight = sample_weight
        return self


# what a search asks of a scorer: reconstruction_scorer requests nothing, and its
# set_score_request gives a new scorer that does (the function itself stays as it is)
reconstruction_scorer.get_metadata_routing = _Requested().get_metadata_routing


def _new_request(**request):
    return _Requested().set_score_request(**request)


reconstruction_scorer.set_score_request = _new_request
