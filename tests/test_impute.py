"""AutoencoderImputer: scikit-learn's imputer conventions, observed entries kept
bit for bit, draws for multiple imputation, and a place in pipelines and
searches beside scikit-learn's imputers."""

import importlib.util
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skae
from skae import AutoencoderImputer

FAST = dict(hidden_layer_sizes=(16,), n_components=8, max_iter=10, random_state=0)


def _holes(X, rate=0.2, seed=0):
    return np.where(np.random.default_rng(seed).random(X.shape) < rate, np.nan, X)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_observed_entries_come_back_bit_for_bit_and_holes_are_filled(digits, dtype):
    X = _holes(digits[0]).astype(dtype)
    before = X.copy()
    filled = AutoencoderImputer(**FAST).fit_transform(X)
    assert filled.dtype == dtype and filled.shape == X.shape
    observed = ~np.isnan(X)
    assert np.array_equal(filled[observed], X[observed])  # bit for bit
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(X, before)  # the caller's array is untouched


def test_fills_better_than_the_column_means(digits):
    X = digits[0] / 16
    holes = _holes(X, 0.3)
    missing = np.isnan(holes)
    filled = AutoencoderImputer(**FAST | {"max_iter": 40, "batch_size": 32}).fit_transform(holes)
    means = SimpleImputer().fit_transform(holes)
    error = np.sqrt(((filled - X)[missing] ** 2).mean())
    assert error < 0.85 * np.sqrt(((means - X)[missing] ** 2).mean())


def test_defaults_anneal_a_larger_learning_rate_over_max_iter(digits):
    # the measured defaults (benchmarks/RESULTS.md, table 19): a cosine schedule
    # from 5e-3 over the max_iter epochs filled the benchmark's tables better than
    # a constant 1e-3 for the same epochs
    imputer = AutoencoderImputer(**FAST)
    assert (imputer.learning_rate, imputer.learning_rate_init) == ("cosine", 5e-3)
    holes = _holes(digits[0][:60])
    schedule = dict(imputer.fit(holes).net_.callbacks_).get("schedule")
    assert schedule is not None and schedule.epochs == FAST["max_iter"]
    explicit = AutoencoderImputer(**FAST, learning_rate="cosine", learning_rate_init=5e-3)
    np.testing.assert_array_equal(imputer.transform(holes), explicit.fit_transform(holes))


def test_a_placeholder_other_than_nan(digits):
    X = digits[0].copy()
    holes = _holes(X)
    placeholder = np.where(np.isnan(holes), -1.0, holes)
    a = AutoencoderImputer(**FAST, missing_values=-1).fit_transform(placeholder)
    b = AutoencoderImputer(**FAST).fit_transform(holes)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # with another placeholder, NaN is an error, as in SimpleImputer
    with pytest.raises(ValueError, match="Input X contains NaN"):
        AutoencoderImputer(**FAST, missing_values=-1).fit(holes)


def test_sample_posterior_draws_vary_with_random_state(digits):
    holes = _holes(digits[0])
    missing = np.isnan(holes)
    imputer = AutoencoderImputer(**FAST, sample_posterior=True).fit(holes)
    a, again = imputer.transform(holes), imputer.transform(holes)
    other = imputer.set_params(random_state=1).transform(holes)
    np.testing.assert_array_equal(a, again)  # the same random_state draws the same
    assert not np.allclose(a[missing], other[missing])
    np.testing.assert_array_equal(a[~missing], other[~missing])
    best = imputer.set_params(sample_posterior=False).transform(holes)
    assert not np.allclose(a[missing], best[missing])
    with pytest.raises(ValueError, match=r"sample_posterior=True .* set noise > 0"):
        AutoencoderImputer(**FAST, sample_posterior=True, noise=0.0).fit(holes)


