"""
What a variational autoencoder adds: new digits and a map of its codes
======================================================================

An autoencoder compresses and reconstructs; a variational autoencoder also learns a
distribution of codes, a standard normal prior, that its decoder turns into data. This
example trains :class:`~skae.VAETransformer` with a Bernoulli likelihood and a 2-d code
on scikit-learn's 8x8 digits, measures its evidence lower bound (ELBO) on held-out
digits, then draws new digits from the prior and decodes a grid of codes across the
latent plane.

Run it as a script (``--help`` lists the options)::

    python examples/vae_digits.py --out out/vae
"""

# %%
# Options
# -------
#
# As a script, the example writes its two figures to the ``--out`` folder. ``--grid``
# sets the number of images per side of each figure; the gallery and the tests run the
# example with fewer epochs and a smaller grid (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="What a variational autoencoder adds: new digits and a map of its codes",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/vae"), help="figure folder")
parser.add_argument("--epochs", type=int, default=150, help="training epochs")
parser.add_argument("--grid", type=int, default=10, help="images per side of each figure")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fit")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Load the digits
# ---------------
#
# Divided by 16, the pixels lie in [0, 1], which the Bernoulli likelihood reads as the
# probability of each pixel being on. A fifth of the images is held out for the ELBO.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.2, random_state=args.seed)

# %%
# Train the VAE
# -------------
#
# One hidden layer of 64 units on each side of a 2-d code: small enough to draw the whole
# latent plane below. A second VAE with the same settings trains for a single epoch, as
# a reference for the ELBO; ``n_iter_no_change=None`` makes both train every epoch they
# are given.
from skae import VAETransformer

params = dict(
    hidden_layer_sizes=(64,),
    likelihood="bernoulli",
    batch_size=32,
    n_iter_no_change=None,
    random_state=args.seed,
)
vae = VAETransformer(2, max_iter=args.epochs, **params).fit(X_train)
one_epoch = VAETransformer(2, max_iter=1, **params).fit(X_train)

# %%
# The ELBO of held-out digits
# ---------------------------
#
# ``score`` is the mean ELBO of the test digits in nats per image, a lower bound on their
# log-likelihood under the model: higher is better. Training lifts it well above the
# one-epoch model's.
print("| model | epochs | test ELBO (nats per image) |")
print("| --- | ---: | ---: |")
print(f"| VAETransformer | 1 | {one_epoch.score(X_test):.2f} |")
print(f"| VAETransformer | {vae.n_iter_} | {vae.score(X_test):.2f} |")

# %%
# New digits from the prior
# -------------------------
#
# ``sample`` draws codes from the standard normal prior and returns the decoder's mean
# for each: the probability of each pixel being on, drawn in gray, hence the blur. Many
# of the images read as digits, though none of them is in the data; others sit between
# two classes, where the codes of two digits meet.
import matplotlib.pyplot as plt
import numpy as np


def image_grid(images, rows, title):
    """The 8x8 images in a grid of ``rows`` rows, with no ticks."""
    fig, axes = plt.subplots(rows, len(images) // rows, figsize=(6, 6))
    for ax, image in zip(axes.flat, images, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


n = args.grid
samples = vae.sample(n * n, random_state=args.seed)
fig = image_grid(samples, n, "new digits: codes drawn from the prior")
fig.savefig(args.out / "samples.png", dpi=80)

# %%
# A map of the latent plane
# -------------------------
#
# With a 2-d code, the whole plane the prior covers can be drawn. The grid's codes sit at
# evenly spaced quantiles of the standard normal, from 5 % to 95 % along each axis, so
# that every image covers the same share of the prior's mass: the first code grows from
# left to right, the second from bottom to top. Several digit classes hold a region of
# their own, and the decoder morphs one digit into the next across the borders; with
# only two dimensions, not every class finds room.
from scipy.stats import norm

axis = norm.ppf(np.linspace(0.05, 0.95, n))
codes = np.array([[a, b] for b in axis[::-1] for a in axis])
traversal = vae.inverse_transform(codes)
fig = image_grid(traversal, n, "decoded codes across the latent plane")
fig.savefig(args.out / "latent_traversal.png", dpi=80)
print("wrote samples.png and latent_traversal.png to the --out folder")
