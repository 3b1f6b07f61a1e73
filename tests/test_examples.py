"""Every example runs end to end on tiny settings and writes its figures."""

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *argv):
    main = runpy.run_path(str(EXAMPLES / f"{name}.py"))["main"]
    main(list(argv))


def assert_figures(folder, names):
    for name in names:
        path = folder / name
        assert path.is_file() and path.stat().st_size > 1000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quickstart(tmp_path, capsys):
    run_example("quickstart", "--out", str(tmp_path), "--epochs", "3")
    out = capsys.readouterr().out
    assert "| autoencoder |" in out and "| PCA |" in out
    assert_figures(tmp_path, ["loss_curve.png", "reconstructions.png"])


def test_mnist_autoencoder_on_tiny_idx_files(tmp_path, capsys, write_idx):
    rng = np.random.default_rng(0)
    data = tmp_path / "mnist"
    data.mkdir()
    for name, shape in [
        ("train-images-idx3-ubyte.gz", (120, 28, 28)),
        ("train-labels-idx1-ubyte.gz", (120,)),
        ("t10k-images-idx3-ubyte.gz", (40, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz", (40,)),
    ]:
        write_idx(data / name, rng.integers(0, 256, size=shape))
    out_dir = tmp_path / "out"
    run_example(
        "mnist_autoencoder", "--data-dir", str(data), "--out", str(out_dir), "--epochs", "2"
    )
    assert "MNIST: 108 train + 12 validation / 40 test" in capsys.readouterr().out
    assert_figures(out_dir, ["loss_curve.png", "reconstructions.png"])


def test_iris_linear_vs_pca(tmp_path, capsys):
    run_example("iris_linear_vs_pca", "--out", str(tmp_path))
    out = capsys.readouterr().out
    # the aligned linear autoencoder has PCA's explained variance
    assert "| 0 | 0.729624 | 0.729624 |" in out
    assert_figures(tmp_path, ["scatters.png", "explained_variance.png", "decoder_vs_encoder.png"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search(tmp_path, capsys):
    run_example(
        "grid_search",
        "--out",
        str(tmp_path),
        "--epochs",
        "3",
        "--components",
        "2",
        "4",
        "--n-jobs",
        "1",
    )
    out = capsys.readouterr().out
    # two searches, two rows each for the linear autoencoder
    assert out.count("| LinearAETransformer |") == 4 and out.count("best:") == 2
    assert "CV reconstruction MSE" in out
    assert_figures(tmp_path, ["accuracy.png", "reconstruction.png"])


def test_anomaly_detection(tmp_path, capsys):
    run_example("anomaly_detection", "--out", str(tmp_path), "--epochs", "5", "--classes", "0", "1")
    out = capsys.readouterr().out
    assert "| mean |" in out
    assert_figures(tmp_path, ["roc_auc.png"])


def test_vae_digits(tmp_path, capsys):
    run_example("vae_digits", "--out", str(tmp_path), "--epochs", "3", "--grid", "3")
    out = capsys.readouterr().out
    assert out.count("| VAETransformer |") == 2
    assert_figures(tmp_path, ["samples.png", "latent_traversal.png"])