def test_sample_posterior_draws_spread_as_far_as_the_fills_err():
    # the draws hid evidence and nothing else: on the diabetes table they spread
    # over a quarter of the fills' error, and an interval meant to hold 80 % of
    # the true values held 19 %, which Rubin's rules take for certainty
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(load_diabetes().data)
    holes = _holes(X)
    missing = np.isnan(holes)
    imputer = AutoencoderImputer(**FAST, sample_posterior=True).fit(holes)
    draws = np.stack(
        [imputer.set_params(random_state=seed).transform(holes)[missing] for seed in range(20)]
    )
    low, high = np.quantile(draws, [0.1, 0.9], axis=0)
    coverage = np.mean((low <= X[missing]) & (X[missing] <= high))
    assert 0.6 < coverage < 0.95
    # the error measured in fit is that of the network's fills of hidden entries
    assert (imputer.imputation_std_ > 0.3).all() and (imputer.imputation_std_ < 1.5).all()


def test_sample_posterior_draws_a_category_from_its_softmax():
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a": rng.normal(size=60), "c": rng.choice(["x", "y", "z"], 60).astype(object)}
    )
    X.loc[::4, "c"] = np.nan
    imputer = AutoencoderImputer(**FAST, sample_posterior=True, categorical_features=["c"])
    imputer.fit(X)
    draws = [imputer.set_params(random_state=s).transform(X)["c"][::4] for s in range(20)]
    # "c" is independent of "a": a hole's draws spread over the categories, where
    # the most probable one took 98 % of them
    modal = (
        pd.concat(draws, axis=1).astype(object).apply(lambda r: r.value_counts().iloc[0], axis=1)
    )
    assert (modal / 20).mean() < 0.75
    np.testing.assert_array_equal(imputer.imputation_std_[1:], 0.0)  # one-hot inputs


def test_a_feature_only_early_stopping_s_held_out_rows_observe_is_not_empty(held_out):
    # a feature is empty when fit's rows observe none of it, as in scikit-learn's
    # imputers: counting the rows trained on only dropped it from the output
    X = np.random.default_rng(0).normal(size=(40, 3))
    kwargs = dict(max_iter=2, random_state=0, early_stopping=True, validation_fraction=0.25)
    AutoencoderImputer(**kwargs).fit(X)
    rows = held_out[-1].numpy()
    X[:, 2] = np.nan
    X[rows[:3], 2] = [1.0, 2.0, 3.0]  # observed in held-out rows only
    imputer = AutoencoderImputer(**kwargs).fit(X)
    assert held_out[-1].tolist() == rows.tolist()
    assert imputer.transform(X).shape == (40, 3)
    assert imputer.get_feature_names_out().tolist() == ["x0", "x1", "x2"]


def test_indicator_and_empty_features_as_scikit_learns_imputers(digits):
    pd = pytest.importorskip("pandas")
    X = _holes(digits[0][:, :6].copy())
    X[:, 2] = np.nan  # a feature never observed
    X[:, 4] = digits[0][:, 4]  # a feature never missing
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    imputer = AutoencoderImputer(**FAST, add_indicator=True).set_output(transform="pandas")
    # a dropped feature is named as it is dropped, as SimpleImputer names it
    with pytest.warns(UserWarning, match=r"Features \['f2'\] had no observed value in fit") as w:
        out = imputer.fit_transform(frame)
    assert w[0].filename == __file__  # the caller's line, past set_output's wrapper
    reference = SimpleImputer(add_indicator=True).set_output(transform="pandas").fit(frame)
    with pytest.warns(UserWarning, match="Skipping features without any observed values"):
        reference.transform(frame)
    assert list(out.columns) == list(reference.get_feature_names_out())
    indicator = MissingIndicator().fit(X).transform(X)
    np.testing.assert_array_equal(out.iloc[:, 5:].to_numpy(), indicator)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # kept: nothing to warn of
        kept = AutoencoderImputer(**FAST, keep_empty_features=True).fit(X)
    filled = kept.transform(X)
    assert filled.shape == X.shape and (filled[:, 2] == 0).all()
    assert list(kept.get_feature_names_out()) == [f"x{i}" for i in range(6)]


