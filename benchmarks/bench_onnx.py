"""onnxruntime against skae for transform: a batch of MNIST rows, and one row at a time.

Each estimator is fitted for a few epochs (speed does not depend on how well it is
trained), converted with skl2onnx (``import skae.onnx`` registers the converters) in
float32, and timed: ``transform`` of ``--n-rows`` test rows in one call (rows per
second, best of ``--repeats``), and ``--n-calls`` calls on one row each (p50 and p99
latency), skae's ``transform`` against an onnxruntime session. Before timing, the
codes of both are compared on ``--n-check`` test rows: with each other (within rtol
1e-5, atol 1e-6?), and with the exact codes of the same float32 model, which skae
computes for float64 input (the float32 rounding of each). Without
``--data-dir`` the digits stand in for MNIST, their test rows repeated to
``--n-rows``.

    python benchmarks/bench_onnx.py --data-dir ../shared/data/mnist
    python benchmarks/bench_onnx.py --quick
"""

import argparse
import shutil
import subprocess
import time
import warnings

import numpy as np
import onnxruntime
import skl2onnx
import torch
from _common import QuickDefault, data_folder, output_file, parse, positive_int, report, seed_recipe
from sklearn.exceptions import ConvergenceWarning

import skae.onnx  # noqa: F401  registers skae's converters with skl2onnx
from skae import ConvAutoencoder, LinearAETransformer, VAETransformer
from skae.datasets import load_mnist

RTOL, ATOL = 1e-5, 1e-6


def estimators(side, epochs, quick):
    """name -> unfitted estimator, for images of ``side`` x ``side`` pixels."""
    k = 8 if quick else 36
    conv = {"image_shape": (side, side), "channels": (8, 16) if quick else (16, 32)}
    return {
        "AutoencoderTransformer (MNIST recipe)": seed_recipe(k, max_iter=epochs, random_state=0),
        "AutoencoderTransformer (ConvAutoencoder)": seed_recipe(
            k, module=ConvAutoencoder, module_params=conv, max_iter=epochs, random_state=0
        ),
        "VAETransformer (PyTorch example)": VAETransformer(
            8 if quick else 20,
            hidden_layer_sizes=(32,) if quick else (400,),
            likelihood="bernoulli",
            batch_size=128,
            max_iter=epochs,
            n_iter_no_change=None,
            random_state=0,
        ),
        "LinearAETransformer": LinearAETransformer(k, random_state=0),
    }


def load(data_dir, quick, n_train, n_rows):
    """Float32 training rows, test rows (repeated to ``n_rows``) and the image side."""
    if quick or data_dir is None:
        from sklearn.datasets import load_digits

        X = (load_digits().data / 16).astype(np.float32)
        X_train, X_test, side = X[:1500], X[1500:], 8
    else:
        X_train, X_test, _, _ = load_mnist(data_dir)
        side = 28
    X_test = np.resize(X_test, (n_rows, X_test.shape[1]))  # repeats rows if too few
    return np.ascontiguousarray(X_train[:n_train]), X_test, side


def throughput(transform, X, repeats):
    """Rows per second of ``transform(X)``, the best of ``repeats`` calls."""
    transform(X[:100])  # warm-up
    best = min(_seconds(transform, X) for _ in range(repeats))
    return len(X) / best


