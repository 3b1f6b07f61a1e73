"""The version of skae, one place for the package, the files it writes and the
pickles of its estimators, and the warning of another release's."""

import warnings

__version__ = "0.3.0"


class InconsistentVersionWarning(UserWarning):
    """Warning of :func:`skae.load` for a file written by another release of skae,
    or with other releases of the packages that compute its results; and of
    unpickling an estimator that another release of skae pickled.

    The model loads as it was saved; what may differ is how the code of this
    release computes with it. skae warns for a file of any other skae release,
    and for a file whose PyTorch, NumPy, scikit-learn or skorch differ from the
    ones installed here in their major or minor version (``2.12`` against
    ``2.13``; ``2.13.0`` against ``2.13.1+cpu`` does not warn). Outputs may then
    differ in their last bits and continued training may take other steps. Files
    of skae 0.2.0 did not record their dependencies, so only their skae release
    is compared. Saving the loaded estimator again records this environment.
    Like scikit-learn's :class:`~sklearn.exceptions.InconsistentVersionWarning`,
    for scikit-learn's pickles: a pickle is read by the release that wrote it (its
    attributes are that release's), so another release warns naming both, and
    ``written`` and ``current`` hold only skae's release.

    Parameters
    ----------
    message : str
        What differs, and what to do about it.
    written : dict of str to str
        The release of each package that differs, as the file records it.
    current : dict of str to str
        The release of each of those packages installed here.

    Attributes
    ----------
    written : dict of str to str
        The ``written`` argument.
    current : dict of str to str
        The ``current`` argument.

    See Also
    --------
    load : Warns with it.
    save : Writes the files that every later release loads (pickles are not).
    sklearn.exceptions.InconsistentVersionWarning : scikit-learn's counterpart.

    Examples
    --------
    Turn the warning into an error where a model must come from this very
    environment (a file written here loads without it):

    >>> import tempfile, pathlib, warnings
    >>> from sklearn.datasets import load_iris
    >>> import skae
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lae.skae"
    >>> skae.save(skae.LinearAETransformer(2).fit(load_iris().data), path)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", skae.InconsistentVersionWarning)
    ...     loaded = skae.load(path)
    >>> issubclass(skae.InconsistentVersionWarning, UserWarning)
    True
    """

    def __init__(self, message, written, current):
        super().__init__(message)
        self.written = written
        self.current = current

    def __reduce__(self):
        # an exception is rebuilt from its args, here the message alone: a warning
        # raised as an error in a joblib worker could not come back to its caller
        return type(self), (*self.args, self.written, self.current), vars(self)


def _with_release(state):
    """An estimator's pickled ``state`` with the skae release that pickles it."""
    return {**state, "_skae_version": __version__}


def _check_release(state, cls):
    """Take the release out of an unpickled estimator's ``state`` (of ``cls``), and
    warn if another release pickled it: a pickle of 0.2.0 unpickled silently here,
    and failed at its first transform, lacking a parameter added since."""
    written = state.pop("_skae_version", None)
    if written != __version__:
        recorded = f"skae {written}" if written else "a skae that did not record its release"
        warnings.warn(
            InconsistentVersionWarning(
                f"This {cls.__name__} was pickled by {recorded}; this is skae "
                f"{__version__}. A pickle is read by the release that wrote it: its "
                "attributes may not be those this release computes with. Refit it, or "
                "store it with skae.save, whose files every later release loads.",
                {"skae": written},
                {"skae": __version__},
            ),
            stacklevel=3,
        )
    return state
