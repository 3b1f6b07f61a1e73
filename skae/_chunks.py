"""Rows a chunk at a time: inference, scores and statistics go through their input
in pieces, so temporary memory is bounded independently of ``n_samples``."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

# rows per chunk at most
_CHUNK_ROWS = 4096

# values per chunk at most (64 MiB of float64), so that a chunk of wide rows (a
# sparse matrix of 50,000 columns, densified a chunk at a time) stays small
_CHUNK_VALUES = 2**23


def _chunks(n_rows, width):
    """Slices covering ``range(n_rows)`` in pieces of at most ``_CHUNK_ROWS`` rows
    and ``_CHUNK_VALUES`` values of rows ``width`` wide (none for no rows: the
    stored values of a sparse matrix without any)."""
    if n_rows == 0:
        return iter(())
    return gen_batches(n_rows, max(1, min(_CHUNK_ROWS, _CHUNK_VALUES // max(width, 1))))


def _dense(chunk):
    """A chunk of rows as a dense array (sparse chunks are densified one at a time)."""
    return chunk.toarray() if sp.issparse(chunk) else chunk


def _by_rows(X):
    """``X`` in a form whose rows can be taken (``_rows_of``): CSR for a sparse
    matrix (COO and others cannot be sliced by rows), an array for a list of rows
    (as scikit-learn's scorers accept), a table or an array as it is."""
    if sp.issparse(X):
        return X.tocsr()
    return X if hasattr(X, "shape") else np.asarray(X)


def _rows_of(X, rows):
    """The rows ``rows`` (a slice or indices) of ``_by_rows``'s ``X``, in its type:
    a pandas frame by position, an Arrow table by ``take``, anything else (arrays,
    CSR, polars frames) by its ``[]``."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if type(X).__module__.partition(".")[0] == "pyarrow":
        return X.take(np.arange(X.shape[0])[rows])
    return X[rows]
