"""What makes an estimator's ``score_samples`` an outlier detector: a threshold
on the training scores, as :class:`~sklearn.ensemble.IsolationForest` has one."""

import numbers
from functools import partial

import numpy as np
from sklearn.base import OutlierMixin

from ._changes import _scored_changes
from ._distributed import _all_rows
from ._validation import _Array, _Fitted, _Interval, _Options


def _quantile(values, q, weights=None):
    """The ``q``-quantile of ``values`` under frequency ``weights`` (None: all 1):
    the smallest value where their weighted empirical distribution reaches ``q``,
    averaged with the next where it reaches ``q`` exactly (numpy's
    "averaged_inverted_cdf", and scikit-learn's weighted percentile). It depends
    on the distribution only, so integer weights act as repeated values, zero
    weights as absent ones, and the weights' scale does not matter. ``q`` may be
    an array of quantiles, read from one sort."""
    order = np.argsort(values, kind="stable")
    # in float64: the midpoint of two neighbouring float32 scores rounded to the
    # lower one, which then counted as an inlier (one outlier too few)
    values = np.asarray(values, dtype=np.float64)[order]
    weights = np.ones(len(values)) if weights is None else weights[order]
    values, weights = values[weights > 0], weights[weights > 0]
    # rescaled, so that no sum overflows or underflows
    cumulative = np.cumsum(weights / weights.max())
    target = np.asarray(q) * cumulative[-1]
    # a cumulative weight within rounding of the target reaches it exactly (weights
    # of 0.1 add up to 0.30000000000000004)
    tolerance = 16 * np.finfo(float).eps * cumulative[-1]
    i = np.minimum(np.searchsorted(cumulative, target - tolerance), len(values) - 1)
    following = np.minimum(i + 1, len(values) - 1)
    exact = (np.abs(cumulative[i] - target) <= tolerance) & (i + 1 < len(values))
    return np.where(exact, (values[i] + values[following]) / 2, values[i])[()]


def _merged_quantiles(percentiles, kept, values, weights, q):
    """The ``q``-quantiles of ``kept`` rows distributed as their ``percentiles`` say
    (0, 1, ..., 100: linear between distinct ones, a share of the rows at a value
    that several of them equal) together with ``values`` of frequency ``weights``,
    a kept row weighing their mean: the inverse of the mixture's distribution
    function. Re-reading the percentiles as 101 values of equal weight instead
    rounded each merge's quantiles to a whole percentile, which partial_fit's next
    merges compounded; interpolating across tied ones spread their rows away."""
    order = np.argsort(values, kind="stable")
    # rescaled, so that no sum overflows (weights of 1e307 made the quantiles NaN)
    values, weights = np.asarray(values, dtype=np.float64)[order], weights[order]
    weights = weights / weights.max()
    total = weights.sum()
    share = kept * weights.mean() / (kept * weights.mean() + total)
    points = np.unique(np.concatenate([percentiles, values]))
    # the earlier rows' distribution function just below each point and at it: a
    # point that percentiles i to j equal holds the levels from i to j
    first = np.searchsorted(percentiles, points, side="left")
    last = np.searchsorted(percentiles, points, side="right") - 1
    between = np.interp(points, percentiles, _PERCENTILES)
    tied = first <= last
    earlier_below = np.where(tied, _PERCENTILES[np.minimum(first, 100)], between)
    earlier_at = np.where(tied, _PERCENTILES[np.maximum(last, 0)], between)
    # the values' part steps up at each of them
    cumulative = np.concatenate([[0.0], np.cumsum(weights) / total])
    below = (
        share * earlier_below
        + (1 - share) * cumulative[np.searchsorted(values, points, side="left")]
    )
    at = (
        share * earlier_at + (1 - share) * cumulative[np.searchsorted(values, points, side="right")]
    )
    levels = np.column_stack([below, at]).ravel()
    return np.interp(q, levels, np.repeat(points, 2))[()]


# partial_fit reads offset_ from its chunk's scores and, where the chunk has fewer
# rows than this, from those of the rows before it up to this many, summarized by
# their percentiles 0, 1, ..., 100 (score_quantiles_), unless the chunk's scores
# are of another kind (the loss, likelihood or anomaly score changed)
_OFFSET_ROWS = 2048
_PERCENTILES = np.linspace(0.0, 1.0, 101)


