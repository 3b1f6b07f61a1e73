"""
Linear autoencoder vs PCA on standardized iris
==============================================

A linear autoencoder with fewer code units than features, trained on squared error,
spans the same subspace as PCA's leading components (Baldi and Hornik, 1989), but in no
particular basis: its codes are PCA's scores mixed by some invertible matrix.
:class:`~skae.LinearAETransformer` trains such a network and then aligns its basis to
PCA's ordered, orthonormal components. This example trains one from random weights on
the four standardized measurements of the iris flowers and compares it, raw and aligned,
with :class:`~sklearn.decomposition.PCA`: the codes, the explained variance of each
component, and the geometry of the raw encoder and decoder.

Run it as a script (``--help`` lists the options)::

    python examples/iris_linear_vs_pca.py --out out/iris
"""

# %%
# Options
# -------
#
# As a script, the example writes its three figures to the ``--out`` folder.
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Linear autoencoder vs PCA on standardized iris",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/iris"), help="figure folder")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Load and standardize iris
# -------------------------
#
# 150 flowers of three species, four measurements each (sepal and petal, length and
# width, in cm). Petal length varies far more than sepal width; standardizing gives
# every measurement unit variance, so that the components describe how the
# measurements vary together rather than which has the widest spread in centimeters.
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

iris = load_iris()
X, y = StandardScaler().fit_transform(iris.data), iris.target

# %%
# PCA and a linear autoencoder, raw and aligned
# ---------------------------------------------
#
# ``solver="lbfgs"`` trains the network from random weights, where the default solver
# would compute the optimum in closed form; ``tied_weights=False`` gives the decoder
# weights of its own, not the encoder's transposed; ``align=False`` keeps the weights
# as training left them. The aligned model is the same estimator with ``align=True``:
# the same training, followed by the alignment to PCA's components.
from sklearn.base import clone
from sklearn.decomposition import PCA

from skae import LinearAETransformer

pca = PCA(2).fit(X)
raw = LinearAETransformer(
    2, solver="lbfgs", align=False, tied_weights=False, random_state=args.seed
).fit(X)
aligned = clone(raw).set_params(align=True).fit(X)

# %%
# The codes
# ---------
#
# Each panel shows the flowers in a model's two codes. The raw network's scatter is
# PCA's seen through a linear map: turned, stretched and sheared, setosa still apart
# from the other two species. Aligned, the network's codes are PCA's scores.
import matplotlib.pyplot as plt

# two by two, each panel about half the page wide
fig, axes = plt.subplots(2, 2, figsize=(7.2, 6.8))
models = {"PCA": pca, "linear AE, raw weights": raw, "linear AE, aligned": aligned}
for ax, (title, model) in zip(axes.flat, models.items(), strict=False):
    Z = model.transform(X)
    for label, name in enumerate(iris.target_names):
        ax.scatter(*Z[y == label].T, s=14, label=name)
    ax.set_title(title)
    ax.set_xlabel("code 0")
    ax.set_ylabel("code 1")
# the fourth panel holds the legend
handles, labels = axes[0, 0].get_legend_handles_labels()
axes[1, 1].legend(handles, labels, loc="center", title="species", markerscale=2, fontsize=11)
axes[1, 1].axis("off")
fig.tight_layout()
fig.savefig(args.out / "scatters.png", dpi=80)

# %%
# The same subspace, and after alignment the same axes
# ----------------------------------------------------
#
# The table compares the explained variance ratio (EVR) of each component, and the
# :math:`|\cos|` between PCA's components and the raw decoder's columns (which span the
# subspace the network reconstructs from) or the aligned model's ``components_``.
# The raw columns are not PCA's axes, but they span PCA's plane: the largest principal
# angle between the two planes is zero up to the solver's tolerance.
import numpy as np
from scipy.linalg import subspace_angles


def cosine_matrix(A, B):
    """|cosine| between the rows of A and the rows of B."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return np.abs(A @ B.T)


module = raw.net_.module_  # the trained torch module
encoder = module.encoder.weight.detach().numpy()  # (2, 4)
decoder = module.decoder.weight.detach().numpy()  # (4, 2)
raw_cos = np.diag(cosine_matrix(decoder.T, pca.components_))
aligned_cos = np.abs(np.sum(aligned.components_ * pca.components_, axis=1))
angle = subspace_angles(decoder, pca.components_.T).max()

print("| component | PCA EVR | aligned AE EVR | |cos| raw decoder vs PCA | |cos| aligned vs PCA |")
print("| --- | ---: | ---: | ---: | ---: |")
for i in range(2):
    print(
        f"| {i} | {pca.explained_variance_ratio_[i]:.6f} | "
        f"{aligned.explained_variance_ratio_[i]:.6f} | {raw_cos[i]:.4f} | "
        f"{aligned_cos[i]:.10f} |"
    )
print(f"largest principal angle, raw subspace vs PCA: {angle:.2e} rad")

# %%
# Explained variance per component
# --------------------------------
#
# Aligned, each component of the network explains the share of the variance that the
# matching principal component does, in the same order: nearly three quarters for the
# first, nearly a quarter for the second.
fig, ax = plt.subplots(figsize=(6, 4))
positions = np.arange(2)
ax.bar(positions - 0.2, pca.explained_variance_ratio_, width=0.4, label="PCA")
ax.bar(positions + 0.2, aligned.explained_variance_ratio_, width=0.4, label="linear AE")
ax.set_xticks(positions, ["component 0", "component 1"])
ax.set_ylabel("explained variance ratio")
ax.set_title("explained variance per component")
ax.legend()
fig.tight_layout()
fig.savefig(args.out / "explained_variance.png", dpi=80)

# %%
# Is the raw decoder the encoder transposed?
# ------------------------------------------
#
# At the optimum of an untied linear autoencoder the decoder is :math:`U C` and the
# encoder :math:`C^{-1} U^\top`, with :math:`U` PCA's components and :math:`C` any
# invertible 2 x 2 matrix; encoder times decoder is the identity. So decoder column
# :math:`i` is orthogonal to encoder row :math:`j \neq i`, and parallel to encoder row
# :math:`i` only when the columns of :math:`C` are orthogonal to each other. Trained
# from random weights, they are not: the off-diagonal cosines are 0 and the diagonal
# ones stay below 1. Tied weights would force :math:`C` to be orthogonal, a rotation
# (or reflection) of PCA's axes.
similarity = cosine_matrix(decoder.T, encoder)
fig, ax = plt.subplots(figsize=(5, 4))
image = ax.imshow(similarity, vmin=0, vmax=1, cmap="viridis")
for (i, j), value in np.ndenumerate(similarity):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w", fontsize=12)
ax.set_xticks(range(similarity.shape[1]))
ax.set_yticks(range(similarity.shape[0]))
ax.set_xlabel("encoder row")
ax.set_ylabel("decoder column")
ax.set_title("|cosine|, raw weights")
fig.colorbar(image, ax=ax)
fig.tight_layout()
fig.savefig(args.out / "decoder_vs_encoder.png", dpi=80)
print("wrote scatters.png, explained_variance.png and decoder_vs_encoder.png to the --out folder")
