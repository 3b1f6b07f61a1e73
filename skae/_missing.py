"""What skae's networks do with a missing entry (NaN): the value the encoder is
given in its place, and the observed-entries-only normalization of the losses and
scores.

A missing entry enters the encoder as its feature's *fill value*: the weighted
mean of the feature's observed training values (0 for a feature never observed).
The mean is what a network trained on complete rows expects least surprise from
(it is where the feature's values balance, the value that contributes least
information of its own), it is known before training starts, and it needs no
extra input width, so a network trained on complete data takes rows with holes
unchanged. The loss and the scores count the observed entries only: a row's term
is the mean (or, for a likelihood summed over features, the sum rescaled to all
``n_features``) of its observed entries' terms, so that a row does not score
better, nor weigh less in training, because it has holes.

With ``noise_type="missing"`` (the corruption of an imputer, as MIDAS trains),
observed entries are hidden at random as if they were missing, so that the
network learns to predict an entry from the others: an autoencoder trained on
its observed entries alone never has to.
"""

import numpy as np
import scipy.sparse as sp
import torch

from ._chunks import _chunks, _dense
from ._modules import _SparseRows
from ._validation import _Array


def _merged_means(means, totals, sums, new_totals):
    """The running means ``means`` of ``totals`` weight, merged with new observed
    ``sums`` of ``new_totals`` weight: ``(means, totals)`` of everything seen
    (0 where nothing was ever observed)."""
    totals = totals + new_totals
    merged = np.divide(
        means * (totals - new_totals) + sums,
        totals,
        out=np.zeros_like(totals),
        where=totals > 0,
    )
    return merged, totals


# what a missing entry is given to the encoder as, in the fitted state of the
# estimators that train on fill values (files of skae 0.2 hold neither entry)
_FILL_STATE = {
    # a model of 0.2.0 has none (and keeps none when it is saved again)
    "fill_values_": _Array("n_features_in_", optional=True),
    "n_observed_": _Array("n_features_in_", optional=True),
}


def _check_fill_state(estimator):
    """Raise ValueError unless the estimator's ``fill_values_`` and ``n_observed_``
    (each absent, or an array of the right shape) are both absent or both present,
    finite, and the counts not negative: what ``skae.load`` checks of them."""
    fill = getattr(estimator, "fill_values_", None)
    counts = getattr(estimator, "n_observed_", None)
    if (fill is None) != (counts is None):
        raise ValueError("fill_values_ and n_observed_ go together: one is missing.")
    if fill is None and getattr(estimator, "categories_", None) is not None:
        # categories came with the fill values (a category's fill is its frequency)
        raise ValueError("categories_ is set, but fill_values_ and n_observed_ are missing.")
    if fill is not None and not (
        np.isfinite(fill).all() and np.isfinite(counts).all() and (counts >= 0).all()
    ):
        raise ValueError("fill_values_ must be finite and n_observed_ finite and not negative.")


def _as_fill(estimator):
    """The estimator's ``fill_values_`` as a tensor (None: a file of skae 0.2 has
    none)."""
    fill = getattr(estimator, "fill_values_", None)
    return None if fill is None else torch.from_numpy(fill)


def _has_missing(X):
    """Whether ``X`` (an array or a sparse matrix, validated) holds a NaN."""
    values = X.data if sp.issparse(X) else X
    for rows in _chunks(values.shape[0], values.shape[1] if values.ndim == 2 else 1):
        if np.isnan(values[rows]).any():
            return True
    return False


def _hide_unobserved(estimator, X):
    """Validated ``X`` at inference, the features never observed in training made
    missing (in a copy): the network learned nothing of them, neither the weights
    that read them nor the output that reconstructs them, so that what they hold
    now would move the codes and the scores by untrained weights. In a sparse
    matrix such a column becomes a stored NaN in every row (its implicit zeros
    are observed values)."""
    counts = getattr(estimator, "n_observed_", None)
    if counts is None or counts.all():
        return X
    never = np.flatnonzero(counts == 0)
    if not sp.issparse(X):
        X = X.copy()
        X[:, never] = np.nan
        return X
    kept = np.flatnonzero(counts != 0)
    holes = sp.csr_matrix(np.full((X.shape[0], len(never)), np.nan, dtype=X.dtype))
    order = np.argsort(np.concatenate([kept, never]))
    hidden = sp.hstack([X[:, kept], holes], format="csr")[:, order]
    hidden.sort_indices()  # canonical, as validation leaves a matrix
    return hidden


