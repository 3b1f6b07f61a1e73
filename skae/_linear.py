"""The linear autoencoder, aligned to PCA's ordered components."""

import numbers
import warnings

import numpy as np
import torch

from ._base import _BaseAutoencoder, _chunks
from ._docstrings import _fill_doc
from ._modules import _LinearAutoencoder
from ._net import _ReconstructionLoss
from ._validation import _BOOLEAN, _NONE, _Interval, _Options


def _scatter(X, mean):
    """``(X - mean).T @ (X - mean)`` in float64, one chunk of rows at a time."""
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


@_fill_doc(
    alpha="0.0",
    max_iter=200,
    max_iter_meaning=(
        "Maximum number of epochs. With ``solver='covariance'`` an epoch is up to\n"
        "        20 L-BFGS iterations on the covariance factor."
    ),
    tol="1e-12",
    tol_meaning=(
        "For ``solver='covariance'``, training stops after two epochs in a row\n"
        "        whose loss improved by less than ``tol`` relative, or when no gradient\n"
        "        entry exceeds ``tol`` times the mean feature variance (L-BFGS is\n"
        "        deterministic, so ``n_iter_no_change`` does not apply). The default\n"
        "        matches PCA to about 1e-6 rad; on MNIST, ``tol=1e-9`` is 4x faster\n"
        "        and still within 1e-6 of PCA's test error. For ``solver='minibatch'``,\n"
        "        the smallest decrease of the monitored loss that counts as an\n"
        "        improvement."
    ),
)
class LinearAETransformer(_BaseAutoencoder):
    """Linear autoencoder that learns PCA, with PCA's ordered components.

    An under-complete linear autoencoder trained on squared error converges to the
    principal subspace of the centered data (Baldi and Hornik, 1989), but its
    weights span that subspace in an arbitrary basis, so its codes are PCA's
    rotated. This estimator centers the data (``mean_``), trains the linear
    encoder and decoder (a bias-free :class:`~skae.MLPAutoencoder` in a skorch
    net), then aligns: it orthonormalizes the decoder's columns, diagonalizes the
    training covariance inside that subspace and sorts by variance. The result has
    the attributes, order and sign convention of
    :class:`~sklearn.decomposition.PCA`, and ``transform`` matches PCA's.

    Parameters
    ----------
    n_components : int or None, default=2
        Width of the code; None means ``min(n_samples, n_features)``, as in PCA.
        ``n_components >= n_features`` lets a linear autoencoder learn the identity
        and warns.

    solver : {"covariance", "minibatch"}, default="covariance"
        How the autoencoder is trained. The squared error of a centered linear
        autoencoder depends on the data only through its covariance, so
        "covariance" makes one pass over the data to form the ``n_features`` x
        ``n_features`` scatter matrix, and trains the network full batch with
        L-BFGS on a square-root factor of it: float64 precision, time independent
        of ``n_samples`` after the pass. "minibatch" trains on the rows in
        minibatches with ``optimizer``, the path for data streamed in chunks.

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
        way, but the tied problem is far better conditioned: on MNIST (784 -> 36)
        L-BFGS came within 3e-6 of PCA's residual variance in 6 epochs tied,
        and was still 3e-3 away after 30 epochs untied.

    {training_parameters}

    Attributes
    ----------
    n_components_ : int
        Width of the code.

    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data, removed before encoding.

    components_ : ndarray of shape (n_components_, n_features)
        Principal axes, orthonormal rows sorted by decreasing explained variance,
        each with its largest-magnitude entry positive (PCA's convention).
        Only with ``align=True``.

    explained_variance_ : ndarray of shape (n_components_,)
        Variance of the training data along each component (ddof=1).
        Only with ``align=True``.

    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of the total variance along each component. Only with
        ``align=True``.

    singular_values_ : ndarray of shape (n_components_,)
        Singular values of the centered training data along the components.
        Only with ``align=True``.

    noise_variance_ : float
        Mean variance of the discarded directions, as in PCA. Only with
        ``align=True``.

    n_samples_seen_ : int
        Number of rows seen by ``fit`` or by all ``partial_fit`` calls.

    scatter_ : ndarray of shape (n_features, n_features)
        Scatter matrix ``(X - mean_).T @ (X - mean_)`` of those rows, in float64:
        the running statistic that ``partial_fit`` updates.

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
    """

    _parameter_rules = {
        **_BaseAutoencoder._parameter_rules,
        "n_components": [_NONE, _Interval(numbers.Integral, 1, None)],
        "solver": [_Options(("covariance", "minibatch"))],
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
        n_components=2,
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
            return params
        for key in ("optimizer__fused", "optimizer__weight_decay", "optimizer__param_groups"):
            params.pop(key, None)
        # full batch L-BFGS on the covariance factor, in float64; one epoch is up to
        # 20 L-BFGS iterations. Converged L-BFGS leaves the loss unchanged, which the
        # early-stopping callback sees as a stall. L-BFGS on a fixed matrix is
        # deterministic, so there is no noise to wait out: two epochs in a row
        # without relative progress end it.
        return params | dict(
            module__dtype=torch.float64,
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

    def _check_combination(self, n_samples, n_features):
        """The number of components to fit; ValueError for settings that
        contradict each other or the data."""
        if self.whiten and not self.align:
            raise ValueError("whiten=True needs align=True: whitening uses the aligned variances.")
        if self.solver == "covariance" and (self.early_stopping or self.alpha > 0):
            raise ValueError(
                "early_stopping and alpha > 0 apply to solver='minibatch' only; "
                f"got early_stopping={self.early_stopping}, alpha={self.alpha} with "
                "solver='covariance'."
            )
        k = min(n_samples, n_features) if self.n_components is None else self.n_components
        if self.align and k > n_features:
            raise ValueError(
                f"n_components={k} exceeds n_features={n_features}: an over-complete "
                "linear autoencoder has no PCA alignment. Use align=False or fewer "
                "components."
            )
        if k >= n_features:
            warnings.warn(
                f"n_components={k} >= n_features={n_features}: a complete or "
                "over-complete linear autoencoder can learn the identity map, so its "
                "codes compress nothing.",
                UserWarning,
                stacklevel=5,
            )
        return k

    def _fit_validated(self, X, *, resume, incremental):
        n_chunk, n_features = X.shape
        mean = X.mean(axis=0, dtype=np.float64)
        scatter = _scatter(X, mean)
        n = n_chunk
        if incremental and resume:
            # Chan et al.'s pairwise update of the mean and the scatter matrix
            n_seen, seen_mean = self.n_samples_seen_, self.mean_.astype(np.float64)
            n = n_seen + n_chunk
            delta = mean - seen_mean
            mean = seen_mean + delta * (n_chunk / n)
            scatter = self.scatter_ + scatter + np.outer(delta, delta) * (n_seen * n_chunk / n)
        if resume and self.n_components is None:
            k = self.n_components_
        else:
            k = self._check_combination(n, n_features)
        net = self._prepare_net(n_features, k, resume=resume)
        module = net.module_
        if self.solver == "covariance":
            # the factor's rows are already centered, so the module trains with
            # a zero mean; a fresh L-BFGS (history and tolerance) for this matrix
            factor = _square_root_factor(scatter * (n_features / n))
            net.optimizer__tolerance_grad = self.tol * np.trace(scatter) / (n * n_features)
            net.initialize_optimizer()
            with torch.no_grad():
                module.mean.zero_()
            self._train_net(net, factor, epochs=self.max_iter, warn=True)
            # the next solve starts afresh, so the L-BFGS history (most of the
            # memory of a fitted estimator) is not kept
            net.initialize_optimizer()
        else:
            with torch.no_grad():
                module.mean.copy_(torch.as_tensor(mean))
            epochs = 1 if incremental else self.max_iter
            self._train_net(net, X, epochs=epochs, warn=not incremental)
        with torch.no_grad():
            module.mean.copy_(torch.as_tensor(mean))
        self._set_net(net)
        self.n_components_ = k
        self.n_samples_seen_ = n
        self.mean_ = mean.astype(X.dtype)
        self.scatter_ = scatter
        if self.align:
            self._align(scatter, n, X.dtype)
        else:
            for name in self._aligned:
                self.__dict__.pop(name, None)

    def _weights(self):
        """(encoder weight, decoder weight) as arrays of shapes (k, d) and (d, k)."""
        module = self.net_.module_
        encoder = module.encoder.weight
        decoder = encoder.T if module.decoder is None else module.decoder.weight
        return encoder.detach().cpu().numpy(), decoder.detach().cpu().numpy()

    def _align(self, scatter, n_samples, dtype):
        """Rotate the learned subspace to PCA's sorted, sign-fixed components.

        ``scatter`` and ``n_samples`` describe all rows seen; the fitted arrays
        take ``dtype``, that of the input.
        """
        n_features = scatter.shape[0]
        basis, _ = np.linalg.qr(self._weights()[1].astype(np.float64))
        projected, total = basis.T @ scatter @ basis, np.trace(scatter)
        eigenvalues, rotation = np.linalg.eigh(projected)
        order = np.argsort(eigenvalues)[::-1]
        components = (basis @ rotation[:, order]).T
        largest = np.argmax(np.abs(components), axis=1)
        components *= np.sign(components[np.arange(len(components)), largest])[:, None]
        eigenvalues = np.clip(eigenvalues[order], 0, None)

        explained_variance = eigenvalues / (n_samples - 1)
        total_variance = total / (n_samples - 1)
        self.components_ = components.astype(dtype)
        self.explained_variance_ = explained_variance.astype(dtype)
        ratio = (
            explained_variance / total_variance if total_variance > 0 else explained_variance * 0
        )
        self.explained_variance_ratio_ = ratio.astype(dtype)
        self.singular_values_ = np.sqrt(eigenvalues).astype(dtype)
        n_kept = min(n_samples, n_features)
        self.noise_variance_ = (
            float(total_variance - explained_variance.sum()) / (n_kept - self.n_components_)
            if self.n_components_ < n_kept
            else 0.0
        )
        # the network keeps the aligned weights, so warm starts continue from them
        module = self.net_.module_
        with torch.no_grad():
            weight = torch.as_tensor(components)
            module.encoder.weight.copy_(weight)
            if module.decoder is not None:
                module.decoder.weight.copy_(weight.T)

    def _encode(self, X):
        encoder = self.components_ if self.align else self._weights()[0]
        Z = (X - self.mean_) @ encoder.T.astype(X.dtype, copy=False)
        if self.whiten:
            Z /= np.sqrt(self.explained_variance_)
        return Z.astype(X.dtype, copy=False)

    def _decode(self, Z):
        decoder = self.components_.T if self.align else self._weights()[1]
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        X = Z @ decoder.T.astype(Z.dtype, copy=False) + self.mean_
        return X.astype(Z.dtype, copy=False)
