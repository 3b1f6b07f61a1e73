"""Table 2: test reconstruction error per second at 36 components on MNIST.

PCA, LinearAETransformer (both solvers) and AutoencoderTransformer (the seed recipe
and the recommended recipe) fit on the training images and reconstruct the test
images. Each row is one fit, timed from the call to ``fit`` to its return.

    python benchmarks/bench_quality.py --data-dir ../shared/data/mnist
    python benchmarks/bench_quality.py --quick
"""

import argparse

import numpy as np
from _common import data_folder, load_data, output_file, report, seed_recipe, timed
from sklearn.decomposition import PCA

from skae import LinearAETransformer

# The seed recipe with one change: a linear code, so no code unit can die as a ReLU
# can, and a learning rate of 2e-3.
LINEAR_CODE_CHANGES = {"code_activation": "identity", "learning_rate_init": 2e-3}

# The recipe we recommend for MNIST-like images at 36 components: a linear code and
# one hidden layer of 128 on each side.
RECOMMENDED_CHANGES = {**LINEAR_CODE_CHANGES, "hidden_layer_sizes": (128,)}


def models(k, epochs, recommended_epochs):
    return {
        "PCA (randomized)": PCA(k, svd_solver="randomized", random_state=0),
        "PCA (full)": PCA(k, svd_solver="full"),
        "LinearAETransformer (covariance)": LinearAETransformer(k, random_state=0),
        "LinearAETransformer (minibatch, 5 epochs)": LinearAETransformer(
            k, solver="minibatch", batch_size=256, max_iter=5, random_state=0
        ),
        f"AutoencoderTransformer, seed recipe ({epochs} epochs)": seed_recipe(
            k, max_iter=epochs, random_state=0
        ),
        f"AutoencoderTransformer, linear code ({epochs} epochs)": seed_recipe(
            k, max_iter=epochs, random_state=0, **LINEAR_CODE_CHANGES
        ),
        f"AutoencoderTransformer, recommended ({recommended_epochs} epochs)": seed_recipe(
            k, max_iter=recommended_epochs, random_state=0, **RECOMMENDED_CHANGES
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run on small data")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parser.parse_args(argv)
    X_train, X_test = load_data(args.data_dir, args.quick)
    k = 8 if args.quick else 36
    epochs, recommended_epochs = (2, 2) if args.quick else (20, 15)

    rows, pca_mse = [], None
    for name, model in models(k, epochs, recommended_epochs).items():
        seconds, _ = timed(model.fit, X_train)
        mse = float(np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2))
        pca_mse = pca_mse or mse
        rows.append([name, f"{seconds:.1f}", f"{mse:.5f}", f"{mse / pca_mse:.3f}"])
    data = "digits (quick)" if args.quick else "MNIST"
    report(
        f"Test MSE at {k} components on {data}",
        ["model", "fit s", "test MSE", "ratio to PCA"],
        rows,
        args.markdown,
    )


if __name__ == "__main__":
    main()
