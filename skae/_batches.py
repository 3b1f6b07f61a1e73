"""The rows a net trains on, and how they are cut into batches.

``_Rows`` is skorch's dataset (rows of one tensor or sparse matrix, taken by index,
never copied whole), ``_Batches`` its ``iterator_train`` and ``iterator_valid``
(shuffled slices, the denoising corruption and reconstruction sampling applied to
a training batch), ``_RandomSplit`` its ``train_split`` for early stopping, agreed
by every rank of a process group.
"""

from itertools import pairwise

import numpy as np
import scipy.sparse as sp
import torch

from ._distributed import _batch_bounds, _global_max, _global_sums, _group_size, _OnEveryRank
from ._missing import _filled
from ._modules import _SparseRows
from ._sampling import _sample_entries


class _Rows(torch.utils.data.Dataset):
    """Rows ``indices`` of a 2-D tensor or of a scipy CSR matrix, with each row's
    ``weights`` (a 1-D tensor over all rows, or None), without copying them."""

    def __init__(self, X, indices=None, weights=None):
        self.X = X
        self.indices = indices
        self.weights = weights

    def __len__(self):
        return self.X.shape[0] if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        index = i if self.indices is None else int(self.indices[i])
        row = _take_rows(self.X, slice(index, index + 1))[0]
        return row, row


def _take_rows(X, rows):
    """Rows ``rows`` (a slice or a tensor of indices) of a tensor or CSR matrix, as
    a dense tensor: a sparse matrix is densified one batch at a time."""
    if sp.issparse(X):
        return torch.from_numpy(X[rows if isinstance(rows, slice) else rows.numpy()].toarray())
    # index_select gathers rows about 3x faster than X[indices]
    return X[rows] if isinstance(rows, slice) else X.index_select(0, rows)


class _Batches:
    """Iterable over minibatches of a ``_Rows`` (skorch's ``iterator_train`` and
    ``iterator_valid``), reshuffled by ``generator`` on every pass.

    Each batch is ``(input, target)``: the target is the batch itself, missing
    entries (NaN) included, or ``(batch, its rows' weights)`` for weighted rows
    (rows of weight zero as zeros, so that what they hold reaches nothing); the
    input is the batch with each missing entry replaced by its column's ``fill``
    value, corrupted by ``noise``: Gaussian noise of that standard deviation, or
    with ``noise_type="masking"`` each value zeroed with that probability, or with
    ``noise_type="missing"`` each value hidden as if it were missing (given its
    fill value) with that probability: with ``columns`` (the original column of
    each input, where categorical columns are one-hot blocks), each column hidden
    whole. The batch holds the same numbers whether the rows are a tensor or a
    sparse matrix.

    Rows of a sparse matrix enter a module that ``takes_sparse_rows`` as
    ``_SparseRows`` (without noise: noise densifies them), never densified; with a
    ``sampling`` rate their target is a ``_Sample`` of their entries (see
    ``skae._sampling``), so that the decoder computes those entries only.
    """

    def __init__(
        self,
        rows,
        batch_size,
        shuffle=False,
        generator=None,
        noise=0.0,
        noise_type="gaussian",
        fill=None,
        columns=None,
        sampling=None,
        sparse_rows=False,
    ):
        self.rows = rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.noise = noise
        self.noise_type = noise_type
        self.fill = fill
        self.columns = columns
        self.sampling = sampling
        self.sparse_rows = sparse_rows

    def __len__(self):
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self):
        X, indices, weights = self.rows.X, self.rows.indices, self.rows.weights
        n = len(self.rows)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        if indices is not None:
            order = indices if order is None else indices[order]
        if order is not None and isinstance(X, torch.Tensor):
            order = order.to(X.device)
        bounds = [*range(0, n, self.batch_size), n]
        if self.shuffle and _group_size() > 1:
            # training on several ranks: the same number of steps on each
            bounds = _batch_bounds(n, self.batch_size)
        for start, stop in pairwise(bounds):
            rows = slice(start, stop) if order is None else order[start:stop]
            if sp.issparse(X) and (self.sparse_rows or self.sampling is not None):
                yield self._sparse_batch(X, rows, weights)
                continue
            xb = _take_rows(X, rows)
            if weights is None:
                yield self._input(xb), xb
                continue
            wb = _take_rows(weights, rows)
            absent = wb == 0
            if absent.any():
                # a row of weight zero reaches nothing, the network's forward pass
                # included: it enters as zeros, whatever it holds
                xb = xb.masked_fill(absent[:, None], 0)
            yield self._input(xb), (xb, wb)

    def _sparse_batch(self, X, rows, weights):
        """``(input, target)`` of rows ``rows`` of the CSR matrix ``X``."""
        chunk = X[rows if isinstance(rows, slice) else rows.numpy()]
        chunk.sort_indices()
        wb = None if weights is None else _take_rows(weights, rows)
        if wb is not None and (wb == 0).any():
            # a row of weight zero enters as zeros, whatever it holds (as above)
            absent = np.repeat((wb == 0).cpu().numpy(), np.diff(chunk.indptr))
            chunk = chunk.copy()
            chunk.data[absent] = 0
        stored = _SparseRows.of(chunk)
        if self.sparse_rows and self.noise == 0:
            xb = _filled(stored, self.fill)
        else:
            xb = self._input(torch.from_numpy(chunk.toarray()))
        if self.sampling is None:
            target = torch.from_numpy(chunk.toarray())
        else:
            target = _sample_entries(stored, self.sampling, self.generator)
        return xb, (target if wb is None else (target, wb))

    def _input(self, xb):
        """What the network is given of the batch ``xb``."""
        if self.noise == 0:
            return _filled(xb, self.fill)
        if self.noise_type == "missing":
            columns = self.columns
            shape = xb.shape if columns is None else (len(xb), int(columns.max()) + 1)
            hide = torch.empty(shape, dtype=xb.dtype).bernoulli_(
                self.noise, generator=self.generator
            )
            if columns is not None:
                # a categorical column's one-hot block is hidden whole, as a
                # missing category is
                hide = hide[:, columns]
            return _filled(xb.masked_fill(hide.to(xb.device, torch.bool), torch.nan), self.fill)
        xb = _filled(xb, self.fill)
        if self.noise_type == "masking":
            keep = torch.empty(xb.shape, dtype=xb.dtype).bernoulli_(
                1 - self.noise, generator=self.generator
            )
            return xb * keep.to(xb.device)
        noise = torch.randn(xb.shape, dtype=xb.dtype, generator=self.generator)
        return xb + self.noise * noise.to(xb.device)


