"""skae.save / skae.load: exact round trips, and refusal of anything tampered with."""

import copy
import json
import os
import pickle
import subprocess
import sys
import tracemalloc

import joblib
import numpy as np
import pandas as pd
import pytest
import safetensors.numpy
import sklearn
import skorch.history
import torch
from safetensors import safe_open
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

import skae
from skae import (
    AutoencoderImputer,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvAutoencoder,
    LinearAETransformer,
    MLPAutoencoder,
)
from skae._persistence import _deserialize, _Encoder, _serialize

from ._instances import instance, instance_ids, needs_four_features

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _round_trip(est, tmp_path, **load_params):
    skae.save(est, tmp_path / "est.skae")
    return skae.load(tmp_path / "est.skae", **load_params)


ESTIMATORS = {
    "ae": AutoencoderTransformer(3, hidden_layer_sizes=(8,), max_iter=4, random_state=0),
    "ae-variants": AutoencoderTransformer(
        3,
        hidden_layer_sizes=(8, 5),
        tied_weights=True,
        dropout=0.1,
        noise=0.1,
        sparsity=1e-3,
        optimizer="sgd",
        early_stopping=True,
        max_iter=4,
        random_state=np.random.RandomState(1),
    ),
    "detector": AutoencoderOutlierDetector(3, contamination=0.1, max_iter=4, random_state=0),
    "linear": LinearAETransformer(3, random_state=0),
    "linear-whiten": LinearAETransformer(3, whiten=True, tied_weights=False, random_state=0),
    "linear-raw": LinearAETransformer(3, align=False, random_state=0),
    "linear-minibatch": LinearAETransformer(3, solver="minibatch", max_iter=4, random_state=0),
    # L-BFGS keeps no per-parameter state, so its file holds no optimizer tensors
    "ae-lbfgs": AutoencoderTransformer(
        3, optimizer=torch.optim.LBFGS, alpha=0.0, batch_size=178, max_iter=2, random_state=0
    ),
}


@pytest.mark.parametrize("key", ESTIMATORS)
def test_round_trip_is_exact(key, wine, tmp_path):
    est = ESTIMATORS[key].fit(wine)
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is type(est)
    Z = est.transform(wine)
    np.testing.assert_array_equal(loaded.transform(wine), Z)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), est.inverse_transform(Z))
    np.testing.assert_array_equal(loaded.score_samples(wine), est.score_samples(wine))
    np.testing.assert_array_equal(
        loaded.transform(wine.astype(np.float32)), est.transform(wine.astype(np.float32))
    )
    assert loaded.n_iter_ == est.n_iter_ and loaded.loss_curve_ == est.loss_curve_
    assert len(loaded.net_.history) == len(est.net_.history)
    params, loaded_params = est.get_params(), loaded.get_params()
    if isinstance(params["random_state"], np.random.RandomState):
        a, b = params.pop("random_state"), loaded_params.pop("random_state")
        assert a.randint(10**9) == b.randint(10**9)
    assert loaded_params == params
    if isinstance(est, AutoencoderOutlierDetector):
        assert loaded.offset_ == est.offset_
        np.testing.assert_array_equal(loaded.predict(wine), est.predict(wine))
    if isinstance(est, LinearAETransformer) and est.align:
        for name in ("components_", "explained_variance_ratio_", "scatter_", "mean_"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(est, name))
            assert getattr(loaded, name).dtype == getattr(est, name).dtype


def test_feature_names_and_pandas_output_survive(tmp_path):
    iris = load_iris(as_frame=True).data
    est = LinearAETransformer(2, random_state=0).set_output(transform="pandas").fit(iris)
    loaded = _round_trip(est, tmp_path)
    out = loaded.transform(iris)
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_frame_equal(out, est.transform(iris))
    assert list(loaded.feature_names_in_) == list(iris.columns)


