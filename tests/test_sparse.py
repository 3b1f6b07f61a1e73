"""Sparse input for every estimator: the same model as from the dense array, every
method, scipy's formats, and memory bounded by a batch or a chunk, never the
dense matrix."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, LinearAETransformer
from skae._chunks import _CHUNK_ROWS, _CHUNK_VALUES, _chunks
from skae.metrics import reconstruction_error

from ._instances import instance, instance_ids, needs_four_features

# the linear autoencoder's sparse arithmetic differs from its dense arithmetic
# (X.T @ X against a sum of centered chunks; the mean projected rather than
# subtracted), so its results agree to rounding rather than bit for bit; L-BFGS
# then stops on a tolerance. The networks that take sparse rows multiply their
# stored entries alone (training without noise, and encoding): the same model to
# float32 rounding; the others see the very same dense batches.
_TOLERANCE = {"linear-lbfgs": 1e-5}
_SPARSE_ROWS = {key for key in instance_ids() if key.startswith(("ae", "vae"))} - {"ae-conv"}


def sparse_data(key, n_samples=120, seed=0):
    """Values in [0, 1], about 70 % of them zero, as every configuration takes."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, 4 if needs_four_features(key) else 12))
    X[X < 0.7] = 0.0
    return X


def with_randomness(key):
    """Configuration ``key`` with its random draws on: early stopping (a random
    validation split) wherever the solver trains in minibatches."""
    est = instance(key, random_state=0)
    if "early_stopping" in est.get_params() and not key.startswith(("linear", "ae-lbfgs")):
        est.set_params(early_stopping=True, validation_fraction=0.2)
    if key == "linear-minibatch":
        est.set_params(early_stopping=True, validation_fraction=0.2)
    if key == "ae-lbfgs":
        # its line search turns float32 rounding into other steps within epochs
        est.set_params(max_iter=1)
    return est


