"""The linear autoencoder on a Dask array, without bringing the array to the client.

A fit needs the rows only through their count, mean and scatter matrix. Each block
of rows yields its own where it lives (on a worker), and the blocks' moments are
merged pairwise in a tree (Chan et al.'s update, the one ``partial_fit`` uses), as
``dask_ml.decomposition.PCA`` reduces its blocks: the client receives one
``n_features`` squared matrix. Inference maps the fitted estimator over the blocks
and returns Dask arrays, lazily. Dask is imported only when a Dask array is given.
"""

import numpy as np

from ._pca import _Moments


def _is_dask_array(X):
    """Whether ``X`` is a Dask array (without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")


def _packed_block_moments(block):
    """The moments of one block of rows, checked to be finite, as one row ``[n,
    mean, scatter]``: a block function, so that Dask fuses it with the tasks that
    make the block, and a block is reduced where it is made instead of being held
    until a merge."""
    block = np.asarray(block)
    if not np.isfinite(block).all():
        raise ValueError("Input X contains NaN or infinity (in a block of the Dask array).")
    moments = _Moments.of(block.astype(np.float64, copy=False), keep_scatter=True)
    return np.concatenate([[moments.n], moments.mean, moments.scatter.ravel()])[None, :]


def _unpacked(row, n_features):
    """The ``_Moments`` of a row of ``_packed_block_moments``."""
    row = np.asarray(row).ravel()
    scatter = row[1 + n_features :].reshape(n_features, -1)
    return _Moments(int(row[0]), row[1 : 1 + n_features], scatter=scatter)


def _merged(first, second):
    """The moments of two sets of rows, merged."""
    return second.merged_after(first)


def _check_dask_array(X):
    """``X`` as a float Dask array with one block across the columns, checked for
    shape and dtype without computing it."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D Dask array, got {X.ndim} dimension(s).")
    if any(np.isnan(size) for size in X.shape):
        raise ValueError(
            "The Dask array's number of rows is unknown; call X.compute_chunk_sizes() first."
        )
    if X.dtype.kind not in "fiub":
        raise ValueError(f"Dask array of dtype {X.dtype} is not numeric.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _dask_moments(X):
    """The moments of every row of the Dask array ``X``: each block's computed
    where it lives, merged in a binary tree; only the result reaches the client."""
    import dask

    d = X.shape[1]
    packed = X.map_blocks(
        _packed_block_moments,
        chunks=((1,) * X.numblocks[0], (1 + d + d * d,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )
    level = [dask.delayed(_unpacked)(row, d) for row in packed.to_delayed().ravel()]
    while len(level) > 1:
        pairs = [dask.delayed(_merged)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return dask.compute(level[0])[0]


def _map_rows(method, X, width):
    """``method`` (a fitted estimator's ``transform``, ``inverse_transform`` or
    ``score_samples``) over the blocks of rows of the Dask array ``X``, lazily: a
    Dask array of ``width`` columns (None: one value per row)."""
    X = _check_dask_array(X)
    dtype = X.dtype
    if width is None:
        return X.map_blocks(method, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype))
    return X.map_blocks(
        method, chunks=(X.chunks[0], (width,)), dtype=dtype, meta=np.empty((0, width), dtype)
    )
