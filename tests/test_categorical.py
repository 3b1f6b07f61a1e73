"""Categorical columns as categories: ``categorical_features``."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import skae
from skae import (
    AutoencoderImputer,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VAEOutlierDetector,
    VAETransformer,
)
from skae._losses import _NegativeELBO, _ReconstructionLoss
from skae._persistence import _deserialize, _serialize
from skae.metrics import reconstruction_error

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_FAST = dict(n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
ESTIMATORS = [
    AutoencoderTransformer,
    VAETransformer,
    AutoencoderOutlierDetector,
    VAEOutlierDetector,
]


def _table(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "b": rng.normal(size=n),
            "size": rng.choice(["S", "L"], n).astype(object),
        }
    )


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_from_dtype_encodes_the_category_and_object_columns(cls):
    est = cls(**_FAST, categorical_features="from_dtype").fit(_table())
    assert est.is_categorical_.tolist() == [False, True, False, True]
    assert [c.tolist() for c in est.categories_] == [["blue", "green", "red"], ["L", "S"]]
    # two numeric inputs, then one per category: the network is 7 wide
    assert est.net_.get_params()["module__n_features"] == 7
    assert est.fill_values_.shape == (7,)
    assert est.transform(_table()).shape == (30, 2)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_inverse_transform_gives_a_table_with_categories(cls):
    X = _table()
    est = cls(**_FAST, categorical_features="from_dtype").fit(X)
    out = est.inverse_transform(est.transform(X))
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(X.columns)
    assert out["colour"].dtype == pd.CategoricalDtype(["blue", "green", "red"])
    assert out["size"].dtype == pd.CategoricalDtype(["L", "S"])
    assert out["a"].dtype == np.float64
    assert set(out["colour"]) <= {"red", "green", "blue"}


def test_inverse_transform_of_an_array_is_an_object_array():
    X = _table().to_numpy()
    est = AutoencoderTransformer(**_FAST, categorical_features=[1, 3]).fit(X)
    out = est.inverse_transform(est.transform(X))
    assert out.dtype == object and out.shape == (30, 4)
    assert set(out[:, 1]) <= {"red", "green", "blue"}
    assert isinstance(out[0, 0], float)


def test_a_network_learns_the_categories_back():
    # a column that the code can hold: reconstructed exactly after training
    X = _table(n=60)[["a", "colour"]]
    est = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(16,), max_iter=300, random_state=0,
        n_iter_no_change=None, learning_rate_init=0.01, categorical_features=["colour"],
    ).fit(X)  # fmt: skip
    out = est.inverse_transform(est.transform(X))
    assert (out["colour"] == X["colour"]).mean() == 1.0


@pytest.mark.parametrize(
    "spec", [[False, True, False, True], [1, 3], ["colour", "size"], np.array([1, 3])]
)
def test_mask_indices_and_names_are_the_same_columns(spec):
    est = AutoencoderTransformer(**_FAST, categorical_features=spec).fit(_table())
    assert est.is_categorical_.tolist() == [False, True, False, True]


def test_none_is_today_s_behaviour_bit_for_bit():
    X = np.random.default_rng(0).normal(size=(20, 3))
    old = AutoencoderTransformer(**_FAST).fit(X)
    new = AutoencoderTransformer(**_FAST, categorical_features=None).fit(X)
    assert old.is_categorical_ is None and old.categories_ is None
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    # and a mask of no column is the same as None
    empty = AutoencoderTransformer(**_FAST, categorical_features=[]).fit(X)
    np.testing.assert_array_equal(old.transform(X), empty.transform(X))
    assert empty.categories_ is None


def test_from_dtype_on_an_array_finds_no_categorical_column():
    X = np.random.default_rng(0).normal(size=(20, 3))
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.categories_ is None


@pytest.mark.parametrize(
    "spec, message",
    [
        ([True, False], "one entry per feature"),
        ([5], r"lie in \[0, 3\]"),
        ([-1], r"lie in \[0, 3\]"),
        (["nope"], "not columns of X"),
        ([0.5], "dtype float64"),
        (np.int64(1), "must be 1-D"),
        ([[0, 1]], "must be 1-D"),
        ("auto", "categorical_features"),
    ],
)
def test_bad_categorical_features_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(**_FAST, categorical_features=spec).fit(_table())


def test_names_without_column_names_are_an_error():
    with pytest.raises(ValueError, match="no column names"):
        AutoencoderTransformer(**_FAST, categorical_features=["colour"]).fit(_table().to_numpy())
    named_by_integers = _table().set_axis(range(4), axis=1)
    with pytest.raises(ValueError, match="names only where all are strings"):
        AutoencoderTransformer(**_FAST, categorical_features=["1"]).fit(named_by_integers)


def test_a_string_column_not_listed_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match=r"column 3 of X holds .* not in categorical_features"):
        AutoencoderTransformer(**_FAST, categorical_features=[1]).fit(_table().to_numpy())


def test_sparse_input_is_refused_with_categories_and_kept_without():
    X = sp.random(20, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="dense input"):
        AutoencoderTransformer(**_FAST, categorical_features=[0]).fit(X)
    # a user's own one-hot columns, sparse, work as before
    assert AutoencoderTransformer(**_FAST).fit(X).transform(X).shape == (20, 2)


def test_unknown_categories_at_transform_are_missing():
    X = _table()
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    unknown, missing = X.iloc[:3].copy(), X.iloc[:3].copy()
    unknown["size"] = ["XL", "XL", "XL"]
    missing["size"] = [np.nan, None, pd.NA]
    np.testing.assert_array_equal(est.transform(unknown), est.transform(missing))
    # and missing entries leave the scores finite
    assert np.isfinite(est.score_samples(missing)).all()


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_an_unseen_category_is_scored_as_the_least_probable_known_one(cls):
    # it was left out of the score as a missing entry: a detector took a row for
    # more typical because its category was new, and a row with nothing else
    # observed was refused as "every entry is NaN"
    X = _table()
    est = cls(**_FAST, categorical_features="from_dtype").fit(X)
    unknown, missing = X.iloc[:5].copy(), X.iloc[:5].copy()
    unknown["size"], missing["size"] = "XL", np.nan
    # the encoder takes it as missing: the codes are the same
    np.testing.assert_array_equal(est.transform(unknown), est.transform(missing))
    assert not np.allclose(est.score_samples(unknown), est.score_samples(missing))
    lonely = unknown.assign(a=np.nan, colour=np.nan, b=np.nan)
    assert np.isfinite(est.score_samples(lonely)).all()
    if hasattr(est, "predict"):
        assert est.predict(lonely).shape == (5,)
    if cls in (AutoencoderTransformer, AutoencoderOutlierDetector):
        errors = reconstruction_error(est, unknown, per_feature=True)
        expected = reconstruction_error(est, missing, per_feature=True)
        np.testing.assert_array_equal(errors[:, :3], expected[:, :3])
        # at least the cost of a category never seen in the column's 30 rows
        assert (errors[:, 3] >= np.log(30 + 2 + 1) - 1e-6).all()
        np.testing.assert_allclose(-est.score_samples(unknown), errors.mean(axis=1), rtol=1e-6)
    # also where the column had one category, whose own cross-entropy is zero
    single = X.assign(size="S")
    est = cls(**_FAST, categorical_features="from_dtype").fit(single)
    new = single.iloc[:5].assign(size="XL")
    assert (est.score_samples(new) < est.score_samples(single.iloc[:5])).all()


def test_a_new_category_in_partial_fit_is_an_error_naming_the_column():
    X = _table()
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    new = X.iloc[:5].copy()
    new["size"] = ["S", "L", "XL", "S", "S"]
    before = est.net_
    with pytest.raises(ValueError, match="column 'size' has the category 'XL'"):
        est.partial_fit(new)
    assert est.net_ is before  # all or nothing
    est.partial_fit(X.iloc[:5])  # known categories continue
    assert est.n_iter_ == 4


def test_missing_categories_are_masked_out_of_the_loss():
    # the loss of a row with a missing category counts its observed columns only
    raw = torch.tensor([[0.5, 2.0, -1.0, 0.0]])
    target = torch.tensor([[1.0, np.nan, np.nan, np.nan]])
    loss = _ReconstructionLoss(categories=(3,))((raw, raw), target)
    assert loss.item() == pytest.approx(0.25)


def test_each_column_counts_once_a_categorical_one_by_its_cross_entropy():
    raw = torch.tensor([[0.5, 2.0, -1.0, 0.0]])
    target = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    cross_entropy = torch.logsumexp(raw[0, 1:], 0) - raw[0, 2]
    loss = _ReconstructionLoss(categories=(3,))((raw, raw), target)
    assert loss.item() == pytest.approx((0.25 + cross_entropy.item()) / 2)
    # the VAE's negative log-likelihood sums the columns: Gaussian + categorical
    elbo = _NegativeELBO(beta=0.0, categories=(3,))((raw, raw[:, :1], raw[:, :1]), target)
    gaussian = 0.5 * 0.25 + 0.5 * np.log(2 * np.pi)
    assert elbo.item() == pytest.approx(gaussian + cross_entropy.item(), rel=1e-6)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderOutlierDetector])
def test_per_feature_errors_are_one_per_original_column(cls):
    X = _table()
    X.loc[0, "colour"] = np.nan
    est = cls(**_FAST, categorical_features="from_dtype").fit(X)
    errors = reconstruction_error(est, X, per_feature=True)
    assert errors.shape == (30, 4)
    assert np.isnan(errors[0, 1]) and not np.isnan(errors[1:]).any()
    # the score is minus the mean over observed columns
    np.testing.assert_allclose(-est.score_samples(X), np.nanmean(errors, axis=1), rtol=1e-6)
    np.testing.assert_allclose(reconstruction_error(est, X), np.nanmean(errors, axis=1))
    # a categorical column's error is its cross-entropy: positive, in nats
    assert (errors[1:, 1] > 0).all()


def test_a_pipeline_ending_in_categories_is_measured_where_its_last_step_reconstructs():
    # the Pipeline itself has no categories_: its error went through its inverse,
    # subtracting strings, and a search scored every candidate NaN
    from sklearn.compose import make_column_transformer
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skae.metrics import reconstruction_scorer

    X = _table()
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype")
    scale = make_column_transformer((StandardScaler(), ["a", "b"]), remainder="passthrough")
    scale.set_output(transform="pandas")
    pipe = make_pipeline(scale, make_pipeline(est)).fit(X)
    inner = pipe[-1][-1]
    expected = reconstruction_error(inner, pipe[0].transform(X), per_feature=True)
    np.testing.assert_array_equal(reconstruction_error(pipe, X, per_feature=True), expected)
    grid = {"autoencodertransformer__n_components": [1, 2]}
    search = GridSearchCV(make_pipeline(est), grid, scoring=reconstruction_scorer, cv=2)
    assert np.isfinite(search.fit(X).cv_results_["mean_test_score"]).all()
    # an imputer has no inverse: no reconstruction error, alone or in a Pipeline
    imputer = AutoencoderImputer(**_FAST, categorical_features="from_dtype").fit(X)
    for fitted in (imputer, make_pipeline(imputer)):
        with pytest.raises(TypeError, match="AutoencoderImputer has no inverse_transform"):
            reconstruction_error(fitted, X)


def test_save_and_load_keep_the_categories(tmp_path):
    X = _table()
    est = VAETransformer(**_FAST, categorical_features="from_dtype").fit(X)
    skae.save(est, tmp_path / "vae.skae")
    loaded = skae.load(tmp_path / "vae.skae")
    assert [c.tolist() for c in loaded.categories_] == [c.tolist() for c in est.categories_]
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert (loaded.inverse_transform(loaded.transform(X)) == est.inverse_transform(
        est.transform(X))).all().all()  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    [
        lambda X: X.columns[[1, 3]],  # a pandas Index
        lambda X: pd.Series([False, True, False, True], index=X.columns),
        lambda X: np.array(["colour", "size"]),  # NumPy strings: safetensors has no such dtype
    ],
    ids=["Index", "Series", "str-array"],
)
def test_categorical_features_as_histgradientboosting_takes_them_fits_and_saves(spec, tmp_path):
    # an Index or a Series was refused as no array-like, and an array of strings
    # failed skae.save in safetensors ('Unknown dtype "str32"')
    X = _table()
    est = AutoencoderTransformer(**_FAST, categorical_features=spec(X)).fit(X)
    assert est.is_categorical_.tolist() == [False, True, False, True]
    skae.save(est, tmp_path / "est.skae")
    loaded = skae.load(tmp_path / "est.skae")
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(np.asarray(loaded.categorical_features), np.asarray(spec(X)))


def test_categories_a_file_cannot_hold_are_refused_by_save_naming_the_way_out(tmp_path):
    X = pd.DataFrame({"a": np.linspace(0, 1, 30), "band": pd.cut(np.arange(30), [-1, 10, 20, 30])})
    est = AutoencoderTransformer(**_FAST, categorical_features=["band"]).fit(X)
    with pytest.raises(
        TypeError, match=r"categories_.0 holds objects of type Interval.*astype\(str\)"
    ):
        skae.save(est, tmp_path / "est.skae")
    assert not (tmp_path / "est.skae").exists()
    est.set_params(categorical_features=["band"]).fit(X.astype({"band": str}))
    skae.save(est, tmp_path / "est.skae")


def test_a_file_whose_categories_do_not_fit_the_heads_is_refused(tmp_path):
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(_table())
    path = tmp_path / "est.skae"
    skae.save(est, path)

    def one_more_category(document, tensors):
        # a crafted file: a category more than the network's head has outputs
        entries = dict(document["attributes"]["dict"])
        entries["categories_"][0]["strings"].append("zzz")
        document["attributes"]["dict"] = list(entries.items())

    document, tensors = _deserialize(path.read_bytes(), path)
    one_more_category(document, tensors)
    path.write_bytes(_serialize(document, tensors))
    with pytest.raises(ValueError, match=r"categories_ hold 6 categories.*the network has 7"):
        skae.load(path)


@pytest.mark.parametrize("declared", [["S", "M"], ["S", "M", "L", "L"], "yes"])
def test_a_file_whose_declared_dtype_does_not_hold_the_categories_is_refused(declared, tmp_path):
    X = pd.DataFrame({"a": np.arange(6.0), "size": pd.Categorical(list("SMLSML"))})
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    path = tmp_path / "est.skae"
    skae.save(est, path)
    document, tensors = _deserialize(path.read_bytes(), path)
    entries = dict(document["attributes"]["dict"])
    (entry,) = entries["categorical_dtypes_"]
    if declared == "yes":
        entry["tuple"][1] = "yes"
    else:
        entry["tuple"][0]["strings"] = declared
    document["attributes"]["dict"] = list(entries.items())
    path.write_bytes(_serialize(document, tensors))
    with pytest.raises(
        ValueError, match=r"categorical_dtypes_\[0\] must be \(categories, ordered\)"
    ):
        skae.load(path)


def test_onnx_export_refuses_categorical_columns_by_name():
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx

    import skae.onnx  # noqa: F401  (registers the converters)

    X = _table()
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    with pytest.raises(NotImplementedError, match="categorical_features"):
        to_onnx(est, np.zeros((1, 4), dtype=np.float32))


def test_vae_samples_are_tables():
    est = VAETransformer(**_FAST, categorical_features="from_dtype").fit(_table())
    drawn = est.sample(5, random_state=0)
    assert list(drawn.columns) == ["a", "colour", "b", "size"]
    assert set(drawn["size"]) <= {"S", "L"}


def test_the_caller_s_table_is_not_modified():
    X = _table()
    X.loc[2, "size"] = None
    copy = X.copy()
    AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    pd.testing.assert_frame_equal(X, copy)


def test_the_imputer_fills_a_missing_category_with_the_most_probable_one():
    # the category is a function of the sign of "a": the imputer learns it back
    rng = np.random.default_rng(0)
    a = rng.normal(size=80)
    X = pd.DataFrame({"a": a, "b": a + rng.normal(scale=0.1, size=80)})
    X["sign"] = pd.Categorical(np.where(a > 0, "pos", "neg"))
    holes = X.copy()
    hidden = np.arange(0, 80, 4)
    holes.loc[hidden, "sign"] = np.nan
    holes.loc[1, "a"] = np.nan
    imputer = AutoencoderImputer(
        n_components=4, hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
        categorical_features=["sign"], add_indicator=True, random_state=0,
    )  # fmt: skip
    filled = imputer.fit_transform(holes)
    assert list(filled.columns) == ["a", "b", "sign", "missingindicator_a", "missingindicator_sign"]
    assert list(imputer.get_feature_names_out()) == list(filled.columns)
    assert filled["sign"].dtype == pd.CategoricalDtype(["neg", "pos"])
    assert not filled["sign"].isna().any() and not np.isnan(filled["a"]).any()
    assert (filled["sign"][hidden] == X["sign"][hidden]).mean() >= 0.9
    # observed entries come back untouched, categories included
    observed = holes["sign"].notna()
    assert (filled["sign"][observed] == holes["sign"][observed]).all()
    np.testing.assert_array_equal(filled["b"], holes["b"])
    assert filled["missingindicator_sign"].sum() == len(hidden)
    # the one-hot inputs are not standardized
    assert imputer.mean_[2:].tolist() == [0, 0] and imputer.scale_[2:].tolist() == [1, 1]


def test_the_imputer_on_an_array_gives_an_object_array():
    X = _table().to_numpy()
    X[0, 1] = None
    filled = AutoencoderImputer(
        n_components=2, hidden_layer_sizes=(8,), max_iter=2, categorical_features=[1, 3]
    ).fit_transform(X)
    assert filled.dtype == object and filled[0, 1] in {"red", "green", "blue"}


def test_the_imputer_s_categories_need_nan_holes_and_an_observed_value():
    with pytest.raises(ValueError, match=r"set missing_values=np\.nan"):
        AutoencoderImputer(missing_values=-1, categorical_features=[1]).fit(_table())
    X = _table()
    X["size"] = None
    with pytest.raises(ValueError, match="column 'size' has no observed value"):
        AutoencoderImputer(max_iter=1, categorical_features=[3]).fit(X)


def test_missing_noise_hides_a_categorical_column_whole():
    from skae._batches import _Batches, _Rows

    X = torch.tensor([[0.5, 1.0, 0.0, 0.0, 0.0, 1.0]] * 200)
    columns = torch.tensor([0, 1, 1, 1, 2, 2])
    batches = _Batches(
        _Rows(X), 200, generator=torch.Generator().manual_seed(0), noise=0.5,
        noise_type="missing", fill=torch.full((6,), -1.0), columns=columns,
    )  # fmt: skip
    given, _ = next(iter(batches))
    hidden = given == -1
    for block in ([1, 2, 3], [4, 5]):
        assert (hidden[:, block].all(dim=1) | ~hidden[:, block].any(dim=1)).all()
    assert 0.3 < hidden[:, 1].float().mean() < 0.7


def test_the_imputer_trains_and_draws_by_hiding_whole_categorical_columns():
    X = _table()
    imputer = AutoencoderImputer(
        n_components=2, hidden_layer_sizes=(8,), max_iter=2, categorical_features=[1, 3],
        sample_posterior=True, random_state=0,
    ).fit(X)  # fmt: skip
    assert imputer.net_.iterator_train__columns.tolist() == [0, 2, 1, 1, 1, 3, 3]
    X.loc[:4, "colour"] = np.nan
    assert set(imputer.transform(X)["colour"]) <= {"red", "green", "blue"}


def test_from_dtype_takes_polars_categorical_and_string_columns():
    pl = pytest.importorskip("polars")
    X = pl.DataFrame(
        {
            "a": np.linspace(0, 1, 20),
            "c": pl.Series(["x", "y"] * 10).cast(pl.Categorical),
            "s": ["u", None, "v", "u"] * 5,
        }
    )
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.is_categorical_.tolist() == [False, True, True]
    assert [c.tolist() for c in est.categories_] == [["x", "y"], ["u", "v"]]
    out = est.inverse_transform(est.transform(X))
    assert out["s"].dtype == pd.CategoricalDtype(["u", "v"])


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_integer_categories_with_a_missing_value_keep_their_values(library):
    # read as an array, a column of integers with a hole became floats: 2**53 + 1
    # and 2**53 + 3 became other numbers, and 1 became 1.0
    big, bigger = 2**53 + 1, 2**53 + 3
    keys = [big, bigger, None, big, 1] * 4
    numbers = np.linspace(0, 1, 20)
    if library == "pandas":
        X = pd.DataFrame({"a": numbers, "k": pd.Categorical(keys)})
        spec = "from_dtype"
    else:
        pl = pytest.importorskip("polars")
        X = pl.DataFrame({"a": numbers, "k": pl.Series(keys, dtype=pl.Int64)})
        spec = ["k"]
    imputer = AutoencoderImputer(**_FAST, categorical_features=spec).fit(X)
    assert imputer.categories_[0].tolist() == [1, big, bigger]
    assert imputer.categories_[0].dtype.kind == "i"
    filled = imputer.transform(X)["k"].tolist()
    observed = [i for i, k in enumerate(keys) if k is not None]
    assert [filled[i] for i in observed] == [keys[i] for i in observed]


def test_numpy_string_categories_are_saved(tmp_path):
    strings = np.dtypes.StringDType()
    X = np.array([[str(i), "ab"[i % 2]] for i in range(10)], dtype=strings)
    est = AutoencoderTransformer(**_FAST, categorical_features=[1]).fit(X)
    skae.save(est, tmp_path / "ae.skae")
    loaded = skae.load(tmp_path / "ae.skae")
    assert loaded.categories_[0].tolist() == ["a", "b"]
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


@pytest.mark.parametrize(
    "cls", [AutoencoderTransformer, AutoencoderImputer], ids=lambda c: c.__name__
)
def test_a_nullable_integer_column_beside_the_categories_is_numeric(cls):
    # pandas' nullable Int64 (pd.NA where missing) beside category columns only made
    # scikit-learn's check_array cast the whole table, categories included, to float
    X = _table().astype({"size": "category"})
    X["count"] = pd.array(np.arange(30) % 7, dtype="Int64")
    X.loc[0, "count"] = pd.NA
    est = cls(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.is_categorical_.tolist() == [False, True, False, True, False]
    if cls is AutoencoderImputer:
        filled = est.transform(X)
        assert np.isfinite(filled["count"].astype(float)).all()
        assert filled.loc[1:, "count"].astype(float).tolist() == list(np.arange(1, 30) % 7)
    else:
        assert np.isfinite(est.transform(X)).all()


def test_integer_and_boolean_categories_keep_their_values_and_dtype(tmp_path):
    # ids above 2**53 are distinct integers that float64 would merge
    ids = np.array([2**53, 2**53 + 1, 2**53 + 2] * 10, dtype=np.int64)
    X = pd.DataFrame(
        {
            "a": np.linspace(0, 1, 30),
            "id": pd.Categorical(ids),
            "flag": pd.Categorical([True, False] * 15),
            "n": [1, 2, 3] * 10,
        }
    )
    est = AutoencoderTransformer(**_FAST, categorical_features=["id", "flag", "n"]).fit(X)
    assert [c.dtype for c in est.categories_] == [np.int64, bool, np.int64]
    assert est.categories_[0].tolist() == [2**53, 2**53 + 1, 2**53 + 2]
    back = est.inverse_transform(est.transform(X))
    assert back["flag"].cat.categories.dtype == bool
    assert set(back["flag"]) <= {True, False} and isinstance(back["flag"][0], bool | np.bool_)
    assert back["n"].cat.categories.dtype == np.int64
    skae.save(est, tmp_path / "est.skae")
    loaded = skae.load(tmp_path / "est.skae")
    assert [c.dtype for c in loaded.categories_] == [np.int64, bool, np.int64]
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    # a float column keeps float categories, and its integers match them
    Xf = X[["a", "n"]].astype({"n": float})
    est = AutoencoderTransformer(**_FAST, categorical_features=["n"]).fit(Xf)
    assert est.categories_[0].dtype == np.float64
    np.testing.assert_array_equal(est.transform(Xf), est.transform(X[["a", "n"]]))


def test_nat_is_missing_and_categories_must_sort_distinctly():
    days = [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01"), None] * 10
    X = pd.DataFrame({"a": np.linspace(0, 1, 30), "day": pd.Categorical(days)})
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.categories_[0].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01")]
    assert est.fill_values_.shape == (3,)
    # values that np.unique cannot put in a strict order (sets order by inclusion)
    sets = np.empty(20, dtype=object)
    sets[:] = [frozenset({1}), frozenset({2})] * 10
    X = pd.DataFrame({"a": np.linspace(0, 1, 20), "s": sets})
    with pytest.raises(ValueError, match=r"categorical column 's'.*do not sort"):
        AutoencoderTransformer(**_FAST, categorical_features=["s"]).fit(X)


def test_each_value_is_looked_up_on_its_own():
    from skae._categorical import _codes

    # one stray value leaves the others known, and the string "1" is not the number 1
    numbers = np.array([1.0, 2.0])
    assert _codes(np.array([1, 2.0, "oops"], dtype=object), numbers).tolist() == [0, 1, -1]
    assert _codes(np.array(["1", "2"], dtype=object), numbers).tolist() == [-1, -1]
    letters = np.array(["a", "b"], dtype=object)
    assert _codes(np.array(["b", 3, None], dtype=object), letters).tolist() == [1, -1, -1]
    # so a row's transform does not depend on the rows beside it
    X = pd.DataFrame({"a": np.linspace(0, 1, 20), "k": np.array([1, 2] * 10, dtype=object)})
    est = AutoencoderTransformer(**_FAST, categorical_features=["k"]).fit(X)
    stray = pd.concat([X.iloc[:2], pd.DataFrame({"a": [0.0], "k": ["oops"]})])
    np.testing.assert_array_equal(est.transform(stray)[:2], est.transform(X.iloc[:2]))


def test_a_file_whose_categories_are_out_of_order_is_refused(tmp_path):
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(_table())
    path = tmp_path / "est.skae"
    skae.save(est, path)
    document, tensors = _deserialize(path.read_bytes(), path)
    entries = dict(document["attributes"]["dict"])
    entries["categories_"][0]["strings"] = ["red", "green", "blue"]  # same set, unsorted
    document["attributes"]["dict"] = list(entries.items())
    path.write_bytes(_serialize(document, tensors))
    with pytest.raises(ValueError, match=r"categories_\[0\] must .* sorted"):
        skae.load(path)


@pytest.mark.parametrize("now", [["colour", "size", "a"], None, []])
def test_a_continued_fit_refuses_changed_categorical_features(now):
    X = _table()
    est = AutoencoderTransformer(**_FAST, warm_start=True, categorical_features="from_dtype")
    est.fit(X).set_params(categorical_features=now)
    message = r"Cannot continue training: .*categorical_features=\['colour', 'size'\] \(now"
    with pytest.raises(ValueError, match=message):
        est.fit(X)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X)
    # the same columns, named another way, continue
    est.set_params(categorical_features=[1, 3]).fit(X)
    # and a network built without categories refuses them later
    numeric = X[["a", "b"]].assign(c=np.arange(30) % 3)
    est = AutoencoderTransformer(**_FAST, warm_start=True).fit(numeric)
    with pytest.raises(ValueError, match=r"categorical_features=\[\] \(now \['c'\]\)"):
        est.set_params(categorical_features=["c"]).fit(numeric)
    # also where the column now holds strings, which are no numbers (numpy's
    # "could not convert string to float" came first)
    strings = numeric.assign(c=np.array(["x", "y", "z"] * 10, dtype=object))
    est.set_params(categorical_features=["c"])
    for method in (est.fit, est.partial_fit):
        with pytest.raises(ValueError, match=r"categorical_features=\[\] \(now \['c'\]\)"):
            method(strings)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_a_network_built_without_categories_refuses_them_in_every_estimator(cls):
    # the imputer validates numbers itself: a continued fit naming a string column
    # was told to "list it in categorical_features", and one naming a numeric
    # column continued with it numeric
    numeric = _table()[["a", "b"]].assign(c=np.arange(30.0) % 3)
    strings = numeric.assign(c=np.array(["x", "y", "z"] * 10, dtype=object))
    message = r"categorical_features=\[\] \(now \['c'\]\)"
    for data in (numeric, strings):
        est = cls(**_FAST, warm_start=True).fit(numeric).set_params(categorical_features=["c"])
        for method in (est.fit, est.partial_fit):
            with pytest.raises(ValueError, match=message):
                method(data)
    # with "from_dtype" it is the data that changed: say that a new network is needed
    est = cls(**_FAST, categorical_features="from_dtype").partial_fit(numeric)
    with pytest.raises(ValueError, match=r"column 'c' of X holds 'x'.* cannot add one"):
        est.partial_fit(strings)
    # without categorical_features, the advice was to "list it in categorical_features",
    # which cannot continue either, also at inference, where the model is fitted
    est = cls(**_FAST).partial_fit(numeric)
    with pytest.raises(ValueError, match=r"holds 'x'.* cannot add one: encode it, or call fit"):
        est.partial_fit(strings)
    with pytest.raises(ValueError, match=r"holds 'x'.* fitted on numbers in every column"):
        est.transform(strings)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_from_dtype_continues_over_a_chunk_whose_column_holds_no_value(cls):
    # read_csv gives a chunk's all-empty string column float64, and a column of
    # None is object: "from_dtype" read the chunk's dtype and refused to continue
    X = _table()
    est = cls(**_FAST, categorical_features="from_dtype").partial_fit(X)
    est.partial_fit(X.assign(colour=np.nan, size=np.nan))
    assert est.is_categorical_.tolist() == [False, True, False, True]
    numeric = X[["a", "b"]]
    est = cls(**_FAST, categorical_features="from_dtype").partial_fit(numeric)
    est.partial_fit(numeric.assign(b=pd.Series([None] * 30, dtype=object)))
    assert est.is_categorical_ is None
    # a chunk whose column holds values of another kind is still refused
    with pytest.raises(ValueError, match="column 'b' of X holds 'text'"):
        est.partial_fit(numeric.assign(b="text"))


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_from_dtype_continues_over_an_array_chunk_as_transform_takes_it(cls):
    # an array has no column dtypes: "from_dtype" read none, and refused to continue
    # with "the network was built with categorical_features=['colour', 'size']"
    X = _table()
    est = cls(**_FAST, categorical_features="from_dtype").partial_fit(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        est.partial_fit(X.to_numpy())
        assert est.is_categorical_.tolist() == [False, True, False, True]
        assert len(est.transform(X.to_numpy())) == len(X)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_a_pandas_category_column_comes_back_in_its_own_dtype(cls, tmp_path):
    # the column came back unordered, its categories sorted and the unused dropped:
    # an ordered comparison of the output raised TypeError
    rng = np.random.default_rng(0)
    size = pd.CategoricalDtype(["S", "M", "L", "XL"], ordered=True)
    rank = pd.CategoricalDtype([3, 1, 2])
    X = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "size": pd.Series(rng.choice(["S", "M", "L"], 40)).astype(size),
            "rank": pd.Series(rng.choice([1, 2, 3], 40)).astype(rank),
            "colour": rng.choice(["red", "blue"], 40).astype(object),
        }
    )
    X.loc[::5, "size"] = np.nan
    est = cls(**_FAST, categorical_features="from_dtype").fit(X)
    out = est.transform(X) if cls is AutoencoderImputer else est.inverse_transform(est.transform(X))
    assert out["size"].dtype == size and out["rank"].dtype == rank
    assert out["colour"].dtype == pd.CategoricalDtype(["blue", "red"])
    assert (out["size"] < "XL").all()
    skae.save(est, tmp_path / "est.skae")
    loaded = skae.load(tmp_path / "est.skae")
    assert loaded.categorical_dtypes_[0][1] and loaded.categorical_dtypes_[2] is None
    np.testing.assert_array_equal(loaded.categorical_dtypes_[1][0], [3, 1, 2])


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_a_stream_knows_the_categories_its_dtype_declares_before_a_row_holds_them(cls):
    # categories_ held only the first chunk's values, so a later chunk with a
    # category its dtype had declared all along was refused as new
    size = pd.CategoricalDtype(["S", "M", "L"])
    X = _table().assign(colour=lambda t: t["colour"].astype(str).astype(object))
    first = X.assign(size=pd.Series(["S", "M"] * 15).astype(size))
    later = X.assign(size=pd.Series(["L"] * 30).astype(size))
    est = cls(**_FAST, categorical_features="from_dtype").partial_fit(first)
    assert est.categories_[1].tolist() == ["L", "M", "S"]
    assert est.net_.get_params()["module__n_features"] == 2 + 3 + 3
    est.partial_fit(later)
    # a category no dtype declared is still new to the network
    with pytest.raises(ValueError, match="which the first fit did not see"):
        est.partial_fit(X.assign(size=pd.Series(["XL"] * 30).astype("category")))


def test_a_category_no_training_row_weighed_is_as_unknown_as_a_new_one():
    # declared by the dtype only, or held only by rows of weight zero: its input's
    # weights were never trained, yet it moved the codes, and a detector scored it
    # as typical as a trained category instead of as a new one
    size = pd.CategoricalDtype(["S", "M", "L", "XL"])
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "size": rng.choice(["S", "M", "L"], 60)})
    X["size"] = X["size"].astype(size)
    weights = np.ones(60)
    weights[X["size"] == "L"] = 0
    rows = pd.DataFrame({"a": [0.0] * 4, "size": pd.Series(["XL", "L", None, "XXL"])})
    kwargs = dict(_FAST, categorical_features="from_dtype")
    for cls in (AutoencoderTransformer, AutoencoderOutlierDetector):
        est = cls(**kwargs).fit(X, sample_weight=weights)
        if cls is AutoencoderTransformer:
            codes = est.transform(rows)
            np.testing.assert_array_equal(codes[0], codes[2])  # XL as missing
            np.testing.assert_array_equal(codes[1], codes[2])  # L as missing
        else:
            scores = est.score_samples(rows)
            assert scores[0] == scores[1] == scores[3] < scores[2]
    # a stream's later chunk that holds it trains it
    est = AutoencoderOutlierDetector(**kwargs).partial_fit(X)
    est.partial_fit(X.assign(size=pd.Series(["XL"] * 60).astype(size)))
    scores = est.score_samples(rows)
    assert scores[0] != scores[3]


def test_a_category_only_early_stopping_s_held_out_rows_hold_is_as_unknown(held_out):
    # the fill values (the categories' training frequencies) were read over every
    # row, the held-out ones included: a category only they held counted as trained
    # while its input's weights never moved, and moved the codes
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "c": rng.choice(["x", "y"], 40)})
    kwargs = dict(_FAST, categorical_features=["c"], early_stopping=True)
    AutoencoderTransformer(**kwargs, validation_fraction=0.25).fit(X)
    X.loc[int(held_out[-1][0]), "c"] = "z"  # the same rows are held out again
    est = AutoencoderTransformer(**kwargs, validation_fraction=0.25).fit(X)
    assert est.categories_[0].tolist() == ["x", "y", "z"]
    assert est.fill_values_[-1] == 0  # its training frequency
    codes = est.transform(pd.DataFrame({"a": [0.0, 0.0], "c": ["z", None]}))
    np.testing.assert_array_equal(codes[0], codes[1])


def test_the_cost_of_a_new_category_counts_the_trained_categories_only():
    # every category the dtype declared counted in K of log(n + K + 1): 200 unused
    # ones raised a new category's least cost from log(63) to log(263)
    rng = np.random.default_rng(0)
    declared = pd.CategoricalDtype(["x", "y", *(f"unused{i}" for i in range(200))])
    X = pd.DataFrame({"a": rng.normal(size=60), "c": rng.choice(["x", "y"], 60)})
    kwargs = dict(_FAST, categorical_features="from_dtype")
    plain = AutoencoderTransformer(**kwargs).fit(X.astype({"c": "category"}))
    wide = AutoencoderTransformer(**kwargs).fit(X.astype({"c": declared}))
    assert len(wide.categories_[0]) == 202
    for est in (plain, wide):
        np.testing.assert_allclose(est._new_category_surprise().numpy(), [np.log(60 + 2 + 1)])


def test_declared_categories_are_read_as_the_values_are():
    # datetime64[ns] categories became integers beside the rows' Timestamps, and
    # the fit refused the column as "mixing values that cannot be ordered"
    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]).as_unit("ns")
    X = pd.DataFrame({"a": np.linspace(0, 1, 20)})
    X["day"] = pd.Categorical(list(days[:2]) * 10, categories=days)
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.categories_[0].tolist() == list(days)
    # categories of two types cannot be sorted: the error says the dtype declares them
    X["day"] = pd.Categorical(["a", "b"] * 10, categories=["a", "b", 1])
    with pytest.raises(ValueError, match=r"mixes values and declared categories .*astype"):
        AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, AutoencoderImputer])
def test_a_stream_whose_first_chunk_holds_no_value_of_a_declared_column(cls):
    # a column whose dtype declares its categories has categories to learn, also
    # before a row holds one: the first chunk was refused as having none
    size = pd.CategoricalDtype(["S", "M", "L"])
    X = _table()[["a", "b"]]
    empty = X.assign(size=pd.Series([None] * 30).astype(size))
    full = X.assign(size=pd.Series(["S", "M", "L"] * 10).astype(size))
    keep = {"keep_empty_features": True} if cls is AutoencoderImputer else {}
    est = cls(**_FAST, **keep, categorical_features="from_dtype").partial_fit(empty)
    assert est.categories_[0].tolist() == ["L", "M", "S"]
    assert not est.n_observed_[-3:].any()
    est.partial_fit(full)
    assert est.n_observed_[-3:].all()
    # without a declared dtype there is still nothing to learn
    with pytest.raises(ValueError, match="has no observed value"):
        cls(**_FAST, categorical_features=["size"]).fit(X.assign(size=[None] * 30))


def test_no_reconstruction_or_draw_is_a_category_no_training_row_held():
    # a declared category's head was never a target: a barely trained network's
    # inverse_transform and VAE draws returned it
    size = pd.CategoricalDtype(["S", "M", "L", "XL"])
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40)})
    X["size"] = pd.Series(rng.choice(["S", "M", "L"], 40)).astype(size)
    kwargs = dict(_FAST, max_iter=1, categorical_features="from_dtype")
    found = set()
    for seed in range(5):
        for cls in (AutoencoderTransformer, VAETransformer):
            est = cls(**kwargs | {"random_state": seed}).fit(X)
            found |= set(est.inverse_transform(est.transform(X))["size"])
            if cls is VAETransformer:
                found |= set(est.sample(200, random_state=0)["size"])
    assert found <= {"S", "M", "L"}


def test_a_declared_column_no_training_row_observed_is_reconstructed_as_missing():
    # every logit of its block was set aside, and argmax fell back to its first
    # category, which no target ever trained
    size = pd.CategoricalDtype(["x", "y"])
    X = pd.DataFrame({"a": np.linspace(-1, 1, 20)})
    X["e"] = pd.Series([None] * 20, dtype=size)
    for cls in (AutoencoderTransformer, VAETransformer):
        est = cls(**_FAST, categorical_features="from_dtype").fit(X)
        assert est.inverse_transform(est.transform(X))["e"].isna().all()
        if cls is VAETransformer:
            assert est.sample(5, random_state=0)["e"].isna().all()
    # missing at inference whatever it holds, as a numeric feature never observed
    rows = X.iloc[:2].assign(e=pd.Series(["x", "y"], dtype=size).values)
    np.testing.assert_array_equal(est.score_samples(rows), est.score_samples(X.iloc[:2]))


def test_a_polars_enum_declares_its_categories_and_their_order():
    pl = pytest.importorskip("polars")
    order = ["S", "M", "L", "XL"]
    X = pl.DataFrame(
        {
            "a": np.linspace(0, 1, 30),
            "size": pl.Series(["L", "S", "M"] * 10).cast(pl.Enum(order)),
        }
    )
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.categories_[0].tolist() == sorted(order)
    out = est.inverse_transform(est.transform(X))
    assert out["size"].dtype == pd.CategoricalDtype(order, ordered=True)


def test_from_dtype_takes_arrow_string_and_dictionary_columns():
    pa = pytest.importorskip("pyarrow")
    from skae._categorical import _dtype_mask

    types = [pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())]
    columns = {
        f"c{i}": pd.array(["x", "y"] * 10, dtype=pd.ArrowDtype(t)) for i, t in enumerate(types)
    }
    X = pd.DataFrame({"a": np.linspace(0, 1, 20), **columns})
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    assert est.is_categorical_.tolist() == [False, True, True, True]
    assert all(c.tolist() == ["x", "y"] for c in est.categories_)
    # string_view is found too (scikit-learn's check_array cannot read it yet)
    view = pd.DataFrame({"v": pd.Series(["x"], dtype=pd.ArrowDtype(pa.string_view()))})
    assert _dtype_mask(view, 1).tolist() == [True]


def test_a_float32_table_trains_in_float32():
    X = _table().astype({"a": np.float32, "b": np.float32})
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    # the network's input, for fit as for transform
    assert est._validate(X, reset=False).dtype == np.float32
    assert est.transform(X).dtype == np.float32
    # a float64 column among them makes it float64, as scikit-learn's check_array does
    assert est._validate(X.astype({"b": np.float64}), reset=False).dtype == np.float64


@pytest.mark.parametrize("make", [lambda: AutoencoderTransformer(2), lambda: AutoencoderImputer()])
def test_a_column_of_strings_left_numeric_is_named_with_the_way_out(make):
    # numpy's bare "could not convert string to float: 'x'" named neither the column
    # nor categorical_features
    table = pd.DataFrame({"mass": [1.0, 2.0, 3.0, 4.0], "town": ["x", "y", "x", "z"]})
    with pytest.raises(ValueError, match=r"column 'town' of X holds 'x'.*categorical_features"):
        make().fit(table)
    with pytest.raises(ValueError, match=r"column 1 of X holds 'x'.*categorical_features"):
        make().fit(table.to_numpy())
    # and with categorical_features that name no column, or not that one
    for spec in ([], [False, False], "from_dtype"):
        with pytest.raises(ValueError, match=r"column (1|'town') of X holds 'x'.*categorical"):
            make().set_params(categorical_features=spec).fit(
                table.to_numpy() if spec == "from_dtype" else table
            )
    other = table.assign(size=["S", "L", "S", "L"])
    with pytest.raises(ValueError, match=r"column 'town' of X holds 'x'.*categorical_features"):
        make().set_params(categorical_features=["size"]).fit(other)
    # a missing entry of a numeric column before it is no string to name
    holes = other.assign(mass=pd.array([1.0, None, 3.0, 4.0], dtype="Float64"))
    for spec in (None, ["size"]):
        with pytest.raises(ValueError, match=r"column 'town' of X holds 'x'"):
            make().set_params(categorical_features=spec).fit(holes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_categories_of_a_numeric_array_come_back_in_its_float_dtype(dtype):
    # an imputer's tags promise its input's float dtype: a numeric array with a
    # categorical column came back as objects (and polars output as Object columns)
    from sklearn.utils.estimator_checks import check_transformer_preserve_dtypes

    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 3, 20), rng.normal(size=(20, 2))].astype(dtype)
    X[0, 0] = X[1, 2] = np.nan
    imputer = AutoencoderImputer(**_FAST, categorical_features=[0])
    filled = imputer.fit_transform(X)
    assert filled.dtype == dtype and set(filled[:, 0]) <= {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(filled[1:, 0], X[1:, 0])
    est = AutoencoderTransformer(**_FAST, categorical_features=[0]).fit(X)
    assert est.inverse_transform(est.transform(X)).dtype == dtype
    # in the dtype of the codes, or of the table to fill, whatever the fit's
    other = np.float32 if dtype == np.float64 else np.float64
    assert est.inverse_transform(est.transform(X).astype(other)).dtype == other
    assert imputer.transform(X.astype(other)).dtype == other
    imputer = AutoencoderImputer(**_FAST, categorical_features=[0])
    check_transformer_preserve_dtypes("imputer", imputer)


def test_a_detector_s_threshold_comes_from_the_scores_it_gives_its_training_rows():
    # a category that only a row held out for early stopping held was scored as an
    # ordinary one for offset_, and as unknown by score_samples: 10.5 % of the
    # training rows were flagged at contamination=0.1
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"x": rng.normal(size=200), "y": rng.normal(size=200), "c": ["a"] * 100 + ["b"] * 100}
    )
    X.loc[9, "c"] = "r"  # a row the split (random_state=0) holds out
    detector = AutoencoderOutlierDetector(
        n_components=1,
        categorical_features=["c"],
        early_stopping=True,
        validation_fraction=0.2,
        contamination=0.1,
        max_iter=3,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X)
    assert detector._untrained_categories()[0].tolist() == [False, False, True]
    scores = detector.score_samples(X)
    assert detector.offset_ == pytest.approx(
        np.quantile(scores, 0.1, method="averaged_inverted_cdf")
    )
    assert (detector.predict(X) == -1).mean() == 0.1


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinity_in_a_categorical_column_is_refused_at_inference_as_in_fit(value):
    # fit refused it, and inference took it as a new category
    X = np.c_[np.random.default_rng(0).normal(size=(30, 1)), np.arange(30) % 3]
    est = AutoencoderOutlierDetector(**_FAST, categorical_features=[1]).fit(X)
    for method in ("transform", "score_samples", "predict"):
        with pytest.raises(ValueError, match="categorical column 1 holds infinity"):
            getattr(est, method)(np.array([[0.1, value]]))
    with pytest.raises(ValueError, match="categorical column 1 holds infinity"):
        AutoencoderOutlierDetector(**_FAST, categorical_features=[1]).fit(np.r_[X, [[0.1, value]]])


def test_inverse_transform_of_codes_in_a_dataframe_keeps_their_rows_labels():
    # the table came back labelled 0, 1, ... whatever the codes' rows were
    X = _table()
    X.index = X.index + 100
    est = AutoencoderTransformer(**_FAST, categorical_features="from_dtype").fit(X)
    codes = est.set_output(transform="pandas").transform(X)
    assert list(codes.index) == list(X.index)
    assert list(est.inverse_transform(codes).index) == list(X.index)
    assert list(est.inverse_transform(codes.to_numpy()).index) == list(range(len(X)))


def test_an_unhashable_category_is_named():
    # lists sort among themselves, and the fit failed in building the index of its
    # categories: "TypeError: unhashable type: 'list'"
    est = AutoencoderTransformer(1, categorical_features=[1], max_iter=2)
    for values, shown in (([[1], [2], [1]], r"\[1\]"), ([(1, [1]), (2, [2])] * 2, r"\(1, \[1\]\)")):
        X = np.empty((len(values), 2), dtype=object)
        X[:, 0] = np.arange(len(values))
        X[:, 1] = values
        with pytest.raises(ValueError, match=rf"column 1 holds {shown}, which is not hashable"):
            est.fit(X)


def test_datetime_and_timedelta_columns_are_categories_as_their_objects_are():
    # beside numeric columns, scikit-learn's check_array asked NumPy for a dtype of
    # floats and datetimes together and failed with a DTypePromotionError
    X = pd.DataFrame(
        {
            "x": np.linspace(0, 1, 30),
            "day": pd.to_datetime(["2020-01-01", "2021-06-01", None] * 10),
            "wait": pd.to_timedelta([1, 2, None] * 10, unit="D"),
        }
    )
    as_objects = X.astype({"day": object, "wait": object})
    spec = dict(_FAST, categorical_features=["day", "wait"])
    fitted = AutoencoderTransformer(**spec).fit(X)
    reference = AutoencoderTransformer(**spec).fit(as_objects)
    np.testing.assert_array_equal(fitted.transform(X), reference.transform(as_objects))
    assert list(fitted.categories_[0]) == list(pd.to_datetime(["2020-01-01", "2021-06-01"]))
    # fitted on the column as a category, it transforms the plain datetimes too
    category = X.astype({"day": "category"})[["x", "day"]]
    spec["categorical_features"] = ["day"]
    fitted = AutoencoderTransformer(**spec).fit(category)
    np.testing.assert_array_equal(fitted.transform(X[["x", "day"]]), fitted.transform(category))
    filled = AutoencoderImputer(**spec).fit_transform(X[["x", "day"]])
    assert filled["day"].notna().all()


def test_a_dask_dataframe_with_categories_is_read_as_its_pandas_frame():
    dd = pytest.importorskip("dask.dataframe")
    X = _table()
    D = dd.from_pandas(X, npartitions=3)
    for spec in ([1, 3], "from_dtype"):
        params = dict(_FAST, categorical_features=spec)
        fitted = AutoencoderTransformer(**params).fit(D)  # failed: no to_numpy on Dask
        reference = AutoencoderTransformer(**params).fit(X)
        np.testing.assert_array_equal(fitted.transform(D), reference.transform(X))
        np.testing.assert_array_equal(reference.score_samples(D), reference.score_samples(X))


def test_categorical_features_as_a_range_as_histgradientboosting_takes_it():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = _table()
    y = np.zeros(len(X))
    codes = X.assign(colour=X.colour.cat.codes, size=X["size"].eq("S").astype(int))
    expected = HistGradientBoostingRegressor(categorical_features=range(1, 4, 2), max_iter=1)
    expected = expected.fit(codes, y).is_categorical_
    fitted = AutoencoderTransformer(**_FAST, categorical_features=range(1, 4, 2)).fit(X)
    np.testing.assert_array_equal(fitted.is_categorical_, expected)


def test_save_names_the_kinds_of_categories_it_cannot_store(tmp_path):
    # "holds an object of type bool: skae.save stores arrays of numbers, booleans
    # or strings" named what it stores as the reason
    X = pd.DataFrame({"x": np.linspace(0, 1, 30), "c": pd.Series([False, 1, 2] * 10, dtype=object)})
    fitted = AutoencoderTransformer(**_FAST, categorical_features=["c"]).fit(X)
    with pytest.raises(
        TypeError,
        match=r"holds objects of type bool, int: skae\.save stores arrays whose entries are all",
    ):
        skae.save(fitted, tmp_path / "mixed.skae")


def test_the_one_hot_input_is_built_once_not_stacked_from_copies():
    # each block was made apart and then stacked: a column of thousands of
    # categories held its one-hot input twice (the peak of a transform doubled)
    import tracemalloc

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=4000), "c": rng.integers(0, 500, 4000).astype(str)})
    fitted = AutoencoderTransformer(**_FAST, categorical_features=["c"]).fit(X)
    tracemalloc.start()
    try:
        encoded = fitted._validate(X, reset=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert encoded.shape == (4000, 1 + len(fitted.categories_[0]))
    assert peak < 1.5 * encoded.nbytes
