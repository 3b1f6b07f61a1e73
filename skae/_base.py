"""The base every skae estimator shares, top to bottom: its parameters and their
checks, building the skorch net, training it (all-or-nothing), what a fitted
estimator saves and how its net is rebuilt, then inference (``transform``,
``inverse_transform``, ``score_samples``) chunk by chunk."""

import numbers
import warnings
from abc import ABC
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._batches import _RandomSplit
from ._changes import _cannot_continue, _changed_args, _check_scored_settings, _describe_changes
from ._distributed import _check_launched_alone, _OnEveryRank, _shared_seeds
from ._losses import _bernoulli_divergence
from ._missing import _as_fill, _check_fill_state, _check_rows_observed, _filled, _hide_unobserved
from ._net import (
    _AutoencoderNet,
    _continue_from,
    _fill_values,
    _fused_supported,
    _make_net,
    _net_tensors,
    _on_cpu,
    _resolve_device,
    _restore_device,
    _restored_net,
    _run_chunks,
    _state_digest,
    _takes_weight_decay,
    _training_rows,
)
from ._random import _draw_seed
from ._validation import (
    _BOOLEAN,
    _N_JOBS,
    _NONE,
    _RANDOM_STATE,
    _Array,
    _caller_level,
    _check_optimizer_settings,
    _check_training_record,
    _check_unit_interval,
    _check_weights,
    _Fitted,
    _in_memory_table,
    _Instance,
    _Interval,
    _ListOf,
    _merged_table,
    _Options,
    _SubclassOf,
    _validate_params,
)
from ._version import _check_release, _with_release
from .metrics import _squared_errors, _weighted_rows

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

# the precision parameter's values: the dtype autocast computes in (None: none)
_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

# parameters that may differ between the ranks of a process group: where each rank
# runs, what it prints, and its seed (rank 0's seeds every rank)
_RANK_OWN = {"device", "verbose", "random_state", "n_jobs"}

# what X may be: floats (others converted to float64), sparse rows, NaN (missing)
_INPUT = dict(dtype=[np.float64, np.float32], accept_sparse="csr", ensure_all_finite="allow-nan")

# every public estimator class, by name, registered as it is defined
_ESTIMATORS = {}


@contextmanager
def _all_or_nothing(estimator):
    """Leave ``estimator`` exactly as it was if the block raises (bad data, divergence,
    Ctrl-C): the block replaces fitted values, never mutates them in place."""
    saved = dict(vars(estimator))
    try:
        yield
    except BaseException:
        # in one step: emptied first, it lost its parameters to a second Ctrl-C
        estimator.__dict__ = saved
        raise


