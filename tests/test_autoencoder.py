"""AutoencoderTransformer: the nonlinear autoencoder and its recipes."""

from itertools import pairwise

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from skae import AutoencoderOutlierDetector, AutoencoderTransformer

from ._instances import instance

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits_split(digits01):
    return digits01[:1400], digits01[1400:]


def mse(est, X):
    return ((X - est.inverse_transform(est.transform(X))) ** 2).mean()


def test_default_parameters_reconstruct_digits_better_than_pca(digits_split):
    X_train, X_test = digits_split
    pca = PCA(8).fit(X_train)
    ae = AutoencoderTransformer(8, random_state=0).fit(X_train)
    # on held-out digits, so the gain is not memorization
    assert mse(ae, X_test) < 0.8 * mse(pca, X_test)


def test_bce_sigmoid_outputs_keep_sklearn_shapes(digits_split):
    X_train, _ = digits_split
    ae = AutoencoderTransformer(
        5, output_activation="sigmoid", loss="bce", max_iter=3, random_state=0
    ).fit(X_train)
    Z = ae.transform(X_train)
    X_rec = ae.inverse_transform(Z)
    # a plain skorch regressor with BCELoss would predict shape (n, 2, 64)
    assert Z.shape == (1400, 5) and X_rec.shape == (1400, 64)
    assert X_rec.min() > 0 and X_rec.max() < 1


def test_mnist_recipe_is_expressible_exactly():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(300, 784)).astype(np.float32)
    ae = AutoencoderTransformer(
        36,
        hidden_layer_sizes=(),
        code_activation="relu",
        output_activation="sigmoid",
        loss="bce",
        alpha=0.0,
        batch_size=256,
        learning_rate_init=1e-3,
        max_iter=20,
        random_state=0,
    ).fit(X)
    module, net = ae.net_.module_, ae.net_
    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(784, 36), (36, 784)]
    assert isinstance(module.code_activation, torch.nn.ReLU)
    assert isinstance(net.optimizer_, torch.optim.Adam)
    assert net.optimizer_.param_groups[0]["lr"] == 1e-3
    assert net.optimizer_.param_groups[0]["weight_decay"] == 0
    assert net.batch_size == 256 and ae.n_iter_ <= 20
    assert net.history[0, "train_batch_count"] == 2
    assert ae.transform(X).min() >= 0


def test_alpha_decays_weights_but_not_biases():
    X = load_digits().data[:200] / 16
    ae = AutoencoderTransformer(alpha=0.1, max_iter=1, random_state=0).fit(X)
    groups = ae.net_.optimizer_.param_groups
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for name, p in ae.net_.module_.named_parameters():
        assert decay[id(p)] == (0.0 if "bias" in name else 0.1)
    norms = {}
    for alpha in (0.0, 1.0):
        ae = AutoencoderTransformer(
            alpha=alpha, batch_size=20, learning_rate_init=0.01, max_iter=20, random_state=0
        ).fit(X)
        weights = [p.detach() for n, p in ae.net_.module_.named_parameters() if "weight" in n]
        norms[alpha] = sum(float((w**2).sum()) for w in weights)
    assert norms[1.0] < 0.5 * norms[0.0]


def test_tied_weights_halve_the_weight_parameters(digits_split):
    X_train, _ = digits_split
    count = {}
    for tied in (False, True):
        ae = AutoencoderTransformer(
            8, hidden_layer_sizes=(32,), tied_weights=tied, max_iter=2, random_state=0
        ).fit(X_train)
        count[tied] = sum(p.numel() for n, p in ae.net_.module_.named_parameters() if "weight" in n)
    assert count[True] * 2 == count[False] == 2 * (64 * 32 + 32 * 8)


def test_custom_optimizer_class_is_used(digits_split):
    X_train, _ = digits_split
    ae = AutoencoderTransformer(optimizer=torch.optim.RMSprop, max_iter=2).fit(X_train)
    assert isinstance(ae.net_.optimizer_, torch.optim.RMSprop)


