"""GridSearchCV over skae estimators on a Dask cluster, through joblib's dask backend."""

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer, LinearAETransformer

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # the cluster's own shutdown chatter
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


def _search(**params):
    grid = {
        "n_components": [2, 4],
        "hidden_layer_sizes": [(8,), (16,)],
    }
    ae = AutoencoderTransformer(max_iter=6, batch_size=32, random_state=0, device="auto")
    return GridSearchCV(ae, grid, cv=3, error_score="raise", **params)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_search_on_the_cluster_matches_the_local_search(client, wine):
    local = _search().fit(wine)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote = _search(n_jobs=-1).fit(wine)
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    assert remote.best_params_ == local.best_params_
    # the workers run torch on one thread each, so sums may round differently
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=1e-4
    )
    np.testing.assert_allclose(
        remote.best_estimator_.transform(wine), local.best_estimator_.transform(wine), atol=1e-4
    )


def test_workers_honour_the_device_parameter(client, wine):
    search = GridSearchCV(
        LinearAETransformer(device="cuda:0"), {"n_components": [2]}, cv=2, error_score="raise"
    )
    ran = client.run(lambda: __import__("torch").cuda.is_available())
    if any(ran.values()):
        pytest.skip("the workers have a GPU; test_cuda.py covers training there")
    with (
        joblib.parallel_backend("dask"),
        pytest.raises(ValueError, match="device='cuda:0' was requested but CUDA is not available"),
    ):
        search.fit(wine)


dask_ml = pytest.importorskip("dask_ml.wrappers")


@pytest.mark.parametrize(
    "estimator",
    [
        AutoencoderTransformer(3, hidden_layer_sizes=(8,), random_state=0),
        LinearAETransformer(3, random_state=0),
        LinearAETransformer(3, solver="minibatch", batch_size=32, random_state=0),
    ],
    ids=["autoencoder", "linear-covariance", "linear-minibatch"],
)
def test_incremental_trains_block_by_block_on_the_cluster(client, wine, estimator):
    import dask.array as da

    X = da.from_array(wine, chunks=(45, wine.shape[1]))  # 4 blocks on the workers
    remote = dask_ml.Incremental(estimator, shuffle_blocks=False).fit(X).estimator_
    local = clone(estimator)
    for start in range(0, len(wine), 45):
        local.partial_fit(wine[start : start + 45])
    # the same chunks in the same order: the same model, up to the workers' rounding
    assert remote.n_iter_ == local.n_iter_
    np.testing.assert_allclose(remote.transform(wine), local.transform(wine), atol=1e-4)
    if isinstance(estimator, LinearAETransformer):
        assert remote.n_samples_seen_ == len(wine)
        np.testing.assert_allclose(remote.mean_, wine.mean(axis=0), atol=1e-12)


def test_parallel_post_fit_transforms_and_scores_block_by_block(client, wine):
    import dask.array as da

    from skae.metrics import reconstruction_error, reconstruction_scorer

    est = LinearAETransformer(3, random_state=0).fit(wine)
    X = da.from_array(wine, chunks=(45, wine.shape[1]))
    codes = dask_ml.ParallelPostFit(est).transform(X)
    np.testing.assert_array_equal(codes.compute(), est.transform(wine))
    errors = X.map_blocks(lambda b: reconstruction_error(est, b), drop_axis=1, dtype=float)
    assert -float(errors.mean().compute()) == pytest.approx(reconstruction_scorer(est, wine))


# -- the linear autoencoder on a Dask array ----------------------------------------

da = pytest.importorskip("dask.array")


def _local_and_dask(n_rows=3000, n_features=12, chunks=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)) * np.linspace(1, 4, n_features) + 5
    return X, da.from_array(X, chunks=(chunks, n_features))


