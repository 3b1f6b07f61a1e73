"""Export fitted skae estimators to ONNX, for serving with onnxruntime.

ONNX is the format scikit-learn's model-persistence guide recommends for serving: a
graph of standard operators that onnxruntime runs without PyTorch, scikit-learn,
skae or pickle.
**Importing this module** registers a converter, a shape calculator and a parser for
each skae estimator with skl2onnx (``update_registered_converter``); from then on
``skl2onnx.to_onnx`` converts a fitted skae estimator alone or as a step of a
``Pipeline`` or ``ColumnTransformer``, next to scikit-learn's own steps::

    import skae.onnx  # noqa: F401  (registers the converters)
    from skl2onnx import to_onnx

    model = to_onnx(pipeline, X[:1].astype("float32"))

It needs the optional packages onnx, onnxruntime and skl2onnx:
``pip install 'skae[onnx]'``. ``import skae`` alone never imports them.

**Outputs.** They are named as scikit-learn's converters name them. A transformer
has one output, ``variable``: its ``transform``, the codes of shape
``(n_samples, n_components_)`` (for the VAEs the posterior mean), or for an
:class:`~skae.AutoencoderImputer` the filled table. An outlier
detector has two, as IsolationForest's converter: ``label`` (``predict``: int64, -1
or +1, shape ``(n_samples, 1)``) and ``scores`` (``decision_function``, that is
``score_samples`` minus ``offset_``, shape ``(n_samples, 1)``). Two options
(skl2onnx's ``options`` argument) add outputs:

``score_samples=True``
    an output ``score_samples`` of shape ``(n_samples, 1)``, the estimator's
    ``score_samples``: the negative reconstruction error (with ``loss="bce"`` or a
    Bernoulli VAE, minus the Bernoulli divergence, ``-inf`` for a row outside
    [0, 1]), the probabilistic PCA log-likelihood of an aligned
    LinearAETransformer, the ELBO of a VAETransformer (with the same fixed
    posterior draws as skae's).
``reconstruction=True``
    an output ``reconstruction`` of shape ``(n_samples, n_features_in_)``:
    ``inverse_transform(transform(X))``.

Give them as ``options={"score_samples": True}`` for a lone estimator,
``options={"ae__score_samples": True}`` for the step ``"ae"`` of a pipeline, or
keyed by ``id(estimator)`` or by its class. With either option the estimator must be
the last step of a pipeline, since its extra outputs would be inputs of the next
step. :func:`~skae.onnx.inverse_transform_to_onnx` exports ``inverse_transform``
alone: codes in, reconstructions out.

**Missing values.** The graph of a network estimator takes NaN as skae does: a
missing entry enters the encoder as its feature's ``fill_values_``, and the scores
count the observed entries only (the mean squared error or Bernoulli divergence over
them; the ELBO's log-likelihood of the observed entries rescaled to all features).
A row with nothing observed, which skae refuses to score (ValueError), scores NaN
in ``score_samples`` and ``scores`` and is labelled -1: a graph cannot raise, and
NaN tells it apart from an overflow (``-inf``); its codes and reconstruction are
those of the fill values, as skae's ``transform``. A model loaded from a skae 0.2
file has no ``fill_values_``: skae refuses its NaN, and its graph passes NaN on to
the codes and scores of such a row. ``inverse_transform`` takes codes, which have no
holes, and is unchanged. The graph of a LinearAETransformer completes a row with
holes as skae does, in float64: with ``align=True`` each hole becomes its
conditional mean given the row's observed entries under the probabilistic PCA
model (a ``k`` by ``k`` system per row, solved by Gauss-Jordan elimination that the
graph unrolls over the ``n_components_`` columns, for the rows with holes only),
and such a row's ``score_samples`` is skae's expected log-likelihood; with
``align=False``, the decoder's least-squares fit to the observed entries. Where
skae computes what the graph does not and where skae refuses, the graph gives NaN,
never a number that differs from skae's: a row whose system is near singular (its
smallest pivot under 1e-6 of its largest: a model of almost no noise, as the
default ``n_components=None`` with a component per feature, with fewer observed
entries than components; with ``align=False`` fewer observed entries than
``n_components_``, or a decoder of deficient rank on them), which skae solves in
the observed entries or by a pseudo-inverse; the score of a row with holes under
a model without noise; ``solver="minibatch"``, which refuses holes; a row with
nothing observed, scored.

**The imputer.** The graph of an :class:`~skae.AutoencoderImputer` computes its
``transform``: it standardizes by ``mean_`` and ``scale_`` (in float64, as skae),
encodes with the holes as ``fill_values_`` (and the features empty in ``fit``
hidden, as skae hides them), decodes, unstandardizes and puts the
result at the missing entries only, so the observed entries come out bit for bit;
the features empty in ``fit`` are dropped (or kept and filled with 0 with
``keep_empty_features``) and the indicator columns of ``add_indicator`` follow. A
``missing_values`` other than NaN is matched by equality; an input NaN is then
not a hole (skae refuses it) and the row's fills become NaN. An imputer with
``sample_posterior=True`` is refused (its fills are random draws): convert it after
``set_params(sample_posterior=False)``. It has neither option's output nor an
``inverse_transform``.

**The graph.** It has the float type of its input: float32 for a float32 input
(scikit-learn's ONNX convention: ``to_onnx(model, X[:1].astype("float32"))``),
float64 for a float64 one, and a dynamic batch dimension. A LinearAETransformer
becomes a few matrix operators with its fitted arrays as constants. The network of
every other estimator (the MLP with or without tied weights, dropout, which is off
at inference, ConvAutoencoder, the VAE's, a custom ``module``) is traced by
``torch.onnx.export`` (its TorchScript exporter, which needs nothing beyond
PyTorch): its ``encode``, its ``decode`` and, for the ELBO, its ``posterior``. Each
traced graph is run on a batch of another size, at the unit scale and a hundred
times it, and compared with PyTorch, and a trace that torch's tracer warns about
is refused, so that a module that a trace cannot capture (NumPy inside, Python
branches on tensor values, a batch size taken from ``len(x)``) fails at conversion
with a ``RuntimeError`` naming the module and the method, rather than serving wrong
numbers.
"""

import copy
import functools
import inspect
import io
import math
import re
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

try:
    import onnx
    import onnxruntime
    from onnx import numpy_helper
    from skl2onnx import convert_sklearn, update_registered_converter
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType
except ImportError as error:
    raise ImportError(
        f"skae.onnx needs onnx, onnxruntime and skl2onnx ({error}); install them with "
        "pip install 'skae[onnx]'."
    ) from error

from ._base import _ESTIMATORS
from ._changes import _check_scored_settings
from ._impute import AutoencoderImputer
from ._linear import LinearAETransformer
from ._outlier import _OutlierThreshold
from ._vae import VAETransformer, _score_noise

__all__ = ["inverse_transform_to_onnx"]

# torch.onnx.export traces at this opset (or the target's, if lower): every torch that
# skae supports writes it, and the operators of an MLP or a CNN are the same in later
# opsets
_TORCH_OPSET = 17

