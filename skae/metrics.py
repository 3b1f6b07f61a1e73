"""Reconstruction error as one yardstick for every transformer that can invert itself.

``score`` means different things for different estimators: PCA's is a
log-likelihood, skae's a negative reconstruction error, and a search that compares
them without ``scoring=`` ranks on two scales at once. :func:`reconstruction_scorer`
gives one scale: pass it as ``scoring=`` to any scikit-learn search or to
``cross_validate``.
"""

import numpy as np
import scipy.sparse as sp

from ._chunks import _chunks


def reconstruction_error(estimator, X):
    """Mean squared reconstruction error of each sample, in the input space.

    Each sample goes through ``estimator.transform`` and back through
    ``estimator.inverse_transform``; its error is the squared difference with the
    original, averaged over the features. Works for any fitted estimator or
    :class:`~sklearn.pipeline.Pipeline` with both methods (PCA, IncrementalPCA,
    KernelPCA with ``fit_inverse_transform=True``, TruncatedSVD, NMF, FastICA and
    every skae estimator). Computed chunk by chunk, so memory beyond the output
    does not grow with ``n_samples``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Must have ``transform`` and ``inverse_transform``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples, as ``estimator.transform`` accepts them (a DataFrame too).

    Returns
    -------
    errors : ndarray of shape (n_samples,)
        Squared reconstruction error of each sample, averaged over the features.

    Raises
    ------
    TypeError
        If ``estimator`` lacks ``transform`` or ``inverse_transform``.

    See Also
    --------
    reconstruction_scorer : Its negative mean, as a scorer for searches.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from skae.metrics import reconstruction_error
    >>> X = load_iris().data
    >>> reconstruction_error(PCA(2).fit(X), X).shape
    (150,)
    """
    for method in ("transform", "inverse_transform"):
        if not hasattr(estimator, method):
            raise TypeError(
                f"{type(estimator).__name__} has no {method} method, so it has no "
                "reconstruction error; use an estimator (or a Pipeline of steps) that "
                "has both transform and inverse_transform."
            )
    if sp.issparse(X):
        X = X.tocsr()  # COO and others cannot be sliced by rows
    elif not hasattr(X, "shape"):
        X = np.asarray(X)  # a list of rows, as scikit-learn's scorers accept
    n_samples = X.shape[0]
    errors = np.empty(n_samples)
    for rows in _chunks(n_samples):
        chunk = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
        reconstructed = np.asarray(estimator.inverse_transform(estimator.transform(chunk)))
        original = chunk.toarray() if sp.issparse(chunk) else np.asarray(chunk)
        errors[rows] = ((original - reconstructed) ** 2).mean(axis=1)
    return errors


def reconstruction_scorer(estimator, X, y=None):
    """Negative mean squared reconstruction error: a scorer for any search.

    Higher is better, as scikit-learn's scorers expect. Use it as ``scoring=``
    in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and the like, to compare PCA,
    skae's autoencoders and any other transformer with ``inverse_transform`` on
    one scale, whatever each one's own ``score`` computes.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Must have ``transform`` and ``inverse_transform``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples to reconstruct.
    y : None
        Ignored; present for the scorer signature.

    Returns
    -------
    score : float
        ``-reconstruction_error(estimator, X).mean()``.

    See Also
    --------
    reconstruction_error : The per-sample errors.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skae.metrics import reconstruction_scorer
    >>> X = load_digits().data
    >>> search = GridSearchCV(PCA(), {"n_components": [4, 16]}, scoring=reconstruction_scorer)
    >>> search.fit(X).best_params_
    {'n_components': 16}
    """
    return -float(reconstruction_error(estimator, X).mean())
