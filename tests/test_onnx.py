"""ONNX export (skae.onnx): every estimator and configuration of the instance
generator converts with skl2onnx, alone, in a Pipeline and in a ColumnTransformer,
and onnxruntime computes what skae computes, to rtol 1e-5 / atol 1e-6 in float32, on
complete rows and on rows with missing values (NaN), and the imputer's graph fills
the holes as its transform does."""

import ast
import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import AutoencoderTransformer, LinearAETransformer, VAETransformer

from ._instances import (
    imputer_ids,
    instance,
    instance_ids,
    needs_four_features,
    needs_unit_interval,
)

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
skl2onnx = pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
skae_onnx = pytest.importorskip("skae.onnx")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL, ATOL = 1e-5, 1e-6
DETECTORS = {"ae-detector", "vae-detector", "vae-detector-elbo"}
FOUR_PIXELS = [20, 27, 36, 43]  # pixels of the digits that vary


@pytest.fixture(scope="module")
def data(digits01):
    """(train, test) float32 digits; the test rows end with one outside [0, 1],
    which a Bernoulli model scores -inf."""
    X = digits01.astype(np.float32)
    test = np.vstack([X[200:300], 2 * X[300:301]])
    return X[:192], test


@pytest.fixture(scope="module")
def fitted(data):
    """``fitted(key)``: configuration ``key`` fitted on the training digits, once."""
    cache = {}

    def fit(key):
        if key not in cache:
            # an aligned LinearAETransformer keeps all 64 components by default, and
            # on the digits' constant pixels PPCA's precision matrix is then singular
            params = {"n_components": 8} if key.startswith("linear") else {}
            X_train, _ = data
            cache[key] = instance(key, random_state=0, **params).fit(columns(key, X_train))
        return cache[key]

    return fit


def columns(key, X):
    return X[:, FOUR_PIXELS] if needs_four_features(key) else X


def runner(model):
    """A function running ``model`` on an array, returning its outputs by name."""
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [output.name for output in session.get_outputs()]
    input_name = session.get_inputs()[0].name
    return lambda X: dict(zip(names, session.run(None, {input_name: X}), strict=True))


def run(model, X):
    return runner(model)(X)


def assert_close(actual, desired, scale=0.0):
    """``|actual - desired| <= ATOL + RTOL * max(|desired|, scale)`` elementwise, the
    infinite values equal. ``scale`` is the size of the terms of a difference
    (``decision_function`` is ``score_samples - offset_``), whose float32 rounding
    does not shrink with the difference."""
    actual = np.asarray(actual).reshape(np.shape(desired))
    finite = np.isfinite(desired)
    assert np.array_equal(actual[~finite], desired[~finite])
    tolerance = ATOL + RTOL * np.maximum(np.abs(desired), scale)
    excess = np.abs(actual[finite] - desired[finite]) / tolerance[finite]
    assert excess.max(initial=0) <= 1, f"off by {excess.max():.3g} times the tolerance"


def score_scale(estimator, scores):
    """The size of the terms of ``score_samples``: for an aligned LinearAETransformer,
    the PPCA log-likelihood is a quadratic form minus a log normalizer, which nearly
    cancel for typical rows."""
    if isinstance(estimator, LinearAETransformer) and estimator.align:
        _, log_det = np.linalg.slogdet(estimator.get_precision().astype(np.float64))
        normalizer = 0.5 * abs(estimator.n_features_in_ * np.log(2 * np.pi) - log_det)
        return np.abs(scores) + 2 * normalizer
    return 0.0


