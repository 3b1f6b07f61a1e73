"""Mixed precision on the CPU: float32 against bfloat16, side by side in one run.

The seed recipe (``MNIST_RECIPE``, 784-36-784) and the deep recipe
(``DEEP_MNIST_RECIPE``, 784-1000-500-250-30 and back, at its batch of 256 and at
128 and 512), each trained in float32 and with ``precision="bfloat16"`` for the same
budget of epochs (the cosine schedule spans that budget), with ``--seeds`` seeds
each: seconds per epoch, their ratio, the squared error per test image, and how
far float32's own error moves from one seed to the next (the yardstick for a
difference between the precisions). The machine line says whether the CPU
has AMX-BF16 and whether oneDNN reports bfloat16 support.

    python benchmarks/bench_precision.py --data-dir ../shared/data/mnist
    python benchmarks/bench_precision.py --quick
"""

import argparse
import time
import warnings
from pathlib import Path

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
    squared_error_per_image,
)


def cpu_flags():
    """Whether the CPU lists AMX-BF16 and AVX512-BF16, and what oneDNN reports."""
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    onednn = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return (
        f"amx_bf16: {'amx_bf16' in flags}, avx512_bf16: {'avx512_bf16' in flags}, "
        f"torch.backends.mkldnn available: {torch.backends.mkldnn.is_available()}, "
        f"oneDNN bfloat16 supported: {onednn}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder of the four MNIST IDX files"
    )
    parser.add_argument(
        "--deep-epochs",
        type=positive_int,
        default=QuickDefault(10, 1),
        help="epochs of the deep recipe",
    )
    parser.add_argument(
        "--seed-epochs",
        type=positive_int,
        default=QuickDefault(20, 1),
        help="epochs of the seed recipe",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=QuickDefault(2, 1), help="fits of each precision"
    )
    parser.add_argument("--quick", action="store_true", help="the digits")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    if not args.quick and args.data_dir is None:
        parser.error("--data-dir is required without --quick")

    from skae import AutoencoderTransformer
    from skae.datasets import DEEP_MNIST_RECIPE, MNIST_RECIPE

    warnings.simplefilter("ignore")
    X_train, X_test = load_data(args.data_dir, args.quick)
    deep, seed = args.deep_epochs, args.seed_epochs
    configurations = [("seed recipe", dict(MNIST_RECIPE, max_iter=seed))] + [
        # the network's own epochs: no layer-wise pretraining before them
        (
            f"deep recipe, batch {batch_size}"
            + (" (its own)" if batch_size == DEEP_MNIST_RECIPE["batch_size"] else ""),
            dict(DEEP_MNIST_RECIPE, max_iter=deep, pretrain_iter=0, batch_size=batch_size),
        )
        for batch_size in (DEEP_MNIST_RECIPE["batch_size"], 128, 512)
    ]
    rows = []
    for name, params in configurations:
        # {precision: [(seconds per epoch, test error) for each seed]}
        measured = {"float32": [], "bfloat16": []}
        for seed in range(args.seeds):
            for precision in measured:
                ae = AutoencoderTransformer(**params, precision=precision, random_state=seed)
                start = time.perf_counter()
                ae.fit(X_train)
                per_epoch = (time.perf_counter() - start) / params["max_iter"]
                R = ae.inverse_transform(ae.transform(X_test))
                measured[precision].append((per_epoch, squared_error_per_image(R, X_test)))
        (t32, e32), (t16, e16) = (np.mean(measured[p], axis=0) for p in measured)
        errors32 = [error for _, error in measured["float32"]]
        spread = (max(errors32) - min(errors32)) / e32
        rows.append(
            [
                f"{name}, {params['max_iter']} epoch{'s' * (params['max_iter'] != 1)}",
                f"{t32:.2f}",
                f"{t16:.2f}",
                f"{t16 / t32:.2f}",
                f"{e32:.3f}",
                f"{e16:.3f}",
                f"{100 * (e16 - e32) / e32:+.1f} %",
                f"{100 * spread:.1f} %" if args.seeds > 1 else "",
            ]
        )
    report(
        "float32 against bfloat16 (torch.autocast) on the CPU"
        + (" (digits)" if args.quick else " (MNIST)"),
        [
            "recipe",
            "float32 s / epoch",
            "bfloat16 s / epoch",
            "ratio",
            "float32 test error",
            "bfloat16 test error",
            "difference",
            "float32 seed to seed",
        ],
        rows,
        args.markdown,
        notes=[
            "",
            cpu_flags(),
            f"Mean over {args.seeds} seed(s) (random_state 0, 1, ...) of each precision. Test "
            "error: squared error per test image, summed over pixels. Seed to seed: the "
            "float32 errors' range over the seeds, as a share of their mean.",
        ],
    )


if __name__ == "__main__":
    main()