class _OutlierThreshold(OutlierMixin):
    """The ``contamination`` parameter, ``offset_`` from it on the training scores
    (of every rank's rows in a process group), ``decision_function`` and
    ``predict``, mixed in before an estimator class that has ``score_samples``."""

    _parameter_rules = {
        "contamination": [_Options(("auto",)), _Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    _fitted_state = {
        "offset_": _Fitted(_Interval(numbers.Real, None, None)),
        # skae 0.2.0's files lack these: a partial_fit after loading one starts anew
        "score_quantiles_": _Array("_n_percentiles", optional=True),
        "n_offset_samples_": _Fitted(_Interval(numbers.Integral, 1, None), optional=True),
    }
    _n_percentiles = len(_PERCENTILES)

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        if incremental and resume and _scored_changes(self):
            # the earlier rows' quantiles are of the fitted loss's scores: a
            # partial_fit with another loss or likelihood starts them anew
            self._forget_score_quantiles()
        super()._fit_validated(X, sample_weight, resume=resume, incremental=incremental)
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        if not (weights > 0).all():
            # a row of weight zero counts for nothing, and may have no score at all
            X, weights = X[weights > 0], weights[weights > 0]
        if getattr(self, "categories_", None) is not None:
            # scored as score_samples scores them: a category that only held-out
            # rows held was never trained, and is unknown there
            X = self._mark_untrained(X, X.copy(), np.inf)
        scores, weights = _all_rows(self._score_samples(X)), _all_rows(weights)
        earlier = getattr(self, "score_quantiles_", None) if incremental and resume else None
        if earlier is None or len(scores) >= _OFFSET_ROWS:
            quantiles, rows = partial(_quantile, scores, weights=weights), len(scores)
        else:
            # a threshold from a chunk of 5 rows alone flagged a quarter of the data:
            # the rows trained before it count too, up to _OFFSET_ROWS in all
            kept = min(self.n_offset_samples_, _OFFSET_ROWS - len(scores))
            quantiles = partial(_merged_quantiles, earlier, kept, scores, weights)
            rows = len(scores) + kept
        if self.contamination == "auto":
            q1, q3 = quantiles([0.25, 0.75])
            offset = q1 - 1.5 * (q3 - q1)
        else:
            offset = quantiles(self.contamination)
        self.offset_ = float(offset)
        self.score_quantiles_ = quantiles(_PERCENTILES)
        self.n_offset_samples_ = rows

    def _forget_score_quantiles(self):
        """Drop the quantiles of the scores of rows trained before: this
        ``partial_fit`` reads ``offset_`` from its own chunk's scores alone."""
        for name in ("score_quantiles_", "n_offset_samples_"):
            self.__dict__.pop(name, None)

    def _check_consistency(self):
        super()._check_consistency()
        quantiles = getattr(self, "score_quantiles_", None)
        if (quantiles is None) != (getattr(self, "n_offset_samples_", None) is None):
            raise ValueError("score_quantiles_ and n_offset_samples_ are set together.")
        if quantiles is not None and not (np.diff(quantiles) >= 0).all():
            raise ValueError("score_quantiles_ must be percentiles, in increasing order.")
        if quantiles is not None:
            # offset_ is read from the same distribution as the percentiles: the
            # rule of "auto" on two of them, or a quantile between two of them
            if self.contamination == "auto":
                low = high = float(quantiles[25] - 1.5 * (quantiles[75] - quantiles[25]))
            else:
                # the levels on either side (0.41 lies just below the grid's
                # 0.41000000000000003, where a merged quantile steps)
                share = self.contamination
                low = float(quantiles[np.searchsorted(_PERCENTILES, share, "right") - 1])
                high = float(quantiles[np.searchsorted(_PERCENTILES, share, "left")])
            slack = 1e-9 * (1.0 + np.abs(quantiles).max())
            if not low - slack <= self.offset_ <= high + slack:
                raise ValueError(
                    f"offset_={self.offset_!r} does not follow from score_quantiles_ and "
                    f"contamination={self.contamination!r} (it would lie in [{low!r}, {high!r}])."
                )

    def decision_function(self, X):
        """Score minus ``offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to judge.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``, in float64 (as ``offset_`` is): in
            float32, an ``offset_`` between two neighbouring scores rounded to one.
        """
        return np.asarray(self.score_samples(X), dtype=np.float64) - self.offset_

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
