"""Data shared by the test modules: small, bundled with scikit-learn, loaded once."""

import gzip
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def wine():
    """Standardized wine measurements, shape (178, 13)."""
    return StandardScaler().fit_transform(load_wine().data)


@pytest.fixture(scope="session")
def wine_labels():
    return load_wine().target


@pytest.fixture(scope="session")
def digits01():
    """The 8x8 digits scaled to [0, 1], shape (1797, 64)."""
    return load_digits().data / 16


@pytest.fixture(scope="session")
def digits_labels():
    return load_digits().target


@pytest.fixture(scope="session")
def write_idx():
    """A function writing an array of bytes as an IDX file (gzipped for ``.gz``)."""

    def write(path, array):
        header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
        header += struct.pack(f">{array.ndim}I", *array.shape)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    return write


@pytest.fixture
def held_out(monkeypatch):
    """The validation rows of each early-stopping split drawn during the test, in
    order (``next_split`` draws the split a fit then makes, so twice a fit)."""
    from skae._batches import _RandomSplit

    drawn, split = [], _RandomSplit._split

    def recorded(*args):
        train, valid = split(*args)
        drawn.append(valid)
        return train, valid

    monkeypatch.setattr(_RandomSplit, "_split", recorded)
    return drawn
