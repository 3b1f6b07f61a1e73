"""The mathematics of PCA in NumPy, apart from any network: running moments of the
rows (count, mean, scatter), their spectrum, Minka's choice of the width, the
rotation of a learned subspace to PCA's ordered components, and the probabilistic
PCA model (covariance, precision, log-likelihood)."""

from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from ._chunks import _chunks, _dense


def _scatter(X, mean, n, weights):
    """``(X - mean).T @ diag(weights) @ (X - mean)`` (no weights: all 1) in float64,
    one chunk of rows at a time; for sparse ``X`` (float64) without densifying it,
    as ``X.T @ diag(weights) @ X - n * outer(mean, mean)``, ``n`` the total weight,
    unless that difference lost more than 4 of its digits in some feature (a mean
    far from 0 against its spread: an offset of 1e8 gave negative variances), where
    the chunks are densified and centered as dense rows are."""
    if sp.issparse(X):
        weighted = X if weights is None else X.multiply(weights[:, None]).tocsr()
        products = (X.T @ weighted).toarray()
        scatter = products - n * np.outer(mean, mean)
        if not (np.diag(scatter) < 1e-4 * np.diag(products)).any():
            return scatter
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for rows in _chunks(*X.shape):
        Xc = _dense(X[rows]) - mean
        scatter += (Xc if weights is None else Xc * weights[rows, None]).T @ Xc
        del Xc  # before the next chunk is allocated
    return scatter


def _weighted_mean(X, weights):
    """The mean of the rows of ``X`` (dense or sparse) in float64, each weighted."""
    if weights is None:
        return np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
    if sp.issparse(X):
        return np.asarray(X.T @ weights).ravel() / weights.sum()
    total = np.zeros(X.shape[1])
    for rows in _chunks(*X.shape):
        total += weights[rows] @ X[rows]
    return total / weights.sum()


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

    Weighted rows count as their weight (frequency weights: a row of weight 2 is
    the row twice), so the count ``n`` is then the weights' total, a float. The
    scatter is held as the ``n_features`` squared matrix, or, for a fit on fewer
    rows than features, as the centered rows themselves (each scaled by the square
    root of its weight, and a sparse matrix densified, which is smaller than the
    scatter), whose span holds everything the fit needs (their Gram matrix is
    ``n_samples`` squared).
    """

    def __init__(self, n, mean, scatter=None, centered=None):
        self.n, self.mean, self.scatter, self.centered = n, mean, scatter, centered

    @classmethod
    def of(cls, X, weights=None, *, keep_scatter):
        rows, d = X.shape
        if sp.issparse(X):
            # scipy sums a float32 matrix in float32 even when asked for float64
            X = X.astype(np.float64)
        if weights is None:
            n = rows
        else:
            # a total past float64's range is inf, which the linear autoencoder
            # refuses by name; its mean and scatter would overflow too, so they
            # are not computed (NaN, which arithmetic passes on silently)
            with np.errstate(over="ignore"):
                n = float(weights.sum())
            if not np.isfinite(n):
                return cls(n, np.full(d, np.nan), scatter=np.full((d, d), np.nan))
        mean = _weighted_mean(X, weights)
        if not keep_scatter and rows < d:
            centered = _dense(X).astype(np.float64) - mean
            if weights is not None:
                centered *= np.sqrt(weights)[:, None]
            return cls(n, mean, centered=centered)
        return cls(n, mean, scatter=_scatter(X, mean, n, weights))

    def count(self):
        """The number of samples as a whole number: the weights' total rounded down,
        or to the nearest integer where it is within rounding of one (fifty weights
        of 0.1 add up to 4.999999999999999)."""
        nearest = round(self.n)
        return int(nearest if abs(self.n - nearest) <= 1e-9 * max(self.n, 1) else self.n)

    def max_components(self):
        """The most components the rows have: no more than there are samples,
        features, or rows kept."""
        limit = min(self.count(), self.mean.shape[0])
        return limit if self.centered is None else min(limit, self.centered.shape[0])

    def spectrum(self):
        """The scatter's eigenvalues, largest first, as many as ``min(count(),
        n_features)``: those past the rows kept (a fit on fewer rows than features)
        are zero."""
        values = self.eigenvalues()
        width = min(self.count(), self.mean.shape[0])
        return np.pad(values[:width], (0, max(0, width - len(values))))

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


# cumulative ratios this close to n_components count as equal to it: PCA's SVD and
# skae's eigendecomposition round differently, and a ratio read off either's
# explained_variance_ratio_ must select the same width
_RATIO_TIE = 1e-10


def _width_for_ratio(moments, ratio, limit):
    """The fewest components whose cumulative explained-variance ratio exceeds
    ``ratio``, as PCA chooses them (``searchsorted(..., side="right") + 1``: a ratio
    equal to a cumulative ratio takes one component more)."""
    variances = moments.eigenvalues()[:limit] / (moments.n - 1)
    total = moments.total() / (moments.n - 1)
    if total <= 0:
        return 1
    cumulative = np.cumsum(variances / total) - _RATIO_TIE
    return int(min(np.searchsorted(cumulative, ratio, side="right") + 1, limit))


def _mle_width(moments):
    """Minka's maximum-likelihood width for the rows summarized by ``moments``."""
    n_features = moments.mean.shape[0]
    # the whole spectrum (n_samples >= n_features): a fit on fewer rows than
    # features keeps only theirs, and the rest are zero
    variances = moments.spectrum() / (moments.n - 1)
    # an eigendecomposition of the scatter leaves the directions of no variance at
    # its round-off, some eps times the largest (1e-13 at ordinary scales, where
    # PCA's SVD leaves 1e-30), which Minka's floor of 1e-15 took for variance: on
    # data of rank 2 the evidence went on rising across them, to widths of 3 to 5
    roundoff = variances.max(initial=0) * n_features * np.finfo(np.float64).eps
    variances = np.where(variances > roundoff, variances, 0.0)
    evidence = [_minka_log_evidence(variances, r, moments.n) for r in range(1, n_features)]
    return int(np.argmax(evidence)) + 1 if evidence else 1