def test_rows_with_nothing_observed(digits):
    X = _holes(digits[0])
    X[[3, 9]] = np.nan
    imputer = AutoencoderImputer(**FAST).fit(X)  # such rows teach nothing
    filled = imputer.transform(X)
    np.testing.assert_array_equal(filled[3], filled[9])  # filled from the means alone
    assert np.isfinite(filled).all()


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_table_with_nothing_observed_is_fitted_as_scikit_learns_imputers_fit_it(
    early_stopping, tmp_path
):
    # it was refused ("every entry is missing"), where SimpleImputer, KNNImputer
    # and IterativeImputer fit it: a search's fold can hold such a table
    X = np.zeros((5, 3))
    weights = np.arange(1.0, 6.0)
    params = dict(FAST, missing_values=0, early_stopping=early_stopping)
    kept = AutoencoderImputer(**params, keep_empty_features=True).fit(X, sample_weight=weights)
    reference = SimpleImputer(missing_values=0, keep_empty_features=True).fit(X)
    np.testing.assert_array_equal(kept.transform(X), reference.transform(X))
    # nothing was trained, and the record says so
    assert kept.n_iter_ == 0 and kept.loss_curve_ == []
    assert kept.best_validation_score_ is None
    assert kept.validation_scores_ == ([] if early_stopping else None)
    skae.save(kept, tmp_path / "kept.skae")
    loaded = skae.load(tmp_path / "kept.skae")
    np.testing.assert_array_equal(loaded.transform([[0.0, 2.0, 0.0]]), [[0.0, 2.0, 0.0]])
    dropped = AutoencoderImputer(**params)
    with pytest.warns(UserWarning, match=r"Features \[0, 1, 2\] had no observed value"):
        assert dropped.fit_transform(X).shape == (5, 0)
    # a stream that starts with such a chunk goes on with the next
    observed = np.arange(1.0, 16.0).reshape(5, 3)
    stream = AutoencoderImputer(**params).partial_fit(X).partial_fit(observed)
    assert stream.n_iter_ == 1 and stream.n_observed_.tolist() == [5, 5, 5]
    # a continued fit has nothing to go on with
    for continued in (
        lambda: AutoencoderImputer(**params).fit(observed).partial_fit(X),
        lambda: AutoencoderImputer(**params, warm_start=True).fit(observed).fit(X),
    ):
        with pytest.raises(ValueError, match="nothing to continue training on"):
            continued()


