"""Memory and time that must not grow where they should not: inference memory,
the cost of one ``partial_fit`` call late in a stream, and a first fit's cold start.

1. Peak extra resident memory of ``transform``, ``inverse_transform`` and
   ``score_samples`` of a 1,000,000 x 100 float32 array (400 MB; ``--quick``: 20,000
   rows, one estimator, ``score_samples`` only), for each estimator, fitted on 2,000
   rows of the same data, each method in a fresh process; as a multiple of the input's
   bytes (the codes of 10 components are 0.1x, a reconstruction 1x).
   ``LinearAETransformer`` also fitted on float64 and given float32.
2. Milliseconds of one ``partial_fit`` call of 64 rows after 10 and after 3,000
   calls (``--quick``: 30), median of 20 calls, for the autoencoder and the
   minibatch linear autoencoder.
3. Seconds of the first ``LinearAETransformer().fit`` on the digits in a fresh
   process (``import skae`` excluded, and timed apart), against the second fit.

    python benchmarks/bench_edges.py
    python benchmarks/bench_edges.py --quick
"""

import argparse
import subprocess
import sys
import time

import numpy as np
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

N_FEATURES, N_COMPONENTS = 100, 10


def _estimator(name):
    import skae

    small = {"hidden_layer_sizes": (32,), "max_iter": 2, "n_iter_no_change": None}
    return {
        "AutoencoderTransformer": lambda: skae.AutoencoderTransformer(N_COMPONENTS, **small),
        "AutoencoderOutlierDetector": lambda: skae.AutoencoderOutlierDetector(
            N_COMPONENTS, **small
        ),
        "VAETransformer": lambda: skae.VAETransformer(N_COMPONENTS, **small),
        "LinearAETransformer": lambda: skae.LinearAETransformer(N_COMPONENTS),
        "LinearAETransformer (fit float64)": lambda: skae.LinearAETransformer(N_COMPONENTS),
    }[name]()


def inference_memory(name, method, n_rows):
    """Peak resident memory that ``method`` adds over the input, as a share of it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, N_FEATURES), dtype=np.float32)
    fit_on = X[:2000].astype(np.float64) if "float64" in name else X[:2000]
    est = _estimator(name).set_params(random_state=0).fit(fit_on)
    data = est.transform(X) if method == "inverse_transform" else X
    est.transform(X[:10])  # lazy imports and first-call allocations
    baseline = rss_mb()
    reset_peak_rss()
    getattr(est, method)(data)
    return (peak_rss_mb() - baseline) / (X.nbytes / 2**20)


def partial_fit_ms(name, calls):
    """Median milliseconds of 20 partial_fit calls after ``calls`` of them."""
    import skae

    rng = np.random.default_rng(0)
    chunk = rng.standard_normal((64, 20), dtype=np.float32)
    est = (
        skae.AutoencoderTransformer(4, hidden_layer_sizes=(8,), batch_size=64, random_state=0)
        if name == "AutoencoderTransformer"
        else skae.LinearAETransformer(4, solver="minibatch", batch_size=64, random_state=0)
    )
    for _ in range(calls):
        est.partial_fit(chunk)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        est.partial_fit(chunk)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


_COLD = """
import time
start = time.perf_counter()
import skae
from sklearn.datasets import load_digits
imported = time.perf_counter() - start
X = load_digits().data
start = time.perf_counter(); skae.LinearAETransformer().fit(X); first = time.perf_counter() - start
start = time.perf_counter(); skae.LinearAETransformer().fit(X); second = time.perf_counter() - start
print(imported, first, second)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=QuickDefault(1_000_000, 20_000),
        help="rows of the inference input",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=QuickDefault(3000, 30),
        help="partial_fit calls before timing (0: none)",
    )
    parser.add_argument("--quick", action="store_true", help="one estimator and method")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the tables to this file"
    )
    args = parse(parser, argv)
    rows, calls = args.rows, args.calls

    names = [
        "AutoencoderTransformer",
        "AutoencoderOutlierDetector",
        "VAETransformer",
        "LinearAETransformer",
        "LinearAETransformer (fit float64)",
    ]
    methods = ["transform", "inverse_transform", "score_samples"]
    if args.quick:
        # one estimator and one method are the smoke test
        names, methods = names[-1:], methods[-1:]
    launch = launcher(args.quick)
    memory = [
        [name, *(f"{launch(inference_memory, name, m, rows):.2f}x" for m in methods)]
        for name in names
    ]
    streaming = [
        [
            name,
            f"{partial_fit_ms(name, 10):.2f}",
            f"{partial_fit_ms(name, calls):.2f}",
        ]
        for name in ("AutoencoderTransformer", "LinearAETransformer (minibatch)")
    ]
    imported, first, second = map(
        float,
        subprocess.run(
            [sys.executable, "-c", _COLD], capture_output=True, text=True, check=True
        ).stdout.split(),
    )
    cold = [["import skae", f"{imported:.2f}"], ["first fit", f"{first:.3f}"]]
    cold.append(["second fit", f"{second:.3f}"])
    text = [
        report(
            f"Peak extra memory of inference on {rows:,} x {N_FEATURES} float32 "
            f"({N_COMPONENTS} components), as a share of the input",
            ["estimator", *methods],
            memory,
            None,
        ),
        report(
            "One partial_fit call of 64 rows (ms, median of 20)",
            ["estimator", "after 10 calls", f"after {calls:,} calls"],
            streaming,
            None,
        ),
        report(
            "Cold start: LinearAETransformer().fit on the digits in a fresh process (s)",
            ["step", "seconds"],
            cold,
            None,
        ),
    ]
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(text))


if __name__ == "__main__":
    main()