def _pca_rotation(basis, moments):
    """PCA's components inside the span of the orthonormal columns ``basis``: the
    rotation that diagonalizes the scatter there, sorted by decreasing variance,
    each row with its largest-magnitude entry positive; and their eigenvalues."""
    eigenvalues, rotation = np.linalg.eigh(moments.project(basis))
    order = np.argsort(eigenvalues)[::-1]
    components = (basis @ rotation[:, order]).T
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(len(components)), largest])[:, None]
    return components, np.clip(eigenvalues[order], 0, None)


def _variance_attributes(moments, eigenvalues):
    """``explained_variance_``, ``explained_variance_ratio_``, ``singular_values_``
    and ``noise_variance_`` of components with scatter ``eigenvalues``, as PCA
    defines them (ddof=1)."""
    n_samples, n_features = moments.n, moments.mean.shape[0]
    explained = eigenvalues / (n_samples - 1)
    total = moments.total() / (n_samples - 1)
    ratio = explained / total if total > 0 else explained * 0
    # the mean variance of the discarded directions up to min(n_samples,
    # n_features) (samples counted by weight), from the spectrum: a difference of
    # totals would cancel to noise where it is small. Eigenvalues past those of
    # the rows kept (a fit on fewer rows than features) are zero.
    discarded = min(moments.count(), n_features) - len(eigenvalues)
    rest = moments.spectrum()[len(eigenvalues) :].sum()
    # what the components leave is that where they are PCA's; a trained solver's
    # that has not converged captures less (Ky Fan), and its noise is the rest of
    # the total: from PCA's spectrum, the noise of a 5-epoch minibatch fit of iris
    # was 0.051 where its components left 0.99, and its score -19.9 for PCA's -2.7
    left = moments.total() - eigenvalues.sum()
    if left - rest > 1e3 * np.finfo(np.float64).eps * moments.total():
        rest = left
    noise = float(rest / discarded / (n_samples - 1)) if discarded > 0 else 0.0
    return explained, ratio, np.sqrt(eigenvalues), noise


