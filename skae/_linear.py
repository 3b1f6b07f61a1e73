"""The linear autoencoder, aligned to PCA's ordered components."""

import numbers
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseAutoencoder
from ._chunks import _chunks, _dense, _rows_of
from ._dask import _dask_moments, _is_dask_array, _map_rows, _reduce_blocks, _validate_dask
from ._distributed import _refuse_in_group
from ._docstrings import _fill_doc
from ._losses import _ReconstructionLoss
from ._missing import _check_rows_observed, _has_missing
from ._modules import _LinearAutoencoder
from ._pca import (
    _covariance,
    _em_moments,
    _expected_summary,
    _log_likelihood,
    _merge_observed,
    _merge_packed,
    _mle_width,
    _Model,
    _Moments,
    _observed_summary,
    _pca_rotation,
    _precision,
    _reduce_rows,
    _rows_with_missing,
    _scaled_components,
    _unpack,
    _variance_attributes,
    _width_for_ratio,
)
from ._validation import (
    _BOOLEAN,
    _NONE,
    _Array,
    _caller_level,
    _check_min_rows,
    _Fitted,
    _Interval,
    _Options,
)


def _has_pca_model(estimator):
    """Whether the estimator has PCA's model (``align=True``): its covariance."""
    return estimator.align


@_fill_doc(
    alpha="0.0",
    max_iter=200,
    max_iter_meaning=(
        "Maximum number of epochs of the trained solvers; with ``solver='lbfgs'``\n"
        "        an epoch is up to 20 L-BFGS iterations on the covariance factor.\n"
        "        ``solver='covariance'`` solves in closed form, except on data with\n"
        "        missing values, where it and ``'lbfgs'`` first run up to ``max_iter``\n"
        "        EM iterations (see Notes)."
    ),
    tol="1e-12",
    tol_meaning=(
        "For ``solver='lbfgs'``, training stops after two epochs in a row whose\n"
        "        loss improved by less than ``tol`` relative, or when no gradient\n"
        "        entry exceeds ``tol`` times the mean feature variance (L-BFGS is\n"
        "        deterministic, so ``n_iter_no_change`` does not apply). For\n"
        "        ``solver='minibatch'``, the smallest decrease of the monitored loss\n"
        "        that counts as an improvement. With missing values, the EM of the\n"
        "        'covariance' and 'lbfgs' solvers stops once the log-likelihood per\n"
        "        observed entry rises by no more than ``tol`` in an iteration."
    ),
)
class LinearAETransformer(_BaseAutoencoder):
    """Linear autoencoder that learns PCA, with PCA's ordered components.

    An under-complete linear autoencoder trained on squared error converges to the
    principal subspace of the centered data (Baldi and Hornik, 1989), but its
    weights span that subspace in an arbitrary basis, so its codes are PCA's
    rotated. This estimator centers the data (``mean_``, a buffer of the network),
    fits the linear encoder and decoder of a skorch net, then aligns: it
    orthonormalizes the decoder's columns, diagonalizes the training covariance
    inside that subspace and sorts by variance. The result has the attributes,
    order and sign convention of :class:`~sklearn.decomposition.PCA`, and
    ``transform``, ``score`` (the probabilistic PCA log-likelihood),
    ``get_covariance`` and ``get_precision`` match PCA's. Sparse input is
    summarized by its ``n_features`` squared scatter matrix without densifying the
    rows, except in a ``fit`` on fewer rows than features, which works on the rows
    themselves (``n_samples x n_features`` values, the smaller).

    Parameters
    ----------
    n_components : int, float, "mle" or None, default=None
        Width of the code, as PCA reads it: None keeps ``min(n_samples,
        n_features)``; an int at most that many (with ``align=False`` and a
        trained solver more are allowed, an over-complete network, with a
        warning), 0 included (no components: the isotropic Gaussian model of
        ``score``); a float in (0, 1) the
        fewest components whose explained variance ratio exceeds it; "mle"
        Minka's maximum-likelihood choice (needs ``n_samples >= n_features``;
        directions of no variance beyond the eigendecomposition's round-off count
        as none, as in PCA's full SVD, so data of rank r without noise gets r).
        The float and "mle" forms (and None) are resolved by the first fit;
        ``partial_fit`` and a warm start keep the width it found.

    solver : {"covariance", "lbfgs", "minibatch"}, default="covariance"
        How the network reaches its optimum. The squared error of a centered
        linear autoencoder depends on the data only through its covariance, and
        its global optimum is the principal subspace (Baldi and Hornik), so
        "covariance" solves for it in closed form: one pass over the data for the
        ``n_features`` x ``n_features`` scatter matrix (or, with fewer rows than
        features, the rows' Gram matrix) and its eigenvectors, which become the
        network's weights, in float64. "lbfgs" trains the network from random
        weights, full batch with L-BFGS on a square-root factor of that matrix:
        the classic demonstration that training finds PCA. "minibatch" trains on
        the rows in minibatches with ``optimizer``, for data streamed in chunks
        (dense or sparse; no missing values). The scatter squares the data: values too large for
        it to fit float64 (near 1e154) are refused, and values so small that their
        squares are subnormal (below about 1e-154) lose their digits, as in
        PCA's ``svd_solver="covariance_eigh"``; scale such data first.

    align : bool, default=True
        Whether to rotate the learned weights to PCA's ordered components. With
        False the raw learned encoder and decoder are kept (their codes are PCA's
        rotated) and the PCA attributes below are not set.

    whiten : bool, default=False
        Whether to scale the codes to unit variance, as PCA's ``whiten``. Needs
        ``align=True``.

    tied_weights : bool, default=True
        If True, the decoder's weights are the encoder's transposed, as in the
        classic PCA network. The optimum is the same principal subspace either
        way; tied, its optima differ only by a rotation rather than by any
        invertible matrix.

    {training_parameters}

    Attributes
    ----------
    n_components_ : int
        Width of the code.

    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data, removed before encoding.

    components_ : ndarray of shape (`n_components_`, n_features)
        Principal axes, orthonormal rows sorted by decreasing explained variance,
        each with its largest-magnitude entry positive (PCA's convention).
        Only with ``align=True``.

    explained_variance_ : ndarray of shape (`n_components_`,)
        Variance of the training data along each component (ddof=1).
        Only with ``align=True``.

    explained_variance_ratio_ : ndarray of shape (`n_components_`,)
        Share of the total variance along each component. Only with
        ``align=True``.

    singular_values_ : ndarray of shape (`n_components_`,)
        Singular values of the centered training data along the components.
        Only with ``align=True``.

    noise_variance_ : float
        Mean variance of the discarded directions, as in PCA. Only with
        ``align=True``.

    n_samples_seen_ : int or float
        Number of rows seen by ``fit`` or by all ``partial_fit`` calls: with
        ``sample_weight``, the sum of their weights (a float), since a weight
        counts as that many repeated rows.

    n_samples_ : int or float
        The same number, under PCA's name.

    scatter_ : ndarray of shape (n_features, n_features) or None
        Scatter matrix ``(X - mean_).T @ (X - mean_)`` of those rows, in float64:
        the running statistic that ``partial_fit`` updates. None after a ``fit``
        on fewer rows than features, which works in the rows' span instead (such
        a fit cannot be continued by ``partial_fit``).

    {training_attributes}

    See Also
    --------
    sklearn.decomposition.PCA : The same components, computed by SVD.
    sklearn.decomposition.IncrementalPCA : PCA in chunks of rows.
    AutoencoderTransformer : Nonlinear autoencoder.

    Notes
    -----
    **Missing values.** NaN marks a missing entry: in a dense array, stored in a
    sparse matrix (an entry a sparse matrix does not store is a zero), as
    ``pd.NA`` in a pandas nullable column, or in a Dask array. Complete data
    takes exactly the path it takes without this support. With holes, solvers
    "covariance" and "lbfgs" fit probabilistic PCA (Tipping and Bishop, 1999) to
    the observed entries by maximum likelihood, with the EM that treats the
    missing entries as latent (Ilin and Raiko, 2010): each iteration completes
    the rows with the missing entries' conditional means and covariances given
    the observed ones (the E-step), then solves the closed form on the completed
    rows' expected count, mean and scatter (the M-step). It starts from the
    isotropic Gaussian of each feature's observed mean, whose first E-step fills
    each hole with its feature's mean and adds the pooled variance to its
    diagonal. A float or "mle" ``n_components`` is resolved from those moments,
    then again from the moments of the EM's fixed point at that width, until the
    width holds (or comes back to one tried): the first E-step's added variance
    flattens the spectrum, so that its width alone took 11 components for 0.9 of
    a rank-5 table with 15 % missing, where the complete table's PCA takes 4, as
    the fixed point's moments do. Each EM stops as ``tol``
    and ``max_iter`` say, with a ``ConvergenceWarning`` at ``max_iter``. The fit
    is then the closed form (or L-BFGS) on the last E-step's moments, which at
    the EM's fixed point return that fixed point: ``components_`` span its
    subspace, ``mean_`` is its mean, ``noise_variance_`` its noise (times
    ``n / (n - 1)``, as PCA's variances are), and ``scatter_`` is the expected
    scatter. With fewer rows than features the M-step keeps PCA's noise, the mean
    of the ``n_samples - n_components`` discarded variances, where the likelihood's
    maximum averages over ``n_features - n_components`` (the expected scatter of
    completed rows has more than ``n_samples`` directions): its fixed point is then
    PCA's convention on the completed rows, not the likelihood's maximum (8 rows of
    12 features, 15 % missing, one component: a noise of 1.17 against the
    maximum's 0.71). ``sample_weight`` weighs each row's terms. Each iteration is a pass
    over the rows (a chunk at a time; on a Dask array, one computation of it).
    Every feature needs one observed value. ``solver='minibatch'`` trains on the
    rows themselves and refuses missing values, in ``transform`` and
    ``score_samples`` too (its tags say ``allow_nan=False``).

    ``partial_fit`` runs the EM on its chunk with the moments of the chunks
    before it held fixed (their completion is not revisited: the earlier rows
    are not kept), starting from the model of the rows seen; a stream of one
    chunk is the ``fit``, and complete chunks merge exactly as without holes.
    ``transform`` codes a row with holes as the conditional expectation of its
    PCA score given its observed entries under the fitted model (the missing
    entries filled with their conditional means, then projected): a complete row
    keeps its PCA score, a row with nothing observed gets the mean's code, 0.
    Least squares on the observed entries alone would be undefined with fewer of
    them than components, and unstable near that. With ``align=False`` (no PCA
    model) a row's holes are filled by the decoder's least-squares fit to its
    observed entries. ``inverse_transform`` returns complete rows.
    ``score_samples`` of a row with holes is its expected log-likelihood given
    its observed entries: their marginal log-likelihood plus the expected
    conditional log-likelihood of the missing ones. Its expectation is that of a
    complete row's score, so a typical row keeps a typical score as entries go
    missing (the marginal alone would rise with each entry lost, and rescaling
    it by ``n_features / n_observed`` would still fall short, by the
    correlations the missing entries had with the observed). With
    ``align=False`` it is minus the mean squared error of the observed entries.
    A row with nothing observed cannot be scored, nor learned from: ``fit`` and
    ``partial_fit`` refuse it too (ValueError naming it; in a Dask array, the
    first pass over its blocks), as the networks do.

    References
    ----------
    P. Baldi and K. Hornik, "Neural networks and principal component analysis:
    learning from examples without local minima", Neural Networks 2 (1), 1989.

    M. E. Tipping and C. M. Bishop, "Probabilistic principal component
    analysis", Journal of the Royal Statistical Society B 61 (3), 1999.

    A. Ilin and T. Raiko, "Practical approaches to principal component analysis
    in the presence of missing values", Journal of Machine Learning Research 11,
    2010.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skae import LinearAETransformer
    >>> X = StandardScaler().fit_transform(load_iris().data)
    >>> lae = LinearAETransformer(n_components=2, random_state=0).fit(X)
    >>> lae.explained_variance_ratio_.round(4)
    array([0.7296, 0.2285])
    >>> bool(np.allclose(lae.transform(X), PCA(2).fit_transform(X), atol=1e-6))
    True
    >>> round(lae.score(X), 4) == round(PCA(2).fit(X).score(X), 4)
    True

    The classic demonstration: trained from random weights, the raw codes are
    PCA's rotated, and aligning them recovers PCA's.

    >>> trained = LinearAETransformer(2, solver="lbfgs", random_state=0).fit(X)
    >>> trained.explained_variance_ratio_.round(4)
    array([0.7296, 0.2285])
    >>> bool(np.allclose(trained.transform(X), PCA(2).fit_transform(X), atol=1e-6))
    True
    """

    _parameter_rules = {
        "n_components": [
            _NONE,
            _Interval(numbers.Integral, 0, None),
            _Interval(numbers.Real, 0, 1, closed="neither"),
            _Options(("mle",)),
        ],
        "solver": [_Options(("covariance", "lbfgs", "minibatch"))],
        "align": [_BOOLEAN],
        "whiten": [_BOOLEAN],
        "tied_weights": [_BOOLEAN],
    }

    # the attributes of PCA's alignment, set only with align=True
    _aligned = (
        "components_",
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
        "noise_variance_",
    )

    _fitted_state = {
        "n_components_": _Fitted(_Interval(numbers.Integral, 0, None)),
        "mean_": _Array("n_features_in_"),
        # a fit on fewer rows than features keeps no scatter matrix
        "scatter_": _Array("n_features_in_", "n_features_in_", none=True),
        # the number of rows, or the total of their weights
        "n_samples_seen_": _Fitted(_Interval(numbers.Real, 1, None, closed="neither")),
        "components_": _Array("n_components_", "n_features_in_", optional=True),
        "explained_variance_": _Array("n_components_", optional=True),
        "explained_variance_ratio_": _Array("n_components_", optional=True),
        "singular_values_": _Array("n_components_", optional=True),
        "noise_variance_": _Fitted(_Interval(numbers.Real, 0, None), optional=True),
    }

    # explained_variance_ uses ddof=1
    _min_samples = 2

    # what loss_curve_ records, for a plot's axis
    _loss_label = "mean squared error"

    def __init__(
        self,
        n_components=None,
        *,
        solver="covariance",
        align=True,
        whiten=False,
        tied_weights=True,
        optimizer="adam",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate="constant",
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-12,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
        precision="float32",
        n_jobs=None,
    ):
        super().__init__(
            n_components,
            optimizer=optimizer,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
            precision=precision,
            n_jobs=n_jobs,
        )
        self.solver = solver
        self.align = align
        self.whiten = whiten
        self.tied_weights = tied_weights

    @property
    def n_samples_(self):
        return self.n_samples_seen_

    def _prepare_net(self, n_features, n_components, *, resume):
        # the solver sets the weights' dtype, which no parameter names: say which
        # solver trained them, not that their dtype changed
        if resume and (self.solver == "minibatch") != (
            self.net_.get_params()["module__dtype"] == torch.float32
        ):
            trained = (
                "the minibatch solver, in float32"
                if self.solver != "minibatch"
                else "a float64 solver ('covariance' or 'lbfgs')"
            )
            raise ValueError(
                f"Cannot continue training with solver={self.solver!r}: the network was "
                f"trained by {trained}. Set solver back, or call fit with "
                "warm_start=False to build a new network."
            )
        return super()._prepare_net(n_features, n_components, resume=resume)

    def _net_params(self, n_features, n_components):
        params = super()._net_params(n_features, n_components) | {
            "module": _LinearAutoencoder,
            "module__n_features": n_features,
            "module__n_components": n_components,
            "module__tied_weights": self.tied_weights,
            "criterion": _ReconstructionLoss,
        }
        if self.solver == "minibatch":
            return params | {"module__dtype": torch.float32}
        # the closed form and L-BFGS work in float64 on the covariance
        params["module__dtype"] = torch.float64
        params["precision"] = None
        for key in ("optimizer__fused", "optimizer__weight_decay", "optimizer__param_groups"):
            params.pop(key, None)
        if self.solver == "covariance":
            # the closed form never steps an optimizer
            return params | {"optimizer": None}
        # full batch L-BFGS on the covariance factor; one epoch is up to 20 L-BFGS
        # iterations. Converged L-BFGS leaves the loss unchanged, which the
        # early-stopping callback sees as a stall. L-BFGS on a fixed matrix is
        # deterministic, so there is no noise to wait out: two epochs in a row
        # without relative progress end it.
        return params | dict(
            optimizer=torch.optim.LBFGS,
            lr=1.0,
            optimizer__max_iter=20,
            optimizer__line_search_fn="strong_wolfe",
            optimizer__tolerance_change=0.0,
            batch_size=-1,
            callbacks__early_stopping__threshold=self.tol,
            callbacks__early_stopping__threshold_mode="rel",
            callbacks__early_stopping__patience=2,
        )

    def _check_settings(self):
        super()._check_settings()
        if self.whiten and not self.align:
            raise ValueError("whiten=True needs align=True: whitening uses the aligned variances.")
        if self.solver != "minibatch" and (self.early_stopping or self.alpha > 0):
            raise ValueError(
                "early_stopping and alpha > 0 apply to solver='minibatch' only; "
                f"got early_stopping={self.early_stopping}, alpha={self.alpha} with "
                f"solver={self.solver!r}."
            )

    def _continued_width(self, moments, incremental):
        """The width of a fit that continues the network (``partial_fit``, a warm
        start) where ``n_components`` is read from the data (None, a share,
        "mle"): the fitted one, as the first fit resolved it; for a warm start,
        only where ``n_components`` still gives it on the rows fitted before (else
        None: the parameter changed, and the width is read from these rows). A
        warm start on other data re-read it and then refused to continue a network
        "built with n_components=4 (now 1)", a change of no parameter."""
        k = int(self.n_components_)
        if not incremental:
            try:
                seen = self._seen_moments()
                if self._resolve_n_components(seen, len(seen.mean)) != k:
                    return None
            except ValueError:  # no scatter kept, or "mle" on too few rows
                return None
        limit = moments.max_components()
        if k > limit and (self.align or self.solver == "covariance"):
            raise ValueError(
                f"{type(self).__name__} continues its network of n_components_={k} "
                f"components, more than these rows have (min(n_samples, n_features)="
                f"{limit}); fit with warm_start=False to build a new one."
            )
        return k

    def _resolve_n_components(self, moments, n_features):
        """The code width that ``n_components`` asks for, given the data."""
        limit = moments.max_components()
        k = self.n_components
        if k is None:
            return limit
        if k == "mle":
            if moments.n < n_features:
                raise ValueError(
                    "n_components='mle' needs n_samples >= n_features; got "
                    f"n_samples={moments.n}, n_features={n_features}."
                )
            return _mle_width(moments)
        if isinstance(k, numbers.Integral):
            trained = self.solver != "covariance"
            if k > limit and (self.align or not trained):
                raise ValueError(
                    f"n_components={k} must be between 0 and min(n_samples, n_features)="
                    f"{limit}: PCA's alignment and the closed form have no more "
                    "components. Use fewer, or align=False with a trained solver ('lbfgs' "
                    "or 'minibatch') for an over-complete network."
                )
            if k >= n_features and trained and not self.align:
                warnings.warn(
                    f"n_components={k} >= n_features={n_features}: a complete or "
                    "over-complete linear autoencoder can learn the identity map, so its "
                    "raw codes compress nothing.",
                    UserWarning,
                    stacklevel=_caller_level(),
                )
            return int(k)
        return _width_for_ratio(moments, k, limit)

    def _validate(self, X, **kwargs):
        if not _is_dask_array(X):
            return super()._validate(X, **kwargs)
        # a Dask array (or DataFrame) stays where its blocks live: its rows are
        # counted (and the minimum checked) by _fit_validated, from its moments
        return _validate_dask(self, X, reset=kwargs["reset"])

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        # every rank gets here with the same (agreed) parameters
        _refuse_in_group(
            "LinearAETransformer does not train across the ranks of a process group "
            "(each rank would solve its own shard); fit it in one process, or on a "
            "Dask array."
        )
        if not _is_dask_array(X):
            if sample_weight is not None and 0 < np.count_nonzero(sample_weight) < X.shape[0]:
                # a row of weight zero counts for nothing, whatever it holds (one of
                # 1e300 overflowed the scatter, NaN in its mean); but NaN is refused
                # where the tags say so, as transform refuses it
                if _has_missing(X):
                    self._refuse_missing_with_minibatch()
                kept = np.flatnonzero(sample_weight)
                X, sample_weight = _rows_of(X, kept), sample_weight[kept]
            if _has_missing(X):
                self._refuse_missing_with_minibatch()
                # as for the networks: a row of nothing observed would count as a
                # sample (n_samples_seen_, the variances' divisor) and teach nothing
                _check_rows_observed(X, "learn from", sample_weight)
                if sample_weight is not None:
                    # refused before the EM runs on them (a chunk after others may
                    # weigh 1 or less: what counts is the merged total)
                    with np.errstate(over="ignore"):
                        total = float(np.sum(sample_weight))
                    if not (incremental and resume) or not np.isfinite(total):
                        self._check_total(total)
                width = X.shape[1] * (self._em_width(X.shape[1]) + 1)
                reduce = partial(_reduce_rows, X, sample_weight, width=width)
                moments, k = self._completed_moments(reduce, X.shape[1], resume, incremental)
                if sample_weight is None:
                    moments.n = round(moments.n)  # a count of rows, as without NaN
                self._fit_moments(
                    moments, None, X.dtype, resume=resume, incremental=incremental, k=k
                )
                return
            moments = _Moments.of(
                X, sample_weight, keep_scatter=incremental or self.solver == "minibatch"
            )
            self._fit_moments(
                moments, (X, sample_weight), X.dtype, resume=resume, incremental=incremental
            )
            return
        if self.solver == "minibatch" or sample_weight is not None:
            raise ValueError(
                "A Dask array is fitted from its moments, by the covariance or "
                "L-BFGS solver and without sample_weight; for solver='minibatch', "
                "stream its blocks into partial_fit (dask_ml's Incremental)."
            )
        # its moments are computed where its blocks live
        moments = _dask_moments(X)
        _check_min_rows(moments.n, self._min_rows(incremental=incremental, resume=resume), self)
        k = None
        if np.isnan(moments.mean).any():  # missing values: EM, a pass over X per step
            reduce = partial(_reduce_blocks, X)
            moments, k = self._completed_moments(reduce, X.shape[1], resume, incremental)
            moments.n = round(moments.n)
        self._fit_moments(moments, None, X.dtype, resume=resume, incremental=incremental, k=k)

    def _refuse_missing_with_minibatch(self):
        # its tags say allow_nan=False: scikit-learn's contract is then that fit,
        # transform and score refuse NaN alike
        if self.solver == "minibatch":
            raise ValueError(
                "Input X contains NaN (missing values), which solver='minibatch' does "
                "not take: it trains on the rows themselves. Use solver='covariance' "
                "(or 'lbfgs'), which fits probabilistic PCA to the observed entries by "
                "EM, or impute the missing values first."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.solver != "minibatch"
        return tags

    def _em_width(self, n_features):
        """The EM's width where ``n_components`` or a stream fixes it, else its
        bound ``n_features``: what the size of its chunks allows for."""
        k = self.n_components
        if isinstance(k, numbers.Integral):
            return min(int(k), n_features)
        return int(getattr(self, "n_components_", n_features))

    def _completed_moments(self, reduce, n_features, resume, incremental):
        """The expected moments of the rows with missing values at the fixed point
        of the EM for probabilistic PCA (``_pca._em_moments``), and its width.

        ``reduce`` passes a block function over the rows (``_reduce_rows`` or,
        for a Dask array, ``_reduce_blocks``). A first fit starts from the
        isotropic Gaussian of the observed entries (each feature's observed mean,
        their mean squared deviation): its E-step fills the holes with the means
        and adds that variance to the scatter's diagonal, and the width that
        ``n_components`` asks for (a float or "mle") is resolved from those
        moments, then from those of the fixed point until it holds. A
        ``partial_fit`` chunk after
        others starts from the model of the rows seen, whose moments stay as they
        are (see the class's notes on missing values).
        """
        d = n_features
        seen = self._seen_moments() if incremental and resume else None
        if seen is None:
            summary = reduce(_observed_summary, _merge_observed)
            counts, mean, deviations = np.split(summary.ravel(), 3)
            empty = np.flatnonzero(counts <= 0)
            if len(empty):
                raise ValueError(
                    f"Feature(s) {empty[:10].tolist()} have no observed value (all NaN, "
                    "or observed only in rows of zero weight): PCA with missing values "
                    "needs at least one observation of each feature."
                )
            start = _Model(mean, np.zeros((d, 0)), float(deviations.sum() / counts.sum()))
        else:
            start = _Model.of(seen, int(self.n_components_))
        first, _ = _unpack(reduce(partial(_expected_summary, model=start), _merge_packed), d)
        merged = first if seen is None else first.merged_after(seen)
        self._check_total(merged.n)
        _check_finite(merged)
        asked = self.n_components  # a share, or "mle": chosen from the data
        chosen = isinstance(asked, str) or (
            isinstance(asked, numbers.Real) and not isinstance(asked, numbers.Integral)
        )
        k = self._continued_width(merged, incremental) if resume and chosen else None
        if k is None:
            k = self._resolve_n_components(merged, d)
        else:
            chosen = False
        tried, model = set(), _Model.of(merged, k)
        while True:
            moments, _, converged = _em_moments(
                reduce, d, k, start=model, seen=seen, max_iter=self.max_iter, tol=self.tol
            )
            if not chosen:
                break
            # read again from the moments of the EM's fixed point, until the width
            # holds or comes round again (see the class's notes on missing values)
            completed = moments if seen is None else moments.merged_after(seen)
            tried.add(k)
            width = self._resolve_n_components(completed, d)
            if width in tried:
                break
            k, model = width, _Model.of(completed, width)
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: the EM for the missing values reached "
                f"max_iter={self.max_iter} iterations while the log-likelihood per "
                f"observed entry still rose by more than tol={self.tol}; raise max_iter "
                "or tol.",
                ConvergenceWarning,
                stacklevel=_caller_level(),
            )
        return moments, k

    def _check_total(self, n):
        """Raise ValueError unless ``n``, the rows' count or total weight, is finite
        and more than 1."""
        if not np.isfinite(n):
            raise ValueError(
                "sample_weight sums to infinity: the linear autoencoder counts its "
                "weights as samples; rescale them."
            )
        if n <= 1:
            raise ValueError(
                f"sample_weight sums to {n:.4g}, but the linear autoencoder's "
                "weights count samples (as repeated rows), and its variances divide by "
                "their total minus one: the weights must sum to more than 1."
            )

    def _fit_moments(self, moments, rows, dtype, *, resume, incremental, k=None):
        """Fit on the ``moments`` of the rows (``(X, sample_weight)``, which only the
        minibatch solver reads; None for a Dask array or rows with missing values),
        merged after those seen before for ``partial_fit``; set the fitted
        attributes in ``dtype``. ``k``, if given, is the width (the EM's)."""
        n_features = moments.mean.shape[0]
        if incremental and resume:
            moments = moments.merged_after(self._seen_moments())
        self._check_total(moments.n)
        _check_finite(moments)
        if k is None and resume and not isinstance(self.n_components, numbers.Integral):
            k = self._continued_width(moments, incremental)
        if k is None:
            k = self._resolve_n_components(moments, n_features)
        net = self._prepare_net(n_features, k, resume=resume)
        solve = {
            "covariance": self._fit_covariance,
            "lbfgs": self._fit_lbfgs,
            "minibatch": self._fit_minibatch,
        }[self.solver]
        solve(net, moments, k, rows, incremental=incremental)
        with torch.no_grad():
            net.module_.mean.copy_(torch.as_tensor(moments.mean))
        self._set_net(net, resume=resume)
        self.n_components_ = np.int64(k)
        self.n_samples_seen_ = moments.n
        self.mean_ = moments.mean.astype(dtype)
        self.scatter_ = moments.scatter
        if self.align:
            self._align(moments, dtype)
        else:
            for name in self._aligned:
                self.__dict__.pop(name, None)

    def _seen_moments(self):
        """The moments of the rows seen so far, for ``partial_fit`` to merge into."""
        if self.scatter_ is None:
            raise ValueError(
                "partial_fit cannot continue a fit on fewer rows than features, "
                "which keeps no scatter matrix; start with partial_fit instead."
            )
        # the running mean in float64: the network's buffer where it is float64
        # (the closed form and L-BFGS), else mean_ (the input's dtype)
        buffer = self.net_.module_.mean
        precise = buffer.dtype == torch.float64
        mean = buffer.detach().cpu().numpy() if precise else self.mean_
        return _Moments(self.n_samples_seen_, mean.astype(np.float64), self.scatter_)

    def _fit_covariance(self, net, moments, k, rows, *, incremental):
        """The network's global optimum, in closed form: the top-k eigenvectors of
        the scatter as its (tied or mirrored) weights, recorded as one epoch."""
        module = net.module_
        with torch.no_grad():
            axes = torch.as_tensor(moments.axes(k).T.copy())
            module.encoder.weight.copy_(axes)
            if module.decoder is not None:
                module.decoder.weight.copy_(axes.T)
        _record_epoch(net, moments, k)

    def _fit_lbfgs(self, net, moments, k, rows, *, incremental):
        """Full-batch L-BFGS on a square-root factor of the scatter (centered rows,
        so with a zero mean in the network), scaled so the loss starts at 1."""
        if k == 0:  # nothing to train: the closed form's single epoch
            _record_epoch(net, moments, k)
            return
        with torch.no_grad():
            net.module_.mean.zero_()
        # a fresh L-BFGS (history and tolerance) for this matrix
        net.optimizer__tolerance_grad = self.tol / moments.mean.shape[0]
        net.initialize_optimizer()
        # every call solves its merged moments to the end, partial_fit's too
        self._train_net(net, moments.factor(), None, incremental=False)
        # the next solve starts afresh, so the L-BFGS history (most of the
        # memory of a fitted estimator) is not kept
        net.initialize_optimizer()

    def _fit_minibatch(self, net, moments, k, rows, *, incremental):
        """Minibatches of the (weighted) rows with ``optimizer``, around the running
        mean."""
        with torch.no_grad():
            net.module_.mean.copy_(torch.as_tensor(moments.mean))
        self._train_net(net, *rows, incremental=incremental)

    def _weights(self):
        """(encoder weight, decoder weight) as arrays of shapes (k, d) and (d, k)."""
        module = self.net_.module_
        encoder = module.encoder.weight
        decoder = encoder.T if module.decoder is None else module.decoder.weight
        return encoder.detach().cpu().numpy(), decoder.detach().cpu().numpy()

    def _align(self, moments, dtype):
        """Rotate the learned subspace to PCA's sorted, sign-fixed components, set
        PCA's attributes (in ``dtype``, that of the input) from ``moments`` (all
        rows seen), and write the aligned weights back into the network, so that
        warm starts continue from them."""
        basis, _ = np.linalg.qr(self._weights()[1].astype(np.float64))
        components, eigenvalues = _pca_rotation(basis, moments)
        explained, ratio, singular, noise = _variance_attributes(moments, eigenvalues)
        if explained.max(initial=0) > np.finfo(dtype).max:
            raise ValueError(
                f"The variance of X along its first component, {explained.max():.3g}, "
                f"exceeds the range of {np.dtype(dtype).name}; fit on X converted to "
                "float64 or rescaled."
            )
        # C order, as a loaded file's: BLAS sums another layout in another order,
        # and a loaded model's sparse transform was 1 ulp off the fitted one's
        self.components_ = np.ascontiguousarray(components, dtype=dtype)
        self.explained_variance_ = explained.astype(dtype)
        self.explained_variance_ratio_ = ratio.astype(dtype)
        self.singular_values_ = singular.astype(dtype)
        self.noise_variance_ = noise
        module = self.net_.module_
        with torch.no_grad():
            weight = torch.as_tensor(components)
            module.encoder.weight.copy_(weight)
            if module.decoder is not None:
                module.decoder.weight.copy_(weight.T)

    def _check_consistency(self):
        super()._check_consistency()
        present = [hasattr(self, name) for name in self._aligned]
        if any(present) != self.align or not (all(present) or not any(present)):
            raise ValueError(
                f"with align={self.align} the fitted attributes {', '.join(self._aligned)} "
                f"must be {'all present' if self.align else 'absent'}."
            )
        if self.n_components_ > min(self.n_samples_seen_, self.n_features_in_) and (
            self.align or self.solver == "covariance"
        ):
            raise ValueError(
                f"n_components_={self.n_components_} exceeds min(n_samples_seen_, "
                f"n_features_in_) = {min(self.n_samples_seen_, self.n_features_in_)}."
            )
        if self.align:
            self._check_spectrum()
        if self.scatter_ is not None:
            scatter = self.scatter_
            spread = max(float(np.abs(np.diag(scatter)).max()), np.finfo(float).tiny)
            if not np.allclose(scatter, scatter.T, rtol=0, atol=1e-12 * spread) or (
                np.linalg.eigvalsh(scatter).min() < -1e-8 * spread
            ):
                raise ValueError(
                    "scatter_ is not a symmetric positive semi-definite matrix, as a "
                    "scatter matrix of rows is."
                )
            self._check_scatter_spectrum()

    def _check_scatter_spectrum(self):
        """Raise ValueError unless the aligned variances are those of ``scatter_``
        along ``components_`` and the noise is within its total: partial_fit goes on
        from ``scatter_``, transform from the components (a file whose scatter_
        contradicted them became another model at its next partial_fit)."""
        n, scatter = float(self.n_samples_seen_), self.scatter_
        if not self.align or n <= 1:
            return
        components = self.components_.astype(np.float64)
        along = np.einsum("ij,jk,ik->i", components, scatter, components) / (n - 1)
        total = float(np.trace(scatter)) / (n - 1)
        # variances below the dtype's smallest normal number hold few digits
        floor = max(1e-6 * total, np.finfo(self.explained_variance_.dtype).tiny)
        if not np.allclose(along, self.explained_variance_, rtol=1e-3, atol=floor):
            raise ValueError(
                "explained_variance_ is not the variance of scatter_ along components_."
            )
        if not self.noise_variance_ <= total * (1 + 1e-6):
            raise ValueError(
                f"noise_variance_={self.noise_variance_:.6g} exceeds the total variance "
                f"of scatter_, {total:.6g}."
            )

    def _check_spectrum(self):
        """Raise ValueError unless PCA's attributes are what an alignment leaves:
        orthonormal components, variances sorted and not negative, ratios summing
        to at most 1, singular values matching the variances."""
        components, variances = self.components_, self.explained_variance_
        tol = 1e-4 if components.dtype == np.float32 else 1e-10
        if not np.allclose(components @ components.T, np.eye(len(components)), atol=tol):
            raise ValueError("components_ are not orthonormal rows.")
        if (variances < 0).any() or (
            np.diff(variances) > tol * max(variances.max(initial=0), 1)
        ).any():
            raise ValueError(
                "explained_variance_ holds negative variances or is not sorted in decreasing order."
            )
        ratios = self.explained_variance_ratio_
        if (ratios < 0).any() or ratios.sum() > 1 + tol:
            raise ValueError("explained_variance_ratio_ must be ratios summing to at most 1.")
        # compared as variances: a variance below the dtype's smallest normal number
        # (float32 data of scale 1e-22) holds fewer digits than its singular value
        implied = self.singular_values_.astype(np.float64) ** 2 / (self.n_samples_seen_ - 1)
        tiny = np.finfo(variances.dtype).tiny
        if (self.singular_values_ < 0).any() or not np.allclose(
            implied, variances, rtol=tol * 20, atol=tiny
        ):
            raise ValueError(
                "singular_values_ do not match explained_variance_ and n_samples_seen_."
            )

    def _restore_net(self, tensors):
        super()._restore_net(tensors)
        self.n_components_ = np.int64(self.n_components_)  # as a fit leaves it, as PCA's
        # transform uses the fitted arrays, partial_fit the network's own: they
        # must be the same model
        module = self.net_.module_
        mean = module.mean.detach().numpy()
        scale = max(float(np.abs(self.mean_).max(initial=0)), 1.0)
        if not np.allclose(mean, self.mean_, rtol=1e-6, atol=1e-6 * scale):
            raise ValueError("the network's mean buffer is not mean_.")
        if self.align:
            weight = module.encoder.weight.detach().numpy()
            if not np.allclose(weight, self.components_, rtol=1e-5, atol=1e-6):
                raise ValueError("the network's encoder weights are not components_.")

    # -- Dask arrays in, Dask arrays out ----------------------------------------

    def transform(self, X):
        if _is_dask_array(X):
            check_is_fitted(self)
            return _map_rows(self.transform, X, self.n_components_)
        return super().transform(X)

    def inverse_transform(self, X):
        if _is_dask_array(X):
            check_is_fitted(self)
            return _map_rows(self.inverse_transform, X, self.n_features_in_, samples=False)
        return super().inverse_transform(X)

    def score_samples(self, X):
        if _is_dask_array(X):
            check_is_fitted(self)
            return _map_rows(self.score_samples, X, None)
        return super().score_samples(X)

    transform.__doc__ = _BaseAutoencoder.transform.__doc__
    inverse_transform.__doc__ = _BaseAutoencoder.inverse_transform.__doc__
    score_samples.__doc__ = _BaseAutoencoder.score_samples.__doc__

    def _check_fitted_alignment(self):
        """ValueError if ``align`` or ``whiten`` asks for arrays the fit did not
        make: an alignment is made by a fit (``components_`` and the variances),
        so ``align`` set anew after it would mix two models, and whitening reads
        the aligned variances. (``whiten`` alone is read at each call, as PCA's.)"""
        fitted = hasattr(self, "components_")
        if self.align != fitted or (self.whiten and not fitted):
            changed = "align" if self.align != fitted else "whiten"
            raise ValueError(
                f"{type(self).__name__} was fitted with align={fitted} (now "
                f"{changed}={getattr(self, changed)}): the aligned components and "
                "variances are made by a fit. Refit, or set the parameters back."
            )

    def _whitening_scale(self):
        # a component of zero variance keeps finite codes, as in PCA
        scale = np.sqrt(self.explained_variance_)
        return np.maximum(scale, np.finfo(scale.dtype).eps)

    def _encode(self, X):
        self._check_fitted_alignment()
        encoder = self.components_ if self.align else self._weights()[0]
        encoder = encoder.astype(X.dtype, copy=False)
        sparse = sp.issparse(X)
        # sparse rows are never centered (densified): the mean is projected instead
        offset = self.mean_.astype(X.dtype) @ encoder.T if sparse else None
        Z = np.empty((X.shape[0], encoder.shape[0]), dtype=X.dtype)
        for rows in _chunks(*X.shape):
            chunk = X[rows]
            if sparse:
                codes = np.asarray(chunk @ encoder.T) - offset
            else:
                codes = (chunk - self.mean_) @ encoder.T
            holes = _rows_with_missing(chunk)
            if holes.any():
                self._refuse_missing_with_minibatch()
                # the rows with missing values, completed first (see _completed)
                completed = self._completed(_dense(chunk[holes])).astype(X.dtype)
                codes[holes] = (completed - self.mean_) @ encoder.T
            Z[rows] = codes / self._whitening_scale() if self.whiten else codes
        return Z

    def _completed(self, rows):
        """Dense ``rows`` (NaN where missing) completed, in float64.

        With ``align=True``, each missing entry becomes its conditional mean given
        the row's observed entries under the fitted probabilistic PCA model (the
        E-step of the fit), so a row's code is the expectation of its PCA score
        given what is observed. With ``align=False`` there is no such model (the
        raw weights of a trained solver need not be PCA's), so the code is the
        decoder's least-squares fit to the observed entries (the smallest, where
        several fit equally), and the holes are filled with its reconstruction.
        Either way a row with nothing observed becomes the mean.
        """
        mean = self.mean_.astype(np.float64)
        if self.align:
            return self._model(whitened=False).completed(rows)
        decoder = self._weights()[1].astype(np.float64)
        observed = ~np.isnan(rows)
        centered = np.where(observed, rows - mean, 0.0)
        seen = observed[:, :, None] * decoder
        codes = (np.linalg.pinv(seen) @ centered[:, :, None])[:, :, 0]
        return np.where(observed, rows, mean + codes @ decoder.T)

    def _model(self, *, whitened):
        """The fitted probabilistic PCA model as a ``_pca._Model``, in float64:
        that of ``get_covariance`` if ``whitened`` (which scales the components
        with ``whiten=True``, as PCA's does), else the one the fit estimated."""
        variances = self.explained_variance_.astype(np.float64)
        noise = float(self.noise_variance_)
        components = self.components_.astype(np.float64)
        if whitened:
            components = _scaled_components(components, variances, self.whiten)
        factor = components.T * np.sqrt(np.clip(variances - noise, 0, None))
        return _Model(self.mean_.astype(np.float64), factor, noise)

    def _decode(self, Z):
        self._check_fitted_alignment()
        decoder = self.components_.T if self.align else self._weights()[1]
        decoder = decoder.T.astype(Z.dtype, copy=False)
        X = np.empty((Z.shape[0], decoder.shape[1]), dtype=Z.dtype)
        for rows in _chunks(Z.shape[0], decoder.shape[1]):
            codes = Z[rows] * self._whitening_scale() if self.whiten else Z[rows]
            X[rows] = codes @ decoder + self.mean_
        return X

    # -- the probabilistic PCA model ------------------------------------------

    @available_if(_has_pca_model)
    def get_covariance(self):
        """Data covariance of the fitted probabilistic PCA model, as PCA's.

        ``components_.T @ diag(max(explained_variance_ - noise_variance_, 0)) @
        components_ + noise_variance_ * I`` (with ``whiten=True`` the components
        are first scaled by the square roots of their variances, as PCA does).

        Returns
        -------
        cov : ndarray of shape (n_features, n_features)
            Estimated covariance of the data.
        """
        check_is_fitted(self)
        self._check_fitted_alignment()
        return _covariance(
            self.components_, self.explained_variance_, self.noise_variance_, self.whiten
        )

    @available_if(_has_pca_model)
    def get_precision(self):
        """Inverse of :meth:`get_covariance`, by the matrix inversion lemma.

        Returns
        -------
        precision : ndarray of shape (n_features, n_features)
            Estimated precision of the data.
        """
        check_is_fitted(self)
        self._check_fitted_alignment()
        return _precision(
            self.components_, self.explained_variance_, self.noise_variance_, self.whiten
        )

    def _score_samples(self, X):
        # the probabilistic PCA log-likelihood, as PCA's
        self._check_fitted_alignment()
        if not self.align:
            scores = super()._score_samples(X)
        else:
            # in the input's dtype, as PCA's
            scores = _log_likelihood(X, self.mean_, self.get_precision())
            scores = scores.astype(X.dtype, copy=False)
        for rows in _chunks(*X.shape):
            holes = _rows_with_missing(X[rows])
            if holes.any():
                self._refuse_missing_with_minibatch()
                chunk = _dense(X[rows][holes]).astype(np.float64)
                index = np.arange(rows.start, rows.stop)[holes]
                scores[index] = self._score_holes(chunk, index)
        return scores

    def _score_holes(self, rows, index):
        """Scores of dense ``rows`` with missing values, on the scale of complete
        rows: with ``align=True``, the expected log-likelihood of the completed row
        given its observed entries under ``N(mean_, get_covariance())``, the
        observed entries' marginal log-likelihood plus the expected conditional
        log-likelihood of the missing ones, ``-(n_missing * (log(2 pi) + 1) +
        log det C_m|o) / 2``; with ``align=False``, minus the mean squared
        reconstruction error of the observed entries. ``index``: the rows' indices
        in X, for a message."""
        observed = ~np.isnan(rows)
        n_observed = observed.sum(axis=1)
        if (n_observed == 0).any():
            raise ValueError(
                f"Row(s) {index[n_observed == 0][:10].tolist()} of X have no "
                "observed value (all NaN): there is nothing to score."
            )
        if not self.align:
            residual = np.where(observed, self._decode(self._encode(rows)) - rows, 0.0)
            with np.errstate(over="ignore"):
                return -np.sum(residual**2, axis=1) / n_observed
        n_missing = rows.shape[1] - n_observed
        if self.noise_variance_ > 0:
            model = self._model(whitened=True)
            posterior = model.posterior(rows)
            values = posterior.log_likelihood()
            # det C = det C_oo det C_m|o (the Schur complement)
            full = model.posterior(np.zeros((1, rows.shape[1]))).log_det
            conditional = full - posterior.log_det
        else:
            # no noise: the latent form needs some; the observed block's own
            # covariance instead, one row at a time (PCA would refuse a singular one)
            covariance = self.get_covariance().astype(np.float64)
            sign, total = np.linalg.slogdet(covariance)
            values, conditional = np.empty(len(rows)), np.empty(len(rows))
            for i, (row, seen) in enumerate(zip(rows, observed, strict=True)):
                block = covariance[np.ix_(seen, seen)]
                block_sign, log_det = np.linalg.slogdet(block)
                if min(sign, block_sign) <= 0:
                    raise ValueError(
                        "The probabilistic PCA model has no noise and a singular "
                        f"covariance (of the observed entries of row {i}): the "
                        "likelihood is undefined."
                    )
                centered = row[seen] - self.mean_[seen]
                distance = centered @ np.linalg.solve(block, centered)
                values[i] = -0.5 * (seen.sum() * np.log(2 * np.pi) + log_det + distance)
                conditional[i] = total - log_det
        return values - 0.5 * (n_missing * (np.log(2 * np.pi) + 1) + conditional)


def _record_epoch(net, moments, k):
    """Record a closed-form solve as one epoch, with the loss at the optimum: the
    variance left outside the top ``k`` directions, per feature and sample."""
    residual = moments.total() - moments.eigenvalues()[:k].sum()
    net.history.new_epoch()
    net.history.record("epoch", len(net.history))
    net.history.record("train_loss", max(residual, 0.0) / (moments.n * moments.mean.shape[0]))


def _check_finite(moments):
    """ValueError unless ``moments`` are finite: the scatter of rows too large to
    square and sum overflows, which the solvers would take for NaN (L-BFGS for a
    missing value, the eigensolver for no convergence)."""
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(moments.total()) and np.isfinite(moments.mean).all()
    if not finite:
        raise ValueError(
            "The scatter of X overflows float64: its values are too large to square "
            "and sum. Scale X (for example with StandardScaler) before fitting."
        )