def test_adamw_decays_the_weights_apart_from_the_gradient(digits_split):
    X_train, _ = digits_split
    common = dict(hidden_layer_sizes=(16,), alpha=0.1, max_iter=2, random_state=0)
    ae = AutoencoderTransformer(optimizer="adamw", **common).fit(X_train)
    optimizer = ae.net_.optimizer_
    assert isinstance(optimizer, torch.optim.AdamW)
    # the weights decay by alpha, the biases not at all
    names = {id(p): n for n, p in ae.net_.module_.named_parameters()}
    decay = {names[id(p)]: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert len(decay) == len(names) == 8
    assert all(d == (0.1 if "weight" in n else 0.0) for n, d in decay.items())
    # decoupled: not the weights of Adam's L2 penalty of the same strength
    adam = AutoencoderTransformer(optimizer="adam", **common).fit(X_train)
    assert not np.allclose(ae.transform(X_train), adam.transform(X_train), atol=1e-4)


# -- the autoencoder family ----------------------------------------------------------


def reconstruction_error(est, X_in, X_target):
    return ((X_target - est.inverse_transform(est.transform(X_in))) ** 2).mean()


def test_denoising_reconstructs_clean_digits_from_noisy_ones_better(digits_split):
    X_train, X_test = digits_split
    rng = np.random.default_rng(0)
    X_noisy = np.clip(X_test + rng.normal(scale=0.3, size=X_test.shape), 0, 1)
    # a complete code (64 for 64 pixels): without noise it is free to copy its input
    common = dict(
        n_components=64, hidden_layer_sizes=(128,), batch_size=64, max_iter=60, random_state=0
    )
    plain = AutoencoderTransformer(**common).fit(X_train)
    denoising = AutoencoderTransformer(noise=0.3, **common).fit(X_train)
    # measured: 0.0226 against 0.0261 (ratio 0.86)
    assert reconstruction_error(denoising, X_noisy, X_test) < 0.92 * reconstruction_error(
        plain, X_noisy, X_test
    )


def test_masking_noise_corrupts_training_inputs_only(digits_split):
    X_train, X_test = digits_split
    ae = AutoencoderTransformer(noise=0.5, noise_type="masking", max_iter=3, random_state=0)
    ae.fit(X_train)
    # inference is deterministic: no corruption outside training
    np.testing.assert_array_equal(ae.transform(X_test), ae.transform(X_test))
    with pytest.raises(ValueError, match="needs noise < 1"):
        AutoencoderTransformer(noise=1.0, noise_type="masking").fit(X_train)


def test_l1_sparsity_gives_measurably_more_zero_codes(digits_split):
    X_train, X_test = digits_split
    common = dict(n_components=32, code_activation="relu", max_iter=40, random_state=0)
    dense = AutoencoderTransformer(**common).fit(X_train)
    sparse = AutoencoderTransformer(sparsity=0.1, **common).fit(X_train)
    zeros = {
        name: (est.transform(X_test) == 0).mean() for name, est in [("d", dense), ("s", sparse)]
    }
    assert zeros["s"] > zeros["d"] + 0.2


def test_kl_sparsity_pulls_mean_activation_to_target(digits_split):
    X_train, X_test = digits_split
    common = dict(n_components=16, code_activation="logistic", max_iter=40, random_state=0)
    free = AutoencoderTransformer(**common).fit(X_train)
    kl = AutoencoderTransformer(sparsity=1.0, sparsity_target=0.05, **common).fit(X_train)
    assert abs(kl.transform(X_test).mean() - 0.05) < abs(free.transform(X_test).mean() - 0.05)
    assert kl.transform(X_test).mean() < 0.1
    with pytest.raises(ValueError, match="code_activation='logistic'"):
        AutoencoderTransformer(sparsity=1.0, sparsity_target=0.05).fit(X_train)


def test_dropout_is_active_in_training_only(digits_split):
    X_train, X_test = digits_split
    ae = AutoencoderTransformer(dropout=0.5, max_iter=3, random_state=0).fit(X_train)
    assert ae.net_.module_.dropout.p == 0.5
    np.testing.assert_array_equal(ae.transform(X_test), ae.transform(X_test))
    plain = AutoencoderTransformer(max_iter=3, random_state=0).fit(X_train)
    assert ae.loss_curve_[-1] > plain.loss_curve_[-1]  # half the units dropped costs fit


def test_conv_autoencoder_plugs_into_the_estimator(digits_split):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from skae import ConvAutoencoder

    X_train, X_test = digits_split
    ae = AutoencoderTransformer(
        10,
        module=ConvAutoencoder,
        module_params={"image_shape": (8, 8), "channels": (8, 16)},
        output_activation="sigmoid",
        loss="bce",
        batch_size=32,
        learning_rate_init=3e-3,
        max_iter=15,
        random_state=0,
    ).fit(X_train)
    assert isinstance(ae.net_.module_, ConvAutoencoder)
    assert ae.transform(X_test).shape == (len(X_test), 10)
    # it learned: far better than predicting the mean digit (error 0.074)
    assert mse(ae, X_test) < 0.5 * ((X_test - X_train.mean(axis=0)) ** 2).mean()
    assert clone(ae).get_params()["module_params"] == {"image_shape": (8, 8), "channels": (8, 16)}
    search = GridSearchCV(
        ae.set_params(max_iter=3), {"module_params": [{"image_shape": (8, 8), "channels": (4,)}]}
    ).fit(X_train[:300])
    assert search.best_estimator_.net_.module_.code_shape == (4, 4, 4)
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) has 49 pixels"):
        AutoencoderTransformer(module=ConvAutoencoder, module_params={"image_shape": (7, 7)}).fit(
            X_train
        )


