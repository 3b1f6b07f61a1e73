"""The training engine: fits that fail leave the estimator as it was, Ctrl-C
propagates, divergence is caught, fits are reproducible in threads, and the
engine accepts any array layout and scores in bounded memory."""

import math
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

import skae
from skae import AutoencoderOutlierDetector, AutoencoderTransformer, LinearAETransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- data and helpers ---------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny problems run fastest on one intra-op thread, and do not slow to a crawl
    when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """The 8x8 digits, standardized, shape (1797, 64)."""
    return StandardScaler().fit_transform(load_digits().data)


def snapshot(est):
    """Every attribute of ``est`` but its parameters (the network as its weights,
    optimizer state and history length), as values later changes cannot alter."""
    params = est.get_params(deep=False)
    state = {}
    for name, value in vars(est).items():
        if name in params:
            continue
        if name == "net_":
            state["net_.module_"] = {
                k: v.detach().clone() for k, v in value.module_.state_dict().items()
            }
            # the closed form's net has no optimizer
            optimizer = getattr(value, "optimizer_", None)
            optimizer = (
                {"state": {}, "param_groups": []} if optimizer is None else optimizer.state_dict()
            )
            state["net_.optimizer_"] = {
                (index, key): tensor.clone() if torch.is_tensor(tensor) else tensor
                for index, entry in optimizer["state"].items()
                for key, tensor in entry.items()
            }
            state["net_.optimizer_.param_groups"] = repr(optimizer["param_groups"])
            state["net_.history"] = len(value.history)
        elif isinstance(value, np.ndarray):
            state[name] = value.copy()
        elif isinstance(value, list):
            state[name] = list(value)
        else:
            state[name] = value
    return state


def assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        if name in ("net_.module_", "net_.optimizer_"):
            assert value.keys() == after[name].keys()
            for key, tensor in value.items():
                if torch.is_tensor(tensor):
                    assert torch.equal(tensor, after[name][key]), key
                else:
                    assert tensor == after[name][key], key
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
            assert after[name].dtype == value.dtype
        elif isinstance(value, float) and math.isnan(value):
            assert math.isnan(after[name])
        else:
            assert after[name] == value, name


def outputs(est, X):
    """What a fitted estimator computes on ``X``."""
    result = {"transform": est.transform(X), "score_samples": est.score_samples(X)}
    if hasattr(est, "predict"):
        result["predict"] = est.predict(X)
        result["decision_function"] = est.decision_function(X)
    return result


def assert_same_outputs(before, after):
    assert before.keys() == after.keys()
    for name in before:
        # bit-identical, not merely close
        assert np.array_equal(before[name], after[name]), name
        assert before[name].dtype == after[name].dtype


class InterruptingAutoencoder(torch.nn.Module):
    """A custom autoencoder module whose encoder raises KeyboardInterrupt (as Ctrl-C
    would) at its ``interrupt_at``-th call in training mode. The count and the
    threshold are class attributes, so a test can re-arm them between fits; the
    class lives at module level because a resumed net is deep-copied through
    pickle."""

    calls = 0
    interrupt_at = None

    def __init__(self, n_features, n_components):
        super().__init__()
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        if self.training:
            cls = InterruptingAutoencoder
            cls.calls += 1
            if cls.calls == cls.interrupt_at:
                raise KeyboardInterrupt
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))


@pytest.fixture
def interrupting():
    """``InterruptingAutoencoder``, its counter reset (and reset again afterwards)."""
    InterruptingAutoencoder.calls, InterruptingAutoencoder.interrupt_at = 0, None
    yield InterruptingAutoencoder
    InterruptingAutoencoder.calls, InterruptingAutoencoder.interrupt_at = 0, None


# -- all-or-nothing -----------------------------------------------------------


def test_diverging_chunk_leaves_the_fitted_outlier_detector_unchanged(digits01, tmp_path):
    X = digits01[:300]
    det = AutoencoderOutlierDetector(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X)
    state, before = snapshot(det), outputs(det, X)
    n_iter, loss_curve, offset = det.n_iter_, list(det.loss_curve_), det.offset_

    chunk = X[:50].copy()
    chunk[3, 7] = 1e30
    with pytest.raises(FloatingPointError):
        det.partial_fit(chunk)

    assert det.n_iter_ == n_iter == 5
    assert det.loss_curve_ == loss_curve
    assert det.offset_ == offset
    assert_same_state(state, snapshot(det))
    assert_same_outputs(before, outputs(det, X))

    path = tmp_path / "detector.skae"
    skae.save(det, path)
    loaded = skae.load(path)
    assert np.array_equal(loaded.score_samples(X), before["score_samples"])
    assert np.array_equal(loaded.predict(X), before["predict"])


