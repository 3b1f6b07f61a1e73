"""skae.save / skae.load: exact round trips, and refusal of anything tampered with."""

import json

import numpy as np
import pandas as pd
import pytest
import safetensors.numpy
import torch
from safetensors import safe_open
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvAutoencoder,
    LinearAETransformer,
    MLPAutoencoder,
)
from skae._persistence import _deserialize, _serialize

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
    document = json.loads(metadata["skae.estimator"])
    assert document["class"] == "LinearAETransformer"
    assert len(metadata["skae.sha256"]) == 64


# -- refusals -------------------------------------------------------------------


def test_any_changed_byte_is_refused(tmp_path):
    X = load_iris().data
    est = LinearAETransformer(2, solver="minibatch", max_iter=1, random_state=0).fit(X)
    skae.save(est, tmp_path / "est.skae")
    data = (tmp_path / "est.skae").read_bytes()
    tampered = tmp_path / "tampered.skae"
    accepted = []
    for position in range(len(data)):
        for flip in (0x01, 0x80):
            changed = bytearray(data)
            changed[position] ^= flip
            tampered.write_bytes(changed)
            try:
                skae.load(tampered)
            except ValueError:
                continue
            accepted.append((position, flip))
    assert accepted == [], f"accepted changed bytes at {accepted[:5]}"
    tampered.write_bytes(data[:-1])
    with pytest.raises(ValueError, match="SHA-256 check failed"):
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


@pytest.mark.parametrize(
    "key, change, message",
    [
        ("ae", ("params", "n_components", 4), "n_components=4 but n_components_=3"),
        ("linear", ("params", "n_components", 2), "n_components=2 but n_components_=3"),
        ("linear", ("attributes", "n_features_in_", 12), r"mean_ must be .* shape \(12,\)"),
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
        lambda document: document["net"].update(module={"dict": []}),
        lambda document: document["net"].update(optimizer_class="torch.optim.sgd.SGD"),
        lambda document: document.update(params=[[[[[[[[]]]]]]]]),
        lambda document: document["params"]["dict"].append(["max_iter", -3]),
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