def test_metadata_requests_survive(wine, tmp_path):
    # a pickle and clone keep set_*_request; a loaded file had lost them, and a
    # routed search refused the weights passed to the loaded estimator's score
    est = clone(ESTIMATORS["ae"])
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_score_request(sample_weight=True).set_fit_request(sample_weight="weights")
        weights = np.r_[np.zeros(len(wine) // 2), np.ones(len(wine) - len(wine) // 2)]
        est.fit(wine, sample_weight=weights)
        loaded = _round_trip(est, tmp_path)
        requests = est.get_metadata_routing()._serialize()
        assert loaded.get_metadata_routing()._serialize() == requests
        assert make_pipeline(loaded).score(wine, sample_weight=weights) == (
            make_pipeline(est).score(wine, sample_weight=weights)
        )
    # an estimator without requests loads without them, as it was
    plain = _round_trip(clone(ESTIMATORS["ae"]).fit(wine), tmp_path)
    assert "_metadata_request" not in vars(plain)


@pytest.mark.parametrize(
    "requests, message",
    [
        ({"score": {"sample_weight": "not an alias"}}, "alias"),
        ({"score": {"sample_weight": 3}}, "must be None, bool or str"),
        ({"score": {"weights": True}}, "must be among those of"),
        ({"predict": {"sample_weight": True}}, "must be among those of"),
        ([1, 2], "must be among those of"),
    ],
)
def test_crafted_metadata_requests_are_refused(wine, tmp_path, requests, message):
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)

    def edit(document, tensors):
        document["requests"] = _Encoder()(requests, "requests")

    _resave(path, edit)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_conv_module_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((40, 64))
    est = AutoencoderTransformer(
        4,
        module=ConvAutoencoder,
        module_params={"image_shape": (8, 8), "channels": (4,)},
        max_iter=2,
        random_state=0,
    ).fit(X)
    loaded = _round_trip(est, tmp_path)
    assert loaded.module is ConvAutoencoder and loaded.module_params == est.module_params
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


@pytest.mark.parametrize("key", ["ae", "ae-variants", "linear", "linear-minibatch"])
def test_training_continues_exactly_where_it_stopped(key, wine, tmp_path):
    est = ESTIMATORS[key].fit(wine[:100])
    loaded = _round_trip(est, tmp_path)
    est.partial_fit(wine[100:])
    loaded.partial_fit(wine[100:])
    for a, b in zip(est.net_.module_.parameters(), loaded.net_.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


def test_training_continues_exactly_after_more_epochs_than_a_file_keeps(
    wine, tmp_path, monkeypatch
):
    # a loaded net keeps its last epochs only (10,000; 3 here): the seed of the
    # next call was drawn from the length of that history, not the epochs trained
    monkeypatch.setattr(skae._net, "_LOADED_HISTORY", 3)
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=5, n_iter_no_change=None, noise=0.1,
        random_state=0,
    ).fit(wine[:100])  # fmt: skip
    loaded = _round_trip(est, tmp_path)
    assert len(loaded.net_.history) == 3 and loaded.n_iter_ == 5
    for _ in range(2):
        est.partial_fit(wine[100:])
        loaded.partial_fit(wine[100:])
    for a, b in zip(est.net_.module_.parameters(), loaded.net_.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_loading_leaves_global_generators_alone(wine, tmp_path):
    est = ESTIMATORS["ae"].fit(wine)
    skae.save(est, tmp_path / "est.skae")
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()  # noqa: NPY002
    skae.load(tmp_path / "est.skae")
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    now = np.random.get_state()  # noqa: NPY002
    assert now[0] == numpy_state[0] and np.array_equal(now[1], numpy_state[1])
    assert now[2:] == numpy_state[2:]


def test_file_is_plain_safetensors(wine, tmp_path):
    est = LinearAETransformer(2, random_state=0).fit(wine)
    skae.save(est, tmp_path / "est.skae")
    with safe_open(tmp_path / "est.skae", framework="numpy") as f:
        metadata = f.metadata()
        np.testing.assert_array_equal(f.get_tensor("attributes.components_"), est.components_)
        assert "module.encoder.weight" in f.keys()
    # one metadata entry (format 3), so that the bytes do not depend on its order
    assert list(metadata) == ["skae"]
    header = json.loads(metadata["skae"])
    document = json.loads(header["estimator"])
    assert header["format"] == "3"
    assert document["class"] == "LinearAETransformer"
    assert len(header["sha256"]) == 64


# -- refusals -------------------------------------------------------------------


def test_any_changed_byte_is_refused(tmp_path):
    X = load_iris().data
    est = LinearAETransformer(2, solver="minibatch", max_iter=1, random_state=0).fit(X)
    tampered = tmp_path / "tampered.skae"
    skae.save(est, tampered)
    data = tampered.read_bytes()
    accepted = []
    # each byte changed in place and put back: a file truncated and rewritten for
    # every change cost a millisecond of file system time per load
    with open(tampered, "r+b", buffering=0) as file:
        for position in range(len(data)):
            for flip in (0x01, 0x80):
                file.seek(position)
                file.write(bytes([data[position] ^ flip]))
                try:
                    skae.load(tampered)
                except ValueError:
                    pass
                else:
                    accepted.append((position, flip))
                file.seek(position)
                file.write(data[position : position + 1])
    assert tampered.read_bytes() == data
    assert accepted == [], f"accepted changed bytes at {accepted[:5]}"
    tampered.write_bytes(data[:-1])
    with pytest.raises(ValueError, match="damaged"):
        skae.load(tampered)


def test_changed_weight_names_the_checksum(wine, tmp_path):
    skae.save(ESTIMATORS["ae"].fit(wine), tmp_path / "est.skae")
    data = bytearray((tmp_path / "est.skae").read_bytes())
    data[-3] ^= 0x10  # inside the last tensor
    (tmp_path / "est.skae").write_bytes(data)
    with pytest.raises(ValueError, match=r"SHA-256 check failed.*changed after skae.save"):
        skae.load(tmp_path / "est.skae")


def _resave(path, change):
    """Apply ``change`` to the stored document and write it back with a valid digest,
    as a hand-made or hostile file would be."""
    document, tensors = _deserialize(path.read_bytes(), path)
    change(document, tensors)
    path.write_bytes(_serialize(document, tensors))


def _set(document, section, name, value):
    """Set ``name`` in the ``section`` ("params" or "attributes") of a stored document."""
    entries = dict(document[section]["dict"])
    entries[name] = value
    document[section]["dict"] = list(entries.items())


@pytest.mark.parametrize("name", ["PCA", "sklearn.decomposition.PCA", "os.system", None])
def test_unknown_estimator_class_is_refused(name, wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS["linear"].fit(wine), path)
    _resave(path, lambda document, tensors: document.update({"class": name}))
    with pytest.raises(ValueError, match="not a skae estimator"):
        skae.load(path)


def test_untrusted_class_in_parameters_is_refused(wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS["ae"].fit(wine), path)

    def name_os_system(document, tensors):
        document["params"]["dict"].append(["module", {"class": "os.system"}])

    _resave(path, name_os_system)
    with pytest.raises(ValueError, match=r"'os.system'.*trusted"):
        skae.load(path)


@pytest.mark.parametrize(
    "part, value",
    [
        (2, 10**7),
        (2, -1),
        (2, 1.5),
        (3, 2),
        (4, float("nan")),
        (4, 10**400),
        (1, [0] * 623),
        (1, [2**32] * 624),
    ],
)
def test_a_random_state_outside_mt19937_s_states_is_refused(part, value, wine, tmp_path):
    # NumPy reads the key at the stored position without a bound: a position of 10**7
    # loaded, and the first fit crashed the interpreter
    path = tmp_path / "est.skae"
    est = AutoencoderTransformer(2, max_iter=1, random_state=np.random.RandomState(0))
    skae.save(est.fit(wine), path)

    def change(document, tensors):
        dict(document["params"]["dict"])["random_state"]["random_state"][part] = value

    _resave(path, change)
    with pytest.raises(ValueError, match="random_state entry is no MT19937 state"):
        skae.load(path)


class _UserModule(MLPAutoencoder):
    """Stands for a user's own module class."""


def test_custom_module_loads_only_when_trusted(wine, tmp_path):
    est = AutoencoderTransformer(
        2, module=_UserModule, module_params={"hidden_layer_sizes": (6,)}, max_iter=2
    ).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    with pytest.raises(ValueError, match=r"_UserModule.*trusted"):
        skae.load(path)
    loaded = skae.load(path, trusted=[_UserModule])
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


@pytest.mark.parametrize(
    "key, param, value",
    [
        ("ae", "hidden_layer_sizes", {"tuple": [9]}),
        ("ae", "tied_weights", True),
        ("linear", "tied_weights", False),
    ],
)
def test_parameters_that_do_not_fit_the_weights_are_refused(key, param, value, wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS[key].fit(wine), path)

    def change(document, tensors):
        params = dict(document["params"]["dict"])
        params[param] = value
        document["params"]["dict"] = list(params.items())

    _resave(path, change)
    with pytest.raises(ValueError, match="parameters do not fit its weights"):
        skae.load(path)


def test_a_small_file_cannot_make_load_build_a_huge_network(wine, tmp_path):
    # 100,000 layer widths: each layer a Python object on the meta device before
    # anything was compared (30 s and 1.5 GB, then refused)
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS["ae"].fit(wine), path)
    _resave(path, lambda d, t: _set(d, "params", "hidden_layer_sizes", {"tuple": [1] * 100_000}))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="lists 100000 layers"):
            skae.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_an_array_of_layer_widths_cannot_make_load_build_a_huge_network(tmp_path):
    # the format stores an array in module_params as a tensor: only lists and
    # tuples were counted (20,000 channels in a 20 kB file: 8.8 s, 220 MB)
    X = np.random.default_rng(0).random((20, 16))
    est = AutoencoderTransformer(
        2, module=ConvAutoencoder, max_iter=1, n_iter_no_change=None,
        module_params={"image_shape": (4, 4), "channels": np.array([2, 2])},
    ).fit(X)  # fmt: skip
    path = tmp_path / "est.skae"
    skae.save(est, path)

    def widen(document, tensors):
        (name,) = [n for n in tensors if n.startswith("params.")]
        tensors[name] = np.ones(20_000, dtype=np.int8)

    _resave(path, widen)
    with pytest.raises(ValueError, match="lists 20000 layers"):
        skae.load(path)


@pytest.mark.parametrize(
    "key, change, message",
    [
        ("ae", ("params", "n_components", 4), "n_components=4 but n_components_=3"),
        ("linear", ("params", "n_components", 2), "n_components=2 but n_components_=3"),
        ("linear", ("attributes", "n_features_in_", 12), r"mean_ must be .* shape \(12,\)"),
        # a threshold that flagged every row, beside the training scores' percentiles
        ("detector", ("attributes", "offset_", 1e300), "offset_=1e.300 does not follow from"),
        ("detector", ("params", "contamination", "auto"), "does not follow from score_quantiles_"),
    ],
)
def test_fitted_state_that_contradicts_itself_is_refused(key, change, message, wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS[key].fit(wine), path)
    section, name, value = change

    def edit(document, tensors):
        entries = dict(document[section]["dict"])
        entries[name] = value
        document[section]["dict"] = list(entries.items())

    _resave(path, edit)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_fitted_arrays_that_contradict_the_dimensions_are_refused(wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS["linear"].fit(wine), path)

    def drop_a_component(document, tensors):
        tensors["attributes.components_"] = tensors["attributes.components_"][:2]

    _resave(path, drop_a_component)
    with pytest.raises(
        ValueError, match=r"components_ must be .* shape \(3, 13\).*got ndarray of shape \(2, 13\)"
    ):
        skae.load(path)


