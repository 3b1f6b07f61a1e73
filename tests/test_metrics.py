"""The reconstruction scorer: one scale for PCA, skae and any invertible transformer."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF, PCA, KernelPCA, TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, LinearAETransformer, VAETransformer
from skae.metrics import reconstruction_error, reconstruction_scorer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def by_hand(estimator, X):
    reconstructed = np.asarray(estimator.inverse_transform(estimator.transform(X)))
    original = X.toarray() if sp.issparse(X) else np.asarray(X)
    return ((original - reconstructed) ** 2).mean(axis=1)


def test_errors_match_a_hand_computation_for_pca_and_a_pipeline(wine):
    pca = PCA(3).fit(wine)
    np.testing.assert_allclose(reconstruction_error(pca, wine), by_hand(pca, wine), rtol=1e-12)
    pipe = Pipeline([("scale", StandardScaler()), ("reduce", PCA(3))]).fit(wine * 7 + 2)
    raw = wine * 7 + 2
    # a pipeline reconstructs in its own input space, through the scaler's inverse
    np.testing.assert_allclose(reconstruction_error(pipe, raw), by_hand(pipe, raw), rtol=1e-12)
    assert reconstruction_scorer(pipe, raw) == pytest.approx(-by_hand(pipe, raw).mean())


def test_chunked_errors_equal_the_whole_computation(monkeypatch, wine):
    monkeypatch.setattr("skae._chunks._CHUNK_ROWS", 7)
    pca = PCA(2).fit(wine)
    np.testing.assert_allclose(reconstruction_error(pca, wine), by_hand(pca, wine), rtol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [
        TruncatedSVD(3, random_state=0),
        KernelPCA(3, fit_inverse_transform=True),
        NMF(3, init="nndsvda", max_iter=500, random_state=0),
    ],
)
def test_any_transformer_with_inverse_transform(estimator, digits01):
    X = digits01[:200]
    estimator.fit(X)
    np.testing.assert_allclose(reconstruction_error(estimator, X), by_hand(estimator, X))


def test_sparse_and_dataframe_input(wine):
    pd = pytest.importorskip("pandas")
    X = sp.csr_matrix(np.abs(wine))
    svd = TruncatedSVD(3, random_state=0).fit(X)
    np.testing.assert_allclose(reconstruction_error(svd, X), by_hand(svd, X), rtol=1e-12)
    frame = pd.DataFrame(wine, columns=[f"f{i}" for i in range(wine.shape[1])])
    pca = PCA(2).fit(frame)
    np.testing.assert_allclose(reconstruction_error(pca, frame), by_hand(pca, frame), rtol=1e-12)


def test_estimator_without_inverse_transform_is_named(wine):
    kmeans = KMeans(3, n_init=1, random_state=0).fit(wine)
    with pytest.raises(TypeError, match="KMeans has no inverse_transform method"):
        reconstruction_scorer(kmeans, wine)


def test_unsupervised_search_ranks_pca_and_autoencoders_on_one_scale(wine):
    # without scoring=, each candidate would be ranked by its own score: PCA's
    # log-likelihood against the autoencoders' negative squared error
    pipe = Pipeline([("scale", StandardScaler()), ("reduce", PCA())])
    grid = {
        "reduce": [
            PCA(),
            LinearAETransformer(random_state=0),
            AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=3, random_state=0),
        ],
        "reduce__n_components": [2, 8],
    }
    search = GridSearchCV(pipe, grid, cv=3, scoring=reconstruction_scorer).fit(wine)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_score_ == scores.max()
    # the scores are reconstruction errors: recompute one by hand, PCA with 8 components
    best = search.best_estimator_
    assert reconstruction_scorer(best, wine) == pytest.approx(-by_hand(best, wine).mean())
    folds = cross_validate(
        Pipeline([("scale", StandardScaler()), ("reduce", PCA(8))]),
        wine,
        cv=3,
        scoring=reconstruction_scorer,
    )
    i = next(
        i
        for i, p in enumerate(search.cv_results_["params"])
        if isinstance(p["reduce"], PCA) and p["reduce__n_components"] == 8
    )
    assert scores[i] == pytest.approx(folds["test_score"].mean())
    # a trained 8-component PCA reconstructs better than any 2-component candidate
    params = search.cv_results_["params"]
    two = [s for s, p in zip(scores, params, strict=True) if p["reduce__n_components"] == 2]
    assert scores[i] > max(two)


def test_lists_and_coo_matrices_are_accepted_as_by_sklearn_scorers(wine):
    pca = PCA(2).fit(wine)
    expected = reconstruction_scorer(pca, wine)
    assert reconstruction_scorer(pca, wine.tolist()) == pytest.approx(expected)
    svd = TruncatedSVD(2, random_state=0).fit(np.abs(wine))
    coo = sp.coo_matrix(np.abs(wine))
    assert reconstruction_scorer(svd, coo) == pytest.approx(reconstruction_scorer(svd, coo.tocsr()))


def test_object_rows_are_read_as_the_estimator_reads_them(wine):
    # a list of rows with None where missing, and numbers written as strings:
    # the estimator took them, and the metrics subtracted None and str from floats
    est = AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    X = wine[:30] / wine[:30].max(axis=0)
    holes = X.copy()
    holes[0, 1] = np.nan
    est.fit(holes)
    expected = reconstruction_error(est, holes)
    rows = holes.tolist()
    rows[0][1] = None
    np.testing.assert_array_equal(reconstruction_error(est, rows), expected)
    assert reconstruction_scorer(est, rows) == reconstruction_scorer(est, holes)
    strings = X.astype(str).astype(object)
    np.testing.assert_array_equal(reconstruction_error(est, strings), reconstruction_error(est, X))
    # rows the estimator refuses get its own error (not only numpy's, which it starts with)
    with pytest.raises(ValueError, match=r"column 0 of X holds 'text', which is not a number"):
        reconstruction_error(est, np.where(X > 0.5, "text", X.astype(str)))


def test_a_single_row_must_be_reshaped(wine):
    pca = PCA(2).fit(wine)
    with pytest.raises(ValueError, match=r"Expected a 2D array.*reshape"):
        reconstruction_error(pca, wine[0])


def test_pandas_nullable_columns_and_their_missing_entries():
    # pd.NA in a nullable column is a missing entry, as in the estimators' own
    # methods; a nullable frame without one is a frame of numbers
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    X[[0, 5], 0] = np.nan
    frame = pd.DataFrame({"x": pd.array(X[:, 0], dtype="Float64"), "z": X[:, 1], "w": X[:, 2]})
    est = AutoencoderTransformer(2, max_iter=2, random_state=0).fit(X)
    np.testing.assert_array_equal(reconstruction_error(est, frame), reconstruction_error(est, X))
    np.testing.assert_array_equal(
        reconstruction_error(est, frame, per_feature=True),
        reconstruction_error(est, X, per_feature=True),
    )
    objects = frame.astype(object).where(frame.notna(), None)
    np.testing.assert_array_equal(reconstruction_error(est, objects), reconstruction_error(est, X))
    complete = frame.dropna().astype("Float64")
    pca = PCA(2).fit(X[~np.isnan(X).any(axis=1)])
    np.testing.assert_allclose(
        reconstruction_error(pca, complete), reconstruction_error(pca, complete.to_numpy(float))
    )


def test_a_reconstruction_that_overflows_is_an_infinite_error_not_a_hole():
    # a finite float32 row whose reconstruction overflows (inf - inf is NaN) has
    # every entry observed: its error is infinite, its score -inf, not refused
    X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    row = np.array([[3e38, -3e38, 3e38, -3e38]], dtype=np.float32)
    est = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(X)
    assert est.score_samples(row)[0] == -np.inf
    holes = np.array([[np.nan, 1.0, 2.0, 3.0]], dtype=np.float32)
    assert np.isnan(reconstruction_error(est, holes, per_feature=True)[0, 0])


def test_the_scorer_takes_the_weights_a_search_routes_to_it():
    # a plain function requested nothing: a weighted search measured every row,
    # the rows of weight zero (100 times the others) included
    import sklearn
    from sklearn.model_selection import cross_validate

    from skae import LinearAETransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    X[1::2] *= 100
    weights = np.tile([1.0, 0.0], 20)
    with pytest.raises(RuntimeError, match="needs metadata routing"):
        reconstruction_scorer.set_score_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        est = LinearAETransformer(2).set_fit_request(sample_weight=True)
        scorer = reconstruction_scorer.set_score_request(sample_weight=True)
        scores = cross_validate(
            est, X, scoring=scorer, params={"sample_weight": weights}, cv=2, return_estimator=True
        )
        for score, fitted, test in zip(
            scores["test_score"], scores["estimator"], [range(20), range(20, 40)], strict=True
        ):
            light = [i for i in test if weights[i] > 0]
            expected = -reconstruction_error(fitted, X[light]).mean()
            assert score == pytest.approx(expected, rel=1e-12)
        # the scorer itself still requests nothing: passing weights to it is an error
        with pytest.raises(Exception, match="not explicitly set as requested"):
            cross_validate(est, X, scoring=reconstruction_scorer, params={"sample_weight": weights})
    assert reconstruction_scorer(est.fit(X), X, sample_weight=weights) == pytest.approx(
        -reconstruction_error(est, X[::2]).mean(), rel=1e-12
    )
    # a row of weight zero is not measured, though it has nothing observed
    holes = X.copy()
    holes[1] = np.nan
    assert reconstruction_scorer(est, holes, sample_weight=weights) == pytest.approx(
        -reconstruction_error(est, X[::2]).mean(), rel=1e-12
    )
    # the scorer that requests sets its request as scikit-learn's scorers do
    with sklearn.config_context(enable_metadata_routing=True):
        assert scorer.set_score_request(sample_weight=False) is scorer
        assert repr(scorer) == "reconstruction_scorer.set_score_request(sample_weight=False)"
        assert reconstruction_scorer.set_score_request(sample_weight="w") is not scorer


@pytest.mark.parametrize(
    "Estimator, params",
    [
        (AutoencoderTransformer, {"loss": "bce", "output_activation": "sigmoid"}),
        (VAETransformer, {"likelihood": "bernoulli"}),
    ],
)
def test_numeric_columns_beside_categories_are_measured_by_squared_error(Estimator, params):
    # with a Bernoulli model they were measured by its divergence (twice the
    # squared error here), and without categories by squared error
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(60), "b": rng.random(60), "c": rng.choice(["x", "y"], 60)})
    est = Estimator(
        1, hidden_layer_sizes=(4,), categorical_features=["c"], max_iter=2, random_state=0, **params
    ).fit(X)
    reconstruction = est.inverse_transform(est.transform(X))
    squared = (reconstruction[["a", "b"]].to_numpy() - X[["a", "b"]].to_numpy()) ** 2
    errors = reconstruction_error(est, X, per_feature=True)
    np.testing.assert_allclose(errors[:, :2], squared, rtol=1e-5)


def test_a_fitted_search_is_measured_as_its_best_estimator():
    # it was measured as an unknown transformer: a feature never observed counted
    # against its fill, and categories failed in NumPy's words
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, n_iter_no_change=None)
    X = rng.rand(30, 3)
    X[:, 1] = np.nan
    search = GridSearchCV(AutoencoderTransformer(2, **params), {"alpha": [0.0]}, cv=2).fit(X)
    T = rng.rand(3, 3)
    expected = reconstruction_error(search.best_estimator_, T, per_feature=True)
    assert np.isnan(expected[:, 1]).all()
    np.testing.assert_array_equal(reconstruction_error(search, T, per_feature=True), expected)
    frame = pd.DataFrame({"a": rng.rand(30), "c": rng.choice(["x", "y"], 30)})
    categorical = AutoencoderTransformer(1, categorical_features="from_dtype", **params)
    search = GridSearchCV(Pipeline([("ae", categorical)]), {"ae__alpha": [0.0]}, cv=2).fit(frame)
    np.testing.assert_array_equal(
        reconstruction_error(search, frame), reconstruction_error(search.best_estimator_, frame)
    )


def test_no_rows_are_the_estimator_s_answer():
    # an unfitted estimator, or rows of another width, gave an empty result, and
    # the scorer NaN with NumPy's "Mean of empty slice"
    X = np.random.default_rng(0).random((20, 5))
    with pytest.raises(NotFittedError):
        reconstruction_error(PCA(2), np.empty((0, 3)))
    with pytest.raises(ValueError, match="0 sample"):
        reconstruction_scorer(PCA(2).fit(X), np.empty((0, 5)))


def test_a_dask_dataframe_and_rows_of_unknown_number_are_measured():
    dd = pytest.importorskip("dask.dataframe")
    da = pytest.importorskip("dask.array")
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).random((30, 4))
    frame = pd.DataFrame(X, columns=list("abcd"))
    pca = PCA(2).fit(frame)
    expected = reconstruction_error(pca, frame)
    np.testing.assert_allclose(
        reconstruction_error(pca, dd.from_pandas(frame, npartitions=3)), expected
    )
    D = da.from_array(X, chunks=10)
    kept = X[:, 0] > 0.5
    np.testing.assert_allclose(
        reconstruction_error(PCA(2).fit(X), D[D[:, 0] > 0.5]),
        reconstruction_error(PCA(2).fit(X), X[kept]),
    )


def test_per_feature_must_be_a_bool():
    X = np.random.default_rng(0).random((20, 5))
    with pytest.raises(TypeError, match="per_feature must be a bool"):
        reconstruction_error(PCA(2).fit(X), X, per_feature="no")