def _scaled_components(components, variances, whiten):
    """The components, scaled by the square roots of their variances if ``whiten``
    (as PCA's covariance model is written)."""
    return components * np.sqrt(variances)[:, None] if whiten else components


def _covariance(components, variances, noise, whiten):
    """The data covariance of the probabilistic PCA model:
    ``C.T @ diag(max(variances - noise, 0)) @ C + noise * I``."""
    components = _scaled_components(components, variances, whiten)
    excess = np.where(variances > noise, variances - noise, 0.0)
    covariance = (components.T * excess) @ components
    covariance.flat[:: len(covariance) + 1] += noise
    return covariance


def _precision(components, variances, noise, whiten):
    """The inverse of ``_covariance``, by the matrix inversion lemma."""
    n_features = components.shape[1]
    # a subnormal noise (8e-310, the round-off an EM on data of no variance
    # leaves; in float32 below 1e-38) is none: its inverse overflows in the
    # components' dtype, and complete rows scored -inf
    if noise < np.finfo(np.result_type(components.dtype, np.float32)).tiny:
        # with no noise the covariance has the components' rank: singular unless
        # there is one per feature; and where the data's rank is short of them (n
        # samples span n - 1 directions), the last variances are round-off (some
        # 1e-31) whose inverse is round-off too, not an error: the product with
        # the covariance then is no identity
        # in float64: a float32 inverse's product with the covariance is off the
        # identity by some 1e-6 at a condition number of 20 already, and a healthy
        # float32 model with a component per feature (iris) was called degenerate
        covariance = _covariance(
            *(np.asarray(a, np.float64) for a in (components, variances)), noise, whiten
        )
        try:
            if len(components) < n_features:
                raise np.linalg.LinAlgError
            precision = np.linalg.inv(covariance)
            if not np.allclose(covariance @ precision, np.eye(n_features), atol=1e-6):
                raise np.linalg.LinAlgError
            return precision.astype(components.dtype, copy=False)
        except np.linalg.LinAlgError:
            raise ValueError(
                "The probabilistic PCA model is degenerate: the training data has no "
                "variance in some direction and none is left to the noise, so its "
                "covariance has no inverse and its likelihood (score, score_samples, "
                "get_precision) is undefined. PCA raises here too."
            ) from None
    if len(components) == 0:
        return np.eye(n_features) / noise
    components = _scaled_components(components, variances, whiten)
    excess = np.where(variances > noise, variances - noise, 0.0)
    # (C.T D C + s I)^-1 = (I - C.T (s D^-1 + C C.T)^-1 C) / s
    with np.errstate(divide="ignore"):
        inner = components @ components.T + np.diag(noise / excess)
    precision = -components.T @ np.linalg.inv(inner) @ components
    precision.flat[:: n_features + 1] += 1.0
    return precision / noise


def _log_likelihood(X, mean, precision):
    """Per-row Gaussian log-likelihood of ``X`` (dense or sparse, a chunk at a
    time) under ``N(mean, inv(precision))`` (Tipping and Bishop, 1999), in
    ``X``'s dtype: ``-inf`` for a row too far from the mean for that dtype.

    The distances are computed in float64 whatever ``X``'s dtype: a float32 row
    some 1e19 from the mean has a squared distance past float32's range, which
    overflowed (and turned into NaN where terms of both signs did) in the middle
    of the sum, though the sum itself is the only value that may not fit.
    """
    _, log_det = np.linalg.slogdet(precision)
    constant = 0.5 * (X.shape[1] * np.log(2 * np.pi) - log_det)
    scores = np.empty(X.shape[0])
    for rows in _chunks(*X.shape):
        centered = np.subtract(_dense(X[rows]), mean, dtype=np.float64)
        # a float64 row past about 1e154 still overflows here, possibly as inf -
        # inf; the precision is positive definite and the rows are finite, so
        # such a distance is infinite, not undefined
        with np.errstate(over="ignore", invalid="ignore"):
            distances = np.sum(centered * (centered @ precision), axis=1)
        distances[np.isnan(distances)] = np.inf
        scores[rows] = -0.5 * distances - constant
        del centered  # before the next chunk is allocated
    # a log-likelihood below the dtype's range is -inf in it, which is not an error
    with np.errstate(over="ignore"):
        return scores.astype(X.dtype, copy=False)