@pytest.mark.parametrize(
    "params", [{}, {"whiten": True}, {"n_components": 0.9}, {"solver": "lbfgs"}]
)
def test_a_dask_array_fits_the_local_model(params):
    X, D = _local_and_dask()
    params = {"n_components": 4, "random_state": 0} | params
    local = LinearAETransformer(**params).fit(X)
    remote = LinearAETransformer(**params).fit(D)
    tolerance = 1e-6 if params.get("solver") == "lbfgs" else 1e-10
    assert remote.n_components_ == local.n_components_ and remote.n_samples_seen_ == 3000
    for name in ("mean_", "components_", "explained_variance_", "singular_values_"):
        # relative to each attribute's scale: an entry of a unit component near 0
        # (4e-5) carries the solver's absolute error
        expected = getattr(local, name)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(
            getattr(remote, name), expected, rtol=tolerance, atol=tolerance * scale
        )
    assert remote.noise_variance_ == pytest.approx(local.noise_variance_, rel=tolerance)


def test_dask_in_dask_out_lazily_and_equal_to_the_local_results():
    X, D = _local_and_dask()
    lae = LinearAETransformer(4).fit(X)
    Z = lae.transform(D)
    assert isinstance(Z, da.Array) and Z.shape == (3000, 4)
    np.testing.assert_allclose(Z.compute(), lae.transform(X), atol=1e-12)
    back = lae.inverse_transform(Z)
    assert isinstance(back, da.Array)
    np.testing.assert_allclose(back.compute(), lae.inverse_transform(lae.transform(X)), atol=1e-12)
    scores = lae.score_samples(D)
    assert isinstance(scores, da.Array) and scores.shape == (3000,)
    np.testing.assert_allclose(scores.compute(), lae.score_samples(X), rtol=1e-12)


def test_partial_fit_merges_dask_blocks_into_the_running_moments():
    X, D = _local_and_dask()
    streamed = LinearAETransformer(4)
    for start in range(0, 3000, 1000):
        streamed.partial_fit(D[start : start + 1000])
    local = LinearAETransformer(4).fit(X)
    np.testing.assert_allclose(streamed.components_, local.components_, atol=1e-10)
    assert streamed.n_samples_seen_ == 3000


def test_the_client_never_holds_the_whole_array():
    import tracemalloc

    import dask

    # 80 MB of rows generated block by block; the blocks' moments are 1 KB each
    D = da.random.RandomState(0).normal(size=(200_000, 50), chunks=(10_000, 50))
    with dask.config.set(scheduler="synchronous"):
        tracemalloc.start()
        lae = LinearAETransformer(5).fit(D)
        scores = lae.score_samples(D).mean().compute()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert np.isfinite(scores) and lae.n_samples_seen_ == 200_000
    assert peak < D.nbytes / 4  # a few blocks of 4 MB, never the 80 MB


def test_bad_dask_input_is_a_clear_error():
    X, D = _local_and_dask()
    # NaN is a missing value (tests/test_linear_missing.py); infinity is refused
    with pytest.raises(ValueError, match="infinity"):
        LinearAETransformer(2).fit(da.from_array(np.where(X > 8, np.inf, X), chunks=400))
    with pytest.raises(ValueError, match="minibatch"):
        LinearAETransformer(2, solver="minibatch").fit(D)
    with pytest.raises(ValueError, match="sample_weight"):
        LinearAETransformer(2).fit(D, sample_weight=np.ones(3000))
    lae = LinearAETransformer(2).fit(D)
    with pytest.raises(ValueError, match="features"):
        lae.partial_fit(D[:, :5])
    # a Dask Series, named as scikit-learn names a pandas one (it was a TypeError
    # about iterating a dtype)
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    series = dd.from_pandas(pd.Series(X[:, 0]), npartitions=2)
    with pytest.raises(ValueError, match="Expected a 2-dimensional container"):
        LinearAETransformer(1).fit(series)


