"""The command line each gallery example runs with (see ``conf.py``)."""

import os

# tiny settings for SKAE_DOCS_QUICK=1: the test suite builds the whole site with them
_QUICK = {
    "anomaly_detection.py": ["--epochs", "3", "--classes", "0", "1"],
    "grid_search.py": ["--epochs", "2", "--components", "2", "--n-jobs", "1"],
    "iris_linear_vs_pca.py": [],
    "missing_values.py": ["--epochs", "2", "--iterative-rounds", "1"],
    "mixed_tabular.py": ["--epochs", "3"],
    "mnist_autoencoder.py": ["--epochs", "1", "--n-train", "2000"],
    "onnx_export.py": ["--epochs", "3"],
    "quickstart.py": ["--epochs", "3"],
    "text_autoencoder.py": ["--epochs", "3", "--documents", "300"],
    "vae_digits.py": ["--epochs", "3", "--grid", "4"],
}


def needs_mnist(name):
    """Whether the example ``name`` needs the MNIST files (given by SKAE_MNIST_DIR)."""
    return name.startswith("mnist")


def reset_argv(gallery_conf, script_vars):
    name = os.path.basename(script_vars["src_file"])
    argv = ["--out", os.path.join(os.environ["SKAE_DOCS_FIGURES"], name[:-3])]
    if os.environ.get("SKAE_DOCS_QUICK") == "1":
        argv += _QUICK[name]
    if os.environ.get("SKAE_MNIST_DIR") and needs_mnist(name):
        argv += ["--data-dir", os.environ["SKAE_MNIST_DIR"]]
    return argv
