"""The classic MNIST autoencoder: 784 -> 36 -> 784
===============================================

Reproduces the canonical workflow (flatten the 28x28 digits, train with Adam at
batch 256 for 20 epochs, plot the train and validation loss, show test digits with
their 36-d codes as 6x6 images and their reconstructions) and compares the test
error with PCA at 36 components.

Run it as a script::

    python examples/mnist_autoencoder.py --data-dir ../shared/data/mnist --out out/mnist

Without ``--data-dir``, MNIST comes from scikit-learn's OpenML cache (downloaded once).

.. note::
   The documentation site runs this example only when it is built with
   ``SKAE_MNIST_DIR`` set to a folder of the four MNIST IDX files; otherwise this
   page shows the code without its output. The figures of a full run are in the
   user guide (:doc:`/user_guide/transformers`).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer
from skae.datasets import MNIST_RECIPE, load_mnist
from skae.plotting import plot_loss_curve, plot_reconstructions


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="The classic MNIST autoencoder: 784 -> 36 -> 784",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the IDX files")
    parser.add_argument("--out", type=Path, default=Path("out/mnist"), help="figure folder")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs")
    parser.add_argument("--n-train", type=int, default=None, help="use the first N training images")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X_train, X_test, _, _ = load_mnist(args.data_dir)
    X_train = X_train[: args.n_train]

    ae = AutoencoderTransformer(
        **MNIST_RECIPE
        | {
            "max_iter": args.epochs,
            # hold out 10 % of the training images for a validation curve; the
            # recipe's n_iter_no_change=None trains all epochs, keeping the best
            "early_stopping": True,
            "verbose": 1,
            "random_state": args.seed,
        }
    )
    start = time.perf_counter()
    ae.fit(X_train)
    ae_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pca = PCA(36, svd_solver="randomized", random_state=args.seed).fit(X_train)
    pca_seconds = time.perf_counter() - start

    def test_mse(model):
        return float(np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2))

    def test_bce(model):
        # the per-pixel binary cross-entropy the literature reports (the model's own
        # score is the Bernoulli divergence: this minus the images' own entropy)
        P = np.clip(model.inverse_transform(model.transform(X_test)), 1e-7, 1 - 1e-7)
        return float(-np.mean(X_test * np.log(P) + (1 - X_test) * np.log(1 - P)))

    n_valid = int(np.ceil(ae.validation_fraction * len(X_train)))
    print(
        f"MNIST: {len(X_train) - n_valid} train + {n_valid} validation / {len(X_test)} test "
        "images, 784 -> 36"
    )
    print("| model | fit s | test MSE | test BCE |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| autoencoder | {ae_seconds:.1f} | {test_mse(ae):.4f} | {test_bce(ae):.4f} |")
    print(f"| PCA (36, randomized) | {pca_seconds:.1f} | {test_mse(pca):.4f} | - |")

    figures = {
        "loss_curve.png": plot_loss_curve(ae),
        "reconstructions.png": plot_reconstructions(ae, X_test, (28, 28), n=10),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=80)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
