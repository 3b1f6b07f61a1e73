"""What makes an estimator's ``score_samples`` an outlier detector: a threshold
on the training scores, as :class:`~sklearn.ensemble.IsolationForest` has one."""

import numbers

import numpy as np
from sklearn.base import OutlierMixin

from ._distributed import _all_rows
from ._validation import _Fitted, _Interval, _Options


def _quantile(values, q, weights=None):
    """The ``q``-quantile of ``values`` under frequency ``weights`` (None: all 1):
    the smallest value where their weighted empirical distribution reaches ``q``,
    averaged with the next where it reaches ``q`` exactly (numpy's
    "averaged_inverted_cdf", and scikit-learn's weighted percentile). It depends
    on the distribution only, so integer weights act as repeated values, zero
    weights as absent ones, and the weights' scale does not matter."""
    order = np.argsort(values, kind="stable")
    values = values[order]
    weights = np.ones(len(values)) if weights is None else weights[order]
    values, weights = values[weights > 0], weights[weights > 0]
    # rescaled, so that no sum overflows or underflows
    cumulative = np.cumsum(weights / weights.max())
    target = q * cumulative[-1]
    # a cumulative weight within rounding of the target reaches it exactly (weights
    # of 0.1 add up to 0.30000000000000004)
    tolerance = 16 * np.finfo(float).eps * cumulative[-1]
    i = min(int(np.searchsorted(cumulative, target - tolerance)), len(values) - 1)
    if abs(cumulative[i] - target) <= tolerance and i + 1 < len(values):
        return (values[i] + values[i + 1]) / 2
    return values[i]


class _OutlierThreshold(OutlierMixin):
    """The ``contamination`` parameter, ``offset_`` from it on the training scores
    (of every rank's rows in a process group), ``decision_function`` and
    ``predict``, mixed in before an estimator class that has ``score_samples``."""

    _parameter_rules = {
        "contamination": [_Options(("auto",)), _Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    _fitted_state = {"offset_": _Fitted(_Interval(numbers.Real, None, None))}

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        super()._fit_validated(X, sample_weight, resume=resume, incremental=incremental)
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        if not (weights > 0).all():
            # a row of weight zero counts for nothing, and may have no score at all
            X, weights = X[weights > 0], weights[weights > 0]
        scores, weights = _all_rows(self._score_samples(X)), _all_rows(weights)
        if self.contamination == "auto":
            q1, q3 = (_quantile(scores, q, weights) for q in (0.25, 0.75))
            self.offset_ = float(q1 - 1.5 * (q3 - q1))
        else:
            self.offset_ = float(_quantile(scores, self.contamination, weights))

    def decision_function(self, X):
        """Score minus ``offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to judge.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """-1 for outliers, +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to judge.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
