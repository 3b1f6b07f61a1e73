"""Anomaly detection on scikit-learn's digits: one class as normal at a time.

For each digit, every detector trains on 80 % of that digit only and scores the
held-out 20 % together with all other digits, which are the anomalies; the table
gives the ROC AUC per normal digit and the mean over the ten.

The two BCE rows train the same network (sigmoid output, binary cross-entropy) and
differ only in the score: skae's, the Bernoulli divergence (the cross-entropy minus
the sample's own binary entropy, 0 for a perfect reconstruction), and the plain
per-sample cross-entropy, which also counts how grey the image itself is.

    python benchmarks/bench_anomaly.py
    python benchmarks/bench_anomaly.py --quick        # two digits, few epochs
"""

import argparse

import numpy as np
from _common import (
    PCAReconstructionError,
    QuickDefault,
    RescoredDetector,
    one_class_table,
    output_file,
    parse,
    positive_int,
    report,
)
from scipy.special import xlogy
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor

from skae import AutoencoderOutlierDetector


class CrossEntropyScore(RescoredDetector):
    """A BCE-trained detector scored by the plain per-sample cross-entropy."""

    def score_samples(self, X):
        own_entropy = -(xlogy(X, X) + xlogy(1 - X, 1 - X)).mean(axis=1)
        # skae's score is -(cross-entropy - own entropy)
        return self.detector.score_samples(X) - own_entropy


def detectors(epochs, seed):
    def autoencoder(**params):
        return AutoencoderOutlierDetector(
            8,
            hidden_layer_sizes=(64,),
            tied_weights=True,
            noise=0.1,
            batch_size=16,
            max_iter=epochs,
            n_iter_no_change=None,
            random_state=seed,
            **params,
        )

    bce = {"output_activation": "sigmoid", "loss": "bce"}
    return {
        "AutoencoderOutlierDetector": autoencoder,
        "AutoencoderOutlierDetector, BCE (divergence score)": lambda: autoencoder(**bce),
        "AutoencoderOutlierDetector, BCE (cross-entropy score)": lambda: CrossEntropyScore(
            autoencoder(**bce)
        ),
        "PCA reconstruction error": lambda: PCAReconstructionError(8),
        "IsolationForest": lambda: IsolationForest(random_state=seed),
        "LocalOutlierFactor (novelty)": lambda: LocalOutlierFactor(novelty=True),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="two digits, 5 epochs")
    parser.add_argument("--epochs", type=positive_int, default=QuickDefault(300, 5), help="epochs")
    parser.add_argument("--seed", type=int, default=0, help="split and random_state seed")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    classes = [0, 1] if args.quick else list(range(10))
    epochs = args.epochs

    X, y = load_digits(return_X_y=True)
    X = X / 16
    makers = detectors(epochs, args.seed)

    def splits():
        for normal in classes:
            X_train, X_held_out = train_test_split(
                X[y == normal], test_size=0.2, random_state=args.seed
            )
            X_test = np.vstack([X_held_out, X[y != normal]])
            is_anomaly = np.r_[np.zeros(len(X_held_out)), np.ones((y != normal).sum())]
            yield normal, X_train, X_test, is_anomaly

    header, rows = one_class_table(makers, splits())
    report("ROC AUC, one digit as normal, digits 8x8", header, rows, args.markdown)


if __name__ == "__main__":
    main()
