"""Data-parallel training across the processes of a ``torch.distributed`` group.

When a fit runs in every process of an initialized process group (``torchrun``,
``accelerate launch``, Slurm or Ray Train starting the processes), each process
holds its own shard of the rows and the group trains one model: the same seed
everywhere, so the same initial weights; every step's gradients (and loss) averaged
over the rows of all ranks' batches with one all-reduce, as DDP does; the same
number of steps per epoch on every rank; each epoch's losses averaged over all
ranks, so that early stopping decides the same on every rank. Outside a group, or
in a group of one, none of this runs.
"""

import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback


def _group_size():
    """The number of processes training together: the world size of an
    initialized default process group, else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


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


def _agree(error, facts):
    """Make every rank raise if any rank's ``error`` (an exception, or None) is set
    (the failing rank its own, the others a RuntimeError naming it), or if the
    ``facts`` (a dict of numbers that must agree, such as ``n_features``) differ
    between the ranks (a ValueError on every rank)."""
    names = sorted(facts)
    row = [float(error is not None)] + [float(facts[name]) for name in names]
    table = _gather(row).reshape(dist.get_world_size(), len(row))
    if error is not None:
        raise error
    failed = np.flatnonzero(table[:, 0]).tolist()
    if failed:
        raise RuntimeError(
            f"the fit failed on rank(s) {failed} of the process group (see their "
            "error); every rank leaves its estimator as it was."
        )
    for i, name in enumerate(names, start=1):
        if len(set(table[:, i])) > 1:
            values = [v.item() for v in table[:, i]]
            raise ValueError(
                f"{name} differs between the ranks of the process group: {values}. "
                "Every rank must fit the same estimator on rows of the same features."
            )


def _rank():
    return dist.get_rank()


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


def _broadcast_seed(seed):
    """Rank 0's ``seed`` on every rank."""
    tensor = _tensor([float(seed)])
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def _gather(values):
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
    loss over the global batch. One all-reduce of one flat buffer. Returns the
    global loss."""
    parameters = [p for p in module.parameters() if p.requires_grad]
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
    pieces = [g.reshape(-1) for g in grads] + [loss.detach().reshape(1)]
    flat = torch.cat([p.to(grads[0].dtype) for p in pieces]) * n_rows
    flat = torch.cat([flat, flat.new_tensor([float(n_rows)])])
    device = flat.device
    if dist.get_backend() != "nccl":
        flat = flat.cpu()
    dist.all_reduce(flat)
    flat = (flat[:-1] / flat[-1]).to(device)
    start = 0
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = flat[start : start + grad.numel()].view_as(grad).clone()
        start += grad.numel()
    return flat[-1].to(loss.dtype)


class _AverageEpochLosses(Callback):
    """At the end of each epoch, replace the rank's recorded train and validation
    losses by their averages over all ranks' rows, before early stopping reads
    them."""

    def on_epoch_end(self, net, **kwargs):
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
