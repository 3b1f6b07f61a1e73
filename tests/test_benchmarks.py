"""Every benchmark script runs its --quick smoke run and writes its table."""

import ast
import re
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    "script, first_column",
    [
        ("bench_training.py", "| bare PyTorch loop, skae's tricks |"),
        ("bench_quality.py", "| LinearAETransformer (covariance) |"),
        ("bench_scaling.py", "| 1500 |"),
        ("bench_linear.py", "| IncrementalPCA (batch 2000) |"),
        ("bench_anomaly.py", "| AutoencoderOutlierDetector |"),
        ("bench_pca_speed.py", "| digits 1797 x 64 |"),
        ("bench_vae.py", "| skae VAETransformer |"),
        ("bench_anomaly_mnist.py", "| PCA(32) reconstruction error |"),
        ("bench_out_of_core.py", "| IncrementalPCA |"),
        ("bench_edges.py", "| LinearAETransformer (fit float64) |"),
        ("bench_onnx.py", "| AutoencoderTransformer (MNIST recipe) |"),
        ("bench_sparse.py", "| AutoencoderTransformer, reconstruction_sampling=0.01 |"),
        ("bench_dask_linear.py", "| Incremental(IncrementalPCA) |"),
        ("bench_deep.py", "| paper: PCA (30) |"),
        ("bench_precision.py", "| deep recipe, batch 512, 1 epoch |"),
        ("bench_threads.py", "| deep recipe (1 epoch) |"),
        ("bench_impute.py", "| digits |"),
        (
            "bench_impute_mixed.py",
            "| generated | MCAR | 20% | SimpleImputer (mean, most frequent) |",
        ),
        (
            "bench_anomaly_mixed.py",
            '| AutoencoderOutlierDetector(categorical_features="from_dtype") |',
        ),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quick_run_prints_and_writes_its_table(script, first_column, tmp_path, monkeypatch, capsys):
    # in this process, as `python benchmarks/SCRIPT --quick --markdown FILE` runs it
    # (a fresh interpreter would spend 3 s importing torch and scikit-learn again)
    markdown = tmp_path / "table.md"
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import _common
    monkeypatch.setattr(
        sys, "argv", [str(BENCHMARKS / script), "--quick", "--markdown", str(markdown)]
    )
    runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    assert first_column in capsys.readouterr().out
    text = markdown.read_text()
    assert text.startswith("### ") and "Machine: " in text and first_column in text


@pytest.mark.parametrize(
    "path",
    [*sorted(BENCHMARKS.glob("bench_*.py")), *sorted(BENCHMARKS.parent.glob("examples/*.py"))],
    ids=lambda path: path.name,
)
def test_every_option_has_help_with_its_default(path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import _common
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(path), run_name="__main__")
    usage = capsys.readouterr().out
    options = set(re.findall(r"\[(--[\w-]+)", usage.split("\n\n")[0]))
    # ArgumentDefaultsHelpFormatter adds "(default: ...)" to every option with help
    assert options and usage.count("(default:") == len(options)


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(BENCHMARKS.glob("bench_*.py")) if "--markdown" in p.read_text()],
    ids=lambda path: path.name,
)
def test_output_and_data_paths_are_checked_before_the_run(path, tmp_path, monkeypatch, capsys):
    # a --markdown in a missing folder failed after the whole run, a --data-dir
    # that is no folder in load_mnist's traceback (or was ignored under --quick)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    options = [["--markdown", str(tmp_path / "missing" / "table.md")]]
    if "--data-dir" in path.read_text():
        options.append(["--data-dir", str(tmp_path / "nowhere")])
    for option in options:
        monkeypatch.setattr(sys, "argv", [str(path), "--quick", *option])
        with pytest.raises(SystemExit) as exit:
            runpy.run_path(str(path), run_name="__main__")
        assert exit.value.code == 2
        assert f"argument {option[0]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(BENCHMARKS.glob("bench_*.py")) if "positive_int" in p.read_text()],
    ids=lambda path: path.name,
)
def test_counts_of_zero_are_refused_before_the_run(path, monkeypatch, capsys):
    # --epochs 0 ran the default 20 epochs, --repeats 0 five repeats; --chunk 0
    # divided by zero after the data was built
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    counts = re.findall(r'"(--[\w-]+)",\s*type=positive_int', path.read_text())
    assert counts
    for option in counts:
        monkeypatch.setattr(sys, "argv", [str(path), "--quick", option, "0"])
        with pytest.raises(SystemExit) as exit:
            runpy.run_path(str(path), run_name="__main__")
        assert exit.value.code == 2
        assert f"argument {option}: 0 is not a count of at least 1" in capsys.readouterr().err


class _Parsed(Exception):
    """Stops a script right after its options are parsed."""


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(BENCHMARKS.glob("bench_*.py")) if '"--quick"' in p.read_text()],
    ids=lambda path: path.name,
)
def test_an_option_given_beside_quick_wins_over_its_quick_value(path, monkeypatch):
    # --quick replaced options given with it: `--quick --seeds 3` ran one seed,
    # `--quick --epochs 5` one epoch
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _common

    parsed, original = [], _common.parse

    def parse(parser, argv=None):
        parsed.append(original(parser, argv))
        raise _Parsed

    monkeypatch.setattr(_common, "parse", parse)
    text = path.read_text()
    options = re.findall(
        r'"(--[\w-]+)",\s*type=\w+,\s*default=QuickDefault\(([^,]+), ([^)]+)\)', text
    )
    for option, full, quick in options:
        attribute = option.removeprefix("--").replace("-", "_")
        for argv, expected in [([], quick), ([option, full], full)]:
            monkeypatch.setattr(sys, "argv", [str(path), "--quick", *argv])
            with pytest.raises(_Parsed):
                runpy.run_path(str(path), run_name="__main__")
            assert getattr(parsed.pop(), attribute) == ast.literal_eval(expected)
    # and nothing after the parsing sets an option again
    assert not re.search(r"^\s*args\.\w+(\s*,\s*args\.\w+)*\s*=[^=]", text, re.M)