def test_in_a_pipeline_and_a_search_beside_scikit_learns_imputers(digits):
    X, y = digits
    holes = _holes(X / 16)
    pipeline = make_pipeline(AutoencoderImputer(**FAST), LogisticRegression(max_iter=200))
    search = GridSearchCV(
        pipeline,
        {
            "autoencoderimputer": [
                AutoencoderImputer(**FAST),
                KNNImputer(),
                IterativeImputer(max_iter=2),
            ]
        },
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(holes, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.score(holes, y) > 0.5


def test_saved_and_loaded_and_pandas_nullable_input(digits, tmp_path):
    pd = pytest.importorskip("pandas")
    X = _holes(digits[0][:, :10])
    imputer = AutoencoderImputer(**FAST, add_indicator=True).fit(X)
    skae.save(imputer, tmp_path / "imputer.skae")
    loaded = skae.load(tmp_path / "imputer.skae")
    np.testing.assert_array_equal(loaded.transform(X), imputer.transform(X))
    frame = pd.DataFrame(X).astype("Float64")  # pd.NA in nullable columns
    np.testing.assert_allclose(imputer.transform(frame), imputer.transform(X), rtol=1e-12)


def test_an_imputer_has_no_codes_to_invert_or_score(digits):
    imputer = AutoencoderImputer(**FAST).fit(_holes(digits[0]))
    for method in ("inverse_transform", "score_samples", "score"):
        assert not hasattr(imputer, method)
    # nor metadata to route to a score (as SimpleImputer has none)
    assert not hasattr(imputer, "set_score_request")
    assert not imputer.get_metadata_routing().score.requests


def test_a_feature_empty_in_fit_does_not_move_the_other_fills():
    # the network never saw a value in feature 2: at transform, whatever it holds
    # is hidden from the network as in training (scikit-learn's imputers drop
    # such a feature before modelling)
    rng = np.random.default_rng(0)
    X = _holes(rng.normal(size=(200, 3)))
    X[:, 2] = np.nan
    for keep in (False, True):
        imputer = AutoencoderImputer(**FAST, keep_empty_features=keep).fit(X)
        rows = np.array([[np.nan, 0.5, value] for value in (0.0, 10.0, 1e3)])
        filled = imputer.transform(rows)
        assert np.unique(filled[:, 0]).size == 1
        if keep:  # kept: its observed entries come back as they are
            np.testing.assert_array_equal(filled[:, 2], rows[:, 2])


def test_the_indicator_counts_every_row_and_every_chunk():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    X[1:10, 0] = np.nan
    X[0] = np.nan  # features 1 and 2 miss only in this row, which trains nothing
    imputer = AutoencoderImputer(**FAST, add_indicator=True)
    expected = MissingIndicator().fit(X).features_.tolist()
    assert expected == [0, 1, 2]
    assert imputer.fit(X).indicator_features_ == expected
    reference = SimpleImputer(add_indicator=True).fit_transform(X)
    assert imputer.fit_transform(X).shape == reference.shape
    # over a stream, the features with holes in any chunk so far, as fit on them all
    first, second = rng.normal(size=(2, 50, 3))
    first[:10, 0] = second[:10, 1] = np.nan
    imputer = AutoencoderImputer(**FAST, add_indicator=True)
    imputer.partial_fit(first).partial_fit(second)
    assert imputer.indicator_features_ == [0, 1]
    names = imputer.get_feature_names_out()[3:].tolist()
    assert names == ["missingindicator_x0", "missingindicator_x1"]
    # a first chunk without holes: indices stay ints, the imputer keeps working
    imputer = AutoencoderImputer(**FAST, add_indicator=True).partial_fit(np.nan_to_num(first))
    assert imputer.partial_fit(second).indicator_features_ == [1]
    assert all(type(i) is int for i in imputer.indicator_features_)
    assert imputer.transform(second).shape == (50, 4)


def test_a_table_with_categories_keeps_its_index_and_its_columns():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 40
    table = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "missingindicator_a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["x", "y"], n)),
        },
        index=pd.Index(np.arange(100, 100 + n), name="id"),
    )
    table.loc[100:105, "a"] = np.nan
    table.loc[106:108, "c"] = np.nan
    imputer = AutoencoderImputer(**FAST, categorical_features="from_dtype", add_indicator=True)
    filled = imputer.fit_transform(table)
    pd.testing.assert_index_equal(filled.index, table.index)
    assert filled.columns.tolist() == imputer.get_feature_names_out().tolist()
    # the input column of the indicator's name is kept, the indicator stacked after it
    np.testing.assert_array_equal(filled.iloc[:, 1], table["missingindicator_a"])
    np.testing.assert_array_equal(filled.iloc[:, 3], table["a"].isna().astype(float))
    assert filled.loc[106:108, "c"].notna().all()
    # rows given as a list (whose .index is a method) come back as a table too
    rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
    assert imputer.transform(rows).shape == filled.shape


