"""The linear autoencoder, aligned to PCA's ordered components."""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import gammaln
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseAutoencoder, _chunks
from ._docstrings import _fill_doc
from ._modules import _LinearAutoencoder
from ._net import _ReconstructionLoss
from ._validation import _BOOLEAN, _NONE, _Interval, _Options


def _scatter(X, mean):
    """``(X - mean).T @ (X - mean)`` in float64, one chunk of rows at a time; for
    sparse ``X`` without densifying it, as ``X.T @ X - n * outer(mean, mean)``."""
    if sp.issparse(X):
        return (X.T @ X).toarray() - X.shape[0] * np.outer(mean, mean)
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for rows in _chunks(X.shape[0]):
        Xc = X[rows] - mean
        scatter += Xc.T @ Xc
    return scatter


def _square_root_factor(A):
    """An upper-triangular ``R`` with ``R.T @ R = A + eps * I`` for a PSD ``A``.

    A singular ``A`` (constant features) gets the smallest jitter ``eps`` that makes
    Cholesky succeed. Adding ``eps * I`` shifts every eigenvalue by ``eps`` and
    leaves the eigenvectors, so the principal subspace is unchanged.
    """
    d = A.shape[0]
    scale = max(np.trace(A) / d, np.finfo(np.float64).tiny)
    eps = 0.0
    while True:
        try:
            return np.linalg.cholesky(A + eps * np.eye(d)).T
        except np.linalg.LinAlgError:
            eps = scale * 1e-12 if eps == 0.0 else eps * 100


class _Moments:
    """Count, mean and scatter of the rows seen.

    The scatter is held as the ``n_features`` squared matrix, or, for a dense fit
    on fewer rows than features, as the centered rows themselves, whose span holds
    everything the fit needs (their Gram matrix is ``n_samples`` squared).
    """

    def __init__(self, n, mean, scatter=None, centered=None):
        self.n, self.mean, self.scatter, self.centered = n, mean, scatter, centered

    @classmethod
    def of(cls, X, *, keep_scatter):
        n, d = X.shape
        if sp.issparse(X):
            # scipy sums a float32 matrix in float32 even when asked for float64
            X = X.astype(np.float64)
        mean = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
        if not keep_scatter and not sp.issparse(X) and n < d:
            return cls(n, mean, centered=X.astype(np.float64) - mean)
        return cls(n, mean, scatter=_scatter(X, mean))

    def merged_after(self, seen):
        """These rows' moments merged after those of ``seen`` (Chan et al.)."""
        n = seen.n + self.n
        delta = self.mean - seen.mean
        mean = seen.mean + delta * (self.n / n)
        scatter = seen.scatter + self.scatter + np.outer(delta, delta) * (seen.n * self.n / n)
        return _Moments(n, mean, scatter=scatter)

    def total(self):
        """The trace of the scatter: the total squared deviation."""
        if self.scatter is not None:
            return float(np.trace(self.scatter))
        return float(np.sum(self.centered**2))

    def project(self, basis):
        """``basis.T @ scatter @ basis`` for orthonormal columns ``basis``."""
        if self.scatter is not None:
            return basis.T @ self.scatter @ basis
        projected = self.centered @ basis
        return projected.T @ projected

    def _eigen(self):
        """Eigenvalues (largest first, clipped at 0) and orthonormal eigenvectors
        of the scatter, computed once: ``n_features`` of them from the scatter
        matrix, or ``n_samples`` from the rows' Gram matrix (the vectors mapped to
        feature space, and completed with orthonormal directions of zero variance
        by QR)."""
        if not hasattr(self, "_eigenpairs"):
            if self.scatter is not None:
                values, vectors = np.linalg.eigh(self.scatter)
                vectors = vectors[:, ::-1]
            else:
                values, rows = np.linalg.eigh(self.centered @ self.centered.T)
                vectors = np.linalg.qr(self.centered.T @ rows[:, ::-1])[0]
            self._eigenpairs = np.clip(values[::-1], 0, None), vectors
        return self._eigenpairs

    def eigenvalues(self):
        """The scatter's eigenvalues, largest first."""
        return self._eigen()[0]

    def axes(self, k):
        """Orthonormal columns spanning the scatter's top ``k`` eigenvectors."""
        return self._eigen()[1][:, :k]

    def factor(self):
        """A matrix ``R`` with ``R.T @ R`` proportional to the scatter: the rows
        L-BFGS trains on, scaled so that the loss of the zero map is 1 whatever the
        data's scale (L-BFGS's fixed curvature threshold would stall on tiny data)."""
        d = self.mean.shape[0]
        scale = self.total() / self.n if self.total() > 0 else 1.0
        if self.scatter is not None:
            return _square_root_factor(self.scatter * (d / self.n / scale))
        return self.centered * np.sqrt(d / self.n / scale)


