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
    ae = AutoencoderTransformer(max_iter=15, batch_size=32, random_state=0, device="auto")
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
