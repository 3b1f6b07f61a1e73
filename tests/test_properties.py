"""Property tests: random shapes, dtypes, NaN placement and DataFrames.

Every input either works, with the documented shapes and dtypes, or raises the
documented error; the caller's data is never modified. Examples are drawn
deterministically (``derandomize``) so that CI runs are reproducible.
"""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import skae
from skae import LinearAETransformer

from ._instances import instance, instance_ids

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:n_components=.*can learn the identity:UserWarning",
    "ignore:X does not have valid feature names:UserWarning",
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [np.float32, np.float64, np.int64]


# every configuration of the instance generator that takes any data
KINDS = instance_ids(data="any")


def _estimator(kind, n_components):
    return instance(kind, n_components=n_components, max_iter=3, random_state=0)


@st.composite
def datasets(draw, bad_values=True):
    """(X, with_bad_values): an array of random shape and dtype, maybe with NaN or inf."""
    n_samples = draw(st.integers(1, 25))
    n_features = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    if dtype is np.int64:
        elements = st.integers(-1000, 1000)
    else:
        elements = st.floats(-1e4, 1e4, allow_nan=False, width=32)
    X = draw(arrays(dtype, (n_samples, n_features), elements=elements))
    bad = None
    if bad_values and dtype is not np.int64:
        # NaN is a missing value, not bad (tests/test_missing.py)
        bad = draw(st.sampled_from([None, np.inf, -np.inf]))
    if bad is not None:
        mask = draw(arrays(np.bool_, X.shape))
        if not mask.any():
            mask.flat[draw(st.integers(0, X.size - 1))] = True
        X[mask] = bad
    return X, bad is not None


def _expected_error(kind, X, has_bad_values, n_components):
    """The documented ValueError message this input must raise, or None."""
    n_samples, n_features = X.shape
    if has_bad_values:
        return "Input X contains infinity"
    est = _estimator(kind, n_components)
    if not isinstance(est, LinearAETransformer):
        return None
    if n_samples < 2:
        return "minimum of 2 is required"
    if n_components > min(n_samples, n_features) and (est.align or est.solver == "covariance"):
        return "must be between 0 and min"
    return None


@SETTINGS
@given(
    data=datasets(),
    kind=st.sampled_from(KINDS),
    n_components=st.integers(1, 4),
    as_frame=st.booleans(),
)
def test_fit_transform_any_input(data, kind, n_components, as_frame):
    X, has_bad_values = data
    original = X.copy()
    X_in = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]) if as_frame else X
    est = _estimator(kind, n_components)
    error = _expected_error(kind, X, has_bad_values, n_components)
    try:
        if error is not None:
            with pytest.raises(ValueError, match=error):
                est.fit(X_in)
            return
        try:
            Z = est.fit_transform(X_in)
        except FloatingPointError as diverged:  # documented: divergence is an error
            assert "Training diverged" in str(diverged)
            return
        out_dtype = np.float32 if X.dtype == np.float32 else np.float64
        assert Z.shape == (X.shape[0], n_components) and Z.dtype == out_dtype
        X_rec = est.inverse_transform(Z)
        assert X_rec.shape == X.shape and X_rec.dtype == out_dtype
        try:
            scores = est.score_samples(X_in)
        except ValueError as degenerate:  # documented: a degenerate PCA has no likelihood
            assert "degenerate" in str(degenerate)
        else:
            assert scores.shape == (X.shape[0],)
        if as_frame:
            assert list(est.feature_names_in_) == list(X_in.columns)
            assert len(est.get_feature_names_out()) == n_components
        with pytest.raises(ValueError, match="features"):
            est.transform(np.zeros((2, X.shape[1] + 1)))
        with pytest.raises(ValueError, match="n_components_"):
            est.inverse_transform(np.zeros((2, n_components + 1)))
    finally:
        np.testing.assert_array_equal(X, original)
        if as_frame:
            np.testing.assert_array_equal(X_in.to_numpy(), original)


@SETTINGS
@given(
    data=datasets(bad_values=False),
    bad=st.sampled_from([np.inf, -np.inf]),
    method=st.sampled_from(["transform", "inverse_transform", "score_samples"]),
)
def test_bad_values_at_inference_are_refused_without_mutation(data, bad, method):
    X = data[0].astype(np.float64)
    if X.shape[0] < 2:
        X = np.vstack([X, X + 1])
    est = LinearAETransformer(1, random_state=0).fit(X)
    Y = est.transform(X) if method == "inverse_transform" else X.copy()
    Y[0, -1] = bad
    original = Y.copy()
    with pytest.raises(ValueError, match=r"Input (X )?contains infinity"):
        getattr(est, method)(Y)
    np.testing.assert_array_equal(Y, original)


@SETTINGS
@given(
    data=datasets(),
    kind=st.sampled_from(KINDS),
    n_components=st.integers(1, 3),
)
def test_save_load_round_trip_is_exact(data, kind, n_components):
    X, has_bad_values = data
    if _expected_error(kind, X, has_bad_values, n_components) is not None:
        return
    est = _estimator(kind, n_components)
    try:
        est.fit(X)
    except FloatingPointError:
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "est.skae"
        skae.save(est, path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = skae.load(path)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    Z = est.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), est.inverse_transform(Z))