def test_partial_fit_trains_one_epoch_per_chunk(digits_split):
    X_train, _ = digits_split
    ae = AutoencoderTransformer(hidden_layer_sizes=(32,), random_state=0)
    for chunk in np.array_split(X_train, 7):
        ae.partial_fit(chunk)
    assert ae.n_iter_ == 7 and len(ae.loss_curve_) == 7
    for _ in range(5):
        ae.partial_fit(X_train)
    assert ae.n_iter_ == 12
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    with pytest.raises(ValueError, match="X has 10 features"):
        ae.partial_fit(X_train[:, :10])


# -- outlier detection ---------------------------------------------------------------


@pytest.fixture(scope="module")
def zeros_vs_rest():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    return X[y == 0][:150], X[y == 0][150:], X[y != 0]


def test_outlier_detector_flags_digits_it_never_saw(zeros_vs_rest):
    from sklearn.metrics import roc_auc_score

    X_train, X_normal, X_other = zeros_vs_rest
    detector = AutoencoderOutlierDetector(
        8, hidden_layer_sizes=(32,), batch_size=16, max_iter=100, random_state=0
    ).fit(X_train)
    X_test = np.vstack([X_normal, X_other])
    is_outlier = np.r_[np.zeros(len(X_normal)), np.ones(len(X_other))]
    assert roc_auc_score(is_outlier, -detector.score_samples(X_test)) > 0.95
    labels = detector.predict(X_test)
    assert set(labels.tolist()) <= {-1, 1}
    # most other digits fall outside the fence, most held-out zeros inside
    assert (labels[len(X_normal) :] == -1).mean() > 0.8
    assert (labels[: len(X_normal)] == 1).mean() > 0.7


