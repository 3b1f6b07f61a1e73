"""Behaviour every skae estimator shares: input validation, the sklearn API,
persistence, reproducibility."""

import io
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import AutoencoderTransformer, LinearAETransformer

from ._instances import plain

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def fast(Estimator, **params):
    """The instance generator's plain ``Estimator``, two components, seeded."""
    return plain(Estimator, **{"n_components": 2, "max_iter": 10, "random_state": 0} | params)


ESTIMATORS = [AutoencoderTransformer, LinearAETransformer]


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_fit_rejects_infinite_values(Estimator, wine, bad):
    # NaN is a missing value (tests/test_missing.py); infinity is an error
    X = wine.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="Input X contains infinity"):
        fast(Estimator).fit(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_transform_rejects_infinity(Estimator, wine):
    est = fast(Estimator).fit(wine)
    X = wine[:5].copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.transform(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_1d_and_empty_input_are_rejected(Estimator, wine):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fast(Estimator).fit(wine[:, 0])
    with pytest.raises(ValueError, match="0 sample"):
        fast(Estimator).fit(np.empty((0, 4)))
    with pytest.raises(ValueError, match="0 feature"):
        fast(Estimator).fit(np.empty((5, 0)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_wrong_width_at_transform_and_inverse_transform(Estimator, wine):
    est = fast(Estimator).fit(wine)
    with pytest.raises(ValueError, match=r"X has 12 features, but .* is expecting 13"):
        est.transform(wine[:, :12])
    with pytest.raises(ValueError, match="expects codes of width n_components_=2"):
        est.inverse_transform(np.zeros((4, 3)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_strings_are_rejected(Estimator):
    X = np.array([["a", "b"], ["c", "d"], ["e", "f"]])
    with pytest.raises(ValueError, match="could not convert string to float"):
        fast(Estimator).fit(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["transform", "inverse_transform", "score_samples"])
def test_methods_before_fit_raise_not_fitted(Estimator, method):
    with pytest.raises(NotFittedError):
        getattr(Estimator(), method)(np.zeros((2, 2)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_read_only_memmap_works_without_warnings(Estimator, wine, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, wine.astype(np.float32))
    X = np.load(path, mmap_mode="r")
    assert not X.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=Warning, module="sklearn.exceptions")
        warnings.filterwarnings("ignore", message=".*maximum iterations.*")
        est = fast(Estimator).fit(X)
        Z = est.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, est.transform(np.array(X)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_caller_arrays_are_never_modified(Estimator, wine):
    X = wine.astype(np.float32)
    before = X.copy()
    est = fast(Estimator).fit(X)
    Z = est.transform(X)
    Z_before = Z.copy()
    est.inverse_transform(Z)
    est.score_samples(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(Z, Z_before)


def test_diverging_loss_is_an_error_not_garbage(wine):
    est = AutoencoderTransformer(optimizer="sgd", learning_rate_init=100.0, random_state=0)
    with pytest.raises(FloatingPointError, match=r"Training diverged: the loss became (nan|inf)"):
        est.fit(wine * 1e3)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"max_iter": 0}, r"'max_iter' parameter of AutoencoderTransformer must be an int"),
        ({"batch_size": "big"}, r"'batch_size' .* must be 'auto' or an int"),
        ({"activation": "swish"}, r"'activation' .* Got 'swish' instead"),
        ({"hidden_layer_sizes": (10, 0)}, r"'hidden_layer_sizes' .* tuple of positive ints"),
        ({"optimizer": "rmsprop"}, r"'optimizer' .* torch.optim.Optimizer subclass"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' .* range \(0, 1\)"),
        ({"loss": "bce"}, "loss='bce' needs output_activation='sigmoid'"),
        (
            {"loss": "bce", "output_activation": "sigmoid"},
            r"loss='bce' needs X in \[0, 1\]",
        ),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": 3}, "device"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(wine, params, message):
    with pytest.raises(ValueError, match=message):
        fast(AutoencoderTransformer, **params).fit(wine)


# -- the scikit-learn API -------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_output_dtype_follows_input_float_dtype(Estimator, wine):
    for dtype in (np.float32, np.float64):
        X = wine.astype(dtype)
        est = fast(Estimator).fit(X)
        Z = est.transform(X)
        assert Z.dtype == dtype and Z.shape == (len(X), 2)
        X_rec = est.inverse_transform(Z)
        assert X_rec.dtype == dtype and X_rec.shape == X.shape
    assert fast(Estimator).fit_transform(wine.astype(int)).dtype == np.float64


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_same_random_state_gives_identical_results(Estimator, wine):
    Z1 = fast(Estimator, random_state=3).fit_transform(wine)
    Z2 = fast(Estimator, random_state=3).fit_transform(wine)
    np.testing.assert_array_equal(Z1, Z2)


def test_different_random_states_give_different_networks(wine):
    Z1 = fast(AutoencoderTransformer, random_state=1).fit_transform(wine)
    Z2 = fast(AutoencoderTransformer, random_state=2).fit_transform(wine)
    assert not np.allclose(Z1, Z2)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_global_random_generators_are_untouched(Estimator, wine):
    torch.manual_seed(123)
    # the legacy global generator is the one to protect here
    np.random.seed(123)  # noqa: NPY002
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    fast(Estimator, random_state=0).fit(wine)
    fast(Estimator, random_state=None).fit(wine)
    assert torch.equal(torch.get_rng_state(), torch_state)
    now = np.random.get_state()  # noqa: NPY002
    assert now[0] == numpy_state[0] and np.array_equal(now[1], numpy_state[1])
    assert now[2:] == numpy_state[2:]  # the position in the key array, the cached normal


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_score_is_mean_negative_reconstruction_error(Estimator, wine):
    # the aligned linear autoencoder scores like PCA instead (see test_linear)
    params = {"align": False} if Estimator is LinearAETransformer else {}
    X = wine
    est = fast(Estimator, **params).fit(X)
    X_rec = est.inverse_transform(est.transform(X))
    per_sample = ((X - X_rec) ** 2).mean(axis=1)
    np.testing.assert_allclose(est.score_samples(X), -per_sample, rtol=1e-10)
    assert est.score(X) == pytest.approx(-per_sample.mean())


def test_bce_scores_are_per_sample_bernoulli_divergence():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 6))
    est = fast(AutoencoderTransformer, output_activation="sigmoid", loss="bce").fit(X)
    P = est.inverse_transform(est.transform(X))
    bce = -(X * np.log(P) + (1 - X) * np.log(1 - P)).mean(axis=1)
    own_entropy = -(X * np.log(X) + (1 - X) * np.log(1 - X)).mean(axis=1)
    np.testing.assert_allclose(est.score_samples(X), -(bce - own_entropy), rtol=1e-6)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fitted_history_attributes(Estimator, wine):
    params = {"solver": "lbfgs"} if Estimator is LinearAETransformer else {}
    est = fast(Estimator, max_iter=7, **params).fit(wine)
    assert est.n_iter_ == len(est.loss_curve_) <= 7
    assert est.n_features_in_ == 13 and est.n_components_ == 2
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_and_params_round_trip(Estimator, wine):
    est = fast(Estimator, n_components=3)
    assert clone(est).get_params() == est.get_params()
    est.set_params(n_components=4)
    assert est.fit(wine).transform(wine).shape == (178, 4)
    assert not hasattr(clone(est), "net_")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickle_and_joblib_round_trip(Estimator, wine, tmp_path):
    X = wine
    est = fast(Estimator).fit(X)
    Z = est.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), Z)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).transform(X), Z)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unpickling_where_the_device_is_missing_falls_back_to_the_cpu(Estimator, wine, monkeypatch):
    X = wine
    est = fast(Estimator).fit(X)
    Z = est.transform(X)
    # as if fitted on a GPU machine and loaded on one without CUDA
    data = pickle.dumps(est.set_params(device="cuda"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available.*stays on the CPU"):
        loaded = pickle.loads(data)
    assert loaded.net_.device == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pickle.loads(pickle.dumps(est.set_params(device="auto"))).net_.device == "cpu"


@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_unpickling_onto_an_unsupported_device_falls_back_to_the_cpu(device, wine):
    est = fast(LinearAETransformer).fit(wine)
    with pytest.warns(UserWarning, match="not supported.*stays on the CPU"):
        loaded = pickle.loads(pickle.dumps(est.set_params(device=device)))
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))
    with pytest.raises(ValueError, match=f"device='{device}' is not supported"):
        loaded.fit(wine)


def test_warm_start_moves_the_network_to_the_current_device(wine):
    est = fast(AutoencoderTransformer, warm_start=True, max_iter=2).fit(wine)
    # a torch.device object stands for any other device on a CPU-only machine
    est.net_.device = torch.device("cpu")
    est.fit(wine)
    assert est.net_.device == "cpu"


@pytest.fixture(scope="module")
def transformed_in_a_fresh_process(wine, tmp_path_factory):
    """Each of ESTIMATORS fitted here and its codes of wine computed by a fresh
    process that loaded it (one process for all: its start is most of the time)."""
    folder = tmp_path_factory.mktemp("fresh")
    fitted = {Estimator.__name__: fast(Estimator).fit(wine) for Estimator in ESTIMATORS}
    for name, est in fitted.items():
        joblib.dump(est, folder / f"{name}.joblib")
    np.save(folder / "X.npy", wine)
    code = (
        "import joblib, numpy as np, sys; d, names = sys.argv[1], sys.argv[2:]\n"
        "for name in names:\n"
        "    est = joblib.load(f'{d}/{name}.joblib')\n"
        "    np.save(f'{d}/{name}.npy', est.transform(np.load(d + '/X.npy')))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), *fitted], check=True)
    return {name: (est, np.load(folder / f"{name}.npy")) for name, est in fitted.items()}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_loaded_in_a_fresh_process_transforms_identically(
    Estimator, wine, transformed_in_a_fresh_process
):
    est, Z = transformed_in_a_fresh_process[Estimator.__name__]
    np.testing.assert_array_equal(Z, est.transform(wine))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_feature_names_and_pandas_output(Estimator, wine):
    columns = load_wine().feature_names
    df = pd.DataFrame(wine, columns=columns)
    est = fast(Estimator).set_output(transform="pandas").fit(df)
    prefix = Estimator.__name__.lower()
    out = est.transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"{prefix}0", f"{prefix}1"]
    assert list(est.feature_names_in_) == columns
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.transform(wine)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pipeline_with_standard_scaler(Estimator):
    X = load_wine().data
    pipe = make_pipeline(StandardScaler(), fast(Estimator, max_iter=100, batch_size=32)).fit(X)
    Z = pipe.transform(X)
    X_rec = pipe.inverse_transform(Z)
    assert Z.shape == (178, 2) and X_rec.shape == X.shape
    # a 2-d code loses information, but far less than predicting every sample by
    # the mean does (error 1 per standardized feature)
    scale = pipe[0].transform
    assert ((scale(X_rec) - scale(X)) ** 2).mean() < 0.6
    names = pipe.set_output(transform="pandas").fit(pd.DataFrame(X)).get_feature_names_out()
    assert list(names) == [f"{Estimator.__name__.lower()}{i}" for i in range(2)]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_swaps_pca_for_autoencoders(wine, n_jobs):
    X, y = load_wine(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("reduce", PCA()), ("clf", LogisticRegression())])
    grid = {
        "reduce": [
            PCA(),
            LinearAETransformer(random_state=0),
            AutoencoderTransformer(max_iter=10, random_state=0),
        ],
        "reduce__n_components": [2, 4],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 6 and np.all(np.isfinite(scores))
    assert search.best_score_ > 0.9
    # PCA and the aligned linear autoencoder give the same features, so the same scores
    np.testing.assert_allclose(scores[:2], scores[2:4], atol=1e-12)
    assert search.best_estimator_.predict(X).shape == (178,)


def test_search_without_downstream_model_ranks_by_its_score(wine):
    # LinearAETransformer's score is PCA's log-likelihood, which grows with the
    # number of components here, as PCA's does
    search = GridSearchCV(
        LinearAETransformer(random_state=0), {"n_components": [1, 3, 6]}, cv=3
    ).fit(wine)
    pca = GridSearchCV(PCA(), {"n_components": [1, 3, 6]}, cv=3).fit(wine)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], pca.cv_results_["mean_test_score"], rtol=1e-8
    )


