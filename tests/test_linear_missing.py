"""LinearAETransformer with missing values (NaN): probabilistic PCA fitted by EM."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import skae
from skae import LinearAETransformer


def low_rank(n=80, d=5, k=2, noise=1.0, missing=0.2, seed=0):
    """Rows of a rank-``k`` Gaussian plus noise, and a copy with a share
    ``missing`` of its entries set to NaN."""
    rng = np.random.default_rng(seed)
    scales = np.array([3.0, 2.0, 1.5, 1.0])[:k, None]
    X = rng.normal(size=(n, k)) @ (rng.normal(size=(k, d)) * scales)
    X += noise * rng.normal(size=(n, d)) + 1
    holes = X.copy()
    holes[rng.random(X.shape) < missing] = np.nan
    return X, holes


def reference_em(X, k, n_iter=1000):
    """Maximum-likelihood probabilistic PCA of ``X`` (NaN missing) by the EM whose
    latent variables are the codes alone (Tipping and Bishop's, with each
    feature's M-step on its observed rows, as in Ilin and Raiko), started from
    the SVD of the mean-imputed rows. Returns (mean, factor, noise)."""
    n, d = X.shape
    observed = ~np.isnan(X)
    zeroed = np.where(observed, X, 0.0)
    mean = zeroed.sum(axis=0) / observed.sum(axis=0)
    _, values, axes = np.linalg.svd(np.where(observed, X, mean) - mean, full_matrices=False)
    factor = axes[:k].T * values[:k] / np.sqrt(n)
    noise = np.sum(values[k:] ** 2) / n / (d - k)
    for _ in range(n_iter):
        # E-step: each row's code posterior from its observed entries
        rows_factor = observed[:, :, None] * factor
        inverse = np.linalg.inv(np.swapaxes(rows_factor, 1, 2) @ rows_factor + noise * np.eye(k))
        codes = (inverse @ (np.where(observed, X - mean, 0.0) @ factor)[:, :, None])[:, :, 0]
        second = noise * inverse + codes[:, :, None] * codes[:, None, :]
        # M-step: each feature's (factor row, mean) by least squares on its rows
        augmented = np.zeros((n, k + 1, k + 1))
        augmented[:, :k, :k], augmented[:, :k, k], augmented[:, k, :k] = second, codes, codes
        augmented[:, k, k] = 1
        lhs = np.einsum("nj,nab->jab", observed, augmented)
        rhs = np.einsum("nj,na->ja", zeroed, np.column_stack([codes, np.ones(n)]))
        solved = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
        factor, mean = solved[:, :k], solved[:, k]
        spread = np.einsum("dk,nkl,dl->nd", factor, noise * inverse, factor)
        residual = (X - codes @ factor.T - mean) ** 2 + spread
        noise = np.sum(np.where(observed, residual, 0.0)) / observed.sum()
    return mean, factor, noise


@pytest.mark.parametrize("solver, tol", [("covariance", 1e-6), ("lbfgs", 1e-5)])
def test_fit_reaches_the_fixed_point_of_a_reference_em(solver, tol):
    X, holes = low_rank()
    mean, factor, noise = reference_em(holes, 2)
    lae = LinearAETransformer(2, solver=solver, random_state=0).fit(holes)
    assert subspace_angles(lae.components_.T, factor).max() < tol
    np.testing.assert_allclose(lae.mean_, mean, atol=1e-6)
    n = len(X)
    # PCA's variances divide by n - 1, the maximum-likelihood model's by n
    assert lae.noise_variance_ * (n - 1) / n == pytest.approx(noise, rel=1e-6)
    # the model's variances along the components are the factor's
    variances = np.linalg.svd(factor, compute_uv=False) ** 2 + noise
    np.testing.assert_allclose(lae.explained_variance_ * (n - 1) / n, variances, rtol=1e-6)
    assert lae.n_samples_seen_ == n and isinstance(lae.n_samples_seen_, int)


def _observed_log_likelihood(X, mean, covariance):
    """The Gaussian log-likelihood of the observed entries of the rows of ``X``."""
    total = 0.0
    for row in X:
        seen = ~np.isnan(row)
        lower = np.linalg.cholesky(covariance[np.ix_(seen, seen)])
        z = np.linalg.solve(lower, row[seen] - mean[seen])
        log_det = 2 * np.log(np.diag(lower)).sum()
        total -= 0.5 * (seen.sum() * np.log(2 * np.pi) + log_det + z @ z)
    return total


def _gaussian_em(X, n_iter):
    """A Gaussian of full covariance fitted to ``X`` (NaN missing) by EM: the
    probabilistic PCA of as many components as features."""
    n, d = X.shape
    observed = ~np.isnan(X)
    mean, covariance = np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0))
    for _ in range(n_iter):
        completed, extra = np.where(observed, X, 0.0), np.zeros((d, d))
        for i, seen in enumerate(observed):
            hidden = ~seen
            if hidden.any():
                gain = covariance[np.ix_(hidden, seen)] @ np.linalg.inv(
                    covariance[np.ix_(seen, seen)]
                )
                completed[i, hidden] = mean[hidden] + gain @ (X[i, seen] - mean[seen])
                extra[np.ix_(hidden, hidden)] += (
                    covariance[np.ix_(hidden, hidden)] - gain @ covariance[np.ix_(seen, hidden)]
                )
        mean = completed.mean(axis=0)
        covariance = ((completed - mean).T @ (completed - mean) + extra) / n
    return mean, covariance


def test_as_many_components_as_features_climb_as_far_as_a_gaussian_em():
    # the objective's residual, x.x - x.F z, lost its digits to cancellation at
    # the tiny noise of a model of full width: the EM stopped at its first jitter,
    # 0.19 nats below where 100 steps of a plain Gaussian EM reach
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2)) @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(100, 6))
    X[rng.random(X.shape) < 0.5] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lae = LinearAETransformer().fit(X)
    assert lae.n_components_ == 6
    n = lae.n_samples_seen_
    found = _observed_log_likelihood(X, lae.mean_, lae.get_covariance() * (n - 1) / n)
    assert found > _observed_log_likelihood(X, *_gaussian_em(X, 100)) - 0.01


@pytest.mark.parametrize("low_rank_data", [False, True])
def test_a_model_without_noise_reaches_the_gaussian_em_whatever_the_rows_order(low_rank_data):
    # with as many components as features (or rank-2 rows and 2 components) the
    # model has no noise, and the latent solve of a row with fewer observed
    # entries than components lost 12 digits: the E-step jittered at 1e-6, and
    # the EM stopped on a jitter, 4e-4 from the fixed point at a place that
    # followed the rows' order (the codes of two orders 9e-3 apart)
    rng = np.random.RandomState(0)
    if low_rank_data:
        X, k = rng.randn(40, 2) @ rng.randn(2, 5), 2
    else:
        X, k = rng.randn(40, 5), None
    X[rng.rand(*X.shape) < 0.15] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    order = rng.permutation(len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        lae = LinearAETransformer(k).fit(X)
        shuffled = LinearAETransformer(k).fit(X[order])
    np.testing.assert_allclose(lae.transform(X), shuffled.transform(X), atol=1e-6)
    if not low_rank_data:
        mean, _ = _gaussian_em(X, 300)
        np.testing.assert_allclose(lae.mean_, mean, atol=1e-6)


def test_scores_of_rows_with_holes_keep_a_tiny_noise():
    # a floor of 1e-12 of the mean variance replaced a noise of 1e-10: the scores
    # of rows with holes were 1.7 nats off their Gaussian's
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 10)) * 10
    X += 1e-5 * rng.normal(size=(300, 10))
    lae = LinearAETransformer(3).fit(X)
    holes = X[:40].copy()
    holes[rng.random(holes.shape) < 0.3] = np.nan
    holes = holes[np.isnan(holes).any(axis=1) & ~np.isnan(holes).all(axis=1)]
    covariance = lae.get_covariance()
    expected = []
    for row in holes:
        seen = ~np.isnan(row)
        observed = _observed_log_likelihood(row[None], lae.mean_, covariance)
        # the expected log-likelihood of the hidden entries given the observed ones
        hidden = ~seen
        conditional = covariance[np.ix_(hidden, hidden)] - covariance[
            np.ix_(hidden, seen)
        ] @ np.linalg.solve(covariance[np.ix_(seen, seen)], covariance[np.ix_(seen, hidden)])
        _, log_det = np.linalg.slogdet(conditional)
        expected.append(observed - 0.5 * (hidden.sum() * (np.log(2 * np.pi) + 1) + log_det))
    np.testing.assert_allclose(lae.score_samples(holes), expected, atol=0.05)


def test_complete_data_takes_its_exact_path_and_weights_compose():
    X, holes = low_rank()
    complete = LinearAETransformer(2).fit(X)
    # rows with holes of zero weight add nothing: the fit on the other rows
    kept = ~np.isnan(holes).any(axis=1)
    weighted = LinearAETransformer(2).fit(
        np.where(kept[:, None], X, holes), sample_weight=kept.astype(float)
    )
    alone = LinearAETransformer(2).fit(X[kept])
    np.testing.assert_allclose(weighted.components_, alone.components_, atol=1e-10)
    np.testing.assert_allclose(weighted.explained_variance_, alone.explained_variance_)
    np.testing.assert_allclose(weighted.mean_, alone.mean_, atol=1e-12)
    # a weight of 2 is the row twice, holes included
    twice = LinearAETransformer(2).fit(np.vstack([holes, holes[:10]]))
    doubled = np.r_[np.full(10, 2.0), np.ones(len(X) - 10)]
    weights = LinearAETransformer(2).fit(holes, sample_weight=doubled)
    assert subspace_angles(twice.components_.T, weights.components_.T).max() < 1e-6
    np.testing.assert_allclose(twice.mean_, weights.mean_, atol=1e-6)
    # and the complete fit is today's: the closed form on the rows' own moments
    centered = X - X.mean(axis=0)
    _, vectors = np.linalg.eigh(centered.T @ centered)
    assert subspace_angles(complete.components_.T, vectors[:, -2:]).max() < 1e-10


def test_minibatch_refuses_missing_values_naming_the_solvers_that_take_them():
    X, holes = low_rank()
    for method in ("fit", "partial_fit"):
        est = LinearAETransformer(2, solver="minibatch")
        with pytest.raises(ValueError, match="solver='covariance' \\(or 'lbfgs'\\)"):
            getattr(est, method)(holes)
    # its tags say so, and its inference refuses them alike, as scikit-learn expects
    est = LinearAETransformer(2, solver="minibatch", max_iter=1, n_iter_no_change=None).fit(X)
    assert not est.__sklearn_tags__().input_tags.allow_nan
    assert LinearAETransformer(2).__sklearn_tags__().input_tags.allow_nan
    for method in (est.transform, est.score_samples):
        with pytest.raises(ValueError, match="solver='minibatch' does not take"):
            method(holes)


def test_a_feature_never_observed_is_a_clear_error():
    _, holes = low_rank()
    holes[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"Feature\(s\) \[3\] have no observed value"):
        LinearAETransformer(2).fit(holes)


@pytest.mark.parametrize("solver", ["covariance", "lbfgs"])
def test_a_row_with_nothing_observed_is_a_clear_error_in_fit_and_partial_fit(solver):
    # it would count as a sample (n_samples_seen_, the variances' divisor) and
    # teach nothing; the networks refuse it alike
    X = np.random.default_rng(0).normal(size=(50, 4))
    X[::7, 1] = np.nan
    X[10] = np.nan
    est = LinearAETransformer(2, solver=solver, max_iter=5)
    with pytest.raises(ValueError, match="row 10 of X has no observed value"):
        est.fit(X)
    est.partial_fit(np.delete(X, 10, axis=0))
    seen, variance = est.n_samples_seen_, est.explained_variance_.copy()
    with pytest.raises(ValueError, match="row 0 of X has no observed value"):
        est.partial_fit(np.full((20, 4), np.nan))
    assert est.n_samples_seen_ == seen
    np.testing.assert_array_equal(est.explained_variance_, variance)


def test_sparse_stored_nan_is_missing_not_zero():
    X, holes = low_rank()
    holes[np.abs(X) < 0.5] = 0.0  # zeros the sparse matrix does not store
    dense = LinearAETransformer(2).fit(holes)
    matrix = sp.csr_matrix(holes)
    assert np.isnan(matrix.data).any()
    sparse = LinearAETransformer(2).fit(matrix)
    for name in ("mean_", "components_", "explained_variance_", "scatter_"):
        np.testing.assert_allclose(getattr(sparse, name), getattr(dense, name), atol=1e-10)
    np.testing.assert_allclose(sparse.transform(matrix), dense.transform(holes), atol=1e-10)
    np.testing.assert_allclose(sparse.score_samples(matrix), dense.score_samples(holes))


def test_pandas_nullable_columns_read_pd_na_as_missing():
    pd = pytest.importorskip("pandas")
    _, holes = low_rank()
    frame = pd.DataFrame(holes, columns=list("abcde")).astype("Float64")
    assert frame.isna().to_numpy().sum() == np.isnan(holes).sum()
    from_frame = LinearAETransformer(2).fit(frame)
    from_array = LinearAETransformer(2).fit(holes)
    # (a frame's array is column-major: sums may round differently)
    np.testing.assert_allclose(from_frame.components_, from_array.components_, atol=1e-12)
    np.testing.assert_allclose(from_frame.transform(frame), from_array.transform(holes))


def test_transform_is_pca_on_complete_rows_and_the_expected_score_on_others():
    _, holes = low_rank()
    lae = LinearAETransformer(2).fit(holes)
    complete = ~np.isnan(holes).any(axis=1)
    codes = lae.transform(holes)
    np.testing.assert_allclose(
        codes[complete], (holes[complete] - lae.mean_) @ lae.components_.T, atol=1e-12
    )
    # a row with holes: its missing entries' conditional means under the model
    row = holes[~complete][0]
    seen = ~np.isnan(row)
    cov = lae.get_covariance()
    filled = row.copy()
    filled[~seen] = lae.mean_[~seen] + cov[np.ix_(~seen, seen)] @ np.linalg.solve(
        cov[np.ix_(seen, seen)], row[seen] - lae.mean_[seen]
    )
    np.testing.assert_allclose(codes[~complete][0], (filled - lae.mean_) @ lae.components_.T)
    # nothing observed: the mean's code; reconstructions are complete rows
    assert np.array_equal(lae.transform(np.full((1, 5), np.nan)), np.zeros((1, 2)))
    assert np.isfinite(lae.inverse_transform(codes)).all()
    # whitened codes are the same codes scaled
    white = LinearAETransformer(2, whiten=True).fit(holes)
    np.testing.assert_allclose(white.transform(holes), codes / np.sqrt(white.explained_variance_))


def test_raw_weights_fill_holes_by_the_decoders_least_squares():
    _, holes = low_rank()
    raw = LinearAETransformer(2, align=False).fit(holes)
    _, decoder = raw._weights()
    row = holes[np.isnan(holes).any(axis=1)][0]
    seen = ~np.isnan(row)
    code = np.linalg.lstsq(decoder[seen], row[seen] - raw.mean_[seen], rcond=None)[0]
    np.testing.assert_allclose(raw.transform(row[None]), code[None], atol=1e-10)
    # its score: minus the squared error of the observed entries, per entry
    back = raw.inverse_transform(raw.transform(row[None]))[0]
    expected = -np.mean((back[seen] - row[seen]) ** 2)
    assert raw.score_samples(row[None])[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="no observed value"):
        raw.score_samples(np.full((1, 5), np.nan))


def test_a_typical_row_keeps_a_typical_score_when_entries_go_missing():
    X, _ = low_rank(n=300, missing=0)
    lae = LinearAETransformer(2).fit(X)
    full = lae.score_samples(X)
    rng = np.random.default_rng(1)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.4] = np.nan
    holes[np.isnan(holes).all(axis=1), 0] = X[np.isnan(holes).all(axis=1), 0]
    scores = lae.score_samples(holes)
    assert np.isfinite(scores).all()
    # the expected complete score given the observed entries: on average, the
    # complete rows' score
    assert abs(scores.mean() - full.mean()) < 0.02 * abs(full.mean())
    # the observed entries' marginal density, and the missing ones' expected
    # conditional density, directly
    row = holes[np.isnan(holes).any(axis=1)][0]
    seen = ~np.isnan(row)
    cov = lae.get_covariance()
    block = cov[np.ix_(seen, seen)]
    centered = row[seen] - lae.mean_[seen]
    marginal = -0.5 * (
        seen.sum() * np.log(2 * np.pi)
        + np.linalg.slogdet(block)[1]
        + centered @ np.linalg.solve(block, centered)
    )
    rest = cov[np.ix_(~seen, ~seen)] - cov[np.ix_(~seen, seen)] @ np.linalg.solve(
        block, cov[np.ix_(seen, ~seen)]
    )
    expected = -0.5 * ((~seen).sum() * (np.log(2 * np.pi) + 1) + np.linalg.slogdet(rest)[1])
    assert lae.score_samples(row[None])[0] == pytest.approx(marginal + expected)
    with pytest.raises(ValueError, match="row 1 of X has no observed value"):
        lae.score_samples(np.vstack([X[:1], np.full(5, np.nan)]))


def test_partial_fit_of_one_chunk_is_the_fit_and_chunks_approach_it():
    _, holes = low_rank(n=240)
    fitted = LinearAETransformer(2).fit(holes)
    one = LinearAETransformer(2).partial_fit(holes)
    np.testing.assert_allclose(one.components_, fitted.components_, atol=1e-10)
    np.testing.assert_allclose(one.scatter_, fitted.scatter_, rtol=1e-10)
    streamed = LinearAETransformer(2)
    for start in range(0, 240, 80):
        streamed.partial_fit(holes[start : start + 80])
    assert streamed.n_samples_seen_ == 240
    # earlier chunks' completions are not revisited: close to the fit, not equal
    assert subspace_angles(streamed.components_.T, fitted.components_.T).max() < 0.05
    np.testing.assert_allclose(streamed.mean_, fitted.mean_, atol=0.05)


def test_widths_resolved_from_the_data_and_no_components():
    _, holes = low_rank(n=120)
    ratio = LinearAETransformer(0.8).fit(holes)
    assert 1 <= ratio.n_components_ <= 5
    assert ratio.explained_variance_ratio_[:-1].sum() <= 0.8
    assert LinearAETransformer("mle").fit(holes).n_components_ >= 1
    none = LinearAETransformer(0).fit(holes)
    observed = np.nanmean(holes, axis=0)
    np.testing.assert_allclose(none.mean_, observed, atol=1e-12)
    assert np.isfinite(none.score_samples(holes)).all()


def test_a_share_or_mle_takes_the_width_of_the_complete_tables_pca():
    # the width was read from the first E-step alone, whose holes flatten the
    # spectrum: 11, 19 and 6 components here
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 20)) + 0.1 * rng.normal(size=(300, 20))
    holes = np.where(rng.random(X.shape) < 0.15, np.nan, X)
    for n_components in (0.9, 0.99, "mle"):
        fitted = LinearAETransformer(n_components).fit(holes)
        assert fitted.n_components_ == PCA(n_components).fit(X).n_components_
        if n_components != "mle":  # PCA's rule on the model's own spectrum
            ratios = np.cumsum(fitted.explained_variance_ratio_)
            assert ratios[-2] <= n_components < ratios[-1]


def test_the_em_warns_when_it_runs_out_of_iterations():
    _, holes = low_rank()
    with pytest.warns(ConvergenceWarning, match="EM for the missing values"):
        LinearAETransformer(2, max_iter=2).fit(holes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LinearAETransformer(2).fit(holes)


def test_save_and_load_keep_a_model_fitted_with_holes(tmp_path):
    _, holes = low_rank()
    lae = LinearAETransformer(2, whiten=True).fit(holes)
    skae.save(lae, tmp_path / "lae.skae")
    loaded = skae.load(tmp_path / "lae.skae")
    np.testing.assert_array_equal(loaded.transform(holes), lae.transform(holes))
    np.testing.assert_array_equal(loaded.score_samples(holes), lae.score_samples(holes))
    more = holes[:20]
    np.testing.assert_array_equal(
        loaded.partial_fit(more).components_, lae.partial_fit(more).components_
    )


def test_a_dask_array_with_holes_fits_the_local_model():
    da = pytest.importorskip("dask.array")
    _, holes = low_rank(n=200)
    local = LinearAETransformer(2).fit(holes)
    D = da.from_array(holes, chunks=(60, 5))
    remote = LinearAETransformer(2).fit(D)
    assert remote.n_samples_seen_ == 200
    for name in ("mean_", "components_", "explained_variance_", "scatter_"):
        np.testing.assert_allclose(getattr(remote, name), getattr(local, name), rtol=1e-8)
    codes = remote.transform(D).compute()
    np.testing.assert_allclose(codes, local.transform(holes), atol=1e-8)
    np.testing.assert_allclose(remote.score_samples(D).compute(), local.score_samples(holes))


def test_a_dask_array_with_a_row_of_nothing_observed_is_refused_as_in_memory():
    da = pytest.importorskip("dask.array")
    _, holes = low_rank(n=200)
    holes[70] = np.nan
    for method in ("fit", "partial_fit"):
        est = LinearAETransformer(2)
        with pytest.raises(ValueError, match="no observed value"):
            getattr(est, method)(da.from_array(holes, chunks=(60, 5)))
        assert not hasattr(est, "components_")


def test_an_integer_width_with_holes_is_resolved_once():
    # an int is a numbers.Real too: it was resolved again after the EM, and its
    # warning about a complete linear autoencoder given twice
    X = np.random.default_rng(0).normal(size=(40, 6))
    X[0, 0] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LinearAETransformer(6, solver="lbfgs", align=False, max_iter=5).fit(X)
    assert sum("n_components=6 >= n_features=6" in str(w.message) for w in caught) == 1


def test_rows_of_no_variance_with_holes_are_degenerate_as_without():
    # complete, the model has no noise and its likelihood is refused as PCA's; with
    # two holes the EM left a subnormal noise (8e-310), whose inverse overflowed:
    # complete rows scored -inf and those with holes 1412
    X = np.tile(np.random.default_rng(0).normal(size=(1, 4)), (10, 1))
    holed = X.copy()
    holed[0, 1] = holed[2, 3] = np.nan
    for fitted_on in (X, holed):
        est = LinearAETransformer(1).fit(fitted_on)
        for scored in (X, holed):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                with pytest.raises(ValueError, match="model is degenerate"):
                    est.score_samples(scored)


def test_the_minibatch_solver_refuses_nan_on_a_row_of_weight_zero_too():
    # the rows of weight zero were dropped first, and with them the NaN that its
    # tags (allow_nan=False) and its transform refuse
    X = np.random.default_rng(0).normal(size=(30, 4))
    X[0, 0] = np.nan
    weights = np.r_[0.0, np.ones(29)]
    with pytest.raises(ValueError, match="solver='minibatch' does not take"):
        LinearAETransformer(2, solver="minibatch", max_iter=2).fit(X, sample_weight=weights)
