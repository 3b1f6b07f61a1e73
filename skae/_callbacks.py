"""The skorch callbacks of a fit: early stopping that keeps its best weights, a
stop at divergence, the cosine learning-rate schedule and the per-epoch log.
(Trials of the thread count are ``_threads._ThreadTrials``.) ``_AutoencoderNet``
declares them; the estimator configures them through skorch's ``callbacks__``
arguments.
"""

import copy
import math
import sys
import time

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping

from ._distributed import _global_sums, _steps_per_epoch

# a training loss that grows this many times over its first value has diverged
_DIVERGENCE_GROWTH = 1e4
# float16's smallest (subnormal) number: a loss scale below it has halved past
# every scale at which a step of ordinary gradients is taken
_SCALE_FLOOR = 2.0**-24


class _EarlyStopping(EarlyStopping):
    """skorch's EarlyStopping (an epoch that does not beat the threshold, the score
    of the last epoch that did less ``tol``, is a miss) that keeps the weights of
    the best score, whatever its margin, as scikit-learn's MLP keeps its best
    coefficients: skorch kept those of the last epoch that beat the threshold,
    and the estimator reported another epoch's score as the one kept."""

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.best_score_ = self.dynamic_threshold_  # no score yet: +-inf

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1, self.monitor]
        if self._is_score_improved(score):
            self.misses_ = 0
            self.dynamic_threshold_ = self._calc_new_threshold(score)
        elif not _all_skipped(net.history[-1]):
            # an epoch whose every step float16's loss scaler skipped left the
            # weights as they were: not a miss, or training ends before the scale
            # comes down to where steps are taken
            self.misses_ += 1
        if score < self.best_score_ if self.lower_is_better else score > self.best_score_:
            self.best_score_, self.best_epoch_ = score, net.history[-1, "epoch"]
            if self.load_best:
                self.best_model_weights_ = copy.deepcopy(net.module_.state_dict())
        if self.misses_ == self.patience:
            raise KeyboardInterrupt


def _all_skipped(epoch):
    """Whether float16's loss scaler skipped every training step of ``epoch`` (a
    history record; False without steps or without a scaler)."""
    skipped = [b["skipped"] for b in epoch["batches"] if "skipped" in b]
    return bool(skipped) and all(skipped)


def _mean_square(target):
    """The mean square of a batch's observed entries, weighted as its loss is, over
    every rank's batch (0 for data that is not a dense tensor)."""
    data, weight = target if isinstance(target, tuple) else (target, None)
    sums = [0.0, 0.0]
    if torch.is_tensor(data) and data.layout == torch.strided and data.numel():
        squares = data.double().flatten(1) ** 2
        weight = torch.ones(len(data), dtype=torch.float64) if weight is None else weight
        weight = weight.double().reshape(-1).to(squares.device)
        observed = (~squares.isnan()).double()
        sums = [float(weight @ squares.nan_to_num(0.0).sum(1)), float(weight @ observed.sum(1))]
    total, count = _global_sums(sums)
    return float(np.nan_to_num(total / count)) if count > 0 else 0.0


def _diverged(message):
    return FloatingPointError(
        f"Training diverged: {message}. Lower learning_rate_init, scale the input (for "
        "example with StandardScaler), or check the data for extreme values."
    )


