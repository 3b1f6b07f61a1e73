"""Matplotlib figures of the classic autoencoder workflows.

matplotlib is an optional dependency (``pip install skae[plot]``), imported only
when a function here is called. Every function returns its ``Figure`` and never
calls ``plt.show()``, so it works in scripts, notebooks and tests alike.
"""

import math
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ._chunks import _by_rows, _rows_of
from .metrics import _last_step


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skae.plotting needs matplotlib: pip install 'skae[plot]' (or matplotlib)."
        ) from exc
    return plt


def _grid_shape(n):
    """(rows, columns) of the most nearly square rectangle holding exactly ``n``."""
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    return rows, n // rows


def _to_numpy(data):
    """``data`` as an ndarray: what ``set_output`` returns may be a DataFrame, and
    the rows shown of a sparse matrix are densified."""
    if sp.issparse(data):
        return data.toarray()
    # polars frames convert through to_numpy(); np.asarray covers pandas and arrays
    to_numpy = getattr(data, "to_numpy", None)
    return np.asarray(to_numpy() if callable(to_numpy) else data)


def _check_codes(estimator, function):
    """TypeError unless ``estimator``'s ``transform`` gives codes that its
    ``inverse_transform`` decodes (an imputer's gives its filled table); ValueError
    for a code of no components, which has nothing to draw."""
    check_is_fitted(estimator)
    if not hasattr(estimator, "inverse_transform"):
        raise TypeError(
            f"{function} draws codes, and {type(estimator).__name__} has none: its "
            "transform is not decoded by an inverse_transform."
        )
    if getattr(estimator, "n_components_", 1) == 0:
        raise ValueError(f"{function}: the estimator's code has no component to draw.")


def plot_loss_curve(estimator):
    """Training loss per epoch, and the validation loss when it was recorded.

    The y axis is labelled with the loss the estimator minimized (``"binary
    cross-entropy"``, ``"negative ELBO (nats per sample)"``, ...). Any other estimator
    with a ``loss_curve_``, such as scikit-learn's ``MLPRegressor``, gets its training
    curve under the label ``"training loss"``; its ``validation_scores_``, when it has
    them, are scores of its own kind (R^2 for ``MLPRegressor``) and are not drawn.

    Parameters
    ----------
    estimator : fitted estimator
        A skae estimator, whose ``validation_scores_`` (negated validation losses)
        are drawn when it has them, or any estimator with ``loss_curve_``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with one axes.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_loss_curve
    >>> ae = AutoencoderTransformer(max_iter=3, n_iter_no_change=None, random_state=0)
    >>> ae = ae.fit(load_digits().data / 16)
    >>> fig = plot_loss_curve(ae)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train']
    """
    check_is_fitted(estimator)
    plt = _pyplot()
    # skae estimators name their own loss; validation_scores_ are then negated losses
    label = getattr(estimator, "_loss_label", None)
    validation = getattr(estimator, "validation_scores_", None) if label else None
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(estimator.loss_curve_) + 1)
    ax.plot(epochs, estimator.loss_curve_, marker=".", label="train")
    if validation is not None:
        ax.plot(epochs, -np.asarray(validation), marker=".", label="validation")
    ax.set_xlabel("epoch")
    # epochs are whole numbers
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(label or "training loss")
    ax.set_title(f"{type(estimator).__name__}: loss per epoch")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_reconstructions(estimator, X, image_shape, n=10):
    """Three rows of images: originals, their codes, and their reconstructions.

    Codes are drawn as images too, reshaped to the most nearly square rectangle
    (6 x 6 for 36 components, 2 x 4 for 8).

    Parameters
    ----------
    estimator : fitted skae estimator
        Its ``transform`` gives the codes and ``inverse_transform`` the
        reconstructions.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Images, flattened; the first ``n`` are shown.
    image_shape : tuple of int
        Shape of one image, e.g. ``(28, 28)``.
    n : int, default=10
        Number of images.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with a 3 x ``n`` grid of axes.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_reconstructions
    >>> X = load_digits().data / 16
    >>> ae = AutoencoderTransformer(8, max_iter=3, n_iter_no_change=None, random_state=0)
    >>> ae = ae.fit(X)
    >>> fig = plot_reconstructions(ae, X, (8, 8), n=5)
    >>> len(fig.axes)
    15
    """
    _check_codes(estimator, "plot_reconstructions")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int, the number of images; got {n!r}.")
    if getattr(_last_step(estimator), "categories_", None) is not None:
        raise ValueError(
            "plot_reconstructions draws numeric columns as images; this estimator has "
            "categorical columns (see plot_embedding for its codes)."
        )
    shape = np.atleast_1d(image_shape)
    n_features = getattr(estimator, "n_features_in_", None)
    if shape.ndim != 1 or len(shape) != 2 or (n_features and np.prod(shape) != n_features):
        raise ValueError(
            f"image_shape must be (height, width) with height * width = n_features_in_ "
            f"({n_features}); got {image_shape!r}."
        )
    plt = _pyplot()
    # rows are sliced in X's own type, so a frame keeps the column names it was fit with
    X = _rows_of(_by_rows(X), slice(n))
    Z = _to_numpy(estimator.transform(X))
    X_rec = _to_numpy(estimator.inverse_transform(Z))
    X = _to_numpy(X)
    n = len(X)
    code_shape = _grid_shape(Z.shape[1])
    fig, axes = plt.subplots(3, n, figsize=(1.2 * n, 4), squeeze=False)
    # one gray scale per row kind, so brightness compares across images
    # over the observed values: one missing pixel made both ends NaN, and two rows blank
    image_range = {"vmin": np.nanmin(X), "vmax": np.nanmax(X)}
    rows = [
        ("original", X, image_shape, image_range),
        (f"code ({Z.shape[1]})", Z, code_shape, {"vmin": np.nanmin(Z), "vmax": np.nanmax(Z)}),
        ("reconstruction", X_rec, image_shape, image_range),
    ]
    for row, (title, data, shape, value_range) in enumerate(rows):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(data[col].reshape(shape), cmap="gray", **value_range)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(title)
    fig.tight_layout()
    return fig


def plot_embedding(estimator, X, y):
    """Scatter of the first two code dimensions, colored by label.

    Parameters
    ----------
    estimator : fitted skae estimator
        With ``n_components_ >= 2``.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Samples to encode.
    y : array-like of shape (n_samples,)
        Labels that color the points: numbers, strings or categories, one color
        per class.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with one axes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skae import LinearAETransformer
    >>> from skae.plotting import plot_embedding
    >>> X, y = load_iris(return_X_y=True)
    >>> fig = plot_embedding(LinearAETransformer(random_state=0).fit(X), X, y)
    >>> fig.axes[0].get_xlabel()
    'linearaetransformer0'
    """
    _check_codes(estimator, "plot_embedding")
    if estimator.n_components_ < 2:
        raise ValueError(
            f"plot_embedding needs at least 2 components, the estimator has "
            f"n_components_={estimator.n_components_}."
        )
    plt = _pyplot()
    Z = _to_numpy(estimator.transform(X))
    names = estimator.get_feature_names_out()
    fig, ax = plt.subplots(figsize=(5, 4))
    # labels of any kind (strings, a categorical Series) as the index of their class
    classes, index = np.unique(np.asarray(y), return_inverse=True)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=index, cmap="tab10", s=12)
    bar = fig.colorbar(points, ax=ax, label="label")
    if len(classes) <= 20:
        bar.set_ticks(np.arange(len(classes)), labels=[str(c) for c in classes])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(type(estimator).__name__)
    fig.tight_layout()
    return fig