@pytest.mark.parametrize("key", instance_ids())
def test_onnxruntime_computes_what_skae_computes(key, fitted, data):
    estimator = fitted(key)
    X = columns(key, data[1])
    if not needs_unit_interval(key):
        X = X[:-1]  # the row outside [0, 1] tests the Bernoulli models' -inf
    model = skl2onnx.to_onnx(
        estimator, X[:1], options={"score_samples": True, "reconstruction": True}
    )
    detector = key in DETECTORS
    first = ["label", "scores"] if detector else ["variable"]
    assert [o.name for o in model.graph.output] == [*first, "score_samples", "reconstruction"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    served = runner(model)
    for x in (X[:1], X):  # a dynamic batch dimension: 1 row, then 100 (101)
        out = served(x)
        scores = estimator.score_samples(x)
        scale = score_scale(estimator, scores)
        assert out["score_samples"].shape == (len(x), 1)
        assert_close(out["score_samples"], scores, scale)
        assert_close(out["reconstruction"], estimator.inverse_transform(estimator.transform(x)))
        if not detector:
            assert out["variable"].dtype == np.float32
            assert_close(out["variable"], estimator.transform(x))
            continue
        decision = estimator.decision_function(x)
        assert_close(out["scores"], decision, np.maximum(np.abs(scores), scale))
        # labels equal exactly away from the threshold
        away = np.abs(decision) > ATOL + RTOL * np.abs(scores)
        assert away.mean() > 0.9
        assert out["label"].dtype == np.int64 and out["label"].shape == (len(x), 1)
        assert np.array_equal(out["label"][away, 0], estimator.predict(x)[away])
    if needs_unit_interval(key):
        assert out["score_samples"][-1, 0] == -np.inf


@pytest.mark.parametrize("key", ["ae", "linear", "vae-detector", "vae-detector-elbo"])
def test_by_default_a_transformer_outputs_codes_and_a_detector_label_and_scores(key, fitted, data):
    estimator = fitted(key)
    X = columns(key, data[1][:-1])
    out = run(skl2onnx.to_onnx(estimator, X[:1]), X)
    if key in DETECTORS:
        assert sorted(out) == ["label", "scores"]
        assert_close(out["scores"], estimator.decision_function(X), estimator.offset_)
    else:
        assert list(out) == ["variable"]
        assert_close(out["variable"], estimator.transform(X))


@pytest.mark.parametrize("key", instance_ids())
def test_inverse_transform_to_onnx_decodes_codes(key, fitted, data):
    estimator = fitted(key)
    codes = estimator.transform(columns(key, data[1][:-1]))
    model = skae_onnx.inverse_transform_to_onnx(estimator)
    assert [i.name for i in model.graph.input] == ["codes"]
    out = run(model, codes)
    assert_close(out["reconstruction"], estimator.inverse_transform(codes))


@pytest.mark.parametrize("key", ["ae-variants", "vae-detector-elbo", "linear-whiten"])
def test_float64_input_gives_a_float64_graph_with_skae_float64_results(key, fitted, data):
    estimator = fitted(key)
    X = columns(key, data[1][:-1]).astype(np.float64)
    model = skl2onnx.to_onnx(estimator, X[:1], options={"score_samples": True})
    out = run(model, X)
    assert out["score_samples"].dtype == np.float64
    np.testing.assert_allclose(out["score_samples"][:, 0], estimator.score_samples(X), rtol=1e-9)
    decoder = skae_onnx.inverse_transform_to_onnx(estimator, dtype=np.float64)
    codes = estimator.transform(X)
    np.testing.assert_allclose(
        run(decoder, codes)["reconstruction"], estimator.inverse_transform(codes), rtol=1e-9
    )


def test_a_pipeline_with_scikit_learn_steps_converts_and_matches(digits01, digits_labels):
    X, y = digits01[:300].astype(np.float32), digits_labels[:300]
    pipeline = make_pipeline(
        StandardScaler(),
        AutoencoderTransformer(8, hidden_layer_sizes=(16,), max_iter=3, random_state=0),
        LogisticRegression(max_iter=300),
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipeline, X[:1], options={LogisticRegression: {"zipmap": False}})
    out = run(model, X)
    assert np.array_equal(out["label"], pipeline.predict(X))
    assert_close(out["probabilities"], pipeline.predict_proba(X))


def test_a_column_transformer_with_a_skae_step_converts_and_matches(digits01):
    X = digits01[:300].astype(np.float32)
    transformer = ColumnTransformer(
        [
            (
                "codes",
                VAETransformer(3, hidden_layer_sizes=(8,), max_iter=3, random_state=0),
                slice(0, 40),
            ),
            ("pca", LinearAETransformer(4), slice(40, 64)),
        ]
    ).fit(X)
    out = run(skl2onnx.to_onnx(transformer, X[:1]), X)
    (values,) = out.values()
    assert values.shape == (300, 7)
    assert_close(values, transformer.transform(X))


def test_options_address_a_step_of_a_pipeline(digits01):
    X = digits01[:200].astype(np.float32)
    pipeline = make_pipeline(
        StandardScaler(),
        AutoencoderTransformer(4, hidden_layer_sizes=(), max_iter=3, random_state=0),
    ).fit(X)
    model = skl2onnx.to_onnx(
        pipeline, X[:1], options={"autoencodertransformer__score_samples": True}
    )
    out = run(model, X)
    assert list(out) == ["variable", "score_samples"]
    assert_close(out["score_samples"], pipeline.score_samples(X))


class _CumMaxAutoencoder(torch.nn.Module):
    """An autoencoder whose encoder uses an operator that ONNX lacks."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        return self.encoder(torch.cummax(x, dim=1).values)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))


class _LenAutoencoder(_CumMaxAutoencoder):
    """An autoencoder whose decoder takes the batch size from ``len(z)``, which a
    trace freezes."""

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z.reshape(len(z), -1))


class _BranchAutoencoder(_CumMaxAutoencoder):
    """An autoencoder whose encoder branches in Python on its codes' values: a trace
    keeps the branch the example took."""

    def encode(self, x):
        z = self.encoder(x)
        if z.abs().max() > 1e3:
            z = z / 1e3
        return z


@pytest.mark.parametrize(
    "module, message",
    [
        (_CumMaxAutoencoder, r"_CumMaxAutoencoder\.encode\(x\) failed to export .*aten::cummax"),
        (_BranchAutoencoder, r"_BranchAutoencoder\.encode\(x\) made torch's tracer warn"),
        (_LenAutoencoder, r"_LenAutoencoder\.decode\(x\) was traced on 2 rows.*\n.*len to get"),
    ],
)
def test_a_module_that_cannot_be_exported_is_named_in_the_error(module, message, digits01):
    X = digits01[:100].astype(np.float32)
    ae = AutoencoderTransformer(2, module=module, max_iter=1, random_state=0).fit(X)
    with pytest.raises(RuntimeError, match=message):
        skl2onnx.to_onnx(ae, X[:1], options={"reconstruction": True})
    # the estimator is untouched
    assert np.array_equal(ae.transform(X), ae.transform(X))


class _CenteredAutoencoder(_CumMaxAutoencoder):
    """Torch operations whose ONNX nodes differ between opsets, or leave an input out."""

    def encode(self, x):
        return self.encoder(x - x.mean(dim=1, keepdim=True))  # ReduceMean's axes


class _ClampedAutoencoder(_CumMaxAutoencoder):
    def encode(self, x):
        return self.encoder(x.clamp(min=0.2))  # Clip(x, min, "")

    def decode(self, z):
        return self.decoder(z.clamp(max=5.0))  # Clip(z, "", max)


class _IntegerClamp(_CumMaxAutoencoder):
    def encode(self, x):
        return self.encoder((x * 3).long().clamp(max=2).float())  # Clip of int64


class _DoubleCodes(_CumMaxAutoencoder):
    def encode(self, x):
        return self.encoder(x).double()  # skae casts its codes back to float32

    def decode(self, z):
        return self.decoder(z.float())


@pytest.mark.parametrize(
    "module", [_CenteredAutoencoder, _ClampedAutoencoder, _IntegerClamp, _DoubleCodes]
)
@pytest.mark.parametrize("target_opset", [17, None])
def test_a_module_of_torch_operations_exports_at_every_opset(module, target_opset, digits01):
    # the trace's ReduceMean (opset 17) went into a model of opset 21 as it was, an
    # invalid model; an input left out at the end (Clip's max) stopped skl2onnx's
    # sort; float64 codes went out of a float32 graph
    X = digits01[:100].astype(np.float32)
    ae = AutoencoderTransformer(2, module=module, max_iter=1, random_state=0).fit(X)
    model = skl2onnx.to_onnx(ae, X[:1], target_opset=target_opset, options={"reconstruction": True})
    onnx.checker.check_model(model, full_check=True)
    out = run(model, X)
    assert_close(out["variable"], ae.transform(X))
    assert_close(out["reconstruction"], ae.inverse_transform(ae.transform(X)))


def test_an_option_of_a_step_that_is_not_the_last_is_refused(digits01):
    # its added output became an input of the next step: a Normalizer concatenated
    # the codes and their scores, and served every number wrong
    from sklearn.preprocessing import Normalizer

    X = digits01[:60].astype(np.float32)
    pipeline = make_pipeline(
        AutoencoderTransformer(2, max_iter=1, random_state=0), Normalizer()
    ).fit(X)
    options = {"autoencodertransformer__score_samples": True}
    message = r"\['score_samples'\] of AutoencoderTransformer .*Normalizer"
    with pytest.raises(RuntimeError, match=message):
        skl2onnx.to_onnx(pipeline, X[:1], options=options)
    # skl2onnx's own steps after the last one (final_types) are not a next step
    from skl2onnx.common.data_types import FloatTensorType

    last = pipeline.steps[0][1]
    final_types = [
        ("variable", FloatTensorType([None, 2])),
        ("score_samples", FloatTensorType([None, 1])),
    ]
    model = skl2onnx.to_onnx(
        last, X[:1], options={id(last): {"score_samples": True}}, final_types=final_types
    )
    assert_close(run(model, X)["score_samples"].ravel(), last.score_samples(X))


def test_conversion_leaves_the_estimator_as_it_was(fitted, data):
    estimator = fitted("ae-variants")  # dropout: a trace in training mode would differ
    X = data[1][:-1]
    before = estimator.transform(X)
    training = [m.training for m in estimator.net_.module_.modules()]
    skl2onnx.to_onnx(estimator, X[:1], options={"reconstruction": True})
    assert [m.training for m in estimator.net_.module_.modules()] == training
    assert np.array_equal(estimator.transform(X), before)


def test_inputs_the_estimator_cannot_take_are_refused(fitted, data):
    estimator = fitted("linear")
    X = data[1][:1]
    with pytest.raises(ValueError, match=r"expects 64 columns \(n_features_in_\).* has 10"):
        skl2onnx.to_onnx(estimator, X[:, :10])
    with pytest.raises(TypeError, match="float inputs only, got Int64TensorType"):
        skl2onnx.to_onnx(estimator, X.astype(np.int64))
    with pytest.raises(ValueError, match="target_opset >= 13, got target_opset=11"):
        skl2onnx.to_onnx(estimator, X, target_opset=11)
    with pytest.raises(TypeError, match="takes a fitted skae estimator"):
        skae_onnx.inverse_transform_to_onnx(StandardScaler().fit(X))


def test_without_the_extra_the_import_error_says_what_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "skae.onnx")
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'skae\[onnx\]'"):
        import skae.onnx  # noqa: F401


def imported_names(path):
    """The dotted names that the module at ``path`` (in skae/) imports, anywhere in
    it, made absolute: ``from .onnx import f`` gives skae.onnx and skae.onnx.f."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = ("skae." if node.level else "") + (node.module or "")
            module = module.rstrip(".")
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_no_module_of_skae_but_skae_onnx_imports_the_onnx_packages():
    # so that import skae works without the extra, and stays as fast
    names = {
        (path.name, name)
        for path in Path(skae.__file__).parent.glob("*.py")
        if path.name != "onnx.py"
        for name in imported_names(path)
    }
    assert ("_vae.py", "skae._outlier._OutlierThreshold") in names  # the walk sees imports
    onnx_packages = {"onnx", "onnxruntime", "skl2onnx"}
    assert {
        (file, name)
        for file, name in names
        if name.split(".")[0] in onnx_packages or (name + ".").startswith("skae.onnx.")
    } == set()


@pytest.mark.parametrize("key", sorted(DETECTORS))
def test_a_score_that_overflows_is_the_most_anomalous_in_the_graph_too(key, fitted, data):
    estimator = fitted(key)
    _, test = data
    probe = np.vstack([test[:3], np.full((1, test.shape[1]), 3e38, dtype=np.float32)])
    model = skl2onnx.to_onnx(estimator, probe[:1], options={"score_samples": True})
    outputs = run(model, probe)
    skae_scores = estimator.score_samples(probe)
    assert skae_scores[-1] == -np.inf
    assert outputs["score_samples"].ravel()[-1] == -np.inf
    assert outputs["label"].ravel()[-1] == -1


def test_the_linear_log_likelihood_holds_its_tolerance_where_its_covariance_is_ill_conditioned():
    # the graph computed it in float32: on low-noise data away from zero, 187 of
    # 300 training rows' scores were off by up to 1e-3, and a far row was -inf
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(10, 2)))[0].T
    X = rng.normal(size=(300, 2)) * 3 @ basis + rng.normal(size=(300, 10)) * 0.01 + 5
    X = X.astype(np.float32)
    for fitted_on, probe in [
        (X, X),
        # a row whose squared distance fits float32 only summed in float64
        (rng.normal(size=(100, 5)).astype(np.float32), np.full((1, 5), 1e19, np.float32)),
    ]:
        estimator = LinearAETransformer(2).fit(fitted_on)
        model = skl2onnx.to_onnx(estimator, probe[:1], options={"score_samples": True})
        graph, own = run(model, probe)["score_samples"].ravel(), estimator.score_samples(probe)
        assert np.isfinite(own).all()
        np.testing.assert_allclose(graph, own, rtol=1e-5)