@pytest.mark.parametrize("unit", [1e-18, 1e-170, 1e155])
def test_the_scale_of_a_feature_holds_at_any_magnitude(unit, tmp_path):
    # a spread of 1e-18 is a spread (not a constant one), and 1e155 squared is not
    # an overflow: the fills stay on the scale of the observed values
    rng = np.random.default_rng(0)
    X = _holes(rng.normal(size=(200, 3)) * unit)
    imputer = AutoencoderImputer(**FAST).fit(X)
    expected = SimpleImputer().fit(X)
    np.testing.assert_allclose(imputer.mean_, expected.statistics_, rtol=1e-9)
    np.testing.assert_allclose(imputer.scale_, np.nanstd(X / unit, axis=0) * unit, rtol=1e-9)
    fills = imputer.transform(X)[np.isnan(X)]
    assert np.isfinite(fills).all() and np.abs(fills).max() < 10 * unit
    # and over a stream, whose moments are merged in the same units (a variance
    # of 1e310 overflowed, one of 1e-340 vanished), and in a file
    imputer.partial_fit(X)
    np.testing.assert_allclose(imputer.scale_, np.nanstd(X / unit, axis=0) * unit, rtol=1e-9)
    skae.save(imputer, tmp_path / "imputer.skae")
    np.testing.assert_array_equal(
        skae.load(tmp_path / "imputer.skae").transform(X), imputer.transform(X)
    )


def test_a_row_of_weight_zero_sets_no_feature_scale():
    # its values, whatever their magnitude, count for nothing: the spread of 1e-14
    # of the others is kept
    rng = np.random.default_rng(0)
    X = _holes(rng.normal(size=(100, 2)) * 1e-14)
    X[0] = 1e150
    weights = np.ones(100)
    weights[0] = 0
    for seed in range(4):  # whichever of its entries the error's pass hides
        imputer = AutoencoderImputer(**FAST | {"random_state": seed})
        imputer.fit(X, sample_weight=weights)
        np.testing.assert_allclose(imputer.scale_, np.nanstd(X[1:], axis=0), rtol=1e-9)
        assert np.isfinite(imputer.imputation_std_).all()


@pytest.mark.parametrize("extra", [{}, {"batch_size": 16}, {"sample_posterior": True}])
def test_rows_of_weight_zero_change_nothing_whether_or_not_they_hold_values(extra):
    # a row with nothing observed was set aside, one of weight zero holding values
    # was not: the batches, and so the fit, followed what the rows of weight zero
    # held; and with weight only on rows of nothing observed the fit diverged
    rng = np.random.default_rng(0)
    X = _holes(rng.normal(size=(60, 5)))
    weights = np.ones(60)
    weights[:10] = 0
    filled = []
    for hold in (np.nan, 0.5):
        Xw = X.copy()
        Xw[:10] = hold
        imputer = AutoencoderImputer(**FAST | extra).fit(Xw, sample_weight=weights)
        filled.append(imputer.transform(X[10:]))
    np.testing.assert_array_equal(*filled)
    X[:10] = np.nan
    with pytest.raises(ValueError, match="sample_weight is zero for every row of X that has"):
        AutoencoderImputer(**FAST).fit(X, sample_weight=1 - weights)


def test_a_known_category_no_training_row_weighed_is_kept_and_hidden_from_the_network():
    # declared by the dtype only, or held by rows of weight zero: transform
    # replaced the observed category with a fill, as if it were missing
    pd = pytest.importorskip("pandas")
    size = pd.CategoricalDtype(["S", "M", "L", "XL"])
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    X["size"] = pd.Series(rng.choice(["S", "M", "L"], 40)).astype(size)
    X.loc[::7, "size"] = np.nan
    weights = np.where(X["size"] == "L", 0.0, 1.0)
    imputer = AutoencoderImputer(**FAST, categorical_features="from_dtype", add_indicator=True)
    imputer.fit(X, sample_weight=weights)
    rows = pd.DataFrame({"a": [np.nan] * 3, "b": [0.3] * 3})
    rows["size"] = pd.Series(["XL", "L", None]).astype(size)
    filled = imputer.transform(rows)
    assert filled["size"].tolist()[:2] == ["XL", "L"]
    # the network saw them as missing: the same fill of a as beside a hole
    assert filled["a"].nunique() == 1
    assert filled["missingindicator_size"].tolist() == [0.0, 0.0, 1.0]
    # and a hole is filled with a category some training row held
    assert filled["size"].tolist()[2] in ("S", "M")