# -- PCA with missing values: probabilistic PCA fitted by EM ---------------------
#
# The EM treats the missing entries as the latent variables (Little and Rubin's
# EM for a Gaussian, with probabilistic PCA's closed-form M-step; Tipping and
# Bishop, 1999, section 4; Ilin and Raiko, 2010, section 3). The E-step completes
# each row: the missing entries' conditional mean and covariance given the
# observed ones under the current model, which give the expected count, mean and
# scatter of the completed rows (their "expected moments"). The M-step is the
# closed form on those moments: the top eigenvectors of the expected scatter. At
# the EM's fixed point, the closed form on the expected moments returns the model
# they were computed under, so the estimator's own closed form (``_fit_moments``)
# on the last E-step's moments is the EM solution, and every PCA attribute follows
# from the same code as for complete data. Both E-step quantities are written in
# the latent form of the model, ``x = mean + factor @ z + noise``, so that a row
# costs a k-by-k solve, not a solve in its observed entries; a row with fewer
# observed entries than k is solved in those, the smaller and, where the model
# has no noise, the only well-conditioned of the two (``_Posterior``).


def _rows_with_missing(chunk):
    """Mask of the rows of ``chunk`` (dense or sparse) that hold a NaN."""
    if not sp.issparse(chunk):
        return np.isnan(chunk).any(axis=1)
    rows = np.repeat(np.arange(chunk.shape[0]), np.diff(chunk.indptr))
    return np.bincount(rows[np.isnan(chunk.data)], minlength=chunk.shape[0]) > 0


class _Model:
    """Probabilistic PCA ``N(mean, factor @ factor.T + noise * I)``, with ``factor``
    of shape (n_features, k). ``noise`` is floored at a tiny share of the mean
    variance, so that the latent solves stay defined where the model has no noise
    (as many components as features): the missing entries are then predicted as
    the limit of vanishing noise, by least squares."""

    def __init__(self, mean, factor, noise):
        # a model without noise gets 1e-12 of the mean variance: the limit of
        # vanishing noise; one with noise keeps its own down to 1e-15 of it (a floor
        # of 1e-12 replaced a noise of 1e-10 and moved the scores of rows with holes)
        share = 1e-12 if noise == 0 else 1e-15
        floor = share * (np.sum(factor**2) + noise * len(mean)) / len(mean)
        self.mean, self.factor = mean, factor
        self.noise = max(noise, floor, np.finfo(np.float64).tiny)

    @classmethod
    def of(cls, moments, k):
        """The maximum-likelihood model of ``moments`` with ``k`` components (the
        spectrum divided by the count, not by the count minus one): the M-step. Its
        noise averages the discarded eigenvalues up to ``min(n_samples,
        n_features)``, as ``noise_variance_`` does."""
        n = moments.n
        values = moments.eigenvalues() / n
        limit = min(moments.count(), len(moments.mean))
        noise = float(values[k:limit].sum() / (limit - k)) if limit > k else 0.0
        scale = np.sqrt(np.clip(values[:k] - noise, 0, None))
        return cls(moments.mean, moments.axes(k) * scale, noise)

    def posterior(self, rows):
        """The ``_Posterior`` of dense ``rows`` (NaN where missing) under the model."""
        return _Posterior(self, rows)

    def completed(self, rows):
        """``rows`` with each missing entry replaced by its conditional mean given
        the row's observed entries."""
        posterior = self.posterior(rows)
        return np.where(posterior.observed, rows, self.mean + posterior.latent @ self.factor.T)