def test_contamination_sets_the_offset(zeros_vs_rest):
    X_train, _, _ = zeros_vs_rest
    common = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0)
    detector = AutoencoderOutlierDetector(contamination=0.1, **common).fit(X_train)
    scores = detector.score_samples(X_train)
    # the quantile of the empirical distribution, which weights can weigh
    quantile = dict(method="averaged_inverted_cdf")
    assert detector.offset_ == pytest.approx(np.percentile(scores, 10, **quantile), rel=1e-12)
    np.testing.assert_allclose(detector.decision_function(X_train), scores - detector.offset_)
    assert (detector.predict(X_train) == -1).mean() == pytest.approx(0.1, abs=0.01)
    auto = AutoencoderOutlierDetector(**common).fit(X_train)
    q1, q3 = np.percentile(auto.score_samples(X_train), [25, 75], **quantile)
    assert auto.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1), rel=1e-12)
    np.testing.assert_array_equal(auto.fit_predict(X_train), auto.predict(X_train))


def test_outlier_detector_partial_fit_updates_offset(zeros_vs_rest):
    X_train, _, _ = zeros_vs_rest
    detector = AutoencoderOutlierDetector(contamination=0.2, random_state=0)
    detector.partial_fit(X_train)
    scores = detector.score_samples(X_train)
    assert detector.offset_ == np.percentile(scores, 20, method="averaged_inverted_cdf")


@pytest.mark.parametrize("contamination", [0.1, "auto"])
def test_a_small_partial_fit_chunk_moves_the_threshold_by_its_share_of_the_rows(contamination):
    # a threshold read from a 5-row chunk alone flagged a quarter of the training rows
    X = np.random.default_rng(0).normal(size=(400, 6)) @ np.diag([3, 2, 1, 0.5, 0.1, 0.1])
    frozen = dict(optimizer="sgd", learning_rate_init=1e-30, batch_size=5)
    detector = AutoencoderOutlierDetector(
        2, contamination=contamination, max_iter=5, random_state=0
    ).fit(X)
    offset = detector.offset_
    share = (detector.predict(X) == -1).mean()
    assert detector.n_offset_samples_ == 400 and detector.score_quantiles_.shape == (101,)
    detector.set_params(**frozen)
    offsets, shares = [], []
    for start in range(0, 100, 5):
        detector.partial_fit(X[start : start + 5])
        offsets.append(detector.offset_)
        shares.append((detector.predict(X) == -1).mean())
    assert detector.n_offset_samples_ == 400 + 100
    spread = np.subtract(*np.percentile(detector.score_samples(X), [75, 25]))
    assert np.abs(np.array(offsets) - offset).max() < 0.2 * spread
    assert np.abs(np.array(shares) - share).max() < 0.03
    # a chunk of 2,048 rows or more is read alone, as a fit's data
    big = np.tile(X, (6, 1))
    detector.partial_fit(big)
    assert detector.n_offset_samples_ == len(big)
    scores = detector.score_samples(big)
    if contamination == 0.1:
        assert detector.offset_ == np.percentile(scores, 10, method="averaged_inverted_cdf")


def test_a_far_row_after_a_fit_on_equal_rows_is_an_outlier():
    # the equal rows' percentiles were interpolated toward the far row's score:
    # offset_ fell from -0.1 to -44 and the far row (-29) was called an inlier
    X = np.tile(np.linspace(-1, 1, 5), (100, 1))
    detector = AutoencoderOutlierDetector(2, max_iter=5, random_state=0).fit(X)
    far = X[:1] + 5
    detector.partial_fit(far)
    assert detector.predict(far) == -1 and detector.offset_ > detector.score_samples(far)[0] / 2
    assert detector.offset_ == pytest.approx(detector.score_quantiles_[50])


# -- layer-wise pretraining ----------------------------------------------------------


@pytest.fixture
def training_starts(monkeypatch):
    """``(estimator, module state, data)`` at the start of each network's training."""
    from skae._base import _BaseAutoencoder

    starts, train = [], _BaseAutoencoder._train_net

    def recorded(self, net, data, sample_weight, *, incremental):
        state = {k: v.clone() for k, v in net.module_.state_dict().items()}
        starts.append((self, state, data))
        train(self, net, data, sample_weight, incremental=incremental)

    monkeypatch.setattr(_BaseAutoencoder, "_train_net", recorded)
    return starts