class _StopOnDivergence(Callback):
    """Raise ``FloatingPointError`` as soon as a training batch's loss is NaN or
    infinite, or has grown ``_DIVERGENCE_GROWTH`` times over the first batch's loss
    of this call; and after training if any weight or optimizer statistic is not
    finite. The growth is measured within a call: a call that continues a training
    (``partial_fit``, a warm start) may bring data of another scale, whose first
    loss reflects the data, not the training (a fit on N(0, 1) continued on 300
    times that data starts at 9e4 times its loss, and trains); so a stream of
    one-batch calls is checked for NaN and infinity only. In a call that continues,
    the base is at least the last epoch's loss before it: a first batch of empty
    sparse rows, which a trained model reconstructs to 6e-6, made a later batch of
    ordinary rows look like a divergence."""

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None
        self.epochs_before_ = len(net.history)
        last = net.history[-1] if len(net.history) else {}
        self.previous_ = float(last.get("train_loss", 0.0))

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if not training:
            return
        value = loss.item()
        target = batch[1]
        if isinstance(target, tuple):
            # a weighted batch's loss grows with its weight: compare its weighted
            # mean (a batch of no weight says nothing). In a process group the loss
            # is every rank's batch's, and so is the weight, or ranks decide apart
            total, rows = _global_sums([float(target[1].sum()), len(target[1])])
            if total == 0:
                return
            value /= total / rows
        epoch = len(net.history)
        if not math.isfinite(value):
            # in float16 a value past 65504 overflows in the first layer already
            half = " (float16 ends at 65504)" if net.precision == torch.float16 else ""
            raise _diverged(f"the loss became {value} in epoch {epoch}{half}")
        if self.first_loss_ is None:
            self.first_loss_ = value
            # a first loss within rounding of the data's own size (a model that
            # reconstructs its batch exactly: 2e-15) is no base to grow from
            floor = torch.finfo(torch.float32).eps * _mean_square(target)
            self.base_ = max(value, floor, np.nan_to_num(self.previous_))
        elif value > _DIVERGENCE_GROWTH * self.base_ > 0 and (value > _mean_square(target)):
            # a model that reconstructs its data almost exactly (1e-14) meets a row
            # off its structure in a continued call: a loss within the batch's own
            # mean square (what reconstructing zeros would cost) is a row the model
            # has not learnt, not a divergence; past it, the model does worse than
            # nothing (read only here, where a batch grew past the base: every
            # rank's batch does)
            raise _diverged(
                f"the loss grew from {self.first_loss_:.4g} to {value:.4g} in epoch {epoch}"
            )
        scaler = getattr(net, "scaler_", None)
        if scaler is not None and scaler.get_scale() < _SCALE_FLOOR:
            # the scale halves at every skipped step: below float16's smallest
            # number, the gradients overflow at any scale
            raise _diverged(
                f"every step overflowed float16 (which ends at 65504) down to a loss "
                f"scale of {scaler.get_scale():.3g}, in epoch {epoch}"
            )

    def on_train_end(self, net, **kwargs):
        if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
            raise _diverged("the weights are no longer finite")
        # a held-out row past what the network computes gives early stopping
        # nothing to compare, and scores that no file holds: said, not kept
        for epoch in net.history[self.epochs_before_ :]:
            valid = epoch.get("valid_loss")
            if valid is not None and not math.isfinite(valid):
                limit = " (float16 ends at 65504)" if net.precision == torch.float16 else ""
                raise ValueError(
                    f"the validation loss of epoch {epoch['epoch']} is {valid}: a held-out "
                    f"row is past what the network computes{limit}. Scale the input "
                    "(StandardScaler), or set early_stopping=False."
                )
        # squared gradients can overflow (Adam's running averages) while the
        # weights stay finite: the next steps would be meaningless
        # (L-BFGS's state holds lists and numbers beside tensors: not checked, as
        # a file does not store it)
        optimizer = getattr(net, "optimizer_", None)
        state = [v for s in (optimizer.state.values() if optimizer else ()) for v in s.values()]
        if not all(isinstance(t, torch.Tensor) for t in state):
            return
        if not all(torch.isfinite(t).all() for t in state if t.is_floating_point()):
            raise _diverged("the optimizer's running statistics are no longer finite")


class _CosineSchedule(Callback):
    """Anneal the optimizer's learning rates batch by batch from their values at
    the start of training to 0 along a half cosine over ``epochs`` epochs (None:
    leave them), and restore them when training ends."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_train_begin(self, net, **kwargs):
        self.base_ = [group["lr"] for group in net.optimizer_.param_groups]
        self.step_ = 0

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        # the steps every rank takes in a process group, whatever its shard's size
        self.steps_per_epoch_ = max(1, _steps_per_epoch(len(dataset_train), net.batch_size))

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training or self.epochs is None:
            return
        progress = min(self.step_ / (self.epochs * self.steps_per_epoch_), 1.0)
        for group, base in zip(net.optimizer_.param_groups, self.base_, strict=True):
            group["lr"] = base * 0.5 * (1 + math.cos(math.pi * progress))
        self.step_ += 1

    def on_train_end(self, net, **kwargs):
        for group, base in zip(net.optimizer_.param_groups, self.base_, strict=True):
            group["lr"] = base


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
