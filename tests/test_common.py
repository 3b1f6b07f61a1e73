"""scikit-learn's estimator checks over every configuration of the instance
generator, and the test that the generator and skae's registry cover every public
estimator."""

from unittest import SkipTest

import numpy as np
import pytest
from sklearn.base import OutlierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import estimator_checks_generator

from skae import AutoencoderImputer
from skae._base import _ESTIMATORS

from ._instances import (
    LENIENT,
    categorical_ids,
    expected_failed_checks,
    imputer_ids,
    instance,
    instance_ids,
    needs_unit_interval,
    public_estimator_classes,
)


def _checks():
    """scikit-learn's checks of every configuration that takes any data, each
    expected failure marked with its reason (strict unless it may pass by platform)."""
    for key in instance_ids(data="any") + imputer_ids() + categorical_ids():
        failing = expected_failed_checks(instance(key))
        for estimator, check in estimator_checks_generator(instance(key), mark=None):
            name = check.func.__name__
            marks = []
            if name in failing:
                reason = failing[name]
                marks = pytest.mark.xfail(reason=reason, strict=reason not in LENIENT)
            yield pytest.param(estimator, check, marks=marks, id=f"{key}-{name}")


def test_every_public_estimator_is_registered_and_has_test_instances():
    classes = public_estimator_classes()
    assert classes, "skae exports no estimator"
    # defining a public estimator registers it with skae.save / skae.load
    assert set(_ESTIMATORS.values()) == set(classes)
    covered = {type(instance(key)) for key in instance_ids() + imputer_ids()}
    missing = [cls.__name__ for cls in classes if cls not in covered]
    assert missing == [], f"add fast settings for {missing} to tests/_instances.py"
    # and each of them takes any data, so that every shared test can use it
    covered_by_any = {type(instance(key)) for key in instance_ids(data="any") + imputer_ids()}
    assert covered_by_any == set(classes)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator, check", list(_checks()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


_IMPUTER_DEFAULT_CHECKS = ("fit2d_1sample", "pickle")

# Checks that give a fit the same data in other containers (sparse formats, dtypes,
# lists, pandas, memmaps, Fortran order, y passed along) or check the input's
# validation: they exercise the path from the input to the tensors, which reads no
# hyperparameter, and the fast instances run every one of them. At the defaults
# they were half of the run's time (the sparse checks fit nine formats each).
_CONTAINER_CHECKS = {
    "check_dtype_object",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_f_contiguous_array_estimator",
    "check_fit_score_takes_y",
    "check_readonly_memmap_input",
    "check_sample_weight_equivalence_on_sparse_data",
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_pandas_series",
    "check_transformer_data_not_an_array",
}


@pytest.mark.parametrize("Estimator", public_estimator_classes(), ids=lambda c: c.__name__)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_check_estimator_passes_with_default_parameters(Estimator):
    # the default network (100 hidden units, up to 200 epochs) of each class, in
    # every check that judges what a fit at the defaults computes (idempotence,
    # subset and order invariance, pipelines, preserved dtypes, weights as
    # repetitions, pickles, one sample or one feature); the checks that only change
    # the data's container run on the fast instances. A detector's defaults are its
    # transformer's plus contamination, so a detector runs the checks of outlier
    # detectors only (its transformer ran the rest at the same defaults)
    # The imputer's network is an AutoencoderTransformer's, trained alike; at its
    # own defaults (a wider network, 200 epochs exactly) it runs the checks that
    # reach its own code: a single row, and data with holes (the pickle checks),
    # at a cost that fits the suite; its fast instances run every check.
    estimator = Estimator()
    detector = isinstance(estimator, OutlierMixin)
    imputer = isinstance(estimator, AutoencoderImputer)
    expected = expected_failed_checks(estimator)
    failed, stale, passed = [], [], 0
    for est, check in estimator_checks_generator(estimator, mark=None):
        name = check.func.__name__
        if name in _CONTAINER_CHECKS or (detector and "outlier" not in name):
            continue
        if imputer and not any(k in name for k in _IMPUTER_DEFAULT_CHECKS):
            continue
        try:
            check(est)
        except SkipTest:
            continue
        except Exception as error:
            if name not in expected:
                failed.append((name, error))
            continue
        passed += 1
        # a check listed as failing by design that passes would be a stale entry
        if name in expected and expected[name] not in LENIENT:
            stale.append(name)
    assert failed == []
    assert stale == []
    assert passed > (3 if detector else 2 if imputer else 35)


def test_fast_settings_really_warn_about_convergence():
    # the filter above hides a real warning, not a silent one
    est = instance("ae", max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est.fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])


@pytest.mark.parametrize("kind", ["ae", "ae-detector", "vae", "vae-detector"])
def test_convergence_warning_names_the_caller_s_line(kind):
    # not a line of skae's, however deep its calls (a line of skae's would also
    # merge, under the default filter, the warnings of different user lines)
    est = instance(kind, max_iter=1, n_iter_no_change=5, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        est.fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    assert [w.filename for w in record] == [__file__]


@pytest.mark.parametrize("key", instance_ids())
def test_a_bernoulli_model_declares_the_nonnegative_input_it_needs(key):
    # loss="bce" and likelihood="bernoulli" refuse negative X in fit, as
    # MultinomialNB does, which declares positive_only; they declared nothing
    tags = instance(key).__sklearn_tags__()
    assert tags.input_tags.positive_only == needs_unit_interval(key)
    if needs_unit_interval(key):
        # and refuse them in scikit-learn's words, which its check of the tag reads
        from sklearn.utils.estimator_checks import check_positive_only_tag_during_fit

        check_positive_only_tag_during_fit(key, instance(key, max_iter=1))


def test_a_warning_from_a_pipeline_or_a_search_names_the_caller_s_line():
    # it named a line of scikit-learn's (the Pipeline's, the search's fit of a
    # candidate) or joblib's
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X = np.random.default_rng(0).normal(size=(30, 3))
    est = instance("ae", max_iter=1, n_iter_no_change=5, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        make_pipeline(est).fit(X)
        GridSearchCV(est, {"alpha": [1e-4]}, cv=2, scoring=lambda e, X, y=None: 0.0).fit(X)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {__file__}