@pytest.mark.parametrize(
    "change",
    [
        lambda document: document.clear(),
        lambda document: document["attributes"]["dict"].append(["transform", None]),
        lambda document: document["attributes"]["dict"].append(["__class__", None]),
        lambda document: document["attributes"].update(
            dict=[kv for kv in document["attributes"]["dict"] if kv[0] != "mean_"]
        ),
        lambda document: document["attributes"].update(
            dict=[kv for kv in document["attributes"]["dict"] if kv[0] != "n_components_"]
        ),
        lambda document: document["attributes"]["dict"].append(["n_iter_", "lots"]),
        lambda document: document["attributes"]["dict"].append(["n_samples_seen_", -5]),
        lambda document: document["attributes"]["dict"].append(["evil_", "x"]),
        lambda document: document["attributes"]["dict"].append(["mean_", {"strings": ["a"] * 13}]),
        lambda document: document.update(net={"batch_size": 0}),
        lambda document: document.pop("output"),
        lambda document: document.update(params=[[[[[[[[]]]]]]]]),
        lambda document: document["params"]["dict"].append(["max_iter", -3]),
        # release numbers: ASCII digits of a bounded length (5,000 digits raised
        # Python's own int limit outside load's message; fullwidth digits passed)
        lambda document: document["dependencies"].update(torch="1" * 5000 + ".0"),
        lambda document: document["dependencies"].update(numpy="2.4\x1b[2J\nfake line"),
        lambda document: document.update(skae_version="\uff10.\uff13.\uff10"),
    ],
)
def test_malformed_documents_raise_value_errors(change, wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(ESTIMATORS["linear"].fit(wine), path)
    _resave(path, lambda document, tensors: change(document))
    with pytest.raises(ValueError, match=r"Cannot load|not a skae estimator"):
        skae.load(path)


@pytest.mark.parametrize(
    "key, change",
    [
        ("ae", {"alpha": 0.0}),
        ("ae", {"optimizer": "sgd"}),
        ("ae", {"n_components": 5}),
        ("ae", {"activation": "tanh"}),
        ("ae", {"noise": 0.5}),
        ("linear", {"solver": "minibatch"}),
    ],
)
def test_save_refuses_parameters_changed_after_fit(key, change, wine, tmp_path):
    est = clone(ESTIMATORS[key]).fit(wine).set_params(**change)
    with pytest.raises(ValueError, match=r"Cannot save.*changed after fit"):
        skae.save(est, tmp_path / "est.skae")
    assert not (tmp_path / "est.skae").exists()


def test_settings_that_do_not_change_the_network_can_change_before_saving(wine, tmp_path):
    est = clone(ESTIMATORS["ae"]).fit(wine).set_params(max_iter=50, verbose=1, device="auto")
    loaded = _round_trip(est, tmp_path)
    assert loaded.max_iter == 50
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


def test_refit_without_alignment_drops_the_aligned_attributes(wine, tmp_path):
    est = LinearAETransformer(3, random_state=0).fit(wine)
    est.set_params(align=False, n_components=5).fit(wine)
    assert not hasattr(est, "components_")
    np.testing.assert_array_equal(_round_trip(est, tmp_path).transform(wine), est.transform(wine))


def test_foreign_files_are_refused(wine, tmp_path):
    path = tmp_path / "other.skae"
    path.write_bytes(b"\x80\x04\x95 a pickle, say")
    with pytest.raises(ValueError, match=r"not a file written by skae.save"):
        skae.load(path)
    path.write_bytes(safetensors.numpy.save({"w": np.zeros(3)}))
    with pytest.raises(ValueError, match=r"not a file written by skae.save"):
        skae.load(path)


def test_save_refuses_what_it_cannot_store(wine, tmp_path):
    with pytest.raises(TypeError, match="stores skae's estimators"):
        skae.save(PCA(2).fit(wine), tmp_path / "pca.skae")
    with pytest.raises(NotFittedError):
        skae.save(LinearAETransformer(2), tmp_path / "unfitted.skae")
    est = AutoencoderTransformer(2, max_iter=1).fit(wine)
    est.set_params(module_params={"activation": lambda x: x})
    with pytest.raises(TypeError, match=r"params\.module_params\.activation is a function"):
        skae.save(est, tmp_path / "lambda.skae")
    assert not (tmp_path / "lambda.skae").exists()


class _Shifted(torch.nn.Module):
    """A linear autoencoder around a fixed ``shift`` (a tensor buffer)."""

    def __init__(self, n_features, n_components, shift=None):
        super().__init__()
        self.register_buffer("shift", torch.zeros(n_features) if shift is None else shift)
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        return self.encoder(x - self.shift)

    def decode(self, z):
        return self.decoder(z) + self.shift


def test_save_names_a_tensor_among_the_parameters(wine, tmp_path):
    # it was stored as a NumPy array, which the module's buffer refused on loading:
    # "the file would not load ... If parameters were changed after fit", which
    # they were not
    shift = torch.ones(wine.shape[1])
    est = AutoencoderTransformer(2, module=_Shifted, module_params={"shift": shift}, max_iter=1)
    est.fit(wine)
    with pytest.raises(TypeError, match=r"params\.module_params\.shift is a torch\.Tensor"):
        skae.save(est, tmp_path / "shifted.skae")
    assert not (tmp_path / "shifted.skae").exists()


# -- hostile files: every entry is checked before anything uses it ---------------


def _shrink_exp_avg(tensors):
    for name in [n for n in tensors if n.endswith(".exp_avg")]:
        tensors[name] = tensors[name].reshape(-1)[:1].copy()


def _set_tensor(name, value):
    def change(tensors):
        tensors[name] = value(tensors.get(name))

    return change


TENSOR_CHANGES = {
    # a one-element exp_avg would make the next Adam step write out of bounds
    "exp_avg shrunk": (
        _shrink_exp_avg,
        r"optimizer\.state\.\d+\.exp_avg should hold torch\.float32 of shape",
    ),
    "exp_avg_sq missing": (
        lambda tensors: tensors.pop("optimizer.state.0.exp_avg_sq"),
        r"optimizer\.state\.0\.exp_avg_sq should hold .* the file holds nothing",
    ),
    "key Adam has not": (
        _set_tensor("optimizer.state.0.momentum_buffer", lambda _: np.zeros(13, np.float32)),
        r"optimizer\.state\.0\.momentum_buffer should hold nothing",
    ),
    "parameter that does not exist": (
        _set_tensor("optimizer.state.99.step", lambda _: np.array(1.0, np.float32)),
        r"optimizer\.state\.99\.step should hold nothing",
    ),
    "exp_avg in float64": (
        _set_tensor("optimizer.state.0.exp_avg", lambda t: t.astype(np.float64)),
        r"exp_avg should hold torch\.float32 .* holds torch\.float64",
    ),
    "negative step": (
        _set_tensor("optimizer.state.0.step", lambda t: np.array(-t)),
        r"optimizer\.state\.0\.step is negative",
    ),
    "fractional step": (
        _set_tensor("optimizer.state.0.step", lambda t: np.array(t + 0.5)),
        r"optimizer\.state\.0\.step is not a whole number of steps",
    ),
    "NaN exp_avg": (
        _set_tensor("optimizer.state.3.exp_avg", lambda t: t * np.nan),
        r"optimizer\.state\.3\.exp_avg holds NaN or infinite values",
    ),
    "integer weights": (
        lambda tensors: tensors.update(
            {n: t.astype(np.int64) for n, t in tensors.items() if n.startswith("module.")}
        ),
        r"do not fit its weights: module\..* should hold torch\.float32 .* holds torch\.int64",
    ),
    "infinite weights": (
        _set_tensor("module.encoder_layers.0.weight", lambda t: np.where(t > 0, np.inf, t)),
        r"module\.encoder_layers\.0\.weight holds NaN or infinite values",
    ),
    "unused tensor": (
        _set_tensor("attributes.extra_", lambda _: np.zeros(3)),
        r"tensors that AutoencoderTransformer does not use: \['attributes\.extra_'\]",
    ),
}


@pytest.mark.parametrize("key", TENSOR_CHANGES)
def test_tensors_that_do_not_fit_the_parameters_are_refused(key, wine, tmp_path):
    change, message = TENSOR_CHANGES[key]
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)
    _resave(path, lambda document, tensors: change(tensors))
    with pytest.raises(ValueError, match=message):
        skae.load(path)


