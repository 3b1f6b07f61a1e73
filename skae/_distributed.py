"""Data-parallel training across the processes of a ``torch.distributed`` group.

When a fit runs in every process of an initialized process group (``torchrun``,
``accelerate launch``, Slurm or Ray Train starting the processes), each process
holds its own shard of the rows and the group trains one model: the same seed
everywhere, so the same initial weights; every step's gradients (and loss) averaged
over the rows of all ranks' batches with one all-reduce, as DDP does; the same
number of steps per epoch on every rank; each epoch's losses averaged over all
ranks, so that early stopping decides the same on every rank. Outside a group, or
in a group of one, none of this runs: each helper the estimators call returns its
input unchanged there, so their code reads the same with or without a group.
"""

import hashlib
import os
import warnings

import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback

from ._validation import _caller_level


def _group_size():
    """The number of processes training together: the world size of an
    initialized default process group, else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _check_launched_alone():
    """Warn where a launcher (torchrun, ``accelerate launch``) started several
    processes but no process group joins them: each process would silently train
    a model of its own on its own rows."""
    try:
        launched = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:  # not a launcher's: nothing to say
        launched = 1
    if _group_size() == 1 and launched > 1:
        warnings.warn(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} says this process is one of several "
            "that a launcher started, but no torch.distributed process group is "
            "initialized, so each process trains a model of its own on its own rows. "
            "Call torch.distributed.init_process_group() before fitting to train one "
            "model across the processes.",
            RuntimeWarning,
            stacklevel=_caller_level(),
        )


def _tensor(values):
    """``values`` as a float64 tensor where the group's backend can reduce it (a GPU
    for NCCL)."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return torch.as_tensor(values, dtype=torch.float64, device=device)


def _sum(values):
    """Elementwise sums of ``values`` (numbers) over every rank, as floats."""
    tensor = _tensor(values)
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def _digest(value):
    """A number that stands for ``value``, exact in a float64 (52 bits of a SHA-256),
    the same in every process for equal values: dicts whatever their order,
    classes and functions by their qualified names (not their addresses)."""
    return float(int(hashlib.sha256(repr(_canonical(value)).encode()).hexdigest()[:13], 16))


