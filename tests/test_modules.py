"""The torch modules, on their own."""

import numpy as np
import pytest
import torch

from skae import MLPAutoencoder
from skae._modules import _takes_sparse_rows


@pytest.fixture(autouse=True)
def _seeded():
    """The same weights and inputs whatever ran before in this process (a parallel
    run orders the tests otherwise), the caller's generator state restored after."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def test_shapes_through_hidden_layers():
    ae = MLPAutoencoder(20, 3, hidden_layer_sizes=(16, 8))
    x = torch.randn(7, 20)
    assert ae.encode(x).shape == (7, 3)
    assert ae.decode(torch.randn(7, 3)).shape == (7, 20)
    assert torch.equal(ae(x), ae.decode(ae.encode(x)))
    assert [layer.out_features for layer in ae.decoder_layers] == [8, 16, 20]


def test_linear_module_is_two_matrix_products():
    ae = MLPAutoencoder(5, 2, activation="identity", bias=False)
    x = torch.randn(4, 5)
    W_e, W_d = ae.encoder_layers[0].weight, ae.decoder_layers[0].weight
    torch.testing.assert_close(ae(x), x @ W_e.T @ W_d.T)
    assert sum(p.numel() for p in ae.parameters()) == 2 * 5 * 2


def test_tied_decoder_uses_transposed_encoder_weights():
    ae = MLPAutoencoder(6, 2, hidden_layer_sizes=(4,), tied_weights=True)
    z = torch.randn(3, 2)
    W1, W2 = (layer.weight for layer in ae.encoder_layers)
    b = list(ae.decoder_biases)
    expected = torch.relu(z @ W2 + b[0]) @ W1 + b[1]
    torch.testing.assert_close(ae.decode(z), expected)
    # gradients of the reconstruction reach the shared encoder weights
    ae(torch.randn(3, 6)).sum().backward()
    assert W1.grad is not None and ae.decoder_layers is None


def test_code_activation_applies_to_the_code_only():
    ae = MLPAutoencoder(6, 3, hidden_layer_sizes=(5,), activation="tanh", code_activation="relu")
    z = ae.encode(torch.randn(50, 6))
    assert (z >= 0).all() and (z == 0).any()
    assert (ae.decode(-torch.ones(2, 3)) < 0).any()  # raw output: no activation


class _Narrow(torch.nn.Module):
    """Codes of width 1, whatever n_components says."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.encoder = torch.nn.Linear(n_features, 1)
        self.decoder = torch.nn.Linear(1, n_features)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)


class _ShortOutput(_Narrow):
    def encode(self, x):
        return self.encoder(x).repeat(1, 2)

    def decode(self, z):
        return self.decoder(z[:, :1])[:, 1:]


class _NarrowForItsDecoder(_Narrow):
    """Codes of width 1 for a decoder of n_components: decode fails in torch's words."""

    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)


class _TupleCodes(_Narrow):
    def encode(self, x):
        return (self.encoder(x).repeat(1, 2),)


class _NoEncode(torch.nn.Module):
    def __init__(self, n_features, n_components):
        super().__init__()
        self.layer = torch.nn.Linear(n_features, n_features)

    def forward(self, x):
        return self.layer(x)


class _Lazy(_Narrow):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.encoder = torch.nn.LazyLinear(n_components)


class _NoParameters(_Narrow):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.n_components = n_components
        del self.encoder, self.decoder

    def encode(self, x):
        return x[:, : self.n_components]

    def decode(self, z):
        return z.repeat(1, 3)[:, :5]


class _Frozen(_ShortOutput):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.requires_grad_(False)


