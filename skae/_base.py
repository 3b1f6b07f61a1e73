"""The base every skae estimator shares, top to bottom: its parameters and their
checks, building the skorch net, training it (all-or-nothing), what a fitted
estimator saves and how its net is rebuilt, then inference (``transform``,
``inverse_transform``, ``score_samples``) chunk by chunk."""

import copy
import inspect
import numbers
import os
import sys
import warnings
from abc import ABC
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._chunks import _chunks, _dense
from ._distributed import (
    _global_max,
    _global_sums,
    _OnEveryRank,
    _refuse_in_group,
    _shared_seeds,
)
from ._losses import _bernoulli_divergence
from ._net import (
    _as_tensor,
    _AutoencoderNet,
    _continue_from,
    _fused_supported,
    _make_net,
    _net_tensors,
    _place_net,
    _RandomSplit,
    _resolve_device,
    _restore_device,
    _restored_net,
    _Rows,
    _seed_net,
    _training_tensor,
)
from ._validation import (
    _BOOLEAN,
    _NONE,
    _RANDOM_STATE,
    _Array,
    _check_unit_interval,
    _check_weights,
    _Fitted,
    _Instance,
    _Interval,
    _ListOf,
    _Options,
    _SubclassOf,
    _validate_params,
)
from .metrics import _squared_errors

_TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)

# the precision parameter's values: the dtype autocast computes in (None: none)
_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

# skorch arguments that do not change what a net computes or the state it trains
# (nor do the callbacks': stopping, schedule, progress)
_UNCOMPARED = {"device", "verbose", "max_epochs", "batch_size", "lr", "precision"}

# parameters that may differ between the ranks of a process group: where each rank
# runs, what it prints, and its seed (rank 0's seeds every rank)
_RANK_OWN = {"device", "verbose", "random_state"}

# every public estimator class, by name, registered as it is defined
_ESTIMATORS = {}


def _takes_weight_decay(optimizer):
    return "weight_decay" in inspect.signature(optimizer).parameters


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


