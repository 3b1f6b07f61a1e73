"""Sphinx configuration of skae's documentation site.

Build it with ``sphinx-build -W -n -b html docs docs/_build/html`` (the README's
docs command). Two environment variables change what the gallery does:

``SKAE_DOCS_QUICK=1``
    run every example on tiny settings (a few epochs), as the test suite does;
``SKAE_MNIST_DIR=path``
    the folder of the MNIST IDX files: the MNIST examples run on them. Without
    it their pages show the code and say that their output needs the data.
"""

import gc
import os
import re
import sys
from pathlib import Path

import skae

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # for _gallery_argv below
from _gallery_argv import needs_mnist  # noqa: E402

project = "skae"
author = "the skae developers"
copyright = "2026, the skae developers"
release = skae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the built site, no CDN
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the benchmark results stay one Markdown file
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
# pages of execution times that an earlier build left in the source folder (see
# write_computation_times below)
exclude_patterns += ["sg_execution_times.rst", "auto_examples/sg_execution_times.rst"]
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_center": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": []}
html_show_sourcelink = False

# API pages: one per public name, from its numpydoc docstring. Estimators list
# their inherited methods (fit, transform, ... live in a private base class);
# network modules only their own (not torch.nn.Module's hundred).
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# Every cross-reference must resolve (sphinx-build -n). The machines that build
# these pages have no internet, so other projects' inventories (intersphinx)
# cannot be fetched: references to their names are left as plain text. This is
# the whole list of what is not checked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|torch|numpy|scipy|pandas|skorch|dask|dask_ml|safetensors)\..*"),
    (r"py:.*", r"(pickle|copy|joblib)(\..*)?"),  # the standard library and joblib
]

# The gallery: every script of examples/ runs at build time (on tiny settings when
# SKAE_DOCS_QUICK=1, see _gallery_argv.py); the MNIST ones only when SKAE_MNIST_DIR
# names the folder of their data, otherwise their pages show the code alone.
examples = sorted(p.name for p in (DOCS.parent / "examples").glob("*.py"))
if not os.environ.get("SKAE_MNIST_DIR"):
    examples = [name for name in examples if not needs_mnist(name)]

sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/(" + "|".join(re.escape(name) for name in examples) + ")$",
    "reset_argv": "_gallery_argv.reset_argv",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "show_signature": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skae",),
    "backreferences_dir": "generated/backreferences",
    # sphinx-gallery's pages of execution times load jQuery, DataTables and
    # Bootstrap from CDNs, and the site must work offline; each example's page
    # still shows its own running time
    "write_computation_times": False,
}


def _unlink_scikit_learn_labels(app, what, name, obj, options, lines):
    # methods inherited from scikit-learn (set_output, get_metadata_routing) link to
    # labels of scikit-learn's own site; keep their text, drop the link
    if getattr(obj, "__module__", "").startswith("sklearn."):
        for i, line in enumerate(lines):
            line = re.sub(r":ref:`([^`<]*?)\s*<[^`>]*>`", r"\1", line)
            lines[i] = re.sub(r":ref:`([^`]*)`", r"\1", line)


def setup(app):
    # sphinx-gallery collects garbage before every example, a quarter of a second
    # each over the objects of torch, scikit-learn and Sphinx: frozen now, once they
    # are loaded, they are left out of those collections (what the examples create is not)
    gc.freeze()
    # the files the examples write (--out) go beside the doctrees, out of the site
    os.environ["SKAE_DOCS_FIGURES"] = os.path.join(app.doctreedir, "example_figures")
    app.connect("autodoc-process-docstring", _unlink_scikit_learn_labels)