@pytest.mark.parametrize(
    "module, error, message",
    [
        (_Narrow, ValueError, r"_Narrow\.encode returned shape \(2, 1\) .* needs \(2, 2\)"),
        (_NarrowForItsDecoder, ValueError, r"_NarrowForItsDecoder\.encode returned shape"),
        (_ShortOutput, ValueError, r"_ShortOutput\.decode returned shape \(2, 4\) .* \(2, 5\)"),
        (_TupleCodes, TypeError, r"_TupleCodes\.encode must return a floating tensor.*tuple"),
        (_NoEncode, TypeError, r"module _NoEncode has no encode method"),
        (_Frozen, ValueError, r"_Frozen has no parameter that requires grad"),
        (_NoParameters, ValueError, r"_NoParameters has no parameter that requires grad"),
        (_Lazy, ValueError, r"module _Lazy has lazy parameters"),
    ],
)
def test_a_custom_module_that_breaks_the_contract_is_named_before_training(module, error, message):
    # codes of width 1 came out of transform under n_components_=2 (and ONNX
    # graphs of the wrong shape); the others failed deep in training with torch's
    # errors
    import numpy as np

    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).random((24, 5))
    est = AutoencoderTransformer(2, max_iter=2, random_state=0).fit(X)
    before = est.transform(X)
    with pytest.raises(error, match=message):
        est.set_params(module=module).fit(X)
    # and the fitted model is as it was
    np.testing.assert_array_equal(est.set_params(module=None).transform(X), before)