def test_blocks_of_no_rows_fit_and_map_as_the_rows_the_others_hold():
    # masking leaves a block of no rows (dask-ml's PCA fits such an array)
    X, D = _local_and_dask(n_rows=120, n_features=5, chunks=40)
    drop = np.zeros(len(X), dtype=bool)
    drop[40:80] = True
    masked = D[da.from_array(~drop, chunks=40)]
    masked.compute_chunk_sizes()
    assert 0 in masked.chunks[0]
    local = LinearAETransformer(2).fit(X[~drop])
    remote = LinearAETransformer(2).fit(masked)
    assert remote.n_samples_seen_ == 80
    np.testing.assert_allclose(remote.components_, local.components_, rtol=1e-10)
    np.testing.assert_allclose(remote.mean_, local.mean_, rtol=1e-12)
    codes = local.transform(masked)
    np.testing.assert_array_equal(codes.compute(), local.transform(X[~drop]))
    back = local.inverse_transform(codes).compute()
    np.testing.assert_array_equal(back, local.inverse_transform(local.transform(X[~drop])))
    scores = local.score_samples(masked).compute()
    np.testing.assert_array_equal(scores, local.score_samples(X[~drop]))
    with pytest.raises(ValueError, match="0 sample"):
        LinearAETransformer(2).fit(masked[:0])


def test_a_dask_dataframe_of_numeric_columns_of_several_kinds_fits_as_pandas():
    # bool, nullable Int64 and Float64 (pd.NA missing) beside floats: an object
    # array, refused, unless the columns become floats first, as pandas' do
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, _ = _local_and_dask(n_rows=120, n_features=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
        a=lambda f: f["a"].astype("Float64"),
        d=np.arange(120) % 2 == 0,
        e=pd.array(np.arange(120) % 5, dtype="Int64"),
    )
    frame.loc[[3, 50], "a"] = pd.NA
    local = LinearAETransformer(2).fit(frame)
    remote = LinearAETransformer(2).fit(dd.from_pandas(frame, npartitions=3))
    np.testing.assert_allclose(remote.components_, local.components_, rtol=1e-8, atol=1e-12)
    assert remote.n_samples_seen_ == local.n_samples_seen_ == 120
    # float32 beside bool stays float32, as in pandas; a complex column is refused
    small = frame[["b", "c", "d"]].astype({"b": np.float32, "c": np.float32})
    remote = LinearAETransformer(2).fit(dd.from_pandas(small, npartitions=2))
    assert remote.components_.dtype == LinearAETransformer(2).fit(small).components_.dtype
    assert remote.components_.dtype == np.float32
    with pytest.raises(ValueError, match="complex64 is not numeric"):
        LinearAETransformer(2).fit(dd.from_pandas(small.assign(d=small["b"] + 2j), npartitions=2))
    # a categorical column of numbers is taken by its values, as in pandas
    coded = frame[["b", "c"]].assign(k=pd.Categorical(np.arange(120) % 3 + 1))
    remote = LinearAETransformer(2).fit(dd.from_pandas(coded, npartitions=2))
    np.testing.assert_allclose(remote.mean_, LinearAETransformer(2).fit(coded).mean_)


