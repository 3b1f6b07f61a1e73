"""One rank of the two-process data-parallel test (``tests/test_distributed.py``
starts two of these, as ``torchrun --nproc_per_node=2`` would: RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in the environment).

Each rank fits on its own half of the rows, then writes what it fitted to
``OUT/rank<R>.npz`` and what each failure raised to ``OUT/rank<R>.json``.
"""

import json
import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from skae import (
    AutoencoderImputer,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    MLPAutoencoder,
    VAETransformer,
)


class Float64MLP(MLPAutoencoder):
    """The MLP autoencoder in float64, for comparisons to rounding."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.double()


class FailsOnRankOne(MLPAutoencoder):
    """An autoencoder whose training forward pass raises KeyboardInterrupt (a
    Ctrl-C) on rank 1 after 20 batches."""

    batches = 0

    def encode(self, x):
        if self.training:
            FailsOnRankOne.batches += 1
            if os.environ["RANK"] == "1" and FailsOnRankOne.batches > 20:
                raise KeyboardInterrupt
        return super().encode(x)


class WithInit(MLPAutoencoder):
    """The MLP autoencoder, taking a function among its parameters."""

    def __init__(self, *args, init=None, **kwargs):
        super().__init__(*args, **kwargs)


def identity(x):
    return x


def data(n_samples=240, n_features=6, seed=0):
    """The full data set that the ranks split between them."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, n_features)) @ rng.normal(size=(n_features, n_features))


def with_holes(X, seed=1):
    """``X`` with a fifth of its entries missing (NaN), the same on every rank."""
    return np.where(np.random.default_rng(seed).random(X.shape) < 0.2, np.nan, X)


def sgd_params(n_rows):
    return dict(
        n_components=2,
        hidden_layer_sizes=(5,),
        module=Float64MLP,
        optimizer="sgd",
        learning_rate_init=0.05,
        alpha=0.0,
        batch_size=n_rows,
        max_iter=5,
        n_iter_no_change=None,
        random_state=0,
    )


ADAM = dict(
    n_components=2,
    hidden_layer_sizes=(8,),
    batch_size=16,
    early_stopping=True,
    learning_rate_init=1e-2,
    n_iter_no_change=3,
    tol=1e-3,
    max_iter=100,
    random_state=0,
)