SCALER_CHANGES = {
    "negative scale": (
        _set_tensor("scaler.scale", lambda t: np.array(-t)),
        r"scaler\.scale must be a normal float32",
    ),
    # 1 / 1e-45 overflows float32: the next step diverged
    "subnormal scale": (
        _set_tensor("scaler.scale", lambda _: np.array(1e-45, dtype=np.float32)),
        r"scaler\.scale must be a normal float32",
    ),
    "negative tracker": (
        _set_tensor("scaler.growth_tracker", lambda _: np.array(-1, dtype=np.int32)),
        r"scaler\.growth_tracker from 0 to 1999",
    ),
    # past the growth interval the scale never grows again (and the int32 wraps)
    "tracker past the interval": (
        _set_tensor("scaler.growth_tracker", lambda _: np.array(2001, dtype=np.int32)),
        r"scaler\.growth_tracker from 0 to 1999",
    ),
    "half the state": (
        lambda tensors: tensors.pop("scaler.growth_tracker"),
        r"loss scaler state must be \['scaler\.growth_tracker', 'scaler\.scale'\]",
    ),
    "a scale of float64": (
        _set_tensor("scaler.scale", lambda t: t.astype(np.float64)),
        r"loss scaler state must be .*scalars of float32 and int32",
    ),
}


@pytest.mark.parametrize("key", SCALER_CHANGES)
def test_a_loss_scaler_state_is_checked(key, wine, tmp_path):
    # float16's loss scale is stored, so that a loaded model continues with it
    change, message = SCALER_CHANGES[key]
    path = tmp_path / "est.skae"
    est = AutoencoderTransformer(2, precision="float16", max_iter=2, random_state=0)
    skae.save(est.fit(wine), path)
    assert skae.load(path).net_.scaler_.get_scale() == est.net_.scaler_.get_scale()
    _resave(path, lambda document, tensors: change(tensors))
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_a_loss_scaler_state_in_a_model_without_one_is_refused(wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)
    state = {"scaler.scale": np.array(8.0, np.float32)}
    state["scaler.growth_tracker"] = np.array(0, np.int32)
    _resave(path, lambda document, tensors: tensors.update(state))
    with pytest.raises(ValueError, match="train without one"):
        skae.load(path)


_LOAD_WITH_LITTLE_MEMORY = """
import resource, sys, time
import skae

# room for 1 GiB more than the interpreter maps now: the declared network needs 4
with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (mapped + 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
rss, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
try:
    skae.load(sys.argv[1])
except ValueError as error:
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    print(f"{time.perf_counter() - start:.3f} {grown} {error}")
"""


def _file_declaring_a_huge_network(wine, path):
    est = AutoencoderTransformer(3, hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    skae.save(est.fit(wine), path)

    def declare_a_huge_network(document, tensors):
        _set(document, "params", "hidden_layer_sizes", {"tuple": [500]})
        _set(document, "attributes", "n_features_in_", 10**6)
        # as a file from before missing values had fill values: the weights are
        # the only arrays left to betray the declared sizes
        for name in ("fill_values_", "n_observed_"):
            del tensors[f"attributes.{name}"]
            document["attributes"]["dict"] = [
                entry for entry in document["attributes"]["dict"] if entry[0] != name
            ]

    _resave(path, declare_a_huge_network)
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_declared_sizes_are_checked_against_the_tensors_before_building(limited_children):
    path, result = limited_children["little memory"]
    assert path.stat().st_size < 12_000
    # in a child process, whose address space is limited so that a loader that
    # believes the file fails fast instead of taking the memory
    assert result.stdout, f"the file loaded, or the loader crashed: {result.stderr}"
    seconds, grown_kib, message = result.stdout.split(" ", 2)
    assert "do not fit its weights" in message and "of shape (500" in message, message
    assert float(seconds) < 2
    assert int(grown_kib) < 64 * 1024


@pytest.mark.parametrize(
    "key, change, message",
    [
        ("detector", ("attributes", "offset_", float("nan")), r"offset_=nan must be a float"),
        ("linear", ("attributes", "noise_variance_", float("inf")), r"noise_variance_=inf"),
        ("linear", ("tensor", "attributes.mean_", np.nan), r"attributes\.mean_ holds NaN"),
        ("linear", ("tensor", "attributes.scatter_", np.inf), r"attributes\.scatter_ holds NaN"),
        ("linear", ("tensor", "module.mean", np.nan), r"module\.mean holds NaN"),
    ],
)
def test_non_finite_state_is_refused_by_name(key, change, message, wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS[key]).fit(wine), path)
    section, name, value = change

    def edit(document, tensors):
        if section == "tensor":
            tensors[name] = tensors[name].copy()
            tensors[name].flat[0] = value
        else:
            _set(document, section, name, value)

    _resave(path, edit)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


@pytest.mark.parametrize(
    "section, name, value, message",
    [
        ("params", "batch_size", 0, r"'batch_size' parameter .* Got 0 instead"),
        ("params", "batch_size", -5, r"'batch_size' parameter .* Got -5 instead"),
        ("params", "learning_rate_init", -5.0, r"'learning_rate_init' parameter .* Got -5.0"),
        ("params", "output_activation", "evil", r"'output_activation' parameter .* 'evil'"),
        ("attributes", "loss_curve_", "junk", r"loss_curve_='junk' must be a list"),
        ("attributes", "loss_curve_", [0.5, "junk", 0.2, 0.1], r"loss_curve_=.* must be a list"),
        ("attributes", "loss_curve_", [float("nan")] * 4, r"loss_curve_=\[nan"),
        ("attributes", "loss_curve_", [0.5], r"n_iter_=4, loss_curve_.* do not agree"),
        ("attributes", "validation_scores_", [-0.5] * 4, r"do not agree .* early_stopping=False"),
        ("attributes", "best_validation_score_", 0.5, r"do not agree"),
        ("output", "transform", "evil", r"set_output setting \{'transform': 'evil'\}"),
    ],
)
def test_training_state_is_checked_by_the_rules_fit_uses(
    section, name, value, message, wine, tmp_path
):
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)

    def edit(document, tensors):
        if section == "output":
            document["output"] = {"dict": [[name, value]]}
        else:
            _set(document, section, name, value)

    _resave(path, edit)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_a_reference_to_an_array_the_file_lacks_is_named(wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)
    _resave(path, lambda document, tensors: tensors.pop("attributes.fill_values_"))
    with pytest.raises(ValueError, match=r"refers to an array 'attributes\.fill_values_' that"):
        skae.load(path)


def test_training_settings_come_from_the_parameters_not_the_net(wine, tmp_path):
    est = clone(ESTIMATORS["ae"]).fit(wine)
    for group in est.net_.optimizer_.param_groups:
        group["lr"] = -5.0
    est.net_.history = skorch.history.History([{"epoch": 1, "train_loss": "junk"}])
    loaded = _round_trip(est, tmp_path)
    assert [g["lr"] for g in loaded.net_.optimizer_.param_groups] == [est.learning_rate_init] * 2
    assert loaded.net_.batch_size == 200
    assert loaded.net_.history[:, "train_loss"] == est.loss_curve_
    est.net_.batch_size = 0
    with pytest.raises(ValueError, match=r"Cannot save .*batch_size=0 \(now 200\)"):
        skae.save(est, tmp_path / "other.skae")


