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
from skorch.utils import to_tensor
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
    """Mean reconstruction loss from the decoder's raw output, plus a sparsity penalty.

    With ``loss="bce"`` and a sigmoid output, the raw output is the logit, and
    ``binary_cross_entropy_with_logits`` computes the same value as a sigmoid
    followed by ``BCELoss``, in one fused and numerically stable kernel.

    ``y_pred`` is ``(raw, codes)`` as ``_AutoencoderNet.infer`` returns it. A
    positive ``sparsity`` adds ``sparsity`` times the mean absolute code (L1) or,
    with a ``sparsity_target`` rho, the summed KL divergence between rho and each
    code unit's mean activation over the batch.
    """

    def __init__(
        self, loss="mse", output_activation="identity", sparsity=0.0, sparsity_target=None
    ):
        super().__init__()
        self.loss = loss
        self.output_activation = output_activation
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target

    def forward(self, y_pred, target):
        raw, codes = y_pred
        if self.loss == "bce":
            value = F.binary_cross_entropy_with_logits(raw, target)
        elif self.output_activation == "sigmoid":
            value = F.mse_loss(torch.sigmoid(raw), target)
        else:
            value = F.mse_loss(raw, target)
        if self.sparsity > 0:
            value = value + self.sparsity * self._sparsity_penalty(codes)
        return value

    def _sparsity_penalty(self, codes):
        if self.sparsity_target is None:
            return codes.abs().mean()
        rho = self.sparsity_target
        rho_hat = codes.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return kl.sum()


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
    shuffles the batches; ``center``, a tensor subtracted from every batch; and
    ``noise`` / ``noise_type``, the corruption of a denoising autoencoder, applied
    to the input of training batches only (the target stays clean).
    """

    def __init__(
        self, *args, generator=None, center=None, noise=0.0, noise_type="gaussian", **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.generator = generator
        self.center = center
        self.noise = noise
        self.noise_type = noise_type

    def infer(self, x, **fit_params):
        """``(raw reconstruction, codes)`` of ``x``, corrupted first when training."""
        x = to_tensor(x, device=self.device)
        if self.noise > 0 and self.module_.training:
            if self.noise_type == "masking":
                x = x * (torch.rand_like(x) >= self.noise)
            else:
                x = x + self.noise * torch.randn_like(x)
        codes = self.module_.encode(x)
        return self.module_.decode(codes), codes

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
