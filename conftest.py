"""pytest setup shared by the tests and the doctests."""

import os

import pytest

# a non-interactive backend before anything imports pyplot
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt = __import__("sys").modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
