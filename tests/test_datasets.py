"""load_mnist on small IDX files the tests write themselves."""

import urllib.error

import numpy as np
import pytest
import sklearn.datasets

from skae.datasets import load_mnist


@pytest.fixture
def tiny_mnist(tmp_path, write_idx):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images": rng.integers(0, 256, size=(6, 28, 28)),
        "train-labels": rng.integers(0, 10, size=6),
        "t10k-images": rng.integers(0, 256, size=(4, 28, 28)),
        "t10k-labels": rng.integers(0, 10, size=4),
    }
    # the original dashed names, gzipped and plain, and the dotted variant
    names = {
        "train-images": "train-images-idx3-ubyte.gz",
        "train-labels": "train-labels-idx1-ubyte",
        "t10k-images": "t10k-images.idx3-ubyte.gz",
        "t10k-labels": "t10k-labels.idx1-ubyte.gz",
    }
    for key, name in names.items():
        write_idx(tmp_path / name, arrays[key])
    return tmp_path, arrays


def test_reads_the_four_files_as_floats_in_unit_range(tiny_mnist):
    folder, arrays = tiny_mnist
    X_train, X_test, y_train, y_test = load_mnist(folder)
    assert X_train.shape == (6, 784) and X_test.shape == (4, 784)
    assert X_train.dtype == np.float32
    np.testing.assert_allclose(X_train * 255, arrays["train-images"].reshape(6, -1), atol=1e-4)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels"])
    assert y_train.dtype == np.uint8


def test_uint8_and_image_shapes_on_request(tiny_mnist):
    folder, arrays = tiny_mnist
    X_train, X_test, _, _ = load_mnist(folder, as_uint8=True, flatten=False)
    assert X_train.dtype == np.uint8 and X_test.shape == (4, 28, 28)
    np.testing.assert_array_equal(X_train, arrays["train-images"])


def test_missing_file_names_what_is_needed(tiny_mnist):
    folder, _ = tiny_mnist
    (folder / "t10k-labels.idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_mnist(folder)


def test_corrupt_files_are_rejected(tiny_mnist):
    folder, _ = tiny_mnist
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(folder)
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist(folder)


def test_offline_without_data_dir_says_how_to_provide_files(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(OSError, match=r"pass their folder as load_mnist\(data_dir=...\)"):
        load_mnist()


def test_openml_copy_is_split_60000_10000(monkeypatch):
    X = np.zeros((70000, 784), dtype=np.uint8)
    X[60000:, 0] = 255
    y = np.array([str(i % 10) for i in range(70000)], dtype=object)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: (X, y))
    X_train, X_test, y_train, _ = load_mnist()
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train[:, 0].max() == 0 and X_test[:, 0].min() == 1
    assert y_train[:3].tolist() == [0, 1, 2]