def _minka_log_evidence(variances, rank, n_samples):
    """Minka's (2000) Laplace approximation of the log evidence of probabilistic
    PCA with ``rank`` components, given the spectrum ``variances`` (descending)."""
    d = len(variances)
    if variances[rank - 1] < 1e-15:
        return -np.inf
    kept, rest = variances[:rank], variances[rank:]
    noise = max(1e-15, rest.sum() / (d - rank))
    i = np.arange(1, rank + 1)
    log_prior = -rank * np.log(2) + np.sum(
        gammaln((d - i + 1) / 2) - np.log(np.pi) * (d - i + 1) / 2
    )
    log_likelihood = -n_samples / 2 * (np.sum(np.log(kept)) + (d - rank) * np.log(noise))
    m = d * rank - rank * (rank + 1) / 2
    # the Hessian's determinant: one factor per pair (i, j), i < rank, j > i
    filled = np.concatenate([kept, np.full(d - rank, noise)])
    hessian = 0.0
    for a in range(rank):
        later = np.arange(a + 1, d)
        hessian += np.sum(
            np.log((variances[a] - variances[later]) * (1 / filled[later] - 1 / filled[a]))
            + np.log(n_samples)
        )
    return (
        log_prior
        + log_likelihood
        + np.log(2 * np.pi) * (m + rank) / 2
        - hessian / 2
        - rank * np.log(n_samples) / 2
    )


