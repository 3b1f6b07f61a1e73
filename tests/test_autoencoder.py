"""AutoencoderTransformer: the nonlinear autoencoder and its recipes."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits01():
    X = load_digits().data / 16
    return X[:1400], X[1400:]


def mse(est, X):
    return ((X - est.inverse_transform(est.transform(X))) ** 2).mean()


def test_default_parameters_reconstruct_digits_better_than_pca(digits01):
    X_train, X_test = digits01
    pca = PCA(8).fit(X_train)
    ae = AutoencoderTransformer(8, random_state=0).fit(X_train)
    # on held-out digits, so the gain is not memorization
    assert mse(ae, X_test) < 0.8 * mse(pca, X_test)


def test_bce_sigmoid_outputs_keep_sklearn_shapes(digits01):
    X_train, _ = digits01
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


def test_tied_weights_halve_the_weight_parameters(digits01):
    X_train, _ = digits01
    count = {}
    for tied in (False, True):
        ae = AutoencoderTransformer(
            8, hidden_layer_sizes=(32,), tied_weights=tied, max_iter=2, random_state=0
        ).fit(X_train)
        count[tied] = sum(p.numel() for n, p in ae.net_.module_.named_parameters() if "weight" in n)
    assert count[True] * 2 == count[False] == 2 * (64 * 32 + 32 * 8)


def test_custom_optimizer_class_is_used(digits01):
    X_train, _ = digits01
    ae = AutoencoderTransformer(optimizer=torch.optim.RMSprop, max_iter=2).fit(X_train)
    assert isinstance(ae.net_.optimizer_, torch.optim.RMSprop)