# the reduce operators take their axes as an input from opset 18 (ReduceSum from 13)
_MIN_OPSET = 13
# the linear graph's solve of a row with holes is NaN where its smallest pivot is
# under this share of its largest (a condition number past some 1e6: the digits
# that elimination without pivoting keeps fall short of skae's solve's)
_RELIABLE_PIVOTS = 1e-6


_OPTIONS = {"score_samples": [False, True], "reconstruction": [False, True]}

# skl2onnx's tensor type -> (NumPy dtype, torch dtype) of a graph's floats
_TYPES = {
    FloatTensorType: (np.float32, torch.float32),
    DoubleTensorType: (np.float64, torch.float64),
}


def _tensor_types(variable, estimator):
    """(NumPy dtype, torch dtype) of a float input; TypeError for any other."""
    for tensor_type, types in _TYPES.items():
        if isinstance(variable.type, tensor_type):
            return types
    raise TypeError(
        f"{type(estimator).__name__} converts float inputs only, got "
        f"{type(variable.type).__name__} for {variable.onnx_name!r}; convert with a "
        "float32 sample (to_onnx(model, X[:1].astype('float32'))) or "
        "initial_types=[('X', FloatTensorType([None, n_features]))]."
    )


def _clean(name):
    """An ONNX name from torch's (``/encoder_layers.0/Gemm_output_0``) made readable."""
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") or "value"


class _Graph:
    """Nodes added to skl2onnx's container under names unique in the whole model, in
    the float type of the converted input."""

    def __init__(self, scope, container, types, hint):
        self.scope, self.container = scope, container
        self.dtype, self.torch_dtype = types
        self.hint = hint
        self.onnx_type = {np.float32: onnx.TensorProto.FLOAT, np.float64: onnx.TensorProto.DOUBLE}[
            self.dtype
        ]
        self.opset = container.target_opset_any_domain("")
        if self.opset < _MIN_OPSET:
            raise ValueError(
                f"skae's ONNX converters need target_opset >= {_MIN_OPSET}, got "
                f"target_opset={self.opset}."
            )

    def name(self, seed):
        return self.scope.get_unique_variable_name(f"{self.hint}_{seed}")

    def constant(self, value, seed, dtype=None):
        array = np.ascontiguousarray(value, dtype=dtype or self.dtype)
        name = self.name(seed)
        tensor = numpy_helper.from_array(array, name)
        self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def op(self, op_type, *inputs, output=None, **attributes):
        """Add one node; returns the name of its (single) output."""
        output = output or self.name(op_type)
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(f"{self.hint}_{op_type}"),
            **attributes,
        )
        return output

    def reduce(self, op_type, x, axis, keepdims=1):
        if self._axes_are_an_input(op_type, self.opset):
            axes = self.constant([axis], "axes", np.int64)
            return self.op(op_type, x, axes, keepdims=keepdims)
        return self.op(op_type, x, axes=[axis], keepdims=keepdims)

    @staticmethod
    def _axes_are_an_input(op_type, opset):
        """Whether a reduction ``op_type`` of ``opset`` takes its axes as an input
        (ReduceSum from opset 13, the others from 18), not as an attribute."""
        return opset >= 18 or (op_type == "ReduceSum" and opset >= 13)

    def embed(self, model, inputs, outputs, opset):
        """Merge the graph of the ONNX ``model`` into this one: its inputs read
        ``inputs`` and its outputs write ``outputs``, every other name made unique."""
        renamed = {"": ""}
        renamed |= dict(zip((v.name for v in model.graph.input), inputs, strict=True))
        renamed |= dict(zip((v.name for v in model.graph.output), outputs, strict=True))

        def rename(name):
            if name not in renamed:
                renamed[name] = self.name(_clean(name))
            return renamed[name]

        for initializer in model.graph.initializer:
            name = rename(initializer.name)
            tensor = numpy_helper.from_array(numpy_helper.to_array(initializer), name)
            self.container.add_initializer(name, tensor.data_type, list(tensor.dims), tensor)
        for node in model.graph.node:
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            names = [rename(name) for name in node.input]
            while names and not names[-1]:
                names.pop()  # an optional input left out at the end (Clip's max)
            op_type = node.op_type
            if op_type == "Clip" and len(names) == 3 and not names[1]:
                # Clip's min left out (clamp(max=)), whose empty name skl2onnx does not
                # sort: the smaller of x and max, in x's own type whatever it is
                op_type, names = "Min", [names[0], names[2]]
            if "" in names:
                raise RuntimeError(
                    f"the trace of a module holds a {op_type} node with an optional "
                    "input left out before another, which skl2onnx cannot sort; write "
                    "that step with other torch operations."
                )
            version = opset
            if op_type.startswith("Reduce") and "axes" in attributes:
                if self._axes_are_an_input(op_type, self.opset):
                    # the trace's opset (17) gives a reduction its axes as an attribute,
                    # which the model's opset (18 on) takes as an input
                    names = [*names, self.constant(attributes.pop("axes"), "axes", np.int64)]
                    version = self.opset
            self.container.add_node(
                op_type,
                names,
                [rename(name) for name in node.output],
                op_domain=node.domain,
                op_version=onnx.defs.get_schema(op_type, version, node.domain).since_version,
                name=self.scope.get_unique_operator_name(f"{self.hint}_{op_type}"),
                **attributes,
            )


class _Method(torch.nn.Module):
    """``module.<method>`` as the forward of a module, for ``torch.onnx.export``."""

    def __init__(self, module, method):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, x):
        return getattr(self.module, self.method)(x)


def _cannot_export(estimator, module, method, what, caught):
    """The error for a module whose ``method`` has no faithful ONNX graph."""
    tracer = sorted(
        {str(w.message) for w in caught if issubclass(w.category, torch.jit.TracerWarning)}
    )
    hints = "".join(f"\n  torch warned: {message}" for message in tracer)
    return RuntimeError(
        f"Cannot export {type(estimator).__name__}'s module {type(module).__name__} to "
        f"ONNX: {type(module).__name__}.{method}(x) {what}. skae.onnx traces the module's "
        "encode and decode (and posterior) with torch.onnx.export: write them with torch "
        "operations only, with no NumPy, no Python branches on tensor values, and batch "
        f"sizes from x.shape[0] rather than len(x).{hints}"
    )


