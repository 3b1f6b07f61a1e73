"""The base every skae estimator shares: validation, training the skorch net, and
``transform`` / ``inverse_transform`` / ``score_samples``."""

import copy
import inspect
import numbers
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OutlierMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping
from torch.nn import functional as F

from ._net import (
    _AutoencoderNet,
    _continue_from,
    _EpochLog,
    _make_net,
    _RandomSplit,
    _Rows,
    _StopOnDivergence,
)
from ._validation import (
    _BOOLEAN,
    _NONE,
    _RANDOM_STATE,
    _Instance,
    _Interval,
    _ListOf,
    _Options,
    _SubclassOf,
    _validate_params,
)

# Rows per chunk when inferring or accumulating statistics: bounds the temporary
# memory independently of n_samples.
_CHUNK_ROWS = 4096

_TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}

_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}

_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.SGD)


# skorch arguments that do not change what a net computes or the state it trains
_UNCOMPARED = {"device", "verbose", "max_epochs", "batch_size", "lr"}


def _fused_supported(device):
    """Whether this torch has fused optimizer kernels for ``device``'s type."""
    if device.startswith("cuda"):
        return True
    # fused CPU kernels arrived in torch 2.4
    return device == "cpu" and torch.__version__ >= "2.4"


def _chunks(n_rows):
    """Slices covering ``range(n_rows)`` in pieces of ``_CHUNK_ROWS``."""
    return (slice(s, min(s + _CHUNK_ROWS, n_rows)) for s in range(0, n_rows, _CHUNK_ROWS))


def _as_tensor(X):
    """A tensor sharing memory with the array ``X``, without copying it.

    skae never writes to its input tensors, so a read-only array (a memmap opened
    with mode "r") is safe, and torch's warning about writing to it does not apply.
    Torch has no negative strides, so a reversed view (``X[::-1]``) is copied.
    """
    if any(stride < 0 for stride in X.strides):
        # a copy, since ascontiguousarray keeps a negative stride of length one
        X = X.copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X)


def _training_tensor(X, device):
    """The training rows as a tensor; on a GPU with room for them, moved there once,
    so that batches are sliced on the device instead of copied over one by one."""
    tensor = _as_tensor(X)
    if torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.nbytes < free // 2:
            tensor = tensor.to(device)
    return tensor


def _check_unit_interval(X, setting, alternative):
    """Raise ValueError unless ``X`` lies in [0, 1], as ``setting`` needs."""
    low, high = X.min(), X.max()
    if low < 0 or high > 1:
        raise ValueError(
            f"{setting} needs X in [0, 1]; got values in [{low:.4g}, {high:.4g}]. Scale X "
            f"(e.g. MinMaxScaler) or use {alternative}."
        )


def _bernoulli_divergence(module, x):
    """Per-row mean of ``KL(Bernoulli(x) || Bernoulli(sigmoid(logits)))``, from the
    logits; ``inf`` for a row with a value outside [0, 1]."""
    logits = module.decode(module.encode(x))
    cross_entropy = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    entropy = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
    divergence = (cross_entropy - entropy).clamp_min(0).mean(dim=1)
    outside = ((x < 0) | (x > 1)).any(dim=1)
    return divergence.masked_fill(outside, float("inf"))


def _describe_changes(changes):
    """``name=built (now value)`` for each entry of ``_net_changes``."""
    return ", ".join(f"{k}={old!r} (now {new!r})" for k, (old, new) in changes.items())


@contextmanager
def _all_or_nothing(estimator):
    """Leave ``estimator`` exactly as it was if the block raises, whatever it raises
    (bad data, divergence, Ctrl-C). The block replaces fitted values, never mutates
    them in place, so restoring the attribute table restores the estimator."""
    saved = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


