"""Loaders for the data sets of the classic autoencoder workflows."""

import gzip
import re
import struct
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np

MNIST_RECIPE = MappingProxyType(
    {
        "n_components": 36,
        "hidden_layer_sizes": (),
        "code_activation": "relu",
        "output_activation": "sigmoid",
        "loss": "bce",
        "alpha": 0.0,
        "batch_size": 256,
        "learning_rate_init": 1e-3,
        "max_iter": 20,
        "n_iter_no_change": None,
    }
)
"""The classic MNIST autoencoder, as parameters of
:class:`~skae.AutoencoderTransformer`: 784 -> 36 -> 784 with a ReLU code, a sigmoid
output and binary cross-entropy, Adam (learning rate 1e-3, no weight decay) on
batches of 256, for a fixed budget of 20 epochs. A read-only mapping; override
entries with ``AutoencoderTransformer(**{**MNIST_RECIPE, "max_iter": 5})``.

Examples
--------
>>> from skae import AutoencoderTransformer
>>> from skae.datasets import MNIST_RECIPE
>>> AutoencoderTransformer(**MNIST_RECIPE).n_components
36
"""

DEEP_MNIST_RECIPE = MappingProxyType(
    {
        "n_components": 30,
        "hidden_layer_sizes": (1000, 500, 250),
        "activation": "tanh",
        "code_activation": "identity",
        "output_activation": "sigmoid",
        "loss": "bce",
        "tied_weights": True,
        "pretrain_iter": 30,
        "optimizer": "adamw",
        "alpha": 0.15,
        "batch_size": 256,
        "learning_rate_init": 2e-3,
        "learning_rate": "cosine",
        "max_iter": 200,
        "n_iter_no_change": None,
    }
)
"""The deep MNIST autoencoder of Hinton and Salakhutdinov (2006) as parameters of
:class:`~skae.AutoencoderTransformer`: 784 -> 1000 -> 500 -> 250 -> 30 and back, tanh
hidden units, a linear 30-d code, a sigmoid output and binary cross-entropy, the
decoder's weights tied to the encoder's (as in the paper's unrolled RBMs). Each layer is
first pretrained for 30 epochs as a single-layer autoencoder (``pretrain_iter``, where
the paper used RBMs), then the network trains for 200 epochs; both with AdamW (decoupled
weight decay 0.15; learning rate 2e-3 annealed to 0 along a cosine over each fit's
epochs) on batches of 256. The paper's network (logistic units, RBM pretraining, then
fine-tuning) reached a squared error of 3.00 per test image; :doc:`/performance` (table
16) gives what this recipe reaches, and after how long. ``precision="bfloat16"`` trains
it faster on CPUs with AMX-BF16.

Examples
--------
>>> from skae import AutoencoderTransformer
>>> from skae.datasets import DEEP_MNIST_RECIPE
>>> AutoencoderTransformer(**DEEP_MNIST_RECIPE).hidden_layer_sizes
(1000, 500, 250)
"""

# each MNIST file's name and what it holds: unsigned bytes (IDX type 0x08), rows of
# this shape, and at most as many rows as the standard split's
_MNIST_FILES = {
    "train_images": ("train-images", (28, 28), 60000),
    "train_labels": ("train-labels", (), 60000),
    "test_images": ("t10k-images", (28, 28), 10000),
    "test_labels": ("t10k-labels", (), 10000),
}


def _read_exactly(f, n, path, what):
    """``n`` bytes from ``f``, or a ValueError saying ``path`` is truncated."""
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{path} is truncated: {len(data)} bytes of {what}, expected {n}.")
    return data


def _fill(f, buffer, chunk=1 << 20):
    """Read from ``f`` into ``buffer`` until it is full or ``f`` ends; bytes read.

    In chunks, because ``GzipFile.readinto`` reads into a temporary ``bytes`` of the
    requested size first, which would double the memory of a whole-buffer read.
    """
    n_read = 0
    while n_read < len(buffer):
        n = f.readinto(buffer[n_read : n_read + chunk])
        if not n:
            break
        n_read += n
    return n_read