def test_diverging_chunk_leaves_the_minibatch_linear_autoencoder_unchanged(digits):
    X = digits[:400]
    lae = LinearAETransformer(n_components=4, solver="minibatch", random_state=0)
    lae.partial_fit(X[:200])
    state, before = snapshot(lae), outputs(lae, X)

    chunk = X[200:260].copy()
    chunk[5, 10] = 1e30
    with pytest.raises(FloatingPointError):
        lae.partial_fit(chunk)
    assert_same_state(state, snapshot(lae))
    assert_same_outputs(before, outputs(lae, X))

    # the failed chunk left nothing behind: a normal chunk still trains
    lae.partial_fit(X[200:400])
    assert lae.n_samples_seen_ == 400
    assert lae.n_iter_ == state["n_iter_"] + 1
    assert np.isfinite(lae.components_).all()
    assert all(torch.isfinite(p).all() for p in lae.net_.module_.parameters())
    np.testing.assert_allclose(lae.mean_, X.mean(axis=0), atol=1e-12)


def test_failing_refit_on_another_width_leaves_the_fitted_transformer_unchanged(digits):
    X = digits[:300]
    ae = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X)
    state, before = snapshot(ae), ae.transform(X)

    bad = np.full((50, 7), 1e200)
    with pytest.raises(FloatingPointError):
        ae.fit(bad)

    assert ae.n_features_in_ == 64
    assert np.array_equal(ae.transform(X), before)
    assert_same_state(state, snapshot(ae))


def test_failing_first_fit_leaves_the_estimator_unfitted():
    ae = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.raises(FloatingPointError):
        ae.fit(np.full((50, 7), 1e200))
    assert not hasattr(ae, "n_features_in_")
    assert not hasattr(ae, "net_")
    with pytest.raises(NotFittedError):
        check_is_fitted(ae)


# -- Ctrl-C ---------------------------------------------------------------------