def _check_rows_observed(X, what, sample_weight=None, *, hidden=False):
    """Raise ValueError naming the first row of ``X`` in which nothing is observed:
    such a row has nothing to ``what``. A row of zero ``sample_weight`` counts for
    nothing, whatever it holds, as if it were not there. ``hidden``: ``X`` is
    ``_hide_unobserved``'s, whose features never observed in training are NaN."""
    if not _has_missing(X):
        return
    never = ", or in a feature that no training row observed"
    for rows in _chunks(*X.shape):
        empty = np.isnan(_dense(X[rows])).all(axis=1)
        if sample_weight is not None:
            empty &= sample_weight[rows] > 0
        empty = np.flatnonzero(empty)
        if len(empty):
            raise ValueError(
                f"row {rows.start + int(empty[0])} of X has no observed value (every "
                f"entry is NaN{never if hidden else ''}): there is nothing to {what}. "
                "Drop such rows, or fill them first (for example with "
                "skae.AutoencoderImputer, which fills them)."
            )


def _may_have_nan(x):
    """False where the tensor ``x`` holds no NaN, in one pass: a NaN anywhere makes
    the sum NaN (infinities of both signs do too, so True is only a maybe). The
    boolean mask of ``isnan(x)`` costs ten times the sum on a batch of 256 MNIST
    rows, and every training step tests its input and its target."""
    return bool(torch.isnan(x.sum()))


def _filled(x, fill):
    """The tensor ``x`` (or ``_SparseRows``) with each NaN replaced by its column's
    ``fill`` value (a tensor of shape (n_features,), or None where no fill is
    known)."""
    if isinstance(x, _SparseRows):
        # a missing entry is a stored NaN: the fill values of the stored columns
        if not _may_have_nan(x.values):
            return x
        columns = None if fill is None else fill.to(x.values.device)[x.columns]
        values = _filled(x.values[:, None], None if columns is None else columns[:, None])
        return _SparseRows(x.rows, x.columns, values[:, 0], x.shape)
    if not _may_have_nan(x):
        return x
    missing = torch.isnan(x)
    if not missing.any():
        return x
    if fill is None:
        raise ValueError(
            "X has missing values (NaN), but this estimator was fitted by a skae "
            "version that did not record the values they are filled with; refit it."
        )
    return torch.where(missing, fill.to(device=x.device, dtype=x.dtype), x)


def _observed_mean(terms, observed):
    """Per row, the mean of ``terms`` over the entries that ``observed`` (a boolean
    tensor of the same shape, or None: all) marks; 0 for a row with none."""
    if observed is None:
        return terms.mean(dim=1)
    count = observed.sum(dim=1)
    total = torch.where(observed, terms, 0).sum(dim=1)
    # a complete row's mean is computed as in a batch without holes, to the bit
    return torch.where(
        count == terms.shape[1], terms.mean(dim=1), total / count.clamp_min(1).to(total.dtype)
    )


def _observed_total(terms, observed):
    """Per row, the sum of ``terms`` over all ``n_features`` entries, from the
    observed ones (``observed`` None: all): their mean times ``n_features``, the
    total the row would have if its missing entries were like its observed ones."""
    if observed is None:
        return terms.sum(dim=1)
    count = observed.sum(dim=1)
    total = torch.where(observed, terms, 0).sum(dim=1)
    # a complete row's total is computed as in a batch without holes, to the bit
    rescaled = total * (terms.shape[1] / count.clamp_min(1).to(total.dtype))
    return torch.where(count == terms.shape[1], terms.sum(dim=1), rescaled)


def _observed_entries(target):
    """``(target with its NaN as zeros, observed mask)``; the mask is None where
    every entry is observed, so that a complete batch's loss is computed exactly as
    before any entry could be missing."""
    if not _may_have_nan(target):
        return target, None
    missing = torch.isnan(target)
    if not missing.any():
        return target, None
    return target.masked_fill(missing, 0), ~missing
