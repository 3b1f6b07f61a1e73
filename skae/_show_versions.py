"""What a bug report needs to say about the machine: skae's and its packages'
releases, and how PyTorch was built and runs here, as ``sklearn.show_versions``."""

import os
import platform
import sys
from importlib import metadata

import torch

from ._version import __version__

# distributions whose releases change what skae computes
_DEPENDENCIES = ["skorch", "scikit-learn", "numpy", "scipy", "safetensors"]
# distributions behind skae's optional features (extras plot, dask, onnx, and the
# pandas and polars outputs); read from their metadata, never imported
_OPTIONAL = [
    "matplotlib",
    "pandas",
    "polars",
    "dask",
    "distributed",
    "dask-ml",
    "onnx",
    "onnxruntime",
    "skl2onnx",
]


def _release(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _torch_build():
    """How this PyTorch was built, what it runs on and with how many threads."""
    cuda = torch.version.cuda
    info = {
        "torch": str(torch.__version__),
        "build": f"CUDA {cuda}" if cuda else "CPU only",
        "threads": f"{torch.get_num_threads()} intra-op, "
        f"{torch.get_num_interop_threads()} inter-op ({os.cpu_count()} CPUs)",
        "cpu": torch.backends.cpu.get_cpu_capability(),
    }
    # precision="bfloat16" on the CPU is fast only with these instructions;
    # torch.cpu has no public name for them
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx": "_is_amx_tile_supported"}
    found = [
        name
        for name, probe in probes.items()
        if getattr(torch.cpu, probe, None) is not None and getattr(torch.cpu, probe)()
    ]
    info["cpu bfloat16"] = ", ".join(found) or "none"
    if cuda and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["gpus"] = "; ".join(names)
        info["gpu bfloat16"] = "yes" if torch.cuda.is_bf16_supported() else "no"
    elif cuda:
        info["gpus"] = "none available"
    return info


def _versions():
    """``{section: {name: value}}``: what :func:`show_versions` prints."""
    return {
        "skae": {"skae": f"{__version__} ({os.path.dirname(__file__)})"},
        "System": {
            "python": sys.version.replace("\n", " "),
            "executable": sys.executable,
            "machine": platform.platform(),
        },
        "PyTorch": _torch_build(),
        "Dependencies": {name: _release(name) for name in _DEPENDENCIES},
        "Optional packages": {name: _release(name) or "not installed" for name in _OPTIONAL},
    }


def show_versions():
    """Print the releases and the machine that a bug report needs.

    The releases of skae, Python and skae's dependencies; how PyTorch was built
    (CPU only, or the CUDA version), its threads, the CPU's instruction set and
    whether it has bfloat16 instructions (``precision="bfloat16"`` is slow
    without them), and the GPUs PyTorch sees; then the releases of the optional
    packages, read from their installed metadata without importing them. Paste
    its output into a bug report, as scikit-learn asks of
    :func:`sklearn.show_versions`.

    See Also
    --------
    sklearn.show_versions : scikit-learn's counterpart.
    load : Warns when a file was written with other releases than these.

    Examples
    --------
    >>> import skae
    >>> skae.show_versions()  # doctest: +ELLIPSIS
    skae: ...
    <BLANKLINE>
    System:
        python: 3...
    <BLANKLINE>
    PyTorch:
        torch: ...
    <BLANKLINE>
    Dependencies:
        skorch: ...
    <BLANKLINE>
    Optional packages:
        matplotlib: ...
    """
    sections = _versions()
    print(f"skae: {sections.pop('skae')['skae']}")
    for section, entries in sections.items():
        print(f"\n{section}:")
        for name, value in entries.items():
            print(f"    {name}: {value}")
