"""The nonlinear autoencoder transformer."""

import numbers

from ._base import _BaseAutoencoder
from ._docstrings import _fill_doc
from ._modules import _ACTIVATIONS
from ._validation import _BOOLEAN, _Interval, _Options, _Sizes


@_fill_doc(
    alpha="0.0001",
    max_iter=200,
    max_iter_meaning="Maximum number of epochs (passes over the training data).",
    tol="0.0001",
    tol_meaning="Smallest decrease of the monitored loss that counts as an improvement.",
)
class AutoencoderTransformer(_BaseAutoencoder):
    """Multilayer-perceptron autoencoder used as a scikit-learn transformer.

    The encoder maps each sample through ``hidden_layer_sizes`` to an
    ``n_components``-dimensional code; a mirrored decoder maps the code back. The
    network is a :class:`~skae.MLPAutoencoder` trained with PyTorch through skorch to
    reconstruct its input. ``transform`` returns codes, ``inverse_transform``
    reconstructions, and ``score_samples`` the negative reconstruction error of each
    sample, which flags anomalies. The defaults suit standardized data (a linear
    output and squared error); for data in [0, 1] such as pixel intensities,
    ``output_activation="sigmoid"`` with ``loss="bce"`` is the classic choice.

    Parameters
    ----------
    n_components : int, default=2
        Width of the code, the number of output features of ``transform``.

    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the encoder's hidden layers, input side first; the decoder
        mirrors them. ``()`` gives the single-layer autoencoder
        ``n_features -> n_components -> n_features``.

    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers, as in
        :class:`~sklearn.neural_network.MLPRegressor`.

    code_activation : {"identity", "logistic", "tanh", "relu"}, default="identity"
        Activation of the code layer. A linear code keeps all code values usable
        for downstream models; ``"relu"`` gives the classic nonnegative codes.

    output_activation : {"identity", "sigmoid"}, default="identity"
        Activation of the reconstruction. Use "sigmoid" for data in [0, 1].

    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss: mean squared error, or binary cross-entropy (which
        needs ``output_activation="sigmoid"`` and data in [0, 1]). With "bce" the
        loss is computed from the decoder's logits, fused with the sigmoid.

    tied_weights : bool, default=False
        If True, every decoder layer uses the transposed weights of its mirror
        encoder layer, halving the number of weight parameters.

    {training_parameters}

    Attributes
    ----------
    n_components_ : int
        Width of the code.

    {training_attributes}

    See Also
    --------
    LinearAETransformer : Linear autoencoder aligned to PCA's components.
    sklearn.decomposition.PCA : Linear dimensionality reduction by SVD.
    sklearn.neural_network.MLPRegressor : Multilayer perceptron whose parameter
        names this estimator follows.

    References
    ----------
    G. E. Hinton and R. R. Salakhutdinov, "Reducing the dimensionality of data
    with neural networks", Science 313 (5786), 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X = load_digits().data / 16
    >>> ae = AutoencoderTransformer(n_components=8, output_activation="sigmoid",
    ...                             loss="bce", max_iter=5, random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 8)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 64)
    >>> ae.get_feature_names_out()[:2]
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)

    The classic MNIST recipe (784-36-784, ReLU code, sigmoid output, BCE, Adam,
    batch 256, 20 epochs):

    >>> mnist_ae = AutoencoderTransformer(
    ...     n_components=36, hidden_layer_sizes=(), code_activation="relu",
    ...     output_activation="sigmoid", loss="bce", alpha=0.0, batch_size=256,
    ...     learning_rate_init=1e-3, max_iter=20)
    """

    _parameter_constraints = {
        **_BaseAutoencoder._parameter_constraints,
        "n_components": [_Interval(numbers.Integral, 1, None)],
        "hidden_layer_sizes": [_Sizes()],
        "activation": [_Options(tuple(_ACTIVATIONS))],
        "code_activation": [_Options(tuple(_ACTIVATIONS))],
        "output_activation": [_Options(("identity", "sigmoid"))],
        "loss": [_Options(("mse", "bce"))],
        "tied_weights": [_BOOLEAN],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        code_activation="identity",
        output_activation="identity",
        loss="mse",
        tied_weights=False,
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
    ):
        super().__init__(
            n_components,
            optimizer=optimizer,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.tied_weights = tied_weights

    def _module_params(self, n_features):
        return {
            "n_features": n_features,
            "n_components": self.n_components,
            "hidden_layer_sizes": tuple(self.hidden_layer_sizes),
            "activation": self.activation,
            "code_activation": self.code_activation,
            "tied_weights": self.tied_weights,
        }

    def _loss_params(self):
        return self.loss, self.output_activation

    def _fit(self, X):
        if self.loss == "bce":
            if self.output_activation != "sigmoid":
                raise ValueError(
                    "loss='bce' needs output_activation='sigmoid', got "
                    f"output_activation={self.output_activation!r}."
                )
            if X.min() < 0 or X.max() > 1:
                raise ValueError(
                    "loss='bce' needs X in [0, 1]; got values in "
                    f"[{X.min():.4g}, {X.max():.4g}]. Scale X (e.g. MinMaxScaler) "
                    "or use loss='mse'."
                )
        self._fit_net(X)
        self.n_components_ = self.n_components
