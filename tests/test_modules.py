"""The torch modules, on their own."""

import pytest
import torch

from skae import MLPAutoencoder


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