def test_file_from_a_gpu_estimator_loads_on_the_cpu(wine, tmp_path):
    est = clone(ESTIMATORS["ae"]).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    # as written on a machine with more GPUs than this one has
    _resave(path, lambda document, tensors: _set(document, "params", "device", "cuda:99"))
    with pytest.warns(UserWarning, match="stays on the CPU"):
        loaded = skae.load(path)
    assert loaded.net_.device == "cpu" and loaded.device == "cuda:99"
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))
    skae.save(loaded, tmp_path / "again.skae")


# -- saving -------------------------------------------------------------------------


_SAVE_OVER_AN_OLD_FILE_WHILE_WRITES_FAIL = """
import os, resource, signal, sys
import numpy as np
from sklearn.datasets import load_wine
from sklearn.preprocessing import scale
import skae

path, X = sys.argv[1], scale(load_wine().data)
old = skae.LinearAETransformer(2, random_state=0).fit(X)
skae.save(old, path)
new = skae.AutoencoderTransformer(2, hidden_layer_sizes=(256,), max_iter=1, random_state=0)
new.set_params(n_iter_no_change=None).fit(X)
# writing past the old file's size fails with EFBIG, as on a full disk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 1000, hard))
try:
    skae.save(new, path)
except OSError as error:
    print("save failed:", error)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
print(sorted(os.listdir(os.path.dirname(path))))
print(np.array_equal(skae.load(path).transform(X), old.transform(X)))
"""


