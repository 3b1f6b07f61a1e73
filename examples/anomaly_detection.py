"""Anomaly detection by reconstruction error on digits
===================================================

For each digit class in turn, an AutoencoderOutlierDetector learns 80 % of that
class only; the held-out rest of the class and every other digit are then scored by
their reconstruction error (``score_samples``: higher means more typical). A digit the
model never saw reconstructs badly and stands out. The ROC AUC of that score is
compared with PCA's reconstruction error at the same number of components.

Run it as a script::

    python examples/anomaly_detection.py --out out/anomaly
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderOutlierDetector


def pca_score_samples(pca, X):
    """Negative per-sample squared reconstruction error, as skae's score_samples."""
    return -((X - pca.inverse_transform(pca.transform(X))) ** 2).mean(axis=1)


def main(argv=None):
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
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X = X / 16
    auc = {"autoencoder": [], "PCA": []}
    for normal in args.classes:
        X_normal = X[y == normal]
        X_train, X_held_out = train_test_split(X_normal, test_size=0.2, random_state=args.seed)
        X_test = np.vstack([X_held_out, X[y != normal]])
        is_anomaly = np.r_[np.zeros(len(X_held_out)), np.ones((y != normal).sum())]

        # a small denoising autoencoder with tied weights: both regularize, which
        # matters with about 145 training images per digit
        ae = AutoencoderOutlierDetector(
            args.n_components,
            hidden_layer_sizes=(64,),
            tied_weights=True,
            noise=0.1,
            batch_size=16,
            max_iter=args.epochs,
            n_iter_no_change=None,
            random_state=args.seed,
        )
        ae.fit(X_train)
        pca = PCA(args.n_components, random_state=args.seed).fit(X_train)
        # an anomaly has a low score, so its negation ranks anomalies first
        auc["autoencoder"].append(roc_auc_score(is_anomaly, -ae.score_samples(X_test)))
        auc["PCA"].append(roc_auc_score(is_anomaly, -pca_score_samples(pca, X_test)))

    print("| normal class | autoencoder AUC | PCA AUC |")
    print("| ---: | ---: | ---: |")
    for i, normal in enumerate(args.classes):
        print(f"| {normal} | {auc['autoencoder'][i]:.4f} | {auc['PCA'][i]:.4f} |")
    print(f"| mean | {np.mean(auc['autoencoder']):.4f} | {np.mean(auc['PCA']):.4f} |")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    positions = np.arange(len(args.classes))
    ax.bar(positions - 0.2, auc["autoencoder"], width=0.4, label="autoencoder")
    ax.bar(positions + 0.2, auc["PCA"], width=0.4, label="PCA")
    ax.set_xticks(positions, [str(c) for c in args.classes])
    ax.set_xlabel("normal digit")
    ax.set_ylabel("ROC AUC")
    ax.set_ylim(0.5, 1.0)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out / "roc_auc.png", dpi=80)
    print(f"wrote {args.out / 'roc_auc.png'}")


if __name__ == "__main__":
    main()
