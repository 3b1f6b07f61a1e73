"""LinearAETransformer's default fit against PCA's default fit, side by side.

Four data sets in float64, default parameters for both (PCA's ``svd_solver="auto"``,
LinearAETransformer's closed-form ``solver="covariance"``), the components asked
for given to both: MNIST (60,000 x 784, 36 components, with --data-dir), the 8x8
digits (1797 x 64, 16 components), a 1000 x 100 matrix of effective rank 10 (30
components, past its numerical rank) and a wide 20 x 50,000 matrix (10
components). Fits alternate, PCA first in odd repeats; the table shows the median
seconds and the smallest |cosine| between matching components (1 - |cos| is 0 for
identical axes).

    python benchmarks/bench_pca_speed.py --data-dir ../shared/data/mnist
    python benchmarks/bench_pca_speed.py --quick
"""

import argparse
import time

import numpy as np
from _common import QuickDefault, data_folder, load_data, output_file, parse, positive_int, report
from sklearn.datasets import load_digits, make_low_rank_matrix
from sklearn.decomposition import PCA

from skae import LinearAETransformer


def datasets(data_dir, quick):
    rng = np.random.default_rng(0)
    sets = {
        "digits 1797 x 64": (load_digits().data, 16),
        "low rank 1000 x 100": (
            make_low_rank_matrix(1000, 100, effective_rank=10, random_state=0),
            30,
        ),
        "wide 20 x 50,000": (rng.normal(size=(20, 2_000 if quick else 50_000)), 10),
    }
    if data_dir is not None and not quick:
        X_train, _ = load_data(data_dir, False)
        sets = {"MNIST 60,000 x 784": (X_train.astype(np.float64), 36), **sets}
    return sets


def timed_fit(model, X):
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start, model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument("--quick", action="store_true", help="smaller wide matrix")
    parser.add_argument(
        "--repeats", type=positive_int, default=QuickDefault(5, 1), help="alternating repeats"
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    repeats = args.repeats
    rows = []
    for name, (X, k) in datasets(args.data_dir, args.quick).items():
        makers = {"PCA": lambda k=k: PCA(k), "LinearAE": lambda k=k: LinearAETransformer(k)}
        makers["LinearAE"]().fit(X[:50])  # warm-up: lazy imports
        seconds = {m: [] for m in makers}
        for repeat in range(repeats):
            for m in list(makers)[:: 1 if repeat % 2 else -1]:
                spent, fitted = timed_fit(makers[m](), X)
                seconds[m].append(spent)
                if m == "PCA":
                    pca = fitted
                else:
                    lae = fitted
        cosine = np.abs(np.sum(lae.components_ * pca.components_, axis=1)).min()
        pca_s, lae_s = np.median(seconds["PCA"]), np.median(seconds["LinearAE"])
        rows.append(
            [name, k, f"{pca_s:.3f}", f"{lae_s:.3f}", f"{lae_s / pca_s:.2f}", f"{1 - cosine:.1e}"]
        )
    report(
        f"Default LinearAETransformer vs default PCA, float64, median of {repeats}",
        ["data", "components", "PCA s", "LinearAE s", "ratio", "1 - min |cos|"],
        rows,
        args.markdown,
    )


if __name__ == "__main__":
    main()
