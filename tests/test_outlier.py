"""The outlier threshold (skae/_outlier.py): the weighted quantile of training scores."""

import numpy as np
import pytest

from skae._outlier import _quantile


@pytest.mark.parametrize("q", [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_the_quantile_is_numpys_averaged_inverted_cdf_with_weights_as_repeats(q):
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40, 101):
        values = rng.normal(size=n)
        values[: n // 3] = values[-1]  # ties
        assert _quantile(values, q) == np.quantile(values, q, method="averaged_inverted_cdf")
        weights = rng.integers(0, 4, size=n).astype(float)
        weights[0] = 1
        expected = np.quantile(
            np.repeat(values, weights.astype(int)), q, method="averaged_inverted_cdf"
        )
        assert _quantile(values, q, weights) == expected
        assert _quantile(values, q, weights * 2.0**-7) == expected
