"""
Anomaly detection by reconstruction error on digits
===================================================

An autoencoder trained on one kind of data reconstructs that kind well and anything
else badly, so its reconstruction error flags what it has not seen. Here, for each digit
class in turn, an :class:`~skae.AutoencoderOutlierDetector` learns 80 % of that class
only; the held-out rest of the class and every other digit are then ranked by their
reconstruction error, and the ROC AUC says how well that ranking separates the other
digits (the anomalies) from the held-out normal ones. PCA's reconstruction error at the
same number of components is the baseline.

Run it as a script (``--help`` lists the options)::

    python examples/anomaly_detection.py --out out/anomaly
"""

# %%
# Options
# -------
#
# As a script, the example writes its figure to the ``--out`` folder. ``--classes``
# chooses the digits taken as normal in turn; the gallery and the tests run two of them
# for a few epochs (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Anomaly detection by reconstruction error on digits",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/anomaly"), help="figure folder")
parser.add_argument("--epochs", type=int, default=300, help="training epochs")
parser.add_argument("--n-components", type=int, default=8, help="code width")
parser.add_argument(
    "--classes", type=int, nargs="+", default=list(range(10)), help="digits taken as normal"
)
parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
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
# 1,797 images of 8 x 8 pixels, about 180 of each digit, scaled to [0, 1].
from sklearn.datasets import load_digits

X, y = load_digits(return_X_y=True)
X = X / 16

# %%
# The detector
# ------------
#
# Each class leaves about 145 images to train on, few for a network, so the detector is
# small and regularized twice: tied weights (the decoder reuses the encoder's weights,
# transposed) and denoising (Gaussian noise of standard deviation 0.1 on the training
# inputs, while the targets stay clean). ``score_samples`` is the negative
# reconstruction error of each image: higher means more typical of the training data.
from skae import AutoencoderOutlierDetector

detector = AutoencoderOutlierDetector(
    args.n_components,
    hidden_layer_sizes=(64,),
    tied_weights=True,
    noise=0.1,
    batch_size=16,
    max_iter=args.epochs,
    n_iter_no_change=None,
    random_state=args.seed,
)

# %%
# The baseline has the same ``score_samples``, written out for PCA: the negative mean
# squared error of each image's reconstruction from its leading components.


def pca_score_samples(pca, X):
    """Negative per-sample squared reconstruction error, as skae's score_samples."""
    return -((X - pca.inverse_transform(pca.transform(X))) ** 2).mean(axis=1)


# %%
# One digit after another
# -----------------------
#
# For each normal digit: split its images 80/20, fit a fresh copy of the detector and a
# PCA on the 80 %, and score the held-out 20 % together with every other digit. An
# anomaly has a low score, so the negated score ranks anomalies first, as
# :func:`~sklearn.metrics.roc_auc_score` expects of a score for the positive class.
import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

auc = {"autoencoder": [], "PCA": []}
for normal in args.classes:
    X_normal = X[y == normal]
    X_train, X_held_out = train_test_split(X_normal, test_size=0.2, random_state=args.seed)
    X_test = np.vstack([X_held_out, X[y != normal]])
    is_anomaly = np.r_[np.zeros(len(X_held_out)), np.ones((y != normal).sum())]

    ae = clone(detector).fit(X_train)
    pca = PCA(args.n_components, random_state=args.seed).fit(X_train)
    auc["autoencoder"].append(roc_auc_score(is_anomaly, -ae.score_samples(X_test)))
    auc["PCA"].append(roc_auc_score(is_anomaly, -pca_score_samples(pca, X_test)))

# %%
# ROC AUC per digit
# -----------------
#
# An AUC of 1 means that every other digit reconstructs worse than every held-out
# image of the normal one; 0.5 is a ranking by chance.
print("| normal class | autoencoder AUC | PCA AUC |")
print("| ---: | ---: | ---: |")
for i, normal in enumerate(args.classes):
    print(f"| {normal} | {auc['autoencoder'][i]:.4f} | {auc['PCA'][i]:.4f} |")
print(f"| mean | {np.mean(auc['autoencoder']):.4f} | {np.mean(auc['PCA']):.4f} |")

# %%
# The same numbers as bars, one pair per normal digit. On the full run (300 epochs, every
# digit) both methods separate most classes almost perfectly, and the autoencoder ranks
# at least as well as PCA for every digit. The hardest normal class is 8: its loops and
# strokes cover much of what the other digits draw, so a model of 8s reconstructs them
# fairly well too.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3.5))
positions = np.arange(len(args.classes))
ax.bar(positions - 0.2, auc["autoencoder"], width=0.4, label="autoencoder")
ax.bar(positions + 0.2, auc["PCA"], width=0.4, label="PCA")
ax.set_xticks(positions, [str(c) for c in args.classes])
ax.set_xlabel("normal digit")
ax.set_ylabel("ROC AUC")
# the axis starts a little below the lowest AUC, where the differences show
lowest = min(auc["autoencoder"] + auc["PCA"])
ax.set_ylim(max(0.5, np.floor(lowest * 20) / 20 - 0.05), 1.0)
ax.set_title("one normal digit, the nine others as anomalies")
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
fig.tight_layout()
fig.savefig(args.out / "roc_auc.png", dpi=80)
print("wrote roc_auc.png to the --out folder")