# Runs scripts, each in a child forked from one interpreter that has imported skae:
# every child's limits (file size, address space) and memory marks are its own, and
# the interpreter's start and imports, most of each test's time, are paid once.
_FORKED_CHILDREN = """
import json, os, sys, traceback
import numpy as np, sklearn.datasets, skae

codes = []
for script, args, out in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT), 1)
        os.dup2(os.open(out + ".err", os.O_WRONLY | os.O_CREAT), 2)
        sys.argv = ["-c", *args]
        try:
            exec(compile(script, "<script>", "exec"), {"__name__": "__main__"})
            code = 0
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def limited_children(wine, tmp_path_factory):
    """Name -> (its file, its finished script) of the scripts that run under limits."""
    folder = tmp_path_factory.mktemp("limited")
    (folder / "save").mkdir()
    runs = {
        "little memory": (
            _LOAD_WITH_LITTLE_MEMORY,
            _file_declaring_a_huge_network(wine, folder / "est.skae"),
        ),
        "failing writes": (_SAVE_OVER_AN_OLD_FILE_WHILE_WRITES_FAIL, folder / "save" / "m.skae"),
    }
    jobs = [[script, [str(path)], str(folder / name)] for name, (script, path) in runs.items()]
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_CHILDREN, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = {}
    for (name, (_, path)), code in zip(runs.items(), json.loads(done.stdout), strict=True):
        stdout, stderr = ((folder / f"{name}{end}").read_text() for end in ("", ".err"))
        results[name] = path, subprocess.CompletedProcess(name, code, stdout, stderr)
    return results


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_failed_save_leaves_the_old_file_intact(limited_children):
    # in a child process, so that the file size limit does not reach pytest
    _, result = limited_children["failing writes"]
    assert result.returncode == 0, result.stderr
    failed, files, same = result.stdout.splitlines()
    assert failed.startswith("save failed:") and "File too large" in failed
    assert files == "['m.skae']"
    assert same == "True"


ROUND_TRIPS = {
    "pickle": lambda est, tmp_path: pickle.loads(pickle.dumps(est)),
    "joblib": lambda est, tmp_path: joblib.load(joblib.dump(est, tmp_path / "est.joblib")[0]),
    "deepcopy": lambda est, tmp_path: copy.deepcopy(est),
    "skae": _round_trip,
}


@pytest.mark.parametrize("trip", ROUND_TRIPS)
@pytest.mark.parametrize("solver", ["covariance", "minibatch"])
def test_linear_ae_resumes_after_any_round_trip(trip, solver, wine, tmp_path):
    est = LinearAETransformer(3, solver=solver, max_iter=3, random_state=0).fit(wine[:100])
    restored = ROUND_TRIPS[trip](est, tmp_path)
    for continued in (est, restored):
        continued.partial_fit(wine[100:])
        continued.set_params(warm_start=True).fit(wine)
    assert restored.n_iter_ == est.n_iter_
    np.testing.assert_array_equal(restored.transform(wine), est.transform(wine))


def test_linear_ae_pickles_and_files_hold_little_beyond_its_arrays(tmp_path):
    X = np.random.default_rng(0).random((2000, 784))
    # the size does not depend on the number of epochs; two keep the test fast
    est = LinearAETransformer(36, max_iter=2, random_state=0).fit(X)
    arrays = [*est.net_.module_.state_dict().values()]
    arrays += [value for value in vars(est).values() if isinstance(value, np.ndarray)]
    needed = sum(array.nbytes for array in arrays)
    skae.save(est, tmp_path / "est.skae")
    assert len(pickle.dumps(est)) <= 1.1 * needed
    assert os.path.getsize(tmp_path / "est.skae") <= 1.1 * needed


# -- every configuration of the instance generator -------------------------------


def _fitted_instance(key, digits01):
    """Configuration ``key`` fitted on data it takes: 200 digits in [0, 1] (their
    first 4 pixels of the middle row for the 2 x 2 convolutional configuration)."""
    X = digits01[:200, 26:30] if needs_four_features(key) else digits01[:200]
    return instance(key, random_state=0).fit(X), X


def _scores_or_error(est, X):
    """``score_samples(X)`` as a list, or the message where the model has no score
    (a linear model with no noise and directions of no variance: the digits'
    constant pixels)."""
    try:
        return est.score_samples(X).tolist()
    except ValueError as error:
        return str(error)


@pytest.mark.parametrize("key", instance_ids())
def test_every_configuration_round_trips_through_files_pickles_and_clones(key, digits01, tmp_path):
    est, X = _fitted_instance(key, digits01)
    trusted = [est.module] if getattr(est, "module", None) is not None else []
    for copy_ in (
        _round_trip(est, tmp_path, trusted=trusted),
        pickle.loads(pickle.dumps(est)),
        copy.deepcopy(est),
    ):
        assert type(copy_) is type(est)
        np.testing.assert_array_equal(copy_.transform(X), est.transform(X))
        assert _scores_or_error(copy_, X) == _scores_or_error(est, X)
    cloned = clone(est)
    assert cloned.get_params() == est.get_params() and not hasattr(cloned, "net_")


def test_save_gives_the_same_bytes_every_time(wine, tmp_path):
    est = AutoencoderTransformer(3, hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(wine)
    skae.save(est, tmp_path / "a.skae")
    skae.save(est, tmp_path / "b.skae")
    skae.save(skae.load(tmp_path / "a.skae"), tmp_path / "c.skae")
    first = (tmp_path / "a.skae").read_bytes()
    assert (tmp_path / "b.skae").read_bytes() == first
    assert (tmp_path / "c.skae").read_bytes() == first


def test_save_keeps_the_mode_of_the_file_it_replaces(wine, tmp_path):
    est = LinearAETransformer(2).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    path.chmod(0o600)
    skae.save(est, path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_save_refuses_a_file_it_may_not_write_though_the_folder_allows_it(
    wine, tmp_path, monkeypatch
):
    # renaming into a folder needs only the folder's permission: save must not
    # replace a file its owner made read-only, which open(path, "wb") refuses. This
    # suite may run as root, whom the system lets write any file, so the system's
    # answer for this one file is that of an ordinary user
    target = tmp_path / "read-only.skae"
    target.write_bytes(b"keep me")
    target.chmod(0o444)
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if p == target else access(p, mode, **kw)
    )
    est = LinearAETransformer(2).fit(wine)
    with pytest.raises(PermissionError) as error:
        skae.save(est, target)
    assert error.value.filename == str(target)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["read-only.skae"]


def test_save_into_no_folder_names_the_path_given(wine, tmp_path):
    # the error named the temporary file save writes first, which the caller never gave
    est = clone(ESTIMATORS["ae"]).fit(wine)
    for path, error in [
        (tmp_path / "missing" / "est.skae", FileNotFoundError),
        (tmp_path / "a-file" / "est.skae", NotADirectoryError),
    ]:
        (tmp_path / "a-file").touch()
        with pytest.raises(error) as raised:
            skae.save(est, path)
        assert raised.value.filename == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_save_writes_through_a_link_and_to_any_name_the_folder_takes(wine, tmp_path):
    est = LinearAETransformer(2).fit(wine)
    target, link = tmp_path / "target.skae", tmp_path / "link.skae"
    target.write_bytes(b"old")
    link.symlink_to(target)
    skae.save(est, link)  # the link stays a link, and its file is the model
    assert link.is_symlink()
    np.testing.assert_array_equal(skae.load(target).transform(wine), est.transform(wine))
    # the longest name a folder commonly takes (255 bytes): a temporary name
    # beside it must not be longer
    longest = tmp_path / ("m" * 250 + ".skae")
    skae.save(est, longest)
    assert skae.load(longest).n_components_ == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["target.skae", "link.skae", longest.name]
    )


@pytest.mark.parametrize("device", ["cpu:0"])
def test_every_accepted_cpu_spelling_saves_and_loads(device, wine, tmp_path):
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, device=device, random_state=0
    ).fit(wine)
    loaded = _round_trip(est, tmp_path)
    assert loaded.device == device
    np.testing.assert_array_equal(loaded.transform(wine), est.transform(wine))


def _rewritten(path, change):
    """The file at ``path`` with ``change(document, tensors)`` applied and a matching
    digest: what a hostile writer who knows the format can produce."""
    document, tensors = _deserialize(path.read_bytes(), path)
    tensors = dict(tensors)
    change(document, tensors)
    path.write_bytes(_serialize(document, tensors))
    return path


def _set_attribute(name, value):
    def change(document, tensors):
        entries = document["attributes"]["dict"]
        for entry in entries:
            if entry[0] == name:
                entry[1] = value
                return
        entries.append([name, value])

    return change


def test_a_loaded_history_is_bounded_whatever_the_file_declares(wine, tmp_path):
    est = LinearAETransformer(2, solver="minibatch", max_iter=2, random_state=0).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    n = 300_000
    _rewritten(path, _set_attribute("loss_curve_", [0] * n))
    _rewritten(path, _set_attribute("n_iter_", n))
    loaded = skae.load(path)
    assert loaded.n_iter_ == n and len(loaded.loss_curve_) == n
    assert len(loaded.net_.history) <= 10_000
    assert loaded.net_.history[-1]["epoch"] == n


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("explained_variance_", "negate", "negative variances"),
        ("noise_variance_", -1.0, "noise_variance_"),
        ("scatter_", "not psd", "positive semi-definite"),
        ("components_", None, "must be all present"),
        # each consistent with the rest but for scatter_, which partial_fit goes on
        # from: the file loaded, and became another model at its next partial_fit
        ("scatter_", "tiny", "not the variance of scatter_ along components_"),
        ("noise_variance_", 1e300, "exceeds the total variance of scatter_"),
    ],
)
def test_crafted_spectra_are_refused(name, value, message, wine, tmp_path):
    est = LinearAETransformer(2, whiten=True).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)

    def change(document, tensors):
        key = f"attributes.{name}"
        if value == "negate":
            tensors[key] = -tensors[key]
        elif value == "not psd":
            tensors[key] = tensors[key] - 2 * np.trace(tensors[key]) * np.eye(len(tensors[key]))
        elif value == "tiny":
            tensors[key] = np.eye(len(tensors[key])) * 1e-12
        elif value is None:
            entries = document["attributes"]["dict"]
            entries[:] = [e for e in entries if e[0] != name]
            tensors.pop(key)
        else:
            _set_attribute(name, value)(document, tensors)

    _rewritten(path, change)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


@pytest.mark.parametrize(
    "key, params, message",
    [
        ("ae", {"loss": "bce"}, "needs output_activation='sigmoid'"),
        ("ae", {"noise_type": "masking", "noise": 1.0}, "needs noise < 1"),
        ("ae", {"sparsity_target": 0.1}, "code_activation='logistic'"),
        ("ae", {"module_params": {"n_components": 5}}, "may not set n_components"),
        ("linear", {"align": False}, "whiten=True needs align=True"),
        ("linear", {"early_stopping": True}, "apply to solver='minibatch' only"),
        ("linear", {"alpha": 0.1}, "apply to solver='minibatch' only"),
    ],
)
def test_contradictory_parameters_in_a_file_are_refused(key, params, message, wine, tmp_path):
    est = (
        AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        if key == "ae"
        else LinearAETransformer(2, whiten=True)
    ).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)

    def change(document, tensors):
        encode = _Encoder()
        for entry in document["params"]["dict"]:
            if entry[0] in params:
                entry[1] = encode(params[entry[0]], entry[0])

    _rewritten(path, change)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_a_file_of_the_previous_format_is_refused_by_name(wine, tmp_path):
    # format 2 kept three metadata entries, skae.format among them
    est = LinearAETransformer(2).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    document, tensors = _deserialize(path.read_bytes(), path)
    old = {"skae.format": "2", "skae.estimator": json.dumps(document), "skae.sha256": "0" * 64}
    path.write_bytes(safetensors.numpy.save(dict(tensors), metadata=old))
    with pytest.raises(ValueError, match=r"has skae format '2'; this skae .* reads format '3'"):
        skae.load(path)


def test_a_file_of_a_later_format_says_to_upgrade(wine, tmp_path):
    path = tmp_path / "est.skae"
    skae.save(LinearAETransformer(2).fit(wine), path)
    document, tensors = _deserialize(path.read_bytes(), path)
    header = {"format": "4", "sha256": "0" * 64, "estimator": json.dumps(document)}
    path.write_bytes(safetensors.numpy.save(dict(tensors), metadata={"skae": json.dumps(header)}))
    with pytest.raises(ValueError, match=r"has skae format '4'.* Upgrade skae to load it"):
        skae.load(path)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_loaded_long_history_goes_on_recording_epochs(early_stopping, wine, tmp_path):
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, early_stopping=early_stopping, random_state=0
    ).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    n = 20_000
    _rewritten(path, _set_attribute("loss_curve_", [0.5] * n))
    _rewritten(path, _set_attribute("n_iter_", n))
    if early_stopping:
        _rewritten(path, _set_attribute("validation_scores_", [-0.5] * n))
        _rewritten(path, _set_attribute("best_validation_score_", -0.5))
    loaded = skae.load(path).partial_fit(wine)
    assert loaded.n_iter_ == n + 1 == len(loaded.loss_curve_)
    assert loaded.loss_curve_[-1] != 0.5
    if early_stopping:
        assert len(loaded.validation_scores_) == n + 1
        assert loaded.best_validation_score_ == loaded.validation_scores_[-1]


def _change_tensor(name, change):
    def apply(document, tensors):
        tensors[name] = change(tensors[name].copy())

    return apply


@pytest.mark.parametrize(
    "change, message",
    [
        (_change_tensor("module.encoder.weight", lambda w: w[::-1].copy()), "not components_"),
        (_change_tensor("module.mean", lambda m: m + 1), "mean buffer is not mean_"),
        (_change_tensor("attributes.components_", lambda c: 2 * c), "orthonormal"),
        (_change_tensor("attributes.explained_variance_", lambda v: v[::-1].copy()), "sorted"),
        (_change_tensor("attributes.explained_variance_ratio_", lambda r: 10 * r), "summing"),
        (_change_tensor("attributes.singular_values_", lambda s: -s), "singular_values_"),
        (_set_attribute("n_samples_seen_", 2), "exceeds min"),
        (_set_attribute("loss_curve_", [-1.0]), "loss_curve_"),
    ],
    ids=["weights", "mean", "orthonormal", "sorted", "ratios", "singular", "rows", "loss"],
)
def test_fitted_state_that_contradicts_the_network_or_pca_is_refused(
    change, message, wine, tmp_path
):
    est = LinearAETransformer(3).fit(wine)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    _rewritten(path, change)
    with pytest.raises(ValueError, match=message):
        skae.load(path)


@pytest.mark.parametrize(
    "optimizer, key",
    [
        (torch.optim.RMSprop, "square_avg"),
        (torch.optim.Adagrad, "sum"),
        (torch.optim.Adadelta, "acc_delta"),
        (torch.optim.Adamax, "exp_inf"),
        # step sizes: a negative one trained uphill without an error
        (torch.optim.ASGD, "eta"),
        (torch.optim.ASGD, "mu"),
        (torch.optim.Rprop, "step_size"),
        (torch.optim.NAdam, "mu_product"),
        (torch.optim.Adafactor, "row_var"),
        (torch.optim.Adafactor, "variance"),
    ],
)
def test_other_optimizers_negative_squares_are_refused(optimizer, key, wine, tmp_path):
    # only Adam's were checked: a negative square_avg loaded, and the next
    # partial_fit then called the data divergent
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, optimizer=optimizer, alpha=0, random_state=0
    )
    path = tmp_path / "est.skae"
    skae.save(est.fit(wine), path)
    _, tensors = _deserialize(path.read_bytes(), "est")
    name = next(n for n in tensors if n.endswith(f".{key}"))
    _rewritten(path, _change_tensor(name, lambda t: np.asarray(t - 1 - t.max(), t.dtype)))
    with pytest.raises(ValueError, match=f"{name} is negative"):
        skae.load(path)


def test_optimizer_state_is_refused_where_there_is_no_optimizer_or_it_is_negative(wine, tmp_path):
    adam = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    skae.save(adam.fit(wine), tmp_path / "adam.skae")
    _, adam_tensors = _deserialize((tmp_path / "adam.skae").read_bytes(), "adam")
    squares = next(n for n in adam_tensors if n.endswith("exp_avg_sq"))
    _rewritten(tmp_path / "adam.skae", _change_tensor(squares, lambda t: t - 1))
    with pytest.raises(ValueError, match=f"{squares} is negative"):
        skae.load(tmp_path / "adam.skae")
    skae.save(LinearAETransformer(2).fit(wine), tmp_path / "closed.skae")

    def add_state(document, tensors):
        tensors["optimizer.state.0.step"] = np.ones(1, dtype=np.float32)

    _rewritten(tmp_path / "closed.skae", add_state)
    with pytest.raises(ValueError, match="without an optimizer"):
        skae.load(tmp_path / "closed.skae")


@pytest.mark.parametrize("Estimator", [skae.AutoencoderTransformer, skae.VAETransformer])
def test_a_file_loads_whatever_torchs_default_dtype_is(Estimator, tmp_path):
    # the weights' type is the file's (the default when it was fitted), not the
    # loading process's: both ways, bit for bit
    X = np.random.default_rng(0).random((60, 6))
    before = torch.get_default_dtype()
    try:
        both_ways = [(torch.float32, torch.float64), (torch.float64, torch.float32)]
        for fitted_in, loaded_in in both_ways:
            torch.set_default_dtype(fitted_in)
            est = Estimator(2, max_iter=2, n_iter_no_change=None, random_state=0).fit(X)
            path = tmp_path / f"{fitted_in}.skae"
            skae.save(est, path)
            torch.set_default_dtype(loaded_in)
            loaded = skae.load(path)
            assert next(loaded.net_.module_.parameters()).dtype == fitted_in
            np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
            skae.save(est, tmp_path / "again.skae")  # its own load-back check passes
    finally:
        torch.set_default_dtype(before)


@pytest.mark.parametrize("strings", [[[1], [1, 2]], [None, None], [False, True], "ab"])
def test_an_entry_of_strings_that_holds_other_things_is_refused(strings, tmp_path):
    # categories held as strings in the file: anything else is refused at load,
    # not left for transform to trip over
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=40), rng.choice(["a", "b"], 40)]).astype(object)
    est = skae.AutoencoderTransformer(
        2, categorical_features=[1], max_iter=2, n_iter_no_change=None, random_state=0
    ).fit(X)
    path = tmp_path / "est.skae"
    skae.save(est, path)

    def forge(document, tensors):
        for key, value in document["attributes"]["dict"]:
            if key == "categories_":
                value[0] = {"strings": strings}

    _resave(path, forge)
    with pytest.raises(ValueError, match="an entry of strings holds something other"):
        skae.load(path)


class _WithAFloat64Buffer(torch.nn.Module):
    """Weights in torch's default type, and a buffer made float64 on purpose."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.enc = torch.nn.Linear(n_features, n_components)
        self.dec = torch.nn.Linear(n_components, n_features)
        self.register_buffer("gain", torch.tensor(1.0, dtype=torch.float64))

    def encode(self, x):
        return self.enc(x) * self.gain.to(x.dtype)

    def decode(self, z):
        return self.dec(z)