def test_a_constant_feature_has_a_scale_of_one():
    X = np.column_stack([np.full(50, 3e-18), np.full(50, 7.0), np.linspace(0, 1, 50)])
    X[::7, 2] = np.nan
    imputer = AutoencoderImputer(**FAST).fit(X)
    np.testing.assert_array_equal(imputer.scale_[:2], [1.0, 1.0])
    # and one whose spread rounds to nothing (subnormal values: a scale of 0
    # divided the feature into infinities and the fit diverged)
    tiny = X.copy()
    tiny[:, 0] = [0.0, 5e-324] * 25
    assert AutoencoderImputer(**FAST).fit(tiny).scale_[0] == 1.0
    np.testing.assert_allclose(imputer.mean_[:2], [3e-18, 7.0])


@pytest.mark.parametrize("sample_posterior", [False, True])
def test_a_constant_feature_is_filled_with_its_value(sample_posterior):
    # its scale is 1, so the network's error went into the fill in its own units:
    # a feature of 1e-6 was filled with 0.005 to 0.04, one of 5.0 with 5.1
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    X[:, 1], X[:, 3] = 1e-6, 5.0
    X[rng.random(X.shape) < 0.2] = np.nan
    imputer = AutoencoderImputer(**FAST, sample_posterior=sample_posterior).fit(X)
    filled = imputer.transform(X)
    np.testing.assert_array_equal(filled[:, 1], 1e-6)
    np.testing.assert_array_equal(filled[:, 3], 5.0)
    assert len(np.unique(filled[np.isnan(X[:, 0]), 0])) > 10  # the others the network's
    if importlib.util.find_spec("skl2onnx") is None:
        return
    import onnxruntime
    from skl2onnx import to_onnx

    import skae.onnx  # noqa: F401

    if not sample_posterior:
        graph = to_onnx(imputer, X[:1]).SerializeToString()
        (served,) = onnxruntime.InferenceSession(graph).run(None, {"X": X})
        np.testing.assert_allclose(served, filled, rtol=1e-12)
        np.testing.assert_array_equal(served[:, 1], 1e-6)


def test_a_stream_standardizes_by_the_moments_of_every_chunk_so_far():
    # the first chunk's standardization was kept for good: a feature with no value
    # in it kept a scale of 1 for values of thousands, and every fill collapsed
    rng = np.random.default_rng(0)
    X = _holes(rng.normal(size=(120, 3)) * [1.0, 10.0, 1000.0] + [0.0, 5.0, 4000.0])
    X[:40, 2] = np.nan
    weights = rng.random(120) + 0.5
    chunks = (slice(0, 40), slice(40, 90), slice(90, 120))
    for rows in chunks:  # each call's weights average 1, as a fit counts them
        weights[rows] /= weights[rows].mean()
    imputer = AutoencoderImputer(**FAST)
    trained_on = []
    base = skae._base._BaseAutoencoder._train_net

    def spy(self, net, *args, **kwargs):  # the fill that training gives the network
        trained_on.append(net.iterator_train__fill.numpy().copy())
        return base(self, net, *args, **kwargs)

    skae._base._BaseAutoencoder._train_net = spy
    try:
        for rows in chunks:
            imputer.partial_fit(X[rows], sample_weight=weights[rows])
    finally:
        skae._base._BaseAutoencoder._train_net = base
    np.testing.assert_array_equal(trained_on, 0.0)
    for j in range(3):
        observed = ~np.isnan(X[:, j])
        x, w = X[observed, j], weights[observed]
        mean = np.average(x, weights=w)
        np.testing.assert_allclose(imputer.mean_[j], mean, rtol=1e-10)
        std = np.sqrt(np.average((x - mean) ** 2, weights=w))
        np.testing.assert_allclose(imputer.std_[j], std, rtol=1e-10)
    np.testing.assert_array_equal(imputer.scale_, imputer.std_)
    # a hole enters the network as its feature's mean: 0 in the units of every
    # chunk so far (a running mean of each chunk's own units drifted from it)
    np.testing.assert_array_equal(imputer.fill_values_, 0.0)
    fills = imputer.transform(X)[:, 2][np.isnan(X[:, 2])]
    assert np.abs(fills - 4000).max() < 5000