# -- missing values (NaN) --------------------------------------------------------

# the linear autoencoder's graph completes rows with holes by solves of its own
# (see the test of its own below); the network estimators' graphs fill them
NETWORK_IDS = [key for key in instance_ids() if not key.startswith("linear")]
LINEAR_IDS = [key for key in instance_ids() if key.startswith("linear-") or key == "linear"]


def with_holes(X, rate, seed):
    """``X`` with a fraction ``rate`` of its entries NaN, every row keeping one."""
    rng = np.random.default_rng(seed)
    holes = np.where(rng.random(X.shape) < rate, np.nan, X).astype(X.dtype)
    empty = np.isnan(holes).all(axis=1)
    holes[empty, 0] = X[empty, 0]
    return holes


@pytest.fixture(scope="module")
def holes_data(data):
    """(train, test) digits with holes; the test rows begin with a complete row and
    a row of one observed entry, and end with a row outside [0, 1] (observed)."""
    X_train, test = data
    test = with_holes(test, 0.3, seed=1)
    test[0] = data[1][0]
    test[1, 1:] = np.nan
    return with_holes(X_train, 0.2, seed=0), test


@pytest.fixture(scope="module")
def fitted_on_holes(holes_data):
    """``fitted_on_holes(key)``: configuration ``key`` fitted on training digits with
    holes, so that its fill values are the means of the observed entries, once."""
    cache = {}

    def fit(key):
        if key not in cache:
            X_train, _ = holes_data
            cache[key] = instance(key, random_state=0).fit(columns(key, X_train))
        return cache[key]

    return fit


