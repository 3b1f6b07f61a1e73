"""pytest setup shared by the tests and the doctests."""

import importlib.util
import os

import pytest

# skae.onnx needs the optional onnx extra: without it, its doctests are not collected
# (tests/test_onnx.py skips itself)
if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "skl2onnx")):
    collect_ignore = ["skae/onnx.py"]

# a non-interactive backend before anything imports pyplot
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt = __import__("sys").modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
