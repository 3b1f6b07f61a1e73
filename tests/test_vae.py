"""VAETransformer and VAEOutlierDetector: the variational autoencoder as an estimator."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import VAEOutlierDetector, VAETransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def vae(**params):
    defaults = dict(
        n_components=4, likelihood="bernoulli", batch_size=64, max_iter=5, random_state=0
    )
    return VAETransformer(**(defaults | params))


def test_held_out_elbo_improves_with_training(digits01):
    X_train, X_test = digits01[:1400], digits01[1400:]
    short = vae(max_iter=2).fit(X_train)
    long = vae(max_iter=40, n_iter_no_change=None).fit(X_train)
    assert long.score(X_test) > short.score(X_test) + 3  # nats per image
    assert long.loss_curve_[-1] < long.loss_curve_[0]
    # the score is an ELBO: about minus the training loss, on the training data
    assert -long.score(X_train) == pytest.approx(long.loss_curve_[-1], rel=0.05)


def test_transform_is_the_posterior_mean_and_inverse_the_decoder_mean(digits01):
    est = vae().fit(digits01)
    Z = est.transform(digits01[:10])
    assert Z.shape == (10, 4)
    np.testing.assert_array_equal(Z, est.transform(digits01[:10]))  # deterministic
    module = est.net_.module_
    with torch.no_grad():
        mean, _ = module.posterior(torch.as_tensor(digits01[:10], dtype=torch.float32))
    np.testing.assert_allclose(Z, mean.numpy(), rtol=1e-5, atol=1e-6)
    X_rec = est.inverse_transform(Z)
    assert X_rec.shape == (10, 64) and X_rec.min() >= 0 and X_rec.max() <= 1


def test_sample_is_reproducible_and_leaves_global_generators_alone(digits01):
    est = vae().fit(digits01)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()  # noqa: NPY002
    first, again = est.sample(5, random_state=3), est.sample(5, random_state=3)
    other = est.sample(5, random_state=4)
    assert first.shape == (5, 64)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002
    for bad in (0, True, 2.0, 2**64):  # True was one sample: a bool is no count
        with pytest.raises(ValueError, match="n_samples must be a positive int"):
            est.sample(bad)


def test_same_random_state_same_model(digits01):
    a = vae(max_iter=3).fit(digits01).transform(digits01)
    b = vae(max_iter=3).fit(digits01).transform(digits01)
    np.testing.assert_array_equal(a, b)


def test_larger_beta_pulls_the_posterior_to_the_prior(digits01):
    def mean_kl(beta):
        est = vae(beta=beta, max_iter=15).fit(digits01)
        with torch.no_grad():
            mean, log_var = est.net_.module_.posterior(
                torch.as_tensor(digits01, dtype=torch.float32)
            )
        return float((0.5 * (log_var.exp() + mean**2 - 1 - log_var).sum(1)).mean())

    assert mean_kl(4.0) < mean_kl(0.25)


def test_bernoulli_needs_data_in_the_unit_interval(digits01):
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs X in \[0, 1\]"):
        vae().fit(digits01 * 16)
    # the end past the interval in full: 1.0000001 is not shown as 1
    with pytest.raises(ValueError, match=r"got values in \[0, 1\.0000001\]"):
        vae().fit(np.vstack([digits01, np.full(64, 1.0000001)]))
    est = vae().fit(digits01)
    scores = est.score_samples(np.vstack([digits01[:3], digits01[:1] * 10]))
    assert np.isfinite(scores[:3]).all() and scores[3] == -np.inf


def test_gaussian_likelihood_on_standardized_data(wine):
    est = VAETransformer(2, max_iter=30, n_iter_no_change=None, random_state=0).fit(wine)
    assert est.transform(wine).shape == (178, 2)
    assert est.score(wine) > VAETransformer(2, max_iter=1, random_state=0).fit(wine).score(wine)


def test_float_dtypes_pipeline_search_clone_and_pickle(wine):
    for dtype in (np.float32, np.float64):
        Z = VAETransformer(2, max_iter=2, random_state=0).fit_transform(wine.astype(dtype))
        assert Z.dtype == dtype
    pipe = make_pipeline(StandardScaler(), VAETransformer(2, max_iter=3, random_state=0))
    pipe.set_output(transform="pandas").fit(wine)
    assert isinstance(pipe.transform(wine), pd.DataFrame)
    search = GridSearchCV(
        VAETransformer(max_iter=3, random_state=0), {"n_components": [1, 3]}, cv=3
    ).fit(wine)
    assert search.best_params_["n_components"] in (1, 3)
    est = search.best_estimator_
    assert clone(est).get_params() == est.get_params()
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(est)).transform(wine), est.transform(wine)
    )


def test_save_and_load_round_trip(digits01, tmp_path):
    est = VAEOutlierDetector(3, likelihood="bernoulli", max_iter=3, random_state=0).fit(digits01)
    skae.save(est, tmp_path / "vae.skae")
    loaded = skae.load(tmp_path / "vae.skae")
    np.testing.assert_array_equal(loaded.score_samples(digits01), est.score_samples(digits01))
    np.testing.assert_array_equal(loaded.predict(digits01), est.predict(digits01))
    est.partial_fit(digits01)
    loaded.partial_fit(digits01)
    np.testing.assert_array_equal(loaded.transform(digits01), est.transform(digits01))


def test_diverging_fit_leaves_the_fitted_vae_unchanged(wine):
    est = VAETransformer(2, max_iter=3, random_state=0).fit(wine)
    before = (est.transform(wine), est.n_iter_, list(est.loss_curve_))
    with pytest.raises(FloatingPointError):
        est.partial_fit(wine * 1e30)
    np.testing.assert_array_equal(est.transform(wine), before[0])
    assert (est.n_iter_, est.loss_curve_) == before[1:]


def test_detector_flags_other_digits(digits01, digits_labels):
    normal = digits01[digits_labels == 0]
    detector = VAEOutlierDetector(
        4, likelihood="bernoulli", contamination=0.05, max_iter=60, batch_size=32, random_state=0
    ).fit(normal[:140])
    X_test = np.vstack([normal[140:], digits01[digits_labels != 0][:300]])
    is_outlier = np.r_[np.zeros(len(normal) - 140), np.ones(300)]
    assert roc_auc_score(is_outlier, -detector.score_samples(X_test)) > 0.95
    np.testing.assert_array_equal(
        detector.predict(X_test), np.where(detector.decision_function(X_test) < 0, -1, 1)
    )
    assert (detector.predict(normal[:140]) == -1).mean() == pytest.approx(0.05, abs=0.02)


def bernoulli_divergence(X, P):
    """Mean over features of KL(Bernoulli(x) || Bernoulli(p)), in NumPy."""
    P = np.clip(P.astype(np.float64), 1e-12, 1 - 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(X > 0, X * np.log(X / P), 0.0)
        outside = np.where(X < 1, (1 - X) * np.log((1 - X) / (1 - P)), 0.0)
    return (inside + outside).mean(axis=1)


def test_detector_scores_by_reconstruction_of_the_posterior_mean(digits01, wine):
    detector = VAEOutlierDetector(4, likelihood="bernoulli", max_iter=5, random_state=0)
    detector.fit(digits01)
    decoded = detector.inverse_transform(detector.transform(digits01))
    np.testing.assert_allclose(
        detector.score_samples(digits01), -bernoulli_divergence(digits01, decoded), atol=1e-5
    )
    gaussian = VAEOutlierDetector(3, max_iter=5, random_state=0).fit(wine)
    decoded = gaussian.inverse_transform(gaussian.transform(wine))
    np.testing.assert_allclose(
        gaussian.score_samples(wine), -((wine - decoded) ** 2).mean(axis=1), rtol=1e-6
    )
    # the threshold is set on that score
    assert np.mean(gaussian.score_samples(wine) < gaussian.offset_) > 0


def test_detector_scores_by_the_elbo_when_asked(digits01):
    params = dict(n_components=4, likelihood="bernoulli", max_iter=5, random_state=0)
    detector = VAEOutlierDetector(anomaly_score="elbo", contamination=0.1, **params).fit(digits01)
    elbo = VAETransformer(**params).fit(digits01).score_samples(digits01)
    np.testing.assert_array_equal(detector.score_samples(digits01), elbo)
    assert detector.offset_ == np.quantile(elbo, 0.1, method="averaged_inverted_cdf")


def test_detector_refuses_an_unknown_anomaly_score(digits01):
    with pytest.raises(ValueError, match=r"anomaly_score.*'likelihood'"):
        VAEOutlierDetector(anomaly_score="likelihood").fit(digits01)


def test_the_fit_fixes_the_score_that_offset_is_on(digits01):
    detector = VAEOutlierDetector(4, likelihood="bernoulli", max_iter=3, random_state=0)
    detector.fit(digits01)
    scores, labels = detector.score_samples(digits01), detector.predict(digits01)
    # the parameter takes effect at the next fit, as n_components does for PCA
    detector.set_params(anomaly_score="elbo")
    np.testing.assert_array_equal(detector.score_samples(digits01), scores)
    np.testing.assert_array_equal(detector.predict(digits01), labels)
    assert detector.anomaly_score_ == "reconstruction"
    detector.fit(digits01)
    assert detector.anomaly_score_ == "elbo" and detector.score_samples(digits01).mean() < -5
    assert 0 < (detector.predict(digits01) == -1).mean() < 0.2


def test_elbo_detector_saves_and_loads_with_its_score(digits01, tmp_path):
    detector = VAEOutlierDetector(
        3, likelihood="bernoulli", anomaly_score="elbo", max_iter=3, random_state=0
    ).fit(digits01)
    skae.save(detector, tmp_path / "elbo.skae")
    loaded = skae.load(tmp_path / "elbo.skae")
    assert loaded.anomaly_score_ == "elbo" and loaded.offset_ == detector.offset_
    np.testing.assert_array_equal(loaded.score_samples(digits01), detector.score_samples(digits01))


def test_elbo_uses_the_same_draws_for_float32_and_float64(digits01):
    vae_ = vae(max_iter=3).fit(digits01.astype(np.float32))
    elbo32 = vae_.score_samples(digits01.astype(np.float32))
    elbo64 = vae_.score_samples(digits01)
    np.testing.assert_allclose(elbo32, elbo64, atol=1e-3)


def test_samples_and_the_errors_of_categories_follow_the_fitted_likelihood():
    import pandas as pd

    import skae
    from skae.metrics import reconstruction_error

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(40), "b": rng.random(40), "c": rng.choice(["x", "y"], 40)})
    vae = skae.VAETransformer(
        1, hidden_layer_sizes=(4,), categorical_features=["c"], max_iter=2, random_state=0
    ).fit(X)
    vae.set_params(likelihood="bernoulli")
    with pytest.raises(ValueError, match="was fitted with likelihood='gaussian'"):
        vae.sample(3, random_state=0)
    with pytest.raises(ValueError, match="was fitted with likelihood='gaussian'"):
        reconstruction_error(vae, X)
