"""The package's layering: torch modules, losses and PCA maths, the engine, the
base, the estimators, then persistence and export; no import runs back up."""

import ast
from pathlib import Path

import skae

PACKAGE = Path(skae.__file__).parent

# each module may import only modules of earlier layers
LAYERS = [
    {"_version", "_validation", "_docstrings", "_chunks", "_random", "datasets"},
    {"_modules", "_distributed", "_show_versions", "_sampling", "_threads", "_changes"},
    {"_missing"},
    {"_batches", "_callbacks"},  # the engine's data and callbacks
    {"_losses", "_pca", "_net", "metrics"},
    {"plotting"},  # draws what metrics measures, through the same last step
    {"_dask"},
    {"_base", "_outlier", "_categorical"},  # _categorical: a mixin of the base
    {"_autoencoder", "_linear", "_vae"},
    {"_impute"},  # an AutoencoderTransformer with its own state
    {"_persistence", "onnx"},
    {"__init__"},
]
ESTIMATOR_MODULES = {"_autoencoder", "_linear", "_vae", "_impute"}


def _internal_imports(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_module_has_a_layer_and_imports_only_below_it():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    layer_of = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    assert modules == set(layer_of), "give a new module its layer here"
    upward = {
        (name, imported)
        for name in modules
        for imported in _internal_imports(name)
        if layer_of[imported] >= layer_of[name]
    }
    assert upward == set()


def test_persistence_knows_the_format_not_the_estimators():
    assert not _internal_imports("_persistence") & ESTIMATOR_MODULES


def test_the_base_reads_as_build_train_infer_in_one_screenful_of_jobs():
    source = (PACKAGE / "_base.py").read_text()
    # one job: what a process group changes lives in _distributed's helpers
    assert "_group_size" not in source
    assert len(source.splitlines()) <= 650


def test_no_module_imports_scikit_learn_s_private_names():
    private = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                private |= {
                    (path.name, node.module, alias.name)
                    for alias in node.names
                    if alias.name.startswith("_") or "._" in node.module
                }
    assert private == set()