def test_a_tensor_made_in_a_type_of_its_own_keeps_it(tmp_path):
    X = np.random.default_rng(0).random((60, 6))
    est = skae.AutoencoderTransformer(
        2, module=_WithAFloat64Buffer, max_iter=2, n_iter_no_change=None, random_state=0
    ).fit(X)
    skae.save(est, tmp_path / "est.skae")
    before = torch.get_default_dtype()
    try:
        for default in (torch.float32, torch.float64):
            torch.set_default_dtype(default)
            loaded = skae.load(tmp_path / "est.skae", trusted=[_WithAFloat64Buffer])
            assert loaded.net_.module_.gain.dtype == torch.float64
            assert loaded.net_.module_.enc.weight.dtype == torch.float32
            np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    finally:
        torch.set_default_dtype(before)


@pytest.mark.parametrize("solver", ["covariance", "lbfgs", "minibatch"])
def test_a_loaded_linear_model_transforms_sparse_rows_bit_for_bit(solver, tmp_path):
    # components_ came out of the eigensolver in Fortran order and out of a file
    # in C order: BLAS summed the sparse path's offset in another order (1 ulp)
    import scipy.sparse as sp

    X = sp.random(40, 6, density=0.3, format="csr", random_state=0)
    est = LinearAETransformer(2, solver=solver, max_iter=3, random_state=0).fit(X)
    skae.save(est, tmp_path / "lae.skae")
    loaded = skae.load(tmp_path / "lae.skae")
    for method in ("transform", "score_samples"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(est, method)(X))


@pytest.mark.parametrize("trusted", [MLPAutoencoder, ["skae.MLPAutoencoder"], "MLPAutoencoder"])
def test_trusted_must_be_a_sequence_of_classes(trusted, wine, tmp_path):
    # a class alone or names: "Cannot load <file>: TypeError: Value after * must
    # be an iterable", which blamed a good file
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)
    with pytest.raises(TypeError, match="trusted must be a sequence of classes"):
        skae.load(path, trusted=trusted)
    skae.load(path, trusted=[MLPAutoencoder])
    # a generator is read once, for the check and the load alike
    user = clone(ESTIMATORS["ae"]).set_params(module=_UserModule).fit(wine)
    skae.save(user, path)
    skae.load(path, trusted=(cls for cls in [_UserModule]))


