"""Hinton and Salakhutdinov's deep autoencoder on MNIST, pretrained with skae's own estimators.

Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks"
(Science 313:504, 2006), Fig. 2B: average squared reconstruction error per test
image (summed over the 784 pixels in [0, 1]) with a 30-d code: 3.00 for their
784-1000-500-250-30 autoencoder (RBM-pretrained, then fine-tuned), 8.01 for 30-d
logistic PCA, 13.87 for 30-d PCA. This script prints those rows beside PCA(30) and
``skae.datasets.DEEP_MNIST_RECIPE`` measured here (fit seconds, squared error per
test image, test binary cross-entropy per pixel), and the recipe's error after
every ``--report-every`` epochs of its fit, so the time / quality curve shows.
With ``--figures`` it also draws the two figures of the paper: test digits with
their autoencoder and PCA reconstructions (Fig. 2B), and the 2-d codes of the test
set from a 784-1000-500-250-2 autoencoder next to the first two principal
components (Fig. 3). ``--set name=value`` changes one of the recipe's parameters
(the screens of what each choice of the recipe is worth), and the curve has the
error on the first 10,000 training images beside the test error, so overfitting
shows.

    python benchmarks/bench_deep.py --data-dir ../shared/data/mnist --precision bfloat16
    python benchmarks/bench_deep.py --data-dir ../shared/data/mnist --epochs 60 \
        --set activation="'relu'"
    python benchmarks/bench_deep.py --quick
"""

import argparse
import ast
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
    output_folder,
    parse,
    positive_int,
    report,
    squared_error_per_image,
)
from skorch.callbacks import Callback

# Fig. 2B of the paper: squared error per test image with a 30-d code
PAPER = [
    ("paper: deep autoencoder (RBM pretraining + fine-tuning)", 3.00),
    ("paper: logistic PCA (30)", 8.01),
    ("paper: PCA (30)", 13.87),
]


class _TestError(Callback):
    """Every ``every`` epochs, and before the first, the squared error per test
    image and per training image (of the first 10,000); the time it takes is kept
    apart, so that the fit's own time can be reported. The clock starts when the
    net is built, at the start of the fit, so that the time of layer-wise
    pretraining (before the net trains) counts."""

    def __init__(self, X_test, X_train, every):
        self.X_test, self.X_train, self.every = X_test, X_train[:10_000], every
        self.start_ = time.perf_counter()

    def on_train_begin(self, net, **kwargs):
        self.curve_, self.spent_ = [], 0.0
        self._record(net, 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0:
            self._record(net, epoch)

    def _record(self, net, epoch):
        start = time.perf_counter()
        errors = _squared_error(net, self.X_test), _squared_error(net, self.X_train)
        self.spent_ += time.perf_counter() - start
        self.curve_.append((epoch, time.perf_counter() - self.start_ - self.spent_, *errors))


def _reconstruct(net, X, rows=4096):
    module = net.module_
    module.eval()
    out = []
    with torch.no_grad(), net.autocast():
        for start in range(0, len(X), rows):
            x = torch.from_numpy(X[start : start + rows])
            out.append(torch.sigmoid(module.decode(module.encode(x)).float()).numpy())
    module.train()
    return np.vstack(out)


def _squared_error(net, X):
    return squared_error_per_image(_reconstruct(net, X), X)


def _probed(every, X_test, X_train):
    """The recipe's estimator class, with the test-error probe among its callbacks
    (a benchmark's instrument, not a parameter of skae)."""
    from skae import AutoencoderTransformer

    class Probed(AutoencoderTransformer):
        def _net_params(self, n_features, n_components):
            params = super()._net_params(n_features, n_components)
            # after the net's own callbacks (skorch runs the defaults first)
            params["callbacks"] = [("probe", _TestError(X_test, X_train, every))]
            return params

    return Probed


def _bce(R, X):
    R = np.clip(R, 1e-7, 1 - 1e-7)
    return float(-(X * np.log(R) + (1 - X) * np.log(1 - R)).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder of the four MNIST IDX files"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of the fit (None: the recipe's max_iter)"
    )
    parser.add_argument(
        "--precision", default="float32", help="the estimator's precision parameter"
    )
    parser.add_argument(
        "--report-every",
        type=positive_int,
        default=QuickDefault(10, 2),
        help="epochs between errors",
    )
    parser.add_argument(
        "--figures", type=output_folder, default=None, help="write the two figures here"
    )
    parser.add_argument(
        "--codes-epochs", type=int, default=30, help="epochs of the 2-d autoencoder"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter of the recipe's estimator (a Python literal): activation='relu'",
    )
    parser.add_argument("--quick", action="store_true", help="the digits, a tiny network")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the tables to this file"
    )
    args = parse(parser, argv)
    if not args.quick and args.data_dir is None:
        parser.error("--data-dir is required without --quick")

    from sklearn.decomposition import PCA

    from skae import AutoencoderTransformer
    from skae.datasets import DEEP_MNIST_RECIPE

    warnings.simplefilter("ignore")
    X_train, X_test = load_data(args.data_dir, args.quick)
    recipe = dict(DEEP_MNIST_RECIPE, random_state=0, precision=args.precision)
    if args.quick:  # a tiny network, under the options given (each wins over it)
        recipe |= {"n_components": 8, "hidden_layer_sizes": (32, 16), "max_iter": 4}
        recipe["pretrain_iter"] = min(recipe["pretrain_iter"], 1)
    if args.epochs is not None:
        recipe["max_iter"] = args.epochs
    for change in args.set:
        name, _, value = change.partition("=")
        if name not in AutoencoderTransformer().get_params():
            parser.error(f"--set {change}: {name!r} is not a parameter of AutoencoderTransformer")
        recipe[name] = ast.literal_eval(value)
    changed = ", ".join(args.set)
    k = recipe["n_components"]

    start = time.perf_counter()
    pca = PCA(k, random_state=0).fit(X_train)
    pca_seconds = time.perf_counter() - start
    R_pca = pca.inverse_transform(pca.transform(X_test))

    ae = _probed(args.report_every, X_test, X_train)(**recipe)
    start = time.perf_counter()
    ae.fit(X_train)
    probe = dict(ae.net_.callbacks_)["probe"]
    ae_seconds = time.perf_counter() - start - probe.spent_
    R_ae = ae.inverse_transform(ae.transform(X_test))

    rows = [[name, "", f"{error:.2f}", ""] for name, error in PAPER]
    rows.append(
        [
            f"PCA({k}) measured",
            f"{pca_seconds:.1f}",
            f"{squared_error_per_image(R_pca, X_test):.2f}",
            "",
        ]
    )
    rows.append(
        [
            f"skae DEEP_MNIST_RECIPE ({recipe['max_iter']} epochs, {args.precision}"
            + (f", {changed})" if changed else ")"),
            f"{ae_seconds:.0f}",
            f"{squared_error_per_image(R_ae, X_test):.2f}",
            f"{_bce(R_ae, X_test):.4f}",
        ]
    )
    sizes = "-".join(str(s) for s in (X_train.shape[1], *recipe["hidden_layer_sizes"], k))
    text = [
        report(
            f"Squared error per test image, {sizes} autoencoder against PCA"
            + (" (digits, tiny network)" if args.quick else " (MNIST)"),
            ["model", "fit s", "squared error per image", "test BCE per pixel"],
            rows,
            None,
        ),
        report(
            "The recipe's error during its fit",
            ["epoch", "fit s so far", "test squared error per image", "training (10,000)"],
            [[e, f"{s:.0f}", f"{test:.2f}", f"{train:.2f}"] for e, s, test, train in probe.curve_],
            None,
        ),
    ]
    if args.markdown:
        Path(args.markdown).write_text("\n".join(text))
    if args.figures:
        _figures(args, ae, pca, X_train, X_test, R_ae, R_pca, recipe)