def _seconds(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def latencies(transform, X, n_calls):
    """p50 and p99, in microseconds, of ``transform`` on one row, ``n_calls`` times."""
    for i in range(10):  # warm-up
        transform(X[i : i + 1])
    times = np.empty(n_calls)
    for i in range(n_calls):
        row = X[i % len(X)][None]
        start = time.perf_counter_ns()
        transform(row)
        times[i] = time.perf_counter_ns() - start
    return np.percentile(times / 1000, [50, 99])


def cpu_model():
    """The CPU's model name and count of logical CPUs, from lscpu."""
    if shutil.which("lscpu") is None:
        return "lscpu not available"
    fields = {}
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return f"{fields.get('Model name', 'unknown model')}, {fields.get('CPU(s)', '?')} CPUs"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=data_folder,
        default=None,
        help="folder with the MNIST IDX files; without it, the digits",
    )
    parser.add_argument("--quick", action="store_true", help="digits, tiny settings (for tests)")
    parser.add_argument(
        "--n-train", type=positive_int, default=QuickDefault(10_000, 1500), help="training rows"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=QuickDefault(2, 1), help="training epochs"
    )
    parser.add_argument(
        "--n-rows",
        type=positive_int,
        default=QuickDefault(10_000, 2000),
        help="rows of the batch transform",
    )
    parser.add_argument(
        "--n-calls", type=positive_int, default=QuickDefault(1000, 100), help="one-row calls timed"
    )
    parser.add_argument("--n-check", type=int, default=1000, help="rows compared, skae vs ONNX")
    parser.add_argument(
        "--repeats", type=positive_int, default=QuickDefault(3, 1), help="batch timings, best kept"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads of torch and onnxruntime; 0: theirs",
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    options = onnxruntime.SessionOptions()
    if args.threads:
        torch.set_num_threads(args.threads)
        options.intra_op_num_threads = args.threads
    X_train, X_test, side = load(args.data_dir, args.quick, args.n_train, args.n_rows)
    checked = X_test[: args.n_check]

    rows, ratios = [], []
    for name, estimator in estimators(side, args.epochs, args.quick).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X_train)
        model = skl2onnx.to_onnx(estimator, X_test[:1])
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        input_name = session.get_inputs()[0].name

        def served(X, session=session, input_name=input_name):
            return session.run(None, {input_name: X})[0]

        codes, ours = served(checked), estimator.transform(checked)
        agrees = bool(np.all(np.abs(codes - ours) <= ATOL + RTOL * np.abs(ours)))
        # skae evaluates the float32 model in float64 for float64 input: the exact codes
        exact = estimator.transform(checked.astype(np.float64))
        accuracy = (
            f"{np.abs(codes - ours).max():.1e} ({'yes' if agrees else 'no'}); "
            f"{np.abs(ours - exact).max():.1e} / {np.abs(codes - exact).max():.1e}"
        )
        timings = {}
        for runtime, transform in [("skae", estimator.transform), ("onnxruntime", served)]:
            timings[runtime] = (
                throughput(transform, X_test, args.repeats),
                *latencies(transform, X_test, args.n_calls),
            )
        ratio = timings["onnxruntime"][1] / timings["skae"][1]
        ratios.append(ratio)
        for runtime, (rate, p50, p99) in timings.items():
            rows.append(
                [
                    name,
                    runtime,
                    f"{rate:,.0f}",
                    f"{p50:.0f}",
                    f"{p99:.0f}",
                    f"{ratio:.3f}" if runtime == "onnxruntime" else "1",
                    accuracy if runtime == "onnxruntime" else "",
                ]
            )
    data = "digits (quick)" if args.quick or args.data_dir is None else "MNIST"
    report(
        f"transform, skae against onnxruntime, on {data}",
        [
            "estimator",
            "runtime",
            f"rows/s (batch of {args.n_rows:,})",
            "one row p50 (µs)",
            "one row p99 (µs)",
            "p50 / skae's",
            f"max abs diff to skae on {len(checked):,} rows (within rtol 1e-5 / atol 1e-6?); "
            "max abs error to float64 of skae / onnxruntime",
        ],
        rows,
        args.markdown,
        notes=[
            "",
            f"CPU (lscpu): {cpu_model()}; onnxruntime {onnxruntime.__version__}, "
            f"skl2onnx {skl2onnx.__version__}, float32 graphs, {args.n_calls} one-row calls, "
            f"intra-op threads: {args.threads or 'each library default'}.",
            f"Target, one-row p50 at most a tenth of skae's: "
            f"{'met' if max(ratios) <= 0.1 else 'NOT met'} (largest ratio {max(ratios):.3f}).",
        ],
    )


if __name__ == "__main__":
    main()