def main(out):
    dist.init_process_group("gloo", timeout=timedelta(seconds=10))
    rank, size = dist.get_rank(), dist.get_world_size()
    warnings.simplefilter("ignore")
    X = data()
    shard = X[rank::size]  # each rank reads only its rows
    results, errors = {}, {}

    sgd = AutoencoderTransformer(**sgd_params(len(shard))).fit(shard)

    # missing values: fill values from every rank's observed entries, one model
    holes = with_holes(X)
    holey = AutoencoderTransformer(**sgd_params(len(shard))).fit(holes[rank::size])
    results["holes_fill"] = holey.fill_values_
    results["holes_codes"] = holey.transform(holes)
    results["sgd_codes"] = sgd.transform(X)
    results["sgd_loss"] = np.array(sgd.loss_curve_)
    results["sgd_weights"] = torch.cat(
        [p.detach().reshape(-1) for p in sgd.net_.module_.parameters()]
    ).numpy()

    adam = AutoencoderTransformer(**ADAM).fit(shard)
    results["adam_codes"] = adam.transform(X)
    results["adam_loss"] = np.array(adam.loss_curve_)
    results["adam_validation"] = np.array(adam.validation_scores_)

    # pretraining fits single-layer estimators inside the group: one model too,
    # even unseeded (each network's seed comes from rank 0)
    pretrained = AutoencoderTransformer(2, hidden_layer_sizes=(4,), pretrain_iter=2, max_iter=2)
    results["pretrained_codes"] = pretrained.fit(shard).transform(X)

    vae = VAETransformer(2, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    results["vae_codes"] = vae.fit(shard, sample_weight=np.arange(len(shard)) + 1.0).transform(X)

    detector = AutoencoderOutlierDetector(2, contamination=0.1, max_iter=3, random_state=0)
    detector.fit(shard)
    results["detector_offset"] = np.array([detector.offset_])
    results["detector_scores"] = detector.score_samples(X)

    # a cosine schedule over shards of 60 and 35 rows: the steps every rank takes
    unequal = X[:60] if rank == 0 else X[60:95]
    cosine = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(4,),
        learning_rate="cosine",
        batch_size=16,
        max_iter=3,
        n_iter_no_change=None,
        random_state=0,
    ).fit(unequal)
    results["cosine_weights"] = torch.cat(
        [p.detach().reshape(-1) for p in cosine.net_.module_.parameters()]
    ).numpy()

    # ranks that disagree on a parameter or on the columns' order: every rank
    # raises before training, naming what differs
    small = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    for name, params in {
        "n_components": dict(n_components=2 + rank),
        "max_iter": dict(max_iter=2 + rank),
        "precision": dict(precision=("float32", "bfloat16")[rank]),
        # None on one rank (a digest), a number on the other: no values shown
        "sparsity_target": dict(
            code_activation="logistic", sparsity=0.1, sparsity_target=(None, 0.05)[rank]
        ),
    }.items():
        try:
            AutoencoderTransformer(**small | params).fit(shard)
        except Exception as error:
            errors[f"disagree_{name}"] = [type(error).__name__, str(error)]
    # the same parameters, however each process holds them: a function (at another
    # address in each process) and a dict in another key order
    params = {"hidden_layer_sizes": (4,), "init": identity, "activation": "tanh"}
    if rank:
        params = dict(reversed(params.items()))
    same = AutoencoderTransformer(2, module=WithInit, module_params=params, max_iter=2)
    results["same_parameters_codes"] = same.fit(shard).transform(X)
    # fit on one rank, partial_fit on the other: epochs of other lengths (a rank
    # died, "Connection closed by peer")
    try:
        one = AutoencoderTransformer(**small)
        one.partial_fit(shard) if rank else one.fit(shard)
    except Exception as error:
        errors["disagree_partial_fit"] = [type(error).__name__, str(error)]
    # estimators of two classes: their parameters have other names (a reshape
    # error on every rank)
    try:
        (AutoencoderTransformer, VAETransformer)[rank](**small).fit(shard)
    except Exception as error:
        errors["disagree_class"] = [type(error).__name__, str(error)]
    columns = [f"x{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(shard, columns=columns)
    try:
        AutoencoderTransformer(**small).fit(frame[columns[::-1]] if rank else frame)
    except Exception as error:
        errors["disagree_columns"] = [type(error).__name__, str(error)]

    # weights far apart on one rank: the divergence check compares every rank's
    # weighted loss with every rank's weight (it took its own rank's, and that rank
    # alone stopped a training that had not diverged, the other waiting)
    tiny = np.ones(len(shard))
    if rank == 1:
        tiny[::2] = 1e-9
    try:
        weighted = AutoencoderTransformer(
            2, hidden_layer_sizes=(4,), batch_size=2, max_iter=3, random_state=1
        ).fit(shard[:40], sample_weight=tiny[:40])
        results["tiny_weights_codes"] = weighted.transform(X)
    except Exception as error:
        errors["tiny_weights"] = [type(error).__name__, str(error)]
    # a device one rank cannot use (each rank sets its own): every rank raises
    start = time.perf_counter()
    try:
        AutoencoderTransformer(**small | dict(device=("cpu", "meta")[rank])).fit(shard)
    except Exception as error:
        errors["device"] = [type(error).__name__, str(error), time.perf_counter() - start]

    # bad data on one rank: every rank raises at once, and keeps its model
    bad = shard.copy()
    if rank == 1:
        bad[0, 0] = np.inf
    before = adam.transform(X)
    start = time.perf_counter()
    try:
        adam.fit(bad)
    except Exception as error:  # every rank must get here
        errors["bad_data"] = [type(error).__name__, str(error), time.perf_counter() - start]
    results["bad_data_unchanged"] = np.array([np.array_equal(adam.transform(X), before)])

    unit = (shard - X.min()) / (X.max() - X.min())
    # a row with nothing observed, or a Bernoulli model's value outside [0, 1], on
    # one rank: found by that rank's own check, raised by every rank at once
    for name, est, bad in [
        ("empty_row", AutoencoderTransformer(**small), with_holes(shard)),
        ("outside", VAETransformer(2, likelihood="bernoulli", **small), unit.copy()),
    ]:
        if rank == 1:
            bad[1] = np.nan if name == "empty_row" else 1.5
        start = time.perf_counter()
        try:
            est.fit(bad)
        except Exception as error:
            errors[name] = [type(error).__name__, str(error), time.perf_counter() - start]
    # a validation split that one rank's rows cannot make (one row): found as
    # training starts, on that rank, and raised by every rank at once
    split = AutoencoderTransformer(**small | dict(early_stopping=True, batch_size=1))
    start = time.perf_counter()
    try:
        split.fit(shard if rank == 0 else shard[:1])
    except Exception as error:
        errors["split"] = [type(error).__name__, str(error), time.perf_counter() - start]
    # pretraining trains on the split's training rows: a rank with one row of
    # positive weight, which the split cannot divide, raises as the split would,
    # and every rank with it
    pretrained = AutoencoderTransformer(
        **small | dict(pretrain_iter=1, early_stopping=True, validation_fraction=0.5)
    )
    weights = np.ones(len(shard))
    if rank == 1:
        weights[1:] = 0.0
    start = time.perf_counter()
    try:
        pretrained.fit(shard, sample_weight=weights)
    except Exception as error:
        errors["pretraining"] = [type(error).__name__, str(error), time.perf_counter() - start]
    # ranks that would continue different models: every rank raises before training
    drifted = AutoencoderTransformer(**small).fit(shard)
    with torch.no_grad():
        next(drifted.net_.module_.parameters())[0, 0] += rank
    try:
        drifted.partial_fit(shard)
    except Exception as error:
        errors["continued"] = [type(error).__name__, str(error)]
    # the imputer standardizes by its rows: refused on every rank, its default
    # missing_values (NaN, which never equals itself) agreed
    try:
        AutoencoderImputer(n_components=2, hidden_layer_sizes=(4,), max_iter=2).fit(shard)
    except Exception as error:
        errors["imputer"] = [type(error).__name__, str(error)]

    # a Ctrl-C on rank 1 in the middle of training: rank 0 raises within the
    # group's timeout; both keep their previous model
    flaky = AutoencoderTransformer(2, module=FailsOnRankOne, max_iter=2, random_state=0)
    flaky.set_params(batch_size=16).fit(shard[:16])
    before = flaky.transform(X)
    start = time.perf_counter()
    try:
        flaky.set_params(max_iter=50).fit(shard)
    except BaseException as error:  # KeyboardInterrupt on rank 1
        errors["interrupt"] = [type(error).__name__, str(error)[:200], time.perf_counter() - start]
    results["interrupt_unchanged"] = np.array([np.array_equal(flaky.transform(X), before)])
    # the group outlives the failed step: both ranks train the next model together
    again = AutoencoderTransformer(**sgd_params(len(shard))).fit(shard)
    results["after_interrupt_codes"] = again.transform(X)

    np.savez(Path(out) / f"rank{rank}.npz", **results)
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(errors))


if __name__ == "__main__":
    main(sys.argv[1])
