"""LinearAETransformer against PCA on MNIST at 36 components.

Seconds, test reconstruction error relative to exact PCA, and peak memory during
``fit`` for PCA (full and randomized), IncrementalPCA and LinearAETransformer (the
default closed-form covariance solver, L-BFGS training, and the minibatch solver
with Adam). Each method runs in
a fresh process, after a warm-up fit on 8192 rows (so lazy imports and BLAS
workspaces are not counted), its peak-RSS mark reset just before ``fit``; "over
data" is what ``fit`` adds to the process that already holds the float32 training
array.

    python benchmarks/bench_linear.py --data-dir ../shared/data/mnist
    python benchmarks/bench_linear.py --quick
"""

import argparse
import time
import warnings

import numpy as np
from _common import (
    data_folder,
    launcher,
    load_data,
    output_file,
    peak_rss_mb,
    report,
    reset_peak_rss,
    rss_mb,
)
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.exceptions import ConvergenceWarning

from skae import LinearAETransformer


def make(name, k, minibatch_epochs):
    return {
        "PCA (full)": lambda: PCA(k, svd_solver="full"),
        "PCA (randomized)": lambda: PCA(k, svd_solver="randomized", random_state=0),
        "IncrementalPCA (batch 2000)": lambda: IncrementalPCA(k, batch_size=2000),
        "LinearAETransformer (covariance)": lambda: LinearAETransformer(k, random_state=0),
        "LinearAETransformer (lbfgs)": lambda: LinearAETransformer(
            k, solver="lbfgs", random_state=0
        ),
        "LinearAETransformer (lbfgs, tol=1e-9)": lambda: LinearAETransformer(
            k, solver="lbfgs", tol=1e-9, random_state=0
        ),
        f"LinearAETransformer (minibatch, {minibatch_epochs} epochs)": (
            lambda: LinearAETransformer(
                k,
                solver="minibatch",
                batch_size=256,
                max_iter=minibatch_epochs,
                n_iter_no_change=None,
                random_state=0,
            )
        ),
    }[name]()


def fit_one(name, data_dir, quick, k, minibatch_epochs):
    X_train, X_test = load_data(data_dir, quick)
    with warnings.catch_warnings():
        # warm-up on a slice, so lazy imports do not count as the fit's memory
        warnings.simplefilter("ignore")
        make(name, k, minibatch_epochs).fit(X_train[:8192])
    model = make(name, k, minibatch_epochs)
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        model.fit(X_train)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    mse = float(np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2))
    return seconds, mse, peak - before, X_train.nbytes / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run on small data, in this process"
    )
    parser.add_argument(
        "--minibatch-epochs", type=int, default=5, help="epochs of the minibatch solver"
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parser.parse_args(argv)
    k = 8 if args.quick else 36
    names = [
        "PCA (full)",
        "PCA (randomized)",
        "IncrementalPCA (batch 2000)",
        "LinearAETransformer (covariance)",
        "LinearAETransformer (lbfgs)",
        "LinearAETransformer (lbfgs, tol=1e-9)",
        f"LinearAETransformer (minibatch, {args.minibatch_epochs} epochs)",
    ]
    launch = launcher(args.quick)
    results = {
        name: launch(fit_one, name, args.data_dir, args.quick, k, args.minibatch_epochs)
        for name in names
    }
    exact = results["PCA (full)"][1]
    rows = [
        [name, f"{s:.1f}", f"{mse:.5f}", f"{100 * (mse - exact) / exact:+.3f} %", f"{over:.0f}"]
        for name, (s, mse, over, _) in results.items()
    ]
    data_mb = next(iter(results.values()))[3]
    data = "digits (quick)" if args.quick else "MNIST"
    report(
        f"Linear autoencoder vs PCA at {k} components on {data}",
        ["method", "fit s", "test MSE", "gap to exact PCA", "fit memory over data MiB"],
        rows,
        args.markdown,
        notes=["", f"The float32 training array itself is {data_mb:.0f} MiB."],
    )


if __name__ == "__main__":
    main()
