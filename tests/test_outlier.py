"""The outlier threshold (skae/_outlier.py): the weighted quantile of training scores."""

import numpy as np
import pytest

from skae._outlier import _quantile


@pytest.mark.parametrize("q", [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_the_quantile_is_numpys_averaged_inverted_cdf_with_weights_as_repeats(q):
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40, 101):
        values = rng.normal(size=n)
        values[: n // 3] = values[-1]  # ties
        assert _quantile(values, q) == np.quantile(values, q, method="averaged_inverted_cdf")
        weights = rng.integers(0, 4, size=n).astype(float)
        weights[0] = 1
        expected = np.quantile(
            np.repeat(values, weights.astype(int)), q, method="averaged_inverted_cdf"
        )
        assert _quantile(values, q, weights) == expected
        assert _quantile(values, q, weights * 2.0**-7) == expected


def test_merged_percentiles_follow_a_stream_of_small_chunks_without_drifting():
    # re-reading the percentiles as 101 equal values rounded each merge's quantiles
    # to a whole percentile: over 20 chunks of 5 rows the 10 % quantile fell from
    # the 10th percentile to the 3rd
    from skae._outlier import _PERCENTILES, _merged_quantiles

    rng = np.random.default_rng(0)
    percentiles, kept = _quantile(rng.gumbel(size=2000), _PERCENTILES), 2000
    truth = -np.log(-np.log(0.1))  # the Gumbel distribution's 10 % quantile
    found = []
    for _ in range(1000):
        chunk, weights = rng.gumbel(size=5), rng.uniform(0.5, 1.5, size=5)
        found.append(_merged_quantiles(percentiles, kept, chunk, weights, 0.1))
        percentiles = _merged_quantiles(percentiles, kept, chunk, weights, _PERCENTILES)
        kept = 2043
    assert np.all(np.diff(percentiles) >= 0)
    assert abs(np.mean(found) - truth) < 0.03 and np.abs(np.array(found) - truth).max() < 0.15


def test_merged_percentiles_keep_tied_rows_at_their_value():
    # linear interpolation across tied percentiles spread the rows of one value
    # toward a new one: 100 equal scores and a new -10 gave quantiles of -9 to -2.5
    from skae._outlier import _PERCENTILES, _merged_quantiles

    zeros = _quantile(np.zeros(100), _PERCENTILES)
    merged = _merged_quantiles(zeros, 100, np.array([-10.0]), np.ones(1), [0.005, 0.01, 0.5])
    np.testing.assert_array_equal(merged, [-10.0, 0.0, 0.0])
    steps = _quantile(np.arange(1.0, 6.0), _PERCENTILES)
    merged = _merged_quantiles(steps, 5, np.array([0.0]), np.ones(1), [0.25, 0.75])
    np.testing.assert_array_equal(merged, _quantile(np.arange(0.0, 6.0), np.array([0.25, 0.75])))


@pytest.mark.parametrize("contamination", [0.35, 0.41, 0.47, 0.25, "auto"])
def test_a_fitted_detector_passes_the_check_of_its_threshold(contamination, tmp_path):
    # skae.load checks offset_ against score_quantiles_: 0.41 lies just below
    # the grid's 0.41000000000000003, where this stream's merged quantile steps,
    # and its legitimately fitted detector could not be saved
    import skae

    rng = np.random.default_rng(0)
    typical = rng.normal(size=(1, 4))
    det = skae.AutoencoderOutlierDetector(
        2, hidden_layer_sizes=(3,), contamination=contamination, max_iter=2,
        n_iter_no_change=None, random_state=0,
    )  # fmt: skip
    det.fit(np.repeat(typical, 59, axis=0))
    det.partial_fit(np.repeat(typical + 3, 41, axis=0))
    skae.save(det, tmp_path / "det.skae")
    assert skae.load(tmp_path / "det.skae").offset_ == det.offset_


@pytest.mark.parametrize(
    "Detector, change, unscored",
    [
        (
            "AutoencoderOutlierDetector",
            {"loss": "bce", "output_activation": "sigmoid"},
            {"sparsity": 0.5},
        ),
        ("VAEOutlierDetector", {"likelihood": "bernoulli"}, {"beta": 4.0}),
    ],
)
def test_a_detector_does_not_score_with_a_loss_set_after_fit(Detector, change, unscored):
    # its offset_ was drawn from the fitted loss's scores: another loss's scores
    # against it flagged no row at all
    import skae

    X = np.random.default_rng(0).random((40, 4))
    detector = getattr(skae, Detector)(
        n_components=2, hidden_layer_sizes=(8,), contamination=0.1, max_iter=3, random_state=0
    ).fit(X)
    scores, labels, codes = detector.score_samples(X), detector.predict(X), detector.transform(X)
    before = {key: detector.get_params()[key] for key in change}
    detector.set_params(**change)
    for method in ("score_samples", "decision_function", "predict", "score"):
        with pytest.raises(ValueError, match=r"was fitted with .*: scores and reconstructions"):
            getattr(detector, method)(X)
    with pytest.raises(ValueError, match="Refit, or set the parameters back"):
        detector.inverse_transform(codes)
    np.testing.assert_array_equal(detector.transform(X), codes)  # the codes are the net's
    # settings that change no score may change after fit (a penalty of training)
    detector.set_params(**before, **unscored, max_iter=9, learning_rate_init=0.5, batch_size=7)
    np.testing.assert_array_equal(detector.score_samples(X), scores)
    np.testing.assert_array_equal(detector.predict(X), labels)


@pytest.mark.parametrize(
    "Detector, change",
    [
        ("VAEOutlierDetector", {"anomaly_score": "elbo"}),
        ("AutoencoderOutlierDetector", {"loss": "bce", "output_activation": "sigmoid"}),
    ],
)
def test_a_stream_that_changes_its_score_starts_its_threshold_anew(Detector, change):
    # the quantiles of the chunks before, of the other score, were merged with the
    # new chunk's: offset_ flagged every row (or none) at contamination=0.1
    import skae

    X = np.random.default_rng(0).random((300, 4))
    detector = getattr(skae, Detector)(
        n_components=2, hidden_layer_sizes=(4,), contamination=0.1, random_state=0
    )
    for start in range(0, 200, 40):
        detector.partial_fit(X[start : start + 40])
    assert detector.n_offset_samples_ == 200
    detector.set_params(**change).partial_fit(X[200:240])
    assert detector.n_offset_samples_ == 40  # this chunk's scores alone
    scores = detector.score_samples(X[200:240])
    assert detector.offset_ == pytest.approx(_quantile(scores, 0.1))
    assert 0.02 < (detector.predict(X[:200]) == -1).mean() < 0.3


def test_a_threshold_between_neighbouring_float32_scores_lies_strictly_between():
    # the midpoint of two neighbouring float32 scores was taken in float32 and
    # rounded to the lower one, whose row then counted as an inlier (one outlier
    # too few, which scikit-learn's check_outlier_corruption flags)
    from skae import AutoencoderOutlierDetector

    lower = next(
        x
        for x in np.linspace(-1, -0.5, 1000, dtype=np.float32)
        if (x + np.nextafter(x, np.float32(0))) / np.float32(2) == x
    )
    upper = np.nextafter(lower, np.float32(0))
    values = np.array([lower - 1, lower, upper] + [lower + 1] * 17, dtype=np.float32)
    threshold = _quantile(values, 0.1)  # 2 of 20: the midpoint of lower and upper
    assert lower < threshold < upper
    # and decisions are taken in float64, where offset_ lies between the two
    X = np.random.default_rng(0).random((20, 3), dtype=np.float32)
    detector = AutoencoderOutlierDetector(1, hidden_layer_sizes=(2,), max_iter=1).fit(X)
    decision = detector.decision_function(X)
    assert decision.dtype == np.float64
    scores = detector.score_samples(X).astype(np.float64)
    np.testing.assert_array_equal(decision, scores - detector.offset_)


def test_the_scale_of_a_stream_s_weights_does_not_move_its_threshold():
    # weights of 1e307 overflowed the merge of a chunk with the rows before it:
    # NaN percentiles, offset_ -0.890 instead of -0.606, and save refused the model
    from skae import AutoencoderOutlierDetector

    X = np.random.default_rng(0).random((300, 3))
    offsets = []
    for scale in (1.0, 1e307):
        detector = AutoencoderOutlierDetector(
            2, hidden_layer_sizes=(4,), max_iter=2, random_state=0, contamination=0.1
        ).fit(X)
        detector.partial_fit(X[:100], sample_weight=np.full(100, scale))
        assert np.isfinite(detector.score_quantiles_).all()
        offsets.append(detector.offset_)
    assert offsets[1] == pytest.approx(offsets[0], rel=1e-12)