@pytest.mark.parametrize("interrupt_at", [1, 3], ids=["first_epoch", "second_epoch"])
def test_keyboard_interrupt_propagates_and_leaves_the_estimator_unfitted(
    digits, interrupting, interrupt_at
):
    # 400 rows in batches of 200: two training calls of the encoder per epoch
    module = interrupting
    module.interrupt_at = interrupt_at
    ae = AutoencoderTransformer(module=module, max_iter=5, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        ae.fit(digits[:400])
    assert module.calls == interrupt_at
    assert not hasattr(ae, "n_features_in_")
    assert not hasattr(ae, "net_")
    assert not hasattr(ae, "n_iter_")
    with pytest.raises(NotFittedError):
        check_is_fitted(ae)


def test_a_second_interrupt_while_the_first_unwinds_leaves_the_parameters(digits):
    # the rollback emptied the estimator's attributes, then put them back: a
    # second Ctrl-C in between left it without even its parameters
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    table = vars(ae)

    def second_interrupt(frame, event, function):
        emptied = event == "c_return" and getattr(function, "__self__", None) is table
        if emptied and function.__name__ == "clear":
            raise KeyboardInterrupt

    # the first failure is divergence; a second interrupt would escape as itself
    with pytest.raises((FloatingPointError, KeyboardInterrupt)):
        sys.setprofile(second_interrupt)
        try:
            ae.fit(np.full((20, 3), 1e38))
        finally:
            sys.setprofile(None)
    assert ae.get_params()["n_components"] == 2 and not hasattr(ae, "n_features_in_")


@pytest.mark.parametrize("interrupt_at", [1, 3], ids=["first_epoch", "second_epoch"])
def test_keyboard_interrupt_in_a_warm_start_leaves_the_fitted_estimator_unchanged(
    digits, interrupting, interrupt_at
):
    X = digits[:400]
    module = interrupting
    ae = AutoencoderTransformer(module=module, max_iter=3, random_state=0).fit(X)
    assert module.calls == 6
    state, before = snapshot(ae), ae.transform(X)
    n_iter, loss_curve = ae.n_iter_, list(ae.loss_curve_)

    module.calls, module.interrupt_at = 0, interrupt_at
    ae.set_params(warm_start=True)
    with pytest.raises(KeyboardInterrupt):
        ae.fit(X)
    assert module.calls == interrupt_at

    assert ae.n_iter_ == n_iter == 3
    assert ae.loss_curve_ == loss_curve
    assert np.array_equal(ae.transform(X), before)
    assert_same_state(state, snapshot(ae))


@pytest.mark.parametrize("early_stopping", [True, False])
def test_early_stopping_still_ends_training_early(digits, early_stopping):
    # a tolerance no epoch can beat: every epoch after the first is a miss
    ae = AutoencoderTransformer(
        hidden_layer_sizes=(8,),
        early_stopping=early_stopping,
        n_iter_no_change=2,
        tol=1e3,
        max_iter=50,
        random_state=0,
    ).fit(digits[:400])
    assert ae.n_iter_ == 3 < ae.max_iter
    assert len(ae.loss_curve_) == 3
    if early_stopping:
        assert len(ae.validation_scores_) == 3
        assert ae.best_validation_score_ == max(ae.validation_scores_)


# -- divergence ---------------------------------------------------------------


def test_exploding_finite_loss_is_reported_as_divergence(digits):
    ae = AutoencoderTransformer(learning_rate_init=1e3, max_iter=30, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        ae.fit(digits)
    assert not hasattr(ae, "net_")


def test_a_continued_fit_on_data_of_another_scale_is_not_divergence():
    # its first loss reflects the new data, not the training: no growth is
    # measured across calls (a fresh fit on the same data trains)
    X = np.random.default_rng(0).normal(size=(200, 4))
    ae = AutoencoderTransformer(2, max_iter=3, n_iter_no_change=None, random_state=0).fit(X)
    ae.partial_fit(300 * X)
    ae.set_params(warm_start=True).fit(300 * X)
    assert np.isfinite(ae.loss_curve_).all()


def test_overflowing_optimizer_statistics_are_divergence_too():
    # one row of large values: Adam's running average of squared gradients
    # overflows float32 while the weights stay finite (found by hypothesis)
    X = np.array([[115.0, 115.0, -460.0, 115.0]])
    vae = skae.VAETransformer(1, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.raises(FloatingPointError, match="optimizer's running statistics"):
        vae.fit(X)
    assert not hasattr(vae, "net_")


# -- array layouts --------------------------------------------------------------


LAYOUT_ESTIMATORS = {
    "autoencoder": lambda: AutoencoderTransformer(
        hidden_layer_sizes=(16,), noise=0.1, dropout=0.1, max_iter=3, random_state=0
    ),
    "linear_covariance": lambda: LinearAETransformer(n_components=3, max_iter=20, random_state=0),
    "linear_minibatch": lambda: LinearAETransformer(
        n_components=3, solver="minibatch", max_iter=3, random_state=0
    ),
}

LAYOUTS = {
    "reversed_rows": lambda X: X[::-1],
    "every_other_column": lambda X: X[:, ::2],
    "fortran_order": np.asfortranarray,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("make", LAYOUT_ESTIMATORS)
def test_fit_on_a_strided_array_equals_fit_on_its_contiguous_copy(digits, make, layout):
    X = LAYOUTS[layout](digits[:300])
    contiguous = np.ascontiguousarray(X)
    assert not X.flags.c_contiguous
    Z = LAYOUT_ESTIMATORS[make]().fit(X).transform(contiguous)
    Z_contiguous = LAYOUT_ESTIMATORS[make]().fit(contiguous).transform(contiguous)
    np.testing.assert_allclose(Z, Z_contiguous, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", LAYOUT_ESTIMATORS)
def test_inference_accepts_negative_strides(digits, make):
    X = digits[:300]
    est = LAYOUT_ESTIMATORS[make]().fit(X)
    Z = est.transform(X)
    np.testing.assert_allclose(est.transform(X[::-1]), Z[::-1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        est.score_samples(X[::-1]), est.score_samples(X)[::-1], rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        est.inverse_transform(Z[::-1]), est.inverse_transform(Z)[::-1], rtol=1e-6, atol=1e-7
    )


# -- hyper-parameters -----------------------------------------------------------


NON_FINITE_CASES = [
    (AutoencoderTransformer, "alpha"),
    (AutoencoderTransformer, "tol"),
    (AutoencoderTransformer, "noise"),
    (AutoencoderTransformer, "sparsity"),
    (AutoencoderTransformer, "validation_fraction"),
    (AutoencoderTransformer, "dropout"),
    (AutoencoderTransformer, "learning_rate_init"),
    (AutoencoderOutlierDetector, "contamination"),
    (LinearAETransformer, "tol"),
]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "Estimator, name", NON_FINITE_CASES, ids=[f"{E.__name__}-{n}" for E, n in NON_FINITE_CASES]
)
def test_non_finite_hyper_parameter_is_rejected_by_name(digits, Estimator, name, value):
    est = Estimator(max_iter=2, random_state=0, **{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter") as raised:
        est.fit(digits[:100])
    assert isinstance(raised.value, TypeError)
    assert not hasattr(est, "n_features_in_")
    assert not hasattr(est, "net_")


@pytest.mark.parametrize("name", ["alpha", "learning_rate_init", "noise"])
def test_non_finite_hyper_parameter_is_rejected_by_partial_fit_of_a_fitted_estimator(digits, name):
    X = digits[:200]
    ae = AutoencoderTransformer(hidden_layer_sizes=(8,), random_state=0).partial_fit(X)
    state, before = snapshot(ae), ae.transform(X)
    ae.set_params(**{name: math.nan})
    with pytest.raises(ValueError, match=f"'{name}' parameter") as raised:
        ae.partial_fit(X)
    assert isinstance(raised.value, TypeError)
    assert_same_state(state, snapshot(ae))
    assert np.array_equal(ae.transform(X), before)


# -- threads and global random state --------------------------------------------


def test_fits_in_threads_equal_a_serial_fit_and_leave_global_random_state_alone(digits):
    X = digits[:600]

    def fit_and_transform():
        ae = AutoencoderTransformer(
            hidden_layer_sizes=(16,), noise=0.2, dropout=0.2, max_iter=3, random_state=0
        )
        return ae.fit(X).transform(X)

    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the global state is checked)

    serial = fit_and_transform()
    barrier = threading.Barrier(4)

    def in_thread(_):
        barrier.wait()
        return fit_and_transform()

    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(in_thread, range(4)))

    for Z in threaded:
        assert np.array_equal(Z, serial)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0]
    assert np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


def test_fits_and_inference_leave_the_warning_filters_alone(digits, monkeypatch):
    # warnings.catch_warnings replaces the filters of every thread while it lasts,
    # and two overlapping blocks in two threads put back each other's: fits and
    # transforms in threads at once left filters of skae's behind
    entered = []
    original = warnings.catch_warnings

    def watched(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("skae."):
            entered.append(caller)
        return original(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", watched)
    read_only = digits[:60].copy()
    read_only.flags.writeable = False
    for est in (
        AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None),
        LinearAETransformer(2),
    ):
        est.fit(read_only).transform(read_only)
    assert entered == []


def test_threaded_grid_search_equals_the_serial_one(digits_labels):
    X, y = load_digits().data[:300], digits_labels[:300]

    def search(n_jobs):
        pipe = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "ae",
                    # small batches: many random draws per fit, interleaved across threads
                    AutoencoderTransformer(
                        hidden_layer_sizes=(16,),
                        dropout=0.2,
                        noise=0.1,
                        batch_size=20,
                        max_iter=3,
                        random_state=0,
                    ),
                ),
                ("clf", LogisticRegression(max_iter=300)),
            ]
        )
        grid = GridSearchCV(pipe, {"ae__n_components": [2, 4]}, cv=3, n_jobs=n_jobs)
        with joblib.parallel_backend("threading", n_jobs=2):
            grid.fit(X, y)
        return grid.cv_results_["mean_test_score"]

    serial = search(1)
    threaded = search(2)
    assert np.array_equal(threaded, serial)
    # the codes are informative: better than chance on ten classes
    assert serial.min() > 0.2


# -- BCE outlier scores -----------------------------------------------------------


def test_bce_detector_scores_by_the_bernoulli_divergence(digits01, digits_labels):
    zeros = digits01[digits_labels == 0]
    det = AutoencoderOutlierDetector(
        loss="bce",
        output_activation="sigmoid",
        contamination=0.05,
        hidden_layer_sizes=(16,),
        max_iter=20,
        random_state=0,
    ).fit(zeros)

    # minus the cross-entropy of the reconstruction plus the sample's own binary
    # entropy, averaged over the features: 0 for a perfect reconstruction
    X = digits01[:60]
    p = det.inverse_transform(det.transform(X))
    cross_entropy = -(X * np.log(p) + (1 - X) * np.log1p(-p))
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(np.where(X > 0, X * np.log(X), 0) + np.where(X < 1, (1 - X) * np.log1p(-X), 0))
    expected = -(cross_entropy - entropy).mean(axis=1)
    scores = det.score_samples(X)
    assert np.all(scores <= 0)
    np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)
    # grey values have an entropy, so the plain cross-entropy is not the score
    assert np.all(np.abs(scores + cross_entropy.mean(axis=1)) > 1e-3)

    # values outside [0, 1] have no Bernoulli likelihood
    scaled = digits01[digits_labels == 0][:10] * 10
    assert np.all(det.score_samples(scaled) == -np.inf)
    assert np.all(det.decision_function(scaled) == -np.inf)
    assert np.all(det.predict(scaled) == -1)


def test_bce_score_of_a_sample_equal_to_its_reconstruction_is_zero(digits01, digits_labels):
    det = AutoencoderOutlierDetector(
        n_components=2,
        loss="bce",
        output_activation="sigmoid",
        contamination=0.05,
        hidden_layer_sizes=(),
        activation="identity",
        max_iter=20,
        random_state=0,
    ).fit(digits01[digits_labels == 0])
    # iterating the reconstruction map reaches a sample it reconstructs perfectly
    x = digits01[:5]
    for _ in range(100):
        x = det.inverse_transform(det.transform(x))
    assert np.abs(det.inverse_transform(det.transform(x)) - x).max() < 1e-10
    np.testing.assert_allclose(det.score_samples(x), 0, atol=1e-10)


# -- memory of scoring ------------------------------------------------------------


@pytest.fixture(scope="module")
def large_float32():
    """200,000 x 50 float32 values (40 MB)."""
    return np.random.default_rng(0).standard_normal((200_000, 50), dtype=np.float32)


@pytest.fixture(scope="module")
def small_detector(large_float32):
    return AutoencoderOutlierDetector(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(
        large_float32[:500]
    )


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict"])
def test_scoring_memory_does_not_grow_with_the_input(large_float32, small_detector, method):
    X = large_float32
    getattr(small_detector, method)(X[:10])  # warm-up: lazy imports and caches
    tracemalloc.start()
    try:
        result = getattr(small_detector, method)(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == (X.shape[0],)
    assert peak - result.nbytes < X.nbytes / 4


# -- fixed budgets ------------------------------------------------------------------


BUDGET_ESTIMATORS = {
    "autoencoder": lambda **p: AutoencoderTransformer(hidden_layer_sizes=(8,), **p),
    "linear_minibatch": lambda **p: LinearAETransformer(solver="minibatch", **p),
}


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", BUDGET_ESTIMATORS)
def test_without_n_iter_no_change_training_runs_exactly_max_iter_epochs(digits, make):
    # tol=1e3 would stop any patient run after its second epoch
    est = BUDGET_ESTIMATORS[make](n_iter_no_change=None, tol=1e3, max_iter=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(digits[:300])
    assert est.n_iter_ == 6
    assert len(est.loss_curve_) == 6


@pytest.mark.parametrize("make", BUDGET_ESTIMATORS)
def test_unconverged_run_with_patience_warns(digits, make):
    est = BUDGET_ESTIMATORS[make](n_iter_no_change=10, tol=0.0, max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est.fit(digits[:300])
    assert est.n_iter_ == 3


# -- partial_fit keeps its architecture ---------------------------------------------


PARTIAL_FIT_ESTIMATORS = {
    "autoencoder": lambda: AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), random_state=0
    ),
    "linear_minibatch": lambda: LinearAETransformer(
        n_components=2, solver="minibatch", random_state=0
    ),
    "linear_covariance": lambda: LinearAETransformer(n_components=2, max_iter=20, random_state=0),
}


@pytest.mark.parametrize("make", PARTIAL_FIT_ESTIMATORS)
def test_partial_fit_with_another_n_components_is_refused(digits, make):
    X = digits[:300]
    est = PARTIAL_FIT_ESTIMATORS[make]().partial_fit(X[:150])
    state, before = snapshot(est), est.transform(X)
    est.set_params(n_components=3)
    with pytest.raises(ValueError, match="n_components"):
        est.partial_fit(X[150:])
    assert_same_state(state, snapshot(est))
    assert np.array_equal(est.transform(X), before)
    assert est.n_components_ == 2


# -- the second round of edges -----------------------------------------------------


class _RecordsTheGlobalGenerator(torch.nn.Module):
    """A custom module that notes torch's global generator state while it is built,
    which is what another thread drawing from it at that moment would see."""

    seen = []

    def __init__(self, n_features, n_components):
        super().__init__()
        _RecordsTheGlobalGenerator.seen.append(torch.random.get_rng_state())
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)


def test_building_a_module_leaves_the_global_generator_to_other_threads(digits):
    # a thread that seeded the global generator itself must see its own stream,
    # also while a skae fit builds its module
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    _RecordsTheGlobalGenerator.seen.clear()
    est = AutoencoderTransformer(3, module=_RecordsTheGlobalGenerator, max_iter=1)
    est.set_params(random_state=0).fit(digits[:50])
    assert _RecordsTheGlobalGenerator.seen
    assert all(torch.equal(state, before) for state in _RecordsTheGlobalGenerator.seen)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_weights_are_those_of_the_seed_through_torch_s_global_generator(digits):
    # initialization draws the numbers torch.manual_seed(seed) would give, from a
    # generator of the fit's own
    est = AutoencoderTransformer(3, hidden_layer_sizes=(5,), max_iter=1, random_state=0)
    net = est._prepare_net(64, 3, resume=False)
    seed = skae._base._draw_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reference = skae.MLPAutoencoder(64, 3, hidden_layer_sizes=(5,))
    for mine, theirs in zip(net.module_.parameters(), reference.parameters(), strict=True):
        assert torch.equal(mine, theirs)


class _ForksWhileBuilt(_RecordsTheGlobalGenerator):
    """Forks a child that fits another estimator while this module is built (the
    moment an older skae held a lock that the child inherited, locked)."""

    child = None

    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        pid = os.fork()
        if pid == 0:  # the child
            try:
                X = np.random.default_rng(0).random((20, 3))
                AutoencoderTransformer(1, hidden_layer_sizes=(2,), max_iter=1).fit(X)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _ForksWhileBuilt.child = pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_process_forked_while_a_module_is_built_can_fit(digits):
    AutoencoderTransformer(3, module=_ForksWhileBuilt, max_iter=1).fit(digits[:50])
    pid, deadline = _ForksWhileBuilt.child, time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def test_partial_fit_shares_the_recorded_epochs_instead_of_copying_them(digits):
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), random_state=0)
    for chunk in np.array_split(digits[:300], 5):
        est.partial_fit(chunk)
    history = est.net_.history
    est.partial_fit(digits[:60])
    # the records of earlier calls are the same objects: a call costs the same
    # after ten chunks or ten thousand
    assert all(a is b for a, b in zip(history, est.net_.history[:5], strict=True))
    assert len(est.net_.history) == est.n_iter_ == 6 == len(est.loss_curve_)
    assert est.loss_curve_[:5] == [float(e["train_loss"]) for e in history]


