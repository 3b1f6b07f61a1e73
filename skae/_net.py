"""The skorch engine under every skae estimator.

``_AutoencoderNet`` is a ``skorch.NeuralNet`` that learns to reconstruct its input.
It changes skorch through its hooks only: the iterators and the split (``_batches``:
shuffled slices of one tensor instead of a ``DataLoader`` collating single rows, so
the caller's array is never copied whole), the loss, its callbacks (``_callbacks``),
a leaner ``train_step``, and a ``partial_fit`` that lets ``KeyboardInterrupt``
through. ``_make_net`` builds one, its weights drawn from a seed (``_random``). Where
a net runs (device placement, the training tensor on a GPU, fused optimizers), what
it infers in chunks, and its state as a file stores and restores it live here too.
"""

import copy
import hashlib
import inspect
import sys
import warnings
import zlib
from contextlib import contextmanager, suppress

import numpy as np
import scipy.sparse as sp
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.dataset import unpack_data
from skorch.history import History
from skorch.utils import to_tensor

from ._batches import _Batches, _normalized_weights, _Rows
from ._callbacks import _CosineSchedule, _EarlyStopping, _EpochLog, _StopOnDivergence
from ._changes import _comparable
from ._chunks import _chunks, _dense
from ._distributed import (
    _average_gradients,
    _AverageEpochLosses,
    _global_sums,
    _group_size,
    _leave_step,
)
from ._missing import _merged_means
from ._modules import (
    _check_module,
    _check_trainable,
    _check_unwritten,
    _Dropout,
    _SparseRows,
    _takes_sparse_rows,
    _VariationalMLP,
)
from ._random import _DrawFrom
from ._sampling import _Sample
from ._threads import _intra_op_threads, _ThreadTrials
from ._validation import _N_JOBS, _check_same_tensors, _validate_params

# the torch dtype that computes on a NumPy float dtype
_TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


# a restored net's skorch history holds at most this many of the last epochs, so a
# file cannot make loading build a large history from a short list of losses (the
# estimator's loss_curve_ and validation_scores_ keep every epoch)
_LOADED_HISTORY = 10_000

# the optimizer state that torch's optimizers never make negative, by name ending
_NON_NEGATIVE_STATE = (
    *(".step", "_sq", ".square_avg", ".sum", ".acc_delta", ".exp_inf"),  # squares, counts
    *(".eta", ".mu", ".step_size", ".mu_product"),  # step sizes and products of them
    *("_var", ".variance"),  # Adafactor's second moments
)


