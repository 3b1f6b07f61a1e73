"""LinearAETransformer learns PCA: same components, order, signs and numbers."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits, load_iris, load_wine, make_low_rank_matrix
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import skae
from skae import LinearAETransformer

DATASETS = {"iris": (load_iris, 2), "wine": (load_wine, 3), "digits": (load_digits, 10)}


def standardized(name):
    return StandardScaler().fit_transform(DATASETS[name][0]().data)


def reconstruction_mse(est, X):
    return ((X - est.inverse_transform(est.transform(X))) ** 2).mean()


@pytest.mark.parametrize(
    "solver, random_state", [("covariance", 0), *(("lbfgs", r) for r in range(3))]
)
@pytest.mark.parametrize("name", DATASETS)
def test_float64_matches_pca(name, solver, random_state):
    X = standardized(name)
    k = DATASETS[name][1]
    pca = PCA(k).fit(X)
    lae = LinearAETransformer(k, solver=solver, random_state=random_state).fit(X)

    cosines = np.abs(np.sum(lae.components_ * pca.components_, axis=1))
    assert cosines.min() >= 1 - 1e-8
    assert subspace_angles(lae.components_.T, pca.components_.T).max() <= 1e-5
    pca_mse = reconstruction_mse(pca, X)
    assert abs(reconstruction_mse(lae, X) - pca_mse) <= 1e-8 * pca_mse
    np.testing.assert_allclose(
        lae.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=0, atol=1e-8
    )
    Z_pca = pca.transform(X)
    # not only up to sign: the same sign convention as PCA; trained weights are
    # within L-BFGS's tolerance, the closed form within rounding
    tol = 1e-10 if solver == "covariance" else 1e-5
    assert np.abs(lae.transform(X) - Z_pca).max() <= tol * np.abs(Z_pca).max()


@pytest.mark.parametrize("random_state", range(5))
@pytest.mark.parametrize("name", DATASETS)
def test_float32_matches_pca_to_float32_precision(name, random_state):
    X = standardized(name).astype(np.float32)
    k = DATASETS[name][1]
    pca = PCA(k).fit(X.astype(np.float64))
    lae = LinearAETransformer(k, random_state=random_state).fit(X)
    assert lae.components_.dtype == np.float32
    assert np.abs(np.sum(lae.components_ * pca.components_, axis=1)).min() >= 0.9999
    pca_mse = reconstruction_mse(pca, X.astype(np.float64))
    assert abs(reconstruction_mse(lae, X) - pca_mse) <= 1e-5 * pca_mse
    np.testing.assert_allclose(
        lae.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=0, atol=1e-5
    )


def test_pca_attributes_match():
    X = standardized("wine")
    pca = PCA(4).fit(X)
    lae = LinearAETransformer(4, random_state=0).fit(X)
    np.testing.assert_allclose(lae.mean_, pca.mean_, atol=1e-12)
    np.testing.assert_allclose(lae.explained_variance_, pca.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(lae.singular_values_, pca.singular_values_, rtol=1e-8)
    assert lae.noise_variance_ == pytest.approx(pca.noise_variance_, rel=1e-8)
    np.testing.assert_allclose(lae.components_ @ lae.components_.T, np.eye(4), atol=1e-12)
    assert np.all(np.diff(lae.explained_variance_) < 0)


def test_unaligned_codes_are_pca_rotated():
    X = standardized("wine")
    pca = PCA(3).fit(X)
    lae = LinearAETransformer(
        3, solver="lbfgs", align=False, tied_weights=False, random_state=0
    ).fit(X)
    assert not hasattr(lae, "components_")
    decoder = lae._weights()[1]
    # the learned subspace is PCA's...
    assert subspace_angles(decoder, pca.components_.T).max() < 1e-5
    assert reconstruction_mse(lae, X) == pytest.approx(reconstruction_mse(pca, X), rel=1e-8)
    # ...in another basis: the codes are not PCA's scores
    Z, Z_pca = lae.transform(X), pca.transform(X)
    assert np.abs(np.abs(Z) - np.abs(Z_pca)).max() > 0.1
    # but they are a linear image of them
    rotation, *_ = np.linalg.lstsq(Z_pca, Z, rcond=None)
    np.testing.assert_allclose(Z_pca @ rotation, Z, atol=1e-6)


def test_whiten_matches_pca_whiten():
    X = standardized("wine")
    pca = PCA(3, whiten=True).fit(X)
    lae = LinearAETransformer(3, whiten=True, random_state=0).fit(X)
    Z = lae.transform(X)
    np.testing.assert_allclose(Z, pca.transform(X), atol=1e-6)
    np.testing.assert_allclose(Z.var(axis=0, ddof=1), 1, atol=1e-8)
    np.testing.assert_allclose(lae.inverse_transform(Z), pca.inverse_transform(Z), atol=1e-6)


@pytest.mark.parametrize("change", [{"align": True}, {"whiten": True}, {"align": False}])
def test_an_alignment_set_after_fit_is_refused_by_name(change):
    # the aligned arrays are made by a fit: align set anew after it (or whiten,
    # which reads them, on an unaligned fit) raised AttributeError from transform
    # and NotFittedError from score_samples of a fitted estimator
    X = standardized("wine")
    est = LinearAETransformer(
        2, align=change.get("align") is False, solver="lbfgs", max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    est.set_params(**change)
    Z = np.zeros((3, 2))
    calls = [
        lambda: est.transform(X),
        lambda: est.inverse_transform(Z),
        lambda: est.score_samples(X),
        lambda: est.score(X),
    ]
    if est.align:
        calls += [est.get_covariance, est.get_precision]
    for call in calls:
        with pytest.raises(ValueError, match=r"fitted with align=\w+ \(now (align|whiten)="):
            call()


def test_untied_weights_also_learn_pca():
    X = standardized("wine")
    pca = PCA(3).fit(X)
    untied = LinearAETransformer(3, tied_weights=False, random_state=0).fit(X)
    tied = LinearAETransformer(3, random_state=0).fit(X)
    n_params = {
        name: sum(p.numel() for p in est.net_.module_.parameters())
        for name, est in [("untied", untied), ("tied", tied)]
    }
    assert n_params == {"untied": 2 * 3 * 13, "tied": 3 * 13}
    encoder, decoder = tied._weights()
    np.testing.assert_array_equal(decoder, encoder.T)
    for est in (untied, tied):
        assert subspace_angles(est.components_.T, pca.components_.T).max() <= 1e-5
        np.testing.assert_allclose(est.transform(X), pca.transform(X), atol=1e-6)


def test_aligned_weights_are_written_back_into_the_network():
    X = standardized("iris")
    lae = LinearAETransformer(2, random_state=0).fit(X)
    encoder, decoder = lae._weights()
    np.testing.assert_allclose(encoder, lae.components_, atol=1e-15)
    np.testing.assert_allclose(decoder, lae.components_.T, atol=1e-15)


def test_minibatch_solver_reaches_pca_within_one_percent():
    X = standardized("digits")
    pca = PCA(10).fit(X)
    lae = LinearAETransformer(
        10, solver="minibatch", learning_rate_init=0.01, max_iter=60, random_state=0
    ).fit(X)
    pca_mse = reconstruction_mse(pca, X)
    assert reconstruction_mse(lae, X) <= 1.01 * pca_mse
    np.testing.assert_allclose(
        lae.explained_variance_ratio_, pca.explained_variance_ratio_, atol=5e-3
    )
    # the alignment still orders and orthonormalizes the components
    np.testing.assert_allclose(lae.components_ @ lae.components_.T, np.eye(10), atol=1e-10)


def test_n_components_none_means_all_as_in_pca():
    X = standardized("iris")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default warns about nothing
        lae = LinearAETransformer(random_state=0).fit(X)
    assert lae.n_components_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PCA's alignment learns no identity: as silent as PCA
        LinearAETransformer(4, random_state=0).fit(X)
    np.testing.assert_allclose(lae.explained_variance_ratio_.sum(), 1.0, atol=1e-10)
    np.testing.assert_allclose(lae.inverse_transform(lae.transform(X)), X, atol=1e-8)


def test_over_complete_needs_align_false():
    X = standardized("iris")
    with pytest.raises(ValueError, match=r"n_components=5 must be between 0 and min\(n_samples"):
        LinearAETransformer(5).fit(X)
    with pytest.raises(ValueError, match="the closed form have no more components"):
        LinearAETransformer(5, align=False).fit(X)
    with pytest.warns(UserWarning, match="over-complete") as record:
        lae = LinearAETransformer(5, solver="lbfgs", align=False, random_state=0).fit(X)
    assert {w.filename for w in record if "over-complete" in str(w.message)} == {__file__}
    assert lae.transform(X).shape == (150, 5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"whiten": True, "align": False}, "whiten=True needs align=True"),
        ({"early_stopping": True}, "apply to solver='minibatch' only"),
        ({"alpha": 0.1}, "apply to solver='minibatch' only"),
        ({"solver": "svd"}, "'solver' parameter of LinearAETransformer must be one of"),
    ],
)
def test_incompatible_settings_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        LinearAETransformer(**params).fit(standardized("iris"))


def test_needs_two_samples_for_variances():
    with pytest.raises(ValueError, match="1 sample"):
        LinearAETransformer(1).fit([[1.0, 2.0]])


def test_partial_fit_on_chunks_learns_pca_of_all_rows():
    X = standardized("digits")
    pca = PCA(10).fit(X)
    lae = LinearAETransformer(10, random_state=0)
    for chunk in np.array_split(X, 5):
        lae.partial_fit(chunk)
    assert lae.n_samples_seen_ == len(X)
    np.testing.assert_allclose(lae.mean_, X.mean(axis=0), atol=1e-12)
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(lae.scatter_, Xc.T @ Xc, rtol=1e-9, atol=1e-9)
    assert subspace_angles(lae.components_.T, pca.components_.T).max() <= 1e-5
    np.testing.assert_allclose(
        lae.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=0, atol=1e-8
    )
    with pytest.raises(ValueError, match="X has 12 features"):
        lae.partial_fit(X[:5, :12])


def test_partial_fit_after_fit_continues_the_statistics():
    X = standardized("wine")
    lae = LinearAETransformer(3, random_state=0).fit(X[:100])
    lae.partial_fit(X[100:])
    pca = PCA(3).fit(X)
    assert lae.n_samples_seen_ == 178
    np.testing.assert_allclose(np.abs(lae.components_ @ pca.components_.T), np.eye(3), atol=1e-6)


def test_minibatch_partial_fit_trains_one_epoch_per_chunk():
    X = standardized("digits").astype(np.float32)
    lae = LinearAETransformer(5, solver="minibatch", random_state=0)
    for chunk in np.array_split(X, 4):
        lae.partial_fit(chunk)
    assert lae.n_iter_ == 4 and lae.n_samples_seen_ == len(X)
    np.testing.assert_allclose(lae.components_ @ lae.components_.T, np.eye(5), atol=1e-5)
    assert np.all(np.diff(lae.explained_variance_) <= 0)


# -- where PCA defines a behaviour, LinearAETransformer has it --------------------


def assert_same_components(lae, pca, tol=1e-8):
    cosines = np.abs(np.sum(lae.components_ * pca.components_, axis=1))
    assert cosines.min() >= 1 - tol, cosines


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_matches_the_dense_fit(fmt):
    X = sp.random(300, 40, density=0.2, format=fmt, random_state=0)
    dense = X.toarray()
    lae = LinearAETransformer(6, random_state=0).fit(X)
    pca = PCA(6).fit(dense)
    assert_same_components(lae, pca)
    np.testing.assert_allclose(lae.explained_variance_, pca.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(lae.transform(X), pca.transform(dense), atol=1e-10)
    np.testing.assert_allclose(lae.score_samples(X), pca.score_samples(dense), rtol=1e-10)
    streamed = LinearAETransformer(6, random_state=0)
    for start in range(0, 300, 100):
        streamed.partial_fit(X[start : start + 100])
    assert_same_components(streamed, pca)


def test_sparse_input_is_never_densified_whole():
    # a Generator, which draws the positions of the non-zeros without permuting all
    # 50 million of them as a RandomState does
    rng = np.random.default_rng(0)
    X = sp.random(50_000, 1_000, density=0.001, format="csr", random_state=rng, dtype=np.float64)
    dense_bytes = X.shape[0] * X.shape[1] * 8  # 400 MB
    tracemalloc.start()
    lae = LinearAETransformer(5, random_state=0).fit(X)
    Z = lae.transform(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert Z.shape == (50_000, 5)
    # the scatter matrix is 8 MB; a dense copy of X would be 400 MB
    assert peak < dense_bytes / 8


@pytest.mark.parametrize("shape", [(50, 8), (6, 20)])
def test_default_keeps_min_n_samples_n_features_components(shape):
    X = np.random.default_rng(0).normal(size=shape)
    lae = LinearAETransformer(random_state=0).fit(X)
    pca = PCA().fit(X)
    assert lae.n_components_ == pca.n_components_ == min(shape)
    np.testing.assert_allclose(lae.explained_variance_, pca.explained_variance_, atol=1e-10)


@pytest.mark.parametrize("ratio", [0.5, 0.8, 0.95])
def test_float_n_components_picks_the_same_width_as_pca(ratio):
    X = standardized("digits")
    lae = LinearAETransformer(ratio, random_state=0).fit(X)
    pca = PCA(ratio).fit(X)
    assert lae.n_components_ == pca.n_components_
    assert_same_components(lae, pca)
    assert lae.explained_variance_ratio_.sum() > ratio


def test_mle_n_components_is_minkas_choice_as_in_pca():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 12)) * 3
    X = signal + 0.1 * rng.normal(size=(500, 12))
    lae = LinearAETransformer("mle", random_state=0).fit(X)
    pca = PCA("mle").fit(X)
    assert lae.n_components_ == pca.n_components_ == 4
    for data in (standardized("wine"), standardized("iris")):
        assert (
            LinearAETransformer("mle").fit(data).n_components_ == PCA("mle").fit(data).n_components_
        )
    with pytest.raises(ValueError, match="n_components='mle' needs n_samples >= n_features"):
        LinearAETransformer("mle").fit(X[:5])


def test_too_many_components_is_a_clear_error():
    with pytest.raises(ValueError, match=r"n_components=7 must be between 0 and min\(n_samples"):
        LinearAETransformer(7).fit(np.random.default_rng(0).normal(size=(6, 20)))


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("k", [1, 5, 13])
def test_probabilistic_model_matches_pca(whiten, k):
    X = standardized("wine")
    lae = LinearAETransformer(k, whiten=whiten, random_state=0).fit(X[:120])
    pca = PCA(k, whiten=whiten).fit(X[:120])
    assert lae.noise_variance_ == pytest.approx(pca.noise_variance_, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(lae.get_covariance(), pca.get_covariance(), atol=1e-10)
    np.testing.assert_allclose(lae.get_precision(), pca.get_precision(), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(lae.get_precision() @ lae.get_covariance(), np.eye(13), atol=1e-8)
    np.testing.assert_allclose(lae.score_samples(X[120:]), pca.score_samples(X[120:]), rtol=1e-9)
    assert lae.score(X[120:]) == pytest.approx(pca.score(X[120:]), rel=1e-9)


def test_whitened_codes_stay_finite_past_the_data_rank():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 10))  # rank 5
    lae = LinearAETransformer(8, whiten=True, random_state=0).fit(X)
    Z = lae.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(lae.inverse_transform(Z), X, atol=1e-10)
    np.testing.assert_allclose(Z[:, :5], PCA(8, whiten=True).fit_transform(X)[:, :5], atol=1e-8)


def test_data_past_its_numerical_rank_matches_pca():
    X = make_low_rank_matrix(1000, 100, effective_rank=10, random_state=0)
    lae = LinearAETransformer(30, random_state=0).fit(X)
    pca = PCA(30).fit(X)
    np.testing.assert_allclose(
        lae.explained_variance_, pca.explained_variance_, rtol=1e-6, atol=1e-12
    )
    # the components are determined where the spectrum separates them
    separated = np.diff(pca.explained_variance_) < -1e-3 * pca.explained_variance_[0]
    cosines = np.abs(np.sum(lae.components_ * pca.components_, axis=1))[:-1][separated]
    assert cosines.min() >= 1 - 1e-8
    pca_mse, lae_mse = reconstruction_mse(pca, X), reconstruction_mse(lae, X)
    assert abs(lae_mse - pca_mse) <= 1e-8 * pca_mse


def test_wide_data_works_in_the_rows_span():
    X = np.random.default_rng(0).normal(size=(20, 5_000))
    lae = LinearAETransformer(10, random_state=0).fit(X)
    pca = PCA(10).fit(X)
    assert_same_components(lae, pca)
    np.testing.assert_allclose(lae.explained_variance_, pca.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(lae.transform(X), pca.transform(X), atol=1e-9)
    assert lae.scatter_ is None  # 5,000 squared would be 200 MB
    with pytest.raises(ValueError, match="partial_fit cannot continue a fit on fewer rows"):
        lae.partial_fit(X)


def test_lbfgs_solver_keeps_the_demonstration():
    # trained from random weights, the raw codes are PCA's rotated; aligned, they are PCA's
    X = standardized("wine")
    raw = LinearAETransformer(3, solver="lbfgs", align=False, random_state=0).fit(X)
    pca = PCA(3).fit(X)
    assert np.abs(np.abs(raw.transform(X)) - np.abs(pca.transform(X))).max() > 0.1
    assert_same_components(LinearAETransformer(3, solver="lbfgs", random_state=0).fit(X), pca)


@pytest.mark.parametrize("scale", [1e-8, 1e100])
def test_lbfgs_solver_is_scale_free(scale):
    # L-BFGS's curvature test has a fixed threshold: tiny data used to stall it
    X = load_iris().data * scale
    lae = LinearAETransformer(2, solver="lbfgs", random_state=0).fit(X)
    assert_same_components(lae, PCA(2).fit(X))


def test_warm_fit_needs_two_rows_and_changes_nothing_without_them():
    X = load_iris().data
    lae = LinearAETransformer(2, warm_start=True).fit(X)
    before = lae.transform(X)
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        lae.fit(X[:1])
    np.testing.assert_array_equal(lae.transform(X), before)
    assert lae.n_samples_seen_ == 150


def test_unaligned_scores_of_sparse_input():
    X = sp.random(60, 8, density=0.4, format="csr", random_state=0)
    lae = LinearAETransformer(2, align=False).fit(X)
    np.testing.assert_allclose(lae.score_samples(X), lae.score_samples(X.toarray()), rtol=1e-12)


def test_float32_sparse_input_is_summarized_in_float64():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(500, 3)) * [3, 2, 1] + [1e3, 0, 0]).astype(np.float32)
    sparse = LinearAETransformer(2).fit(sp.csr_matrix(X))
    dense = LinearAETransformer(2).fit(X)
    np.testing.assert_allclose(sparse.explained_variance_, dense.explained_variance_, rtol=1e-5)


def test_warm_fit_with_a_width_the_network_does_not_have_is_refused():
    X = standardized("digits")
    lae = LinearAETransformer(2, warm_start=True).fit(X)
    with pytest.raises(ValueError, match="the network was built with n_components=2"):
        lae.set_params(n_components=0.95).fit(X)
    assert lae.n_components_ == 2
    # a partial_fit stream keeps the width its first chunk found
    stream = LinearAETransformer(0.9).partial_fit(X[:900])
    width = stream.n_components_
    assert stream.partial_fit(X[900:]).n_components_ == width


@pytest.mark.parametrize(
    "first, then, trained",
    [("covariance", "minibatch", "float64 solver"), ("minibatch", "lbfgs", "minibatch solver")],
)
def test_warm_fit_across_the_solvers_dtypes_names_the_solver(first, then, trained):
    X = load_iris().data
    lae = LinearAETransformer(2, solver=first, warm_start=True, max_iter=2, random_state=0)
    before = lae.fit(X).transform(X)
    message = f"solver='{then}': the network was trained by .*{trained}"
    with pytest.raises(ValueError, match=message):
        lae.set_params(solver=then).fit(X)
    np.testing.assert_array_equal(lae.transform(X), before)
    # the solvers of one dtype continue each other
    if first == "covariance":
        lae.set_params(solver="lbfgs").fit(X)


def test_float32_stream_merges_its_mean_in_float64():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(3000, 3)) * [3, 2, 1] + [1e6, 0, 0]).astype(np.float32)
    whole = LinearAETransformer(2).fit(X)
    stream = LinearAETransformer(2)
    for start in range(0, 3000, 100):
        stream.partial_fit(X[start : start + 100])
    np.testing.assert_allclose(stream.explained_variance_, whole.explained_variance_, rtol=1e-5)


# -- scikit-learn's PCA tests and gallery, second round -------------------------------


def test_n_samples_is_pca_s_fitted_attribute():
    X = standardized("iris")
    lae, pca = LinearAETransformer(2).fit(X), PCA(2).fit(X)
    assert lae.n_samples_ == pca.n_samples_ == 150
    stream = LinearAETransformer(2)
    for chunk in np.array_split(X, 3):
        stream.partial_fit(chunk)
    assert stream.n_samples_ == stream.n_samples_seen_ == 150
    assert not hasattr(LinearAETransformer(2), "n_samples_")


def test_zero_components_is_pca_s_isotropic_gaussian():
    X = standardized("wine")
    lae, pca = LinearAETransformer(0).fit(X), PCA(0).fit(X)
    assert lae.n_components_ == 0 and lae.transform(X).shape == (178, 0)
    assert lae.components_.shape == (0, 13)
    np.testing.assert_allclose(lae.noise_variance_, pca.noise_variance_, rtol=1e-10)
    np.testing.assert_allclose(lae.score_samples(X), pca.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(lae.get_precision(), pca.get_precision(), atol=1e-10)
    assert np.isfinite(lae.score(X))
    np.testing.assert_allclose(lae.inverse_transform(lae.transform(X)), X * 0 + X.mean(0))


def test_zero_components_in_a_cross_validated_search():
    # scikit-learn's plot_pca_vs_fa_model_selection cross-validates from 0 components
    from sklearn.model_selection import cross_val_score

    X = standardized("wine")
    scores = [cross_val_score(LinearAETransformer(k), X).mean() for k in (0, 1, 2)]
    expected = [cross_val_score(PCA(k), X).mean() for k in (0, 1, 2)]
    np.testing.assert_allclose(scores, expected, rtol=1e-8)


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_a_ratio_equal_to_a_cumulative_ratio_selects_as_pca(name):
    X = standardized(name)
    # PCA takes the fewest components whose cumulative ratio exceeds n_components
    # (searchsorted(..., side="right") + 1): a ratio equal to one takes one more.
    # The two solvers round the ratios differently; either's value selects the same.
    for fitted in (PCA(), LinearAETransformer()):
        cumulative = np.cumsum(fitted.fit(X).explained_variance_ratio_)
        for k, ratio in enumerate(cumulative[:-1], start=1):
            assert LinearAETransformer(float(ratio)).fit(X).n_components_ == k + 1
            if isinstance(fitted, PCA):
                assert PCA(float(ratio)).fit(X).n_components_ == k + 1


def test_n_components_after_mle_is_a_numpy_integer_as_pca_s(tmp_path):
    X = standardized("wine")
    lae, pca = LinearAETransformer("mle").fit(X), PCA("mle").fit(X)
    assert type(lae.n_components_) is type(pca.n_components_)
    # and after skae.load (a JSON number read as a Python int)
    path = tmp_path / "lae.skae"
    skae.save(lae, path)
    assert type(skae.load(path).n_components_) is type(pca.n_components_)
    # a script's %-formatting of the width
    assert "%d" % lae.n_components_ == "%d" % pca.n_components_  # noqa: UP031


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"solver": "lbfgs"},
        {"solver": "minibatch", "max_iter": 2, "n_iter_no_change": None},
        {"align": False},
    ],
)
def test_complete_aligned_or_closed_form_fits_are_silent_as_pca(params):
    X = standardized("iris")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        LinearAETransformer(4, **params).fit(X)


def test_transform_memory_is_one_chunk_beyond_the_codes():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60_000, 50))
    lae = LinearAETransformer(5).fit(X)  # fitted on float64
    for data in (X, X.astype(np.float32)):
        tracemalloc.start()
        lae.transform(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        codes = data.shape[0] * 5 * data.itemsize
        # a chunk of 4096 centered float64 rows is 1.6 MB
        assert peak < codes + 3e6, (data.dtype, peak / data.nbytes)


@pytest.mark.parametrize("solver", ["covariance", "lbfgs", "minibatch"])
def test_zero_components_with_every_solver(solver):
    X = standardized("wine")
    lae = LinearAETransformer(0, solver=solver, max_iter=2, n_iter_no_change=None).fit(X)
    np.testing.assert_allclose(lae.score(X), PCA(0).fit(X).score(X), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_come_in_the_input_dtype_as_pcas(dtype, wine):
    X = wine.astype(dtype)
    assert (
        LinearAETransformer(3).fit(X).score_samples(X).dtype
        == PCA(3).fit(X).score_samples(X).dtype
        == dtype
    )


@pytest.mark.parametrize(
    "dtype, finite", [(np.float32, [True, False, False]), (np.float64, [True, True, False])]
)
def test_a_row_far_from_the_data_scores_minus_infinity_without_overflowing(dtype, finite):
    X = load_wine().data.astype(dtype)
    lae = LinearAETransformer(3).fit(X)
    far = X[:3].copy()
    # 1e10 squared fits float32 (its score is exact there);
    # 1e25 squared fits float64 only; 1e200 squared fits neither
    far[:, 0] = [1e10, 1e25, 1e200 if dtype == np.float64 else 1e30]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = lae.score_samples(far)
    assert scores.dtype == dtype
    np.testing.assert_array_equal(np.isfinite(scores), finite)
    assert (scores[~np.array(finite)] == -np.inf).all()
    exact = lae.score_samples(far[:1].astype(np.float64))
    assert scores[0] == pytest.approx(exact[0], rel=1e-6)


def test_the_covariance_is_offered_only_with_pca_s_model():
    # a fitted align=False model advertised get_covariance and get_precision and
    # then called itself "not fitted yet"; scikit-learn hides such methods
    from sklearn.exceptions import NotFittedError

    X = np.random.RandomState(0).randn(30, 5)
    raw = LinearAETransformer(2, align=False, solver="lbfgs", max_iter=5).fit(X)
    assert not hasattr(raw, "get_covariance") and not hasattr(raw, "get_precision")
    aligned = LinearAETransformer(2)
    with pytest.raises(NotFittedError):
        aligned.get_covariance()
    assert aligned.fit(X).get_precision().shape == (5, 5)


@pytest.mark.parametrize(
    "solver, holes",
    [("covariance", False), ("lbfgs", False), ("minibatch", False), ("covariance", True)],
)
def test_rows_whose_scatter_overflows_are_refused_by_name(solver, holes):
    # finite rows of 1e200: L-BFGS took the overflowed factor's NaN for a missing
    # value ("fitted by a skae version that did not record" the fills), the
    # covariance solver and the EM raised numpy's "Eigenvalues did not converge"
    rng = np.random.default_rng(0)
    X = rng.random((30, 4)) @ rng.random((4, 4))
    huge = X * 1e200
    if holes:
        huge[0, 0] = np.nan
    message = "The scatter of X overflows float64"
    lae = LinearAETransformer(2, solver=solver, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        lae.fit(huge)
    # a chunk that overflows the moments seen leaves the fitted model as it was
    lae.partial_fit(X)
    before = lae.transform(X)
    with pytest.raises(ValueError, match=message):
        lae.partial_fit(huge)
    np.testing.assert_array_equal(lae.transform(X), before)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_sparse_rows_far_from_zero_have_the_moments_of_the_dense_rows(method, tmp_path):
    # X.T X - n mean mean.T lost every digit of an offset of 1e8: negative
    # variances, ratios summing past 1, and a model that save refused
    import skae

    X = np.random.default_rng(0).normal(size=(200, 4)) * [1, 2, 3, 4] + 1e8
    sparse = getattr(LinearAETransformer(2), method)(sp.csr_matrix(X))
    dense = getattr(LinearAETransformer(2), method)(X)
    np.testing.assert_allclose(sparse.explained_variance_, dense.explained_variance_, rtol=1e-6)
    assert sparse.explained_variance_ratio_.sum() <= 1
    skae.save(sparse, tmp_path / "sparse.skae")


def test_a_float32_noise_below_float32_s_normal_numbers_is_no_noise():
    # its inverse overflowed float32: every row scored -inf, where the float64
    # fit of the same rows is finite (PCA raises on these float32 rows)
    X = (np.random.default_rng(0).normal(size=(50, 5)) * [1, 2, 3, 4, 5] * 1e-20).astype(np.float32)
    est = LinearAETransformer(2).fit(X)
    assert 0 < est.noise_variance_ < np.finfo(np.float32).tiny
    with pytest.raises(ValueError, match="model is degenerate"):
        est.score_samples(X)
    assert np.isfinite(LinearAETransformer(2).fit(X.astype(np.float64)).score_samples(X)).all()


def test_float32_variances_at_the_edges_of_its_range(tmp_path):
    import skae

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 5))
    # variances below float32's smallest normal number hold few digits: the model
    # is PCA's, and saves and loads as it is
    tiny = (X * 1e-22).astype(np.float32)
    est = LinearAETransformer(2).fit(tiny)
    np.testing.assert_allclose(
        est.explained_variance_, PCA(2).fit(tiny).explained_variance_, rtol=0.1
    )
    skae.save(est, tmp_path / "tiny.skae")
    np.testing.assert_array_equal(
        skae.load(tmp_path / "tiny.skae").transform(tiny), est.transform(tiny)
    )
    # variances past float32's largest number are an error naming the remedy, and
    # the fitted model before it is kept
    huge = (X * 1e30).astype(np.float32)
    before = est.components_.copy()
    with pytest.raises(
        ValueError, match="exceeds the range of float32; fit on X converted to float64"
    ):
        est.fit(huge)
    np.testing.assert_array_equal(est.components_, before)
    assert np.isfinite(
        LinearAETransformer(2).fit(huge.astype(np.float64)).explained_variance_
    ).all()


@pytest.mark.parametrize("n_components", [0.9, "mle", None])
def test_a_warm_start_on_other_data_keeps_the_width_the_first_fit_found(n_components):
    # it read the width again from the new data and then refused to continue a
    # network "built with n_components=4 (now 1)", though no parameter changed
    rng = np.random.RandomState(0)
    A = rng.randn(50, 6) @ rng.randn(6, 6)
    B = rng.randn(50, 6) * [9, 1, 1, 1, 1, 1]
    est = LinearAETransformer(n_components, warm_start=True).fit(A)
    width = est.n_components_
    assert LinearAETransformer(n_components).fit(B).n_components_ != width or n_components is None
    assert est.fit(B).n_components_ == width  # as partial_fit keeps it
    if n_components is None:  # fewer rows than the fitted components: said so
        with pytest.raises(ValueError, match="continues its network of n_components_=6"):
            est.fit(B[:4])
