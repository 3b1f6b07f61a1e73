"""Quickstart: an autoencoder against PCA on 8x8 digits
====================================================

A single-layer autoencoder (64 -> 16 -> 64, ReLU code, sigmoid output, binary
cross-entropy, Adam) learns to compress the digits; the script compares it with PCA
at the same number of components and writes two figures: the loss per epoch, and
test digits next to their 16-d codes (drawn as 4x4 images) and reconstructions.

Run it as a script::

    python examples/quickstart.py --out out/quickstart
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve, plot_reconstructions


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Quickstart: an autoencoder against PCA on 8x8 digits",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out/quickstart"), help="figure folder")
    parser.add_argument("--epochs", type=int, default=200, help="training epochs")
    parser.add_argument("--n-components", type=int, default=16, help="code width")
    parser.add_argument("--seed", type=int, default=0, help="random_state")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X = load_digits().data / 16  # pixels in [0, 1], as MNIST's /255
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=args.seed)

    ae = AutoencoderTransformer(
        args.n_components,
        hidden_layer_sizes=(),
        code_activation="relu",
        output_activation="sigmoid",
        loss="bce",
        alpha=0.0,
        batch_size=32,
        learning_rate_init=1e-3,
        max_iter=args.epochs,
        # hold out 10 % for a validation curve; train a fixed budget of epochs (no
        # stopping on a stall) and keep the weights of the best validation epoch
        early_stopping=True,
        n_iter_no_change=None,
        random_state=args.seed,
    )
    start = time.perf_counter()
    ae.fit(X_train)
    ae_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pca = PCA(args.n_components, random_state=args.seed).fit(X_train)
    pca_seconds = time.perf_counter() - start

    def test_mse(model):
        return ((X_test - model.inverse_transform(model.transform(X_test))) ** 2).mean()

    def test_bce(model):
        # the per-pixel binary cross-entropy the literature reports (the model's own
        # score is the Bernoulli divergence: this minus the images' own entropy)
        P = np.clip(model.inverse_transform(model.transform(X_test)), 1e-7, 1 - 1e-7)
        return float(-np.mean(X_test * np.log(P) + (1 - X_test) * np.log(1 - P)))

    print(f"digits: {len(X_train)} train / {len(X_test)} test, 64 -> {args.n_components}")
    print("| model | fit s | test MSE | test BCE |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| autoencoder | {ae_seconds:.1f} | {test_mse(ae):.4f} | {test_bce(ae):.4f} |")
    print(f"| PCA | {pca_seconds:.2f} | {test_mse(pca):.4f} | - |")

    figures = {
        "loss_curve.png": plot_loss_curve(ae),
        "reconstructions.png": plot_reconstructions(ae, X_test, (8, 8), n=10),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=80)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