def _export_method(estimator, method, width, torch_dtype, opset):
    """The ONNX model of ``estimator.net_.module_.<method>`` on rows of ``width``
    values, with a dynamic batch axis, checked against PyTorch on another batch size.

    The module is copied to the CPU in ``torch_dtype`` (as skae evaluates a float32
    network in float64 for float64 input) and traced in evaluation mode, so dropout
    and other training-only behaviour are off.
    """
    module = copy.deepcopy(estimator.net_.module_).to(device="cpu", dtype=torch_dtype).eval()
    wrapper = _Method(module, method).eval()
    rng = np.random.default_rng(0)
    example = torch.from_numpy(rng.random((2, width))).to(torch_dtype)
    # rows of another batch size, at the unit scale and far from it, so that a
    # branch a trace froze is more likely to be reached
    probe = torch.from_numpy(
        np.vstack([rng.random((3, width)), 100 * rng.normal(size=(3, width))])
    ).to(torch_dtype)
    with torch.no_grad():
        expected = wrapper(probe)
    expected = expected if isinstance(expected, tuple) else (expected,)
    names = [f"output{i}" for i in range(len(expected))]
    kwargs = dict(
        input_names=["x"],
        output_names=names,
        dynamic_axes={name: {0: "batch"} for name in ["x", *names]},
        opset_version=opset,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # the TorchScript exporter: the newer one needs onnxscript, which skae does
        # not require
        kwargs["dynamo"] = False
    buffer = io.BytesIO()
    # every warning of the export is recorded, not shown: the deprecation notice of
    # the TorchScript exporter is noise here, a tracer warning goes into the error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.no_grad():
                torch.onnx.export(wrapper, (example,), buffer, **kwargs)
        except Exception as error:
            raise _cannot_export(
                estimator,
                module,
                method,
                f"failed to export ({type(error).__name__}: {str(error).splitlines()[0]})",
                caught,
            ) from error
    model = onnx.load_from_string(buffer.getvalue())
    controls = {n.op_type for n in model.graph.node if n.op_type in ("If", "Loop", "Scan")}
    if controls:
        raise _cannot_export(
            estimator,
            module,
            method,
            f"exports control flow ({', '.join(sorted(controls))})",
            caught,
        )
    try:
        session = onnxruntime.InferenceSession(
            buffer.getvalue(), providers=["CPUExecutionProvider"]
        )
    except Exception as error:
        raise RuntimeError(
            f"onnxruntime cannot run the ONNX graph of {type(module).__name__}.{method}(x) "
            f"in {torch_dtype} ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "convert with a float32 sample, to_onnx(model, X[:1].astype('float32'))."
        ) from error
    try:
        got = session.run(None, {"x": probe.numpy()})
    except Exception as error:
        raise _cannot_export(
            estimator,
            module,
            method,
            "was traced on 2 rows, and its graph fails on 6 "
            f"({type(error).__name__}: {str(error).splitlines()[0]})",
            caught,
        ) from error
    for value, reference in zip(got, expected, strict=True):
        reference = reference.numpy()
        if value.shape != reference.shape or not np.allclose(
            value, reference, rtol=1e-3, atol=1e-4, equal_nan=True
        ):
            raise _cannot_export(
                estimator,
                module,
                method,
                "was traced on 2 rows, and its graph computes other values than PyTorch on 6",
                caught,
            )
    if any(issubclass(w.category, torch.jit.TracerWarning) for w in caught):
        # what the trace froze (a branch on tensor values) may be reached by rows
        # that no probe can foresee
        raise _cannot_export(
            estimator, module, method, "made torch's tracer warn that its graph may differ", caught
        )
    return model, len(names)


def _bernoulli_cross_entropy(g, logits, x):
    """Elementwise ``binary_cross_entropy_with_logits``:
    ``max(l, 0) - l * x + log(1 + exp(-|l|))`` (not Softplus, which onnxruntime has
    in float32 only)."""
    exp = g.op("Exp", g.op("Neg", g.op("Abs", logits)))
    softplus = g.op("Log", g.op("Add", g.constant(1.0, "one"), exp))
    return g.op("Add", g.op("Sub", g.op("Relu", logits), g.op("Mul", logits, x)), softplus)


def _x_log_x(g, x):
    """``x * log(x)``, 0 at ``x = 0`` (torch's ``xlogy(x, x)``)."""
    zero = g.constant(0.0, "zero")
    product = g.op("Mul", x, g.op("Log", x))
    return g.op("Where", g.op("Equal", x, zero), zero, product)


def _outside_unit_interval(g, x):
    """Per row (shape (n, 1)): whether a value lies outside [0, 1]."""
    below = g.op("Less", g.reduce("ReduceMin", x, 1), g.constant(0.0, "zero"))
    above = g.op("Greater", g.reduce("ReduceMax", x, 1), g.constant(1.0, "one"))
    return g.op("Or", below, above)


class _Holes:
    """The missing entries (NaN) of the graph's input ``x``: ``observed``, a boolean
    tensor of its shape, ``zeroed``, ``x`` with 0 at its holes (what skae's losses
    compute their terms on), and ``count``, each row's number of observed entries
    (float, shape (n, 1))."""

    def __init__(self, g, x):
        self.g = g
        self.observed = g.op("Not", g.op("IsNaN", x))
        self.zeroed = g.op("Where", self.observed, x, g.constant(0.0, "zero"))
        self.count = g.reduce("ReduceSum", g.op("Cast", self.observed, to=g.onnx_type), -1)

    def sum(self, terms):
        """Per row (last axis kept): the sum of ``terms`` over the observed entries."""
        g = self.g
        return g.reduce(
            "ReduceSum", g.op("Where", self.observed, terms, g.constant(0.0, "zero")), -1
        )

    def mean(self, terms):
        """Per row (shape (n, 1)): the mean of ``terms`` (last axis) over the
        observed entries; NaN for a row with none."""
        return self.g.op("Div", self.sum(terms), self.count)

    def total(self, terms, width):
        """Per row: the sum of ``terms`` (last axis, ``width`` entries) over the
        observed entries, rescaled to all ``width`` (times ``width / count``, which
        is 1 for a complete row, as skae's)."""
        g = self.g
        rescale = g.op("Div", g.constant(float(width), "width"), self.count)
        return g.op("Mul", self.sum(terms), rescale)


def _negative_mse(g, holes, reconstruction):
    error = g.op("Sub", holes.zeroed, reconstruction)
    return g.op("Neg", holes.mean(g.op("Mul", error, error)))


def _negative_bernoulli_divergence(g, holes, logits):
    """Minus the per-row mean Bernoulli divergence of the observed entries of ``x``
    from ``sigmoid(logits)`` (cross-entropy minus the entropy of ``x``, clamped at 0),
    ``-inf`` for a row with an observed value outside [0, 1]; shape (n, 1)."""
    one = g.constant(1.0, "one")
    x = holes.zeroed
    entropy = g.op("Neg", g.op("Add", _x_log_x(g, x), _x_log_x(g, g.op("Sub", one, x))))
    divergence = g.op("Sub", _bernoulli_cross_entropy(g, logits, x), entropy)
    divergence = g.op("Max", divergence, g.constant(0.0, "zero"))
    score = g.op("Neg", holes.mean(divergence))
    return g.op("Where", _outside_unit_interval(g, x), g.constant(-np.inf, "minus_inf"), score)


class _Computation:
    """The ONNX nodes of one fitted estimator's methods on the graph's input ``X``,
    each built once and shared by the outputs that need it. ``scored`` says whether
    any output needs ``score_samples``."""

    def __init__(self, graph, estimator, X, *, scored):
        self.g, self.estimator, self.X, self.scored = graph, estimator, X, scored

    def inverse(self, Z):
        """``inverse_transform`` of the codes ``Z``."""
        raise NotImplementedError

    def _in_float64(self, x):
        return x if self.g.dtype == np.float64 else self.g.op("Cast", x, to=onnx.TensorProto.DOUBLE)

    def _in_graph_type(self, x):
        return x if self.g.dtype == np.float64 else self.g.op("Cast", x, to=self.g.onnx_type)

    @functools.cached_property
    def centered_in_float64(self):
        """``X - mean_`` in float64, as skae subtracts it where digits matter."""
        mean = self.g.constant(self.estimator.mean_, "mean", np.float64)
        return self.g.op("Sub", self._in_float64(self.X), mean)

    @functools.cached_property
    def reconstruction(self):
        return self.inverse(self.codes)

    @property
    def transformed(self):
        """``transform``: the codes (the imputer's filled table)."""
        return self.codes

    @functools.cached_property
    def holes(self):
        """The missing entries (NaN) of ``X``."""
        return _Holes(self.g, self.X)

    @functools.cached_property
    def score_samples(self):
        """The score of each row, shape (n, 1)."""
        return _negative_mse(self.g, self.holes, self.reconstruction)

    @functools.cached_property
    def checked_scores(self):
        """``score_samples`` with NaN (a score that overflowed) as -inf, as skae's."""
        g, scores = self.g, self.score_samples
        return g.op("Where", g.op("IsNaN", scores), g.constant(-np.inf, "minus_inf"), scores)

    @functools.cached_property
    def decision(self):
        offset = self.g.constant(self.estimator.offset_, "offset")
        return self.g.op("Sub", self.checked_scores, offset)

    @functools.cached_property
    def label(self):
        g = self.g
        negative = g.op("Less", self.decision, g.constant(0.0, "zero"))
        # a row with no score (NaN: nothing observed) is flagged, not passed
        negative = g.op("Or", negative, g.op("IsNaN", self.decision))
        return g.op(
            "Where",
            negative,
            g.constant(-1, "outlier", np.int64),
            g.constant(1, "inlier", np.int64),
        )


class _LinearComputation(_Computation):
    """LinearAETransformer: ``(X - mean_) @ W.T``, whitened or not, from its arrays;
    with ``align=True`` a row with holes completed first, as skae completes it."""

    def __init__(self, graph, estimator, X, *, scored):
        super().__init__(graph, estimator, X, scored=scored)
        estimator._check_fitted_alignment()
        if estimator.align:
            self.encoder = self.decoder = estimator.components_
        else:
            self.encoder, decoder = estimator._weights()
            self.decoder = decoder.T
        if estimator.whiten:
            self.scale = estimator._whitening_scale()

    @functools.cached_property
    def holed(self):
        """The indices (shape (m, 1)) of the rows with a hole, and those rows: the
        rows whose codes are NaN, read from the codes (k wide), not from X."""
        g = self.g
        holed = g.op("IsNaN", g.reduce("ReduceSum", self.raw_codes, 1, keepdims=0))
        index = g.op("Transpose", g.op("NonZero", holed), perm=[1, 0])
        return index, g.op("GatherND", self.X, index)

    def _posterior(self, model, rows):
        """``(latent, fitted, centered)`` of ``rows`` (with NaN) under the
        probabilistic PCA ``model`` (``(mean, factor, noise)``, as a ``_pca._Model``
        holds them), in float64, in the latent space (``_pca._Posterior``): ``latent
        = M^-1 F_o.T x_o`` with ``M = F_o.T F_o + noise I``, solved by
        ``_gauss_jordan`` (NaN for a row whose M is near singular), ``fitted = F
        latent``, ``centered`` the rows less the mean, 0 at their holes. Without
        noise, the least-squares fit of the observed entries."""
        g, f64, i64 = self.g, np.float64, np.int64
        mean, factor, noise = model
        k = factor.shape[1]
        x = self._in_float64(rows)
        observed = g.op("Not", g.op("IsNaN", x))
        centered = g.op("Sub", x, g.constant(mean, "mean", f64))
        centered = g.op("Where", observed, centered, g.constant(0.0, "zero", f64))
        # M of each row: the factor's observed rows, times themselves
        last = g.constant([2], "last_axis", i64)
        seen = g.op("Cast", observed, to=onnx.TensorProto.DOUBLE)
        F = g.constant(factor, "factor", f64)
        seen = g.op("Mul", g.op("Unsqueeze", seen, last), F)
        M = g.op("MatMul", g.op("Transpose", seen, perm=[0, 2, 1]), seen)
        M = g.op("Add", M, g.constant(noise * np.eye(k), "noise", f64))
        projected = g.op("MatMul", centered, F)
        A = g.op("Concat", M, g.op("Unsqueeze", projected, last), axis=2)  # [M | b]
        A, unsure = self._gauss_jordan(A, k)
        latent = g.op("Squeeze", g.op("Gather", A, g.constant([k], "k", i64), axis=2), last)
        latent = g.op("Where", unsure, g.constant(np.nan, "nan", f64), latent)
        fitted = g.op("MatMul", latent, g.op("Transpose", F, perm=[1, 0]))
        return latent, fitted, centered

    def _completed_holed_rows(self):
        """The rows with holes (``holed``), each hole filled as skae's
        ``_completed`` fills it: with ``align=True`` by its conditional mean given
        the row's observed entries; with ``align=False`` by the decoder's
        least-squares fit to them (NaN where the solve is near singular, as with
        fewer entries than ``n_components_``, whose minimum-norm fit skae takes)."""
        g, estimator = self.g, self.estimator
        rows = self.holed[1]
        mean = estimator.mean_.astype(np.float64)
        if estimator.align:
            model = estimator._model(whitened=False)
            model = model.mean, model.factor, model.noise
        else:
            model = mean, self.decoder.T.astype(np.float64), 0.0
        _, fitted, _ = self._posterior(model, rows)
        x = self._in_float64(rows)
        guess = g.op("Add", fitted, g.constant(mean, "mean", np.float64))
        return self._in_graph_type(g.op("Where", g.op("IsNaN", x), guess, x))

    def _gauss_jordan(self, A, k):
        """``(A, unsure)``: ``A`` (shape (m, k, k + 1), float64: ``[M | b]`` of each
        row, M symmetric positive definite) after Gauss-Jordan elimination, ``[I |
        M^-1 b]``, and per row (shape (m, 1)) whether its smallest pivot is under
        ``_RELIABLE_PIVOTS`` of its largest: M is then near singular (a model of
        almost no noise, a row of fewer observed entries than components or of a
        rank-deficient decoder), where skae solves otherwise (in the observed
        entries, or by a pseudo-inverse) and elimination without pivoting loses
        the digits. An ONNX Loop over the k columns, of no steps where there is no
        row (a graph of complete rows pays no k steps of dispatch). Step i divides
        row i by its pivot and takes it from every row in proportion to their
        column i less the identity's (row i itself: its pivot less 1), so that row
        i becomes the divided row and column i the identity's."""
        g, i64, helper = self.g, np.int64, onnx.helper
        double = onnx.TensorProto.DOUBLE
        columns = g.constant(np.arange(k)[:, None], "columns", i64)  # read in the body
        body = helper.make_graph(
            [
                helper.make_node("Constant", [], ["axis"], value_ints=[0]),
                helper.make_node("Unsqueeze", ["i", "axis"], ["index"]),
                helper.make_node("Gather", ["A", "index"], ["row"], axis=1),
                helper.make_node("Gather", ["row", "index"], ["pivot"], axis=2),
                helper.make_node("Min", ["low", "pivot"], ["low_out"]),
                helper.make_node("Max", ["high", "pivot"], ["high_out"]),
                helper.make_node("Div", ["row", "pivot"], ["divided"]),
                helper.make_node("Gather", ["A", "index"], ["column"], axis=2),
                helper.make_node("Equal", [columns, "index"], ["is_i"]),
                helper.make_node("Cast", ["is_i"], ["unit"], to=double),
                helper.make_node("Sub", ["column", "unit"], ["factor"]),
                helper.make_node("Mul", ["factor", "divided"], ["taken"]),
                helper.make_node("Sub", ["A", "taken"], ["A_out"]),
                helper.make_node("Identity", ["go"], ["go_out"]),
            ],
            "gauss_jordan_step",
            [
                helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []),
                helper.make_tensor_value_info("go", onnx.TensorProto.BOOL, []),
                *(
                    helper.make_tensor_value_info(name, double, None)
                    for name in ("A", "low", "high")
                ),
            ],
            [
                helper.make_tensor_value_info("go_out", onnx.TensorProto.BOOL, []),
                *(
                    helper.make_tensor_value_info(name, double, None)
                    for name in ("A_out", "low_out", "high_out")
                ),
            ],
        )
        rows = g.op("Gather", g.op("Shape", A), g.constant(0, "first", i64), axis=0)
        steps = g.op("Mul", g.op("Min", rows, g.constant(1, "one", i64)), g.constant(k, "k", i64))
        go = g.op("Squeeze", g.constant([True], "go", bool))  # scalars, as Loop reads them
        zero = g.constant([0], "zero_index", i64)
        first = g.op("Gather", g.op("Gather", A, zero, axis=1), zero, axis=2)  # (m, 1, 1)
        outputs = [g.name("solved"), g.name("smallest_pivot"), g.name("largest_pivot")]
        g.container.add_node(
            "Loop",
            [g.op("Squeeze", steps), go, A, first, first],
            outputs,
            name=g.scope.get_unique_operator_name(f"{g.hint}_Loop"),
            body=body,
        )
        solved, low, high = outputs
        bound = g.op("Mul", high, g.constant(_RELIABLE_PIVOTS, "reliable", np.float64))
        unsure = g.op("Less", low, bound)  # NaN pivots compare False: NaN stays NaN
        return solved, g.op("Reshape", unsure, g.constant([-1, 1], "column_shape", i64))

    def _codes_of(self, X):
        g = self.g
        centered = g.op("Sub", X, g.constant(self.estimator.mean_, "mean"))
        codes = g.op("MatMul", centered, g.constant(self.encoder.T, "encoder"))
        if self.estimator.whiten:
            codes = g.op("Div", codes, g.constant(self.scale, "scale"))
        return codes

    @functools.cached_property
    def raw_codes(self):
        """``(X - mean_) @ W.T``, NaN for a row with holes."""
        return self._codes_of(self.X)

    @functools.cached_property
    def codes(self):
        """The codes of X; those of a row with holes computed from it completed
        (the minibatch solver refuses holes: NaN goes through)."""
        if self.estimator.solver == "minibatch":
            return self.raw_codes
        completed = self._codes_of(self._completed_holed_rows())
        return self.g.op("ScatterND", self.raw_codes, self.holed[0], completed)

    def inverse(self, Z):
        g = self.g
        if self.estimator.whiten:
            Z = g.op("Mul", Z, g.constant(self.scale, "scale"))
        X = g.op("MatMul", Z, g.constant(self.decoder, "decoder"))
        return g.op("Add", X, g.constant(self.estimator.mean_, "mean"))

    @functools.cached_property
    def score_samples(self):
        if not self.estimator.align:
            return super().score_samples
        # the probabilistic PCA log-likelihood, with the model's precision matrix
        # in float64, as skae computes it: in float32 the quadratic form of an
        # ill-conditioned precision lost 1e-3 of a score, and overflowed far out
        g, f64 = self.g, np.float64
        precision = self.estimator.get_precision()
        _, log_det = np.linalg.slogdet(precision)
        constant = 0.5 * (precision.shape[0] * np.log(2 * np.pi) - log_det)
        c = self.centered_in_float64
        product = g.op("MatMul", c, g.constant(precision, "precision", f64))
        quadratic = g.reduce("ReduceSum", g.op("Mul", c, product), 1)
        score = g.op(
            "Sub",
            g.op("Mul", g.constant(-0.5, "minus_half", f64), quadratic),
            g.constant(constant, "log_normalizer", f64),
        )
        if self.estimator.noise_variance_ > 0 and self.estimator.solver != "minibatch":
            score = g.op("ScatterND", score, self.holed[0], self._scores_of_holed_rows())
        return self._in_graph_type(score)

    def _scores_of_holed_rows(self):
        """skae's ``_score_holes`` of the rows with holes (shape (m, 1), float64): the
        expected log-likelihood of the completed row, ``-(d log(2 pi) + n_missing +
        distance_o + log det C) / 2`` (the observed block's log-determinant cancels
        against the Schur complement's), ``distance_o`` the observed entries'
        Mahalanobis distance in the latent form."""
        g, f64 = self.g, np.float64
        d = self.estimator.n_features_in_
        model = self.estimator._model(whitened=True)
        latent, fitted, centered = self._posterior(
            (model.mean, model.factor, model.noise), self.holed[1]
        )
        observed = g.op("Not", g.op("IsNaN", self.holed[1]))
        residual = g.op(
            "Where", observed, g.op("Sub", centered, fitted), g.constant(0.0, "zero", f64)
        )
        distance = g.op(
            "Add",
            g.reduce("ReduceSum", g.op("Mul", residual, residual), 1),
            g.op(
                "Mul",
                g.reduce("ReduceSum", g.op("Mul", latent, latent), 1),
                g.constant(model.noise, "noise", f64),
            ),
        )
        distance = g.op("Div", distance, g.constant(model.noise, "noise", f64))
        seen = g.reduce("ReduceSum", g.op("Cast", observed, to=onnx.TensorProto.DOUBLE), 1)
        full = float(model.posterior(np.zeros((1, d))).log_det[0])
        constant = d * np.log(2 * np.pi) + d + full
        total = g.op("Add", g.op("Sub", distance, seen), g.constant(constant, "constant", f64))
        return g.op("Mul", total, g.constant(-0.5, "minus_half", f64))

    @functools.cached_property
    def checked_scores(self):
        # NaN where the graph has no score, never the -inf of an overflow (the most
        # anomalous of scores): a row with nothing observed, which skae refuses to
        # score, and a row with holes whose score is NaN (a solve the graph did not
        # trust, a model without noise, the minibatch solver's refusal)
        g, count = self.g, self.holes.count
        holed = g.op("Less", count, g.constant(float(self.estimator.n_features_in_), "width"))
        untrusted = g.op("And", holed, g.op("IsNaN", self.score_samples))
        empty = g.op("Equal", count, g.constant(0.0, "none"))
        return g.op(
            "Where", g.op("Or", empty, untrusted), g.constant(np.nan, "nan"), super().checked_scores
        )


