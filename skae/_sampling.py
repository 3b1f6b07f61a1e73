"""Reconstruction sampling (Dauphin, Glorot and Bengio, ICML 2011): the loss of a
batch of sparse rows from its stored entries and a weighted random sample of its
zeros, in expectation the loss over every entry.

The decoder's output has ``n_features`` entries per row, however few of them the
input stores; computing all of them is what a sparse batch costs. Here each row's
stored entries are reconstructed exactly (weight 1), and ``m = ceil(rate *
n_features)`` columns are drawn for it uniformly with replacement: a draw that
lands on a zero of the row counts with the importance weight ``n_features / m``
(the inverse of how often a given column is drawn), one that lands on a stored
entry counts for nothing (that entry is counted already). Each zero's expected
weight is then 1, so the expected sum of a row's weighted terms is the sum over
all of its entries, and the loss, linear in those sums, is unbiased. The draws
come from the fit's generator.
"""

import math

import torch


class _Sample:
    """The entries of a batch of rows that the decoder reconstructs, the target of
    a sampled batch: each entry's ``rows`` and ``columns`` (int64), its target
    ``values`` (0 where missing), its importance ``weights`` (0 where missing), and
    each row's count of ``observed`` entries, of ``n_features``."""

    def __init__(self, rows, columns, values, weights, observed, n_features):
        self.rows = rows
        self.columns = columns
        self.values = values
        self.weights = weights
        self.observed = observed
        self.n_features = n_features

    def __len__(self):
        return len(self.observed)

    def to(self, device):
        """The sample on ``device``."""
        tensors = (self.rows, self.columns, self.values, self.weights, self.observed)
        return _Sample(*(t.to(device) for t in tensors), self.n_features)

    def entries(self, raw, weight):
        """``(raw, values)``: the decoder's sampled entries and their targets in
        ``raw``'s dtype, both 0 at the entries of rows whose ``weight`` (in the
        loss's dtype: None for none) is 0. The batch clears the rows of weight
        exactly 0; a weight of 1e-60 is 0 only in a float32 loss, where its row's
        overflowing error would enter as 0 x inf."""
        values = self.values.to(raw.dtype)
        if weight is not None:
            cleared = (weight == 0)[self.rows]
            raw, values = raw.masked_fill(cleared, 0), values.masked_fill(cleared, 0)
        return raw, values

    def row_means(self, terms):
        """Per row, the mean of the elementwise loss ``terms`` (one per entry) over
        the row's observed entries, in expectation over the draws."""
        weighted = terms * self.weights.to(terms.dtype)
        sums = terms.new_zeros(len(self)).index_add_(0, self.rows, weighted)
        return sums / self.observed.to(terms.dtype)


def _sample_entries(stored, rate, generator):
    """The ``_Sample`` of a batch of sparse rows, their stored entries ``stored``
    (``_SparseRows`` of a CSR matrix with sorted indices; NaN: missing), and for
    each row ``ceil(rate * n_features)`` columns drawn with replacement by
    ``generator``."""
    n_rows, n_features = stored.shape
    draws = max(1, math.ceil(rate * n_features))
    stored_rows, stored_columns, values = stored.rows, stored.columns, stored.values
    missing = torch.isnan(values)
    columns = torch.randint(n_features, (n_rows, draws), generator=generator)
    rows = torch.arange(n_rows)[:, None].expand(-1, draws)
    # a draw landing on a stored entry is dropped: (row, column) keys, sorted for
    # the stored entries of a CSR matrix with sorted indices
    stored_keys = stored_rows * n_features + stored_columns
    keys = (rows * n_features + columns).reshape(-1)
    found = torch.searchsorted(stored_keys, keys).clamp_max(max(len(stored_keys) - 1, 0))
    zero = stored_keys[found] != keys if len(stored_keys) else torch.ones_like(keys, dtype=bool)
    drawn_rows, drawn_columns = rows.reshape(-1)[zero], columns.reshape(-1)[zero]
    weights = torch.cat(
        [(~missing).to(values.dtype), values.new_full(drawn_rows.shape, n_features / draws)]
    )
    observed = n_features - torch.zeros(n_rows, dtype=torch.int64).index_add_(
        0, stored_rows, missing.to(torch.int64)
    )
    return _Sample(
        torch.cat([stored_rows, drawn_rows]),
        torch.cat([stored_columns, drawn_columns]),
        torch.cat([values.masked_fill(missing, 0), values.new_zeros(drawn_rows.shape)]),
        weights,
        observed,
        n_features,
    )
