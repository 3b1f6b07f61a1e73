"""The PCA mathematics of the linear autoencoder, in NumPy alone (skae/_pca.py):
moments of (weighted) rows, merged chunk by chunk, and PCA's attributes from them."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skae._pca import _Moments, _variance_attributes


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + 3.0


def test_moments_merged_chunk_by_chunk_are_those_of_all_rows(rows):
    whole = _Moments.of(rows, keep_scatter=True)
    merged = _Moments.of(rows[:17], keep_scatter=True)
    for start, stop in ((17, 18), (18, 45), (45, 60)):
        merged = _Moments.of(rows[start:stop], keep_scatter=True).merged_after(merged)
    assert merged.n == whole.n == 60
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.scatter, whole.scatter, rtol=1e-12)


def test_integer_weights_are_repeated_rows(rows):
    weights = np.random.default_rng(1).integers(0, 4, size=len(rows))
    weighted = _Moments.of(rows, weights.astype(float), keep_scatter=True)
    repeated = _Moments.of(np.repeat(rows, weights, axis=0), keep_scatter=True)
    assert weighted.n == repeated.n
    np.testing.assert_allclose(weighted.mean, repeated.mean, rtol=1e-13)
    np.testing.assert_allclose(weighted.scatter, repeated.scatter, rtol=1e-12)


@pytest.mark.parametrize("keep_scatter", [True, False])
def test_variance_attributes_are_pcas(rows, keep_scatter):
    moments = _Moments.of(rows, keep_scatter=keep_scatter)
    pca = PCA(3).fit(rows)
    explained, ratio, singular, noise = _variance_attributes(moments, moments.eigenvalues()[:3])
    np.testing.assert_allclose(explained, pca.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(singular, pca.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(noise, pca.noise_variance_, rtol=1e-10)


@pytest.mark.parametrize("shape", [(5, 8), (8, 8)])
def test_no_noise_and_fewer_directions_than_features_have_no_likelihood(shape):
    # the data's rank is n_samples - 1: with every variance kept the noise is 0 and
    # the covariance singular, but its last variance is round-off (some 1e-17),
    # which np.linalg.inv inverted into a "precision" of 1e16 and scores of 1e16
    # that won every search
    from skae import LinearAETransformer

    X = np.random.RandomState(0).randn(*shape)
    est = LinearAETransformer().fit(X)
    assert est.noise_variance_ == 0
    for method in (est.get_precision, lambda: est.score(X), lambda: est.score_samples(X)):
        with pytest.raises(ValueError, match="degenerate"):
            method()
    # a model with noise, or with a direction per feature of real variance, has one
    assert np.isfinite(LinearAETransformer(n_components=2).fit(X).score(X))
    full = np.random.RandomState(0).randn(40, 8)
    est = LinearAETransformer().fit(full)
    np.testing.assert_allclose(est.get_covariance() @ est.get_precision(), np.eye(8), atol=1e-10)
    # a real direction of small variance (a feature in small units) is no round-off
    full[:, 7] *= 1e-8
    np.testing.assert_allclose(
        LinearAETransformer().fit(full).score(full), PCA().fit(full).score(full), rtol=1e-9
    )


@pytest.mark.parametrize("dataset", ["iris", "wine"])
def test_a_float32_model_with_a_component_per_feature_has_pca_s_likelihood(dataset):
    # its precision was inverted and checked in float32, off the identity by some
    # 1e-6 at a condition number of 20: a healthy model was called degenerate
    from sklearn import datasets

    from skae import LinearAETransformer

    X = getattr(datasets, f"load_{dataset}")().data.astype(np.float32)
    est = LinearAETransformer().fit(X)
    assert est.noise_variance_ == 0 and est.n_components_ == X.shape[1]
    np.testing.assert_allclose(est.score(X), PCA().fit(X).score(X), rtol=1e-5)
    assert est.get_precision().dtype == np.float32
    assert np.isfinite(est.score_samples(X)).all()


def test_mle_finds_the_rank_of_data_without_noise_as_pca_s_svd_does():
    # the scatter's eigendecomposition leaves round-off of some 1e-13 where PCA's
    # full SVD leaves 1e-30, and Minka's floor of 1e-15 took it for variance:
    # data of rank 2 got widths of 3 to 5 (seeds 0 to 19)
    from skae import LinearAETransformer

    for seed in range(20):
        rng = np.random.default_rng(seed)
        rank = 1 + seed % 3
        X = rng.normal(size=(50, rank)) @ rng.normal(size=(rank, 6)) * 10.0 ** (seed % 4)
        expected = PCA("mle", svd_solver="full").fit(X).n_components_
        assert expected == rank
        assert LinearAETransformer(n_components="mle").fit(X).n_components_ == expected


def test_a_trained_model_s_noise_is_what_its_own_components_leave():
    # the noise came from PCA's spectrum whatever the components: a minibatch fit
    # of 5 epochs had a noise of 0.051 (PCA's) where its components left 0.99
    from sklearn.datasets import load_iris

    from skae import LinearAETransformer

    X = load_iris().data
    est = LinearAETransformer(
        2, solver="minibatch", max_iter=5, n_iter_no_change=None, random_state=0
    ).fit(X)
    covariance = np.cov(X, rowvar=False)
    captured = np.trace(est.components_ @ covariance @ est.components_.T)
    left = (np.trace(covariance) - captured) / (X.shape[1] - 2)
    assert left > 5 * PCA(2).fit(X).noise_variance_  # far from PCA's subspace
    np.testing.assert_allclose(est.noise_variance_, left, rtol=1e-6)