class _NetworkComputation(_Computation):
    """Estimators whose network goes into the graph as ``torch.onnx.export`` traces
    its methods: AutoencoderTransformer and its outlier detector."""

    def __init__(self, graph, estimator, X, *, scored):
        super().__init__(graph, estimator, X, scored=scored)
        self.opset = min(graph.opset, _TORCH_OPSET)

    @functools.cached_property
    def seen(self):
        """``X`` with the features never observed in training as holes, whatever
        they hold, as skae's inference hides them (``_hide_unobserved``)."""
        counts = getattr(self.estimator, "n_observed_", None)
        if counts is None or counts.all():
            return self.X
        g = self.g
        never = g.constant(counts == 0, "never_observed", bool)
        return g.op("Where", never, g.constant(np.nan, "nan"), self.X)

    @functools.cached_property
    def holes(self):
        return _Holes(self.g, self.seen)

    @functools.cached_property
    def filled(self):
        """``X`` as the network takes it: each missing entry (NaN) replaced by its
        feature's ``fill_values_``. A model fitted before skae recorded them (a file
        of skae 0.2) has none: its graph passes NaN on, as skae refuses it."""
        fill = getattr(self.estimator, "fill_values_", None)
        if fill is None:
            return self.X
        g, x = self.g, self.seen
        return g.op("Where", g.op("IsNaN", x), g.constant(fill, "fill_values"), x)

    @functools.cached_property
    def checked_scores(self):
        """The scores, -inf where one overflowed, NaN for a row with nothing observed
        (which skae refuses to score); for a model of skae 0.2, without
        ``fill_values_``, NaN for any row with holes (skae refuses its NaN; such a
        row's score is NaN, not the -inf of an overflow, the most anomalous)."""
        g, scores = self.g, super().checked_scores
        if getattr(self.estimator, "fill_values_", None) is None:
            width = g.constant(float(self.estimator.n_features_in_), "width")
            unscored = g.op("Less", self.holes.count, width)
        else:
            unscored = g.op("Equal", self.holes.count, g.constant(0.0, "zero"))
        return g.op("Where", unscored, g.constant(np.nan, "nan"), scores)

    def run_module(self, method, x, width):
        """Output names of ``net_.module_.<method>(x)``, rows ``x`` of ``width`` values."""
        model, n_outputs = _export_method(
            self.estimator, method, width, self.g.torch_dtype, self.opset
        )
        outputs = [self.g.name(f"{method}{i}") for i in range(n_outputs)]
        # an output of another float type (a module's float64 codes) is cast to the
        # graph's, as skae casts it
        other = [o.type.tensor_type.elem_type != self.g.onnx_type for o in model.graph.output]
        embedded = [
            self.g.name(f"{n}_own") if o else n for n, o in zip(outputs, other, strict=True)
        ]
        self.g.embed(model, [x], embedded, self.opset)
        for name, output in zip(embedded, outputs, strict=True):
            if name != output:
                self.g.op("Cast", name, output=output, to=self.g.onnx_type)
        return outputs[0] if n_outputs == 1 else outputs

    @property
    def bernoulli(self):
        """Whether the decoder's output is the logits of a Bernoulli model."""
        return self.estimator._bernoulli_setting is not None

    @functools.cached_property
    def codes(self):
        return self.run_module("encode", self.filled, self.estimator.n_features_in_)

    def raw(self, Z):
        """The decoder's raw output (logits for a sigmoid output) for codes ``Z``."""
        return self.run_module("decode", Z, self.estimator.n_components_)

    @functools.cached_property
    def raw_reconstruction(self):
        return self.raw(self.codes)

    def activate(self, raw):
        """The output activation: what ``inverse_transform`` applies to ``decode``."""
        return self.g.op("Sigmoid", raw) if self.estimator._sigmoid_output else raw

    def inverse(self, Z):
        return self.activate(self.raw(Z))

    @functools.cached_property
    def reconstruction(self):
        return self.activate(self.raw_reconstruction)

    @functools.cached_property
    def score_samples(self):
        if self.bernoulli:
            return _negative_bernoulli_divergence(self.g, self.holes, self.raw_reconstruction)
        return super().score_samples


