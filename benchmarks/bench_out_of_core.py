"""Out of core: training, chunk by chunk from a memmap, next to IncrementalPCA.

The MNIST training images (float32 in [0, 1]) are written again and again into one
file on disk until it holds about ``--size-gb`` gigabytes. Each method then runs in
a fresh process and calls ``partial_fit`` on consecutive chunks of ``--chunk-rows``
rows, each a ``numpy.memmap`` view opened for that chunk and dropped after it, so
no more than one chunk is ever mapped. "peak RSS" is the process's peak resident
memory over the whole pass, file pages included; "over start" is that peak minus
the memory before the first chunk (imports, the test set, and a warm-up
``partial_fit`` on 256 test images that loads torch's lazily imported code, already
there). Reconstruction error is the MSE on the 10,000 MNIST test images.

    python benchmarks/bench_out_of_core.py --data-dir ../shared/data/mnist
    python benchmarks/bench_out_of_core.py --quick
"""

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

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
from sklearn.decomposition import IncrementalPCA
from sklearn.exceptions import ConvergenceWarning

from skae import LinearAETransformer


def write_memmap(X, path, size_bytes):
    """Repeat the rows of ``X`` into a float32 file of about ``size_bytes``."""
    n_rows = max(len(X), int(size_bytes // (X.shape[1] * 4)))
    out = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_rows, X.shape[1]))
    for start in range(0, n_rows, len(X)):
        stop = min(start + len(X), n_rows)
        out[start:stop] = X[: stop - start]
    out.flush()
    del out
    return n_rows


def make(method, n_components):
    if method == "IncrementalPCA":
        return IncrementalPCA(n_components)
    if method == "LinearAETransformer (covariance)":
        return LinearAETransformer(n_components, random_state=0)
    if method == "LinearAETransformer (lbfgs, tol=1e-9)":
        return LinearAETransformer(n_components, solver="lbfgs", tol=1e-9, random_state=0)
    if method == "LinearAETransformer (minibatch)":
        return LinearAETransformer(n_components, solver="minibatch", random_state=0)
    # the MNIST recipe, one epoch per chunk
    return seed_recipe(n_components, random_state=0)


METHODS = [
    "IncrementalPCA",
    "LinearAETransformer (covariance)",
    "LinearAETransformer (lbfgs, tol=1e-9)",
    "LinearAETransformer (minibatch)",
    "AutoencoderTransformer (MNIST recipe)",
]


def run(method, path, n_rows, n_features, chunk_rows, data_dir, quick):
    _, X_test = load_data(data_dir, quick)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # warm-up: the first fit in a process loads lazily imported code (about
        # 400 MiB for torch), which is not memory the data costs
        make(method, 8 if quick else 36).partial_fit(X_test[:256])
    est = make(method, 8 if quick else 36)
    row_bytes = n_features * 4
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for first in range(0, n_rows, chunk_rows):
            rows = min(chunk_rows, n_rows - first)
            chunk = np.memmap(
                path, dtype=np.float32, mode="r", offset=first * row_bytes, shape=(rows, n_features)
            )
            est.partial_fit(chunk)
            del chunk
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    error = float(((est.inverse_transform(est.transform(X_test)) - X_test) ** 2).mean())
    return seconds, peak, peak - before, error


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument(
        "--size-gb", type=float, default=QuickDefault(2.0, 0.002), help="size of the memmap file"
    )
    parser.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=QuickDefault(50_000, 1000),
        help="rows per partial_fit chunk",
    )
    parser.add_argument("--workdir", default=None, help="where to write the file (a temp dir)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny smoke run on digits, in this process"
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="also write the table here"
    )
    args = parse(parser)

    X_train, _ = load_data(args.data_dir, args.quick)
    workdir = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        path = workdir / "train.f32"
        n_rows = write_memmap(X_train, path, args.size_gb * 1e9)
        n_features = X_train.shape[1]
        del X_train
        file_mb = path.stat().st_size / 2**20
        n_chunks = -(-n_rows // args.chunk_rows)
        rows = []
        results = {}
        launch = launcher(args.quick)
        for method in METHODS:
            results[method] = launch(
                run, method, path, n_rows, n_features, args.chunk_rows, args.data_dir, args.quick
            )
        reference = results["IncrementalPCA"][3]
        for method, (seconds, peak, over, error) in results.items():
            rows.append(
                [
                    method,
                    f"{seconds:.1f}",
                    f"{peak:.0f}",
                    f"{over:.0f}",
                    f"{error:.5f}",
                    f"{error / reference:.3f}",
                ]
            )
    finally:
        shutil.rmtree(workdir)
    report(
        f"partial_fit over a {file_mb:.0f} MiB memmap ({n_rows} rows x {n_features}, "
        f"{n_chunks} chunks of {args.chunk_rows} rows)",
        ["method", "time (s)", "peak RSS (MiB)", "over start (MiB)", "test MSE", "x IPCA"],
        rows,
        args.markdown,
        notes=[
            "",
            "One pass over the file; each chunk is a memmap opened for that chunk only.",
        ],
    )


if __name__ == "__main__":
    main()