def test_warm_start_reports_the_best_score_of_the_weights_it_keeps(digits):
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(8,),
        early_stopping=True,
        warm_start=True,
        max_iter=6,
        n_iter_no_change=None,
        random_state=0,
    )
    est.fit(digits[:300])
    first = len(est.validation_scores_)
    est.set_params(learning_rate_init=0.5)  # a second run worse than the first
    est.fit(digits[:300])
    second = est.validation_scores_[first:]
    assert len(second) == 6
    assert est.best_validation_score_ == max(second)
    # the second run is worse throughout, so the first run's best is not the
    # best of the weights kept
    assert max(second) < max(est.validation_scores_[:first])


@pytest.mark.parametrize("key", ["n_components", "n_features"])
def test_module_params_may_not_set_what_the_estimator_sets(key, digits):
    est = AutoencoderTransformer(2, module=skae.MLPAutoencoder, module_params={key: 5})
    with pytest.raises(ValueError, match=f"module_params may not set {key}"):
        est.fit(digits[:50])
    assert not hasattr(est, "net_")


def test_fits_in_a_fresh_process_import_and_warn_nothing_they_should_not():
    # a first closed-form fit imports no optimizer machinery; a sampled fit on
    # sparse rows and a read-only input show no warning of torch's (CSR tensors
    # are "in beta", a read-only array cannot be protected: notices given once a
    # process, which skae's import consumes)
    script = (
        "import sys, warnings; import skae; from sklearn.datasets import load_digits\n"
        "import scipy.sparse as sp\n"
        "X = load_digits().data\n"
        "skae.LinearAETransformer().fit(X)\n"
        "assert 'torch._dynamo' not in sys.modules, 'the fit imported torch._dynamo'\n"
        "warnings.simplefilter('error')\n"
        "skae.AutoencoderTransformer(2, max_iter=1, n_iter_no_change=None,\n"
        "    reconstruction_sampling=0.1).fit(sp.csr_matrix(X[:50]))\n"
        "X.flags.writeable = False  # torch's notice on reading it: consumed too\n"
        "skae.LinearAETransformer(2).fit(X).transform(X)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


_NOTEBOOK = """
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, cross_validate

import skae
from skae.metrics import reconstruction_scorer


class Tiny(torch.nn.Module):  # defined in __main__, as in a notebook
    def __init__(self, n_features, n_components):
        super().__init__()
        self.e = torch.nn.Linear(n_features, n_components)
        self.d = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        return self.e(x)

    def decode(self, z):
        return self.d(z)


X = np.random.default_rng(0).random((60, 5))
est = skae.AutoencoderTransformer(2, module=Tiny, max_iter=2, n_iter_no_change=None)
est.fit(X)
search = GridSearchCV(est, {"max_iter": [1, 2]}, cv=2, n_jobs=2, scoring=reconstruction_scorer)
search.fit(X)
result = cross_validate(est, X, cv=2, n_jobs=2, return_estimator=True)
print(len(result["estimator"]), result["estimator"][0].transform(X[:3]).shape)
"""


def test_a_module_class_defined_in_main_works_with_process_parallel_searches(tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(_NOTEBOOK)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["2", "(3,", "2)"]


_INFERENCE_MEMORY = """
import os
import sys
import numpy as np
import skae

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def measure(kind):
    rng = np.random.default_rng(0)
    # 40 MB of output against a chunk of 4,096 rows (1.6 MB)
    n = 100_000
    X = rng.standard_normal((n, 100), dtype=np.float32)
    est = {
        "ae": skae.AutoencoderTransformer(10, hidden_layer_sizes=(16,)),
        "vae": skae.VAETransformer(10, hidden_layer_sizes=(16,)),
    }[kind]
    est.set_params(max_iter=1, n_iter_no_change=None).fit(X[:500])
    Z = est.transform(X)
    est.inverse_transform(Z[:10])
    base = rss_mb()
    open("/proc/self/clear_refs", "w").write("5")
    est.inverse_transform(Z)
    return (peak_mb() - base) / (n * 100 * 4 / 2**20)

# each kind in a process of its own, forked once the imports are done: no memory
# that one measurement freed is there for the next to reuse unseen
for kind in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        print(kind, measure(kind), flush=True)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0, kind
"""


@pytest.fixture(scope="module")
def inference_memory():
    """The peak memory of inverse_transform beyond its input, as a share of its output,
    for each kind (one interpreter for both: its start is most of the time)."""
    result = subprocess.run(
        [sys.executable, "-c", _INFERENCE_MEMORY, "ae", "vae"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {kind: float(share) for kind, share in map(str.split, result.stdout.splitlines())}


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_inference_writes_into_one_output_without_keeping_every_chunk(kind, inference_memory):
    # the 40 MB reconstruction and one chunk; keeping every chunk's output before
    # concatenating them doubled it
    assert inference_memory[kind] < 1.4


def test_random_state_outside_numpy_s_seeds_is_refused_by_name(digits):
    with pytest.raises(ValueError, match="'random_state' parameter"):
        AutoencoderTransformer(random_state=2**70).fit(digits[:20])


# -- the learning-rate schedule --------------------------------------------------


def _learning_rates(est, X, method="fit"):
    """The learning rate of every training step of ``est.method(X)``."""
    seen = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = step
    try:
        getattr(est, method)(X)
    finally:
        torch.optim.Adam.step = original
    return np.array(seen)


def test_the_cosine_schedule_anneals_each_step_to_zero_over_max_iter_epochs():
    X = np.random.default_rng(0).random((400, 10))
    est = AutoencoderTransformer(
        3,
        learning_rate="cosine",
        learning_rate_init=0.01,
        max_iter=4,
        batch_size=100,
        n_iter_no_change=None,
        random_state=0,
    )
    rates = _learning_rates(est, X)
    steps = np.arange(16)
    np.testing.assert_allclose(rates, 0.005 * (1 + np.cos(np.pi * steps / 16)), rtol=1e-12)
    # the optimizer keeps its base rate between fits, and partial_fit is constant
    assert est.net_.optimizer_.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(_learning_rates(est, X, "partial_fit"), np.full(4, 0.01))
    constant = AutoencoderTransformer(3, max_iter=2, batch_size=100, n_iter_no_change=None)
    np.testing.assert_array_equal(_learning_rates(constant, X), np.full(8, 0.001))


def test_an_unknown_schedule_is_refused_by_name():
    with pytest.raises(ValueError, match="'learning_rate' parameter"):
        AutoencoderTransformer(2, learning_rate="adaptive").fit(np.eye(4))


def test_training_flushes_subnormal_floats_and_restores_the_mode_after(digits):
    # a dead unit's Adam averages decay into subnormals, which a CPU computes on
    # some 30 times slower (RESULTS.md, table 16): training flushes them to zero
    from skae._net import _flushing_subnormals

    seen = []

    class Probe(skae.MLPAutoencoder):
        def encode(self, x):
            if self.training:
                seen.append(_flushing_subnormals())
            return super().encode(x)

    assert not _flushing_subnormals()
    AutoencoderTransformer(2, module=Probe, max_iter=1, random_state=0).fit(digits[:64])
    assert seen and all(seen)
    assert not _flushing_subnormals()
    # a mode the caller set is kept
    torch.set_flush_denormal(True)
    try:
        AutoencoderTransformer(2, module=Probe, max_iter=1, random_state=0).fit(digits[:64])
        assert _flushing_subnormals()
    finally:
        torch.set_flush_denormal(False)


def test_a_continued_fit_grows_from_no_less_than_its_last_epoch_s_loss():
    # a first batch of an empty sparse row, which the trained model reconstructs to
    # 6e-6, was the base: a later batch of a one-hot row grew 1e4 times over it
    rows = np.arange(290, 300)
    X = sp.csr_matrix((np.ones(10), (rows, rows % 20)), shape=(300, 20))
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(),
        max_iter=5,
        n_iter_no_change=None,
        random_state=0,
        batch_size=4,
        learning_rate_init=0.01,
        alpha=0.0,
    ).fit(X)
    est.set_params(batch_size=1)
    for _ in range(2):
        est.partial_fit(X)
    assert est.n_iter_ == 7


def test_a_continued_fit_that_does_worse_than_reconstructing_zeros_has_diverged():
    # data far from 0 (mean square 1e4): a warm start at a learning rate of 1
    # took the loss from 0.7 to 5e4, seven times the data's own mean square,
    # which was let through while only 1e4 times that mean square was divergence
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 2)) @ rng.normal(size=(2, 8)) + 100).astype(np.float32)
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(16,),
        max_iter=100,
        batch_size=40,
        learning_rate_init=1e-2,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X)
    est.set_params(warm_start=True, learning_rate_init=1.0, max_iter=2)
    with pytest.raises(FloatingPointError, match="the loss grew"):
        est.fit(X)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_row_off_an_exactly_learnt_structure_is_not_divergence(weighted):
    # a model that reconstructs its data to 1e-14 meets, in partial_fit, a row off
    # that structure: its loss, of the data's own size, is 1e13 times the first
    # batch's; "the loss grew from 1e-14 to 2.7" was raised. Growth is divergence
    # only when it is also far past the batch's own mean square
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(2, 6))
    X = rng.normal(size=(100, 2)) @ mixing
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(),
        max_iter=200,
        learning_rate_init=0.05,
        alpha=0.0,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X)
    assert est.loss_curve_[-1] < 1e-8
    chunk = rng.normal(size=(8, 2)) @ mixing
    chunk[5] += 3 * rng.normal(size=6)
    weight = np.full(8, 2.0) if weighted else None
    est.set_params(batch_size=1).partial_fit(chunk, sample_weight=weight)
    assert est.n_iter_ == 201