def test_a_dask_dataframe_is_its_array_with_its_column_names():
    import warnings

    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, _ = _local_and_dask(n_rows=120, n_features=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    D = dd.from_pandas(frame, npartitions=3)
    local = LinearAETransformer(2).fit(frame)
    remote = LinearAETransformer(2).fit(D)
    np.testing.assert_array_equal(remote.feature_names_in_, local.feature_names_in_)
    np.testing.assert_allclose(remote.components_, local.components_, rtol=1e-10)
    codes = local.transform(D)
    assert isinstance(codes, da.Array)
    np.testing.assert_array_equal(codes.compute(), local.transform(frame))
    np.testing.assert_array_equal(local.score_samples(D).compute(), local.score_samples(frame))
    # names checked once, on the client: a bare array warns once, not per block
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        local.transform(da.from_array(X, chunks=40)).compute()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "does not have valid feature names" in messages[0]
    with pytest.raises(ValueError, match="feature names should match"):
        local.transform(D.rename(columns={"a": "z"}))
    # a frame without string names has none, as in pandas
    unnamed = LinearAETransformer(2).fit(dd.from_pandas(pd.DataFrame(X), npartitions=2))
    assert not hasattr(unnamed, "feature_names_in_")


@pytest.mark.parametrize(
    "name", ["AutoencoderTransformer", "VAEOutlierDetector", "AutoencoderImputer"]
)
def test_a_network_reads_a_dask_dataframe_as_its_pandas_frame(name):
    # the networks gave the frame to validate_data, which reads no names from
    # Dask: columns given in another order were taken silently (codes 0.5 off),
    # and a nullable column with pd.NA, which a pandas frame passes, was a TypeError
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    import skae

    X, _ = _local_and_dask(n_rows=60, n_features=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
        c=lambda f: f["c"].round().astype("Int64")
    )
    frame.loc[[2, 7], "c"] = pd.NA
    params = dict(n_components=2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    remote = getattr(skae, name)(**params).fit(dd.from_pandas(frame, npartitions=2))
    local = getattr(skae, name)(**params).fit(frame)
    np.testing.assert_array_equal(remote.feature_names_in_, ["a", "b", "c"])
    infer = remote.score_samples if name == "VAEOutlierDetector" else remote.transform
    np.testing.assert_array_equal(
        infer(frame),
        (local.score_samples if name == "VAEOutlierDetector" else local.transform)(frame),
    )
    with pytest.raises(ValueError, match="feature names should match"):
        infer(dd.from_pandas(frame[["c", "b", "a"]], npartitions=2))


def test_blocks_of_unknown_sizes_fit_and_map_as_known_ones():
    # a masked array or a filtered DataFrame was refused until its sizes were
    # computed, a pass over the data that nothing here needs
    X, D = _local_and_dask()
    keep = X[:, 0] > 5
    unknown = D[D[:, 0] > 5]
    assert np.isnan(unknown.shape[0])
    local = LinearAETransformer(2).fit(X[keep])
    remote = LinearAETransformer(2).fit(unknown)
    assert remote.n_samples_seen_ == keep.sum()
    np.testing.assert_allclose(remote.components_, local.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(local.transform(unknown).compute(), local.transform(X[keep]))
    np.testing.assert_array_equal(
        local.score_samples(unknown).compute(), local.score_samples(X[keep])
    )
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    filtered = dd.from_pandas(frame, npartitions=3)
    filtered = filtered[filtered["x0"] > 5]
    named = LinearAETransformer(2).fit(filtered)
    assert named.n_samples_seen_ == keep.sum()
    np.testing.assert_allclose(named.components_, local.components_, rtol=1e-10, atol=1e-12)
    assert named.transform(filtered).compute().shape == (keep.sum(), 2)


def test_nullable_columns_make_float64_as_in_pandas():
    # NumPy's common type of the values was float32 for Float32, or float32 beside
    # a nullable boolean: scikit-learn converts such a pandas DataFrame to float64
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, _ = _local_and_dask(n_rows=60, n_features=3)
    frames = [
        pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float32"),
        pd.DataFrame(
            {"a": X[:, 0].astype(np.float32), "b": pd.array(X[:, 1] > 0, dtype="boolean")}
        ),
    ]
    for frame in frames:
        local = LinearAETransformer(1).fit(frame)
        remote = LinearAETransformer(1).fit(dd.from_pandas(frame, npartitions=2))
        assert remote.mean_.dtype == local.mean_.dtype == np.float64
        np.testing.assert_allclose(remote.components_, local.components_, rtol=1e-10)


def test_a_lazy_result_is_the_model_s_at_the_call():
    # the graph held the estimator itself: a refit before compute() changed the
    # result, and one on another width made compute() fail
    X, D = _local_and_dask(n_rows=200, n_features=4, chunks=50)
    est = LinearAETransformer(2).fit(X)
    codes, scores = est.transform(D), est.score_samples(D)
    back = est.inverse_transform(codes)
    expected = est.transform(X), est.score_samples(X), est.inverse_transform(est.transform(X))
    est.fit(np.random.default_rng(1).normal(size=(50, 6)))
    for lazy, value in zip((codes, scores, back), expected, strict=True):
        np.testing.assert_array_equal(lazy.compute(), value)
