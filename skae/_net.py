"""The skorch engine under every skae estimator.

``_AutoencoderNet`` is a ``skorch.NeuralNet`` that learns to reconstruct its input.
It changes skorch through its hooks only: the dataset and iterator (shuffled slices of
one tensor instead of a ``DataLoader`` collating single rows, cast to the module's
dtype batch by batch so the caller's array is never copied whole), the split, the
loss, and a callback that stops on divergence.
"""

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch.nn import functional as F


class _Rows(torch.utils.data.Dataset):
    """Rows ``indices`` of a 2-D tensor, without copying them."""

    def __init__(self, X, indices=None):
        self.X = X
        self.indices = indices

    def __len__(self):
        return len(self.X) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        row = self.X[i if self.indices is None else self.indices[i]]
        return row, row


class _Batches:
    """Iterable over minibatches of a ``_Rows``, reshuffled on every pass.

    Each batch is ``(x, x)``: the target of an autoencoder is its input.
    """

    def __init__(self, rows, batch_size, dtype, shuffle, generator, center=None):
        self.rows = rows
        self.batch_size = batch_size
        self.dtype = dtype
        self.shuffle = shuffle
        self.generator = generator
        self.center = center

    def __len__(self):
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self):
        n = len(self.rows)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        if self.rows.indices is not None:
            order = self.rows.indices if order is None else self.rows.indices[order]
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                xb = self.rows.X[start:stop]
            else:
                # index_select gathers rows about 3x faster than X[indices]
                xb = self.rows.X.index_select(0, order[start:stop])
            xb = xb.to(self.dtype)
            if self.center is not None:
                xb = xb - self.center
            yield xb, xb


class _RandomSplit:
    """Hold out a random ``fraction`` of the rows for validation (skorch ``train_split``)."""

    def __init__(self, fraction, generator):
        self.fraction = fraction
        self.generator = generator

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = int(np.ceil(self.fraction * n))
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={self.fraction} leaves no training or no "
                f"validation sample out of n_samples={n}; use more samples or "
                "early_stopping=False."
            )
        order = torch.randperm(n, generator=self.generator)
        return _Rows(dataset.X, order[n_valid:]), _Rows(dataset.X, order[:n_valid])


class _ReconstructionLoss(torch.nn.Module):
    """Mean reconstruction loss computed from the decoder's raw output.

    With ``loss="bce"`` and a sigmoid output, the raw output is the logit, and
    ``binary_cross_entropy_with_logits`` computes the same value as a sigmoid
    followed by ``BCELoss``, in one fused and numerically stable kernel.
    """

    def __init__(self, loss="mse", output_activation="identity"):
        super().__init__()
        self.loss = loss
        self.output_activation = output_activation

    def forward(self, raw, target):
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(raw, target)
        if self.output_activation == "sigmoid":
            raw = torch.sigmoid(raw)
        return F.mse_loss(raw, target)


class _StopOnDivergence(Callback):
    """Raise as soon as a training batch gives a loss that is NaN or infinite."""

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if training and not torch.isfinite(loss):
            epoch = len(net.history)
            raise FloatingPointError(
                f"Training diverged: the loss became {loss.item()} in epoch {epoch}. "
                "Lower learning_rate_init, scale the input (for example with "
                "StandardScaler), or check the data for extreme values."
            )


class _AutoencoderNet(NeuralNet):
    """skorch net whose batches come from ``_Batches`` and whose target is the input.

    Parameters beyond ``NeuralNet``'s: ``generator``, the ``torch.Generator`` that
    shuffles the batches, and ``center``, a tensor subtracted from every batch.
    """

    def __init__(self, *args, generator=None, center=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.generator = generator
        self.center = center

    def get_iterator(self, dataset, training=False):
        dtype = next(self.module_.parameters()).dtype
        batch_size = len(dataset) if self.batch_size == -1 else self.batch_size
        return _Batches(
            dataset,
            batch_size,
            dtype,
            shuffle=training,
            generator=self.generator,
            center=self.center,
        )