def _draw_seed(random_state):
    """An int seed from ``random_state``, never drawing from a global generator."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device={device!r} is not a PyTorch device; use 'cpu', 'cuda', 'cuda:N' or 'auto'."
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are available."
            )
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={device!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'auto'."
        )
    return device


def _place_net(net, device):
    """Move a trained skorch net (module and optimizer state) to ``device``."""
    optimizer_state = net.optimizer_.state_dict()
    net.module_.to(device)
    net.criterion_.to(device)
    # loading the state back casts its tensors to the parameters' new device
    net.optimizer_.load_state_dict(optimizer_state)
    net.device = device


def _restore_device(net, device):
    """Put a loaded net on ``device`` if it is usable here, else on the CPU with a warning
    (``"auto"`` falls back silently)."""
    try:
        _place_net(net, _resolve_device(device))
    except Exception as error:  # any device that cannot take it: the CPU can
        warnings.warn(f"{error} The network stays on the CPU.", UserWarning, stacklevel=3)
        _place_net(net, "cpu")


class _BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, ABC):
    """Shared fit / partial_fit / transform / inverse_transform / score_samples.

    A subclass supplies ``_net_params`` (extending the skorch arguments here with
    its module and criterion) and ``_fit_validated`` (what one fit does with
    validated data: its statistics, ``_prepare_net`` and ``_train_net``, and its
    fitted attributes). ``fit`` and ``partial_fit`` both go through ``_fit``, which
    makes every call all-or-nothing.
    """

    _parameter_rules = {
        "optimizer": [
            _Options(tuple(_OPTIMIZERS)),
            _SubclassOf(torch.optim.Optimizer, "a torch.optim.Optimizer subclass"),
        ],
        "alpha": [_Interval(numbers.Real, 0, None)],
        "batch_size": [_Options(("auto",)), _Interval(numbers.Integral, 1, None)],
        "learning_rate_init": [_Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [_Interval(numbers.Integral, 1, None)],
        "early_stopping": [_BOOLEAN],
        "validation_fraction": [_Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [_NONE, _Interval(numbers.Integral, 1, None)],
        "tol": [_Interval(numbers.Real, 0, None)],
        "random_state": [_RANDOM_STATE],
        "verbose": [_BOOLEAN, _Interval(numbers.Integral, 0, None)],
        "warm_start": [_BOOLEAN],
        "device": [_Instance(str, name="a str such as 'cpu', 'cuda' or 'auto'")],
    }

    def __init__(
        self,
        n_components,
        *,
        optimizer,
        alpha,
        batch_size,
        learning_rate_init,
        max_iter,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        tol,
        random_state,
        verbose,
        warm_start,
        device,
    ):
        self.n_components = n_components
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device

    # -- fitting --------------------------------------------------------------

    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

        The fit is all-or-nothing: if it raises (bad data, a diverging loss,
        ``KeyboardInterrupt``), the estimator is left exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, float32 or float64 (other numbers are converted to
            float64). The array is never modified.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False)

    def partial_fit(self, X, y=None):
        """Update the estimator with ``X``, one chunk of the training data.

        The first call builds the network; each later call continues training
        it, so data that does not fit in memory can be streamed in chunks (from a
        ``numpy.memmap``, say). The nonlinear autoencoders train one epoch on the
        chunk (early stopping works within a call only); the linear autoencoder
        first merges the chunk into its running mean and scatter matrix. Like
        ``fit``, each call is all-or-nothing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, incremental=True)

    def _fit(self, X, *, incremental):
        with _all_or_nothing(self):
            _validate_params(self, self._parameter_rules)
            resume = (incremental or self.warm_start) and hasattr(self, "net_")
            # a partial_fit chunk merges into what was seen; a fit (warm or not)
            # stands on its own rows
            X = self._validate(
                X,
                reset=not resume,
                ensure_min_samples=1 if incremental and resume else self._min_samples,
            )
            self._fit_validated(X, resume=resume, incremental=incremental)
        return self

    # rows the first fit needs at least
    _min_samples = 1

    # the skorch net class that trains the module
    _net_class = _AutoencoderNet

    def _validate(self, X, **kwargs):
        """``X`` checked as ``validate_data`` does, as float32 or float64, sparse
        (CSR or CSC) where the estimator's tags accept it."""
        sparse = ["csr", "csc"] if self.__sklearn_tags__().input_tags.sparse else False
        return validate_data(
            self, X, dtype=[np.float64, np.float32], accept_sparse=sparse, **kwargs
        )

    @abstractmethod
    def _fit_validated(self, X, *, resume, incremental):
        """Fit on validated ``X``, continuing ``net_`` if ``resume``; set the
        fitted attributes. ``incremental`` is True for ``partial_fit``."""

    def _net_params(self, n_features, n_components):
        """skorch arguments of the net, derived from the estimator's parameters;
        subclasses add their module (``module`` and ``module__*``) and criterion."""
        patience = self.n_iter_no_change or float("inf")
        callbacks = [
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_loss" if self.early_stopping else "train_loss",
                    patience=patience,
                    threshold=self.tol,
                    threshold_mode="abs",
                    load_best=self.early_stopping,
                ),
            ),
            ("divergence", _StopOnDivergence()),
        ]
        if self.verbose:
            callbacks.append(("progress", _EpochLog(self.max_iter)))
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        device = _resolve_device(self.device)
        params = dict(
            optimizer=optimizer,
            lr=self.learning_rate_init,
            batch_size=200 if self.batch_size == "auto" else self.batch_size,
            max_epochs=self.max_iter,
            train_split=_RandomSplit(self.validation_fraction) if self.early_stopping else None,
            callbacks=callbacks,
            device=device,
            verbose=0,
        )
        if self.alpha > 0 and "weight_decay" not in inspect.signature(optimizer).parameters:
            raise ValueError(
                f"alpha={self.alpha} is applied as the optimizer's weight_decay, which "
                f"{optimizer.__name__} does not take; set alpha=0."
            )
        if self.alpha > 0 or optimizer in _FUSED_OPTIMIZERS:
            params["optimizer__weight_decay"] = self.alpha
        if self.alpha > 0:
            # a second parameter group costs a second optimizer kernel per step
            params["optimizer__param_groups"] = [("*bias*", {"weight_decay": 0.0})]
        if optimizer in _FUSED_OPTIMIZERS and _fused_supported(device):
            # one fused kernel per step instead of a loop of small ones: about 15 %
            # off an MNIST epoch on 2 CPU cores
            params["optimizer__fused"] = True
        return params

    def _net_changes(self, net, n_features, n_components):
        """``{name: (built, now)}`` for each plain skorch argument of ``net`` (its
        module's, criterion's, optimizer's, corruption's) that the estimator's
        parameters now set differently; learning rate, batch size, device and
        logging are left out."""
        built = net.get_params()
        return {
            key: (built.get(key), value)
            for key, value in self._net_params(n_features, n_components).items()
            if key not in _UNCOMPARED
            and isinstance(value, str | numbers.Number | tuple | type | torch.dtype | None)
            and built.get(key) != value
        }

    def _prepare_net(self, n_features, n_components, *, resume):
        """The net to train, built from the current parameters; if ``resume``, it
        continues from ``net_``'s weights, optimizer state and history, copied, so
        that ``net_`` itself is untouched until the fit succeeds."""
        seed = _draw_seed(self.random_state)
        net = _make_net(self._net_class, seed, **self._net_params(n_features, n_components))
        if not resume:
            return net
        changes = self._net_changes(self.net_, n_features, n_components)
        architecture = {
            key.removeprefix("module__"): change
            for key, change in changes.items()
            if key == "module" or key.startswith("module__")
        }
        if architecture:
            raise ValueError(
                "Cannot continue training: the network was built with "
                f"{_describe_changes(architecture)}. Set "
                "the parameters back, or call fit with warm_start=False to build a new "
                "network."
            )
        _continue_from(net, self.net_)
        return net

    def _train_net(self, net, data, *, epochs, warn):
        """Train ``net`` for up to ``epochs`` epochs on the rows of ``data``; with
        ``warn``, a ConvergenceWarning follows a run that used all its epochs while
        the loss was still improving (unless ``n_iter_no_change`` is None: a fixed
        budget)."""
        n_before = len(net.history)
        callbacks = dict(net.callbacks_)
        if "progress" in callbacks:
            callbacks["progress"].epochs = epochs
        net.partial_fit(_Rows(_training_tensor(data, net.device)), epochs=epochs)
        stopper = callbacks["early_stopping"]
        ran = len(net.history) - n_before
        if warn and self.n_iter_no_change is not None and ran == epochs:
            if stopper.misses_ < stopper.patience:
                warnings.warn(
                    f"{type(self).__name__}: maximum iterations ({ran}) reached and the "
                    "optimization hasn't converged yet; raise max_iter or tol, or set "
                    "n_iter_no_change=None to train for exactly max_iter epochs.",
                    ConvergenceWarning,
                    stacklevel=5,
                )

    def _set_net(self, net):
        """Make ``net`` the fitted network and record its training history."""
        history = net.history
        self.net_ = net
        self.n_iter_ = len(history)
        self.loss_curve_ = [float(v) for v in history[:, "train_loss"]]
        if self.early_stopping:
            self.validation_scores_ = [-float(v) for v in history[:, "valid_loss"]]
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # -- public API -----------------------------------------------------------

    def transform(self, X):
        """Encode ``X`` into codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, `n_components_`)
            Codes, in the float dtype of ``X``.
        """
        check_is_fitted(self)
        return self._encode(self._validate(X, reset=False))

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Codes, as returned by ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
            Reconstructions, in the float dtype of the codes.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform of "
                f"{type(self).__name__} expects codes of width n_components_="
                f"{self.n_components_}."
            )
        return self._decode(Z)

    def score_samples(self, X):
        """Score of each sample: higher is more typical.

        For :class:`AutoencoderTransformer` and its outlier detector, the negative
        reconstruction error: the squared error averaged over the features (with
        ``loss="bce"``, the Bernoulli divergence, see ``loss``). For an aligned
        :class:`LinearAETransformer`, the log-likelihood under the probabilistic
        PCA model, as PCA's (with ``align=False``, the negative squared error).
        For :class:`VAETransformer`, the evidence lower bound in nats; for
        :class:`VAEOutlierDetector`, what its ``anomaly_score`` says. Computed
        chunk by chunk, so memory beyond the output does not grow with
        ``n_samples``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples to score (sparse for LinearAETransformer only).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Score of each sample.
        """
        check_is_fitted(self)
        return self._score_samples(self._validate(X, reset=False))

    def _score_samples(self, X):
        """``score_samples`` of validated ``X``."""
        return -self._reconstruction_errors(X)

    def _reconstruction_errors(self, X):
        errors = np.empty(X.shape[0], dtype=X.dtype)
        for rows in _chunks(X.shape[0]):
            chunk = X[rows]
            errors[rows] = self._chunk_errors(chunk.toarray() if sp.issparse(chunk) else chunk)
        return errors

    # whether the network's output is the logits of a Bernoulli model (scored by
    # the Bernoulli divergence rather than the squared error)
    _bernoulli_output = False

    def _chunk_errors(self, X):
        """Per-sample reconstruction error of a chunk of validated rows."""
        if self._bernoulli_output:
            return self._run_module(_bernoulli_divergence, X)
        return ((X - self._decode(self._encode(X))) ** 2).mean(axis=1)

    def score(self, X, y=None):
        """Mean of ``score_samples``, so that a search can rank candidates.

        For the nonlinear autoencoders that is the negative squared error (with
        ``loss="bce"``, the negative Bernoulli divergence); for an aligned
        LinearAETransformer, PCA's log-likelihood; for VAETransformer, the ELBO
        in nats; for VAEOutlierDetector, the score its ``anomaly_score`` names.
        Estimators' ``score`` thus measure different things, and a search over
        several kinds of estimator (or over ``anomaly_score``) without
        ``scoring=`` ranks them on different scales. Pass
        ``scoring=skae.metrics.reconstruction_scorer`` to rank every transformer
        with ``inverse_transform`` by the same squared reconstruction error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``score_samples(X).mean()``.
        """
        return float(self.score_samples(X).mean())

    # every fitted attribute and what it must be: the allowed forms, or for an
    # array the attributes that give its dimensions (floats; strings for feature
    # names). skae.load checks the state it reads from a file against this table.
    _fitted_state = {
        "n_features_in_": [_Interval(numbers.Integral, 1, None)],
        "n_components_": [_Interval(numbers.Integral, 1, None)],
        "feature_names_in_": ("n_features_in_",),
        "n_iter_": [_Interval(numbers.Integral, 1, None)],
        "loss_curve_": [_ListOf(_Interval(numbers.Real, None, None))],
        "validation_scores_": [_NONE, _ListOf(_Interval(numbers.Real, None, None))],
        "best_validation_score_": [_NONE, _Interval(numbers.Real, None, None)],
    }

    def __getstate__(self):
        # a pickle holds CPU tensors, so it loads on machines without a GPU;
        # the live estimator keeps its network where it is
        state = dict(super().__getstate__())
        net = state.get("net_")
        if net is not None and torch.device(net.device).type != "cpu":
            net = copy.deepcopy(net)
            _place_net(net, "cpu")
            state["net_"] = net
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:
            _restore_device(self.net_, self.device)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- inference ------------------------------------------------------------

    def _run_module(self, function, X):
        """``function(module, x)`` over ``X`` chunk by chunk, without gradients."""
        module = self.net_.module_
        dtype = _TORCH_DTYPES[X.dtype.type]
        if next(module.parameters()).dtype != dtype:
            # evaluating the float32-trained network in float64 for float64 input
            # keeps full precision and makes results independent of the chunking
            module = copy.deepcopy(module).to(dtype)
        module.eval()
        with torch.no_grad():
            parts = [
                function(module, _as_tensor(X[rows]).to(device=self.net_.device, dtype=dtype))
                for rows in _chunks(X.shape[0])
            ]
        return torch.cat(parts).cpu().numpy()

    def _encode(self, X):
        return self._run_module(lambda module, x: module.encode(x), X)

    def _decode(self, Z):
        return self._run_module(lambda module, z: module.decode(z), Z)


class _OutlierThreshold(OutlierMixin):
    """What makes an estimator's ``score_samples`` an outlier detector: ``offset_``
    from ``contamination`` on the training scores, ``decision_function`` and
    ``predict``, as :class:`~sklearn.ensemble.IsolationForest` has them."""

    def _fit_validated(self, X, *, resume, incremental):
        super()._fit_validated(X, resume=resume, incremental=incremental)
        scores = self._score_samples(X)
        if self.contamination == "auto":
            q1, q3 = np.percentile(scores, [25, 75])
            self.offset_ = float(q1 - 1.5 * (q3 - q1))
        else:
            self.offset_ = float(np.percentile(scores, 100 * self.contamination))

    def decision_function(self, X):
        """Score minus ``offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to judge.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """-1 for outliers, +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to judge.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