class _RandomSplit:
    """Hold out a random ``fraction`` of the rows for validation (skorch ``train_split``)."""

    def __init__(self, fraction, generator=None):
        self.fraction = fraction
        self.generator = generator

    def __call__(self, dataset, y=None, **fit_params):
        # every rank splits at the start of training, and raises if one cannot: a
        # rank that raised alone left the others waiting in the first step
        X, weights = dataset.X, dataset.weights
        with _OnEveryRank() as ranks:
            train, valid = self._split(len(dataset), self.generator, weights)
        ranks.agree()
        if weights is not None:
            # each part's weights average 1 over its own rows (on every rank), so
            # that the validation loss is the held-out rows' weighted mean, whatever
            # share of the weight the split left them
            weights = weights.clone()
            for part in (train, valid):
                own = _normalized_weights(weights[part].cpu().numpy())
                weights[part] = torch.from_numpy(own).to(weights)
        return _Rows(X, train, weights), _Rows(X, valid, weights)

    def next_split(self, n, weights=None):
        """``(training, validation)`` row indices that the next call, on ``n`` rows
        weighted by ``weights`` (NumPy; None: all 1), draws, checked as it will
        check them; drawn by a copy of the generator, which draws the same order."""
        generator = torch.Generator().set_state(
            (self.generator or torch.default_generator).get_state()
        )
        with _OnEveryRank() as ranks:  # as in __call__: no rank raises alone
            split = self._split(n, generator, weights)
        ranks.agree()
        return split

    def _split(self, n, generator, weights=None):
        """(training, validation) row indices of ``n`` rows, in ``generator``'s
        order. The validation rows are ``fraction`` of the rows of positive
        ``weights`` (None: of all); rows of weight zero count for nothing, as if
        removed, and go with the training rows (drawn over every row, a split
        could hold out only rows of weight zero, and the fit failed or not by its
        ``random_state``)."""
        rows = torch.arange(n)
        if weights is not None:
            positive = torch.as_tensor(weights).cpu() > 0
            rows, unweighted = rows[positive], rows[~positive]
        n_valid = int(np.ceil(self.fraction * len(rows)))
        if n_valid < 1 or len(rows) - n_valid < 1:
            counted = "n_samples" if weights is None else "rows of positive sample_weight"
            raise ValueError(
                f"validation_fraction={self.fraction} leaves no training or no "
                f"validation sample out of {counted}={len(rows)}; use more samples or "
                "early_stopping=False."
            )
        order = rows[torch.randperm(len(rows), generator=generator)]
        train = order[n_valid:] if weights is None else torch.cat([order[n_valid:], unweighted])
        return train, order[:n_valid]


def _normalized_weights(sample_weight):
    """``sample_weight`` (None stays None) rescaled to average 1 over every rank's
    rows: the weights a fit counts its rows with."""
    if sample_weight is None:
        return None
    # rescaled by the largest first, so that no sum overflows or underflows
    scaled = sample_weight / _global_max(sample_weight.max())
    total, count = _global_sums([scaled.sum(), len(scaled)])
    return scaled * (count / total)
