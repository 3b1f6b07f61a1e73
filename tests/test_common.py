"""scikit-learn's estimator checks over every public estimator."""

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    LinearAETransformer,
    VAEOutlierDetector,
    VAETransformer,
)

# Small settings keep the checks fast; the defaults run once more below.
FAST_ESTIMATORS = [
    AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=5),
    AutoencoderTransformer(
        hidden_layer_sizes=(8,), max_iter=5, noise=0.1, sparsity=0.01, dropout=0.1
    ),
    AutoencoderOutlierDetector(hidden_layer_sizes=(8,), max_iter=5),
    LinearAETransformer(max_iter=5),
    LinearAETransformer(solver="minibatch", max_iter=5),
    LinearAETransformer(solver="lbfgs", max_iter=5),
    VAETransformer(hidden_layer_sizes=(8,), max_iter=5),
    VAEOutlierDetector(hidden_layer_sizes=(8,), max_iter=5),
    VAEOutlierDetector(hidden_layer_sizes=(8,), max_iter=5, anomaly_score="elbo"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(FAST_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "Estimator",
    [
        AutoencoderTransformer,
        LinearAETransformer,
        AutoencoderOutlierDetector,
        VAETransformer,
        VAEOutlierDetector,
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_check_estimator_passes_with_default_parameters(Estimator):
    results = check_estimator(Estimator(), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) > 40


def test_fast_settings_really_warn_about_convergence():
    # the filter above hides a real warning, not a silent one
    est = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est.fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
