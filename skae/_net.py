"""The skorch engine under every skae estimator.

``_AutoencoderNet`` is a ``skorch.NeuralNet`` that learns to reconstruct its input.
It changes skorch through its hooks only: the iterators (shuffled slices of one
tensor instead of a ``DataLoader`` collating single rows, so the caller's array is
never copied whole, with the corruption of a denoising autoencoder applied to the
training inputs), the split, the loss, callbacks for divergence and progress, a
leaner ``train_step``, and a ``partial_fit`` that lets ``KeyboardInterrupt`` through.
``_make_net`` builds one, initialized from a seed.
"""

import copy
import math
import sys
import threading
import time

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from torch.nn import functional as F

from ._modules import _Dropout, _VariationalMLP

# Module constructors (torch's layers, and any custom module's) draw their initial
# weights from torch's global generator, and nothing lets a caller hand them another.
# skae builds every module inside fork_rng, seeded from the fit's own seed, which
# restores the global state afterwards; this lock keeps two fits' save-and-restore
# from interleaving. Everything random during training (shuffling, the validation
# split, noise, dropout) draws from generators each fit owns.
_GLOBAL_RNG_LOCK = threading.Lock()

# a training loss that grows this many times over its first value has diverged
_DIVERGENCE_GROWTH = 1e4


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
    """Iterable over minibatches of a ``_Rows`` (skorch's ``iterator_train`` and
    ``iterator_valid``), reshuffled by ``generator`` on every pass.

    Each batch is ``(input, target)``: the target is the batch itself, the input
    the batch corrupted by ``noise`` (Gaussian noise of that standard deviation,
    or with ``noise_type="masking"`` each value zeroed with that probability).
    """

    def __init__(
        self, rows, batch_size, shuffle=False, generator=None, noise=0.0, noise_type="gaussian"
    ):
        self.rows = rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.noise = noise
        self.noise_type = noise_type

    def __len__(self):
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self):
        X, indices = self.rows.X, self.rows.indices
        n = len(self.rows)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        if indices is not None:
            order = indices if order is None else indices[order]
        if order is not None:
            order = order.to(X.device)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                xb = X[start:stop]
            else:
                # index_select gathers rows about 3x faster than X[indices]
                xb = X.index_select(0, order[start:stop])
            yield self._corrupt(xb), xb

    def _corrupt(self, xb):
        if self.noise == 0:
            return xb
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
        target = target.to(raw.dtype)
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


def _diverged(message):
    return FloatingPointError(
        f"Training diverged: {message}. Lower learning_rate_init, scale the input (for "
        "example with StandardScaler), or check the data for extreme values."
    )


class _StopOnDivergence(Callback):
    """Raise ``FloatingPointError`` as soon as a training batch's loss is NaN or
    infinite, or has grown ``_DIVERGENCE_GROWTH`` times over the first batch's loss
    of this call; and after training if any weight is not finite."""

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if not training:
            return
        value = loss.item()
        epoch = len(net.history)
        if not math.isfinite(value):
            raise _diverged(f"the loss became {value} in epoch {epoch}")
        if self.first_loss_ is None:
            self.first_loss_ = value
        elif value > _DIVERGENCE_GROWTH * self.first_loss_ > 0:
            raise _diverged(
                f"the loss grew from {self.first_loss_:.4g} to {value:.4g} in epoch {epoch}"
            )

    def on_train_end(self, net, **kwargs):
        if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
            raise _diverged("the weights are no longer finite")


class _EpochLog(Callback):
    """Print one plain line per epoch: its number out of ``epochs``, the losses and
    the time since training began (what ``verbose`` asks for)."""

    def __init__(self, epochs, stream=None):
        self.epochs = epochs
        self.stream = stream

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()
        self.epoch_ = 0

    def on_epoch_end(self, net, **kwargs):
        self.epoch_ += 1
        record = net.history[-1]
        losses = f"train loss {record['train_loss']:.6g}"
        if "valid_loss" in record:
            losses += f", validation loss {record['valid_loss']:.6g}"
        print(
            f"epoch {self.epoch_}/{self.epochs}: {losses}, "
            f"{time.perf_counter() - self.start_:.1f} s",
            file=self.stream or sys.stdout,
            flush=True,
        )