def test_a_long_local_release_of_a_dependency_saves_and_loads(wine, tmp_path, monkeypatch):
    # a vendor's build string of 79 characters after "2.13.0+": release numbers
    # are bounded in length, but not so short that such a build could not save
    monkeypatch.setattr(torch, "__version__", "2.13.0+" + "build.1" * 11 + "xx")
    est = LinearAETransformer(2).fit(wine)
    skae.save(est, tmp_path / "est.skae")
    np.testing.assert_array_equal(
        skae.load(tmp_path / "est.skae").transform(wine), est.transform(wine)
    )


def test_save_writes_into_what_is_not_a_file_and_load_refuses_it(wine, tmp_path):
    # renaming a file over a device or a pipe replaced it (as root: /dev/null), and
    # load read /dev/zero without end
    import threading

    est = LinearAETransformer(2).fit(wine)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    skae.save(est, pipe)
    reader.join(30)
    assert pipe.is_fifo()
    (tmp_path / "copy.skae").write_bytes(received[0])
    np.testing.assert_array_equal(
        skae.load(tmp_path / "copy.skae").transform(wine), est.transform(wine)
    )
    for what in (pipe, tmp_path, "/dev/zero"):
        with pytest.raises(ValueError, match="it is not a file"):
            skae.load(what)
    # names of no file are refused as open refuses them, and nothing is written
    with pytest.raises(IsADirectoryError):
        skae.save(est, f"{tmp_path / 'model.skae'}{os.sep}")
    with pytest.raises(FileNotFoundError):
        skae.save(est, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.skae", "pipe"]


def _set_parameter(name, value):
    def change(document, tensors):
        for entry in document["params"]["dict"]:
            if entry[0] == name:
                entry[1] = value

    return change


@pytest.mark.parametrize(
    "spec", [[[2]], [7], [-1], [True, False], [1], [0, 2]], ids=lambda spec: repr(spec)
)
def test_categorical_features_that_fit_would_refuse_or_read_otherwise_are_refused(spec, tmp_path):
    # they loaded, and transform went on with the fitted categories
    X = np.c_[np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 3]
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, categorical_features=[2], random_state=0
    ).fit(X)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    _rewritten(path, _set_parameter("categorical_features", spec))
    with pytest.raises(ValueError, match="categorical_features"):
        skae.load(path)


def _without(document, tensors, *names):
    for name in names:
        tensors.pop(f"attributes.{name}")
    document["attributes"]["dict"] = [
        e for e in document["attributes"]["dict"] if e[0] not in names
    ]


def test_an_imputer_without_fill_values_is_refused(wine, tmp_path):
    # the loader took it for a file of 0.2.0, whose networks have no fill values,
    # and the loaded imputer failed at its first fill (AttributeError: n_observed_)
    path = tmp_path / "imputer.skae"
    skae.save(instance("imputer", max_iter=2, random_state=0).fit(wine), path)
    _resave(
        path, lambda document, tensors: _without(document, tensors, "fill_values_", "n_observed_")
    )
    with pytest.raises(ValueError, match="fill_values_ is missing"):
        skae.load(path)


def test_a_model_of_0_2_0_without_fill_values_is_saved_and_loaded_again(wine, tmp_path):
    path = tmp_path / "old.skae"
    skae.save(instance("vae-detector", max_iter=2, random_state=0).fit(wine), path)

    def as_0_2_0(document, tensors):
        document["skae_version"] = "0.2.0"
        _without(document, tensors, "fill_values_", "n_observed_")

    _resave(path, as_0_2_0)
    with pytest.warns(skae.InconsistentVersionWarning):
        old = skae.load(path)
    assert not hasattr(old, "fill_values_")
    skae.save(old, tmp_path / "again.skae")
    again = skae.load(tmp_path / "again.skae")
    np.testing.assert_array_equal(again.score_samples(wine), old.score_samples(wine))


def test_categories_without_fill_values_are_refused(tmp_path):
    X = pd.DataFrame({"x": np.linspace(0, 1, 30), "c": pd.Categorical(list("ab") * 15)})
    path = tmp_path / "est.skae"
    est = AutoencoderTransformer(1, categorical_features="from_dtype", max_iter=2, random_state=0)
    skae.save(est.fit(X), path)

    def as_0_2_0_without_fill_values(document, tensors):
        document["skae_version"] = "0.2.0"
        _without(document, tensors, "fill_values_", "n_observed_")

    _resave(path, as_0_2_0_without_fill_values)
    with pytest.raises(ValueError, match="categories_ is set, but fill_values_"):
        skae.load(path)


def test_a_categorical_imputer_with_another_placeholder_than_nan_is_neither_saved_nor_loaded(
    tmp_path,
):
    # fit refuses the pair; set after fit, save wrote it and load took it, and
    # the loaded imputer refused every call
    X = pd.DataFrame({"x": np.linspace(0, 1, 30), "c": pd.Categorical(list("ab") * 15)})
    X.iloc[3, 0] = np.nan
    est = AutoencoderImputer(
        categorical_features="from_dtype", hidden_layer_sizes=(4,), max_iter=2, random_state=0
    ).fit(X)
    path = tmp_path / "imputer.skae"
    skae.save(est, path)
    with pytest.raises(ValueError, match=r"Cannot save.*takes missing values as NaN"):
        skae.save(est.set_params(missing_values=-1.0), path)
    _resave(path, lambda document, tensors: _set(document, "params", "missing_values", -1.0))
    with pytest.raises(ValueError, match="takes missing values as NaN"):
        skae.load(path)


def test_load_takes_a_bytes_path_as_save_does(wine, tmp_path):
    path = os.fsencode(tmp_path / "est.skae")
    est = LinearAETransformer(2).fit(wine)
    skae.save(est, path)
    np.testing.assert_array_equal(skae.load(path).transform(wine), est.transform(wine))


def test_a_file_longer_or_shorter_than_its_header_declares_is_refused_unread(wine, tmp_path):
    # a sparse file of gigabytes (0 bytes on disk, as an archive can unpack one)
    # was read whole before safetensors refused it: 3.4 GB resident for 3 GB
    import tracemalloc

    sparse = tmp_path / "sparse.skae"
    with open(sparse, "wb") as file:
        file.truncate(2**30)
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    skae.save(est.fit(wine), tmp_path / "est.skae")
    written = (tmp_path / "est.skae").read_bytes()
    longer, shorter = tmp_path / "longer.skae", tmp_path / "shorter.skae"
    with open(longer, "wb") as file:
        file.write(written)
        file.truncate(2**30)  # its tensors, then a gigabyte of holes
    shorter.write_bytes(written[:-1])
    for path in (sparse, longer, shorter):
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="not the one its header declares"):
                skae.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2**20 + len(written)


def test_an_output_setting_that_is_an_array_is_named(wine, tmp_path):
    # compared with the dicts of set_output, an array had no truth value: the
    # refusal said "The truth value of an array ... is ambiguous"
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)

    def edit(document, tensors):
        tensors["output"] = np.zeros(3)
        document["output"] = {"array": "output"}

    _resave(path, edit)
    with pytest.raises(ValueError, match=r"its set_output setting array\(\[0\., 0\., 0\.\]\)"):
        skae.load(path)


def test_an_entry_of_two_kinds_is_named(wine, tmp_path):
    # {"dict": [...], "tuple": [...]} failed with "too many values to unpack"
    path = tmp_path / "est.skae"
    skae.save(clone(ESTIMATORS["ae"]).fit(wine), path)
    _resave(path, lambda document, tensors: document["params"].update({"tuple": []}))
    with pytest.raises(ValueError, match=r"an entry holds 2 kinds \(\['dict', 'tuple'\]\)"):
        skae.load(path)
