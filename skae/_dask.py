"""The linear autoencoder on a Dask array, without bringing the array to the client.

A fit needs the rows only through their count, mean and scatter matrix (with
missing values, through those of the rows completed under a model, one pass per
EM iteration: see ``_pca._em_moments``). Each block
of rows yields its own where it lives (on a worker), and the blocks' moments are
merged pairwise in a tree (Chan et al.'s update, the one ``partial_fit`` uses), as
``dask_ml.decomposition.PCA`` reduces its blocks: the client receives one
``n_features`` squared matrix. Inference maps the fitted estimator over the blocks
and returns Dask arrays, lazily. A Dask DataFrame is taken as the Dask array of its
values, its column names as a pandas DataFrame's. A block may hold no rows (as
masking a Dask array leaves them). Dask is imported only when a Dask array is given.
"""

import copy
from functools import partial

import numpy as np
from sklearn.utils.validation import validate_data

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
    d = block.shape[1]
    if block.shape[0] == 0:  # no rows: no count, and no mean to compute
        return np.zeros((1, 1 + d + d * d))
    if np.isinf(block).any():
        raise ValueError("Input X contains infinity (in a block of the Dask array).")
    holes = np.isnan(block)
    if holes.any():
        if holes.all(axis=1).any():  # as a NumPy array's rows are checked
            raise ValueError(
                "a row of the Dask array has no observed value (every entry is NaN): "
                "there is nothing to learn from. Drop such rows, or fill them first."
            )
        # missing values: the count alone, and a NaN mean that the merges carry
        # to the client, which then fits by EM (_fit_validated)
        return np.concatenate([[block.shape[0]], np.full(d + d * d, np.nan)])[None, :]
    moments = _Moments.of(block.astype(np.float64, copy=False), keep_scatter=True)
    return np.concatenate([[moments.n], moments.mean, moments.scatter.ravel()])[None, :]


def _unpacked(row, n_features):
    """The ``_Moments`` of a row of ``_packed_block_moments``."""
    row = np.asarray(row).ravel()
    scatter = row[1 + n_features :].reshape(n_features, -1)
    return _Moments(int(row[0]), row[1 : 1 + n_features], scatter=scatter)


def _merged(first, second):
    """The moments of two sets of rows, merged; a set of no rows (an empty block)
    adds nothing, and two of them would divide 0 by 0."""
    if first.n == 0:
        return second
    if second.n == 0:
        return first
    return second.merged_after(first)


def _reduce_blocks(X, function, merge):
    """``function`` (a block function of ``_em_moments``, which returns one row)
    on every block of rows of the Dask array ``X`` where it lives, the rows
    merged by ``merge`` in a binary tree, as ``_dask_moments`` merges moments:
    the ``reduce`` of ``_em_moments`` for a Dask array, one pass over it."""
    import dask

    d = X.shape[1]
    width = function(np.empty((0, d))).shape[1]  # a block of no rows has its shape
    rows = X.map_blocks(
        function,
        chunks=((1,) * X.numblocks[0], (width,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )
    level = list(rows.to_delayed().ravel())
    while len(level) > 1:
        pairs = [
            dask.delayed(merge)(level[i], level[i + 1], d) for i in range(0, len(level) - 1, 2)
        ]
        level = pairs + level[len(level) - len(level) % 2 :]
    return np.asarray(dask.compute(level[0])[0])


def _validate_dask(estimator, X, *, reset):
    """``X``, a Dask array or DataFrame, as ``_check_dask_array`` returns it, with
    its number of columns and column names set on ``estimator`` (``reset``) or
    checked against those it was fitted with, as ``validate_data`` does.

    A Dask DataFrame becomes the Dask array of its values (its partitions'
    lengths unknown, as a masked array's blocks: nothing here needs them); its
    column names are given to scikit-learn's check as an empty pandas
    DataFrame's, so that they become
    ``feature_names_in_`` as a pandas DataFrame's columns do (scikit-learn itself
    reads no names from a Dask DataFrame).
    """
    names = X
    if hasattr(X, "to_dask_array"):  # a Dask DataFrame or Series
        if X.ndim != 2:  # as scikit-learn words it for a pandas Series
            raise ValueError(
                f"Expected a 2-dimensional container but got {type(X)} instead. Pass a "
                "DataFrame containing a single column (i.e. single feature) instead."
            )
        if hasattr(X, "columns"):
            import pandas as pd

            names = pd.DataFrame(columns=X.columns)
            # numeric columns of several kinds (bool beside floats) or pandas'
            # nullable numbers (Int64, Float32, boolean, whose pd.NA is missing)
            # would make an object array: floats first, as scikit-learn converts
            # a pandas DataFrame's: of the type NumPy gives their values together,
            # and float64 where a column is nullable (Float32 too). Other columns
            # (complex, categorical, text) go on as they are, taken or refused
            # as before.
            kinds = [getattr(t, "numpy_dtype", t) for t in X.dtypes]
            nullable = any(not isinstance(t, np.dtype) for t in X.dtypes)
            if all(isinstance(k, np.dtype) and k.kind in "biuf" for k in kinds) and (
                len(set(kinds)) > 1 or nullable
            ):
                common = np.dtype(np.float64) if nullable else np.result_type(*kinds)
                X = X.astype(common if common.kind == "f" else np.float64)
        X = X.to_dask_array()
    X = _check_dask_array(X)
    validate_data(estimator, X if names is X else names, reset=reset, skip_check_array=True)
    return X


def _check_dask_array(X):
    """``X`` as a float Dask array with one block across the columns, checked for
    shape and dtype without computing it. Its blocks' numbers of rows may be
    unknown (after boolean masking): a fit counts the rows in their moments, and
    inference maps the blocks as they come."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D Dask array, got {X.ndim} dimension(s).")
    if np.isnan(X.shape[1]):
        raise ValueError(
            "The Dask array's number of columns is unknown; call X.compute_chunk_sizes() first."
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


def _on_block(block, method, width, names):
    """``method`` on one block of rows, as a pandas DataFrame with the fitted
    ``names`` where there are some (they were checked once, on the client, and a
    bare array would warn again in every block); an empty result for a block of
    no rows, which scikit-learn's validation refuses."""
    if block.shape[0] == 0:
        return np.empty((0,) if width is None else (0, width), dtype=block.dtype)
    if names is not None:
        import pandas as pd

        block = pd.DataFrame(block, columns=names, copy=False)
    return method(block)


def _map_rows(method, X, width, *, samples=True):
    """``method`` (a fitted estimator's ``transform``, ``inverse_transform`` or
    ``score_samples``) over the blocks of rows of the Dask array or DataFrame
    ``X``, lazily: a Dask array of ``width`` columns (None: one value per row).
    ``X`` holds samples (``samples=True``), checked against the estimator's
    ``n_features_in_`` and ``feature_names_in_`` at once, or codes."""
    # the fitted model of this call: a refit or a partial_fit of the estimator
    # before the result is computed does not change it (the graph held the
    # estimator itself, and computed with whatever it had become)
    estimator = copy.deepcopy(method.__self__)
    method = getattr(estimator, method.__name__)
    if samples:
        X = _validate_dask(estimator, X, reset=False)
        names = getattr(estimator, "feature_names_in_", None)
    else:
        X = _check_dask_array(X.to_dask_array() if hasattr(X, "to_dask_array") else X)
        names = None
    function = partial(_on_block, method=method, width=width, names=names)
    dtype = X.dtype
    if width is None:
        return X.map_blocks(function, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype))
    return X.map_blocks(
        function, chunks=(X.chunks[0], (width,)), dtype=dtype, meta=np.empty((0, width), dtype)
    )
