"""The linear autoencoder on a Dask cluster: an array larger than the client's memory.

A random Dask array of float64 (2,000,000 x 500, 8 GB; ``--quick``: 40,000 x 50),
generated lazily on a 2-worker ``LocalCluster`` (one thread each), is reduced to
10 components by ``LinearAETransformer`` (block moments tree-reduced on the
workers), ``dask_ml.decomposition.PCA`` (its parallel ``tsqr`` path) and
``dask_ml.wrappers.Incremental(IncrementalPCA)`` (blocks streamed into
``partial_fit``): fit seconds, the client process's peak resident memory beyond its
memory before the fit, and the largest difference of the explained variances from
skae's. The ``--quick`` smoke run uses an in-process cluster of two threads, which
runs the same graphs without starting two worker interpreters (its memory column
then counts the workers too).

    python benchmarks/bench_dask_linear.py
    python benchmarks/bench_dask_linear.py --quick
"""

import argparse
import importlib
import time
import warnings

import numpy as np
from _common import (
    QuickDefault,
    output_file,
    parse,
    peak_rss_mb,
    positive_int,
    report,
    reset_peak_rss,
    rss_mb,
)


def _unused_scorer(estimator, X, y=None):
    return 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=QuickDefault(2_000_000, 40_000),
        help="rows of the array",
    )
    parser.add_argument(
        "--features", type=positive_int, default=QuickDefault(500, 50), help="columns of the array"
    )
    parser.add_argument(
        "--chunk", type=positive_int, default=QuickDefault(25_000, 5_000), help="rows per block"
    )
    parser.add_argument("--components", type=int, default=10, help="components kept")
    parser.add_argument("--skip", nargs="*", default=[], help="estimators (table names) not to run")
    parser.add_argument("--quick", action="store_true", help="a small array, in-process workers")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)

    import dask.array as da
    from dask.distributed import Client, LocalCluster
    from dask_ml.decomposition import PCA as DaskPCA
    from dask_ml.wrappers import Incremental
    from sklearn.decomposition import IncrementalPCA

    from skae import LinearAETransformer

    warnings.simplefilter("ignore")
    k = args.components
    rows = []
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=not args.quick, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # the workers import skae (and torch) before the clock starts, as they
        # import dask_ml's and scikit-learn's modules on the first task
        client.run(importlib.import_module, "skae")
        # a spread that falls along the columns, so the leading components are defined
        scale = da.from_array(np.linspace(3.0, 1.0, args.features), chunks=-1)
        X = da.random.RandomState(0).standard_normal(
            (args.rows, args.features), chunks=(args.chunk, args.features)
        )
        X = X * scale
        estimators = {
            "LinearAETransformer": lambda: LinearAETransformer(k),
            "dask_ml PCA (tsqr)": lambda: DaskPCA(k, svd_solver="tsqr"),
            # Incremental asks for a scorer, which IncrementalPCA lacks; none is used
            "Incremental(IncrementalPCA)": lambda: Incremental(
                IncrementalPCA(k), scoring=_unused_scorer
            ),
        }
        reference = None
        for name, make in estimators.items():
            if name in args.skip:
                rows.append([name, "not run", "", ""])
                continue
            est = make()
            baseline = rss_mb()
            reset_peak_rss()
            start = time.perf_counter()
            est.fit(X)
            seconds = time.perf_counter() - start
            peak = peak_rss_mb() - baseline
            inner = getattr(est, "estimator_", est)
            variances = np.asarray(inner.explained_variance_)
            if reference is None:
                reference = variances
            difference = np.abs(variances - reference).max() / reference.max()
            rows.append([name, f"{seconds:.1f}", f"{peak:.0f}", f"{difference:.1e}"])
    report(
        f"A {args.rows:,} x {args.features} float64 Dask array ({X.nbytes / 1e9:.1f} GB, "
        f"blocks of {args.chunk:,} rows) on a 2-worker LocalCluster"
        f"{' (in-process)' if args.quick else ''}, {k} components",
        ["estimator", "fit s", "client peak extra MiB", "explained variance vs skae (relative)"],
        rows,
        args.markdown,
    )


if __name__ == "__main__":
    main()