def _figures(args, ae, pca, X_train, X_test, R_ae, R_pca, recipe):
    """Fig. 2B (reconstructions) and Fig. 3 (2-d codes) of the paper."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    from skae import AutoencoderTransformer
    from skae.datasets import load_mnist

    args.figures.mkdir(parents=True, exist_ok=True)
    side = int(np.sqrt(X_test.shape[1]))
    picks = np.arange(0, len(X_test), len(X_test) // 10)[:10]
    fig, axes = plt.subplots(3, 10, figsize=(10, 3.4))
    for row, (label, images) in enumerate(
        [("original", X_test), ("skae", R_ae), (f"PCA({recipe['n_components']})", R_pca)]
    ):
        for col, i in enumerate(picks):
            ax = axes[row, col]
            ax.imshow(images[i].reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=11)
    fig.suptitle(f"test digits and their reconstructions from a {recipe['n_components']}-d code")
    fig.tight_layout()
    fig.savefig(args.figures / "deep_reconstructions.png", dpi=90)

    labels = (
        load_mnist(args.data_dir)[3]
        if not args.quick
        else __import__("sklearn.datasets").datasets.load_digits().target[1500:]
    )
    two = AutoencoderTransformer(
        **dict(recipe, n_components=2, max_iter=args.codes_epochs, random_state=0)
    ).fit(X_train)
    codes = {
        "autoencoder, 2-d code": two.transform(X_test),
        "PCA, first two components": PCA(2).fit(X_train).transform(X_test),
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, Z) in zip(axes, codes.items(), strict=True):
        for digit in range(10):
            mine = labels == digit
            ax.scatter(Z[mine, 0], Z[mine, 1], s=2, label=str(digit), alpha=0.6)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(markerscale=6, loc="upper left", bbox_to_anchor=(1, 1), title="digit")
    fig.tight_layout()
    fig.savefig(args.figures / "deep_codes.png", dpi=90)
    print(f"wrote deep_reconstructions.png and deep_codes.png to {args.figures}")


if __name__ == "__main__":
    main()
