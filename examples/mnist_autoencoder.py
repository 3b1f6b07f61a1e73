"""
The classic MNIST autoencoder: 784 -> 36 -> 784
===============================================

The canonical autoencoder workflow on MNIST: flatten the 28x28 digits, train with Adam
at batch 256 for 20 epochs, plot the training and validation loss, and show test digits
with their 36-d codes (as 6x6 images) and their reconstructions. The test error is
compared with PCA's at 36 components.

Run it as a script (``--help`` lists the options)::

    python examples/mnist_autoencoder.py --data-dir ../shared/data/mnist --out out/mnist

Without ``--data-dir``, MNIST comes from scikit-learn's OpenML cache (downloaded once).

.. note::
   The documentation site runs this example only when it is built with
   ``SKAE_MNIST_DIR`` set to a folder of the four MNIST IDX files; otherwise this
   page shows the code without its output. The figures of a full run are in the
   user guide (:doc:`/user_guide/transformers`).
"""

# %%
# Options
# -------
#
# As a script, the example writes its two figures to the ``--out`` folder.
# ``--n-train`` keeps only the first training images, for a quick run; the gallery and
# the tests use it with a single epoch (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="The classic MNIST autoencoder: 784 -> 36 -> 784",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--data-dir", type=Path, default=None, help="folder of the IDX files")
parser.add_argument("--out", type=Path, default=Path("out/mnist"), help="figure folder")
parser.add_argument("--epochs", type=int, default=20, help="training epochs")
parser.add_argument("--n-train", type=int, default=None, help="train on the first N images")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
if args.n_train is not None and args.n_train < 1:
    parser.error(f"--n-train {args.n_train}: train on at least 1 image")
if args.data_dir is not None and not args.data_dir.is_dir():
    parser.error(f"--data-dir {args.data_dir} is not a folder")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Load MNIST
# ----------
#
# :func:`~skae.datasets.load_mnist` returns the 60,000 training and 10,000 test images
# flattened to 784 pixels scaled to [0, 1], and their labels, which this example does not
# need.
from skae.datasets import load_mnist

X_train, X_test, _, _ = load_mnist(args.data_dir)
X_train = X_train[: args.n_train]

# %%
# The recipe
# ----------
#
# :data:`~skae.datasets.MNIST_RECIPE` holds the settings of the classic model: no hidden
# layer, a 36-d ReLU code, a sigmoid output with binary cross-entropy, Adam at batch 256.
# On top of it, ``early_stopping=True`` holds out 10 % of the training images for a
# validation curve; the recipe's ``n_iter_no_change=None`` trains all the epochs and
# keeps the weights of the best one. ``verbose=1`` prints a line per epoch.
from skae import AutoencoderTransformer
from skae.datasets import MNIST_RECIPE

ae = AutoencoderTransformer(
    **MNIST_RECIPE
    | {
        "max_iter": args.epochs,
        "early_stopping": True,
        "verbose": 1,
        "random_state": args.seed,
    }
)

# %%
# Fit the autoencoder and PCA
# ---------------------------
#
# PCA at the same width is the baseline, with the randomized solver, which suits a few
# components out of 784.
import time

from sklearn.decomposition import PCA

start = time.perf_counter()
ae.fit(X_train)
ae_seconds = time.perf_counter() - start
start = time.perf_counter()
pca = PCA(36, svd_solver="randomized", random_state=args.seed).fit(X_train)
pca_seconds = time.perf_counter() - start

# %%
# Test error
# ----------
#
# The mean squared error of the test reconstructions, and for the autoencoder the
# per-pixel binary cross-entropy that the literature reports (PCA's reconstructions can
# leave [0, 1], where it is not defined).
import numpy as np


def test_mse(model):
    return ((X_test - model.inverse_transform(model.transform(X_test))) ** 2).mean()


def test_bce(model):
    # the model's own score is the Bernoulli divergence: this cross-entropy minus the
    # images' own entropy, which is 0 for a perfect reconstruction
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

# %%
# The loss per epoch
# ------------------
#
# The training loss and the loss of the held-out tenth, both binary cross-entropy.
from skae.plotting import plot_loss_curve

fig = plot_loss_curve(ae)
fig.savefig(args.out / "loss_curve.png", dpi=80)

# %%
# Codes and reconstructions
# -------------------------
#
# Ten test digits (top row), their 36-d codes as 6 x 6 images (middle row) and their
# reconstructions (bottom row).
from skae.plotting import plot_reconstructions

fig = plot_reconstructions(ae, X_test, (28, 28), n=10)
fig.savefig(args.out / "reconstructions.png", dpi=80)
print("wrote loss_curve.png and reconstructions.png to the --out folder")