class _Posterior:
    """What the observed entries of each of a model's ``rows`` say, per row: the
    ``observed`` mask, the ``latent`` posterior mean ``z`` of the code, the
    ``log_det`` of the observed entries' covariance ``C_o = F_o F_o.T + noise I``
    and their Mahalanobis ``distance`` ``x_o.T C_o^-1 x_o`` (``x_o`` centered).

    A row is solved in the smaller of its two spaces. With at least ``k``
    observed entries, in the latent one: ``M = F_o.T F_o + noise I`` (k by k),
    ``z = M^-1 F_o.T x_o``, the code's posterior covariance ``noise M^-1``, and
    the distance as ``(|x_o - F_o z|^2 + noise |z|^2) / noise``, a sum of terms
    that are never negative (written ``x_o.T x_o - x_o.T F_o z`` it lost its
    digits to cancellation where the noise is tiny). With fewer, in its observed
    entries: ``C_o`` itself (padded to a common width with an identity), ``z =
    F_o.T C_o^-1 x_o``, the covariance ``I - F_o.T C_o^-1 F_o``. Where the model
    has (nearly) no noise, as with as many components as features, ``M`` of such
    a row is singular but for the noise, and its solve lost about 12 digits: the
    E-step's fixed point and its log-likelihood jittered at 1e-6, and the EM
    stopped on that jitter, at a place that followed the rows' order."""

    def __init__(self, model, rows):
        self.model = model
        observed = ~np.isnan(rows)
        self.observed = observed
        self.centered = np.where(observed, rows - model.mean, 0.0)
        n, k = len(rows), model.factor.shape[1]
        n_observed = observed.sum(axis=1)
        self.latent = np.zeros((n, k))
        self.log_det = np.zeros(n)
        self.distance = np.zeros(n)
        self.wide = n_observed >= k
        if self.wide.any():
            self._latent_space(self.wide)
        if not self.wide.all():
            self._observed_space(~self.wide, int(n_observed[~self.wide].max()))

    def _latent_space(self, rows):
        model, k = self.model, self.model.factor.shape[1]
        observed, centered = self.observed[rows], self.centered[rows]
        seen = observed[:, :, None] * model.factor  # the factor's observed rows
        precision = np.swapaxes(seen, 1, 2) @ seen + model.noise * np.eye(k)
        self._cholesky = np.linalg.cholesky(precision) if k else precision
        projected = centered @ model.factor
        latent = np.linalg.solve(precision, projected[:, :, None])[:, :, 0] if k else projected
        log_det = (observed.sum(axis=1) - k) * np.log(model.noise)
        if k:
            log_det += 2 * np.log(np.diagonal(self._cholesky, axis1=1, axis2=2)).sum(axis=1)
        # elementwise, not a batched matmul, whose rounding follows the arrays'
        # alignment in memory: a loaded model scored 1 ulp off the saved one
        fitted = (seen * latent[:, None, :]).sum(axis=2)
        residual = np.sum((centered - fitted) ** 2, axis=1)
        residual += model.noise * np.sum(latent**2, axis=1)
        self.latent[rows], self.log_det[rows] = latent, log_det
        self.distance[rows] = residual / model.noise
        self._seen = seen

    def _observed_space(self, rows, width):
        model = self.model
        observed = self.observed[rows]
        # each row's observed entries first, then padding, ``width`` in all
        order = np.argsort(~observed, axis=1, kind="stable")[:, :width]
        valid = np.take_along_axis(observed, order, axis=1)
        factor = model.factor[order] * valid[:, :, None]  # F_o, padded with 0
        centered = np.take_along_axis(self.centered[rows], order, axis=1)
        covariance = factor @ np.swapaxes(factor, 1, 2)
        covariance[:, np.arange(width), np.arange(width)] += np.where(valid, model.noise, 1.0)
        cholesky = np.linalg.cholesky(covariance)
        solved = np.linalg.solve(covariance, centered[:, :, None])[:, :, 0]
        self.latent[rows] = (factor * solved[:, :, None]).sum(axis=1)
        self.log_det[rows] = 2 * np.log(np.diagonal(cholesky, axis1=1, axis2=2)).sum(axis=1)
        self.distance[rows] = np.sum(centered * solved, axis=1)
        # H = L^-1 F_o: the code's posterior covariance is I - H.T H
        self._whitened = np.linalg.solve(cholesky, factor)

    def log_likelihood(self):
        """Per row, ``log N(x_o; mean_o, C_o)``."""
        n_observed = self.observed.sum(axis=1)
        return -0.5 * (n_observed * np.log(2 * np.pi) + self.log_det + self.distance)

    def missing_scatter(self, weights):
        """``sum_i w_i (F_m Sigma_i F_m.T + noise I_m)``: the missing entries'
        conditional covariances (``F_m`` the factor's rows of a row's missing
        entries, ``Sigma_i`` its code's posterior covariance), weighted by
        ``weights`` and summed over the rows, as a d by d matrix."""
        model = self.model
        factor, noise, k = model.factor, model.noise, model.factor.shape[1]
        missing = ~self.observed
        scatter = np.diag(noise * (weights @ missing))
        if not k:
            return scatter
        wide = self.wide
        if wide.any():
            # noise M^-1 = noise L^-T L^-1: F_m noise M^-1 F_m.T = G G.T for G =
            # sqrt(noise) F_m L^-T
            identity = np.broadcast_to(np.eye(k), self._cholesky.shape)
            inverse = np.linalg.solve(self._cholesky, identity)
            spread = (factor - self._seen) @ np.swapaxes(inverse, 1, 2)
            spread *= np.sqrt(noise * weights[wide])[:, None, None]
            flat = np.swapaxes(spread, 0, 1).reshape(len(factor), -1)
            scatter += flat @ flat.T
        if not wide.all():
            # F_m (I - H.T H) F_m.T, summed: F F.T on the pairs of entries missing
            # together, less Q Q.T for Q = F_m H.T
            w, gone = weights[~wide], missing[~wide]
            scatter += (factor @ factor.T) * ((gone * w[:, None]).T @ gone)
            spread = (gone[:, :, None] * factor) @ np.swapaxes(self._whitened, 1, 2)
            spread *= np.sqrt(w)[:, None, None]
            flat = np.swapaxes(spread, 0, 1).reshape(len(factor), -1)
            scatter -= flat @ flat.T
        return scatter


