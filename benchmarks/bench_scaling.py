"""Table 3: fit time and peak memory against n_samples, and transform throughput.

Each size fits the seed MNIST recipe for a fixed number of epochs in a fresh
process (the ``--quick`` smoke run: in this one), after a one-epoch warm-up fit on
512 rows. "peak RSS" is the process's
peak resident memory during ``fit`` (the mark is reset just before it), "over data"
that peak minus the memory just before ``fit`` (imports and the float32 training
array already loaded): what training itself adds, which should not grow with
n_samples.

    python benchmarks/bench_scaling.py --data-dir ../shared/data/mnist
    python benchmarks/bench_scaling.py --quick
"""

import argparse
import time

import numpy as np
from _common import (
    QuickDefault,
    data_folder,
    launcher,
    load_data,
    output_file,
    parse,
    peak_rss_mb,
    positive_int,
    report,
    reset_peak_rss,
    rss_mb,
    seed_recipe,
)


def fit_subset(data_dir, quick, n_samples, epochs):
    X_train, X_test = load_data(data_dir, quick)
    X = np.ascontiguousarray(X_train[:n_samples])
    del X_train

    def make(epochs):
        return seed_recipe(8 if quick else 36, max_iter=epochs, random_state=0)

    make(1).fit(X[:512])  # warm-up: lazy imports are not the fit's memory
    ae = make(epochs)
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    ae.fit(X)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    ae.transform(X_test[:512])  # warm-up
    start = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        ae.transform(X_test)
    throughput = repeats * len(X_test) / (time.perf_counter() - start)
    return seconds, before, peak, X.nbytes / 2**20, throughput


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run on small data")
    parser.add_argument(
        "--epochs", type=positive_int, default=QuickDefault(5, 2), help="epochs per fit"
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    sizes = [1500] if args.quick else [7500, 15000, 30000, 60000]
    epochs = args.epochs

    rows = []
    for n in sizes:
        seconds, before, peak, data_mb, throughput = launcher(args.quick)(
            fit_subset, args.data_dir, args.quick, n, epochs
        )
        rows.append(
            [
                n,
                f"{seconds:.2f}",
                f"{1e6 * seconds / (n * epochs):.2f}",
                f"{data_mb:.0f}",
                f"{peak:.0f}",
                f"{peak - before:.0f}",
                f"{throughput:,.0f}",
            ]
        )
    data = "digits (quick)" if args.quick else "MNIST"
    report(
        f"Scaling of the seed recipe on {data}, {epochs} epochs",
        [
            "n_samples",
            "fit s",
            "us per sample-epoch",
            "data MiB",
            "peak RSS MiB",
            "over data MiB",
            "transform samples/s",
        ],
        rows,
        args.markdown,
    )


if __name__ == "__main__":
    main()
