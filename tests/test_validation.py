"""The parameter-constraint checker."""

import numbers

import numpy as np
import pytest

from skae._validation import _BOOLEAN, _Interval, _Options, _Sizes


@pytest.mark.parametrize(
    "constraint, good, bad",
    [
        (_Interval(numbers.Integral, 1, None), [1, np.int64(7)], [0, 1.5, True, "3", 2**64]),
        (_Interval(numbers.Real, 0, 1, closed="neither"), [0.5, 1e-9], [0, 1, -0.1]),
        (_Options(("a", "b")), ["a"], ["c", None, 1]),
        (_Sizes(), [(), (3,), [4, 5], 3], [(0,), "12", (2.5,), 0, True, [[3]]]),
        (_BOOLEAN, [True, np.bool_(False)], [0, "yes"]),
    ],
)
def test_constraints_accept_and_reject(constraint, good, bad):
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)


def test_descriptions_read_as_english():
    assert str(_Interval(numbers.Integral, 1, None)) == "an int in the range [1, inf)"
    assert str(_Interval(numbers.Real, 0, 1, closed="neither")) == "a float in the range (0, 1)"
    assert str(_Options(("x", "y"))) == "one of 'x', 'y'"


def test_alpha_with_an_optimizer_without_weight_decay_is_a_clear_error():
    import torch

    from skae import AutoencoderTransformer

    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]
    with pytest.raises(ValueError, match="Rprop does not take; set alpha=0"):
        AutoencoderTransformer(optimizer=torch.optim.Rprop, max_iter=1).fit(X)
    AutoencoderTransformer(optimizer=torch.optim.Rprop, alpha=0.0, max_iter=1).fit(X)


@pytest.mark.parametrize("sizes", [{3: "x"}, {3}, "33", 0, True, 3.0, [[3]], [3, [2]]])
def test_hidden_layer_sizes_must_be_positive_ints(sizes):
    from skae import AutoencoderTransformer

    with pytest.raises(ValueError, match="'hidden_layer_sizes' parameter"):
        AutoencoderTransformer(hidden_layer_sizes=sizes).fit([[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize("name", ["AutoencoderTransformer", "VAETransformer", "AutoencoderImputer"])
def test_one_int_is_one_hidden_layer_as_in_mlp_regressor(name, tmp_path):
    import skae

    X = np.random.default_rng(0).random((40, 5))
    params = dict(n_components=2, max_iter=2, n_iter_no_change=None, random_state=0)
    one = getattr(skae, name)(hidden_layer_sizes=np.int64(7), **params).fit(X)
    same = getattr(skae, name)(hidden_layer_sizes=(7,), **params).fit(X)
    np.testing.assert_array_equal(one.transform(X), same.transform(X))
    skae.save(one, tmp_path / "one.skae")
    np.testing.assert_array_equal(skae.load(tmp_path / "one.skae").transform(X), one.transform(X))
    # the public modules take it too, and nothing but ints
    assert len(skae.MLPAutoencoder(5, 2, hidden_layer_sizes=7).encoder_layers) == 2
    for bad in ["64", True, (3.7, 2.2)]:
        with pytest.raises(TypeError):
            skae.MLPAutoencoder(5, 2, hidden_layer_sizes=bad)


@pytest.mark.parametrize(
    "estimator, name",
    [
        ("AutoencoderTransformer", "noise"),
        ("AutoencoderTransformer", "tol"),
        ("AutoencoderTransformer", "n_components"),
        ("VAETransformer", "beta"),
        ("AutoencoderImputer", "alpha"),
        ("AutoencoderImputer", "missing_values"),
    ],
)
def test_an_int_beyond_64_bits_is_refused_by_name_not_overflowed_in_fit(estimator, name):
    # Python ints have no bound, torch's and NumPy's do: 10**40 passed every range
    # and ended the fit in an OverflowError from deep inside torch
    import skae

    est = getattr(skae, estimator)(**{name: 10**40})
    with pytest.raises(ValueError, match=f"'{name}' parameter .* beyond the 64 bits"):
        est.fit(np.random.RandomState(0).rand(10, 3))
    assert _Interval(numbers.Integral, 1, None).accepts(2**63 - 1)
    assert not _Interval(numbers.Real, 0, None).accepts(2**63)