def _pack(moments, *extra):
    """``moments`` and scalars as one row ``[n, mean, scatter, *extra]`` (a block's
    summary that Dask can move and merge)."""
    return np.concatenate([[moments.n], moments.mean, moments.scatter.ravel(), extra])[None, :]


def _unpack(row, n_features):
    """``(moments, extra)`` of a row of ``_pack``."""
    row = np.asarray(row).ravel()
    end = 1 + n_features + n_features**2
    scatter = row[1 + n_features : end].reshape(n_features, n_features)
    return _Moments(row[0], row[1 : 1 + n_features], scatter=scatter), row[end:]


def _merge_packed(first, second, n_features):
    """Two rows of ``_pack`` merged: the moments by Chan et al.'s update, the
    scalars summed; a summary of no rows (or of zero weight) adds nothing."""
    (a, a_extra), (b, b_extra) = _unpack(first, n_features), _unpack(second, n_features)
    if a.n == 0:
        return second
    if b.n == 0:
        return first
    return _pack(b.merged_after(a), *(a_extra + b_extra))


def _observed_summary(block, weights=None):
    """Per-feature summary of the observed entries of ``block`` (dense or sparse,
    NaN where missing), as one row: their total weight, their weighted mean and
    their weighted squared deviations from it, n_features values each."""
    rows = _dense(block).astype(np.float64, copy=False)
    observed = ~np.isnan(rows)
    w = np.ones(len(rows)) if weights is None else weights
    counts = w @ observed
    values = np.where(observed, rows, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, (w @ values) / counts, 0.0)
    deviations = w @ np.where(observed, (values - mean) ** 2, 0.0)
    # each feature's summary merges on its own: count, mean, squared deviations
    return np.concatenate([counts, mean, deviations])[None, :]


def _merge_observed(first, second, n_features=None):
    """Two rows of ``_observed_summary`` merged, feature by feature (Chan et al.)."""
    (n1, m1, s1), (n2, m2, s2) = (
        np.split(np.asarray(first).ravel(), 3),
        np.split(np.asarray(second).ravel(), 3),
    )
    n = n1 + n2
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, n2 / n, 0.0)
    delta = m2 - m1
    return np.concatenate([n, m1 + delta * share, s1 + s2 + delta**2 * n1 * share])[None, :]


