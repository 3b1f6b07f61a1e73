"""One-class anomaly detection on MNIST: skae's detectors next to PCA.

For each digit, every detector trains on the first 6,000 training images of that
digit and scores the whole test set, where the other nine digits are the
anomalies; the table gives the ROC AUC per digit, the mean over the ten and the
fit time. (pyod's detectors, which the issue compares with, are not installed
here and not in this table.)

    python benchmarks/bench_anomaly_mnist.py --data-dir ../shared/data/mnist
    python benchmarks/bench_anomaly_mnist.py --quick        # digits, two classes
"""

import argparse

from _common import PCAReconstructionError, one_class_table, report

from skae import AutoencoderOutlierDetector, VAEOutlierDetector


def detectors(epochs, seed):
    return {
        "PCA(32) reconstruction error": lambda: PCAReconstructionError(32),
        "AutoencoderOutlierDetector (784-128-32, BCE divergence)": lambda: (
            AutoencoderOutlierDetector(
                32,
                hidden_layer_sizes=(128,),
                output_activation="sigmoid",
                loss="bce",
                alpha=0.0,
                batch_size=128,
                max_iter=epochs,
                n_iter_no_change=None,
                random_state=seed,
            )
        ),
        "VAEOutlierDetector (784-400-20, Bernoulli ELBO)": lambda: VAEOutlierDetector(
            20,
            hidden_layer_sizes=(400,),
            likelihood="bernoulli",
            batch_size=128,
            max_iter=epochs,
            n_iter_no_change=None,
            random_state=seed,
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="digits, two classes, 3 epochs")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the neural detectors")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the detectors")
    parser.add_argument("--markdown", default=None, help="write the table to this file")
    args = parser.parse_args(argv)
    if args.quick:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X_train, y_train, X_test, y_test = X[:1200] / 16, y[:1200], X[1200:] / 16, y[1200:]
        classes, epochs = [0, 1], 3
    else:
        from skae.datasets import load_mnist

        X_train, X_test, y_train, y_test = load_mnist(args.data_dir)
        classes, epochs = list(range(10)), args.epochs
    makers = detectors(epochs, args.seed)
    splits = (
        (normal, X_train[y_train == normal][:6000], X_test, (y_test != normal).astype(int))
        for normal in classes
    )
    header, rows = one_class_table(makers, splits)
    data = "digits (quick)" if args.quick else "MNIST"
    report(f"One-class ROC AUC on {data}, {epochs} epochs", header, rows, args.markdown)


if __name__ == "__main__":
    main()