@pytest.mark.parametrize("tied", [False, True])
def test_pretraining_starts_each_layer_from_a_single_layer_autoencoder(
    digits_split, training_starts, tied
):
    X_train, _ = digits_split
    ae = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        output_activation="sigmoid",
        loss="bce",
        tied_weights=tied,
        noise=0.1,
        pretrain_iter=2,
        max_iter=1,
        random_state=0,
    ).fit(X_train)
    *layers, (deep, start, _) = training_starts
    assert deep is ae and len(layers) == 3
    shallow = [layer for layer, _, _ in layers]
    assert [s.n_components for s in shallow] == [16, 8, 4]
    assert all(s.hidden_layer_sizes == () and s.n_iter_ == 2 for s in shallow)
    assert [s.code_activation for s in shallow] == ["tanh", "tanh", "identity"]
    # the first reconstructs the data as the estimator does, the others codes
    assert [(s.loss, s.output_activation, s.noise) for s in shallow] == [
        ("bce", "sigmoid", 0.1),
        ("mse", "identity", 0.0),
        ("mse", "identity", 0.0),
    ]
    assert layers[0][2] is X_train
    for (before, _, data), (_, _, codes) in pairwise(layers):
        np.testing.assert_array_equal(codes, before.transform(data))
    for i, s in enumerate(shallow):
        trained, mirror = s.net_.module_, 2 - i
        for name in ("weight", "bias"):
            torch.testing.assert_close(
                start[f"encoder_layers.{i}.{name}"],
                getattr(trained.encoder_layers[0], name),
                rtol=0,
                atol=0,
            )
        if tied:
            decoder = {f"decoder_biases.{mirror}": trained.decoder_biases[0]}
        else:
            decoder = {
                f"decoder_layers.{mirror}.{name}": getattr(trained.decoder_layers[0], name)
                for name in ("weight", "bias")
            }
        for key, value in decoder.items():
            torch.testing.assert_close(start[key], value, rtol=0, atol=0)


def test_only_a_new_network_is_pretrained(digits_split, training_starts):
    X_train, _ = digits_split
    common = dict(hidden_layer_sizes=(16,), pretrain_iter=1, max_iter=1, random_state=0)
    ae = AutoencoderTransformer(4, **common).fit(X_train)
    assert len(training_starts) == 3
    ae.set_params(warm_start=True).fit(X_train)
    ae.partial_fit(X_train)
    assert len(training_starts) == 5 and all(e is ae for e, _, _ in training_starts[2:])
    AutoencoderTransformer(4, **common).partial_fit(X_train)
    assert len(training_starts) == 6


def test_pretraining_takes_sparse_rows_and_their_weights(digits_split):
    import scipy.sparse as sp

    X_train, _ = digits_split
    weights = np.random.default_rng(0).uniform(0, 2, len(X_train))
    common = dict(hidden_layer_sizes=(16,), pretrain_iter=2, max_iter=1, random_state=0)
    dense = AutoencoderTransformer(4, **common).fit(X_train, sample_weight=weights)
    sparse = AutoencoderTransformer(4, **common).fit(sp.csr_matrix(X_train), sample_weight=weights)
    np.testing.assert_allclose(sparse.transform(X_train), dense.transform(X_train), atol=1e-5)


def test_pretraining_leaves_early_stopping_s_validation_rows_unseen(
    digits_split, training_starts, monkeypatch
):
    from skae._batches import _RandomSplit

    X_train, _ = digits_split
    kept, split = [], _RandomSplit.__call__

    def recorded(self, dataset, y=None, **fit_params):
        train, valid = split(self, dataset, y, **fit_params)
        kept.append(train.indices.numpy())
        return train, valid

    monkeypatch.setattr(_RandomSplit, "__call__", recorded)
    AutoencoderTransformer(
        4,
        hidden_layer_sizes=(16,),
        early_stopping=True,
        validation_fraction=0.2,
        pretrain_iter=1,
        max_iter=1,
        random_state=0,
    ).fit(X_train)
    # the deep network's split is the only one (the layers do not stop early)
    (rows,) = kept
    assert len(rows) == 1120
    np.testing.assert_array_equal(training_starts[0][2], X_train[rows])