def _expected_summary(block, weights=None, *, model):
    """The E-step on one block of rows (dense or sparse, NaN where missing): the
    expected moments of its rows completed under ``model`` (count, mean, and the
    scatter of the conditional means plus the missing entries' conditional
    covariances), packed by ``_pack`` with the log-likelihood of the observed
    entries and their number (each weighted by its row's weight)."""
    rows = _dense(block).astype(np.float64, copy=False)
    n_rows, d = rows.shape
    w = np.ones(n_rows) if weights is None else weights
    n = n_rows if weights is None else float(w.sum())
    if n == 0:
        return np.zeros((1, 3 + d + d * d))
    posterior = model.posterior(rows)
    completed = np.where(posterior.observed, rows, model.mean + posterior.latent @ model.factor.T)
    mean = (w @ completed) / n
    scatter = _scatter(completed, mean, n, None if weights is None else w)
    scatter += posterior.missing_scatter(w)
    moments = _Moments(n, mean, scatter=scatter)
    log_likelihood = posterior.log_likelihood()
    return _pack(moments, float(w @ log_likelihood), float(w @ posterior.observed.sum(axis=1)))


def _gaussian_log_likelihood(moments, model):
    """Log-likelihood of the rows summarized by ``moments`` (complete, or completed
    before) under ``model``: the part of the EM objective that a ``partial_fit``
    stream's earlier chunks contribute."""
    d = len(model.mean)
    covariance = model.factor @ model.factor.T + model.noise * np.eye(d)
    cholesky = np.linalg.cholesky(covariance)
    offset = moments.mean - model.mean
    spread = moments.scatter + moments.n * np.outer(offset, offset)
    inverse = np.linalg.inv(cholesky)
    trace = np.sum((inverse @ spread) * inverse)
    log_det = 2 * np.log(np.diag(cholesky)).sum()
    return -0.5 * (moments.n * (d * np.log(2 * np.pi) + log_det) + trace)


def _em_moments(reduce, n_features, k, *, start, seen=None, max_iter, tol):
    """EM for probabilistic PCA with ``k`` components on rows with missing entries.

    ``reduce(function, merge)`` applies a block function (block, weights) -> row
    to every block of the rows and merges the rows with ``merge(first, second,
    n_features)`` (here ``_expected_summary`` and ``_merge_packed``);
    ``start`` is the first model; ``seen``, if given, are the moments of earlier
    rows, completed before and kept as they are (a ``partial_fit`` stream), merged
    before each M-step. Iterates until the log-likelihood per observed entry
    (with the earlier rows' complete-data log-likelihood) rises by no more than
    ``tol``, or ``max_iter`` E-steps. Returns the expected moments of the rows
    under the last model, the number of E-steps, and whether it converged.
    """
    model, previous = start, -np.inf
    for iteration in range(1, max_iter + 1):
        moments, (log_likelihood, n_observed) = _unpack(
            reduce(partial(_expected_summary, model=model), _merge_packed), n_features
        )
        merged = moments if seen is None else moments.merged_after(seen)
        if seen is not None:
            log_likelihood += _gaussian_log_likelihood(seen, model)
            n_observed += seen.n * n_features
        objective = log_likelihood / n_observed
        if objective - previous <= tol:
            return moments, iteration, True
        previous = objective
        model = _Model.of(merged, k)
    return moments, max_iter, False


def _reduce_rows(X, weights, function, merge, *, width):
    """``function`` (a block function of ``_em_moments``) on the rows of the
    in-memory ``X`` (dense or sparse), in chunks of rows ``width`` values wide,
    the chunks' results merged by ``merge``: the ``reduce`` of ``_em_moments``
    for arrays in memory."""
    d = X.shape[1]
    total = None
    for rows in _chunks(X.shape[0], width):
        row = function(X[rows], None if weights is None else weights[rows])
        total = row if total is None else merge(total, row, d)
    return total
