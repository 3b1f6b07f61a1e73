"""Table 17: fit time on an idle machine and beside one busy core, with torch's
default threads (what skae did before ``n_jobs``), with ``n_jobs=None`` (threads
chosen from the work of a step), with ``n_jobs="adaptive"`` (as None, and for
large steps from trials of each count) and with ``n_jobs=1`` (one core: the best
a fit can do while the other is taken).

Three workloads: the quickstart (64 -> 16 -> 64 on the digits, batches of 32, 20
epochs), the seed MNIST recipe (784 -> 36 -> 784, batches of 256) and one epoch of
the deep recipe (784 -> 1000 -> 500 -> 250 -> 30, tied, batches of 256, no
pretraining). "Busy" is one other process spinning on one core, which the script
starts before the timed fits and stops after them; "default" passes
``n_jobs=torch.get_num_threads()``, torch's own setting on every call, as skae 0.2
did. Each cell is the median of ``--repeats`` fits; each repeat fits every
setting once, in rotating order. Time it
on a quiet machine: any other load is measured too.

    python benchmarks/bench_threads.py --data-dir ../shared/data/mnist
    python benchmarks/bench_threads.py --quick            # smoke run, tiny data
"""

import argparse
import multiprocessing
import statistics
import warnings

import numpy as np
import torch
from _common import (
    QuickDefault,
    data_folder,
    load_data,
    output_file,
    parse,
    positive_int,
    report,
    timed,
)
from sklearn.datasets import load_digits

from skae import AutoencoderTransformer
from skae.datasets import DEEP_MNIST_RECIPE, MNIST_RECIPE


def _spin():
    while True:
        pass


def workloads(data_dir, quick):
    """(name, estimator factory, training rows) of each workload."""
    digits = (load_digits().data / 16).astype(np.float32)
    if data_dir is None:
        # MNIST's shape without MNIST: the timing depends on the sizes only
        rng = np.random.default_rng(0)
        mnist = rng.random((2000 if quick else 60000, 784), dtype=np.float32)
    else:
        mnist = load_data(data_dir, quick=False)[0]
    if quick:
        digits, mnist = digits[:300], mnist[:1000]
    quickstart = dict(
        hidden_layer_sizes=(),
        code_activation="relu",
        output_activation="sigmoid",
        loss="bce",
        alpha=0.0,
        batch_size=32,
        max_iter=2 if quick else 20,
        n_iter_no_change=None,
    )
    seed = {**MNIST_RECIPE, "max_iter": 1 if quick else 3}
    deep = {**DEEP_MNIST_RECIPE, "pretrain_iter": 0, "max_iter": 1}
    if quick:
        deep["hidden_layer_sizes"] = (100, 50, 25)
    return [
        (
            f"quickstart ({quickstart['max_iter']} epochs)",
            lambda **p: AutoencoderTransformer(16, **{**quickstart, **p}),
            digits,
        ),
        (
            f"seed recipe ({seed['max_iter']} epochs)",
            lambda **p: AutoencoderTransformer(**{**seed, **p}),
            mnist,
        ),
        ("deep recipe (1 epoch)", lambda **p: AutoencoderTransformer(**{**deep, **p}), mnist),
    ]


def time_settings(factory, X, settings, repeats):
    """Median fit time of each setting, the settings interleaved in rotating order
    within each repeat, so that a host's slow minutes fall on all of them."""
    times = {label: [] for label in settings}
    labels = list(settings)
    for r in range(repeats):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            fit = factory(n_jobs=settings[label], random_state=r).fit
            times[label].append(timed(fit, X)[0])
    return {label: statistics.median(t) for label, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder of the four MNIST IDX files"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=QuickDefault(3, 1), help="fits per cell (median)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny data")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="also write the table to this file"
    )
    args = parse(parser, argv)
    repeats = args.repeats
    warnings.simplefilter("ignore")
    default = torch.get_num_threads()
    settings = {"default": default, "None": None, "adaptive": "adaptive", "1": 1}
    rows = []
    for name, factory, X in workloads(args.data_dir, args.quick):
        # a warm-up fit, so that no cell pays torch's one-time costs
        factory(n_jobs=1, max_iter=1).fit(X[:64])
        cells = {}
        for busy in (False, True):
            spinner = None
            if busy:
                spinner = multiprocessing.Process(target=_spin, daemon=True)
                spinner.start()
            try:
                for label, seconds in time_settings(factory, X, settings, repeats).items():
                    cells[busy, label] = seconds
            finally:
                if spinner is not None:
                    spinner.terminate()
                    spinner.join()
        # the count that n_jobs=None picks for this workload's steps (and "adaptive"
        # starts from)
        net = factory(max_iter=1).fit(X[:8]).net_
        with net.threads(min(net.batch_size, len(X))):
            threads = torch.get_num_threads()
        rows.append(
            [name, threads]
            + [f"{cells[busy, label]:.2f}" for label in settings for busy in (False, True)]
            + [f"{cells[True, label] / cells[False, label]:.2f}x" for label in settings]
            + [
                f"{cells[False, 'adaptive'] / cells[False, 'default']:.2f}x",
                f"{cells[True, 'adaptive'] / cells[True, '1']:.2f}x",
            ]
        )
    header = ["workload", "n_jobs=None threads"]
    for label in settings:
        title = f"default ({default})" if label == "default" else f"n_jobs={label}"
        header += [f"{title} idle s", f"{title} busy s"]
    header += [f"{'default' if label == 'default' else label} busy/idle" for label in settings]
    header += ["idle: adaptive / default", "busy: adaptive / n_jobs=1"]
    report(
        "Table 17: threads on an idle machine and beside one busy core",
        header,
        rows,
        args.markdown,
        notes=[
            "",
            f"Median of {repeats} fit(s) per cell; busy: one process spinning on one core.",
        ],
    )


if __name__ == "__main__":
    main()