def test_pretraining_says_when_the_split_left_the_training_rows_no_weight():
    # the first layer's fit said "sample_weight is zero for every sample" to a
    # user who had given a row a positive weight, which the split held out
    X = np.random.RandomState(0).rand(20, 4)
    weights = np.zeros(20)
    weights[16] = 1.0
    kwargs = dict(hidden_layer_sizes=(3,), early_stopping=True, max_iter=2, random_state=0)
    for pretrain_iter in (0, 2):
        est = AutoencoderTransformer(2, pretrain_iter=pretrain_iter, **kwargs)
        with pytest.raises(ValueError, match="out of rows of positive sample_weight=1"):
            est.fit(X, sample_weight=weights)


def test_pretraining_does_not_run_when_the_split_cannot_be_made(monkeypatch):
    # the split refused only after every layer had been pretrained
    X = np.random.RandomState(0).rand(20, 4)
    weights = np.zeros(20)
    weights[3] = 1.0

    def pretrain(*args):
        raise AssertionError("pretrained")

    monkeypatch.setattr(AutoencoderTransformer, "_pretrain", pretrain)
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(3,), pretrain_iter=2, early_stopping=True, max_iter=2
    )
    with pytest.raises(ValueError, match="out of rows of positive sample_weight=1"):
        est.fit(X, sample_weight=weights)


@pytest.mark.parametrize("key", ["ae", "vae", "ae-detector", "vae-detector"])
def test_the_validation_split_holds_out_rows_of_positive_weight_only(key, held_out):
    # drawn over every row, the split held out only rows of weight zero for most
    # seeds when a quarter of the rows weighed anything, and the fit failed by its
    # random_state alone, where a fit on the weighted rows alone never did
    X = np.random.default_rng(0).normal(size=(20, 4))
    weights = np.zeros(20)
    weights[:5] = 1.0
    for seed in range(8):
        instance(key, max_iter=2, early_stopping=True, random_state=seed).fit(
            X, sample_weight=weights
        )
        assert (weights[held_out[-1].numpy()] > 0).all()
    # without zero weights, the split is the one drawn over every row
    instance(key, max_iter=2, early_stopping=True, random_state=0).fit(X)
    unweighted = held_out[-1]
    instance(key, max_iter=2, early_stopping=True, random_state=0).fit(X, np.ones(20))
    np.testing.assert_array_equal(held_out[-1], unweighted)


def test_verbose_pretraining_names_each_layer(digits_split, capsys):
    AutoencoderTransformer(
        4, hidden_layer_sizes=(16,), pretrain_iter=1, max_iter=1, verbose=1, random_state=0
    ).fit(digits_split[0])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pretraining layer 1/2: 64 -> 16"
    assert "pretraining layer 2/2: 16 -> 4" in lines
    assert lines[-1].startswith("epoch 1/1")


def test_an_optimizer_with_its_own_default_decay_gets_alpha_zero(digits_split):
    class Decaying(torch.optim.AdamW):  # torch's AdamW decays by 0.01 unless told
        pass

    ae = AutoencoderTransformer(optimizer=Decaying, alpha=0.0, max_iter=1).fit(digits_split[0])
    assert [g["weight_decay"] for g in ae.net_.optimizer_.param_groups] == [0.0]


def test_pretraining_a_custom_module_is_refused(digits_split):
    from skae import ConvAutoencoder

    with pytest.raises(ValueError, match="pretrain_iter pretrains the layers"):
        AutoencoderTransformer(module=ConvAutoencoder, pretrain_iter=1).fit(digits_split[0])