class _AutoencoderNet(NeuralNet):
    """skorch net whose batches come from ``_Batches`` and whose target is the input."""

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's EarlyStopping ends training by raising KeyboardInterrupt, so
        # skorch's partial_fit catches every KeyboardInterrupt and returns as if
        # training had finished. Here only early stopping's own does; a real
        # Ctrl-C propagates, and the estimator keeps its previous state.
        if not self.initialized_:
            self.initialize()
        # looked up once here rather than on every batch
        self.input_dtype_ = next(self.module_.parameters()).dtype
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            if not any(
                isinstance(callback, EarlyStopping) and callback.misses_ == callback.patience
                for _, callback in self.callbacks_
            ):
                raise
        self.notify("on_train_end", X=X, y=y)
        return self

    def train_step(self, batch, **fit_params):
        # skorch's train_step also builds a generator over every parameter on each
        # batch for on_grad_computed callbacks, which skae does not use; this is
        # its bookkeeping-free equivalent (the closure serves L-BFGS)
        steps = []

        def closure():
            self.optimizer_.zero_grad()
            steps.append(self.train_step_single(batch, **fit_params))
            return steps[-1]["loss"]

        self.optimizer_.step(closure)
        return steps[0]

    def _set_training(self, training=True):
        # skorch sets the mode of every submodule on every batch, a recursive walk
        # that costs about 5 % of an MNIST epoch; only a change of mode needs it
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def infer(self, x, **fit_params):
        """``(raw reconstruction, codes)`` of ``x``, in the module's dtype."""
        x = x.to(device=self.device, dtype=self.input_dtype_)
        codes = self.module_.encode(x)
        return self.module_.decode(codes), codes


class _VAENet(_AutoencoderNet):
    """The net of a variational autoencoder: the decoder sees a reparameterized
    sample of the posterior, its noise drawn from the fit's generator."""

    def infer(self, x, **fit_params):
        """``(raw reconstruction, posterior mean, posterior log-variance)``."""
        x = x.to(device=self.device, dtype=self.input_dtype_)
        module = self.module_
        mean, log_var = module.posterior(x)
        noise = torch.randn(mean.shape, dtype=mean.dtype, generator=module.generator)
        z = mean + torch.exp(0.5 * log_var) * noise.to(mean.device)
        return module.decode(z), mean, log_var


def _negative_log_likelihood(raw, x, likelihood):
    """Elementwise ``-log p(x | z)`` from the decoder's raw output: Bernoulli
    logits, or the mean of a Gaussian of unit variance."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(raw, x, reduction="none")
    return 0.5 * (x - raw) ** 2 + 0.5 * math.log(2 * math.pi)


def _kl_to_standard_normal(mean, log_var):
    """Per-row ``KL(N(mean, exp(log_var)) || N(0, I))``."""
    return 0.5 * (torch.exp(log_var) + mean**2 - 1 - log_var).sum(dim=1)


class _NegativeELBO(torch.nn.Module):
    """Mean over the batch of the negative evidence lower bound, in nats per sample:
    the reconstruction's negative log-likelihood plus ``beta`` times the KL
    divergence of the posterior from the standard normal prior."""

    def __init__(self, likelihood="gaussian", beta=1.0):
        super().__init__()
        self.likelihood = likelihood
        self.beta = beta

    def forward(self, y_pred, target):
        raw, mean, log_var = y_pred
        target = target.to(raw.dtype)
        nll = _negative_log_likelihood(raw, target, self.likelihood).sum(dim=1)
        return (nll + self.beta * _kl_to_standard_normal(mean, log_var)).mean()


def _seed_net(net, seed):
    """Give ``net`` a fresh generator seeded by ``seed`` for its shuffling,
    validation split, noise and dropout."""
    generator = torch.Generator().manual_seed(seed)
    # a plain attribute, as skorch stores every iterator_train__* argument
    # (set_params would re-initialize the network)
    net.iterator_train__generator = generator
    if net.train_split is not None:
        net.train_split.generator = generator
    for layer in net.module_.modules():
        if isinstance(layer, _Dropout | _VariationalMLP):
            layer.generator = generator


def _continue_from(net, previous):
    """Start ``net`` where ``previous`` stopped: a copy of its weights, history and,
    where the optimizer is of the same kind with the same parameter groups, its
    state (moments, step counts); ``net``'s own optimizer settings stay. Copies of
    tensors, not of the net object, which need not be picklable."""
    net.module_.load_state_dict(previous.module_.state_dict())
    net.history = copy.deepcopy(previous.history)
    # load_state_dict may keep the very tensors it is given: copy them first
    optimizer, state = net.optimizer_, copy.deepcopy(previous.optimizer_.state_dict())
    if type(optimizer) is type(previous.optimizer_) and len(state["param_groups"]) == len(
        optimizer.param_groups
    ):
        settings = [
            {k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups
        ]
        optimizer.load_state_dict(state)
        for group, own in zip(optimizer.param_groups, settings, strict=True):
            group.update(own)


def _make_net(net_class, seed, **params):
    """An initialized ``net_class`` (an ``_AutoencoderNet``) with skorch arguments
    ``params``, its module's initial weights and its training randomness all drawn
    from ``seed``."""
    net = net_class(
        **{
            "iterator_train": _Batches,
            "iterator_train__shuffle": True,
            "iterator_valid": _Batches,
            "callbacks__print_log": None,
        }
        | params
    )
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net.initialize()
    _seed_net(net, seed)
    return net
