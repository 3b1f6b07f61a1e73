"""The MNIST example runs end to end on tiny IDX files and writes its figures.

The other examples run in the suite's build of the documentation site, where the
gallery executes them on tiny settings (tests/test_docs.py checks their output)."""

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(monkeypatch, name, *argv):
    """Run examples/NAME.py as ``python examples/NAME.py ARGV`` would."""
    path = str(EXAMPLES / f"{name}.py")
    monkeypatch.setattr(sys, "argv", [path, *argv])
    runpy.run_path(path, run_name="__main__")


def assert_figures(folder, names):
    for name in names:
        path = folder / name
        assert path.is_file() and path.stat().st_size > 1000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mnist_autoencoder_on_tiny_idx_files(tmp_path, capsys, monkeypatch, write_idx):
    rng = np.random.default_rng(0)
    data = tmp_path / "mnist"
    data.mkdir()
    for name, shape in [
        ("train-images-idx3-ubyte.gz", (120, 28, 28)),
        ("train-labels-idx1-ubyte.gz", (120,)),
        ("t10k-images-idx3-ubyte.gz", (40, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz", (40,)),
    ]:
        write_idx(data / name, rng.integers(0, 256 if len(shape) == 3 else 10, size=shape))
    out_dir = tmp_path / "out"
    run_example(
        monkeypatch,
        "mnist_autoencoder",
        *("--data-dir", str(data), "--out", str(out_dir), "--epochs", "2"),
    )
    printed = capsys.readouterr().out
    assert "MNIST: 108 train + 12 validation / 40 test" in printed
    # the figures are named, not their temporary folder
    assert "wrote loss_curve.png and reconstructions.png" in printed
    assert str(tmp_path) not in printed
    assert_figures(out_dir, ["loss_curve.png", "reconstructions.png"])


def test_the_quickstart_prints_where_its_figures_went(tmp_path, capsys, monkeypatch):
    # the README promises it prints where the figures went
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out" / "figures"
    run_example(monkeypatch, "quickstart", "--out", str(out), "--epochs", "2")
    printed = capsys.readouterr().out
    # relative to where it runs, as the README's command gives it
    assert "wrote out/figures/loss_curve.png and out/figures/reconstructions.png" in printed
    assert_figures(out, ["loss_curve.png", "reconstructions.png"])


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name)
def test_an_unknown_option_is_refused_before_the_run(path, monkeypatch, capsys):
    # a mistyped option was ignored: `--outdir figures` wrote to the default folder
    monkeypatch.setattr(sys, "argv", [str(path), "--outdir", "figures"])
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(str(path), run_name="__main__")
    assert exit.value.code == 2
    assert "unrecognized arguments: --outdir figures" in capsys.readouterr().err


def test_mnist_autoencoder_refuses_a_training_count_below_one(monkeypatch, capsys):
    # --n-train -5 trained on every image but the last 5
    for count in ("-5", "0"):
        with pytest.raises(SystemExit) as exit:
            run_example(monkeypatch, "mnist_autoencoder", "--n-train", count)
        assert exit.value.code == 2
        assert f"--n-train {count}: train on at least 1 image" in capsys.readouterr().err