def test_an_empty_categorical_column_kept_is_filled_with_its_first_category():
    # its untrained head's most probable category filled it, changing with the seed
    pd = pytest.importorskip("pandas")
    for seed in (0, 1, 5):
        rng = np.random.default_rng(seed)
        X = pd.DataFrame(
            {
                "x": rng.normal(size=20),
                "y": rng.normal(size=20),
                "c": pd.Categorical(rng.choice(["a", "b", "c"], 20)),
            }
        )
        X.loc[3:, "c"] = np.nan
        weights = np.ones(20)
        weights[:3] = 0  # c is observed only in rows of weight zero: an empty feature
        imputer = AutoencoderImputer(
            **FAST, categorical_features="from_dtype", keep_empty_features=True
        ).set_params(random_state=seed)
        filled = imputer.fit(X, sample_weight=weights).transform(X)
        assert (filled.loc[3:, "c"] == imputer.categories_[0][0]).all()


def test_a_category_unseen_in_fit_is_returned_as_observed():
    # it is hidden from the network as a missing entry is, but it was observed: an
    # imputer changes missing entries only (it was filled with a known category,
    # and a weight-zero row's category, kept in categories_, was not)
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=20), "s": rng.choice(["a", "b"], 20).astype(object)})
    X.loc[0, "s"] = None
    imputer = AutoencoderImputer(**FAST, categorical_features="from_dtype", add_indicator=True)
    new = pd.DataFrame({"x": [0.1, np.nan, 0.3], "s": ["new", None, "a"]}, index=[7, 8, 9])
    out = imputer.fit(X).transform(new)
    assert out["missingindicator_s"].tolist() == [0.0, 1.0, 0.0]
    assert out["s"][7] == "new" and out["s"][8] in ("a", "b") and out["s"][9] == "a"
    assert list(out["s"].cat.categories) == ["a", "b", "new"] and list(out.index) == [7, 8, 9]
    assert out["x"][7] == 0.1 and not np.isnan(out["x"][8])
    # in the categories' own dtype where nothing is lost: 5.0 (a float column, for
    # its hole) among integer categories is 5, as in a batch without it
    integers = pd.DataFrame({"x": rng.normal(size=20), "n": rng.integers(0, 3, 20)})
    imputer = AutoencoderImputer(**FAST, categorical_features=["n"]).fit(integers)
    unseen = imputer.transform(pd.DataFrame({"x": [0.1, np.nan], "n": [5.0, np.nan]}))["n"]
    known = imputer.transform(integers)["n"]
    assert unseen.tolist()[0] == 5 and unseen.cat.categories.dtype == known.cat.categories.dtype
    # without names: an array of objects, or of floats where the categories are
    numbers = np.array([[0.0, 1.0], [1.0, 2.0], [0.0, np.nan], [1.0, 1.0]] * 5)
    imputer = AutoencoderImputer(**FAST, categorical_features=[0]).fit(numbers)
    filled = imputer.transform(np.array([[7.0, 1.5], [np.nan, 2.0]]))
    assert filled.dtype == np.float64 and filled[0].tolist() == [7.0, 1.5]
    assert filled[1, 0] in (0.0, 1.0)
    objects = imputer.fit(numbers.astype(object)).transform(np.array([["z", 1.5]], dtype=object))
    assert objects.tolist() == [["z", 1.5]]


