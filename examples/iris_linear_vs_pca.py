"""Linear autoencoder vs PCA on standardized iris
==============================================

An under-complete linear autoencoder learns PCA's subspace, but in a rotated basis;
skae's LinearAETransformer aligns it back to PCA's ordered components. The script
shows the three scatters (PCA, raw linear AE, aligned linear AE), the explained
variance of each component, and how close the untied decoder comes to the
transposed encoder.

Run it as a script::

    python examples/iris_linear_vs_pca.py --out out/iris
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skae import LinearAETransformer


def cosine_matrix(A, B):
    """|cosine| between the rows of A and the rows of B."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return np.abs(A @ B.T)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Linear autoencoder vs PCA on standardized iris",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out/iris"), help="figure folder")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    iris = load_iris()
    X, y = StandardScaler().fit_transform(iris.data), iris.target
    pca = PCA(2).fit(X)
    # trained from random weights (solver="lbfgs"), not solved in closed form, and
    # left unaligned: the classic demonstration
    raw = LinearAETransformer(
        2, solver="lbfgs", align=False, tied_weights=False, random_state=args.seed
    ).fit(X)
    aligned = LinearAETransformer(2, random_state=args.seed).fit(X)
    module = raw.net_.module_  # the trained torch module
    encoder = module.encoder.weight.detach().numpy()  # (2, 4)
    decoder = module.decoder.weight.detach().numpy()  # (4, 2)

    # 1. the three scatters
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (title, model) in zip(
        axes,
        [("PCA", pca), ("linear AE, raw weights", raw), ("linear AE, aligned", aligned)],
        strict=True,
    ):
        Z = model.transform(X)
        for label, name in enumerate(iris.target_names):
            ax.scatter(*Z[y == label].T, s=12, label=name)
        ax.set_title(title)
        ax.set_xlabel("code 0")
        ax.set_ylabel("code 1")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out / "scatters.png", dpi=80)

    # 2. explained variance per component
    fig, ax = plt.subplots(figsize=(5, 3.5))
    positions = np.arange(2)
    ax.bar(positions - 0.2, pca.explained_variance_ratio_, width=0.4, label="PCA")
    ax.bar(positions + 0.2, aligned.explained_variance_ratio_, width=0.4, label="linear AE")
    ax.set_xticks(positions, ["component 0", "component 1"])
    ax.set_ylabel("explained variance ratio")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "explained_variance.png", dpi=80)

    # 3. untied weights: is the decoder the transposed encoder?
    similarity = cosine_matrix(decoder.T, encoder)
    fig, ax = plt.subplots(figsize=(4, 3.5))
    image = ax.imshow(similarity, vmin=0, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(similarity):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w")
    ax.set_xticks(range(similarity.shape[1]))
    ax.set_yticks(range(similarity.shape[0]))
    ax.set_xlabel("encoder row")
    ax.set_ylabel("decoder column")
    ax.set_title("|cosine|, raw weights")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(args.out / "decoder_vs_encoder.png", dpi=80)

    raw_cos = np.diag(cosine_matrix(decoder.T, pca.components_))
    aligned_cos = np.abs(np.sum(aligned.components_ * pca.components_, axis=1))
    angle = subspace_angles(decoder, pca.components_.T).max()
    print(
        "| component | PCA EVR | aligned AE EVR | |cos| raw decoder vs PCA | |cos| aligned vs PCA |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for i in range(2):
        print(
            f"| {i} | {pca.explained_variance_ratio_[i]:.6f} | "
            f"{aligned.explained_variance_ratio_[i]:.6f} | {raw_cos[i]:.4f} | "
            f"{aligned_cos[i]:.10f} |"
        )
    print(f"largest principal angle, raw subspace vs PCA: {angle:.2e} rad")
    for name in ("scatters.png", "explained_variance.png", "decoder_vs_encoder.png"):
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
