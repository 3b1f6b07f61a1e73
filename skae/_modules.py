"""PyTorch autoencoder modules.

Plain ``torch.nn.Module`` classes that know nothing about scikit-learn. Every module
has ``encode(x)`` (inputs to codes) and ``decode(z)`` (codes to the decoder's raw
output, before any output activation), and ``forward(x) = decode(encode(x))``. The
output activation (sigmoid for data in [0, 1]) is applied by the estimator, so a
binary cross-entropy loss can work on the raw output (logits), which is faster and
numerically safer than a sigmoid followed by ``BCELoss``.
"""

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with a mirrored decoder.

    The encoder maps ``n_features`` through ``hidden_layer_sizes`` to
    ``n_components``; the decoder runs the same sizes in reverse. With no hidden
    layers, identity activations and ``bias=False`` this is a linear autoencoder.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    n_components : int
        Width of the code.
    hidden_layer_sizes : tuple of int, default=()
        Widths of the encoder's hidden layers, input side first.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation after every hidden layer, in the encoder and in the decoder.
    code_activation : {"identity", "logistic", "tanh", "relu"}, default="identity"
        Activation of the code layer.
    tied_weights : bool, default=False
        If True, each decoder layer uses the transposed weight matrix of its mirror
        encoder layer (only the biases are its own), halving the weight parameters.
    bias : bool, default=True
        Whether the layers have biases.

    Examples
    --------
    >>> import torch
    >>> from skae import MLPAutoencoder
    >>> ae = MLPAutoencoder(784, 36, hidden_layer_sizes=(128,))
    >>> ae.encode(torch.zeros(5, 784)).shape
    torch.Size([5, 36])
    >>> ae(torch.zeros(5, 784)).shape
    torch.Size([5, 784])
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes=(),
        activation="relu",
        code_activation="identity",
        tied_weights=False,
        bias=True,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_components]
        self.encoder_layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(sizes))
        self.tied_weights = tied_weights
        if tied_weights:
            self.decoder_layers = None
            self.decoder_biases = (
                nn.ParameterList(nn.Parameter(torch.zeros(a)) for a in reversed(sizes[:-1]))
                if bias
                else None
            )
        else:
            self.decoder_layers = nn.ModuleList(
                nn.Linear(b, a, bias=bias) for a, b in reversed(list(pairwise(sizes)))
            )
        self.activation = _ACTIVATIONS[activation]()
        self.code_activation = _ACTIVATIONS[code_activation]()

    def encode(self, x):
        """Map inputs of shape (n, n_features) to codes of shape (n, n_components)."""
        *hidden, last = self.encoder_layers
        for layer in hidden:
            x = self.activation(layer(x))
        return self.code_activation(last(x))

    def decode(self, z):
        """Map codes to raw reconstructions of shape (n, n_features)."""
        params = list(self._decoder_parameters())
        for i, (weight, bias) in enumerate(params):
            z = F.linear(z, weight, bias)
            if i < len(params) - 1:
                z = self.activation(z)
        return z

    def forward(self, x):
        return self.decode(self.encode(x))

    def _decoder_parameters(self):
        """(weight, bias) of each decoder layer, code side first."""
        if not self.tied_weights:
            return ((layer.weight, layer.bias) for layer in self.decoder_layers)
        weights = [layer.weight.T for layer in reversed(self.encoder_layers)]
        biases = self.decoder_biases if self.decoder_biases is not None else [None] * len(weights)
        return zip(weights, biases, strict=True)