def _read_idx(path, row_shape, most_rows):
    """One MNIST IDX file (gzipped or not) as a uint8 array of shape ``(n,
    *row_shape)``, ``n`` from 1 to ``most_rows``.

    The header is checked against that first, and then exactly the payload it
    promises is read, plus one byte to detect padding: a gzip stream that inflates
    far past its header (a "gzip bomb") costs no more memory than MNIST's own file.
    A file that is no IDX file of that shape, or no readable gzip stream, is a
    ValueError naming it.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or not 1 <= magic[3] <= 3:
                raise ValueError(f"{path} is not an IDX file (bad magic number {magic!r}).")
            ndim = magic[3]
            dims = _read_exactly(f, 4 * ndim, path, f"header for {ndim} dimensions")
            shape = struct.unpack(f">{ndim}I", dims)
            if magic[2] != 0x08 or shape[1:] != row_shape or not 1 <= shape[0] <= most_rows:
                wanted = ", ".join(["n", *map(str, row_shape)])
                raise ValueError(
                    f"{path} holds type {magic[2]:#04x} in shape {shape}; this MNIST file "
                    f"holds unsigned bytes (type 0x08) in shape ({wanted}), n from 1 to "
                    f"{most_rows}."
                )
            offset, array = 4 + 4 * ndim, np.empty(shape, np.uint8)
            n_read = _fill(f, memoryview(array).cast("B"))
            padded = n_read == array.size and f.read(1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(f"{path} is no readable gzip stream: {error}") from None
    if n_read != array.size or padded:
        found = f"more than {offset + array.size}" if padded else f"{offset + n_read}"
        raise ValueError(
            f"{path} is truncated or padded: {found} bytes for shape {shape}, "
            f"expected {offset + array.size}."
        )
    return array


def _find_idx(data_dir, stem):
    """The file in ``data_dir`` named like ``train-images-idx3-ubyte[.gz]``.

    Both the original dash-separated names and the common dotted variant
    (``train-images.idx3-ubyte.gz``) are accepted.
    """
    pattern = re.compile(re.escape(stem) + r"[-.]idx\d-ubyte(\.gz)?$")
    matches = sorted(p for p in Path(data_dir).iterdir() if pattern.match(p.name))
    if len(matches) > 1:
        # which one was meant is not for a sort to decide
        raise ValueError(
            f"{data_dir} holds {len(matches)} {stem} files: {[p.name for p in matches]}."
        )
    if matches and not matches[0].is_file():
        # a folder, a device or a pipe (which would block the read forever)
        raise ValueError(f"{matches[0]} is not a regular file.")
    if not matches:
        raise FileNotFoundError(
            f"No {stem}-idx?-ubyte[.gz] file in {data_dir}. load_mnist needs the four "
            "original MNIST files: train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            "t10k-labels-idx1-ubyte.gz."
        )
    return matches[0]


def _fetch_openml_mnist(data_home):
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml(
            "mnist_784", version=1, return_X_y=True, as_frame=False, data_home=data_home
        )
    except OSError as exc:  # URLError and socket errors are OSErrors
        raise OSError(
            "MNIST is not in scikit-learn's OpenML cache and could not be downloaded "
            f"({exc}). Download the four original IDX files (train-images-idx3-ubyte.gz "
            "and the three others) and pass their folder as load_mnist(data_dir=...), "
            "or --data-dir to the examples and benchmarks."
        ) from exc
    images = X.reshape(-1, 28, 28).astype(np.uint8)
    labels = y.astype(np.uint8)
    # OpenML keeps the original order: the first 60000 rows are the training set
    return images[:60000], labels[:60000], images[60000:], labels[60000:]


def load_mnist(data_dir=None, *, as_uint8=False, flatten=True, data_home=None):
    """Load MNIST's standard split: 60000 training and 10000 test digits.

    With ``data_dir``, reads the four original IDX files (gzipped or not) from that
    folder, offline. Without it, uses scikit-learn's ``fetch_openml("mnist_784")``,
    which reads its local cache or downloads once; offline with nothing cached, an
    ``OSError`` says how to provide the files.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        Folder holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (the dotted
        names ``train-images.idx3-ubyte.gz`` also work, as do uncompressed files).
    as_uint8 : bool, default=False
        If True, return the raw pixels as uint8 in [0, 255]; else float32 in [0, 1].
    flatten : bool, default=True
        If True, images have shape (n, 784); else (n, 28, 28).
    data_home : str or path-like, default=None
        scikit-learn's data cache, used only without ``data_dir``.

    Returns
    -------
    X_train : ndarray of shape (60000, 784) or (60000, 28, 28)
        Training images.
    X_test : ndarray of shape (10000, 784) or (10000, 28, 28)
        Test images.
    y_train : ndarray of shape (60000,)
        Training labels, uint8 digits 0-9.
    y_test : ndarray of shape (10000,)
        Test labels.

    Raises
    ------
    ValueError
        If a file in ``data_dir`` is not an IDX file of MNIST's kind (unsigned bytes;
        images of 28 x 28, labels 0-9; at most 60000 training and 10000 test rows,
        as many labels as images), holds more or fewer bytes than its header
        promises, or is no readable gzip stream; the message names the file. Each
        file is read only as far as its header promises, plus one byte, so a
        corrupt or malicious gzip stream costs no more memory than MNIST itself.

    Examples
    --------
    >>> from skae.datasets import load_mnist
    >>> X_train, X_test, y_train, y_test = load_mnist("data/mnist")  # doctest: +SKIP
    >>> X_train.shape, X_train.dtype  # doctest: +SKIP
    ((60000, 784), dtype('float32'))
    """
    if data_dir is None:
        train_images, train_labels, test_images, test_labels = _fetch_openml_mnist(data_home)
        sources = {"train": "OpenML's training rows", "test": "OpenML's test rows"}
    else:
        paths = {key: _find_idx(data_dir, stem) for key, (stem, _, _) in _MNIST_FILES.items()}
        arrays = {
            key: _read_idx(paths[key], row_shape, most_rows)
            for key, (_, row_shape, most_rows) in _MNIST_FILES.items()
        }
        train_images, train_labels = arrays["train_images"], arrays["train_labels"]
        test_images, test_labels = arrays["test_images"], arrays["test_labels"]
        sources = {
            part: f"{paths[f'{part}_images']} and {paths[f'{part}_labels']}"
            for part in ("train", "test")
        }
    for part, images, labels in (
        ("train", train_images, train_labels),
        ("test", test_images, test_labels),
    ):
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"MNIST images of shape {images.shape} do not match labels of shape "
                f"{labels.shape} ({sources[part]}); expected (n, 28, 28) images and n labels."
            )
        if labels.max() > 9:
            raise ValueError(
                f"MNIST labels are digits 0-9; found {int(labels.max())} ({sources[part]})."
            )

    def prepare(images):
        if flatten:
            images = images.reshape(len(images), -1)
        return images if as_uint8 else images.astype(np.float32) / np.float32(255)

    return prepare(train_images), prepare(test_images), train_labels, test_labels