# -- training controls ------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_verbose_prints_epochs_and_silence_otherwise(Estimator, wine, capsys):
    params = {"solver": "minibatch"} if Estimator is LinearAETransformer else {}
    fast(Estimator, max_iter=3, **params).fit(wine)
    assert capsys.readouterr().out == ""
    fast(Estimator, max_iter=3, verbose=1, **params).fit(wine)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train loss" in line and line.endswith(" s") for line in lines)
    assert not any("\x1b" in line for line in lines)  # no colour codes off a terminal


def test_early_stopping_records_validation_and_restores_best(wine):
    est = AutoencoderTransformer(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        max_iter=300,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(wine)
    assert len(est.validation_scores_) == est.n_iter_ < 300
    assert est.best_validation_score_ == max(est.validation_scores_)
    # training ran exactly n_iter_no_change epochs past the best one...
    best_epoch = int(np.argmax(est.validation_scores_)) + 1
    assert est.n_iter_ == best_epoch + 3
    # ...and the weights kept are that epoch's, not the last epoch's
    stopper = dict(est.net_.callbacks_)["early_stopping"]
    assert stopper.best_epoch_ == best_epoch
    state = est.net_.module_.state_dict()
    assert all(torch.equal(state[k], v) for k, v in stopper.best_model_weights_.items())


def test_early_stopping_keeps_the_weights_of_the_best_score_whatever_tol(wine):
    # skorch kept the weights of the last epoch that beat the best by tol: with
    # every epoch better by less than tol, the first epoch's weights came back
    # while best_validation_score_ reported the fourth's
    X = StandardScaler().fit_transform(wine)
    kwargs = dict(early_stopping=True, random_state=0, batch_size=16)
    est = AutoencoderTransformer(2, n_iter_no_change=3, tol=0.2, max_iter=15, **kwargs).fit(X)
    scores = est.validation_scores_
    assert all(np.diff(scores) > 0) and np.diff(scores).max() < 0.2  # better, by less than tol
    assert est.best_validation_score_ == max(scores)
    best = int(np.argmax(scores)) + 1
    assert best > 1
    again = AutoencoderTransformer(2, n_iter_no_change=None, max_iter=best, **kwargs).fit(X)
    np.testing.assert_allclose(est.transform(X), again.transform(X), rtol=1e-5, atol=1e-6)


def test_a_validation_loss_that_is_not_finite_is_an_error_not_a_model():
    # a held-out row past float16's range made every validation score NaN: early
    # stopping compared nothing and stopped, and skae.save refused the model
    X = np.random.RandomState(0).rand(10, 3)
    X[0] = 1e5
    est = AutoencoderTransformer(
        2,
        early_stopping=True,
        validation_fraction=0.3,
        max_iter=4,
        random_state=4,
        precision="float16",
        n_iter_no_change=2,
    )
    with pytest.raises(ValueError, match=r"validation loss of epoch 1 is nan: a held-out row"):
        est.fit(X)
    assert not hasattr(est, "net_")


def test_a_validation_loss_past_float32_s_range_does_not_blame_float16():
    # the message named float16's limit whatever the precision
    X = np.random.RandomState(0).rand(10, 3)
    X[5] = 1e25
    est = AutoencoderTransformer(
        2, early_stopping=True, validation_fraction=0.5, max_iter=2, random_state=0
    )
    with pytest.raises(ValueError, match="a held-out row is past what the network") as error:
        est.fit(X)
    assert "float16" not in str(error.value)


def test_early_stopping_needs_enough_samples():
    with pytest.raises(ValueError, match="leaves no training or no validation sample"):
        AutoencoderTransformer(early_stopping=True, validation_fraction=0.5).fit([[0.0, 1.0]])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_training(Estimator, wine):
    params = {"solver": "minibatch"} if Estimator is LinearAETransformer else {}
    est = fast(Estimator, max_iter=5, warm_start=True, n_iter_no_change=50, **params)
    est.fit(wine)
    first_loss = est.loss_curve_[-1]
    est.fit(wine)
    assert est.n_iter_ == 10 and len(est.loss_curve_) == 10
    assert est.loss_curve_[-1] < first_loss
    with pytest.raises(ValueError, match="X has 12 features"):
        est.fit(wine[:, :12])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_switched_on_in_a_continued_fit_is_refused(Estimator, wine, tmp_path):
    # it recorded validation scores for the new epochs only: the fit went on, and
    # the model could never be saved (its history disagreed with itself)
    params = {"solver": "minibatch"} if Estimator is LinearAETransformer else {}
    est = fast(Estimator, max_iter=2, warm_start=True, n_iter_no_change=None, **params)
    est.fit(wine)
    loss_curve = list(est.loss_curve_)
    message = r"built with early_stopping=False \(now True\)"
    for method in (est.set_params(early_stopping=True).fit, est.partial_fit):
        with pytest.raises(ValueError, match=message):
            method(wine)
    assert est.loss_curve_ == loss_curve
    # a fit that had it on continues with it on or off, and saves
    est.set_params(warm_start=False, early_stopping=True).fit(wine)
    est.set_params(warm_start=True).fit(wine)
    assert len(est.validation_scores_) == est.n_iter_
    est.set_params(early_stopping=False).fit(wine)
    skae.save(est, tmp_path / "est.skae")
