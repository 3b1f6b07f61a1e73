"""The base every skae estimator shares: validation, training the skorch net, and
``transform`` / ``inverse_transform`` / ``score_samples``."""

import copy
import numbers
import warnings
from abc import ABC, abstractmethod

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping

from ._modules import MLPAutoencoder
from ._net import _AutoencoderNet, _RandomSplit, _ReconstructionLoss, _Rows, _StopOnDivergence
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
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X)


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
    """Shared fit / transform / inverse_transform / score_samples of skae estimators.

    A subclass supplies ``_module_params`` (the architecture of its
    :class:`~skae.MLPAutoencoder`) and ``_fit`` (its pre- and post-processing
    around ``_fit_net``), and may override ``_encode`` / ``_decode`` and
    ``_loss_params``.
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
        "n_iter_no_change": [_Interval(numbers.Integral, 1, None)],
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

    # -- subclass hooks -------------------------------------------------------

    @abstractmethod
    def _module_params(self, n_features):
        """Keyword arguments of :class:`~skae.MLPAutoencoder` for this estimator."""

    def _loss_params(self):
        """(loss, output_activation) of the reconstruction."""
        return "mse", "identity"

    def _extra_net_params(self):
        """skorch arguments a subclass adds or overrides (regularizers, module)."""
        return {}

    @abstractmethod
    def _fit(self, X):
        """Train on validated ``X``, through ``_fit_net``, and set the fitted state."""

    # -- public API -----------------------------------------------------------

    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

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
        _validate_params(self, self._parameter_rules)
        first_fit = not (self.warm_start and hasattr(self, "net_"))
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=first_fit,
            ensure_min_samples=self._min_samples,
        )
        self._fit(X)
        return self

    def _validate_chunk(self, X):
        """Validate a ``partial_fit`` chunk; the first one fixes parameters and width.

        Returns the validated chunk and whether it is the first.
        """
        first_call = not hasattr(self, "net_")
        if first_call:
            _validate_params(self, self._parameter_rules)
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=first_call,
            ensure_min_samples=self._min_samples if first_call else 1,
        )
        return X, first_call

    def transform(self, X):
        """Encode ``X`` into codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_)
            Codes, in the float dtype of ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._encode(X)

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Codes, as returned by ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
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
        """Negative reconstruction error of each sample (higher is more typical).

        The error is the training loss averaged over the features: squared error,
        or binary cross-entropy when ``loss="bce"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Negative per-sample reconstruction error.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._score_validated(X)

    def _score_validated(self, X):
        X_rec = self._decode(self._encode(X))
        loss, _ = self._loss_params()
        if loss == "bce":
            eps = np.finfo(X_rec.dtype).eps
            p = np.clip(X_rec, eps, 1 - eps)
            error = -(X * np.log(p) + (1 - X) * np.log1p(-p))
        else:
            error = (X - X_rec) ** 2
        return -error.mean(axis=1)

    def score(self, X, y=None):
        """Mean negative reconstruction error, so that a search can rank candidates.

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

    def _optional_fitted(self):
        """Names in ``_fitted_state`` that a fit with these parameters may not set."""
        return {"feature_names_in_"}

    def _check_fitted_state(self):
        """Raise ValueError where fitted attributes are missing, malformed, or
        contradict each other or the parameters (``skae.load`` reads them from a file)."""
        for name, allowed in self._fitted_state.items():
            if not hasattr(self, name):
                if name in self._optional_fitted():
                    continue
                raise ValueError(f"the fitted attribute {name} is missing.")
            value = getattr(self, name)
            if isinstance(allowed, tuple):
                shape = tuple(getattr(self, d) for d in allowed)
                kind = np.object_ if name == "feature_names_in_" else np.floating
                if (
                    not isinstance(value, np.ndarray)
                    or not np.issubdtype(value.dtype, kind)
                    or value.shape != shape
                    or (kind is np.object_ and not all(isinstance(v, str) for v in value))
                ):
                    raise ValueError(
                        f"{name} must be an array of {'str' if kind is np.object_ else 'floats'}"
                        f" of shape {shape} ({', '.join(allowed)}); got {type(value).__name__} "
                        f"of shape {np.shape(value)}."
                    )
            elif not any(rule.accepts(value) for rule in allowed):
                described = " or ".join(str(rule) for rule in allowed)
                raise ValueError(f"{name}={value!r} must be {described}.")
        if self.n_components is not None and self.n_components != self.n_components_:
            raise ValueError(
                f"n_components={self.n_components!r} but n_components_={self.n_components_!r}."
            )

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

    # -- training -------------------------------------------------------------

    _min_samples = 1

    def _fit_net(
        self,
        data,
        *,
        epochs=None,
        resume=None,
        dtype=torch.float32,
        center=None,
        warn_unconverged=True,
        **net_params,
    ):
        """Train ``net_`` to reconstruct the rows of ``data`` and record its history.

        ``epochs`` defaults to ``max_iter``. ``resume`` (default: ``warm_start`` on a
        fitted estimator) continues training ``net_`` instead of building a new net.
        A ConvergenceWarning follows a run that used all its epochs without the
        loss stalling, unless ``warn_unconverged`` is False. ``net_params``
        override the skorch arguments derived from the estimator's parameters
        (the linear solver uses this to run L-BFGS).
        """
        if resume is None:
            resume = self.warm_start and hasattr(self, "net_")
        epochs = self.max_iter if epochs is None else epochs
        seed = _draw_seed(self.random_state)
        device = _resolve_device(self.device)
        rows = _Rows(_as_tensor(data))
        generator = torch.Generator().manual_seed(seed)
        fork_devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            if resume:
                net = self.net_
                _place_net(net, device)
                net.generator, net.center = generator, center
                if net.train_split is not None:
                    # this call's validation rows come from this call's seed
                    net.train_split.generator = generator
            else:
                net = self._new_net(
                    len(data), data.shape[1], device, generator, dtype, center=center, **net_params
                )
            n_before = len(net.history)
            net.partial_fit(rows, epochs=epochs)
        self.net_ = net
        self._record_history()
        stopper = dict(net.callbacks_)["early_stopping"]
        ran = len(net.history) - n_before
        if warn_unconverged and ran == epochs and stopper.misses_ < stopper.patience:
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({ran}) reached and the "
                "optimization hasn't converged yet; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _new_net(
        self, n_samples, n_features, device, generator, dtype, *, center=None, **net_params
    ):
        """An initialized, untrained net whose module has ``dtype``.

        ``net_params`` override the skorch arguments derived from the estimator's
        parameters. Initializing the module draws from torch's global generator, so
        callers seed it inside ``torch.random.fork_rng``.
        """
        params = self._net_params(n_samples, n_features, device, generator) | net_params
        params |= self._optimizer_params(params["optimizer"], device)
        net = _AutoencoderNet(**params, center=center)
        net.initialize()
        net.module_.to(dtype)
        return net

    def _net_params(self, n_samples, n_features, device, generator):
        """skorch arguments of the net, derived from the estimator's parameters."""
        loss, output_activation = self._loss_params()
        batch_size = 200 if self.batch_size == "auto" else self.batch_size
        split = None
        if self.early_stopping:
            split = _RandomSplit(self.validation_fraction, generator)
        monitor = "valid_loss" if self.early_stopping else "train_loss"
        stopping = EarlyStopping(
            monitor=monitor,
            patience=self.n_iter_no_change,
            threshold=self.tol,
            threshold_mode="abs",
            load_best=self.early_stopping,
        )
        module_params = {f"module__{k}": v for k, v in self._module_params(n_features).items()}
        params = dict(
            module=MLPAutoencoder,
            criterion=_ReconstructionLoss,
            criterion__loss=loss,
            criterion__output_activation=output_activation,
            optimizer=_OPTIMIZERS.get(self.optimizer, self.optimizer),
            lr=self.learning_rate_init,
            batch_size=min(batch_size, n_samples),
            max_epochs=self.max_iter,
            train_split=split,
            callbacks=[("early_stopping", stopping), ("divergence", _StopOnDivergence())],
            device=device,
            verbose=int(self.verbose),
            generator=generator,
            **module_params,
        )
        return params | self._extra_net_params()

    def _optimizer_params(self, optimizer, device):
        """skorch ``optimizer__*`` arguments for the optimizer class in use."""
        params = {}
        if self.alpha > 0:
            params["optimizer__weight_decay"] = self.alpha
            params["optimizer__param_groups"] = [("*bias*", {"weight_decay": 0.0})]
        if optimizer in _FUSED_OPTIMIZERS and _fused_supported(device):
            # one fused kernel per step instead of a loop of small ones: about 15 %
            # off an MNIST epoch on 2 CPU cores
            params["optimizer__fused"] = True
        return params

    def _record_history(self):
        history = self.net_.history
        self.n_iter_ = len(history)
        self.loss_curve_ = [float(v) for v in history[:, "train_loss"]]
        if self.early_stopping:
            self.validation_scores_ = [-float(v) for v in history[:, "valid_loss"]]
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

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
        if self._loss_params()[1] == "sigmoid":
            return self._run_module(lambda module, z: torch.sigmoid(module.decode(z)), Z)
        return self._run_module(lambda module, z: module.decode(z), Z)
