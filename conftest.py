"""pytest setup shared by the tests and the doctests."""

import importlib.util
import os

import pytest

# the suite's networks are tiny: one intra-op thread trains them as fast as two on
# a quiet machine, and torch's OpenMP threads spin at every barrier while another
# process holds a core (the suite took 7x its time on a busy machine). Processes
# that the tests start (the test workers, examples, benchmarks, torchrun workers)
# inherit it. Set before torch imports NumPy, whose OpenBLAS reads it once, then.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# the tests that do run on two threads (tests/test_threads.py) would spin at every
# barrier against the other test process: waiting OpenMP threads sleep instead
# (read once, when torch loads its OpenMP runtime)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

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