class _BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, ABC):
    """Shared fit / partial_fit / transform / inverse_transform / score_samples.

    A subclass supplies ``_net_params`` (its module and criterion added to the
    skorch arguments here) and its own entries of ``_parameter_rules`` and
    ``_fitted_state``, merged with its bases' when the class is defined, which also
    registers a public subclass with :func:`skae.save` and :func:`skae.load`. Both
    ``fit`` and ``partial_fit`` go through ``_fit`` (all-or-nothing) to
    ``_fit_validated``, which the linear autoencoder replaces with its solvers.
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
        "n_jobs": _N_JOBS,
    }

    # the release that added each parameter the first files (0.2.0) may lack (load)
    _parameters_added = {"learning_rate": "0.2.0", "precision": "0.2.0", "n_jobs": "0.3.0"}

    # every fitted attribute and what it must be, which skae.load checks a file by
    _fitted_state = {
        "n_features_in_": _Fitted(_Interval(numbers.Integral, 1, None)),
        "n_components_": _Fitted(_Interval(numbers.Integral, 1, None)),
        "feature_names_in_": _Array("n_features_in_", strings=True, optional=True),
        "n_iter_": _Fitted(_Interval(numbers.Integral, 0, None)),
        # every loss skae trains on (squared error, cross-entropy, negative ELBO) is >= 0
        "loss_curve_": _Fitted(_ListOf(_Interval(numbers.Real, 0, None))),
        "validation_scores_": _Fitted(_NONE, _ListOf(_Interval(numbers.Real, None, None))),
        "best_validation_score_": _Fitted(_NONE, _Interval(numbers.Real, None, None)),
    }

    _min_samples = 1  # rows the first fit needs at least

    _scored_settings = ()  # what scores read: criterion__<name> (_check_scored_settings)

    _net_class = _AutoencoderNet  # the skorch net class that trains the module

    # whether inverse_transform applies a sigmoid to the decoder's raw output
    _sigmoid_output = False

    # ("setting", "alternative") where the network's output is the logits of a
    # Bernoulli model: X must then lie in [0, 1], and reconstruction errors are
    # Bernoulli divergences rather than squared errors
    _bernoulli_setting = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for table in ("_parameter_rules", "_fitted_state", "_parameters_added"):
            setattr(cls, table, _merged_table(cls, table))
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
        n_jobs,
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
        self.n_jobs = n_jobs

    # -- fitting --------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Fit the estimator to ``X``.

        The fit is all-or-nothing: if it raises (bad data, a diverging loss,
        ``KeyboardInterrupt``), the estimator is left exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, float32 or float64 (other numbers are converted to float64).
            A sparse matrix (CSR, or one scipy converts to CSR) is never densified whole:
            a network's dense work (a custom module's input, a full reconstruction) takes
            a minibatch at a time (the linear AE's class says what it keeps instead);
            AutoencoderImputer and categorical columns take dense input only. Never modified.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: every sample weighs 1).
            The training loss is the weighted mean of the samples' losses, with
            the weights rescaled to average 1 over the rows of the call (of each
            part of an early-stopping split), so their scale does not matter;
            what else they weigh, each class says (a category of rows of weight
            zero only is still in ``categories_``). Via a Pipeline or a search
            with metadata routing: ``set_fit_request(sample_weight=True)``.

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
            A chunk of training data, as ``fit`` takes it.
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
            _check_launched_alone()
            with _OnEveryRank() as ranks:
                self._check_params()
                _resolve_device(self.device)  # a device one rank lacks fails on every rank
                resume = (incremental or self.warm_start) and hasattr(self, "net_")
                minimum = self._min_rows(incremental=incremental, resume=resume)
                X = self._validate(X, reset=not resume, ensure_min_samples=minimum)
                if sample_weight is not None:
                    sample_weight = _check_weights(sample_weight, X)
            ranks.agree(
                lambda: (
                    {
                        "n_features": X.shape[1],
                        "continuing": bool(resume),
                        "partial_fit": bool(incremental),
                        "continued": _state_digest(self) if resume else "",
                        "weighted": sample_weight is not None,
                        "feature_names_in_": list(getattr(self, "feature_names_in_", [])),
                    }
                    | {k: v for k, v in self.get_params(deep=False).items() if k not in _RANK_OWN}
                )
            )
            self._fit_validated(X, sample_weight, resume=resume, incremental=incremental)
        return self

    def _check_params(self):
        """Raise for a parameter outside its allowed forms, or for settings that
        contradict each other: the rules of ``fit``, which ``skae.load`` applies."""
        _validate_params(self, self._parameter_rules)
        self._check_settings()

    def _check_settings(self):
        """Raise ValueError for parameters that contradict each other (a subclass
        adds its own after these)."""
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        _check_optimizer_settings(optimizer, self.alpha, self.precision)

    def _min_rows(self, *, incremental, resume):
        return 1 if incremental and resume else self._min_samples  # a chunk merges in

    def _validate(self, X, **kwargs):
        """``X`` checked as ``validate_data`` does, as float32 or float64 (a Dask
        DataFrame as its pandas frame); sparse input as CSR in canonical form, no
        zero stored (sampling draws among the zeros not stored), copied if need be."""
        X = validate_data(self, _in_memory_table(X), **_INPUT, **kwargs)
        if sp.issparse(X) and (not X.has_canonical_format or not X.data.all()):
            # scipy's min, max and sums canonicalize the caller's matrix in place
            X = X.copy()
            X.sum_duplicates()
            X.eliminate_zeros()
        return X

    def _validate_scored(self, X):
        """``X`` validated for a score, as ``transform`` takes it."""
        return _hide_unobserved(self, self._validate(X, reset=False))

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        """Fit on validated ``X`` (rows weighted by ``sample_weight``, or None),
        continuing ``net_`` if ``resume`` (``incremental``: for ``partial_fit``)."""
        with _OnEveryRank() as ranks:  # this rank's rows: every rank raises if one fails
            _check_rows_observed(X, "learn from", sample_weight)
            if self._bernoulli_setting is not None:
                _check_unit_interval(X, *self._bernoulli_setting, sample_weight)
        ranks.agree()
        net = self._prepare_net(X.shape[1], self.n_components, resume=resume)
        merge = incremental and resume and hasattr(self, "fill_values_")
        self.fill_values_, self.n_observed_ = _fill_values(
            net, X, sample_weight, (self.fill_values_, self.n_observed_) if merge else None
        )
        # a missing entry enters the network as its feature's fill value
        net.iterator_train__fill = net.iterator_valid__fill = torch.from_numpy(self.fill_values_)
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
            n_jobs=self.n_jobs,
            verbose=0,
            callbacks__early_stopping__monitor=(
                "valid_loss" if self.early_stopping else "train_loss"
            ),
            callbacks__early_stopping__patience=self.n_iter_no_change or float("inf"),
            callbacks__early_stopping__threshold=self.tol,
            callbacks__early_stopping__threshold_mode="abs",
            callbacks__early_stopping__load_best=self.early_stopping,
        )
        # a callback set to None is off
        for name, on in (("schedule", self.learning_rate == "cosine"), ("progress", self.verbose)):
            params.update(
                {f"callbacks__{name}__epochs": self.max_iter}
                if on
                else {f"callbacks__{name}": None}
            )
        if _takes_weight_decay(optimizer):
            # also alpha=0: some optimizers (AdamW) decay by default
            params["optimizer__weight_decay"] = self.alpha
        if self.alpha > 0:
            # a second parameter group costs a second optimizer kernel per step
            params["optimizer__param_groups"] = [("*bias*", {"weight_decay": 0.0})]
        if _fused_supported(optimizer, device):
            # one fused kernel per step instead of a loop of small ones: about 15 %
            # off an MNIST epoch on 2 CPU cores
            params["optimizer__fused"] = True
        return params

    def _prepare_net(self, n_features, n_components, *, resume):
        """The net to train, from the current parameters; if ``resume``, continuing
        from copies of ``net_``'s weights, optimizer state and history (``net_`` is
        untouched until the fit succeeds)."""
        # in a process group, one model: the same initial weights on every rank, and
        # a stream of its own for each rank's shuffling, noise and dropout
        seed, stream = _shared_seeds(_draw_seed(self.random_state))
        params = self._net_params(n_features, n_components)
        net = _make_net(self._net_class, seed, stream=stream, **params)
        if not resume:
            return net
        architecture = {
            key.removeprefix("module__"): change
            for key, change in _changed_args(self.net_, params).items()
            if key == "module" or key.startswith("module__")
        }
        if self.early_stopping and self.validation_scores_ is None:  # no scores to extend
            architecture["early_stopping"] = (False, True)
        if architecture:
            raise _cannot_continue(architecture)
        _continue_from(net, self.net_, self.n_iter_)
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
        net.partial_fit(_training_rows(data, sample_weight, net.device), epochs=epochs)
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
            self.validation_scores_ = (self.validation_scores_ if resume else []) + scores
            self.best_validation_score_ = max(scores, default=None)  # this call's best: kept
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # -- what a file holds, and the net rebuilt from it -----------------------

    def _saved_state(self):
        """``(attributes, tensors)`` that :func:`skae.save` stores: the fitted
        attributes of ``_fitted_state``, and as NumPy arrays the module's weights and
        buffers (``module.*``) and the optimizer's state (``optimizer.state.<i>.<key>``)."""
        attributes = {k: v for k, v in vars(self).items() if k in self._fitted_state}
        return attributes, _net_tensors(self.net_)

    def _cpu_net_params(self):
        """The skorch arguments of the fitted net, on the CPU (its device may be missing here)."""
        cpu = clone(self).set_params(device="cpu")
        return cpu._net_params(self.n_features_in_, self.n_components_)

    def _check_net_matches_params(self):
        """Raise ValueError where the parameters no longer describe ``net_`` (set
        after fit), since a net rebuilt from them would differ."""
        changes = _changed_args(self.net_, self._cpu_net_params(), training=True)
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
        # the network's history is rebuilt from these
        _check_training_record(self)
        _check_fill_state(self)

    def _restore_net(self, tensors):
        """Set ``net_``, on the CPU, from the parameters and fitted attributes, with
        the weights and optimizer state it takes out of ``tensors`` (checked
        against what the parameters imply)."""
        scores, params = self.validation_scores_, self._cpu_net_params()
        valid = None if scores is None else [-score for score in scores]
        self.net_ = _restored_net(self._net_class, params, tensors, self.loss_curve_, valid)

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
        return self._encode(_hide_unobserved(self, self._validate(X, reset=False)))

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
        says (a negative reconstruction error, a log-likelihood or an ELBO); a
        row whose score overflows scores ``-inf``, the most anomalous. Computed
        chunk by chunk, so memory beyond the output does not grow with ``n_samples``.

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
        X = self._validate_scored(X)
        _check_rows_observed(X, "score", hidden=True)
        scores = self._score_samples(X)
        return np.where(np.isnan(scores), -np.inf, scores)  # overflowed: the most anomalous

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
        if sample_weight is None:
            return float(self.score_samples(X).mean())
        X, weights = _weighted_rows(X, sample_weight)  # those of positive weight
        return float(np.average(self.score_samples(X), weights=weights))

    def _score_samples(self, X):
        """``score_samples`` of validated ``X``."""
        return -self._reconstruction_errors(X)

    def _reconstruction_errors(self, X):
        """Per-sample reconstruction error of validated ``X``, averaged over the
        features: the Bernoulli divergence for a Bernoulli model, else squared."""
        _check_scored_settings(self)
        if self._bernoulli_setting is not None:
            fill = _as_fill(self)
            return _run_chunks(
                self,
                lambda module, x: _bernoulli_divergence(
                    module.decode(module.encode(_filled(x, fill))).to(x.dtype), x
                ),
                X,
            )
        return _squared_errors(X, lambda chunk: self._decode(self._encode(chunk)), dtype=X.dtype)

    def __getstate__(self):
        # CPU tensors, which load without a GPU; the live network stays where it is
        state = dict(super().__getstate__())
        if "net_" in state:
            state["net_"] = _on_cpu(state["net_"])
        return _with_release(state)

    def __setstate__(self, state):
        super().__setstate__(_check_release(state, type(self)))
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
        tags.input_tags.allow_nan = True
        tags.input_tags.positive_only = self._bernoulli_setting is not None  # [0, 1] in fact
        return tags

    # -- inference ------------------------------------------------------------

    def _encode(self, X):
        fill = _as_fill(self)
        return _run_chunks(self, lambda module, x: module.encode(_filled(x, fill)), X, sparse=True)

    def _decode(self, Z):
        _check_scored_settings(self)
        output = torch.sigmoid if self._sigmoid_output else torch.nn.Identity()
        return _run_chunks(self, lambda module, z: output(module.decode(z)), Z)