def test_a_subclass_that_overrides_encode_gets_tensors_of_sparse_rows():
    # takes_sparse_rows was inherited: the subclass's encode got skae's private
    # _SparseRows, and x * 1.0 raised TypeError
    import scipy.sparse as sp

    from skae import AutoencoderTransformer

    class Scaled(MLPAutoencoder):
        def encode(self, x):
            return super().encode(x * 1.0)

    class Opts(Scaled):
        takes_sparse_rows = True  # says it takes them, encode overridden or not

    class Declines(MLPAutoencoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.takes_sparse_rows = False

    class Asks(Scaled):
        def __init__(self, *args, sparse=False, **kwargs):
            super().__init__(*args, **kwargs)
            self.sparse = sparse

        @property
        def takes_sparse_rows(self):  # read on the instance, not as the property object
            return self.sparse

    modules = [m(3, 2) for m in (MLPAutoencoder, Scaled, Opts, Declines, Asks)]
    takes = [_takes_sparse_rows(m) for m in [*modules, Asks(3, 2, sparse=True)]]
    assert takes == [True, False, True, False, False, True]
    X = sp.random(30, 6, density=0.3, format="csr", random_state=0)
    est = AutoencoderTransformer(2, max_iter=2, random_state=0, module=Scaled).fit(X)
    assert est.transform(X).shape == (30, 2)


class _UnitRows(torch.nn.Module):
    """Divides each row by its norm: rows of zeros have none."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)
        self.norm = torch.nn.BatchNorm1d(n_features)
        self.norm.eval()  # frozen statistics, in training too
        self.norm.requires_grad_(False)

    def encode(self, x):
        norms = x.norm(dim=1, keepdim=True)
        if not norms.all():
            raise ValueError("a row of zeros has no direction")
        return self.encoder(self.norm(x / norms) + 0.01 * torch.randn(x.shape))

    def decode(self, z):
        return self.decoder(z)


def test_the_module_check_does_not_refuse_nor_change_a_module_that_trains():
    # the check's rows of zeros are not the module's: a module that refuses them
    # was refused; and a frozen submodule's eval mode was undone (the BatchNorm's
    # statistics then moved in training)
    import numpy as np

    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).random((30, 6)) + 0.1
    est = AutoencoderTransformer(2, max_iter=2, random_state=0, module=_UnitRows).fit(X)
    assert not est.net_.module_.norm.training
    assert torch.equal(est.net_.module_.norm.running_mean, torch.zeros(6))


class _RectifiesItsInput(_Narrow):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.encoder = torch.nn.Linear(n_features, n_components)
        self.decoder = torch.nn.Linear(n_components, n_features)

    def encode(self, x):
        return self.encoder(torch.relu_(x))


class _DropsItsInputInTraining(_RectifiesItsInput):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.drop = torch.nn.Dropout(0.5, inplace=True)  # writes in training mode only

    def encode(self, x):
        return self.encoder(self.drop(x))


class _RectifiesItsInputInEval(_RectifiesItsInput):
    def encode(self, x):  # in eval mode only: inference, which the training steps never see
        return self.encoder(x if self.training else torch.relu_(x))


class _ShiftsItsCodes(_RectifiesItsInput):
    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        z -= 1.0
        return self.decoder(z)


@pytest.mark.parametrize(
    "module, method",
    [
        (_RectifiesItsInput, "encode"),
        (_DropsItsInputInTraining, "encode"),
        (_RectifiesItsInputInEval, "encode"),
        (_ShiftsItsCodes, "decode"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_module_that_writes_its_input_is_refused_before_it_reaches_a_callers_array(
    module, method, dtype, tmp_path
):
    # such a module wrote the caller's array at inference (a read-only memmap
    # crashed the process) and, on float32 data, the training target itself: the
    # network learned relu(X) and scored itself against it
    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(40, 5)).astype(dtype)
    original = X.copy()
    est = AutoencoderTransformer(2, max_iter=2, random_state=0, module=module)
    message = rf"{module.__name__}\.{method} modified its input in place"
    with pytest.raises(ValueError, match=message):
        est.fit(X)
    np.testing.assert_array_equal(X, original)
    assert not hasattr(est, "net_")


class _Activated(_RectifiesItsInput):
    """Its activation named in a list, as users pass layer specifications."""

    def __init__(self, n_features, n_components, activations=("relu",), scale=None):
        super().__init__(n_features, n_components)
        names = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
        self.activation = names[activations[0]]()
        self.scale = 1.0 if scale is None else float(np.asarray(scale).sum())

    def encode(self, x):
        return self.encoder(self.activation(x) * self.scale)


@pytest.mark.parametrize(
    "built, now",
    [
        ({"activations": ["relu"]}, {"activations": ["tanh"]}),
        ({"activations": {0: "relu"}}, {"activations": {0: "tanh"}}),
        ({"scale": np.ones(2)}, {"scale": np.full(2, 2.0)}),
        ({"scale": np.True_}, {"scale": np.False_}),  # NumPy's bool is no Number
    ],
)
def test_module_params_changed_in_a_list_a_dict_or_an_array_do_not_continue_nor_save(
    built, now, tmp_path
):
    # only strings, numbers and tuples were compared: a list changed after fit
    # continued training on the other network, and saved a file that loaded as
    # another model
    import skae
    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(30, 4))
    est = AutoencoderTransformer(2, max_iter=2, random_state=0, module=_Activated)
    est.set_params(module_params=built).fit(X)
    codes = est.transform(X)
    est.set_params(module_params=now, warm_start=True)
    with pytest.raises(ValueError, match=r"Cannot continue training: .*(activations|scale)="):
        est.fit(X)
    with pytest.raises(ValueError, match=r"Cannot continue training: .*(activations|scale)="):
        est.partial_fit(X)
    with pytest.raises(ValueError, match=r"Cannot save.*changed after fit"):
        skae.save(est, tmp_path / "est.skae")
    np.testing.assert_array_equal(est.transform(X), codes)
    # the same values in new objects (a list for a tuple included) build the same network
    same = {k: list(v) if isinstance(v, tuple) else v.copy() for k, v in built.items()}
    est.set_params(module_params=same).partial_fit(X)
    # and the list or dict it was built with is kept: one changed in place is the
    # net's too (an array is not kept: a module may train it in place as a parameter)
    key = next(iter(same))
    inner = same[key]
    if isinstance(inner, list | dict):
        inner[0] = now[key][0]
        with pytest.raises(ValueError, match=r"Cannot continue training: .*activations="):
            est.partial_fit(X)
        with pytest.raises(ValueError, match=r"Cannot save.*changed after fit"):
            skae.save(est, tmp_path / "est.skae")


@pytest.mark.parametrize(
    "value",
    [
        [float("nan")],
        np.array([1.0, 2.0]),
        "pandas",
        "pandas strings",
        np.array(["a", "b"], dtype=np.dtypes.StringDType()),
        np.random.RandomState(0),
        torch.nn.Tanh(),
    ],
)
def test_module_params_that_have_not_changed_continue_and_save_as_before(value, tmp_path):
    # NaN in a list did not equal itself, and objects compared as themselves
    # differed from the copies scikit-learn's clone (inside skae.save) makes
    import skae
    from skae import AutoencoderTransformer

    if isinstance(value, str):
        pd = pytest.importorskip("pandas")
        value = pd.Series([1.0, 2.0] if value == "pandas" else ["a", np.nan])

    class Takes(_Activated):
        def __init__(self, n_features, n_components, extra=None):
            super().__init__(n_features, n_components)

    X = np.random.default_rng(0).normal(size=(30, 4))
    est = AutoencoderTransformer(
        2, max_iter=2, random_state=0, module=Takes, module_params={"extra": value}
    ).fit(X)
    est.set_params(warm_start=True).fit(X)
    est.partial_fit(X)
    est.set_params(warm_start=False)
    objects = getattr(getattr(value, "dtype", None), "kind", "f") not in "fiub"
    if not isinstance(value, torch.nn.Module) and not objects:
        skae.save(est, tmp_path / "est.skae")
        loaded = skae.load(tmp_path / "est.skae", trusted=[Takes])
        np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    else:  # what a file cannot hold is said as such, not as a change after fit
        with pytest.raises(TypeError, match=r"skae\.save (stores|cannot store)"):
            skae.save(est, tmp_path / "est.skae")


class _InBfloat16(_RectifiesItsInput):
    def __init__(self, n_features, n_components):
        super().__init__(n_features, n_components)
        self.to(torch.bfloat16)

    def encode(self, x):
        return self.encoder(x)


def test_a_module_with_weights_numpy_cannot_hold_is_refused_by_save_by_name(tmp_path):
    # torch's "Got unsupported ScalarType BFloat16" came out of skae.save
    import skae
    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(30, 4))
    est = AutoencoderTransformer(2, max_iter=2, random_state=0, module=_InBfloat16).fit(X)
    with pytest.raises(TypeError, match=r"module\.encoder\.weight is a torch\.bfloat16 tensor"):
        skae.save(est, tmp_path / "est.skae")
    assert not (tmp_path / "est.skae").exists()


def test_skorch_s_module_argument_spelling_is_pointed_to_module_params():
    # module__<name> reached scikit-learn's nested-estimator rule: "type object
    # '_Activated' has no attribute 'set_params'", in set_params and in a search
    from sklearn.model_selection import GridSearchCV

    from skae import AutoencoderOutlierDetector, AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(30, 4))
    message = r"Invalid parameter 'module__scale' .* module_params=\{'scale': \.\.\.\}"
    for cls in (AutoencoderTransformer, AutoencoderOutlierDetector):
        est = cls(2, max_iter=2, random_state=0, module=_Activated)
        with pytest.raises(ValueError, match=message):
            est.set_params(module__scale=2.0)
        search = GridSearchCV(est, {"module__scale": [1.0, 2.0]}, cv=2, error_score="raise")
        with pytest.raises(ValueError, match=message):
            search.fit(X)
    # the way that works
    search = GridSearchCV(est, {"module_params": [{"scale": 1.0}, {"scale": 2.0}]}, cv=2)
    assert search.fit(X).best_params_["module_params"] in ({"scale": 1.0}, {"scale": 2.0})


class _StartsFrom(_RectifiesItsInput):
    """Its encoder's weights start from an array given in module_params, sharing its
    memory: training writes the user's array."""

    def __init__(self, n_features, n_components, init=None):
        super().__init__(n_features, n_components)
        self.encoder.weight = torch.nn.Parameter(torch.from_numpy(init))

    def encode(self, x):
        return self.encoder(x)


def test_a_module_that_trains_its_argument_in_place_continues():
    # the argument's copy kept at build then differed from it, and a plain
    # partial_fit was refused as "Cannot continue training"
    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).normal(size=(30, 4))
    init = np.zeros((2, 4), dtype=np.float32)
    est = AutoencoderTransformer(
        2, max_iter=2, random_state=0, module=_StartsFrom, module_params={"init": init}
    ).fit(X)
    assert np.abs(init).sum() > 0  # trained in place
    est.partial_fit(X)
    est.set_params(warm_start=True).fit(X)


def test_module_arguments_compare_as_the_values_they_build_from():
    # NaN equalled anything that was also NaN (NaN and NaT alike), an equality
    # that raised escaped every warm start, and NumPy dtypes and bytes were not
    # compared at all
    from decimal import Decimal

    from skae._changes import _comparable, _same_value

    def same(a, b):
        return _same_value(_comparable(a), _comparable(b))

    assert same([float("nan")], [float("nan")]) and same(np.datetime64("NaT"), np.datetime64("NaT"))
    assert not same(float("nan"), np.datetime64("NaT"))
    assert not same(np.dtype("float32"), np.dtype("float64")) and not same(b"relu", b"tanh")
    assert not same(Decimal("sNaN"), Decimal("sNaN"))  # raises in ==: taken as changed
    assert same(np.True_, True) and not same(np.True_, np.False_)