def _caller_level():
    """The ``stacklevel`` at which ``warnings.warn``, called in the function that
    calls this, names the first caller outside skae: the line of the user's code,
    however many of skae's own frames lie between."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _draw_seed(random_state):
    """An int seed from ``random_state``, never drawing from a global generator."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _merged_table(cls, table):
    """The class attribute ``table`` merged over ``cls``'s bases, base entries first."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get(table, {}))
    return merged


class _BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, ABC):
    """Shared fit / partial_fit / transform / inverse_transform / score_samples.

    A subclass supplies ``_net_params`` (extending the skorch arguments here with
    its module and criterion) and declares its own entries of ``_parameter_rules``
    and ``_fitted_state``, which are merged with its bases' when the class is
    defined. ``fit`` and ``partial_fit`` both go through ``_fit``, which makes every
    call all-or-nothing; ``_fit_validated`` here trains the network, and the linear
    autoencoder replaces it with its solvers. Defining a public subclass registers
    it with :func:`skae.save` and :func:`skae.load`.
    """

    _parameter_rules = {
        "optimizer": [
            _Options(tuple(_OPTIMIZERS)),
            _SubclassOf(torch.optim.Optimizer, "a torch.optim.Optimizer subclass"),
        ],
        "alpha": [_Interval(numbers.Real, 0, None)],
        "batch_size": [_Options(("auto",)), _Interval(numbers.Integral, 1, None)],
        "learning_rate_init": [_Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate": [_Options(("constant", "cosine"))],
        "max_iter": [_Interval(numbers.Integral, 1, None)],
        "early_stopping": [_BOOLEAN],
        "validation_fraction": [_Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [_NONE, _Interval(numbers.Integral, 1, None)],
        "tol": [_Interval(numbers.Real, 0, None)],
        "random_state": _RANDOM_STATE,
        "verbose": [_BOOLEAN, _Interval(numbers.Integral, 0, None)],
        "warm_start": [_BOOLEAN],
        "device": [_Instance(str, name="a str such as 'cpu', 'cuda' or 'auto'")],
        "precision": [_Options(tuple(_PRECISIONS))],
    }

    # every fitted attribute and what it must be; skae.load checks the state it
    # reads from a file against this table
    _fitted_state = {
        "n_features_in_": _Fitted(_Interval(numbers.Integral, 1, None)),
        "n_components_": _Fitted(_Interval(numbers.Integral, 1, None)),
        "feature_names_in_": _Array("n_features_in_", strings=True, optional=True),
        "n_iter_": _Fitted(_Interval(numbers.Integral, 1, None)),
        # every loss skae trains on (squared error, cross-entropy, negative ELBO) is >= 0
        "loss_curve_": _Fitted(_ListOf(_Interval(numbers.Real, 0, None))),
        "validation_scores_": _Fitted(_NONE, _ListOf(_Interval(numbers.Real, None, None))),
        "best_validation_score_": _Fitted(_NONE, _Interval(numbers.Real, None, None)),
    }

    # rows the first fit needs at least
    _min_samples = 1

    # the skorch net class that trains the module
    _net_class = _AutoencoderNet

    # whether inverse_transform applies a sigmoid to the decoder's raw output
    _sigmoid_output = False

    # ("setting", "alternative") where the network's output is the logits of a
    # Bernoulli model: X must then lie in [0, 1], and reconstruction errors are
    # Bernoulli divergences rather than squared errors
    _bernoulli_setting = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._parameter_rules = _merged_table(cls, "_parameter_rules")
        cls._fitted_state = _merged_table(cls, "_fitted_state")
        if cls.__module__.startswith("skae.") and not cls.__name__.startswith("_"):
            _ESTIMATORS[cls.__name__] = cls

    def __init__(
        self,
        n_components,
        *,
        optimizer,
        alpha,
        batch_size,
        learning_rate_init,
        learning_rate,
        max_iter,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        tol,
        random_state,
        verbose,
        warm_start,
        device,
        precision,
    ):
        self.n_components = n_components
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.precision = precision

    # -- fitting --------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Fit the estimator to ``X``.

        The fit is all-or-nothing: if it raises (bad data, a diverging loss,
        ``KeyboardInterrupt``), the estimator is left exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, float32 or float64 (other numbers are converted to
            float64). A sparse matrix (CSR, or any format scipy converts to CSR)
            is densified by the networks one minibatch or chunk at a time, never
            whole (what the linear autoencoder keeps instead, its class says).
            The data is never modified.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: every sample weighs 1).
            The training loss is the weighted mean of the samples' losses, with
            the weights rescaled to average 1 over the rows of the call, so their
            scale does not matter; what else they weigh, each class says. Passed
            through a :class:`~sklearn.pipeline.Pipeline` or a search with
            scikit-learn's metadata routing (``set_fit_request(sample_weight=True)``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, sample_weight, incremental=False)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the estimator with ``X``, one chunk of the training data.

        The first call builds the network; each later call continues training
        it, so data that does not fit in memory can be streamed in chunks (from a
        ``numpy.memmap``, say). The nonlinear autoencoders train one epoch on the
        chunk (early stopping works within a call only); the linear autoencoder
        first merges the chunk into its running mean and scatter matrix. Like
        ``fit``, each call is all-or-nothing, and its cost does not grow with the
        number of calls before it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample of the chunk, as in ``fit``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, sample_weight, incremental=True)

    def _fit(self, X, sample_weight, *, incremental):
        with _all_or_nothing(self):
            # in a process group, each rank's checks are every rank's concern
            with _OnEveryRank() as ranks:
                self._check_params()
                resume = (incremental or self.warm_start) and hasattr(self, "net_")
                minimum = self._min_rows(incremental=incremental, resume=resume)
                X = self._validate(X, reset=not resume, ensure_min_samples=minimum)
                if sample_weight is not None:
                    sample_weight = _check_weights(sample_weight, X)
                self._check_distributed()
            # before the first collective of training: no rank waits alone in one,
            # and none trains on settings that the others do not share
            ranks.agree(
                lambda: {
                    "n_features": X.shape[1],
                    "continuing": bool(resume),
                    "weighted": sample_weight is not None,
                    "parameters": self._shared_parameters(),
                    "feature_names_in_": list(getattr(self, "feature_names_in_", [])),
                }
            )
            self._fit_validated(X, sample_weight, resume=resume, incremental=incremental)
        return self

    def _shared_parameters(self):
        """The parameters that every rank of a process group must share: all but
        where the rank runs, what it prints, and the seed (rank 0's is used)."""
        params = self.get_params(deep=False)
        return sorted((k, v) for k, v in params.items() if k not in _RANK_OWN)

    def _check_distributed(self):
        """Raise ValueError where this estimator cannot train across the ranks of a
        process group (nothing to check outside one)."""
        if _OPTIMIZERS.get(self.optimizer, self.optimizer) is torch.optim.LBFGS:
            _refuse_in_group(
                "L-BFGS's line search evaluates the loss several times a step, which "
                "data-parallel training does not average; use optimizer='adam' or "
                "'sgd' in a process group."
            )

    def _check_params(self):
        """Raise for a parameter outside its allowed forms, or for settings that
        contradict each other: the rules of ``fit``, which ``skae.load`` applies
        too."""
        _validate_params(self, self._parameter_rules)
        self._check_settings()

    def _check_settings(self):
        """Raise ValueError for parameters that contradict each other (a subclass
        adds its own after these)."""
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        if self.alpha > 0 and not _takes_weight_decay(optimizer):
            raise ValueError(
                f"alpha={self.alpha} is applied as the optimizer's weight_decay, which "
                f"{optimizer.__name__} does not take; set alpha=0."
            )
        if self.precision == "float16" and optimizer is torch.optim.LBFGS:
            raise ValueError(
                "precision='float16' scales the loss step by step, which L-BFGS's "
                "line search cannot take; use precision='bfloat16' or 'float32'."
            )

    def _min_rows(self, *, incremental, resume):
        """The rows a fit needs: a partial_fit chunk merges into what was seen; a
        fit (warm or not) stands on its own rows."""
        return 1 if incremental and resume else self._min_samples

    def _validate(self, X, **kwargs):
        """``X`` checked as ``validate_data`` does, as float32 or float64; sparse
        input as a CSR matrix in canonical form (sorted indices, no duplicate
        entries: a copy where the caller's is not)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse="csr", **kwargs)
        if sp.issparse(X) and not X.has_canonical_format:
            # scipy's own min, max and sums put the caller's matrix in canonical
            # form in place; skae works on a copy instead
            X = X.copy()
            X.sum_duplicates()
        return X

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        """Fit on validated ``X`` (rows weighted by ``sample_weight``, or None),
        continuing ``net_`` if ``resume``; set the fitted attributes.
        ``incremental`` is True for ``partial_fit``."""
        if self._bernoulli_setting is not None:
            _check_unit_interval(X, *self._bernoulli_setting)
        net = self._prepare_net(X.shape[1], self.n_components, resume=resume)
        self._train_net(net, X, sample_weight, incremental=incremental)
        self._set_net(net, resume=resume)
        self.n_components_ = self.n_components

    def _net_params(self, n_features, n_components):
        """skorch arguments of the net, derived from the estimator's parameters;
        subclasses add their module (``module`` and ``module__*``) and criterion.
        The callbacks are the net's own (``_AutoencoderNet._default_callbacks``),
        configured here."""
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        device = _resolve_device(self.device)
        params = dict(
            optimizer=optimizer,
            lr=self.learning_rate_init,
            batch_size=200 if self.batch_size == "auto" else self.batch_size,
            max_epochs=self.max_iter,
            train_split=_RandomSplit(self.validation_fraction) if self.early_stopping else None,
            device=device,
            precision=_PRECISIONS[self.precision],
            verbose=0,
            callbacks__early_stopping__monitor=(
                "valid_loss" if self.early_stopping else "train_loss"
            ),
            callbacks__early_stopping__patience=self.n_iter_no_change or float("inf"),
            callbacks__early_stopping__threshold=self.tol,
            callbacks__early_stopping__threshold_mode="abs",
            callbacks__early_stopping__load_best=self.early_stopping,
        )
        if self.learning_rate == "cosine":
            params["callbacks__schedule__epochs"] = self.max_iter
        else:
            params["callbacks__schedule"] = None
        if self.verbose:
            params["callbacks__progress__epochs"] = self.max_iter
        else:
            params["callbacks__progress"] = None
        if _takes_weight_decay(optimizer):
            # also alpha=0: some optimizers (AdamW) decay by default
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
        logging, and the callbacks' settings are left out."""
        built = net.get_params()
        return {
            key: (built.get(key), value)
            for key, value in self._net_params(n_features, n_components).items()
            if key not in _UNCOMPARED
            and not key.startswith("callbacks__")
            and isinstance(value, str | numbers.Number | tuple | type | torch.dtype | None)
            and built.get(key) != value
        }

    def _prepare_net(self, n_features, n_components, *, resume):
        """The net to train, built from the current parameters; if ``resume``, it
        continues from ``net_``'s weights, optimizer state and history, copied, so
        that ``net_`` itself is untouched until the fit succeeds."""
        # in a process group, one model: the same initial weights on every rank, and
        # a stream of its own for each rank's shuffling, noise and dropout
        seed, stream = _shared_seeds(_draw_seed(self.random_state))
        net = _make_net(self._net_class, seed, **self._net_params(n_features, n_components))
        if stream != seed:
            _seed_net(net, stream)
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

    def _train_net(self, net, data, sample_weight, *, incremental):
        """Train ``net`` on the rows of ``data`` (weighted by ``sample_weight``, or
        None): one epoch for ``partial_fit``, else up to ``max_iter``, after which a
        ConvergenceWarning follows a run that used them all while the loss was
        still improving (unless ``n_iter_no_change`` is None: a fixed budget)."""
        epochs = 1 if incremental else self.max_iter
        n_before = len(net.history)
        callbacks = dict(net.callbacks_)
        if "progress" in callbacks:
            callbacks["progress"].epochs = epochs
        if "schedule" in callbacks:
            # a partial_fit epoch has no horizon to anneal over
            callbacks["schedule"].epochs = None if incremental else epochs
        rows = _training_tensor(data, net.device)
        weights = None
        if sample_weight is not None:
            # averaging 1 (over every rank's rows in a process group), so that the
            # loss keeps its scale and tol its meaning
            # rescaled by the largest first, so that no sum overflows or underflows
            scaled = sample_weight / _global_max(sample_weight.max())
            total, count = _global_sums([scaled.sum(), len(scaled)])
            weights = torch.from_numpy(scaled * (count / total))
            weights = weights.to(rows.device if isinstance(rows, torch.Tensor) else "cpu")
        net.partial_fit(_Rows(rows, weights=weights), epochs=epochs)
        stopper = callbacks["early_stopping"]
        ran = len(net.history) - n_before
        if not incremental and self.n_iter_no_change is not None and ran == epochs:
            if stopper.misses_ < stopper.patience:
                warnings.warn(
                    f"{type(self).__name__}: maximum iterations ({ran}) reached and the "
                    "optimization hasn't converged yet; raise max_iter or tol, or set "
                    "n_iter_no_change=None to train for exactly max_iter epochs.",
                    ConvergenceWarning,
                    stacklevel=_caller_level(),
                )

    def _set_net(self, net, *, resume):
        """Make ``net`` the fitted network and record its training history: the
        epochs it ran after those of ``net_`` if ``resume``."""
        # the epochs after those copied from net_ (a loaded net_ holds only the last
        # of its epochs, see _restored_net)
        new = net.history[len(self.net_.history) if resume else 0 :]
        self.n_iter_ = (self.n_iter_ if resume else 0) + len(new)
        self.net_ = net
        self.loss_curve_ = (self.loss_curve_ if resume else []) + [
            float(epoch["train_loss"]) for epoch in new
        ]
        if self.early_stopping:
            scores = [-float(epoch["valid_loss"]) for epoch in new]
            previous = self.validation_scores_ if resume else None
            self.validation_scores_ = (previous or []) + scores
            # the weights kept are this call's best epoch's
            self.best_validation_score_ = max(scores)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # -- what a file holds, and the net rebuilt from it -----------------------

    def _saved_state(self):
        """``(attributes, tensors)`` that :func:`skae.save` stores: the fitted
        attributes of ``_fitted_state``, and the module's weights and buffers
        (``module.*``) and the optimizer's per-parameter state
        (``optimizer.state.<index>.<key>``) as NumPy arrays."""
        attributes = {k: v for k, v in vars(self).items() if k in self._fitted_state}
        return attributes, _net_tensors(self.net_)

    def _cpu_net_params(self):
        """The skorch arguments that describe the fitted net on the CPU, also where
        the estimator's device does not exist here."""
        return self._on_cpu()._net_params(self.n_features_in_, self.n_components_)

    def _on_cpu(self):
        return clone(self).set_params(device="cpu")

    def _check_net_matches_params(self):
        """Raise ValueError where the parameters no longer describe ``net_`` (set
        after fit), since a net rebuilt from them would differ."""
        net, cpu = self.net_, self._on_cpu()
        now = cpu._net_params(self.n_features_in_, self.n_components_)
        changes = cpu._net_changes(net, self.n_features_in_, self.n_components_) | {
            key: (getattr(net, key), now[key])
            for key in ("lr", "batch_size")
            if getattr(net, key) != now[key]
        }
        if changes:
            raise ValueError(
                f"its parameters no longer describe its fitted network, which was "
                f"built with {_describe_changes(changes)}. Were they changed after fit? "
                "Refit, or set them back, before saving."
            )

    def _check_consistency(self):
        """Raise ValueError where fitted attributes, each well formed, contradict
        each other or the parameters (what ``skae.load`` checks after the
        entries of ``_fitted_state``)."""
        n_components = self.n_components
        if isinstance(n_components, numbers.Integral) and n_components != self.n_components_:
            raise ValueError(
                f"n_components={self.n_components!r} but n_components_={self.n_components_!r}."
            )
        # the network's history is rebuilt from these, so they must agree as fit leaves them
        n_iter, scores = self.n_iter_, self.validation_scores_
        best = self.best_validation_score_
        if (
            len(self.loss_curve_) != n_iter
            or (scores is None) == self.early_stopping
            or (scores is None and best is not None)
            or (scores is not None and (len(scores) != n_iter or best not in scores))
        ):
            raise ValueError(
                f"n_iter_={n_iter}, loss_curve_, validation_scores_ and best_validation_score_"
                f" do not agree with each other or with early_stopping={self.early_stopping}"
                ": fit records one loss and, with early stopping, one validation score per "
                "epoch, the best of its last run among them."
            )

    def _restore_net(self, tensors):
        """Set ``net_``, on the CPU, from the parameters and fitted attributes, with
        the weights and optimizer state it takes out of ``tensors`` (checked
        against what the parameters imply)."""
        scores = self.validation_scores_
        self.net_ = _restored_net(
            self._net_class,
            self._cpu_net_params(),
            tensors,
            self.loss_curve_,
            None if scores is None else [-score for score in scores],
        )

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
        # a linear autoencoder of no components has codes of width 0, as PCA
        Z = check_array(X, dtype=[np.float64, np.float32], ensure_min_features=0)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform of "
                f"{type(self).__name__} expects codes of width n_components_="
                f"{self.n_components_}."
            )
        return self._decode(Z)

    def score_samples(self, X):
        """Score of each sample: higher is more typical.

        What the score measures is the estimator's own, as its class documentation
        says (a negative reconstruction error, a log-likelihood or an ELBO).
        Computed chunk by chunk, so memory beyond the output does not grow with
        ``n_samples``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Score of each sample.
        """
        check_is_fitted(self)
        return self._score_samples(self._validate(X, reset=False))

    def score(self, X, y=None, sample_weight=None):
        """Mean of ``score_samples``, so that a search can rank candidates.

        Estimators' scores measure different things (see each class), so a search
        over several kinds of estimator without ``scoring=`` ranks them on
        different scales; ``scoring=skae.metrics.reconstruction_scorer`` ranks
        every transformer with ``inverse_transform`` by the same squared
        reconstruction error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean (a search routes the held-out
            rows' weights here with ``set_score_request(sample_weight=True)``).

        Returns
        -------
        score : float
            ``score_samples(X).mean()``, weighted by ``sample_weight``.
        """
        scores = self.score_samples(X)
        if sample_weight is None:
            return float(scores.mean())
        weights = _check_weights(sample_weight, scores[:, None])
        # rows of zero weight do not count, whatever they score (-inf included)
        kept = weights > 0
        return float(np.average(scores[kept], weights=weights[kept] / weights.max()))

    def _score_samples(self, X):
        """``score_samples`` of validated ``X``."""
        return -self._reconstruction_errors(X)

    def _reconstruction_errors(self, X):
        """Per-sample reconstruction error of validated ``X``: the Bernoulli
        divergence for a Bernoulli model, else the squared error, averaged over
        the features."""
        if self._bernoulli_setting is not None:
            return self._run_module(
                lambda module, x: _bernoulli_divergence(
                    module.decode(module.encode(x)).to(x.dtype), x
                ),
                X,
            )
        return _squared_errors(X, lambda chunk: self._decode(self._encode(chunk)), dtype=X.dtype)

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
        tags.input_tags.sparse = True
        return tags

    # -- inference ------------------------------------------------------------

    def _run_module(self, function, X):
        """``function(module, x)`` over the rows of ``X`` chunk by chunk, without
        gradients, into one preallocated output: memory beyond the output is one
        chunk's, also for a memmap larger than memory."""
        module = self.net_.module_
        dtype = _TORCH_DTYPES[X.dtype.type]
        if next(module.parameters()).dtype != dtype:
            # evaluating the float32-trained network in float64 for float64 input
            # keeps full precision and makes results independent of the chunking
            module = copy.deepcopy(module).to(dtype)
        module.eval()
        out = None
        with torch.no_grad(), self.net_.autocast():
            for rows in _chunks(X.shape[0], max(X.shape[1], self.n_features_in_)):
                x = _as_tensor(_dense(X[rows])).to(device=self.net_.device, dtype=dtype)
                part = function(module, x).to(dtype).cpu().numpy()
                if out is None:
                    out = np.empty((X.shape[0], *part.shape[1:]), dtype=part.dtype)
                out[rows] = part
                del x, part  # before the next chunk is allocated
        return out

    def _encode(self, X):
        return self._run_module(lambda module, x: module.encode(x), X)

    def _decode(self, Z):
        if self._sigmoid_output:
            return self._run_module(lambda module, z: torch.sigmoid(module.decode(z)), Z)
        return self._run_module(lambda module, z: module.decode(z), Z)
