"""What a variational autoencoder adds: new digits and a map of its codes
======================================================================

Trains ``VAETransformer`` (Bernoulli likelihood, a 2-d code) on scikit-learn's 8x8
digits, then draws new images from the standard normal prior through the decoder,
and decodes a grid of codes across the latent plane (a latent traversal: each row
moves along one axis, each column along the other). Prints the test ELBO next to
that of a model trained for one epoch.

Run it as a script::

    python examples/vae_digits.py --out out/vae
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import VAETransformer


def image_grid(images, rows, title):
    fig, axes = plt.subplots(rows, len(images) // rows, figsize=(6, 6))
    for ax, image in zip(axes.flat, images, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="What a variational autoencoder adds: new digits and a map of its codes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out/vae"), help="figure folder")
    parser.add_argument("--epochs", type=int, default=150, help="training epochs")
    parser.add_argument("--grid", type=int, default=10, help="images per side of each figure")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the fit")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X = load_digits().data / 16
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=args.seed)
    params = dict(
        hidden_layer_sizes=(64,),
        likelihood="bernoulli",
        batch_size=32,
        n_iter_no_change=None,
        random_state=args.seed,
    )
    vae = VAETransformer(2, max_iter=args.epochs, **params).fit(X_train)
    untrained = VAETransformer(2, max_iter=1, **params).fit(X_train)
    print("| model | epochs | test ELBO (nats per image) |")
    print("| --- | ---: | ---: |")
    print(f"| VAETransformer | 1 | {untrained.score(X_test):.2f} |")
    print(f"| VAETransformer | {vae.n_iter_} | {vae.score(X_test):.2f} |")

    n = args.grid
    samples = vae.sample(n * n, random_state=args.seed)
    # codes at evenly spaced quantiles of the prior, so the grid covers its mass
    axis = norm.ppf(np.linspace(0.05, 0.95, n))
    codes = np.array([[a, b] for b in axis[::-1] for a in axis])
    traversal = vae.inverse_transform(codes)
    figures = {
        "samples.png": image_grid(samples, n, "new digits: codes drawn from the prior"),
        "latent_traversal.png": image_grid(traversal, n, "decoded codes across the latent plane"),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=80)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
