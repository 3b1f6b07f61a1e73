"""Sample weights for every estimator: what they weigh, what they must not change,
bad weights, and weights routed through pipelines and searches."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
)

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    LinearAETransformer,
    VAEOutlierDetector,
    VAETransformer,
)
from skae._losses import _NegativeELBO, _ReconstructionLoss
from skae.metrics import reconstruction_error

from ._instances import instance, instance_ids, needs_four_features, needs_unit_interval

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data(key, n_samples=80, seed=0):
    """Values in [0, 1], which every configuration takes."""
    rng = np.random.default_rng(seed)
    return rng.random((n_samples, 4 if needs_four_features(key) else 10))


def outputs(est, X):
    """Everything a fitted estimator computes from ``X``."""
    names = ["transform", "score_samples", "decision_function", "predict"]
    results = {name: getattr(est, name)(X) for name in names if hasattr(est, name)}
    return results | ({"offset_": est.offset_} if hasattr(est, "offset_") else {})


def assert_same_outputs(a, b, key, rtol=0.0):
    for name in a:
        if rtol and name != "predict" and key.startswith("linear"):
            np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("key", instance_ids())
def test_weights_of_one_are_no_weights(key):
    X = data(key)
    plain = instance(key, random_state=0).fit(X)
    ones = instance(key, random_state=0).fit(X, sample_weight=np.ones(len(X)))
    # bit for bit for the networks; the linear autoencoder's weighted mean is a
    # dot product rather than numpy's pairwise sum
    assert_same_outputs(outputs(plain, X), outputs(ones, X), key, rtol=1e-10)


@pytest.mark.parametrize("key", instance_ids())
def test_rows_of_zero_weight_have_no_influence(key):
    # whatever the rows of weight zero hold, the fit is the same, bit for bit:
    # every loss term, statistic and quantile multiplies them by zero or skips them
    X = data(key)
    weights = np.random.default_rng(1).integers(0, 3, size=len(X)).astype(float)
    other = X.copy()
    other[weights == 0] = data(key, seed=2)[weights == 0]
    a = instance(key, random_state=0).fit(X, sample_weight=weights)
    b = instance(key, random_state=0).fit(other, sample_weight=weights)
    assert_same_outputs(outputs(a, X), outputs(b, X), key, rtol=1e-10)
    # and the weights do change the model
    plain = instance(key, random_state=0).fit(X)
    assert not np.array_equal(a.transform(X), plain.transform(X))


@pytest.mark.parametrize("key", [k for k in instance_ids() if not k.startswith("linear-mini")])
def test_rows_of_zero_weight_may_hold_nothing_observed_or_values_outside_the_unit_interval(key):
    # weight zero is the row removed, as in scikit-learn: fit refused an all-NaN
    # row of weight zero as "no observed value", and a Bernoulli model a value 2.0
    X = data(key)
    weights = np.ones(len(X))
    weights[::5] = 0.0
    junk = X.copy()
    junk[::5] = np.nan
    junk[5, 0] = 2.0  # a row of weight zero, outside [0, 1] where observed
    est = instance(key, random_state=0).fit(junk, sample_weight=weights)
    clean = instance(key, random_state=0).fit(X, sample_weight=weights)
    if key.startswith("linear"):
        # fitted by EM, as any table with holes: to the closed form's fixed point
        recon = [e.inverse_transform(e.transform(X)) for e in (est, clean)]
        np.testing.assert_allclose(*recon, rtol=1e-4, atol=1e-6)
    else:
        # the rows' terms are zero, their holes the fill values: the same model
        assert_same_outputs(outputs(est, X), outputs(clean, X), key)
    # a row of positive weight is still checked
    weights[0] = 1.0
    with pytest.raises(ValueError, match="row 0 of X has no observed value"):
        instance(key, random_state=0).fit(junk, sample_weight=weights)


@pytest.mark.parametrize("key", [k for k in instance_ids() if not k.startswith("linear")])
def test_the_scale_of_the_weights_does_not_matter_to_the_networks(key):
    X = data(key)
    weights = np.random.default_rng(1).random(len(X))
    a = instance(key, random_state=0).fit(X, sample_weight=weights)
    # a power of two rescales exactly, so the normalized weights are the same bits
    b = instance(key, random_state=0).fit(X, sample_weight=weights * 1024)
    assert_same_outputs(outputs(a, X), outputs(b, X), key)


@pytest.mark.parametrize(
    "Estimator, worse",
    [
        (LinearAETransformer, lambda est, X: reconstruction_error(est, X).mean()),
        (AutoencoderTransformer, lambda est, X: reconstruction_error(est, X).mean()),
        (VAETransformer, lambda est, X: -est.score(X)),
    ],
)
def test_a_heavily_weighted_group_is_modelled_better(Estimator, worse, digits01, digits_labels):
    # zeros and ones of the digits, two components: weighting the zeros 20 times
    # buys their reconstruction at the ones' expense
    zeros, ones = digits01[digits_labels == 0], digits01[digits_labels == 1]
    X = np.vstack([zeros, ones])
    weights = np.r_[np.full(len(zeros), 20.0), np.ones(len(ones))]
    params = {"n_components": 2, "random_state": 0}
    if Estimator is not LinearAETransformer:
        params |= {"hidden_layer_sizes": (32,), "max_iter": 30}
    plain = Estimator(**params).fit(X)
    weighted = Estimator(**params).fit(X, sample_weight=weights)
    assert worse(weighted, zeros) < worse(plain, zeros)
    assert worse(weighted, ones) > worse(plain, ones)


# -- the linear autoencoder: weights count samples, exactly ---------------------


def _repeated(X, weights):
    return np.repeat(X, weights.astype(int), axis=0)


def assert_same_pca(a, b, atol=1e-10):
    for name in ("mean_", "components_", "explained_variance_", "singular_values_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=atol)
    assert a.noise_variance_ == pytest.approx(b.noise_variance_, rel=1e-9, abs=1e-12)
    assert a.n_samples_seen_ == b.n_samples_seen_


@pytest.mark.parametrize("shape", [(60, 8), (9, 20)], ids=["scatter", "rows-span"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("whiten", [False, True])
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(shape, sparse, whiten):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape) * np.linspace(1, 3, shape[1])
    weights = rng.integers(0, 4, size=shape[0]).astype(float)
    weights[:2] = [0, 3]
    wrap = sp.csr_matrix if sparse else np.asarray
    params = {"n_components": 3, "whiten": whiten}
    weighted = LinearAETransformer(**params).fit(wrap(X), sample_weight=weights)
    repeated = LinearAETransformer(**params).fit(wrap(_repeated(X, weights)))
    assert_same_pca(weighted, repeated)
    np.testing.assert_allclose(weighted.transform(X), repeated.transform(X), atol=1e-10)
    np.testing.assert_allclose(weighted.score_samples(X), repeated.score_samples(X), rtol=1e-10)
    assert weighted.n_samples_seen_ == weights.sum()


def test_weighted_chunks_stream_into_the_weighted_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6))
    weights = rng.random(90) * 3
    whole = LinearAETransformer(3).fit(X, sample_weight=weights)
    streamed = LinearAETransformer(3)
    for rows in (slice(0, 30), slice(30, 70), slice(70, 90)):
        streamed.partial_fit(X[rows], sample_weight=weights[rows])
    assert_same_pca(streamed, whole)
    # "mle" and ratios count the weighted samples too
    for k in ("mle", 0.8):
        np.testing.assert_allclose(
            LinearAETransformer(k).fit(X, sample_weight=np.full(90, 2.0)).explained_variance_,
            LinearAETransformer(k).fit(np.repeat(X, 2, axis=0)).explained_variance_,
            rtol=1e-10,
        )


@pytest.mark.parametrize(
    "check",
    [check_sample_weight_equivalence_on_dense_data, check_sample_weight_equivalence_on_sparse_data],
)
@pytest.mark.parametrize("params", [{}, {"whiten": True}, {"align": False}])
def test_scikit_learns_weight_equivalence_check_passes_for_the_closed_form(check, params):
    # with a fixed width: n_components=None keeps min(n_samples, n_features)
    # components, counted on 15 rows here and on 30 when they are repeated
    check("LinearAETransformer", LinearAETransformer(n_components=4, **params))


def test_weights_that_sum_to_one_or_less_are_refused_by_the_linear_autoencoder():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"sample_weight sums to 1.*more than 1"):
        LinearAETransformer(2).fit(X, sample_weight=np.full(10, 0.1))


# -- the detectors' threshold is the weighted quantile --------------------------


@pytest.mark.parametrize("Detector", [AutoencoderOutlierDetector, VAEOutlierDetector])
@pytest.mark.parametrize("contamination", [0.1, "auto"])
def test_the_offset_is_the_weighted_quantile_of_the_training_scores(Detector, contamination, wine):
    weights = np.random.default_rng(0).integers(0, 4, size=len(wine)).astype(float)
    detector = Detector(2, contamination=contamination, max_iter=5, random_state=0)
    detector.fit(wine, sample_weight=weights)
    scores = np.repeat(detector.score_samples(wine), weights.astype(int))
    if contamination == "auto":
        q1, q3 = np.quantile(scores, [0.25, 0.75], method="averaged_inverted_cdf")
        assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1), rel=1e-12)
    else:
        assert detector.offset_ == np.quantile(scores, 0.1, method="averaged_inverted_cdf")


# -- bad weights ---------------------------------------------------------------


@pytest.mark.parametrize(
    "weights, message",
    [
        (lambda n: -np.ones(n), "sample_weight must be non-negative"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], "sample_weight contains NaN"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], "sample_weight contains infinity"),
        (lambda n: np.ones(n + 1), r"sample_weight.shape == \(\d+,\), expected"),
        (lambda n: np.ones((n, 2)), "Sample weights must be 1D"),
        (lambda n: np.zeros(n), "(weight.*zero)|(zero.*weight)"),
        (lambda n: np.array(["a"] * n), "could not convert string"),
    ],
    ids=["negative", "nan", "inf", "length", "2d", "zero", "strings"],
)
@pytest.mark.parametrize("key", ["ae", "vae-detector", "linear", "linear-minibatch"])
def test_bad_weights_are_clear_errors_and_leave_everything_as_it_was(key, weights, message):
    X = data(key)
    est = instance(key, random_state=0).fit(X[:40])
    before = est.transform(X)
    w = weights(len(X))
    copy = w.copy()
    with pytest.raises(ValueError, match=message):
        est.fit(X, sample_weight=w)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X, sample_weight=w)
    np.testing.assert_array_equal(est.transform(X), before)
    np.testing.assert_array_equal(w, copy)


# -- weights through pipelines and searches -------------------------------------


def test_weights_reach_the_estimator_through_pipeline_and_search_with_routing(wine):
    weights = np.random.default_rng(0).random(len(wine))
    direct = AutoencoderTransformer(2, max_iter=5, random_state=0).fit(
        StandardScaler().fit_transform(wine), sample_weight=weights
    )
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline(
            [
                ("scale", StandardScaler().set_fit_request(sample_weight=False)),
                (
                    "reduce",
                    AutoencoderTransformer(2, max_iter=5, random_state=0)
                    .set_fit_request(sample_weight=True)
                    .set_score_request(sample_weight=True),
                ),
            ]
        )
        routed = clone(pipe).fit(wine, sample_weight=weights)
        np.testing.assert_array_equal(
            routed.transform(wine), direct.transform(StandardScaler().fit_transform(wine))
        )
        search = GridSearchCV(pipe, {"reduce__n_components": [1, 2]}, cv=2).fit(
            wine, sample_weight=weights
        )
        assert search.best_estimator_.named_steps["reduce"].n_components_ in (1, 2)
        # the held-out folds are scored with their weights
        fold = search.cv_results_["split0_test_score"]
        assert np.isfinite(fold).all()
        # the estimator's request is explicit: an unset request is an error
        unset = Pipeline([("reduce", AutoencoderTransformer(2, max_iter=2))])
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            unset.fit(wine, sample_weight=weights)


def test_score_is_the_weighted_mean_of_the_sample_scores(wine):
    est = VAETransformer(2, max_iter=3, random_state=0).fit(wine)
    weights = np.random.default_rng(0).random(len(wine))
    expected = np.average(est.score_samples(wine), weights=weights)
    assert est.score(wine, sample_weight=weights) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        est.score(wine, sample_weight=-weights)


def test_without_routing_weights_go_by_step_name(wine):
    weights = np.random.default_rng(0).random(len(wine))
    pipe = Pipeline([("reduce", AutoencoderTransformer(2, max_iter=5, random_state=0))])
    pipe.fit(wine, reduce__sample_weight=weights)
    direct = AutoencoderTransformer(2, max_iter=5, random_state=0).fit(wine, sample_weight=weights)
    np.testing.assert_array_equal(pipe.transform(wine), direct.transform(wine))
    with pytest.raises(ValueError, match="sample_weight"):
        pipe.fit(wine, sample_weight=weights)


# -- found by attacking the weights ---------------------------------------------


def test_mle_counts_weighted_samples_also_on_fewer_rows_than_features():
    X = np.random.default_rng(0).normal(size=(6, 10))
    weighted = LinearAETransformer("mle").fit(X, sample_weight=np.full(6, 3.0))
    repeated = LinearAETransformer("mle").fit(np.repeat(X, 3, axis=0))
    assert weighted.n_components_ == repeated.n_components_
    np.testing.assert_allclose(
        weighted.explained_variance_, repeated.explained_variance_, rtol=1e-10
    )


def test_a_weight_total_within_rounding_of_an_integer_counts_as_it():
    X = np.random.default_rng(0).normal(size=(50, 8))
    # fifty weights of 0.1 add up to 4.999999999999999: five samples
    lae = LinearAETransformer(5).fit(X, sample_weight=np.full(50, 0.1))
    assert lae.n_components_ == 5
    assert LinearAETransformer().fit(X, sample_weight=np.full(50, 0.1)).n_components_ == 5


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VAETransformer])
def test_skewed_weights_are_not_mistaken_for_divergence(Estimator):
    # one row weighs 100,000 times the others: the batch holding it has a loss
    # that much larger, which is its weight, not a diverging network
    X = np.random.default_rng(0).normal(size=(400, 5))
    weights = np.ones(400)
    weights[-1] = 1e5
    est = Estimator(2, hidden_layer_sizes=(8,), batch_size=10, max_iter=2, random_state=0)
    est.fit(X, sample_weight=weights)
    assert np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("scale", [0.1, 1 / 3, 1e307, 5e-324])
def test_any_scale_of_weights_gives_the_same_threshold_and_score(scale, wine):
    detector = AutoencoderOutlierDetector(2, contamination=0.1, max_iter=3, random_state=0)
    plain = clone(detector).fit(wine)
    scaled = clone(detector).fit(wine, sample_weight=np.full(len(wine), scale))
    assert scaled.offset_ == plain.offset_
    np.testing.assert_array_equal(scaled.predict(wine), plain.predict(wine))
    weighted = plain.score(wine, sample_weight=np.full(len(wine), scale))
    assert weighted == pytest.approx(plain.score(wine), rel=1e-12)


def test_linear_weights_that_sum_to_infinity_are_refused_by_name():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="sample_weight sums to infinity"):
        LinearAETransformer(2).fit(X, sample_weight=np.full(10, 1e308))


@pytest.mark.parametrize("key", ["ae", "ae-detector", "linear-minibatch"])
def test_a_zero_weight_row_that_would_overflow_the_loss_has_no_influence(key):
    X = data(key).astype(np.float32)
    weights = np.ones(len(X))
    weights[0] = 0.0
    huge = X.copy()
    huge[0] = 1e25  # its squared error is infinite in float32
    a = instance(key, random_state=0).fit(X, sample_weight=weights)
    b = instance(key, random_state=0).fit(huge, sample_weight=weights)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    # and a row of zero weight does not count in the weighted score either
    scores = a.score_samples(X)
    assert a.score(huge, sample_weight=weights) == pytest.approx(np.mean(scores[1:]), rel=1e-6)


def test_a_split_of_too_few_weighted_rows_is_an_error_not_an_early_stop():
    X = np.random.default_rng(0).normal(size=(200, 6))
    weights = np.zeros(200)
    weights[7] = 1
    est = AutoencoderTransformer(2, early_stopping=True, validation_fraction=0.1, random_state=0)
    with pytest.raises(ValueError, match=r"no validation sample out of rows of positive sample"):
        est.fit(X, sample_weight=weights)


def test_the_kl_sparsity_penalty_takes_weighted_means_of_the_codes():
    # every code at the target: no penalty, however the rows are weighted
    loss = _ReconstructionLoss(sparsity=1.0, sparsity_target=0.05)
    codes = torch.full((4, 3), 0.05, dtype=torch.float64)
    x = torch.zeros(4, 2, dtype=torch.float64)
    for weight in ([1.0] * 4, [0.5] * 4, [0.0, 0.0, 0.0, 0.4]):
        value = loss((x, codes), x, torch.tensor(weight, dtype=torch.float64))
        assert float(value) == pytest.approx(0.0, abs=1e-12)


def test_a_refit_of_another_width_after_bad_weights_keeps_the_first_fit(wine):
    est = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(wine[:, :5])
    before = est.transform(wine[:, :5])
    with pytest.raises(ValueError, match="sample_weight"):
        est.fit(wine, sample_weight=-np.ones(len(wine)))
    assert est.n_features_in_ == 5
    np.testing.assert_array_equal(est.transform(wine[:, :5]), before)


_HUGE_ZERO_WEIGHT_CASES = [
    pytest.param(key, hold, id=f"{key}-{hold:g}")
    # the input checks still refuse values outside [0, 1] for a Bernoulli model,
    # in every row
    for key in instance_ids()
    if not needs_unit_interval(key)
    for hold in (1e3, 1e30)
]


@pytest.mark.parametrize("key, hold", _HUGE_ZERO_WEIGHT_CASES)
def test_zero_weight_rows_holding_huge_values_change_nothing(key, hold):
    # rows of weight zero holding `hold` against the same rows holding zeros: the
    # same batches and draws, so the same model, bit for bit; multiplying a row's
    # terms by its zero weight would give 0 x inf = NaN where they overflow (the
    # VAE's KL term at a log-variance near 111, and the gradient of its exp)
    X = data(key).astype(np.float32)
    weights = np.ones(len(X))
    weights[::7] = 0.0
    zeros, huge = X.copy(), X.copy()
    zeros[weights == 0], huge[weights == 0] = 0.0, hold
    a = instance(key, random_state=0).fit(zeros, sample_weight=weights)
    b = instance(key, random_state=0).fit(huge, sample_weight=weights)
    assert_same_outputs(outputs(a, X), outputs(b, X), key, rtol=1e-6)
    assert np.array_equal(a.loss_curve_, b.loss_curve_)
    assert a.score(huge, sample_weight=weights) == b.score(zeros, sample_weight=weights)


@pytest.mark.parametrize("sparsity_target", [None, 0.05])
def test_the_sparsity_penalty_ignores_zero_weight_rows_holding_huge_values(sparsity_target):
    X = data("ae").astype(np.float32)
    weights = np.ones(len(X))
    weights[::7] = 0.0
    zeros, huge = X.copy(), X.copy()
    zeros[weights == 0], huge[weights == 0] = 0.0, 1e30
    params = {"sparsity": 0.1, "sparsity_target": sparsity_target, "random_state": 0}
    if sparsity_target is not None:
        params["code_activation"] = "logistic"
    a = instance("ae", **params).fit(zeros, sample_weight=weights)
    b = instance("ae", **params).fit(huge, sample_weight=weights)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_zero_weight_row_reaches_neither_the_loss_nor_its_gradient(dtype):
    # exp(1000) overflows in both dtypes: the row's KL term and its derivative are
    # inf, which a zero weight multiplied into NaN
    rng = np.random.default_rng(0)
    raw, x = (torch.tensor(rng.normal(size=(4, 3)), dtype=dtype) for _ in range(2))
    mean, log_var = (torch.tensor(rng.normal(size=(4, 2)), dtype=dtype) for _ in range(2))
    # a weight that is zero only once it is in a float32 loss counts as zero there
    tiny = 1e-300 if dtype == torch.float32 else 0.0
    weight = torch.tensor([1.0, tiny, 0.0, 2.0], dtype=torch.float64)
    gradients = []
    for hold in (0.0, 1000.0):
        leaves = [t.clone().requires_grad_() for t in (raw, mean, log_var)]
        with torch.no_grad():
            for leaf in leaves:
                leaf[1:3] = hold
        target = x.clone()
        target[1:3] = hold
        loss = _NegativeELBO()(tuple(leaves), target, weight)
        loss.backward()
        assert torch.isfinite(loss)
        gradients.append((loss.item(), [leaf.grad for leaf in leaves]))
    (quiet, quiet_grads), (loud, loud_grads) = gradients
    assert loud == quiet
    for a, b in zip(quiet_grads, loud_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not b[1:3].any()
    errors = _ReconstructionLoss(sparsity=0.1)
    raw = raw.clone().requires_grad_()
    codes = torch.full((4, 2), 1e30, dtype=dtype, requires_grad=True)
    big = x.clone()
    big[1:3] = 1e30 if dtype == torch.float32 else 1e300  # its square overflows
    loss = errors((raw, codes), big, weight)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(raw.grad).all()
    assert not raw.grad[1:3].any() and not codes.grad[1:3].any()


def test_weights_summing_to_infinity_are_refused_before_any_statistic_overflows():
    X = np.random.default_rng(0).normal(size=(10, 3))
    huge = np.full(10, 1e308)
    streamed = LinearAETransformer(2).partial_fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="sample_weight sums to infinity"):
            LinearAETransformer(2).fit(X, sample_weight=huge)
        with pytest.raises(ValueError, match="sample_weight sums to infinity"):
            streamed.partial_fit(X, sample_weight=huge)
    assert streamed.n_samples_seen_ == 10


def test_the_validation_score_is_the_held_out_rows_weighted_mean(monkeypatch):
    # the weights averaged 1 over the whole call, and the validation loss was the
    # held-out rows' mean of weight x loss: with 3 on the held-out rows and 1 on
    # the others it doubled; with 1e-30 early stopping stopped on nothing at epoch 11
    import skae._batches

    X = np.random.default_rng(0).normal(size=(40, 5))
    split, held_out = skae._batches._RandomSplit._split, []

    def spy(self, n, generator, weights=None):
        train, valid = split(self, n, generator, weights)
        held_out.append(valid.numpy())
        return train, valid

    monkeypatch.setattr(skae._batches._RandomSplit, "_split", spy)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=4, early_stopping=True)
    kwargs |= dict(validation_fraction=0.25, random_state=0)
    plain = AutoencoderTransformer(2, **kwargs).fit(X)
    valid = held_out[0]
    for share in (3.0, 1e-30):
        weights = np.ones(len(X))
        weights[valid] = share
        est = AutoencoderTransformer(2, **kwargs).fit(X, sample_weight=weights)
        np.testing.assert_allclose(est.validation_scores_, plain.validation_scores_, rtol=1e-6)
        assert est.validation_scores_[-1] == pytest.approx(
            est.score(X[valid], sample_weight=weights[valid]), rel=1e-6
        )


def test_pretraining_passes_no_row_of_weight_zero_down_its_layers():
    # a row of weight zero at 3e38 (finite in float32) passed its codes down the
    # chain of layers, where they overflowed: "Input X contains infinity"
    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    weights = np.r_[np.ones(50), 0.0]
    params = dict(hidden_layer_sizes=(8, 4), pretrain_iter=2, max_iter=2, random_state=0)
    fits = [
        AutoencoderTransformer(2, n_iter_no_change=None, **params).fit(
            np.vstack([X, np.full((1, 6), junk, np.float32)]), sample_weight=weights
        )
        for junk in (0.0, 3e38)
    ]
    np.testing.assert_array_equal(fits[0].transform(X), fits[1].transform(X))