@_fill_doc(
    alpha="0.0",
    max_iter=200,
    max_iter_meaning=(
        "Maximum number of epochs of the trained solvers; with ``solver='lbfgs'``\n"
        "        an epoch is up to 20 L-BFGS iterations on the covariance factor.\n"
        "        Unused by ``solver='covariance'``, which solves in closed form."
    ),
    tol="1e-12",
    tol_meaning=(
        "For ``solver='lbfgs'``, training stops after two epochs in a row whose\n"
        "        loss improved by less than ``tol`` relative, or when no gradient\n"
        "        entry exceeds ``tol`` times the mean feature variance (L-BFGS is\n"
        "        deterministic, so ``n_iter_no_change`` does not apply). For\n"
        "        ``solver='minibatch'``, the smallest decrease of the monitored loss\n"
        "        that counts as an improvement. Unused by ``solver='covariance'``."
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
    ``get_covariance`` and ``get_precision`` match PCA's. Sparse input (CSR, CSC)
    is never densified whole.

    Parameters
    ----------
    n_components : int, float, "mle" or None, default=None
        Width of the code, as PCA reads it: None keeps ``min(n_samples,
        n_features)``; an int at most that many (with ``align=False`` more are
        allowed, an over-complete network, with a warning); a float in (0, 1) the
        fewest components whose explained variance ratio exceeds it; "mle"
        Minka's maximum-likelihood choice (needs ``n_samples >= n_features``).
        The float and "mle" forms are resolved by the first fit; ``partial_fit``
        keeps the width it found.

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
        (dense input only).

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

    n_samples_seen_ : int
        Number of rows seen by ``fit`` or by all ``partial_fit`` calls.

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

    References
    ----------
    P. Baldi and K. Hornik, "Neural networks and principal component analysis:
    learning from examples without local minima", Neural Networks 2 (1), 1989.

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
        **_BaseAutoencoder._parameter_rules,
        "n_components": [
            _NONE,
            _Interval(numbers.Integral, 1, None),
            _Interval(numbers.Real, 0, 1, closed="neither"),
            _Options(("mle",)),
        ],
        "solver": [_Options(("covariance", "lbfgs", "minibatch"))],
        "align": [_BOOLEAN],
        "whiten": [_BOOLEAN],
        "tied_weights": [_BOOLEAN],
    }

    _fitted_state = {
        **_BaseAutoencoder._fitted_state,
        "mean_": ("n_features_in_",),
        "scatter_": ("n_features_in_", "n_features_in_"),
        "n_samples_seen_": [_Interval(numbers.Integral, 2, None)],
        "components_": ("n_components_", "n_features_in_"),
        "explained_variance_": ("n_components_",),
        "explained_variance_ratio_": ("n_components_",),
        "singular_values_": ("n_components_",),
        "noise_variance_": [_Interval(numbers.Real, None, None)],
    }
    # a fit on fewer rows than features keeps no scatter matrix
    _fitted_none = ("scatter_",)
    _aligned = (
        "components_",
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
        "noise_variance_",
    )

    # explained_variance_ uses ddof=1
    _min_samples = 2

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
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-12,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
    ):
        super().__init__(
            n_components,
            optimizer=optimizer,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
        )
        self.solver = solver
        self.align = align
        self.whiten = whiten
        self.tied_weights = tied_weights

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
        if self.solver == "covariance":
            return params
        for key in ("optimizer__fused", "optimizer__weight_decay", "optimizer__param_groups"):
            params.pop(key, None)
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

    def _check_combination(self, X):
        """Raise ValueError for settings that contradict each other or ``X``."""
        if self.whiten and not self.align:
            raise ValueError("whiten=True needs align=True: whitening uses the aligned variances.")
        if self.solver != "minibatch" and (self.early_stopping or self.alpha > 0):
            raise ValueError(
                "early_stopping and alpha > 0 apply to solver='minibatch' only; "
                f"got early_stopping={self.early_stopping}, alpha={self.alpha} with "
                f"solver={self.solver!r}."
            )

    def _resolve_n_components(self, moments, n_features):
        """The code width that ``n_components`` asks for, given the data."""
        limit = min(moments.n, n_features)
        k = self.n_components
        if k is None:
            return limit
        if k == "mle":
            if moments.n < n_features:
                raise ValueError(
                    "n_components='mle' needs n_samples >= n_features; got "
                    f"n_samples={moments.n}, n_features={n_features}."
                )
            variances = moments.eigenvalues() / (moments.n - 1)
            evidence = [_minka_log_evidence(variances, r, moments.n) for r in range(1, n_features)]
            return int(np.argmax(evidence)) + 1 if evidence else 1
        if isinstance(k, numbers.Integral):
            if k > limit and (self.align or self.solver == "covariance"):
                raise ValueError(
                    f"n_components={k} must be between 1 and min(n_samples, n_features)="
                    f"{limit}: PCA's alignment and the closed form have no more "
                    "components. Use fewer, or align=False with a trained solver ('lbfgs' "
                    "or 'minibatch') for an over-complete network."
                )
            if k >= n_features:
                warnings.warn(
                    f"n_components={k} >= n_features={n_features}: a complete or "
                    "over-complete linear autoencoder can learn the identity map, so its "
                    "codes compress nothing.",
                    UserWarning,
                    stacklevel=5,
                )
            return int(k)
        # a float: the fewest components whose cumulative ratio exceeds it, as PCA
        ratios = moments.eigenvalues()
        ratios = np.cumsum(ratios / ratios.sum()) if ratios.sum() > 0 else np.ones(1)
        return int(min(np.searchsorted(ratios, k, side="right") + 1, limit))

    def _fit_validated(self, X, *, resume, incremental):
        self._check_combination(X)
        n_features = X.shape[1]
        moments = _Moments.of(X, keep_scatter=incremental or self.solver == "minibatch")
        if incremental and resume:
            if self.scatter_ is None:
                raise ValueError(
                    "partial_fit cannot continue a fit on fewer rows than features, "
                    "which keeps no scatter matrix; start with partial_fit instead."
                )
            # the running mean in float64: the network's buffer where it is float64
            # (the closed form and L-BFGS), else mean_ (the input's dtype)
            buffer = self.net_.module_.mean
            precise = buffer.dtype == torch.float64
            seen_mean = (buffer.detach().cpu().numpy() if precise else self.mean_).astype(
                np.float64
            )
            seen = _Moments(self.n_samples_seen_, seen_mean, self.scatter_)
            moments = moments.merged_after(seen)
        if incremental and resume and not isinstance(self.n_components, numbers.Integral):
            k = self.n_components_  # a partial_fit stream keeps the width its first chunk found
        else:
            k = self._resolve_n_components(moments, n_features)
        net = self._prepare_net(n_features, k, resume=resume)
        module = net.module_
        with torch.no_grad():
            if self.solver == "covariance":
                # the network's global optimum, in closed form: the top-k
                # eigenvectors of the scatter as its (tied or mirrored) weights
                axes = torch.as_tensor(moments.axes(k).T.copy())
                module.encoder.weight.copy_(axes)
                if module.decoder is not None:
                    module.decoder.weight.copy_(axes.T)
            # L-BFGS trains on already centered factor rows, so with a zero mean
            module.mean.copy_(torch.as_tensor(moments.mean if self.solver == "minibatch" else 0))
        if self.solver == "covariance":
            _record_epoch(net, moments, k)
        elif self.solver == "lbfgs":
            # a fresh L-BFGS (history and tolerance) for this matrix
            # the factor is scaled so the loss starts at 1 (see _Moments.factor)
            net.optimizer__tolerance_grad = self.tol / n_features
            net.initialize_optimizer()
            self._train_net(net, moments.factor(), epochs=self.max_iter, warn=True)
            # the next solve starts afresh, so the L-BFGS history (most of the
            # memory of a fitted estimator) is not kept
            net.initialize_optimizer()
        else:
            epochs = 1 if incremental else self.max_iter
            self._train_net(net, X, epochs=epochs, warn=not incremental)
        with torch.no_grad():
            module.mean.copy_(torch.as_tensor(moments.mean))
        self._set_net(net)
        self.n_components_ = k
        self.n_samples_seen_ = moments.n
        self.mean_ = moments.mean.astype(X.dtype)
        self.scatter_ = moments.scatter
        if self.align:
            self._align(moments, X.dtype)
        else:
            for name in self._aligned:
                self.__dict__.pop(name, None)

    def _weights(self):
        """(encoder weight, decoder weight) as arrays of shapes (k, d) and (d, k)."""
        module = self.net_.module_
        encoder = module.encoder.weight
        decoder = encoder.T if module.decoder is None else module.decoder.weight
        return encoder.detach().cpu().numpy(), decoder.detach().cpu().numpy()

    def _align(self, moments, dtype):
        """Rotate the learned subspace to PCA's sorted, sign-fixed components.

        ``moments`` describe all rows seen; the fitted arrays take ``dtype``, that
        of the input.
        """
        n_samples, n_features = moments.n, moments.mean.shape[0]
        basis, _ = np.linalg.qr(self._weights()[1].astype(np.float64))
        eigenvalues, rotation = np.linalg.eigh(moments.project(basis))
        order = np.argsort(eigenvalues)[::-1]
        components = (basis @ rotation[:, order]).T
        largest = np.argmax(np.abs(components), axis=1)
        components *= np.sign(components[np.arange(len(components)), largest])[:, None]
        eigenvalues = np.clip(eigenvalues[order], 0, None)

        explained_variance = eigenvalues / (n_samples - 1)
        total_variance = moments.total() / (n_samples - 1)
        self.components_ = components.astype(dtype)
        self.explained_variance_ = explained_variance.astype(dtype)
        ratio = (
            explained_variance / total_variance if total_variance > 0 else explained_variance * 0
        )
        self.explained_variance_ratio_ = ratio.astype(dtype)
        self.singular_values_ = np.sqrt(eigenvalues).astype(dtype)
        # the mean variance of the discarded directions, from the spectrum (a
        # difference of totals would cancel to noise where it is small)
        n_kept = min(n_samples, n_features)
        discarded = moments.eigenvalues()[self.n_components_ : n_kept]
        self.noise_variance_ = float(discarded.mean() / (n_samples - 1)) if len(discarded) else 0.0
        # the network keeps the aligned weights, so warm starts continue from them
        module = self.net_.module_
        with torch.no_grad():
            weight = torch.as_tensor(components)
            module.encoder.weight.copy_(weight)
            if module.decoder is not None:
                module.decoder.weight.copy_(weight.T)

    def _whitening_scale(self):
        # a component of zero variance keeps finite codes, as in PCA
        scale = np.sqrt(self.explained_variance_)
        return np.maximum(scale, np.finfo(scale.dtype).eps)

    def _encode(self, X):
        encoder = self.components_ if self.align else self._weights()[0]
        encoder = encoder.astype(X.dtype, copy=False)
        if sp.issparse(X):
            # (X - mean) @ W.T without densifying X
            Z = np.asarray(X @ encoder.T) - self.mean_.astype(X.dtype) @ encoder.T
        else:
            Z = (X - self.mean_) @ encoder.T
        if self.whiten:
            Z /= self._whitening_scale()
        return Z.astype(X.dtype, copy=False)

    def _decode(self, Z):
        decoder = self.components_.T if self.align else self._weights()[1]
        if self.whiten:
            Z = Z * self._whitening_scale()
        X = Z @ decoder.T.astype(Z.dtype, copy=False) + self.mean_
        return X.astype(Z.dtype, copy=False)

    # -- the probabilistic PCA model ------------------------------------------

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
        check_is_fitted(self, "components_")
        components, variances = self.components_, self.explained_variance_
        if self.whiten:
            components = components * np.sqrt(variances)[:, None]
        excess = np.where(variances > self.noise_variance_, variances - self.noise_variance_, 0.0)
        covariance = (components.T * excess) @ components
        covariance.flat[:: len(covariance) + 1] += self.noise_variance_
        return covariance

    def get_precision(self):
        """Inverse of :meth:`get_covariance`, by the matrix inversion lemma.

        Returns
        -------
        precision : ndarray of shape (n_features, n_features)
            Estimated precision of the data.
        """
        check_is_fitted(self, "components_")
        n_features = self.components_.shape[1]
        if self.noise_variance_ == 0:
            return np.linalg.inv(self.get_covariance())
        if self.n_components_ == 0:
            return np.eye(n_features) / self.noise_variance_
        components, variances = self.components_, self.explained_variance_
        if self.whiten:
            components = components * np.sqrt(variances)[:, None]
        excess = np.where(variances > self.noise_variance_, variances - self.noise_variance_, 0.0)
        noise = self.noise_variance_
        # (C.T D C + s I)^-1 = (I - C.T (s D^-1 + C C.T)^-1 C) / s
        with np.errstate(divide="ignore"):
            inner = components @ components.T + np.diag(noise / excess)
        precision = -components.T @ np.linalg.inv(inner) @ components
        precision.flat[:: n_features + 1] += 1.0
        return precision / noise

    def _score_samples(self, X):
        # the probabilistic PCA log-likelihood (Tipping and Bishop, 1999), as PCA's
        if not self.align:
            return super()._score_samples(X)
        precision = self.get_precision()
        _, log_det = np.linalg.slogdet(precision)
        constant = 0.5 * (X.shape[1] * np.log(2 * np.pi) - log_det)
        scores = np.empty(X.shape[0])
        for rows in _chunks(X.shape[0]):
            chunk = X[rows].toarray() if sp.issparse(X) else X[rows]
            centered = chunk - self.mean_
            scores[rows] = -0.5 * np.sum(centered * (centered @ precision), axis=1) - constant
        return scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the covariance and L-BFGS solvers work from the scatter matrix
        tags.input_tags.sparse = self.solver != "minibatch"
        return tags


def _record_epoch(net, moments, k):
    """Record a closed-form solve as one epoch, with the loss at the optimum: the
    variance left outside the top ``k`` directions, per feature and sample."""
    residual = moments.total() - moments.eigenvalues()[:k].sum()
    net.history.new_epoch()
    net.history.record("epoch", len(net.history))
    net.history.record("train_loss", max(residual, 0.0) / (moments.n * moments.mean.shape[0]))