def holes_rows(key, X):
    """The rows of ``X`` for ``key``: its columns, each row keeping an observed
    entry, without the last row (outside [0, 1]) unless a Bernoulli model's."""
    X = columns(key, X).copy()
    X = X if needs_unit_interval(key) else X[:-1]
    empty = np.isnan(X).all(axis=1)
    X[empty, 0] = 0.5
    return X


@pytest.mark.parametrize("key", NETWORK_IDS)
def test_onnxruntime_computes_what_skae_computes_on_rows_with_holes(
    key, fitted_on_holes, holes_data
):
    estimator = fitted_on_holes(key)
    X = holes_rows(key, holes_data[1])
    assert np.isnan(X).any(axis=1).mean() > 0.5
    model = skl2onnx.to_onnx(
        estimator, X[:1], options={"score_samples": True, "reconstruction": True}
    )
    out = run(model, X)
    scores = estimator.score_samples(X)
    assert_close(out["score_samples"], scores)
    assert_close(out["reconstruction"], estimator.inverse_transform(estimator.transform(X)))
    if key not in DETECTORS:
        assert_close(out["variable"], estimator.transform(X))
    else:
        decision = estimator.decision_function(X)
        assert_close(out["scores"], decision, np.abs(scores))
        away = np.abs(decision) > ATOL + RTOL * np.abs(scores)
        assert away.mean() > 0.9
        assert np.array_equal(out["label"][away, 0], estimator.predict(X)[away])
    if needs_unit_interval(key):
        assert out["score_samples"][-1, 0] == -np.inf


