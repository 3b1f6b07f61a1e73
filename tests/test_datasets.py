"""load_mnist on small IDX files the tests write themselves."""

import gzip
import re
import struct
import tracemalloc
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


def _gzip_bomb(path, header, n_zero_bytes):
    """Write ``header`` followed by ``n_zero_bytes`` zeros, gzipped in small chunks."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for _ in range(n_zero_bytes // len(chunk)):
            f.write(chunk)


def test_gzip_bomb_is_refused_after_reading_what_the_header_promises(tiny_mnist):
    folder, _ = tiny_mnist
    path = folder / "train-images-idx3-ubyte.gz"
    # the header promises 100 images (78 kB); the stream inflates to 32 MB
    _gzip_bomb(path, struct.pack(">BBBB3I", 0, 0, 0x08, 3, 100, 28, 28), 32 << 20)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is truncated or padded"):
            load_mnist(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize(
    "shape",
    [(2**32 - 1,) * 3, (60001, 28, 28), (0, 28, 28), (6, 28, 28, 28)],
    ids=["overflow", "more-rows-than-mnist", "no-rows", "four-dimensions"],
)
def test_header_promising_other_than_mnist_is_refused_before_reading(tiny_mnist, shape):
    folder, _ = tiny_mnist
    path = folder / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(f">BBBB{len(shape)}I", 0, 0, 0x08, len(shape), *shape))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz (holds type|is not an IDX)"):
        load_mnist(folder)


@pytest.mark.parametrize(
    "name, array, code",
    [
        ("train-labels-idx1-ubyte", np.array([0.5, np.nan, -3, 1, 2, 3]), 0x0E),
        ("train-labels-idx1-ubyte", np.zeros((6, 28, 28)), 0x08),
        ("t10k-images.idx3-ubyte.gz", np.full((4, 28, 28), 70000), 0x0C),
        ("t10k-images.idx3-ubyte.gz", np.zeros((4, 28, 27)), 0x08),
    ],
    ids=["float-labels", "image-labels", "int32-pixels", "27-columns"],
)
def test_a_file_of_other_values_or_shapes_than_mnist_is_refused(tiny_mnist, name, array, code):
    # any IDX type and shape loaded: float labels, int32 pixels scaled to 274
    folder, _ = tiny_mnist
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0E: ">f8"}[code]
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    data = header + array.astype(dtype).tobytes()
    (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(ValueError, match=rf"{re.escape(name)} holds type"):
        load_mnist(folder)


def test_labels_beyond_nine_and_broken_gzip_streams_are_refused_by_name(tiny_mnist, write_idx):
    folder, arrays = tiny_mnist
    write_idx(folder / "train-labels-idx1-ubyte", np.full(6, 200))
    # the file was not named
    with pytest.raises(ValueError, match=r"found 200 .*train-labels-idx1-ubyte"):
        load_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(5))
    with pytest.raises(ValueError, match=r"labels of shape \(5,\) .*train-labels-idx1-ubyte"):
        load_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte", arrays["train-labels"])
    path = folder / "train-images-idx3-ubyte.gz"
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], whole + b"junk", whole[:-8] + b"\xff" * 8):
        path.write_bytes(broken)
        with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is no readable gzip"):
            load_mnist(folder)


def test_truncated_header_is_reported_as_truncated(tiny_mnist):
    folder, _ = tiny_mnist
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x06")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte is truncated"):
        load_mnist(folder)


def test_padded_file_is_rejected(tiny_mnist, write_idx):
    folder, arrays = tiny_mnist
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="truncated or padded"):
        load_mnist(folder)
    write_idx(path, arrays["train-labels"])
    assert load_mnist(folder)[2].flags.writeable


def test_two_files_of_one_name_or_one_that_is_no_file_are_refused(tiny_mnist):
    # the sorted first of a plain and a gzipped copy was read without a word, and
    # a pipe of the file's name blocked the read forever
    import os

    folder, _ = tiny_mnist
    plain = folder / "train-images-idx3-ubyte"
    plain.write_bytes(gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes()))
    with pytest.raises(ValueError, match="holds 2 train-images files"):
        load_mnist(folder)
    plain.unlink()
    (folder / "train-labels-idx1-ubyte").unlink()
    os.mkfifo(folder / "train-labels-idx1-ubyte")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte is not a regular file"):
        load_mnist(folder)
