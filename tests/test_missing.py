"""Missing values (NaN) in the network estimators: every configuration trains and
infers on rows with holes, the losses and scores count observed entries only,
and a row's score does not change its scale because entries went missing."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VAEOutlierDetector,
    VAETransformer,
)
from skae._batches import _Batches, _Rows
from skae._losses import _bernoulli_divergence, _NegativeELBO, _ReconstructionLoss
from skae.metrics import reconstruction_error

from ._instances import instance, instance_ids, needs_four_features, needs_unit_interval

NETWORKS = [k for k in instance_ids() if not k.startswith("linear")]


def _holes(X, rate=0.2, seed=0):
    """``X`` with about ``rate`` of its entries missing, every row keeping one."""
    rng = np.random.default_rng(seed)
    missing = rng.random(X.shape) < rate
    missing[np.arange(len(X)), rng.integers(X.shape[1], size=len(X))] = False
    return np.where(missing, np.nan, X)


def _data(key, n=60):
    rng = np.random.default_rng(0)
    X = rng.random((n, 4 if needs_four_features(key) else 6))
    return X if needs_unit_interval(key) else 3 * X - 1


@pytest.mark.parametrize("key", instance_ids())
def test_every_configuration_fits_and_infers_on_rows_with_holes(key):
    X = _holes(_data(key))
    before = X.copy()
    est = instance(key, random_state=0)
    if not est.__sklearn_tags__().input_tags.allow_nan:
        # a configuration whose tags refuse NaN says so, by name, in fit and
        # in inference alike
        with pytest.raises(ValueError, match="NaN"):
            est.fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(np.nan_to_num(X))
        with pytest.raises(ValueError, match="NaN"):
            est.transform(X)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X).partial_fit(X)
    Z = est.transform(X)
    assert np.isfinite(Z).all() and Z.shape == (len(X), est.n_components_)
    reconstruction = est.inverse_transform(Z)
    assert np.isfinite(reconstruction).all() and reconstruction.shape == X.shape
    assert np.isfinite(est.score_samples(X)).all()
    if hasattr(est, "predict"):
        assert set(np.unique(est.predict(X))) <= {-1, 1}
        assert np.isfinite(est.decision_function(X)).all()
    np.testing.assert_array_equal(X, before)  # the caller's array, holes included


@pytest.mark.parametrize("key", NETWORKS)
def test_complete_rows_infer_as_they_do_beside_no_holes(key):
    # rows are independent: a complete row's outputs do not depend on the holes of
    # the rows around it, and are those of a model that never saw a hole
    X = _data(key)
    est = instance(key, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    mixed = np.vstack([X[:10], _holes(X[10:20], rate=0.5)])
    np.testing.assert_array_equal(est.transform(mixed)[:10], est.transform(X[:10]))
    np.testing.assert_array_equal(est.score_samples(mixed)[:10], est.score_samples(X[:10]))


@pytest.mark.parametrize("key", NETWORKS)
def test_a_missing_entry_enters_the_encoder_as_its_fill_value(key):
    X = _holes(_data(key))
    est = instance(key, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    np.testing.assert_allclose(est.fill_values_, np.nanmean(X, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(est.n_observed_, (~np.isnan(X)).sum(axis=0))
    filled = np.where(np.isnan(X), est.fill_values_, X)
    np.testing.assert_array_equal(est.transform(X), est.transform(filled))


@pytest.mark.parametrize("key", NETWORKS)
def test_a_feature_never_observed_in_training_is_missing_at_inference(key):
    # its input weights and its output were never trained: what it held at
    # transform moved the codes, and a detector flagged 53 % of its own rows
    X = _data(key)
    X[:, 1:] = _holes(X[:, 1:])
    X[:, 0] = np.nan
    est = instance(key, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    assert est.n_observed_[0] == 0
    arrived = X.copy()
    arrived[:, 0] = 0.9 if needs_unit_interval(key) else 40.0
    np.testing.assert_array_equal(est.transform(arrived), est.transform(X))
    np.testing.assert_array_equal(est.score_samples(arrived), est.score_samples(X))
    if hasattr(est, "predict"):
        np.testing.assert_array_equal(est.predict(arrived), est.predict(X))
    # a sparse matrix's column too (its implicit zeros are observed values), and
    # the reconstruction error of skae.metrics, as the scores
    sparse = sp.csr_matrix(arrived)
    np.testing.assert_allclose(est.transform(sparse), est.transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.score_samples(sparse), est.score_samples(X), rtol=1e-5)
    errors = reconstruction_error(est, arrived, per_feature=True)
    assert np.isnan(errors[:, 0]).all()
    with pytest.raises(ValueError, match=f"X has 2 features, but {type(est).__name__}"):
        reconstruction_error(est, arrived[:, :2])
    if key.startswith("ae") and not needs_unit_interval(key):  # minus a squared error
        np.testing.assert_allclose(-est.score_samples(X), np.nanmean(errors, axis=1), rtol=1e-5)


def test_a_pipeline_of_scalers_measures_without_the_never_observed_feature():
    # the Pipeline had no n_observed_: StandardScaler made the feature NaN at every
    # row, and every row's error was inf (a search ranked the candidate -inf)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X = np.random.default_rng(0).normal(size=(30, 4))
    training = X.copy()
    training[:, 3] = np.nan
    params = dict(hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None, random_state=0)
    pipe = make_pipeline(StandardScaler(), "passthrough", AutoencoderTransformer(2, **params))
    errors = reconstruction_error(pipe.fit(training), X, per_feature=True)
    assert np.isnan(errors[:, 3]).all() and np.isfinite(errors[:, :3]).all()
    np.testing.assert_array_equal(errors, reconstruction_error(pipe, training, per_feature=True))
    # the scalers as a Pipeline of their own, the estimator inside another
    nested = make_pipeline(
        make_pipeline(StandardScaler()),
        make_pipeline("passthrough", AutoencoderTransformer(2, **params)),
    )
    errors = reconstruction_error(nested.fit(training), X, per_feature=True)
    assert np.isnan(errors[:, 3]).all() and np.isfinite(errors[:, :3]).all()
    # after a step that may move columns, which column was never observed is
    # unknown in X's terms: every column is measured (the mask would fall on column 0)
    reverse = FunctionTransformer(lambda X: X[:, ::-1], inverse_func=lambda X: X[:, ::-1])
    moved = make_pipeline(reverse, AutoencoderTransformer(2, **params)).fit(training)
    assert np.isfinite(reconstruction_error(moved, X, per_feature=True)).all()


def test_fill_values_are_weighted_means_and_run_over_partial_fit_chunks():
    X = _holes(np.random.default_rng(1).normal(size=(90, 5)))
    weights = np.random.default_rng(2).uniform(0.5, 2, size=90)
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None)
    est.fit(X, sample_weight=weights)
    observed = ~np.isnan(X)
    expected = (weights @ np.where(observed, X, 0)) / (weights @ observed)
    np.testing.assert_allclose(est.fill_values_, expected, rtol=1e-12)
    # a zero weight takes a row out of the means, whatever it holds
    heavy = X.copy()
    heavy[0] = 1e6
    zeroed = weights.copy()
    zeroed[0] = 0
    clean = np.delete(X, 0, axis=0)
    a = est.fit(heavy, sample_weight=zeroed).fill_values_
    b = est.fit(clean, sample_weight=np.delete(weights, 0)).fill_values_
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # chunks of a stream: the running mean is the mean of every chunk seen
    stream = AutoencoderTransformer(2, hidden_layer_sizes=(4,))
    for rows in np.array_split(np.arange(90), 3):
        stream.partial_fit(X[rows])
    np.testing.assert_allclose(stream.fill_values_, np.nanmean(X, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(stream.n_observed_, observed.sum(axis=0))


def test_fill_values_skip_the_masks_only_in_chunks_without_holes(monkeypatch):
    # chunks of 20 rows: the first two complete (their sums need no mask), the third
    # with holes, the fourth with a hole in a row of weight zero only
    monkeypatch.setattr("skae._chunks._CHUNK_ROWS", 20)
    X = np.random.default_rng(3).normal(size=(80, 4))
    X[45, 1] = X[50, 3] = X[67, 0] = np.nan
    weights = np.random.default_rng(4).uniform(0.5, 2, size=80)
    weights[67] = 0
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=1, n_iter_no_change=None)
    observed = ~np.isnan(X)
    for w in (None, weights):
        est.fit(X, sample_weight=w)
        w = np.ones(80) if w is None else w * 80 / w.sum()
        expected = (w @ np.where(observed, X, 0)) / (w @ observed)
        np.testing.assert_allclose(est.fill_values_, expected, rtol=1e-12)
        np.testing.assert_allclose(est.n_observed_, w @ observed, rtol=1e-12)
    # complete rows: every entry counts
    est.fit(X[:40])
    np.testing.assert_allclose(est.fill_values_, X[:40].mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(est.n_observed_, np.full(4, 40.0))


@pytest.mark.parametrize("holes", [False, True])
def test_fill_values_do_not_depend_on_the_memory_layout(holes):
    # the same values in C order, Fortran order and as a strided view: the same
    # fill values to the bit (a product over a strided or Fortran-ordered chunk takes
    # another BLAS kernel, which rounds differently)
    wide = np.random.default_rng(5).normal(size=(300, 24)) * 1e3
    if holes:
        wide[np.random.default_rng(6).random(wide.shape) < 0.1] = np.nan
    weights = np.random.default_rng(7).uniform(0.5, 2, size=300)
    layouts = [np.ascontiguousarray(wide[:, ::2]), np.asfortranarray(wide[:, ::2]), wide[:, ::2]]
    for w in (None, weights):
        fitted = [
            AutoencoderTransformer(
                2, hidden_layer_sizes=(4,), max_iter=1, n_iter_no_change=None
            ).fit(X, sample_weight=w)
            for X in layouts
        ]
        for est in fitted[1:]:
            np.testing.assert_array_equal(est.fill_values_, fitted[0].fill_values_)
            np.testing.assert_array_equal(est.n_observed_, fitted[0].n_observed_)


def test_the_loss_counts_observed_entries_and_a_row_with_holes_weighs_as_much():
    loss = _ReconstructionLoss()
    raw = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan"), 2.0, float("nan")], [1.0, 1.0, 1.0, 1.0]])
    value = loss((raw, torch.zeros(2, 1)), target)
    # row 0: errors 1 and 1 on its two observed entries, mean 1; row 1: mean 1
    assert value.item() == pytest.approx(1.0)
    value.backward()
    # nothing flows to the reconstruction of a missing entry
    assert raw.grad[0, 1] == 0 and raw.grad[0, 3] == 0 and raw.grad[0, 0] != 0
    # weights multiply the rows' means, as for complete rows
    weight = torch.tensor([2.0, 0.0])
    assert loss((raw, torch.zeros(2, 1)), target, weight).item() == pytest.approx(1.0)
    # a complete batch is computed as before: the mean of every term
    complete = torch.ones(2, 4)
    expected = torch.nn.functional.mse_loss(raw, complete)
    assert loss((raw, torch.zeros(2, 1)), complete).item() == expected.item()


def test_the_elbo_rescales_a_row_with_holes_to_all_its_features():
    elbo = _NegativeELBO(likelihood="gaussian", beta=0.0)
    raw = torch.zeros(1, 4)
    mean, log_var = torch.zeros(1, 2), torch.zeros(1, 2)
    complete = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    holes = torch.tensor([[1.0, float("nan"), 1.0, float("nan")]])
    a = elbo((raw, mean, log_var), complete).item()
    b = elbo((raw, mean, log_var), holes).item()
    assert a == pytest.approx(b)
    # and the Bernoulli divergence is a mean over the observed entries
    logits = torch.tensor([[0.0, 5.0, 0.0, -5.0]])
    x = torch.tensor([[0.5, float("nan"), 0.5, float("nan")]])
    assert _bernoulli_divergence(logits, x).item() == pytest.approx(0.0, abs=1e-7)


def test_missing_noise_hides_observed_entries_and_keeps_the_target():
    X = torch.arange(4000, dtype=torch.float64).reshape(400, 10) + 1
    fill = torch.full((10,), -7.0, dtype=torch.float64)
    batches = _Batches(
        _Rows(X), 400, generator=torch.Generator().manual_seed(0), noise=0.3, noise_type="missing"
    )
    batches.fill = fill
    inputs, target = next(iter(batches))
    hidden = inputs == -7
    assert 0.25 < hidden.double().mean() < 0.35
    np.testing.assert_array_equal(inputs[~hidden], X[~hidden])
    np.testing.assert_array_equal(target, X)


@pytest.mark.parametrize("Detector", [AutoencoderOutlierDetector, VAEOutlierDetector])
def test_a_rows_score_does_not_drop_because_entries_went_missing(Detector):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    inliers, outliers = X[y == 0], X[y == 1][:40]
    detector = Detector(4, hidden_layer_sizes=(32,), max_iter=60, random_state=0)
    detector.fit(inliers[:140])
    test = inliers[140:]
    full, holes = detector.score_samples(test), detector.score_samples(_holes(test, 0.3))
    gap = np.median(full) - np.median(detector.score_samples(outliers))
    assert gap > 0
    # a row keeps its score's scale: holes move the median score by a small part
    # of what separates inliers from outliers (a sum over the observed entries
    # would move it by 30 %, a mean over all entries the other way)
    assert abs(np.median(holes) - np.median(full)) < 0.25 * gap
    # and rows with holes are still told apart
    scores = detector.score_samples(_holes(np.vstack([test, outliers]), 0.3, seed=3))
    labels = np.r_[np.ones(len(test)), np.zeros(len(outliers))]
    assert roc_auc_score(labels, scores) > 0.9
    assert (detector.predict(_holes(test, 0.3)) == 1).mean() > 0.7


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VAETransformer])
def test_a_row_with_nothing_observed(Estimator):
    X = np.random.default_rng(0).normal(size=(30, 4))
    empty = X.copy()
    empty[7] = np.nan
    est = Estimator(2, hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X)
    before = est.transform(X)
    with pytest.raises(ValueError, match="row 7 of X has no observed value"):
        est.fit(empty)
    np.testing.assert_array_equal(est.transform(X), before)  # the fit committed nothing
    with pytest.raises(ValueError, match="row 7 of X has no observed value"):
        est.score_samples(empty)
    # its code is the code of the fill values: an explicit rule (compared in a batch
    # of the same rows: BLAS may sum a 1-row product in another order)
    filled = empty.copy()
    filled[7] = est.fill_values_
    np.testing.assert_array_equal(est.transform(empty)[7], est.transform(filled)[7])
    with pytest.raises(ValueError, match="row 7 of X has no observed value"):
        reconstruction_error(est, empty)


def test_reconstruction_error_averages_the_observed_entries():
    X = np.random.default_rng(0).normal(size=(40, 5))
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X)
    holes = _holes(X, 0.4)
    per_feature = reconstruction_error(est, holes, per_feature=True)
    assert np.array_equal(np.isnan(per_feature), np.isnan(holes))
    np.testing.assert_allclose(reconstruction_error(est, holes), np.nanmean(per_feature, axis=1))
    np.testing.assert_allclose(est.score_samples(holes), -np.nanmean(per_feature, axis=1))


@pytest.mark.parametrize("key", ["ae", "vae-detector-elbo"])
def test_sparse_nan_is_missing_and_pandas_na_too(key):
    pd = pytest.importorskip("pandas")
    X = _holes(_data(key), 0.3)
    X[np.abs(X) < 0.5] = 0  # zeros a sparse matrix leaves implicit
    dense = instance(key, random_state=0).fit(X)
    stored = instance(key, random_state=0).fit(sp.csr_matrix(X))
    assert np.isnan(sp.csr_matrix(X).data).any()  # NaN is stored, not implicit
    # (the sparse means sum the stored entries alone: in another order)
    np.testing.assert_allclose(stored.fill_values_, dense.fill_values_, rtol=1e-12)
    np.testing.assert_allclose(stored.transform(sp.csr_matrix(X)), dense.transform(X), rtol=1e-5)
    frame = pd.DataFrame(X).astype("Float64")
    assert frame.isna().to_numpy().sum() == np.isnan(X).sum()
    assert frame.iloc[:, 0].dtype == "Float64"  # pd.NA in a nullable column
    framed = instance(key, random_state=0).fit(frame)
    # (a frame's array is column-major: products may round in another order)
    np.testing.assert_allclose(framed.transform(frame), dense.transform(X), rtol=1e-12)
    np.testing.assert_allclose(framed.score_samples(frame), dense.score_samples(X), rtol=1e-12)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_trains_and_infers_on_holes(precision):
    X = _holes(np.random.default_rng(0).normal(size=(64, 6)))
    est = AutoencoderOutlierDetector(2, hidden_layer_sizes=(8,), max_iter=3, precision=precision)
    est.set_params(random_state=0).fit(X)
    assert np.isfinite(est.transform(X)).all() and np.isfinite(est.score_samples(X)).all()


@pytest.mark.parametrize("key", NETWORKS)
def test_saved_and_loaded_with_its_fill_values(key, tmp_path):
    X = _holes(_data(key))
    est = instance(key, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    skae.save(est, tmp_path / "model.skae")
    loaded = skae.load(tmp_path / "model.skae")
    np.testing.assert_array_equal(loaded.fill_values_, est.fill_values_)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))


def test_codes_with_nan_are_still_refused_by_inverse_transform():
    X = np.random.default_rng(0).normal(size=(30, 4))
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2).fit(X)
    with pytest.raises(ValueError, match="Input contains NaN"):
        est.inverse_transform(np.array([[0.0, np.nan]]))


@pytest.mark.parametrize("Detector", [AutoencoderOutlierDetector, VAEOutlierDetector])
def test_a_row_of_weight_zero_that_overflows_does_not_stop_a_detector(Detector):
    # its score is -inf (it overflowed), not a hole; of weight zero, it has no say
    # in the threshold
    X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    X[0] = [3e38, -3e38, 3e38, -3e38]
    weights = np.ones(100)
    weights[0] = 0
    detector = Detector(2, max_iter=3, random_state=0).fit(X, sample_weight=weights)
    assert np.isfinite(detector.offset_)
    assert detector.predict(X[:1])[0] == -1


@pytest.mark.parametrize(
    "est",
    [
        AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        VAEOutlierDetector(2, hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        skae.LinearAETransformer(2),
    ],
    ids=lambda est: type(est).__name__,
)
def test_score_does_not_score_rows_of_weight_zero(est):
    # fit takes a row of nothing observed at weight zero, and so does the weighted
    # reconstruction_scorer; score scored every row first and raised on it (a
    # routed search scored that fold NaN)
    X = np.random.default_rng(0).normal(size=(30, 4))
    X[0] = np.nan
    X[1] = [1e300, -1e300, 1e300, -1e300]
    weights = np.r_[0.0, 0.0, np.full(28, 3.0)]
    est.fit(X, sample_weight=weights)
    assert est.score(X, sample_weight=weights) == pytest.approx(est.score(X[2:]), rel=1e-12)


@pytest.mark.parametrize("kind", ["dask frame", "dask, unknown sizes", "arrow", "polars"])
def test_a_weighted_score_takes_every_table_the_unweighted_one_takes(kind):
    # the rows of positive weight were taken from the input as given: a Dask
    # DataFrame, an Arrow table and a Dask array of unknown block sizes raised
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    weights = np.r_[np.zeros(5), np.ones(35)]
    frame = pd.DataFrame(X, columns=list("abcd"))
    if kind.startswith("dask"):
        dd = pytest.importorskip("dask.dataframe")
        table = dd.from_pandas(frame, npartitions=2)
        table = table.to_dask_array() if kind == "dask, unknown sizes" else table
    elif kind == "arrow":
        table = pytest.importorskip("pyarrow").Table.from_pandas(frame)
    else:
        table = pytest.importorskip("polars").from_pandas(frame)
    for est in (
        AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0),
        skae.LinearAETransformer(2),
    ):
        est.fit(X if kind == "dask, unknown sizes" else frame)
        expected = est.score(X[5:])
        assert est.score(table, sample_weight=weights) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.score(3.0, sample_weight=[1.0])


def test_a_row_observed_only_where_training_observed_nothing_is_named_so():
    # it was said to hold only NaN, though it held a value
    X = np.random.default_rng(0).normal(size=(30, 3))
    X[:, 2] = np.nan
    detector = AutoencoderOutlierDetector(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    detector.fit(X)
    message = r"row 0 of X has no observed value \(every entry is NaN, or in a feature that no "
    with pytest.raises(ValueError, match=message):
        detector.score_samples(np.array([[np.nan, np.nan, 5.0]]))