class _VAEComputation(_NetworkComputation):
    """VAETransformer and VAEOutlierDetector: codes are the posterior mean; the score
    is the ELBO (or, for the detector, what its ``anomaly_score_`` says)."""

    @functools.cached_property
    def posterior(self):
        return self.run_module("posterior", self.filled, self.estimator.n_features_in_)

    @functools.cached_property
    def codes(self):
        if self.scored and self.estimator._scores_elbo:
            return self.posterior[0]  # encode is the posterior mean: one encoder in the graph
        return super().codes

    @functools.cached_property
    def score_samples(self):
        return self.elbo() if self.estimator._scores_elbo else super().score_samples

    def elbo(self):
        """The ELBO as VAETransformer estimates it: the KL term in closed form, the
        expected log-likelihood averaged over the same fixed standard-normal draws; a
        row's log-likelihood is that of its observed entries, rescaled to all of its
        features."""
        g, x, d = self.g, self.holes.zeroed, self.estimator.n_features_in_
        mean, log_var = self.posterior
        # the very draws of VAETransformer.score_samples, so the graph's ELBO is skae's
        noise = _score_noise(self.estimator.n_components_, torch.float64).numpy()
        n_draws, k = noise.shape
        half = g.constant(0.5, "half")
        axis0, axis1 = g.constant([0], "axis", np.int64), g.constant([1], "axis", np.int64)
        # codes of shape (draws, rows, k) decoded as one batch of draws x rows
        std = g.op("Exp", g.op("Mul", half, log_var))
        spread = g.op("Mul", g.op("Unsqueeze", std, axis0), g.constant(noise[:, None, :], "draws"))
        z = g.op("Add", g.op("Unsqueeze", mean, axis0), spread)
        rows = g.op("Slice", g.op("Shape", x), axis0, axis1)
        n = g.constant([n_draws], "n_draws", np.int64)
        flat = g.op("Concat", g.op("Mul", rows, n), g.constant([k], "k", np.int64), axis=0)
        raw = self.raw(g.op("Reshape", z, flat))
        unflat = g.op("Concat", n, rows, g.constant([d], "d", np.int64), axis=0)
        raw = g.op("Reshape", raw, unflat)
        x = g.op("Unsqueeze", x, axis0)
        if self.bernoulli:
            nll = _bernoulli_cross_entropy(g, raw, x)
        else:
            error = g.op("Sub", x, raw)
            squared = g.op("Mul", half, g.op("Mul", error, error))
            nll = g.op("Add", squared, g.constant(0.5 * math.log(2 * math.pi), "log_2pi"))
        per_draw = self.holes.total(nll, d)  # (draws, rows, 1)
        log_likelihood = g.op("Neg", g.reduce("ReduceMean", per_draw, 0, keepdims=0))
        one = g.constant(1.0, "one")
        terms = g.op("Add", g.op("Exp", log_var), g.op("Mul", mean, mean))
        terms = g.op("Sub", g.op("Sub", terms, one), log_var)
        kl = g.op("Mul", half, g.reduce("ReduceSum", terms, 1))
        score = g.op("Sub", log_likelihood, kl)
        if self.bernoulli:
            outside = _outside_unit_interval(g, self.holes.zeroed)
            score = g.op("Where", outside, g.constant(-np.inf, "minus_inf"), score)
        return score


