"""A large sparse matrix through an autoencoder: peak extra memory and time per non-zero.

A 200,000 x 50,000 CSR matrix of float32 at density 0.1 % (10 million non-zeros,
about 120 MB; 40 GB dense), as a bag-of-words or one-hot matrix is. One epoch of
``AutoencoderTransformer.fit`` and one ``transform``, each in a fresh process (so
its memory marks are its own), after the matrix is built: seconds, peak resident
memory beyond the matrix, and nanoseconds per non-zero; then the mean squared
reconstruction error of held-out rows (the last ``--held-out`` rows of a matrix
drawn the same way, never trained on). The autoencoder runs three ways: with
every batch densified (as skae 0.2 did, through a module that does not take
sparse rows), with the first layer on the stored entries (the default), and with
``reconstruction_sampling`` too. ``TruncatedSVD``, the sparse reducer of
scikit-learn, runs beside it as the anchor; ``PCA`` and ``LinearAETransformer``
are not, since their 50,000 x 50,000 covariance alone is 20 GB.

    python benchmarks/bench_sparse.py
    python benchmarks/bench_sparse.py --quick
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp
from _common import (
    QuickDefault,
    launcher,
    output_file,
    parse,
    peak_rss_mb,
    positive_int,
    report,
    reset_peak_rss,
    rss_mb,
)


def sparse_matrix(n_rows, n_cols, density, seed=0):
    """A CSR float32 matrix with ``density * n_cols`` entries in each row (minus the
    rare duplicate column), values in (0, 1]."""
    rng = np.random.default_rng(seed)
    per_row = max(1, round(density * n_cols))
    columns = np.sort(rng.integers(0, n_cols, size=(n_rows, per_row), dtype=np.int32), axis=1)
    values = rng.random((n_rows, per_row), dtype=np.float32) + np.float32(1e-3)
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int64)
    X = sp.csr_matrix((values.ravel(), columns.ravel(), indptr), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


# the rows: (name, how the autoencoder trains; None for TruncatedSVD)
DENSIFIED = "AutoencoderTransformer, batches densified"
SPARSE = "AutoencoderTransformer"
SAMPLED = "AutoencoderTransformer, reconstruction_sampling={rate}"


def _dense_batches():
    """skae's MLP as a custom module that does not take sparse rows: every batch
    reaches it densified, as every batch did in skae 0.2."""
    from skae import MLPAutoencoder

    class DenseBatchesMLP(MLPAutoencoder):
        takes_sparse_rows = False

    return DenseBatchesMLP


def measure(name, n_rows, n_cols, density, components, hidden, batch_size, epochs, held_out):
    """(non-zeros, matrix bytes, fit seconds, fit peak MiB, transform seconds,
    transform peak MiB, held-out error) of ``name`` on the matrix, the peaks
    beyond the memory held once the matrix is built."""
    import warnings

    from sklearn.decomposition import TruncatedSVD

    from skae import AutoencoderTransformer
    from skae.metrics import reconstruction_error

    X = sparse_matrix(n_rows, n_cols, density)
    test = sparse_matrix(held_out, n_cols, density, seed=1)
    if name == "TruncatedSVD":
        est = TruncatedSVD(components, algorithm="randomized", n_iter=5, random_state=0)
    else:
        est = AutoencoderTransformer(
            components,
            hidden_layer_sizes=(hidden,),
            batch_size=batch_size,
            max_iter=epochs,
            n_iter_no_change=None,
            random_state=0,
        )
        if name == DENSIFIED:
            est.set_params(module=_dense_batches(), module_params={"hidden_layer_sizes": (hidden,)})
        elif name != SPARSE:
            est.set_params(reconstruction_sampling=float(name.rsplit("=", 1)[1]))
    # imports and first-call allocations out of the measurement
    warm = X[:512]
    type(est)(**est.get_params()).fit(warm).transform(warm)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in ("fit", "transform"):
            baseline = rss_mb()
            reset_peak_rss()
            start = time.perf_counter()
            est.fit(X) if step == "fit" else est.transform(X)
            results += [time.perf_counter() - start, peak_rss_mb() - baseline]
        error = float(reconstruction_error(est, test).mean())
    return [X.nnz, X.data.nbytes + X.indices.nbytes + X.indptr.nbytes, *results, error]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--rows", type=positive_int, default=QuickDefault(200_000, 2_000), help="rows of the matrix"
    )
    parser.add_argument(
        "--cols", type=int, default=QuickDefault(50_000, 2_000), help="columns of the matrix"
    )
    parser.add_argument(
        "--density", type=float, default=QuickDefault(0.001, 0.01), help="share of non-zeros"
    )
    parser.add_argument("--components", type=int, default=16, help="width of the codes")
    parser.add_argument("--hidden", type=int, default=64, help="width of the hidden layer")
    parser.add_argument("--batch-size", type=int, default=200, help="rows per minibatch")
    parser.add_argument(
        "--epochs", type=positive_int, default=1, help="epochs of each autoencoder fit"
    )
    parser.add_argument(
        "--sampling", type=float, default=0.01, help="the reconstruction_sampling rate"
    )
    parser.add_argument(
        "--held-out", type=int, default=QuickDefault(2_000, 200), help="held-out rows scored"
    )
    parser.add_argument(
        "--skip-densified",
        action="store_true",
        help="leave out the densified autoencoder (the slowest row)",
    )
    parser.add_argument("--quick", action="store_true", help="a small matrix (for tests)")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)

    rows = []
    launch = launcher(args.quick)
    names = ["TruncatedSVD", DENSIFIED, SPARSE, SAMPLED.format(rate=args.sampling)]
    if args.skip_densified:
        names.remove(DENSIFIED)
    for name in names:
        nnz, nbytes, fit_s, fit_mb, transform_s, transform_mb, error = launch(
            measure,
            name,
            args.rows,
            args.cols,
            args.density,
            args.components,
            args.hidden,
            args.batch_size,
            args.epochs,
            args.held_out,
        )
        rows.append(
            [
                name,
                f"{fit_s:.2f}",
                f"{fit_mb:.0f}",
                f"{1e9 * fit_s / nnz:.0f}",
                f"{transform_s:.2f}",
                f"{transform_mb:.0f}",
                f"{1e9 * transform_s / nnz:.0f}",
                f"{error:.3e}",
            ]
        )
    dense_gb = args.rows * args.cols * 4 / 1e9
    matrix_mb = nbytes / 2**20
    report(
        f"A {args.rows:,} x {args.cols:,} CSR float32 matrix, {nnz:,} non-zeros "
        f"({matrix_mb:.0f} MiB; {dense_gb:.1f} GB dense), {args.components} components",
        [
            "estimator",
            "fit s",
            "fit peak extra MiB",
            "fit ns / non-zero",
            "transform s",
            "transform peak extra MiB",
            "transform ns / non-zero",
            "held-out squared error",
        ],
        rows,
        args.markdown,
        notes=[
            "",
            f"The autoencoder: {args.epochs} epoch(s), one hidden layer of {args.hidden}, "
            f"batches of {args.batch_size} rows: densified one at a time, or with the "
            "first layer on their stored entries (without sampling the decoder's output "
            "and its target are still a dense batch); TruncatedSVD: randomized, 5 power "
            "iterations. Held-out error: the mean over the features and the "
            f"{args.held_out:,} held-out rows. Peaks are resident memory beyond the built "
            "matrix, each estimator in its own process, the peak mark reset before each "
            "step.",
        ],
    )


if __name__ == "__main__":
    main()
