"""The documentation site: it builds with warnings as errors and every
cross-reference resolved, every public name has its page, the gallery runs its
examples and shows their figures, math is served from the site itself, and every
Python block of the README and the user guide runs as written."""

import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
GENERATED = ("_build", "generated", "auto_examples", "sg_execution_times.rst")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built on the gallery's tiny settings, from a copy of the sources
    (sphinx-gallery writes into its source folder; the checkout stays clean)."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(DOCS, tree / "docs", ignore=shutil.ignore_patterns(*GENERATED))
    shutil.copytree(ROOT / "examples", tree / "examples")
    (tree / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "RESULTS.md", tree / "benchmarks")
    shutil.copy(ROOT / "CHANGELOG.md", tree)  # docs/changelog.md includes it
    html = tree / "html"
    env = {key: value for key, value in os.environ.items() if key != "SKAE_MNIST_DIR"}
    command = [sys.executable, "-m", "sphinx", "-W", "-n", "-q", "-b", "html"]
    command += ["-d", str(tree / "doctrees"), str(tree / "docs"), str(html)]
    done = subprocess.run(
        command, env=env | {"SKAE_DOCS_QUICK": "1"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return html


def public_names():
    import skae
    import skae.datasets
    import skae.metrics
    import skae.plotting

    names = [f"skae.{name}" for name in skae.__all__]
    for module in (skae.datasets, skae.metrics, skae.plotting):
        names += [
            f"{module.__name__}.{name}"
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", module.__name__) == module.__name__
            and (callable(value) or name.isupper())
        ]
    return names


def test_every_public_name_has_its_page_with_its_example(site):
    for name in public_names():
        page = site / "generated" / f"{name}.html"
        assert page.is_file(), f"no API page for {name}"
        text = page.read_text()
        if name.split(".")[-1][0].isupper() and not name.endswith("_RECIPE"):
            assert "Examples" in text, f"{name}'s page has no example"


def test_the_guide_and_the_api_index_are_linked_from_the_home_page(site):
    home = (site / "index.html").read_text()
    for page in ["user_guide/index.html", "api.html", "auto_examples/index.html", "install.html"]:
        assert f'href="{page}' in home, page
        assert (site / page).is_file()


# what each example prints, and how often, on the gallery's tiny settings
# (docs/_gallery_argv.py): the gallery build is where these scripts run in the suite
PRINTED = {
    "quickstart": {"| autoencoder |": 1, "| PCA |": 1},
    # the aligned linear autoencoder has PCA's explained variance
    "iris_linear_vs_pca": {"| 0 | 0.729624 | 0.729624 |": 1},
    # two searches (supervised, unsupervised), one width each
    "grid_search": {"| LinearAETransformer |": 2, "best:": 2, "CV reconstruction MSE": 1},
    "anomaly_detection": {"| mean |": 1},
    "vae_digits": {"| VAETransformer |": 2},
    # the four outputs of the served model, computed without torch, sklearn or skae,
    # agree with skae's
    "onnx_export": {"| True |": 4, "libraries imported: []": 1},
    # the sparse TF-IDF matrix reaches the autoencoder as it is
    "text_autoencoder": {
        "sparse: True": 1,
        "| autoencoder |": 1,
        "| autoencoder, reconstruction_sampling=0.1 |": 1,
        "| TruncatedSVD |": 1,
    },
    # categories in, a table of categories out, each column's share; the planted rows
    # counted
    "mixed_tabular": {
        "| species |": 1,
        "DataFrame": 1,
        "| species filled": 1,
        "of the 10 planted": 1,
    },
    # the three imputers, each with its error on the removed pixels
    "missing_values": {"| AutoencoderImputer |": 1, "| KNNImputer |": 1, "| IterativeImputer |": 1},
}


@pytest.mark.parametrize("example", sorted(PRINTED))
def test_gallery_pages_show_what_their_example_printed_and_drew(site, example):
    page = (site / "auto_examples" / f"{example}.html").read_text()
    output = "".join(re.findall(r'<div class="sphx-glr-script-out.*?</pre>', page, re.S))
    for text, count in PRINTED[example].items():
        assert output.count(text) == count, (example, text)
    # the figures go to a temporary folder (--out), which the page does not show
    assert str(site.parent) not in output, example
    figures = re.findall(rf'src="(\.\./_images/sphx_glr_{example}_\d+\.png)"', page)
    assert figures, f"{example}: no figure on its page"
    for figure in figures:
        assert (site / "auto_examples" / figure).resolve().stat().st_size > 1000


def test_every_example_but_mnist_runs_in_the_gallery():
    assert sorted(PRINTED) == [name for name in EXAMPLES if not name.startswith("mnist")]


def test_the_mnist_example_without_its_data_shows_code_and_says_why(site):
    page = (site / "auto_examples" / "mnist_autoencoder.html").read_text()
    assert "SKAE_MNIST_DIR" in page and "load_mnist" in page
    assert "sphx_glr_mnist_autoencoder_001" not in page


def test_math_renders_from_the_site_itself(site):
    page = (site / "user_guide" / "linear.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page, re.I)
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts), scripts
    for script in scripts:
        assert (site / "user_guide" / script.split("?")[0]).resolve().is_file(), script


def test_every_example_has_tiny_gallery_settings():
    sys.path.insert(0, str(DOCS))
    try:
        quick = importlib.import_module("_gallery_argv")._QUICK
    finally:
        sys.path.remove(str(DOCS))
    assert sorted(quick) == [f"{name}.py" for name in EXAMPLES]


def python_blocks():
    """(where, code) of every Python block of the README and the docs' pages."""
    blocks = [
        (f"README.md, Python block {i + 1}", code)
        for i, code in enumerate(
            re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
        )
    ]
    pages = [p for p in sorted(DOCS.rglob("*.rst")) if not set(p.parts) & set(GENERATED)]
    for page in pages:
        found = re.findall(
            r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", page.read_text(), re.M
        )
        for i, code in enumerate(found):
            name = f"{page.relative_to(ROOT)}, Python block {i + 1}"
            blocks.append((name, textwrap.dedent(code)))
    return blocks


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")  # none expected
# nor a fit that fails inside a search (it would hide the warning above as a NaN score)
@pytest.mark.filterwarnings("error::sklearn.exceptions.FitFailedWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # a Dask cluster's shutdown chatter
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("where, code", python_blocks(), ids=[w for w, _ in python_blocks()])
def test_every_python_block_runs_as_written(where, code, tmp_path, monkeypatch):
    # each block runs alone, as a script would: its own imports, its own data
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__main__"})


def test_no_page_loads_a_script_or_stylesheet_from_elsewhere(site):
    # the site works offline, as the README says (sphinx-gallery's execution-times
    # pages loaded jQuery and DataTables from CDNs)
    remote = {
        (page.relative_to(site).as_posix(), url)
        for page in site.rglob("*.html")
        for url in re.findall(
            r'<(?:script|link)[^>]*(?:src|href)="((?:https?:)?//[^"]*)"', page.read_text(), re.I
        )
        if not url.startswith(("https://github.com",)) and re.search(r"\.(js|css)(\?|$)", url)
    }
    assert remote == set()
