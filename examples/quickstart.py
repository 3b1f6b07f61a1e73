"""
Quickstart: an autoencoder against PCA on 8x8 digits
====================================================

The classic single-layer autoencoder (64 -> 16 -> 64, ReLU code, sigmoid output, binary
cross-entropy, Adam) compresses scikit-learn's 8x8 digits. It is built, fitted and used
as :class:`~sklearn.decomposition.PCA` is, so the example compares the two at the same
number of components: their reconstruction error on held-out digits, the autoencoder's
loss per epoch, and test digits next to their 16-d codes and their reconstructions.

Run it as a script (``--help`` lists the options)::

    python examples/quickstart.py --out out/quickstart
"""

# %%
# Options
# -------
#
# As a script, the example writes its figures to the ``--out`` folder. The gallery and
# the tests run it with a few epochs only (``docs/_gallery_argv.py``), so the numbers
# and curves on this page can be rougher than the README's.
import argparse
import os
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Quickstart: an autoencoder against PCA on 8x8 digits",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/quickstart"), help="figure folder")
parser.add_argument("--epochs", type=int, default=200, help="training epochs")
parser.add_argument("--n-components", type=int, default=16, help="code width")
parser.add_argument("--seed", type=int, default=0, help="random_state")
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
# 1,797 images of 8 x 8 pixels, each pixel from 0 to 16. Divided by 16 they lie in
# [0, 1], where a sigmoid output and the binary cross-entropy can read them as the
# probabilities of a pixel being on (as MNIST's pixels are after dividing by 255). A
# fifth of the images is held out to measure how well each model reconstructs digits
# it has not seen.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.2, random_state=args.seed)
print(f"digits: {len(X_train)} train / {len(X_test)} test, 64 -> {args.n_components}")

# %%
# Build the autoencoder
# ---------------------
#
# :class:`~skae.AutoencoderTransformer` takes the code width first, like PCA's
# ``n_components``, and spells its training parameters as
# :class:`~sklearn.neural_network.MLPRegressor` does. ``hidden_layer_sizes=()`` leaves
# out hidden layers: one linear layer and a ReLU encode, one linear layer and a sigmoid
# decode. With ``early_stopping=True`` a tenth of the training images is held out for a
# validation curve; ``n_iter_no_change=None`` trains the whole budget of epochs rather
# than stopping at a stall, and the weights of the best validation epoch are kept.
from skae import AutoencoderTransformer

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
    early_stopping=True,
    n_iter_no_change=None,
    random_state=args.seed,
)

# %%
# Fit the autoencoder and PCA
# ---------------------------
#
# Both learn from the training images alone, unsupervised. PyTorch trains the network
# through skorch; PCA is one singular value decomposition, which is why it takes a
# fraction of the time.
import time

from sklearn.decomposition import PCA

start = time.perf_counter()
ae.fit(X_train)
ae_seconds = time.perf_counter() - start
start = time.perf_counter()
pca = PCA(args.n_components, random_state=args.seed).fit(X_train)
pca_seconds = time.perf_counter() - start

# %%
# Compare the reconstructions
# ---------------------------
#
# For both models, ``transform`` gives the codes and ``inverse_transform`` maps codes
# back to pixels. The table gives the mean squared error of the test reconstructions,
# and for the autoencoder the per-pixel binary cross-entropy that the literature
# reports. PCA's reconstructions can leave [0, 1], where the cross-entropy is not
# defined, hence the dash.
import numpy as np


def test_mse(model):
    return ((X_test - model.inverse_transform(model.transform(X_test))) ** 2).mean()


def test_bce(model):
    # the model's own score is the Bernoulli divergence: this cross-entropy minus the
    # images' own entropy, which is 0 for a perfect reconstruction
    P = np.clip(model.inverse_transform(model.transform(X_test)), 1e-7, 1 - 1e-7)
    return float(-np.mean(X_test * np.log(P) + (1 - X_test) * np.log(1 - P)))


print("| model | fit s | test MSE | test BCE |")
print("| --- | ---: | ---: | ---: |")
print(f"| autoencoder | {ae_seconds:.1f} | {test_mse(ae):.4f} | {test_bce(ae):.4f} |")
print(f"| PCA | {pca_seconds:.2f} | {test_mse(pca):.4f} | - |")

# %%
# On the full 200 epochs the autoencoder's test error is below PCA's: its ReLU code and
# sigmoid output are a nonlinear map, which a linear projection cannot match at the same
# width.
#
# The loss per epoch
# ------------------
#
# The training loss and the loss of the held-out tenth, both binary cross-entropy.
# Where the validation curve levels off, further epochs add little.
from skae.plotting import plot_loss_curve

fig = plot_loss_curve(ae)
fig.savefig(args.out / "loss_curve.png", dpi=80)

# %%
# Codes and reconstructions
# -------------------------
#
# Ten test digits (top row), their 16-d codes drawn as 4 x 4 images (middle row, on a
# gray scale of their own; the ReLU keeps every code value at 0 or above) and their
# reconstructions (bottom row).
from skae.plotting import plot_reconstructions

fig = plot_reconstructions(ae, X_test, (8, 8), n=10)
fig.savefig(args.out / "reconstructions.png", dpi=80)
# where they went, from the folder the script runs in
where = os.path.relpath(args.out)
figures = [os.path.join(where, name) for name in ("loss_curve.png", "reconstructions.png")]
print(f"wrote {figures[0]} and {figures[1]}")