@pytest.mark.parametrize("key", ["ae", "ae-detector", "vae", "vae-detector-elbo"])
def test_a_feature_never_observed_in_fit_is_a_hole_in_the_graph_too(key, holes_data):
    # skae hides it at inference (its weights never trained); the graph filled
    # only NaN, so a value arriving there moved the codes and a detector's labels
    X_train, test = (columns(key, X).copy() for X in holes_data)
    X_train[:, 0] = np.nan
    X_train = X_train[~np.isnan(X_train).all(axis=1)]
    estimator = instance(key, random_state=0).fit(X_train)
    X = holes_rows(key, test)
    X = X[~np.isnan(X[:, 1:]).all(axis=1)]
    X[:, 0] = 0.9
    out = run(skl2onnx.to_onnx(estimator, X[:1], options={"score_samples": True}), X)
    assert_close(out["score_samples"], estimator.score_samples(X))
    if key not in DETECTORS:
        assert_close(out["variable"], estimator.transform(X))


@pytest.mark.parametrize("key", ["ae-variants", "ae-bce", "vae-bernoulli", "vae-detector-elbo"])
def test_a_float64_graph_computes_skae_float64_results_on_rows_with_holes(
    key, fitted_on_holes, holes_data
):
    estimator = fitted_on_holes(key)
    X = holes_rows(key, holes_data[1]).astype(np.float64)
    out = run(skl2onnx.to_onnx(estimator, X[:1], options={"score_samples": True}), X)
    scores = estimator.score_samples(X)
    finite = np.isfinite(scores)
    np.testing.assert_array_equal(out["score_samples"][~finite, 0], scores[~finite])
    np.testing.assert_allclose(out["score_samples"][finite, 0], scores[finite], rtol=1e-9)
    first = "scores" if key in DETECTORS else "variable"
    expected = (
        estimator.decision_function(X) if key in DETECTORS else estimator.transform(X)
    ).reshape(out[first].shape)
    np.testing.assert_allclose(out[first], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("key", ["ae", "ae-bce", "vae", "ae-detector", "vae-detector-elbo"])
def test_a_row_with_nothing_observed_scores_nan_and_is_flagged(key, fitted_on_holes, holes_data):
    # skae refuses to score such a row; a graph cannot raise, so it says "no score"
    estimator = fitted_on_holes(key)
    X = holes_rows(key, holes_data[1])[:4]
    X[2] = np.nan
    with pytest.raises(ValueError, match="row 2 of X has no observed value"):
        estimator.score_samples(X)
    options = {"score_samples": True, "reconstruction": True}
    out = run(skl2onnx.to_onnx(estimator, X[:1], options=options), X)
    assert np.isnan(out["score_samples"][2, 0])
    assert_close(np.delete(out["score_samples"], 2), estimator.score_samples(np.delete(X, 2, 0)))
    # its codes and reconstruction are those of the fill values, as skae's
    assert_close(out["reconstruction"], estimator.inverse_transform(estimator.transform(X)))
    if key in DETECTORS:
        assert np.isnan(out["scores"][2, 0])
        assert out["label"][2, 0] == -1


def test_the_graph_fills_holes_from_fill_values_and_without_them_passes_nan_on(
    fitted_on_holes, holes_data
):
    # the graph's holes enter the encoder as fill_values_; a model fitted by skae 0.2
    # has none: skae refuses NaN, its graph computes NaN codes for a row with holes
    # and skae's results for complete rows
    estimator = fitted_on_holes("ae")
    X = holes_rows("ae", holes_data[1])[:3]
    out = run(skl2onnx.to_onnx(estimator, X[:1]), X)
    assert_close(out["variable"], estimator.transform(X))
    old = copy.deepcopy(estimator)
    del old.fill_values_, old.n_observed_
    out = run(skl2onnx.to_onnx(old, X[:1], options={"score_samples": True}), X)
    assert_close(out["variable"][:1], estimator.transform(X[:1]))
    assert np.isnan(out["variable"][1:]).all()
    # and its scores NaN too, as documented (they were -inf, the most anomalous)
    assert_close(out["score_samples"][:1, 0], estimator.score_samples(X[:1]))
    assert np.isnan(out["score_samples"][1:]).all()


@pytest.mark.parametrize("align", [True, False])
def test_the_linear_graph_gives_nan_where_its_solve_of_a_row_is_near_singular(align):
    # a model of almost no noise (align=True), or a decoder whose observed rows
    # are of deficient rank (align=False): skae solves such a row otherwise (in
    # its observed entries, by a pseudo-inverse), and the graph's elimination
    # without pivoting gave codes 0.7 off, never saying so
    rng = np.random.default_rng(1)
    A = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 10)) * 10 + 100
    A += 1e-7 * rng.normal(size=A.shape)
    if not align:
        A[:, 1] = A[:, 0]
    est = LinearAETransformer(3 if align else 2, align=align).fit(A)
    X = A[:3].copy()
    X[1, 1:] = np.nan if align else X[1, 1:]
    X[1, 2:] = np.nan
    X[2, 5] = np.nan  # well determined
    out = run(skl2onnx.to_onnx(est, X[:1], options={"score_samples": True}), X)
    assert np.isnan(out["variable"][1]).all() and np.isnan(out["score_samples"][1]).all()
    np.testing.assert_allclose(out["variable"][[0, 2]], est.transform(X[[0, 2]]), rtol=1e-6)


