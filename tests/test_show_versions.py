"""skae.show_versions prints what a bug report needs, without importing the optional
packages it names."""

import subprocess
import sys
from importlib import metadata

import torch

import skae
from skae._show_versions import _OPTIONAL, _versions

_PRINT_AND_LIST_IMPORTS = """
import sys
import skae
before = set(sys.modules)
skae.show_versions()
optional = {"matplotlib", "pandas", "polars", "dask", "distributed", "dask_ml", "onnx",
            "onnxruntime", "skl2onnx"}
print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in optional))
"""


def test_every_section_names_its_releases(capsys):
    skae.show_versions()
    printed = capsys.readouterr().out
    assert printed.startswith(f"skae: {skae.__version__} (")
    for section in ("System", "PyTorch", "Dependencies", "Optional packages"):
        assert f"\n{section}:\n" in printed
    assert f"    torch: {torch.__version__}\n" in printed
    assert f"    scikit-learn: {metadata.version('scikit-learn')}\n" in printed
    assert f"    python: {sys.version.split()[0]}" in printed


def test_the_torch_build_says_cpu_or_cuda():
    torch_build = _versions()["PyTorch"]
    if torch.version.cuda:
        assert torch_build["build"] == f"CUDA {torch.version.cuda}"
    else:
        assert torch_build["build"] == "CPU only" and "gpus" not in torch_build
    assert torch_build["threads"].startswith(f"{torch.get_num_threads()} intra-op")


def test_optional_packages_are_read_from_their_metadata_not_imported():
    optional = _versions()["Optional packages"]
    assert list(optional) == _OPTIONAL
    for name, release in optional.items():
        try:
            assert release == metadata.version(name)
        except metadata.PackageNotFoundError:
            assert release == "not installed"
    # in a fresh process, since this one may have imported them already
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_AND_LIST_IMPORTS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    imported = done.stdout.splitlines()[-1]
    assert imported == "[]", imported