def assert_same(key, sparse_result, dense_result):
    if key.startswith("linear"):
        atol = _TOLERANCE.get(key, 1e-10)
        np.testing.assert_allclose(sparse_result, dense_result, rtol=1e-10, atol=atol)
    elif key in _SPARSE_ROWS:
        # L-BFGS's line search amplifies rounding from step to step
        rtol, atol = (1e-3, 1e-3) if key == "ae-lbfgs" else (1e-4, 1e-6)
        np.testing.assert_allclose(sparse_result, dense_result, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(sparse_result, dense_result)


@pytest.mark.parametrize("key", instance_ids())
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_on_sparse_input_is_the_fit_on_the_dense_array(key):
    X = sparse_data(key)
    dense = with_randomness(key).fit(X)
    sparse = with_randomness(key).fit(sp.csr_matrix(X))
    assert sparse.__sklearn_tags__().input_tags.sparse
    # the same batches in the same order, the same noise, dropout and split
    assert_same(key, sparse.transform(X), dense.transform(X))
    assert_same(key, sparse.loss_curve_, dense.loss_curve_)
    # and a fitted model gives the same answers for sparse and dense input
    S = sp.csr_matrix(X)
    for method in ("transform", "score_samples", "decision_function", "predict"):
        if hasattr(sparse, method):
            same = getattr(sparse, method)(S), getattr(sparse, method)(X)
            assert_same(key if method != "predict" else "", *same)
    assert_same(key, sparse.score(S), sparse.score(X))
    assert_same(key, reconstruction_error(sparse, S), reconstruction_error(sparse, X))


@pytest.mark.parametrize("key", instance_ids())
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_on_sparse_chunks_is_partial_fit_on_dense_ones(key):
    X = sparse_data(key, n_samples=90)
    dense, sparse = instance(key, random_state=0), instance(key, random_state=0)
    for rows in (slice(0, 40), slice(40, 90)):
        dense.partial_fit(X[rows])
        sparse.partial_fit(sp.csr_matrix(X[rows]))
    assert_same(key, sparse.transform(X), dense.transform(X))


@pytest.mark.parametrize(
    "container",
    [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.lil_matrix, sp.csr_array, sp.csc_array],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("key", ["ae-variants", "vae", "ae-detector", "linear-minibatch"])
def test_every_scipy_format_gives_the_same_model(key, container):
    X = sparse_data(key)
    reference = with_randomness(key).fit(sp.csr_matrix(X)).transform(X)
    np.testing.assert_array_equal(with_randomness(key).fit(container(X)).transform(X), reference)


@pytest.mark.parametrize("key", instance_ids())
def test_duplicate_entries_are_summed_without_touching_the_callers_matrix(key):
    # in every row a duplicate entry (column 1) and unsorted column indices:
    # scipy's own sums and extremes would put the matrix in canonical form in place
    n, width = 30, 4 if needs_four_features(key) else 12
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 0.5, size=4 * n)
    columns = np.array([rng.choice(width, size=3, replace=False) for _ in range(n)])
    columns = columns[:, [0, 0, 2, 1]]  # the first twice, the others in either order
    indices, indptr = columns.ravel(), np.arange(0, 4 * n + 1, 4)
    X = sp.csr_matrix((data, indices, indptr), shape=(n, width))
    assert not X.has_canonical_format
    before = [X.data.copy(), X.indices.copy(), X.indptr.copy()]
    dense = X.toarray()  # the duplicates summed
    est = instance(key, random_state=0).fit(X)
    est.transform(X)
    est.score_samples(X)
    for array, copy in zip([X.data, X.indices, X.indptr], before, strict=True):
        np.testing.assert_array_equal(array, copy)
    assert_same(
        key, est.transform(dense), instance(key, random_state=0).fit(dense).transform(dense)
    )


def test_training_and_inference_densify_a_batch_or_a_chunk_never_the_matrix():
    # a Generator draws the positions of the non-zeros in no time (a RandomState
    # permutes all 80 million positions first: 5 s)
    rng = np.random.default_rng(0)
    X = sp.random(20_000, 4_000, density=0.002, format="csr", dtype=np.float32, random_state=rng)
    dense_bytes = X.shape[0] * X.shape[1] * 4  # 320 MB
    est = AutoencoderTransformer(4, hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    est.fit(X[:500])  # first-call allocations out of the measurement
    tracemalloc.start()
    est.set_params(warm_start=True).fit(X)
    Z = est.transform(X)
    scores = est.score_samples(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert Z.shape == (20_000, 4) and scores.shape == (20_000,)
    # a chunk of 2,097 dense rows is 34 MB (4,096 of them would be 66 MB), and
    # scoring holds it with its reconstruction; the dense matrix is 320 MB
    assert peak < 80 * 2**20 < dense_bytes / 3


@pytest.mark.parametrize("width", [1, 100, 784, 5_000, 50_000, 10**7])
def test_chunks_bound_rows_and_values(width):
    pieces = list(_chunks(30_000, width))
    assert pieces[0].start == 0 and pieces[-1].stop == 30_000
    rows = pieces[0].stop - pieces[0].start
    assert 1 <= rows <= _CHUNK_ROWS
    assert rows * width <= max(_CHUNK_VALUES, width)


def test_one_hot_and_text_pipelines_reach_the_autoencoder_sparse():
    rng = np.random.default_rng(0)
    colors = rng.choice([f"c{i}" for i in range(50)], size=(300, 1))
    numbers = rng.normal(size=(300, 2))
    columns = ColumnTransformer(
        [("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(), [2])], sparse_threshold=0.3
    )
    table = np.hstack([numbers, colors]).astype(object)
    features = columns.fit_transform(table)
    assert sp.issparse(features)
    pipe = make_pipeline(columns, AutoencoderTransformer(3, max_iter=3, random_state=0))
    np.testing.assert_allclose(
        pipe.fit_transform(table),
        AutoencoderTransformer(3, max_iter=3, random_state=0).fit_transform(features.toarray()),
        rtol=1e-4,
        atol=1e-6,
    )
    words = [" ".join(rng.choice(["ant", "bee", "cat", "dog", "eel"], size=6)) for _ in range(80)]
    text = make_pipeline(TfidfVectorizer(), LinearAETransformer(2))
    assert text.fit_transform(words).shape == (80, 2)


def test_a_feature_never_observed_in_a_weighted_sparse_fit_counts_exactly_zero():
    # the observed weight was the rows' total minus the missing entries' weight,
    # two sums in other orders: 7e-15 took the feature for observed, and -4e-15
    # made a model that skae.save refused
    X = sp.random(37, 4, density=0.5, format="lil", random_state=np.random.default_rng(0))
    X[:, 2] = np.nan
    X = X.tocsr()
    weights = np.random.default_rng(1).uniform(0.1, 3, 37)
    params = dict(hidden_layer_sizes=(3,), max_iter=1, n_iter_no_change=None, random_state=0)
    sparse = AutoencoderTransformer(2, **params).fit(X, sample_weight=weights)
    dense = AutoencoderTransformer(2, **params).fit(X.toarray(), sample_weight=weights)
    assert sparse.n_observed_[2] == 0
    arrived = X.tolil()
    arrived[:, 2] = 5.0
    arrived = arrived.tocsr()
    np.testing.assert_allclose(
        sparse.transform(arrived), dense.transform(arrived.toarray()), rtol=1e-5, atol=1e-6
    )