@pytest.mark.parametrize("key", LINEAR_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_linear_graph_completes_a_row_with_holes_as_skae(
    key, dtype, fitted_on_holes, holes_data
):
    # skae completes such a row by PCA's conditional expectations (align=False: by
    # the decoder's least-squares fit), which the graph computed as NaN; now the
    # graph solves each row's system too. Where skae computes what the graph does
    # not (a minimum-norm fit of fewer entries than components, the minibatch
    # solver's refusal, a row with nothing observed scored), NaN, not the -inf of
    # an overflow (the most anomalous score)
    if key == "linear-minibatch":  # which fits no holes
        estimator = instance(key, random_state=0, n_components=8)
        estimator.fit(np.nan_to_num(holes_data[0]))
    else:
        every = fitted_on_holes(key)  # every direction of the digits, constant pixels too
        if every.align:  # a likelihood in the graph where skae has one, none where not
            try:
                every.get_precision()  # the EM's few steps leave the constant pixels some
            except ValueError:
                with pytest.raises(ValueError, match="degenerate"):
                    skl2onnx.to_onnx(every, holes_data[1][:1], options={"score_samples": True})
            else:
                skl2onnx.to_onnx(every, holes_data[1][:1], options={"score_samples": True})
        estimator = clone(every).set_params(n_components=8).fit(holes_data[0])
    X = holes_rows(key, holes_data[1])[:40].astype(dtype)
    X[0] = np.nan_to_num(X[0], nan=0.5)
    X[2, 3:] = np.nan  # fewer observed entries than components
    X[3] = np.nan
    holed = np.isnan(X).any(axis=1)
    assert holed[1:].all() and not holed[0]
    options = {"score_samples": True, "reconstruction": True}
    out = run(skl2onnx.to_onnx(estimator, X[:1], options=options), X)
    if key == "linear-minibatch":
        for name in ("variable", "reconstruction", "score_samples"):
            assert np.isnan(out[name][holed]).all(), name
        assert_close(out["variable"][:1], estimator.transform(X[:1]))
        return
    observed = (~np.isnan(X)).sum(axis=1)
    computed = observed >= (0 if estimator.align else 8)
    assert (~computed).sum() >= (0 if estimator.align else 3)
    assert np.isnan(out["variable"][~computed]).all()
    codes = estimator.transform(X[computed])
    if dtype == np.float64:
        np.testing.assert_allclose(out["variable"][computed], codes, rtol=1e-9, atol=1e-12)
    else:
        assert_close(out["variable"][computed], codes)
    assert_close(out["reconstruction"][computed], estimator.inverse_transform(codes))
    scored = computed & (observed > 0)
    assert np.isnan(out["score_samples"][~scored]).all()
    scores = estimator.score_samples(X[scored])
    np.testing.assert_allclose(
        out["score_samples"][scored, 0], scores, rtol=1e-5 if dtype == np.float32 else 1e-9
    )


# the imputer: a feature empty in fit (dropped or kept), indicator columns
IMPUTER_SETTINGS = [
    {},
    {"add_indicator": True},
    {"keep_empty_features": True, "add_indicator": True},
]


@pytest.fixture(scope="module")
def imputer_data(holes_data):
    """(train, test): the digits with holes, feature 5 never observed in training."""
    X_train, test = (X.copy() for X in holes_data)
    X_train[:, 5] = np.nan
    return X_train, test[:-1]


def fitted_imputer(key, settings, X_train):
    imputer = instance(key, random_state=0, **settings).fit(X_train)
    if imputer.sample_posterior:
        with pytest.raises(ValueError, match=r"sample_posterior=True\) fills each hole with a"):
            skl2onnx.to_onnx(imputer, X_train[:1])
        imputer.set_params(sample_posterior=False)  # its best guess has a graph
    return imputer


@pytest.mark.parametrize("settings", IMPUTER_SETTINGS, ids=["plain", "indicator", "keep-empty"])
@pytest.mark.parametrize("key", imputer_ids())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_imputer_graph_fills_the_holes_as_transform(key, settings, dtype, imputer_data):
    X_train, X = (X.astype(dtype) for X in imputer_data)
    imputer = fitted_imputer(key, settings, X_train)
    model = skl2onnx.to_onnx(imputer, X[:1])
    assert [o.name for o in model.graph.output] == ["variable"]
    (filled,) = run(model, X).values()
    expected = imputer.transform(X)
    assert filled.dtype == dtype and filled.shape == expected.shape
    assert filled.shape[1] == len(imputer.get_feature_names_out())
    # observed entries (and indicator columns) bit for bit, holes as skae fills them
    kept = np.arange(X.shape[1]) if imputer.keep_empty_features else np.delete(np.arange(64), 5)
    observed = np.hstack([~np.isnan(X[:, kept]), np.ones(expected[:, len(kept) :].shape, bool)])
    assert np.array_equal(filled[observed], expected[observed])
    if dtype == np.float32:
        assert_close(filled, expected)
    else:
        np.testing.assert_allclose(filled, expected, rtol=1e-9, atol=1e-12)


def test_the_imputer_graph_takes_another_placeholder(imputer_data):
    X_train, X = (np.where(np.isnan(X), -1, X).astype(np.float32) for X in imputer_data)
    imputer = instance("imputer", random_state=0, missing_values=-1).fit(X_train)
    (filled,) = run(skl2onnx.to_onnx(imputer, X[:1]), X).values()
    expected = imputer.transform(X)
    observed = np.delete(X, 5, axis=1) != -1
    assert np.array_equal(filled[observed], expected[observed])
    assert_close(filled, expected)


def test_the_imputer_refuses_outputs_it_does_not_have(imputer_data):
    imputer = instance("imputer", random_state=0).fit(imputer_data[0])
    X = imputer_data[1][:1]
    with pytest.raises(ValueError, match="has no score_samples nor reconstruction output"):
        skl2onnx.to_onnx(imputer, X, options={"score_samples": True, "reconstruction": True})
    with pytest.raises(TypeError, match="AutoencoderImputer has no inverse_transform"):
        skae_onnx.inverse_transform_to_onnx(imputer)


def test_a_loss_set_after_fit_is_refused_where_the_graph_scores_or_reconstructs():
    # the graph read the new loss, and the detector's offset_ came from the old one
    X = np.random.default_rng(0).random((40, 4)).astype(np.float32)
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X)
    est.set_params(loss="bce", output_activation="sigmoid")
    with pytest.raises(ValueError, match="was fitted with loss='mse'"):
        skl2onnx.to_onnx(est, X[:1], options={"reconstruction": True})
    with pytest.raises(ValueError, match="was fitted with loss='mse'"):
        skae_onnx.inverse_transform_to_onnx(est)
    detector = skae.AutoencoderOutlierDetector(2, hidden_layer_sizes=(4,), max_iter=2).fit(X)
    with pytest.raises(ValueError, match="was fitted with loss='mse'"):
        skl2onnx.to_onnx(detector.set_params(loss="bce", output_activation="sigmoid"), X[:1])
    # codes alone are the network's, whatever the loss
    codes = runner(skl2onnx.to_onnx(est, X[:1]))(X)["variable"]
    np.testing.assert_allclose(codes, est.transform(X), rtol=1e-5, atol=1e-6)


def test_an_estimator_of_no_component_is_refused_by_name(wine):
    # skl2onnx's "A variable cannot be empty ... shape=[None, 0]" came first
    est = LinearAETransformer(n_components=0).fit(wine)
    X = wine[:1].astype(np.float32)
    for options in ({}, {id(est): {"score_samples": True}}):
        with pytest.raises(ValueError, match="n_components_=0: its codes have no column"):
            skl2onnx.to_onnx(est, X, options=options)
    with pytest.raises(ValueError, match="n_components_=0"):
        skae_onnx.inverse_transform_to_onnx(est)
