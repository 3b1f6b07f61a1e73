"""PyTorch autoencoder modules.

Plain ``torch.nn.Module`` classes that know nothing about scikit-learn. Every module
has ``encode(x)`` (inputs to codes) and ``decode(z)`` (codes to the decoder's raw
output, before any output activation), and ``forward(x) = decode(encode(x))``. The
output activation (sigmoid for data in [0, 1]) is applied by the estimator, so a
binary cross-entropy loss can work on the raw output (logits), which is faster and
numerically safer than a sigmoid followed by ``BCELoss``.

The built-in MLPs (``takes_sparse_rows = True``) also take a batch of sparse rows
(``_SparseRows``), whose first layer multiplies only the stored entries, and
``decode(z, at=(rows, columns))`` computes only those entries of the output: what
training on a large sparse matrix costs in proportion to its non-zeros.
"""

import numbers
import operator
import warnings
from itertools import pairwise

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._random import _DrawFrom

_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def _widths(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a tuple of ints: one int is one layer, as
    ``MLPRegressor`` takes it; TypeError for anything but ints (a bool, a float,
    a string of digits)."""
    sizes = hidden_layer_sizes
    sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
    if any(isinstance(size, bool | np.bool_ | str) for size in sizes):
        raise TypeError(f"hidden_layer_sizes must be ints; got {hidden_layer_sizes!r}.")
    return tuple(operator.index(size) for size in sizes)


def _check_module(module, n_features, n_components):
    """TypeError or ValueError naming what a custom ``module`` does not keep of the
    contract the estimator relies on: ``encode`` of rows ``(n, n_features)`` gives
    floating codes ``(n, n_components)``, ``decode`` of those gives ``(n, n_features)``,
    and neither writes to its input (``_check_unwritten`` also guards each training
    step); ``_check_trainable`` checks its parameters. Checked on two rows of zeros
    without gradients, in eval mode (a BatchNorm's statistics untouched), each
    submodule's mode restored after; the draws it makes on the CPU that take a
    generator come from one of the check's own (a draw that takes none, as
    ``F.dropout(x, training=True)``, or one on a GPU, advances torch's global
    generator, as the module's training will). A module that cannot take such rows
    (one that divides by a row's norm) is left to training, which gives it real
    rows."""
    name = type(module).__name__
    for method in ("encode", "decode"):
        if not callable(getattr(module, method, None)):
            raise TypeError(
                f"module {name} has no {method} method: the estimator encodes with "
                "encode(x) and decodes with decode(z)."
            )
    parameters = list(module.parameters())
    modes = {m: m.training for m in module.modules()}
    device = parameters[0].device
    module.eval()
    try:
        # a draw the module makes comes from a generator of the check's own: torch's
        # global one is neither advanced nor rewound (saving and restoring it, as
        # fork_rng does, handed other threads' draws out again)
        with torch.no_grad(), _DrawFrom(torch.Generator()):
            x = torch.zeros(2, n_features, dtype=parameters[0].dtype, device=device)
            try:
                z = module.encode(x)
            except Exception:
                return  # rows of zeros are not the module's rows: training decides
            _check_unwritten(name, "encode", x, 0)
            # the codes are checked before decode reads them: a decoder of the
            # right width fails on codes of the wrong one in torch's words
            _check_output(name, "encode", z, (2, n_components))
            version = z._version
            try:
                out = module.decode(z)
            except Exception:
                return
            _check_unwritten(name, "decode", z, version)
        _check_output(name, "decode", out, (2, n_features))
    finally:
        for m, mode in modes.items():
            m.training = mode


def _check_trainable(module):
    """ValueError unless ``module`` has parameters to train, each of a known size:
    checked before its optimizer is built (torch's "empty parameter list" named no
    module), and a lazy parameter would be drawn at its first batch from torch's
    global generator, which ``random_state`` does not control."""
    name = type(module).__name__
    parameters = list(module.parameters())
    if any(nn.parameter.is_lazy(p) for p in parameters):
        raise ValueError(
            f"module {name} has lazy parameters (such as nn.LazyLinear's): give their "
            "sizes (the module is built with n_features and n_components), so that "
            "random_state draws them."
        )
    if not any(p.requires_grad for p in parameters):
        raise ValueError(f"module {name} has no parameter that requires grad: nothing to train.")


def _takes_sparse_rows(module):
    """Whether ``module`` takes a batch of sparse rows as ``_SparseRows``: as its
    ``takes_sparse_rows`` says (the instance's own first, then its class's), but
    a subclass that inherits MLPAutoencoder's True and overrides ``encode`` or
    ``decode`` gets tensors, as every module does, unless it says so itself."""
    if "takes_sparse_rows" in vars(module):
        return bool(module.takes_sparse_rows)
    owner = next((c for c in type(module).__mro__ if "takes_sparse_rows" in vars(c)), None)
    if owner is None:
        return False
    if owner is MLPAutoencoder:
        methods = ("encode", "decode")
        return all(getattr(type(module), m) is getattr(MLPAutoencoder, m) for m in methods)
    return bool(module.takes_sparse_rows)  # read on the instance: it may be a property


def _check_unwritten(name, method, tensor, version):
    """ValueError if ``name.method`` wrote to its input ``tensor`` in place (its
    version was ``version``): the estimator's input is the caller's memory at
    inference (a read-only memmap crashed the process) and the training target
    itself (the network learned what the module made of it)."""
    if tensor._version != version:
        raise ValueError(
            f"module {name}.{method} modified its input in place (an in-place "
            "operation such as ReLU(inplace=True), Dropout(inplace=True), relu_ or "
            "-= on it); the estimator's input is the training target and, at "
            f"inference, the caller's array: compute on a copy ({method}(x) "
            "starting with x = x.clone()) or use the operation out of place."
        )


def _check_output(name, method, out, shape):
    """TypeError or ValueError unless ``out``, what ``name.method`` returned for 2
    rows, is a floating tensor of ``shape``."""
    if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
        kind = f"a {out.dtype} tensor" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(
            f"module {name}.{method} must return a floating tensor; it returned {kind}."
        )
    if tuple(out.shape) != shape:
        width = "n_components" if method == "encode" else "n_features"
        raise ValueError(
            f"module {name}.{method} returned shape {tuple(out.shape)} for 2 rows; the "
            f"estimator needs {shape}: (n_samples, {width})."
        )


class _SparseRows:
    """A batch of ``shape[0]`` sparse rows of ``shape[1]`` features as torch tensors:
    the ``rows``, ``columns`` and ``values`` of its stored entries (int64, int64,
    floats), what a CSR matrix holds, without densifying it."""

    def __init__(self, rows, columns, values, shape):
        self.rows = rows
        self.columns = columns
        self.values = values
        self.shape = tuple(shape)

    @classmethod
    def of(cls, chunk):
        """The rows of the CSR matrix ``chunk``, sharing its arrays where it can."""
        rows = np.repeat(np.arange(chunk.shape[0]), np.diff(chunk.indptr))
        columns = torch.from_numpy(chunk.indices.astype(np.int64))
        return cls(torch.from_numpy(rows), columns, torch.from_numpy(chunk.data), chunk.shape)

    def __len__(self):
        return self.shape[0]

    def to(self, device=None, dtype=None):
        """The same rows on ``device`` with values of ``dtype`` (None: as they are)."""
        return _SparseRows(
            self.rows.to(device),
            self.columns.to(device),
            self.values.to(device=device, dtype=dtype),
            self.shape,
        )


def _first_layer(layer, x):
    """``layer(x)`` of an ``nn.Linear``; for ``_SparseRows``, from the weight columns
    of the stored entries only (a gather and an index-add: on the CPU several times
    faster than torch's sparse matrix products, forward and backward)."""
    if not isinstance(x, _SparseRows):
        return layer(x)
    weight = layer.weight
    columns = weight.index_select(1, x.columns).T * x.values.to(weight.dtype)[:, None]
    out = weight.new_zeros(x.shape[0], weight.shape[0]).index_add_(0, x.rows, columns)
    return out if layer.bias is None else out + layer.bias


def _output_entries(z, weight, bias, at):
    """The entries ``at = (rows, columns)`` of ``F.linear(z, weight, bias)``, each a
    dot product of a row of ``z`` with a row of ``weight``: the cost of the
    entries, not of the whole output."""
    rows, columns = (index.to(torch.int64) for index in at)  # a CSR pattern's one dtype
    if len(rows):
        bounds = torch.stack([rows.min(), rows.max(), columns.min(), columns.max()]).tolist()
        for name, (low, high), size in (
            ("rows", bounds[:2], z.shape[0]),
            ("columns", bounds[2:], weight.shape[0]),
        ):
            if low < 0 or high >= size:
                raise IndexError(f"at's {name} must lie in [0, {size}); got {low} to {high}.")
    return _OutputEntries.apply(z, weight, bias, rows, columns)


class _OutputEntries(torch.autograd.Function):
    """``_output_entries`` as one step of autograd. Forward, a sampled matrix
    product over the entries' pattern (CSR: sorted by row, then column); backward,
    two sums of weighted rows (embedding bags): for ``z``, each entry's row of
    ``weight`` summed per row of the batch; for ``weight``, each entry's row of
    ``z`` summed per column. No (entries x width) matrix is built: gathering both
    factors of every entry took 2.6x the time forward and backward on the batches
    of ``bench_sparse.py`` (200 rows of 550 entries, 64 wide). Computed in float32
    or float64 (torch has no half-precision sampled product on the CPU), returned
    in ``z``'s dtype, the gradients in their inputs' dtypes."""

    @staticmethod
    def forward(ctx, z, weight, bias, rows, columns):
        dtype = _product_dtype(z, weight)
        n_rows, n_columns = z.shape[0], weight.shape[0]
        with torch.autocast(z.device.type, enabled=False):
            keys = rows * n_columns + columns
            order = torch.argsort(keys)
            rows, columns = rows[order], columns[order]
            # a CSR pattern holds each (row, column) once (torch's product refuses
            # more entries than the matrix has): a repeated entry reads its one
            distinct, repeat = torch.unique_consecutive(keys[order], return_inverse=True)
            pattern_starts = _group_starts(distinct // n_columns, n_rows)
            table = weight.to(dtype).contiguous()  # tied weights come as a transposed view
            pattern = torch.sparse_csr_tensor(
                torch.cat([pattern_starts, pattern_starts.new_full((1,), len(distinct))]),
                distinct % n_columns,
                table.new_zeros(len(distinct)),
                (n_rows, n_columns),
                check_invariants=False,
            )
            if len(distinct):
                product = torch.sparse.sampled_addmm(pattern, z.to(dtype), table.T, beta=0)
                entries = product.values()[repeat]
            else:  # torch's CUDA product hands an empty pattern to cuSPARSE
                entries = table.new_zeros(0)
            if bias is not None:
                entries = entries + bias.to(dtype)[columns]
            out = torch.empty_like(entries).index_copy_(0, order, entries)
        ctx.save_for_backward(z, table, rows, columns, order)
        ctx.weight_dtype = weight.dtype
        ctx.bias_dtype = None if bias is None else bias.dtype
        return out.to(z.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        z, table, rows, columns, order = ctx.saved_tensors
        n_columns, width = table.shape
        grads = [None] * 5
        with torch.autocast(grad.device.type, enabled=False):
            g = grad.to(table.dtype)[order]
            if ctx.needs_input_grad[0]:
                starts = _group_starts(rows, len(z))
                by_row = F.embedding_bag(columns, table, starts, per_sample_weights=g, mode="sum")
                grads[0] = by_row.to(z.dtype)
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                # the bias's gradient as a column of ones beside z: each column's sum
                # in one pass, in a fixed order (index_add_ adds atomically on a GPU)
                by_column = torch.argsort(columns)
                sums = F.embedding_bag(
                    rows[by_column],
                    torch.cat([z.to(table.dtype), table.new_ones(len(z), 1)], dim=1),
                    _group_starts(columns[by_column], n_columns),
                    per_sample_weights=g[by_column],
                    mode="sum",
                )
                if ctx.needs_input_grad[1]:
                    grads[1] = sums[:, :width].to(ctx.weight_dtype)
                if ctx.needs_input_grad[2]:
                    grads[2] = sums[:, width].to(ctx.bias_dtype)
        return tuple(grads)


def _consume_torch_notices():
    """Trigger, with warnings ignored, the notices torch gives once a process that
    skae's own calls would otherwise show users who never made the call: that CSR
    tensors are in beta (``_OutputEntries`` builds one in every training step of
    reconstruction sampling), and that a tensor made from a read-only array cannot
    protect it from writes (``_as_tensor`` makes one of every read-only input, a
    memmap opened "r", to read it). Done once, at import: ignoring warnings around
    each call changes every thread's filters while it lasts, and calls run in
    threads at once."""
    read_only = np.zeros(0)
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.sparse_csr_tensor(
            torch.zeros(1, dtype=torch.int64, device="cpu"),
            torch.zeros(0, dtype=torch.int64, device="cpu"),
            torch.zeros(0, device="cpu"),
            (0, 0),
            check_invariants=False,
        )
        torch.from_numpy(read_only)


_consume_torch_notices()


def _product_dtype(z, weight):
    """The dtype ``_OutputEntries`` computes in: float64 if either factor is,
    otherwise float32."""
    dtype = torch.promote_types(z.dtype, weight.dtype)
    return dtype if dtype == torch.float64 else torch.float32


def _group_starts(index, n_groups):
    """Where each of ``n_groups`` groups starts in the sorted ``index`` (int64):
    the offsets of an embedding bag, or a CSR matrix's row pointers but the last."""
    counts = torch.bincount(index, minlength=n_groups)
    return torch.cumsum(counts, 0) - counts


class _Dropout(nn.Module):
    """Inverted dropout whose masks come from ``generator``, not torch's global one.

    ``generator`` (a CPU ``torch.Generator``, None for torch's global generator) is
    set by the skorch net that trains the module, so concurrent fits each draw from
    their own stream and stay reproducible.
    """

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.generator = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty(x.shape, dtype=x.dtype).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.to(x.device) / (1 - self.p)

    def extra_repr(self):
        return f"p={self.p}"


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with a mirrored decoder.

    The encoder maps ``n_features`` through ``hidden_layer_sizes`` to
    ``n_components``; the decoder runs the same sizes in reverse. With no hidden
    layers, identity activations and ``bias=False`` this is a linear autoencoder.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    n_components : int
        Width of the code.
    hidden_layer_sizes : int or tuple of int, default=()
        Widths of the encoder's hidden layers, input side first.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation after every hidden layer, in the encoder and in the decoder.
    code_activation : {"identity", "logistic", "tanh", "relu"}, default="identity"
        Activation of the code layer.
    tied_weights : bool, default=False
        If True, each decoder layer uses the transposed weight matrix of its mirror
        encoder layer (only the biases are its own), halving the weight parameters.
    bias : bool, default=True
        Whether the layers have biases.
    dropout : float, default=0.0
        Probability of zeroing each hidden unit in training (after the activation
        of every hidden layer, encoder and decoder; never the code or the output).

    Examples
    --------
    >>> import torch
    >>> from skae import MLPAutoencoder
    >>> ae = MLPAutoencoder(784, 36, hidden_layer_sizes=(128,))
    >>> ae.encode(torch.zeros(5, 784)).shape
    torch.Size([5, 36])
    >>> ae(torch.zeros(5, 784)).shape
    torch.Size([5, 784])
    """

    takes_sparse_rows = True

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes=(),
        activation="relu",
        code_activation="identity",
        tied_weights=False,
        bias=True,
        dropout=0.0,
    ):
        super().__init__()
        sizes = [n_features, *_widths(hidden_layer_sizes), n_components]
        self.encoder_layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(sizes))
        self.tied_weights = tied_weights
        if tied_weights:
            self.decoder_layers = None
            self.decoder_biases = (
                nn.ParameterList(nn.Parameter(torch.zeros(a)) for a in reversed(sizes[:-1]))
                if bias
                else None
            )
        else:
            self.decoder_layers = nn.ModuleList(
                nn.Linear(b, a, bias=bias) for a, b in reversed(list(pairwise(sizes)))
            )
        self.activation = _ACTIVATIONS[activation]()
        self.code_activation = _ACTIVATIONS[code_activation]()
        self.dropout = _Dropout(dropout)

    def encode(self, x):
        """Map inputs of shape (n, n_features), a tensor or ``_SparseRows``, to codes
        of shape (n, n_components)."""
        for i, layer in enumerate(self.encoder_layers):
            x = _first_layer(layer, x) if i == 0 else layer(x)
            if i < len(self.encoder_layers) - 1:
                x = self.dropout(self.activation(x))
        return self.code_activation(x)

    def decode(self, z, at=None):
        """Map codes to raw reconstructions of shape (n, n_features); with ``at =
        (rows, columns)``, only those entries, of shape (len(rows),)."""
        params = list(self._decoder_parameters())
        for i, (weight, bias) in enumerate(params):
            if at is not None and i == len(params) - 1:
                return _output_entries(z, weight.T if self.tied_weights else weight, bias, at)
            if self.tied_weights:
                # z @ W rather than linear(z, W.T): autocast casts a parameter to
                # bfloat16 once per forward pass, but a view of it (W.T) on every use
                z = z @ weight if bias is None else torch.addmm(bias, z, weight)
            else:
                z = F.linear(z, weight, bias)
            if i < len(params) - 1:
                z = self.dropout(self.activation(z))
        return z

    def forward(self, x):
        return self.decode(self.encode(x))

    def _decoder_parameters(self):
        """(weight, bias) of each decoder layer, code side first; tied weights are
        the encoder's own, of shape (in, out) as seen from the decoder."""
        if not self.tied_weights:
            return ((layer.weight, layer.bias) for layer in self.decoder_layers)
        weights = [layer.weight for layer in reversed(self.encoder_layers)]
        biases = self.decoder_biases if self.decoder_biases is not None else [None] * len(weights)
        return zip(weights, biases, strict=True)


class _LinearAutoencoder(nn.Module):
    """Linear autoencoder that centers its input: ``decode(encode(x))`` is
    ``(x - mean) @ W.T @ V.T + mean``, with ``V = W.T`` when the weights are tied.

    The mean is a buffer, so it is saved and moved with the weights.
    """

    def __init__(self, n_features, n_components, tied_weights=True, dtype=torch.float32):
        super().__init__()
        self.encoder = nn.Linear(n_features, n_components, bias=False, dtype=dtype)
        self.decoder = (
            None if tied_weights else nn.Linear(n_components, n_features, bias=False, dtype=dtype)
        )
        self.register_buffer("mean", torch.zeros(n_features, dtype=dtype))

    def encode(self, x):
        return self.encoder(x - self.mean)

    def decode(self, z):
        weight = self.encoder.weight.T if self.decoder is None else self.decoder.weight
        return F.linear(z, weight) + self.mean

    def forward(self, x):
        return self.decode(self.encode(x))


class _VariationalMLP(nn.Module):
    """MLP variational autoencoder: an encoder to a Gaussian posterior over the code
    (mean and log-variance) and a mirrored decoder.

    ``encode(x)`` is the posterior mean, ``posterior(x)`` the pair (mean,
    log-variance), ``decode(z)`` the raw output (Bernoulli logits, or a Gaussian
    mean). ``generator`` (set by the net that trains the module) draws the
    reparameterization noise.
    """

    takes_sparse_rows = True

    def __init__(self, n_features, n_components, hidden_layer_sizes=(100,), activation="relu"):
        super().__init__()
        sizes = [n_features, *_widths(hidden_layer_sizes)]
        self.encoder_layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.to_mean = nn.Linear(sizes[-1], n_components)
        self.to_log_var = nn.Linear(sizes[-1], n_components)
        widths = [n_components, *reversed(sizes)]
        self.decoder_layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.activation = _ACTIVATIONS[activation]()
        self.generator = None

    def posterior(self, x):
        for layer in self.encoder_layers:
            x = self.activation(_first_layer(layer, x))
        return _first_layer(self.to_mean, x), _first_layer(self.to_log_var, x)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode(self, z, at=None):
        *hidden, last = self.decoder_layers
        for layer in hidden:
            z = self.activation(layer(z))
        return last(z) if at is None else _output_entries(z, last.weight, last.bias, at)

    def forward(self, x):
        return self.decode(self.encode(x))


def _conv_sizes(size, n_layers):
    """Spatial sizes after each stride-2, padding-1, kernel-3 convolution."""
    sizes = [size]
    for _ in range(n_layers):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder for single-channel images, flattened in and out.

    The encoder applies stride-2 3x3 convolutions with ReLU (each halves the image)
    and a linear layer to the code; the decoder mirrors it with a linear layer and
    transposed convolutions back to the exact image size. Inputs and outputs are
    flat rows of ``n_features = height * width`` pixels, so the module plugs into
    :class:`~skae.AutoencoderTransformer` through its ``module`` parameter.

    Parameters
    ----------
    n_features : int
        Pixels per image, ``height * width``.
    n_components : int
        Width of the code.
    image_shape : tuple of int
        ``(height, width)`` of the images.
    channels : tuple of int, default=(16, 32)
        Output channels of the encoder's convolutions.

    Examples
    --------
    >>> import torch
    >>> from skae import ConvAutoencoder
    >>> ae = ConvAutoencoder(64, 10, image_shape=(8, 8))
    >>> ae.encode(torch.zeros(3, 64)).shape
    torch.Size([3, 10])
    >>> ae(torch.zeros(3, 64)).shape
    torch.Size([3, 64])
    """

    def __init__(self, n_features, n_components, image_shape, channels=(16, 32)):
        super().__init__()
        height, width = image_shape
        if height * width != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)} has {height * width} pixels, but the "
                f"data has n_features={n_features}."
            )
        self.image_shape = (height, width)
        heights, widths = _conv_sizes(height, len(channels)), _conv_sizes(width, len(channels))
        widths_in = (1, *channels)
        self.encoder_convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in pairwise(widths_in)
        )
        self.code_shape = (channels[-1], heights[-1], widths[-1])
        flat = channels[-1] * heights[-1] * widths[-1]
        self.to_code = nn.Linear(flat, n_components)
        self.from_code = nn.Linear(n_components, flat)
        # output_padding makes each transposed convolution land on the encoder's size
        padding = [
            (h - 2 * h_next + 1, w - 2 * w_next + 1)
            for h, h_next, w, w_next in zip(heights, heights[1:], widths, widths[1:], strict=False)
        ]
        self.decoder_convs = nn.ModuleList(
            nn.ConvTranspose2d(b, a, 3, stride=2, padding=1, output_padding=padding[i])
            for i, (a, b) in reversed(list(enumerate(pairwise(widths_in))))
        )

    def encode(self, x):
        # x.shape[0], not len(x): a trace (torch.onnx.export) keeps the batch size dynamic
        h = x.reshape(x.shape[0], 1, *self.image_shape)
        for conv in self.encoder_convs:
            h = torch.relu(conv(h))
        return self.to_code(h.flatten(1))

    def decode(self, z):
        h = torch.relu(self.from_code(z)).reshape(z.shape[0], *self.code_shape)
        *hidden, last = self.decoder_convs
        for conv in hidden:
            h = torch.relu(conv(h))
        return last(h).flatten(1)

    def forward(self, x):
        return self.decode(self.encode(x))