def test_imputation_std_runs_over_a_partial_fit_stream():
    # it was measured on the last chunk alone: one of 2 rows reset it to 1
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(1000, 1))
    X = np.hstack([Z + 0.3 * rng.normal(size=(1000, 1)) for _ in range(4)])
    X[rng.random(X.shape) < 0.2] = np.nan
    imputer = AutoencoderImputer(**FAST)
    for start in range(0, 960, 160):
        imputer.partial_fit(X[start : start + 160])
    before = imputer.imputation_std_.copy()
    assert (before < 0.99).any()
    imputer.partial_fit(X[960:962])
    np.testing.assert_allclose(imputer.imputation_std_, before, rtol=0.05)


def test_a_placeholder_with_from_dtype_on_numbers_and_a_refit_without_categories(tmp_path):
    # "from_dtype" found no category in an array or a numeric table, yet refused a
    # placeholder other than NaN; a refit without categorical columns kept the
    # categorical fit's declared dtypes, and skae.save refused the model
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(30, 3)))
    X[rng.random(X.shape) < 0.2] = -1
    for data in (X, pd.DataFrame(X, columns=list("abc"))):
        imputer = AutoencoderImputer(**FAST, categorical_features="from_dtype", missing_values=-1)
        filled = imputer.fit(data).transform(data)
        assert imputer.categories_ is None and not (np.asarray(filled) == -1).any()
    table = pd.DataFrame(
        {"x": rng.normal(size=30), "c": pd.Categorical(rng.choice(["p", "q"], 30))}
    )
    imputer = AutoencoderImputer(**FAST, categorical_features="from_dtype").fit(table)
    imputer.set_params(categorical_features=None).fit(table[["x"]])
    assert imputer.categorical_dtypes_ is None
    skae.save(imputer, tmp_path / "imputer.skae")


def test_a_draw_near_float32_s_largest_values_stays_finite():
    # a draw past float32's range was cast to infinity
    rng = np.random.default_rng(0)
    X = rng.uniform(2.5e38, 3.3e38, size=(60, 3)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = np.nan
    imputer = AutoencoderImputer(
        hidden_layer_sizes=(4,), n_components=2, max_iter=3, sample_posterior=True, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        filled = imputer.fit_transform(X)
    assert filled.dtype == np.float32 and np.isfinite(filled).all()


def test_add_indicator_is_read_at_transform_as_scikit_learns_imputers_read_it(tmp_path):
    # set after fit it was ignored: transform followed the fit's setting
    X = np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0], [np.nan, 1.0]])
    for cls in (SimpleImputer, AutoencoderImputer):
        params = FAST if cls is AutoencoderImputer else {}
        off = cls(**params, add_indicator=True).fit(X).set_params(add_indicator=False)
        assert off.transform(X).shape == (4, 2)
        assert list(off.get_feature_names_out()) == ["x0", "x1"]
        on = cls(**params).fit(X).set_params(add_indicator=True)
        with pytest.raises((ValueError, AttributeError)):  # SimpleImputer's: AttributeError
            on.transform(X)
    for call in (lambda: on.transform(X), on.get_feature_names_out):
        with pytest.raises(ValueError, match="fit ran with add_indicator=False"):
            call()
    # such a model is saved and loaded as it transforms
    skae.save(off, tmp_path / "off.skae")
    np.testing.assert_array_equal(skae.load(tmp_path / "off.skae").transform(X), off.transform(X))


def test_sample_posterior_set_after_a_fit_without_noise_is_refused_at_transform(digits):
    # it drew around the network's fills with a spread never measured
    X = _holes(digits[0])
    imputer = AutoencoderImputer(**FAST, noise=0).fit(X).set_params(sample_posterior=True)
    with pytest.raises(ValueError, match="sample_posterior=True draws by hiding"):
        imputer.transform(X)