class _ImputerComputation(_NetworkComputation):
    """AutoencoderImputer: ``X`` standardized, its holes filled by the network's
    reconstruction, unstandardized, where they are; the observed entries pass
    through untouched. The standardization and its inverse are computed in
    float64, as skae computes them, and rounded to the graph's type."""

    @functools.cached_property
    def missing(self):
        g, value = self.g, self.estimator.missing_values
        if self.estimator._nan_holes():
            return g.op("IsNaN", self.X)
        return g.op("Equal", self.X, g.constant(value, "missing_values"))

    @functools.cached_property
    def filled(self):
        g, estimator = self.g, self.estimator
        standardized = g.op(
            "Div", self.centered_in_float64, g.constant(estimator.scale_, "scale", np.float64)
        )
        standardized = self._in_graph_type(standardized)
        hidden = self.missing
        empty = estimator.n_observed_ == 0
        if empty.any():  # a feature empty in fit is hidden from the network, as in skae
            hidden = g.op("Or", hidden, g.constant(empty, "empty", bool))
        return g.op(
            "Where", hidden, g.constant(estimator.fill_values_, "fill_values"), standardized
        )

    @functools.cached_property
    def transformed(self):
        g, estimator = self.g, self.estimator
        guess = g.op(
            "Mul",
            self._in_float64(self.reconstruction),
            g.constant(estimator.scale_, "scale", np.float64),
        )
        guess = g.op("Add", guess, g.constant(estimator.mean_, "mean", np.float64))
        fixed, values = estimator._fixed_fills()
        if fixed.any():  # filled with their own value, as in skae (0 for one empty in fit)
            values = g.constant(values, "fixed_values", np.float64)
            guess = g.op("Where", g.constant(fixed, "fixed", bool), values, guess)
        empty = estimator.n_observed_ == 0
        imputed = g.op("Where", self.missing, self._in_graph_type(guess), self.X)
        if empty.any() and not estimator.keep_empty_features:
            kept = g.constant(np.flatnonzero(~empty), "kept", np.int64)
            imputed = g.op("Gather", imputed, kept, axis=1)
        features = estimator._indicator_features()  # add_indicator as it is now
        if not features:
            return imputed
        features = g.constant(features, "indicator_features", np.int64)
        indicator = g.op("Gather", self.missing, features, axis=1)
        indicator = g.op("Cast", indicator, to=g.onnx_type)
        return g.op("Concat", imputed, indicator, axis=1)


