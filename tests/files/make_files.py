"""Write the skae files that tests/test_compatibility.py loads with today's skae.

Run it with the skae of a release on the path, never today's, and commit what it
writes under ``tests/files/<that release>/``::

    git archive <commit> skae | tar -x -C /tmp/skae-<commit>
    PYTHONPATH=/tmp/skae-<commit> python tests/files/make_files.py tests/files/<release>

For each configuration it fits a fresh estimator on 40 rows of scikit-learn's
digits, saves it as ``<prefix><configuration>.skae`` and records what the saved
estimator gives on 20 other rows in ``<prefix><configuration>.npz``: transform,
inverse_transform of those codes, score_samples, and for the outlier detectors
decision_function and predict. A later skae must load the file and give the same
outputs. The configurations are those of tests/_instances.py when 0.2.0 was
released, spelled out here so that the script keeps writing the same files
whatever that table becomes; a later release adds its own directory.
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvAutoencoder,
    LinearAETransformer,
    VAEOutlierDetector,
    VAETransformer,
)

SMALL = {"hidden_layer_sizes": (8,), "max_iter": 5}
CONFIGURATIONS = {
    "ae": lambda: AutoencoderTransformer(**SMALL),
    "ae-variants": lambda: AutoencoderTransformer(
        **SMALL, noise=0.1, sparsity=0.01, dropout=0.1, tied_weights=True
    ),
    "ae-bce": lambda: AutoencoderTransformer(**SMALL, output_activation="sigmoid", loss="bce"),
    "ae-conv": lambda: AutoencoderTransformer(
        max_iter=2, module=ConvAutoencoder, module_params={"image_shape": (2, 2)}
    ),
    "ae-lbfgs": lambda: AutoencoderTransformer(
        **SMALL, optimizer=torch.optim.LBFGS, alpha=0.0, batch_size=64
    ),
    "ae-detector": lambda: AutoencoderOutlierDetector(**SMALL),
    "linear": lambda: LinearAETransformer(max_iter=5),
    "linear-whiten": lambda: LinearAETransformer(whiten=True, tied_weights=False, max_iter=5),
    "linear-raw": lambda: LinearAETransformer(align=False, max_iter=5),
    "linear-minibatch": lambda: LinearAETransformer(solver="minibatch", max_iter=5),
    "linear-lbfgs": lambda: LinearAETransformer(solver="lbfgs", max_iter=5),
    "vae": lambda: VAETransformer(**SMALL),
    "vae-bernoulli": lambda: VAETransformer(**SMALL, likelihood="bernoulli"),
    "vae-detector": lambda: VAEOutlierDetector(**SMALL),
    "vae-detector-elbo": lambda: VAEOutlierDetector(**SMALL, anomaly_score="elbo"),
}

# the central 4 x 4 pixels of the 8 x 8 digits, scaled to [0, 1] (every one varies);
# the convolutional configuration reads a 2 x 2 image, the central 2 x 2 pixels
PIXELS = [row * 8 + column for row in range(2, 6) for column in range(2, 6)]
CONV_PIXELS = [27, 28, 35, 36]


def data(configuration):
    """(training rows, probe rows) for ``configuration``."""
    X = load_digits().data[:60, CONV_PIXELS if configuration == "ae-conv" else PIXELS] / 16
    return X[:40], X[40:]


def outputs(estimator, probe):
    """What a loaded ``estimator`` must give on ``probe``, by method name."""
    codes = estimator.transform(probe)
    found = {
        "transform": codes,
        "inverse_transform": estimator.inverse_transform(codes),
        "score_samples": estimator.score_samples(probe),
    }
    if hasattr(estimator, "predict"):
        found["decision_function"] = estimator.decision_function(probe)
        found["predict"] = estimator.predict(probe)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write into (default: %(default)s)")
    parser.add_argument(
        "--prefix", default="", help="prefix of every file name (default: %(default)r)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(CONFIGURATIONS),
        default=list(CONFIGURATIONS),
        help="configurations to write (default: all)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        train, probe = data(name)
        with warnings.catch_warnings():
            # five epochs on 40 rows do not converge, and need not
            warnings.simplefilter("ignore")
            estimator = CONFIGURATIONS[name]().set_params(random_state=0).fit(train)
        path = args.out / f"{args.prefix}{name}.skae"
        skae.save(estimator, path)
        # the outputs of the file as loaded, which is what a later skae must reproduce
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = skae.load(path)
        np.savez(path.with_suffix(".npz"), probe=probe, **outputs(loaded, probe))
        print(f"{path} ({path.stat().st_size} bytes), skae {skae.__version__}")


if __name__ == "__main__":
    main()