class _AutoencoderNet(NeuralNet):
    """skorch net whose batches come from ``_Batches`` and whose target is the input.

    ``precision`` is the dtype that forward and backward passes compute in under
    ``torch.autocast`` (None: the module's own); float16 scales the loss with a
    ``torch.amp.GradScaler``. Parameters and optimizer state keep their dtype.
    ``n_jobs`` is the estimator's parameter: the intra-op threads of training and
    inference (see ``_thread_count``; ``_ThreadTrials`` times the training steps
    that run on several threads against steps on one).
    """

    def __init__(self, *args, precision=None, n_jobs=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision
        self.n_jobs = n_jobs

    def threads(self, rows):
        """The intra-op threads, in this thread, of steps on ``rows`` rows."""
        return _intra_op_threads(self.n_jobs, rows, self.module_)

    def initialize(self):
        super().initialize()
        # float16's narrow range needs the loss scaled; bfloat16 has float32's
        self.scaler_ = None
        if self.precision == torch.float16:
            self.scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self

    def autocast(self):
        """The mixed-precision context of a forward pass (a no-op without one)."""
        return _autocast(self.device, self.precision)

    def initialize_optimizer(self, triggered_directly=None):
        # optimizer=None: a net that never trains (a closed-form solve) has no
        # optimizer, which spares the second of imports (torch._dynamo) that
        # torch's first optimizer costs
        if self.optimizer is None:
            return self
        _check_trainable(self.module_)
        return super().initialize_optimizer(triggered_directly)

    def __getstate__(self):
        # skorch pickles the module and optimizer apart, with the standard pickler,
        # which stores a module class defined in __main__ (a notebook's, or one that
        # cloudpickle sent to a joblib worker) by a reference that does not resolve
        # elsewhere; the estimator moves the net to the CPU before it is pickled, so
        # its state is pickled as it is, by whichever pickler pickles the estimator
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)

    @property
    def _default_callbacks(self):
        # skorch's, then every callback a skae fit configures through its
        # callbacks__<name>__* arguments (None switches one off): losses averaged
        # over the ranks before early stopping reads them, divergence checked at
        # every batch, the threads of each step, then the schedule and the progress
        # lines
        return [
            *super()._default_callbacks,
            ("distributed", _AverageEpochLosses()),
            ("early_stopping", _EarlyStopping()),
            ("divergence", _StopOnDivergence()),
            ("threads", _ThreadTrials()),
            ("schedule", _CosineSchedule(None)),
            ("progress", _EpochLog(None)),
        ]

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's EarlyStopping ends training by raising KeyboardInterrupt, so
        # skorch's partial_fit takes every KeyboardInterrupt for the end of training
        # and returns. fit_loop carries a real Ctrl-C past it as an _Interrupted,
        # turned back into the KeyboardInterrupt here: the estimator keeps its
        # previous state.
        try:
            return super().partial_fit(X, y, classes, **fit_params)
        except _Interrupted as interrupted:
            raise interrupted.__cause__ from None

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # looked up once here rather than on every batch
        self.input_dtype_ = next(self.module_.parameters()).dtype
        rows = len(X) if self.batch_size == -1 else min(self.batch_size, len(X))
        try:
            with _subnormals_flushed(), self.threads(rows):
                if not len(self.history):
                    # a new network: its module keeps the shapes the estimator needs
                    _check_module(self.module_, self.module__n_features, self.module__n_components)
                return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt as interrupt:
            if any(
                isinstance(callback, EarlyStopping) and callback.misses_ == callback.patience
                for _, callback in self.callbacks_
            ):
                raise
            raise _Interrupted from interrupt

    def train_step(self, batch, **fit_params):
        # skorch's train_step also builds a generator over every parameter on each
        # batch for on_grad_computed callbacks, which skae does not use; this is
        # its bookkeeping-free equivalent (the closure serves L-BFGS)
        distributed = _group_size() > 1
        if distributed and isinstance(self.optimizer_, torch.optim.LBFGS):
            # every rank reaches this step with the same (agreed) parameters
            raise ValueError(
                "L-BFGS's line search evaluates the loss several times a step, which "
                "data-parallel training does not average; use optimizer='adam' or "
                "'sgd' in a process group."
            )
        if self.scaler_ is not None or distributed:
            self.optimizer_.zero_grad()
            try:
                step = self.train_step_single(batch, **fit_params)
            except BaseException:
                if distributed:  # the other ranks wait for this one's gradients
                    with suppress(Exception):  # this rank's error first
                        _leave_step(self.module_)
                raise
            if distributed:
                # the gradient of the mean loss over every rank's batch
                step["loss"] = _average_gradients(self.module_, step["loss"], len(batch[0]))
            if self.scaler_ is None:
                self.optimizer_.step()
            else:
                # a scaled step skips where the gradients overflowed, and halves the
                # scale: the batch's record says which steps changed nothing
                scale = self.scaler_.get_scale()
                self.scaler_.step(self.optimizer_)
                self.scaler_.update()
                self.history.record_batch("skipped", self.scaler_.get_scale() < scale)
            return step
        steps = []

        def closure():
            self.optimizer_.zero_grad()
            steps.append(self.train_step_single(batch, **fit_params))
            return steps[-1]["loss"]

        self.optimizer_.step(closure)
        return steps[0]

    def train_step_single(self, batch, **fit_params):
        # skorch's, with the forward pass under autocast and a scaled backward
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with self.autocast():
            y_pred = self.infer(Xi, sample=_sample_of(yi), **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        (loss if self.scaler_ is None else self.scaler_.scale(loss)).backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            with self.autocast():
                y_pred = self.infer(Xi, sample=_sample_of(yi), **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def _set_training(self, training=True):
        # skorch sets the mode of every submodule on every batch, a recursive walk
        # that costs about 5 % of an MNIST epoch; only a change of mode needs it
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # the target is the batch (or its _Sample), or (that, its rows' weights):
        # see _Batches
        targets = y_true if isinstance(y_true, tuple) else [y_true]
        targets = [
            t.to(self.device) if isinstance(t, _Sample) else to_tensor(t, device=self.device)
            for t in targets
        ]
        # a forward pass in mixed precision gives bfloat16 or float16 outputs; the
        # loss sums hundreds of terms, so it is computed in the module's own dtype
        y_pred = tuple(p.to(self.input_dtype_) for p in y_pred)
        return self.criterion_(y_pred, *targets)

    def infer(self, x, sample=None, **fit_params):
        """``(raw reconstruction, codes)`` of ``x``, in the module's dtype; with a
        ``_Sample``, the reconstruction of its entries only."""
        x = x.to(device=self.device, dtype=self.input_dtype_)
        version = x._version if isinstance(x, torch.Tensor) else None  # not _SparseRows
        codes = self.module_.encode(x)
        if version is not None:
            # x is the batch's target where there is no noise nor fill: a module in
            # training mode (a Dropout(inplace=True) first) must not have written it
            _check_unwritten(type(self.module_).__name__, "encode", x, version)
        return _decoded(self.module_, codes, sample), codes


class _Interrupted(BaseException):
    """A real ``KeyboardInterrupt``, as its cause, on its way out of skorch's
    ``partial_fit``."""


class _VAENet(_AutoencoderNet):
    """The net of a variational autoencoder: the decoder sees a reparameterized
    sample of the posterior, its noise drawn from the fit's generator."""

    def infer(self, x, sample=None, **fit_params):
        """``(raw reconstruction, posterior mean, posterior log-variance)``."""
        x = x.to(device=self.device, dtype=self.input_dtype_)
        module = self.module_
        mean, log_var = module.posterior(x)
        noise = torch.randn(mean.shape, dtype=mean.dtype, generator=module.generator)
        z = mean + torch.exp(0.5 * log_var) * noise.to(mean.device)
        return _decoded(module, z, sample), mean, log_var


def _sample_of(target):
    """The ``_Sample`` of a batch's target (see ``_Batches``), or None."""
    target = target[0] if isinstance(target, tuple) else target
    return target if isinstance(target, _Sample) else None


def _decoded(module, codes, sample):
    """``module.decode(codes)``, or its entries of ``sample`` only."""
    if sample is None:
        return module.decode(codes)
    sample = sample.to(codes.device)
    return module.decode(codes, at=(sample.rows, sample.columns))


def _seed_net(net, seed, *, split=True):
    """Give ``net`` a fresh generator seeded by ``seed`` for its shuffling, noise,
    dropout and, with ``split``, validation split."""
    generator = torch.Generator().manual_seed(seed)
    # a plain attribute, as skorch stores every iterator_train__* argument
    # (set_params would re-initialize the network)
    net.iterator_train__generator = generator
    if split and net.train_split is not None:
        net.train_split.generator = generator
    for layer in net.module_.modules():
        if isinstance(layer, _Dropout | _VariationalMLP):
            layer.generator = generator


def _continue_from(net, previous, epochs):
    """Start ``net`` where ``previous`` stopped, after ``epochs`` epochs in all: a
    copy of its weights, history and, where the optimizer is of the same kind with
    the same parameter groups, its state (moments, step counts); ``net``'s own
    optimizer settings stay. Copies of tensors, not of the net object, which need
    not be picklable."""
    net.module_.load_state_dict(previous.module_.state_dict())
    # training appends new epochs and never changes recorded ones, so the records
    # are shared: a call costs the same after ten chunks or ten thousand
    net.history = History(previous.history)
    # its draws go on from the epochs trained: the same seed again would repeat the
    # first call's shuffles, noise and samples in every partial_fit call; the
    # validation split is drawn from the call's seed, the first call's for an int
    # random_state, so held-out rows stay held out. The count is the estimator's,
    # not the history's length: a loaded net holds only its last epochs
    first = net.iterator_train__generator.initial_seed()
    stream = np.random.SeedSequence([first, epochs])
    _seed_net(net, int(stream.generate_state(1)[0]), split=False)
    scaler, state = getattr(net, "scaler_", None), _scaler_state(previous)
    if scaler is not None and state:
        # float16's loss scale goes on from where it came down to: a fresh one
        # started at 2**16 again, and a call whose only step overflowed there was
        # skipped in every call of a stream
        _load_scaler(scaler, state)
    optimizer, old = getattr(net, "optimizer_", None), getattr(previous, "optimizer_", None)
    if optimizer is None or old is None:
        return
    # load_state_dict may keep the very tensors it is given: copy them first
    state = copy.deepcopy(old.state_dict())
    if type(optimizer) is type(old) and len(state["param_groups"]) == len(optimizer.param_groups):
        settings = [
            {k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups
        ]
        optimizer.load_state_dict(state)
        for group, own in zip(optimizer.param_groups, settings, strict=True):
            group.update(own)


def _autocast(device, precision):
    """``torch.autocast`` to ``precision`` on ``device``'s type, or a no-op for None."""
    return torch.autocast(torch.device(device).type, dtype=precision, enabled=precision is not None)


def _flushing_subnormals():
    """Whether this thread's CPU arithmetic flushes subnormal floats to zero."""
    return bool(torch.tensor([1e-39]) * 2 == 0)


@contextmanager
def _subnormals_flushed():
    """Within the block, the CPU flushes subnormal floats to zero, then goes back to
    what it did. Weights whose gradients stay zero (a dead ReLU unit's) have Adam
    averages that decay into subnormals, on which a CPU computes some 30 times
    slower: a long fit would slow down epoch after epoch. A value that small is
    zero to any model. (``torch.set_flush_denormal`` sets the mode for torch's
    intra-op threads too: a fused Adam step on two threads was measured flushed.)"""
    before = _flushing_subnormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not before:
            torch.set_flush_denormal(False)


@contextmanager
def _empty_weights_allowed(n_components):
    """Silence torch's warning about initializing empty weights, which a linear
    autoencoder of no components (as ``PCA(0)``) has; only for one: ignoring
    warnings changes every thread's filters while it lasts, and fits run in
    threads at once."""
    if n_components != 0:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        yield


def _make_net(net_class, seed, stream=None, **params):
    """An initialized ``net_class`` (an ``_AutoencoderNet``) with skorch arguments
    ``params``, its module's initial weights drawn from ``seed`` and its training
    randomness from ``stream`` (None: ``seed`` too), without touching torch's
    global generator."""
    net = net_class(
        **{
            "iterator_train": _Batches,
            "iterator_train__shuffle": True,
            "iterator_valid": _Batches,
            "callbacks__print_log": None,
        }
        | params
    )
    with (
        _DrawFrom(torch.Generator().manual_seed(seed)),
        _empty_weights_allowed(params.get("module__n_components")),
    ):
        net.initialize()
    # a copy of the values it was built with: a list of module_params changed in
    # place after the fit is the net's own list too (see _changed_args)
    net.built_args_ = {key: _comparable(value, arrays=False) for key, value in params.items()}
    # sparse rows reach a module that takes them as they are (a plain attribute:
    # set_params would re-initialize the network)
    takes = _takes_sparse_rows(net.module_)
    net.iterator_train__sparse_rows = net.iterator_valid__sparse_rows = takes
    _seed_net(net, seed if stream is None else stream)
    return net


def _takes_weight_decay(optimizer):
    return "weight_decay" in inspect.signature(optimizer).parameters


def _fused_supported(optimizer, device):
    """Whether this torch has a fused kernel of ``optimizer`` (a class) for
    ``device``'s type."""
    if optimizer not in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        return False
    kind = torch.device(device).type
    # fused CPU kernels arrived in torch 2.4
    return kind == "cuda" or (kind == "cpu" and torch.__version__ >= "2.4")


def _resolve_device(device):
    """The torch device that the ``device`` parameter names, checked to exist here."""
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
    optimizer = getattr(net, "optimizer_", None)
    optimizer_state = None if optimizer is None else optimizer.state_dict()
    net.module_.to(device)
    net.criterion_.to(device)
    if optimizer is not None:
        # loading the state back casts its tensors to the parameters' new device
        optimizer.load_state_dict(optimizer_state)
    net.device = device


def _on_cpu(net):
    """``net``, or a copy of it on the CPU where it is elsewhere."""
    if torch.device(net.device).type == "cpu":
        return net
    net = copy.deepcopy(net)
    _place_net(net, "cpu")
    return net


def _restore_device(net, device):
    """Put a loaded net on ``device`` if it is usable here, else on the CPU with a warning
    (``"auto"`` falls back silently)."""
    try:
        _place_net(net, _resolve_device(device))
    except Exception as error:  # any device that cannot take it: the CPU can
        warnings.warn(f"{error} The network stays on the CPU.", UserWarning, stacklevel=3)
        _place_net(net, "cpu")


def _training_tensor(X, device):
    """The training rows as a tensor; on a GPU with room for them, moved there once,
    so that batches are sliced on the device instead of copied over one by one. A
    sparse matrix stays as it is, on the CPU: ``_Batches`` takes each batch's rows
    from it."""
    if sp.issparse(X):
        return X
    tensor = _as_tensor(X)
    if torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.nbytes < free // 2:
            tensor = tensor.to(device)
    return tensor


def _training_rows(X, sample_weight, device):
    """The ``_Rows`` a fit trains on: ``X`` as a tensor (see ``_training_tensor``),
    and ``sample_weight`` (or None) rescaled to average 1 over every rank's rows,
    so that the loss keeps its scale and ``tol`` its meaning."""
    rows = _training_tensor(X, device)
    if sample_weight is None:
        return _Rows(rows)
    weights = torch.from_numpy(_normalized_weights(sample_weight))
    return _Rows(rows, weights=weights.to(rows.device if isinstance(rows, torch.Tensor) else "cpu"))


def _observed_sums(X, weights):
    """``(sums, totals)``, each of shape (n_features,), over every rank's rows:
    the weighted sum of each feature's observed values and the total weight of its
    observed entries (``weights`` None: every row weighs 1). Chunk by chunk, so a
    memmap or a sparse matrix is never densified whole."""
    n_features = X.shape[1]
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, np.float64)
    if sp.issparse(X):
        # a hole is a stored NaN; every entry not stored is an observed zero
        holes = np.isnan(X.data)
        values, missing = X.copy(), X.copy()
        values.data = np.where(holes, 0.0, X.data.astype(np.float64))
        missing.data = holes.astype(np.float64)
        sums = np.asarray(values.T @ w).ravel()
        totals = w.sum() - np.asarray(missing.T @ w).ravel()
        # a feature missing from every row of positive weight is observed nowhere:
        # exactly 0, where the difference of two sums added in other orders left
        # +-1e-15 (a feature never observed taken as observed, or a negative count)
        positive = (w > 0).astype(np.float64)
        nowhere = np.asarray(missing.T @ positive).ravel() == positive.sum()
        totals = np.where(nowhere, 0.0, np.maximum(totals, 0.0))
    else:
        sums = np.zeros(n_features)
        totals = np.zeros(n_features)
        for rows in _chunks(*X.shape):
            chunk = np.ascontiguousarray(X[rows], dtype=np.float64)
            chunk_sums = w[rows] @ chunk
            if not np.isnan(chunk_sums).any():
                # no hole in the chunk (a NaN anywhere makes its column's sum NaN):
                # every entry observed, without the masks below, which cost four
                # passes over the data
                sums += chunk_sums
                totals += w[rows].sum()
                continue
            observed = ~np.isnan(chunk)
            sums += w[rows] @ np.where(observed, chunk, 0.0)
            totals += w[rows] @ observed
    merged = _global_sums([*sums, *totals])
    return np.asarray(merged[:n_features]), np.asarray(merged[n_features:])


def _fill_values(net, X, sample_weight, previous=None):
    """``(fill_values_, n_observed_)`` of ``net``'s next call on ``X``: each
    feature's mean over its observed values, weighted as the fit counts its rows,
    and the weight of its observed entries; merged after ``previous`` (the same
    pair, of the chunks before). A category's mean, its frequency, is read over the
    rows the net trains on: one that only the rows early stopping holds out hold
    has the frequency 0 and is untrained, as one only rows of weight zero hold."""
    weights = _normalized_weights(sample_weight)
    sums, totals = _observed_sums(X, weights)
    one_hot = sum(getattr(net, "criterion__categories", None) or ())
    if one_hot and net.train_split is not None:
        trained = np.zeros(X.shape[0])
        trained[net.train_split.next_split(X.shape[0], sample_weight)[0].numpy()] = 1.0
        kept, kept_totals = _observed_sums(X, trained if weights is None else trained * weights)
        frequency = np.divide(kept, kept_totals, out=np.zeros_like(kept), where=kept_totals > 0)
        sums[-one_hot:] = frequency[-one_hot:] * totals[-one_hot:]
    means, seen = (0.0, 0.0) if previous is None else previous
    return _merged_means(means, seen, sums, totals)


def _run_chunks(estimator, function, X, sparse=False):
    """``function(module, x)`` of a fitted estimator's module over the rows of
    ``X``, chunk by chunk (a chunk's outputs may be ``n_features_in_`` wide),
    without gradients, into one preallocated output: memory beyond the output is
    one chunk's, also for a memmap larger than memory. With ``sparse`` (a
    function whose output is narrow), the chunks of a sparse ``X`` reach a module
    that ``takes_sparse_rows`` as ``_SparseRows``: a cost of its non-zeros."""
    net = estimator.net_
    module = net.module_
    dtype = _TORCH_DTYPES[X.dtype.type]
    if next(module.parameters()).dtype != dtype:
        # evaluating the float32-trained network in float64 for float64 input
        # keeps full precision and makes results independent of the chunking
        module = copy.deepcopy(module).to(dtype)
    module.eval()
    out = None
    sparse = sparse and sp.issparse(X) and _takes_sparse_rows(module)
    width = max(X.shape[1], estimator.n_features_in_)
    if sparse:
        # the first layer gathers a weight column of each stored entry: a row's
        # share is its most entries times at most the parameters per feature
        per_feature = -(-sum(p.numel() for p in module.parameters()) // X.shape[1])
        width = int(np.diff(X.indptr).max(initial=1)) * per_feature
    chunks = list(_chunks(X.shape[0], width))
    first = chunks[0].stop - chunks[0].start if chunks else 0
    # the estimator's n_jobs as it is now (set_params after a fit applies here),
    # checked as fit checks it
    _validate_params(estimator, {"n_jobs": _N_JOBS})
    with torch.no_grad(), _intra_op_threads(estimator.n_jobs, first, module):
        for rows in chunks:
            x = _SparseRows.of(X[rows]) if sparse else _as_tensor(_dense(X[rows]))
            x = x.to(device=net.device, dtype=dtype)
            with net.autocast():
                part = function(module, x).to(dtype)
            if net.precision is not None:
                # rows past the reduced precision's range (float16's ends at 65504),
                # again in the network's own precision; the other rows keep theirs
                again = ~torch.isfinite(part.reshape(len(part), -1)).all(dim=1)
                if again.any():
                    # sparse rows are rerun as a chunk: they have no row indexing
                    rerun = function(module, x if sparse else x[again]).to(dtype)
                    part[again] = rerun[again] if sparse else rerun
            part = part.cpu().numpy()
            if out is None:
                out = np.empty((X.shape[0], *part.shape[1:]), dtype=part.dtype)
            out[rows] = part
            del x, part  # before the next chunk is allocated
    return out


def _as_tensor(X):
    """A tensor sharing memory with the array ``X``, without copying it.

    skae never writes to its input tensors, so a read-only array (a memmap opened
    with mode "r") is safe, and torch's warning about writing to it does not apply.
    Torch has no negative strides, so a reversed view (``X[::-1]``) is copied.
    """
    if any(stride < 0 for stride in X.strides):
        # a copy, since ascontiguousarray keeps a negative stride of length one
        X = X.copy()
    # a read-only array: torch's notice about it is consumed at import
    # (skae._modules._consume_torch_notices)
    return torch.from_numpy(X)


def _optimizer_state(net):
    """The optimizer's per-parameter state as ``{"optimizer.state.<index>.<key>":
    tensor}``; empty where there is no optimizer yet, or where it holds other values
    (L-BFGS keeps lists and numbers), which a file does not store."""
    optimizer = getattr(net, "optimizer_", None)
    if optimizer is None:
        return {}
    entries = {
        f"optimizer.state.{index}.{key}": value
        for index, state in optimizer.state_dict()["state"].items()
        for key, value in state.items()
    }
    return entries if all(isinstance(v, torch.Tensor) for v in entries.values()) else {}


def _scaler_state(net):
    """The loss scaler's state of a net trained in float16, as ``{"scaler.scale":
    float32, "scaler.growth_tracker": int32}`` scalar tensors; empty without a
    scaler, or before its first step."""
    scaler = getattr(net, "scaler_", None)
    state = {} if scaler is None else scaler.state_dict()
    if not state:
        return {}
    return {
        "scaler.scale": torch.tensor(state["scale"], dtype=torch.float32),
        "scaler.growth_tracker": torch.tensor(state["_growth_tracker"], dtype=torch.int32),
    }


def _load_scaler(scaler, state):
    """Set ``scaler`` (a ``GradScaler``) to ``_scaler_state``'s ``state``, its
    growth and backoff settings kept."""
    scaler.load_state_dict(
        {
            "scale": float(state["scaler.scale"]),
            "growth_factor": scaler.get_growth_factor(),
            "backoff_factor": scaler.get_backoff_factor(),
            "growth_interval": scaler.get_growth_interval(),
            "_growth_tracker": int(state["scaler.growth_tracker"]),
        }
    )


def _state_digest(estimator):
    """A digest of what a fit of ``estimator`` would continue, for the ranks of a
    group to agree on: its fitted attributes (``_fitted_state``'s), and the CRC-32
    of each of its net's tensors (weights, buffers, optimizer state), read in place
    where it is on the CPU (a SHA-256 of copies of them cost a fifth of a large
    model's partial_fit). Exact: sums of floats would differ between ranks that
    run other thread counts."""
    net = estimator.net_
    digest = hashlib.sha256()
    tensors = net.module_.state_dict() | _optimizer_state(net) | _scaler_state(net)
    for name, tensor in sorted(tensors.items()):
        data = tensor.detach().resolve_conj().contiguous().reshape(-1).view(torch.uint8)
        check = zlib.crc32(data.cpu().numpy())
        digest.update(f"{name}{tensor.dtype}{tuple(tensor.shape)}{check}".encode())
    for name, value in sorted(vars(estimator).items()):
        if name not in estimator._fitted_state:
            continue
        if isinstance(value, np.ndarray) and value.dtype != object:
            value = (value.dtype, value.shape, hashlib.sha256(value.tobytes()).hexdigest())
        with np.printoptions(threshold=sys.maxsize):  # no "..." in a long array
            digest.update(f"{name}{value!r}".encode())
    return digest.hexdigest()


def _state_after_a_step(net):
    """The state tensors that a step of ``net``'s optimizer creates, found by taking
    one with zero gradients; the optimizer is then built afresh (the weights it
    changed are about to be overwritten)."""
    parameters = [p for group in net.optimizer_.param_groups for p in group["params"]]
    for parameter in parameters:
        parameter.grad = torch.zeros_like(parameter)
    net.optimizer_.step(lambda: torch.zeros(()))
    state = _optimizer_state(net)
    for parameter in parameters:
        parameter.grad = None
    net.initialize_optimizer()
    return state


def _net_tensors(net):
    """What a file stores of a trained ``net``, as NumPy arrays: the module's
    weights and buffers (``module.*``), the optimizer's per-parameter state
    (``optimizer.state.<index>.<key>``) and float16's loss scaler (``scaler.*``)."""
    state = net.module_.state_dict(prefix="module.") | _optimizer_state(net)
    state |= _scaler_state(net)
    stored = {}
    for name, tensor in state.items():
        try:
            stored[name] = tensor.detach().cpu().contiguous().numpy()
        except TypeError:  # a dtype NumPy has not: bfloat16, float8
            raise TypeError(
                f"the network's {name} is a {tensor.dtype} tensor, which skae.save cannot "
                "store (NumPy has no such dtype): build the module in float32 "
                '(precision="bfloat16" computes in bfloat16 while the weights stay float32).'
            ) from None
    return stored


def _restore_scaler(net, tensors):
    """Take float16's loss scaler state (``scaler.*``) out of ``tensors`` into
    ``net``'s scaler, checked: both entries or none, a scale of float32's normal
    range (1 / a subnormal one overflows) and a growth tracker from 0 to below the
    scaler's growth interval (past it the scale would never grow again), and a
    net that has a scaler."""
    stored = {n: tensors.pop(n) for n in list(tensors) if n.startswith("scaler.")}
    if not stored:
        return
    shapes = {"scaler.scale": np.float32, "scaler.growth_tracker": np.int32}
    if set(stored) != set(shapes) or any(
        stored[n].shape != () or stored[n].dtype != t for n, t in shapes.items()
    ):
        raise ValueError(
            f"its loss scaler state must be {sorted(shapes)}, scalars of float32 and "
            f"int32; got {sorted(stored)}."
        )
    if net.scaler_ is None:
        raise ValueError(
            "it holds a loss scaler's state, but these parameters train without one "
            "(precision is not float16)."
        )
    scale, tracker = float(stored["scaler.scale"]), int(stored["scaler.growth_tracker"])
    limits = np.finfo(np.float32)
    interval = net.scaler_.get_growth_interval()
    if not limits.tiny <= scale <= limits.max or not 0 <= tracker < interval:
        raise ValueError(
            f"scaler.scale must be a normal float32 ({limits.tiny:.3g} to {limits.max:.3g}) "
            f"and scaler.growth_tracker from 0 to {interval - 1}; got {scale} and {tracker}."
        )
    _load_scaler(net.scaler_, {n: torch.from_numpy(np.asarray(t)) for n, t in stored.items()})


def _restored_net(net_class, params, tensors, losses, valid_losses):
    """The ``net_class`` net of skorch arguments ``params``, on the CPU, with the
    weights and optimizer state that ``_net_tensors`` stored, each taken out of
    ``tensors`` and checked against what ``params`` imply before anything is
    allocated for it, and a history of the epochs' training ``losses`` and
    ``valid_losses`` (None without a validation split), the last
    ``_LOADED_HISTORY`` of them."""
    module_params = {
        k.removeprefix("module__"): v for k, v in params.items() if k.startswith("module__")
    }
    _check_layer_counts(params["module"], module_params, tensors)
    with torch.device("meta"), _empty_weights_allowed(module_params.get("n_components")):
        meta_module = params["module"](**module_params)
        expected = meta_module.state_dict(prefix="module.")
    weights = {
        n: torch.from_numpy(tensors.pop(n)) for n in list(tensors) if n.startswith("module.")
    }
    # the tensors a module makes in torch's default floating type have the type
    # that was the default when it was fitted, not this process's: the file's
    # parameters made in the default type say which. A tensor made in a type of
    # its own keeps it (a float64 buffer may equal this process's default).
    default = torch.get_default_dtype()
    parameters = {f"module.{n}" for n, _ in meta_module.named_parameters()}
    by_default = {n for n, t in expected.items() if t.dtype == default and n in weights}
    floating = {weights[n].dtype for n in by_default & parameters}
    floating &= {torch.float32, torch.float64}  # any other is refused below, by name
    if len(floating) > 1:
        raise ValueError(
            "its parameters in torch's default floating type must all be float32 or all "
            "float64; they hold both."
        )
    dtype = floating.pop() if floating else default
    retyped = {n for n in by_default if weights[n].dtype == dtype != default}
    expected = {n: t.to(dtype) if n in retyped else t for n, t in expected.items()}
    _check_same_tensors("weights", expected, weights)
    net = _make_net(net_class, 0, **params)
    for name, tensor in net.module_.state_dict(prefix="module.", keep_vars=True).items():
        if name in retyped:
            tensor.data = tensor.data.to(dtype)
    stored = {
        n: torch.from_numpy(tensors.pop(n)) for n in list(tensors) if n.startswith("optimizer.")
    }
    if stored and net.optimizer is None:
        raise ValueError(
            f"it holds optimizer state ({sorted(stored)[0]}, ...), but these parameters "
            "build a network without an optimizer."
        )
    if stored:
        expected = _state_after_a_step(net)
        # a parameter that the optimizer never stepped has no state in the file
        stepped = {name.rsplit(".", 1)[0] for name in stored}
        expected = {n: t for n, t in expected.items() if n.rsplit(".", 1)[0] in stepped}
        _check_same_tensors("optimizer state", expected, stored)
    state = {}
    for name, tensor in stored.items():
        # step counts, running sums or averages of squares (Adam's exp_avg_sq,
        # RMSprop's square_avg, Adagrad's sum, Adadelta's, Adamax's exp_inf,
        # Adafactor's variances) and step sizes (ASGD's eta and mu, Rprop's
        # step_size, NAdam's mu_product) are never negative, and a step count is a
        # whole number: a negative step size trained uphill without an error
        if name.endswith(_NON_NEGATIVE_STATE) and (tensor < 0).any():
            raise ValueError(f"{name} is negative.")
        if name.endswith(".step") and not torch.equal(tensor, tensor.round()):
            raise ValueError(f"{name} is not a whole number of steps.")
        _, _, index, key = name.split(".")
        state.setdefault(int(index), {})[key] = tensor
    net.module_.load_state_dict(
        {n.removeprefix("module."): w for n, w in weights.items()}, strict=True
    )
    if state:
        optimizer = net.optimizer_
        optimizer.load_state_dict(
            {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
        )
    _restore_scaler(net, tensors)
    net.history = History(
        {"epoch": i + 1, "train_loss": losses[i]}
        | ({} if valid_losses is None else {"valid_loss": valid_losses[i]})
        for i in range(max(0, len(losses) - _LOADED_HISTORY), len(losses))
    )
    return net


def _check_layer_counts(module, module_params, tensors):
    """Refuse a file whose parameters list more layers (``hidden_layer_sizes``,
    ``channels``) than it holds weight tensors, before the network is built: even
    on the meta device, each layer is a Python object, so 100,000 widths in a small
    file took 30 s and 1.5 GB to refuse. Every layer of skae's own modules holds a
    weight; a trusted custom module's lists may mean anything, and are left to it."""
    if not module.__module__.startswith("skae."):
        return
    n_tensors = sum(name.startswith("module.") for name in tensors)
    for name, value in module_params.items():
        # a list, a tuple or an array (a file stores an array as a tensor)
        if not isinstance(value, str | bytes) and np.ndim(value) >= 1 and len(value) > n_tensors:
            raise ValueError(
                f"its parameters do not fit its weights: module__{name} lists "
                f"{len(value)} layers, the file holds {n_tensors} weight tensors."
            )