def _computation(estimator):
    if isinstance(estimator, AutoencoderImputer):
        return _ImputerComputation
    if isinstance(estimator, LinearAETransformer):
        return _LinearComputation
    if isinstance(estimator, VAETransformer):
        return _VAEComputation
    return _NetworkComputation


# -- skl2onnx's parser, shape calculator and converter ---------------------------

# output name -> the attribute of _Computation that computes it
_OUTPUTS = {
    "variable": "transformed",
    "label": "label",
    "scores": "decision",
    "score_samples": "checked_scores",
    "reconstruction": "reconstruction",
}


class _InverseTransform:
    """A fitted skae estimator's ``inverse_transform``, as a model of its own for
    skl2onnx: codes in, reconstructions out."""

    def __init__(self, estimator):
        self.estimator = estimator


def _unwrap(model):
    """``(the skae estimator, whether the model is its inverse_transform)``."""
    if isinstance(model, _InverseTransform):
        return model.estimator, True
    return model, False


def _output_names(model, options):
    estimator, inverse = _unwrap(model)
    if inverse:
        return ["reconstruction"]
    names = ["label", "scores"] if isinstance(estimator, _OutlierThreshold) else ["variable"]
    return names + [name for name in ("score_samples", "reconstruction") if options[name]]


def _imputed_width(imputer):
    """The number of columns of an AutoencoderImputer's ``transform``."""
    kept = (
        imputer.n_features_in_ if imputer.keep_empty_features else (imputer.n_observed_ > 0).sum()
    )
    return int(kept) + len(imputer._indicator_features() or ())


def _check_imputer(imputer, options):
    """Refuse what an AutoencoderImputer's graph cannot serve."""
    if imputer.sample_posterior:
        raise ValueError(
            "AutoencoderImputer(sample_posterior=True) fills each hole with a random "
            "draw, which an ONNX graph cannot reproduce; convert it with "
            "sample_posterior=False (set_params(sample_posterior=False) on the fitted "
            "imputer), whose fills are the network's best guess."
        )
    asked = [name for name in ("score_samples", "reconstruction") if options[name]]
    if asked:
        raise ValueError(
            f"AutoencoderImputer has no {' nor '.join(asked)} output: its only output "
            "is transform's filled table."
        )


def _width(estimator, name):
    if name == "variable" and isinstance(estimator, AutoencoderImputer):
        return _imputed_width(estimator)
    return {
        "variable": estimator.n_components_,
        "reconstruction": estimator.n_features_in_,
    }.get(name, 1)


def _parse(scope, model, inputs, custom_parsers=None):
    estimator, inverse = _unwrap(model)
    check_is_fitted(estimator)
    operator = scope.declare_local_operator(_ALIASES[type(model)], model)
    operator.inputs = inputs
    options = {} if inverse else scope.get_options(model, dict.fromkeys(_OPTIONS, False))
    if isinstance(estimator, AutoencoderImputer) and not inverse:
        _check_imputer(estimator, options)
    float_type = type(inputs[0].type) if type(inputs[0].type) in _TYPES else FloatTensorType
    names = _output_names(model, options)
    if not isinstance(estimator, AutoencoderImputer):  # whose output is the table
        _check_codes_have_columns(estimator)
    if names != ["variable"] or isinstance(estimator, AutoencoderImputer):
        # scores, reconstructions and fills read the loss and the output activation
        # of the parameters, as inference does: the fitted ones
        _check_scored_settings(estimator)
    for name in names:
        shape = [None, _width(estimator, name)]
        tensor_type = Int64TensorType(shape) if name == "label" else float_type(shape)
        operator.outputs.append(scope.declare_local_variable(name, tensor_type))
    return operator.outputs


