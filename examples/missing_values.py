"""
Filling holes in digits: AutoencoderImputer against KNN and iterative imputation
================================================================================

A fifth of every digit's pixels is removed at random, and three imputers fill them
back in: scikit-learn's :class:`~sklearn.impute.KNNImputer` (each hole from the five
nearest rows) and :class:`~sklearn.impute.IterativeImputer` (each pixel regressed on
the others, in turn), and skae's :class:`~skae.AutoencoderImputer`, a denoising
autoencoder that learned to predict pixels hidden from it. The figure shows the
originals, the images with their holes, and each imputer's fills; the table, the error
on the removed pixels and the time each imputer took.

Run it as a script (``--help`` lists the options)::

    python examples/missing_values.py --out out/missing
"""

# %%
# Options
# -------
#
# As a script, the example writes its figure to the ``--out`` folder; the gallery and
# the tests run it on fewer epochs (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Filling holes in digits with an autoencoder",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/missing"), help="figure folder")
parser.add_argument("--epochs", type=int, default=200, help="the autoencoder's epochs")
parser.add_argument("--rate", type=float, default=0.2, help="fraction of pixels removed")
parser.add_argument("--iterative-rounds", type=int, default=10, help="IterativeImputer's")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Digits with holes
# -----------------
#
# 1,797 images of 8 x 8 pixels scaled to [0, 1]; each pixel is removed (set to NaN)
# with probability ``--rate``, completely at random.
import numpy as np
from sklearn.datasets import load_digits

X = load_digits().data / 16
rng = np.random.default_rng(args.seed)
removed = rng.random(X.shape) < args.rate
X_holes = np.where(removed, np.nan, X)

# %%
# Three imputers
# --------------
#
# Each fills the same table. The autoencoder standardizes the pixels, hides a quarter
# of the observed ones at every training step as if they were missing, and learns to
# reconstruct them from the rest; its ``transform`` returns the observed pixels
# untouched and the network's guesses for the removed ones.
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

from skae import AutoencoderImputer

imputers = {
    "AutoencoderImputer": AutoencoderImputer(max_iter=args.epochs, random_state=args.seed),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(max_iter=args.iterative_rounds, random_state=args.seed),
}
filled, seconds = {}, {}
for name, imputer in imputers.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        # IterativeImputer warns when its rounds end before its tolerance
        warnings.simplefilter("ignore", ConvergenceWarning)
        filled[name] = imputer.fit_transform(X_holes)
    seconds[name] = time.perf_counter() - start

print("| imputer | RMSE on the removed pixels | time (s) |")
print("| --- | ---: | ---: |")
for name, table in filled.items():
    rmse = np.sqrt(((table - X)[removed] ** 2).mean())
    print(f"| {name} | {rmse:.4f} | {seconds[name]:.1f} |")

# %%
# The fills
# ---------
#
# Rows: the originals, the images with their holes (red), then each imputer's fills.
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

shown = np.arange(8)
rows = {"original": X, "with holes": X_holes, **filled}
fig, axes = plt.subplots(len(rows), len(shown), figsize=(len(shown), len(rows) * 1.1))
for r, (title, images) in enumerate(rows.items()):
    for c, i in enumerate(shown):
        ax = axes[r, c]
        image = np.ma.masked_invalid(images[i].reshape(8, 8))
        cmap = plt.get_cmap("gray_r").with_extremes(bad="red")
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
fig.tight_layout()
fig.savefig(args.out / "fills.png", dpi=100)
print("wrote fills.png to the --out folder")
