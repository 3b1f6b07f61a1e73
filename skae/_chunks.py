"""Rows a chunk at a time: inference, scores and statistics go through their input
in pieces, so temporary memory is bounded independently of ``n_samples``."""

import scipy.sparse as sp
from sklearn.utils import gen_batches

# rows per chunk
_CHUNK_ROWS = 4096


def _chunks(n_rows):
    """Slices covering ``range(n_rows)`` in pieces of ``_CHUNK_ROWS``."""
    return gen_batches(n_rows, _CHUNK_ROWS)


def _dense(chunk):
    """A chunk of rows as a dense array (sparse chunks are densified one at a time)."""
    return chunk.toarray() if sp.issparse(chunk) else chunk