def _check_codes_have_columns(estimator):
    """ValueError for an estimator of no component: a graph's codes would be a
    tensor of no column, which skl2onnx does not declare."""
    if estimator.n_components_ == 0:
        raise ValueError(
            f"{type(estimator).__name__} has n_components_=0: its codes have no column, "
            "and skl2onnx declares no tensor of zero columns, so it has no ONNX graph "
            "(its score_samples is the isotropic Gaussian's, which the estimator "
            "computes)."
        )


def _check_last_step(scope, operator):
    """RuntimeError if another step reads the outputs that the options
    ``score_samples`` or ``reconstruction`` add: a pipeline's next step takes every
    output of a step as its input (a Normalizer concatenated codes and scores)."""
    added = [v for v in operator.outputs if v.raw_name in _OPTIONS]
    names = {v.onnx_name for v in added}
    readers = [
        other
        for other in scope.operators.values()
        # skl2onnx's own identities and casts of final_types have no estimator
        if other is not operator
        and other.raw_operator is not None
        and names & {v.onnx_name for v in other.inputs}
    ]
    if readers:
        raise RuntimeError(
            f"the options {[v.raw_name for v in added]} of "
            f"{type(operator.raw_operator).__name__} add outputs, which the next step "
            f"({type(readers[0].raw_operator).__name__}) would take as inputs: give them "
            "to the last step of a pipeline only."
        )


def _check_input(operator):
    """The (NumPy, torch) dtypes of the operator's one float input, checked to have
    the columns that the estimator (or its inverse_transform) takes."""
    estimator, inverse = _unwrap(operator.raw_operator)
    if getattr(estimator, "categories_", None) is not None:
        raise NotImplementedError(
            f"{type(estimator).__name__} has categorical columns (categorical_features="
            f"{estimator.categorical_features!r}); skae.onnx has no graph yet for their "
            "one-hot encoding and softmax heads. Export an estimator fitted with "
            "categorical_features=None on columns you encode yourself (OneHotEncoder)."
        )
    if inverse:
        width, what = estimator.n_components_, "codes of n_components_"
    else:
        width, what = estimator.n_features_in_, "n_features_in_"
    if len(operator.inputs) != 1:
        raise RuntimeError(
            f"{type(estimator).__name__} takes one float tensor of all its columns, got "
            f"{len(operator.inputs)} inputs; a DataFrame sample gives one per column: "
            "convert with an array, to_onnx(model, X[:1].to_numpy('float32'))."
        )
    variable = operator.inputs[0]
    types = _tensor_types(variable, estimator)
    columns = variable.get_second_dimension()
    if isinstance(columns, int) and columns != width:
        raise ValueError(
            f"{type(estimator).__name__} expects {width} columns ({what}), but the "
            f"input {variable.onnx_name!r} has {columns}."
        )
    return types


def _calculate_shapes(operator):
    _check_input(operator)
    rows = operator.inputs[0].get_first_dimension()
    for variable in operator.outputs:
        variable.type.shape = [rows, variable.type.shape[1]]


def _convert(scope, operator, container):
    estimator, inverse = _unwrap(operator.raw_operator)
    types = _check_input(operator)
    _check_last_step(scope, operator)
    graph = _Graph(scope, container, types, hint=_clean(type(estimator).__name__).lower())
    names = [variable.raw_name for variable in operator.outputs]
    scored = bool({"label", "scores", "score_samples"} & set(names))
    X = operator.inputs[0].full_name
    computation = _computation(estimator)(graph, estimator, None if inverse else X, scored=scored)
    if inverse:
        # the input is codes: its reconstruction is inverse_transform's
        computation.codes = X
    for variable in operator.outputs:
        value = getattr(computation, _OUTPUTS[variable.raw_name])
        graph.op("Identity", value, output=variable.full_name)


_ALIASES = {cls: f"Skae{cls.__name__}" for cls in _ESTIMATORS.values()}
_ALIASES[_InverseTransform] = "SkaeInverseTransform"


def _register():
    for cls, alias in _ALIASES.items():
        options = None if cls is _InverseTransform else _OPTIONS
        update_registered_converter(
            cls, alias, _calculate_shapes, _convert, parser=_parse, options=options
        )


_register()


def inverse_transform_to_onnx(estimator, *, dtype=np.float32, target_opset=None):
    """The ONNX model of a fitted skae estimator's ``inverse_transform``.

    Codes in, reconstructions out: the model decodes codes that ``transform`` (or
    its ONNX graph) produced and stored, as ``estimator.inverse_transform`` does, with
    the output activation (the sigmoid of ``output_activation="sigmoid"`` or of a
    Bernoulli VAE) and, for a whitened LinearAETransformer, the rescaling. To
    reconstruct ``X`` itself in the same graph as its codes, convert the estimator
    with the option ``reconstruction=True`` instead.

    Parameters
    ----------
    estimator : fitted skae estimator
        An AutoencoderTransformer, AutoencoderOutlierDetector, LinearAETransformer,
        VAETransformer or VAEOutlierDetector.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Float type of the graph, its input and its output.
    target_opset : int or None, default=None
        ONNX opset of the model (at least 13); None for the latest that skl2onnx
        supports.

    Returns
    -------
    model : onnx.ModelProto
        One input ``codes`` of shape (n_samples, `n_components_`), one output
        ``reconstruction`` of shape (n_samples, `n_features_in_`); ``n_samples`` is
        dynamic.

    See Also
    --------
    skae.AutoencoderTransformer.inverse_transform : What the model computes.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.onnx import inverse_transform_to_onnx
    >>> X = (load_digits().data / 16).astype(np.float32)
    >>> ae = AutoencoderTransformer(4, output_activation="sigmoid", max_iter=2,
    ...                             n_iter_no_change=None, random_state=0).fit(X)
    >>> session = onnxruntime.InferenceSession(
    ...     inverse_transform_to_onnx(ae).SerializeToString(),
    ...     providers=["CPUExecutionProvider"])
    >>> codes = ae.transform(X[:5])
    >>> (reconstruction,) = session.run(None, {"codes": codes})
    >>> reconstruction.shape
    (5, 64)
    >>> bool(np.allclose(reconstruction, ae.inverse_transform(codes), rtol=1e-5, atol=1e-6))
    True
    """
    if not isinstance(estimator, tuple(_ESTIMATORS.values())):
        raise TypeError(
            "inverse_transform_to_onnx takes a fitted skae estimator "
            f"({', '.join(_ESTIMATORS)}), got {type(estimator).__name__}."
        )
    if isinstance(estimator, AutoencoderImputer):
        raise TypeError(
            "AutoencoderImputer has no inverse_transform: its transform is the filled "
            "table, not codes."
        )
    check_is_fitted(estimator)
    _check_codes_have_columns(estimator)
    tensor_types = {np.dtype(types[0]): tensor_type for tensor_type, types in _TYPES.items()}
    if np.dtype(dtype) not in tensor_types:
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got dtype={dtype!r}.")
    tensor_type = tensor_types[np.dtype(dtype)]
    return convert_sklearn(
        _InverseTransform(estimator),
        initial_types=[("codes", tensor_type([None, estimator.n_components_]))],
        target_opset=target_opset,
    )