def _canonical(value):
    """``value`` in a form whose ``repr`` is the same in every process."""
    if isinstance(value, dict):
        return sorted((repr(_canonical(k)), _canonical(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [type(value).__name__, *(_canonical(v) for v in value)]
    if isinstance(value, np.ndarray):
        return ["array", value.dtype.str, value.shape, hashlib.sha256(value.tobytes()).hexdigest()]
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return value


class _OnEveryRank:
    """Make a fit's checks every rank's concern: used as ``with ranks:`` around
    them, then ``ranks.agree(facts)`` before the first collective of training
    (``ranks.agree()`` for checks that compare nothing).

    Outside a group, the block's exception propagates and ``agree`` does nothing.
    In a group, the block's exception is held until ``agree``, where every rank
    raises if one failed (the failing rank its own, the others a RuntimeError
    naming it) or if the facts that ``facts()`` returns (a dict of values that must
    agree: numbers, or any value with a stable ``repr``, compared by digest)
    differ between the ranks (a ValueError on every rank). So no rank waits alone
    in a collective that the others never reach, and no rank trains on settings
    that the others do not share.
    """

    def __enter__(self):
        self.error = None
        return self

    def __exit__(self, kind, error, traceback):
        if _group_size() > 1 and isinstance(error, Exception):
            self.error = error
            return True
        return False

    def agree(self, facts=None):
        if _group_size() == 1:
            return
        _raise_where_any_failed(self.error)
        if facts is None:  # the block's checks only
            return
        facts = facts()
        digested = {name for name, value in facts.items() if not isinstance(value, int | float)}
        _agree(
            {name: _digest(v) if name in digested else float(v) for name, v in facts.items()},
            digested,
        )


def _refuse_in_group(message):
    """Raise ValueError(``message``) in a process group of several ranks."""
    if _group_size() > 1:
        raise ValueError(message)


def _raise_where_any_failed(error):
    """Make every rank raise if any rank's ``error`` (an exception, or None) is set:
    the failing rank its own, the others a RuntimeError naming it."""
    failed = np.flatnonzero(_all_gather_rows([float(error is not None)])).tolist()
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(
            f"the fit failed on rank(s) {failed} of the process group (see their "
            "error); every rank leaves its estimator as it was."
        )


def _agree(facts, digested=()):
    """Make every rank raise a ValueError if the ``facts`` (a dict of numbers that
    must agree, such as ``n_features``; the same names on every rank) differ
    between the ranks; those named in ``digested`` are digests, not shown (nor
    shown where any rank's is a digest: a number beside a digest is no value)."""
    names = sorted(facts)
    row = [facts[name] for name in names] + [float(name in digested) for name in names]
    # the names first: estimators of two classes have parameters of other names
    # (rows of other lengths, which could not be compared)
    table = _all_gather_rows([_digest(names), *row])
    world = dist.get_world_size()
    if table.size != world * (len(row) + 1) or len(set(table[:: len(row) + 1])) > 1:
        raise ValueError(
            "The estimator's class or its parameters' names differ between the ranks of "
            "the process group. Every rank must fit the same estimator, with the same "
            "parameters, on rows of the same features."
        )
    table = table.reshape(world, len(row) + 1)[:, 1:]
    for i, name in enumerate(names):
        # NaN (the imputer's missing_values) agrees with NaN
        if len(np.unique(table[:, i], equal_nan=True)) > 1:
            shown = not table[:, len(names) + i].any()
            values = f": {[v.item() for v in table[:, i]]}" if shown else ""
            raise ValueError(
                f"{name} differs between the ranks of the process group{values}. "
                "Every rank must fit the same estimator, with the same parameters, on "
                "rows of the same features."
            )


def _shared_seeds(seed):
    """``(initial, stream)``: the seed of the initial weights, the same on every
    rank (rank 0's ``seed``), and the seed of the rank's own stream of shuffling,
    noise and dropout (``initial + rank``); ``(seed, seed)`` outside a group."""
    if _group_size() == 1:
        return seed, seed
    tensor = _tensor([float(seed)])
    dist.broadcast(tensor, src=0)
    seed = int(tensor.item())
    return seed, seed + dist.get_rank()


def _global_max(value):
    """The largest of every rank's ``value``."""
    return value if _group_size() == 1 else float(_all_gather_rows([value]).max())


def _global_sums(values):
    """Elementwise sums of ``values`` (numbers) over every rank."""
    return list(values) if _group_size() == 1 else _sum(values)


def _all_rows(values):
    """Every rank's 1-D array ``values``, concatenated in rank order (``values``
    itself outside a group)."""
    return values if _group_size() == 1 else _all_gather_rows(values)


def _steps_per_epoch(n_rows, batch_size):
    """The training steps of an epoch over ``n_rows`` rows in batches of
    ``batch_size``: in a group, those of the largest shard, which every rank takes."""
    if _group_size() == 1:
        return -(-n_rows // batch_size)
    return len(_batch_bounds(n_rows, batch_size)) - 1


def _batch_bounds(n_rows, batch_size):
    """Where the batches of ``n_rows`` start and stop so that every rank takes the
    same number of steps: as many as the largest shard needs in batches of
    ``batch_size``, each rank's rows split into that many nearly equal parts."""
    sizes = [int(size) for size in _gather_sizes(n_rows)]
    steps = max(-(-size // batch_size) for size in sizes)
    if min(sizes) < steps:
        # every rank sees the sizes, so every rank raises
        raise ValueError(
            f"the ranks hold {sizes} training rows: the smallest shard has fewer rows "
            f"than the {steps} steps per epoch that the largest takes in batches of "
            f"{batch_size}; balance the shards between the ranks."
        )
    return [n_rows * i // steps for i in range(steps + 1)]


def _all_gather_rows(values):
    """The 1-D arrays ``values`` of every rank, concatenated in rank order."""
    values = np.asarray(values, dtype=np.float64)
    sizes = [int(n) for n in _gather_sizes(len(values))]
    padded = torch.zeros(max(sizes), dtype=torch.float64)
    padded[: len(values)] = torch.from_numpy(values)
    padded = _tensor(padded)
    pieces = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(pieces, padded)
    return np.concatenate([p[:n].cpu().numpy() for p, n in zip(pieces, sizes, strict=True)])


def _gather_sizes(n):
    sizes = [_tensor([0.0]) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, _tensor([float(n)]))
    return [s.item() for s in sizes]


def _average_gradients(module, loss, n_rows):
    """Replace each parameter's gradient (and ``loss``) by its average over the
    batches of every rank, weighted by their ``n_rows``: the gradient of the mean
    loss over the global batch. One all-reduce of one flat buffer
    (``_summed_step``), which also counts the ranks whose step failed
    (``_leave_step``): then every rank raises. Returns the global loss."""
    parameters = [p for p in module.parameters() if p.requires_grad]
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
    flat = _summed_step(grads, loss.detach(), n_rows, failed=False)
    if flat[-1] > 0:
        raise RuntimeError(
            f"the training step failed on {int(flat[-1])} other rank(s) of the process "
            "group (see their error); every rank leaves its estimator as it was."
        )
    flat = flat[:-2] / flat[-2]
    start = 0
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = flat[start : start + grad.numel()].view_as(grad).clone()
        start += grad.numel()
    return flat[-1].to(loss.dtype)


def _leave_step(module):
    """Take part, from a rank whose training step raised, in the all-reduce that
    the other ranks' ``_average_gradients`` waits in, counting this rank as
    failed: they raise at once instead of waiting out the group's timeout."""
    zeros = [torch.zeros_like(p) for p in module.parameters() if p.requires_grad]
    _summed_step(zeros, zeros[0].new_zeros(()), 0, failed=True)


def _summed_step(grads, loss, n_rows, *, failed):
    """The sum over the ranks of one buffer, on the gradients' device (through the
    CPU but with NCCL): each rank's gradients and loss times its ``n_rows``, its
    ``n_rows``, and 1 where its step ``failed``."""
    pieces = [g.reshape(-1) for g in grads] + [loss.reshape(1)]
    flat = torch.cat([p.to(grads[0].dtype) for p in pieces]) * n_rows
    flat = torch.cat([flat, flat.new_tensor([float(n_rows), float(failed)])])
    device = flat.device
    if dist.get_backend() != "nccl":
        flat = flat.cpu()
    dist.all_reduce(flat)
    return flat.to(device)


class _AverageEpochLosses(Callback):
    """At the end of each epoch, replace the rank's recorded train and validation
    losses by their averages over all ranks' rows, before early stopping reads
    them (outside a group, they are every row's already)."""

    def on_epoch_end(self, net, **kwargs):
        if _group_size() == 1:
            return
        record = net.history[-1]
        # every rank records the same splits: a validation split on one means one on all
        prefixes = [p for p in ("train", "valid") if f"{p}_loss" in record]
        values = []
        for prefix in prefixes:
            rows = sum(b.get(f"{prefix}_batch_size", 0) for b in record["batches"])
            values += [record[f"{prefix}_loss"] * rows, rows]
        totals = _sum(values)
        for i, prefix in enumerate(prefixes):
            net.history.record(f"{prefix}_loss", totals[2 * i] / totals[2 * i + 1])
