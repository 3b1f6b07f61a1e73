"""The nonlinear autoencoder: transformer and outlier detector."""

import numbers

import torch

from ._base import _BaseAutoencoder, _check_unit_interval, _OutlierThreshold
from ._docstrings import _fill_doc
from ._modules import _ACTIVATIONS, MLPAutoencoder
from ._net import _ReconstructionLoss
from ._validation import (
    _BOOLEAN,
    _NONE,
    _Instance,
    _Interval,
    _Options,
    _Sizes,
    _SubclassOf,
)


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
        loss is computed from the decoder's logits, fused with the sigmoid, and
        ``score_samples`` is minus the Bernoulli divergence averaged over the
        features: the cross-entropy of the reconstruction minus the binary
        entropy of the sample itself, so that a perfect reconstruction scores 0
        however many grey values the sample has. A sample with a value outside
        [0, 1] has no likelihood under that model and scores ``-inf``.

    tied_weights : bool, default=False
        If True, every decoder layer uses the transposed weights of its mirror
        encoder layer, halving the number of weight parameters.

    noise : float, default=0.0
        Corruption of a denoising autoencoder, applied to the input of training
        batches only (the target stays clean): the standard deviation of added
        Gaussian noise, or the probability of zeroing each input value.

    noise_type : {"gaussian", "masking"}, default="gaussian"
        Kind of corruption that ``noise`` sets.

    sparsity : float, default=0.0
        Weight of a sparsity penalty on the codes, added to the loss: the mean
        absolute code value (L1), or with ``sparsity_target`` the KL divergence.

    sparsity_target : float or None, default=None
        Target mean activation rho of each code unit; the penalty is then
        ``sum_j KL(rho || mean activation of unit j)`` over each batch, which
        needs codes in (0, 1): ``code_activation="logistic"``.

    dropout : float, default=0.0
        Dropout probability after every hidden layer (encoder and decoder) in
        training.

    module : torch.nn.Module subclass or None, default=None
        A custom autoencoder to train instead of the built-in MLP, such as
        :class:`~skae.ConvAutoencoder`. It must define ``encode(x)`` and
        ``decode(z)`` (the raw output, before ``output_activation``) and is built
        as ``module(n_features=..., n_components=..., **module_params)``;
        ``hidden_layer_sizes``, ``activation``, ``code_activation``,
        ``tied_weights`` and ``dropout`` are then unused (``output_activation``,
        ``loss``, ``noise`` and ``sparsity`` still apply).

    module_params : dict or None, default=None
        Further keyword arguments of ``module``.

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
    ...                             loss="bce", max_iter=5, n_iter_no_change=None,
    ...                             random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 8)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 64)
    >>> ae.get_feature_names_out()[:2]
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)

    The classic MNIST recipe (784-36-784, ReLU code, sigmoid output, BCE, Adam,
    batch 256, a fixed budget of 20 epochs) is :data:`skae.datasets.MNIST_RECIPE`:

    >>> from skae.datasets import MNIST_RECIPE
    >>> mnist_ae = AutoencoderTransformer(**MNIST_RECIPE)
    >>> mnist_ae.loss, mnist_ae.batch_size, mnist_ae.max_iter
    ('bce', 256, 20)
    """

    _parameter_rules = {
        **_BaseAutoencoder._parameter_rules,
        "n_components": [_Interval(numbers.Integral, 1, None)],
        "hidden_layer_sizes": [_Sizes()],
        "activation": [_Options(tuple(_ACTIVATIONS))],
        "code_activation": [_Options(tuple(_ACTIVATIONS))],
        "output_activation": [_Options(("identity", "sigmoid"))],
        "loss": [_Options(("mse", "bce"))],
        "tied_weights": [_BOOLEAN],
        "noise": [_Interval(numbers.Real, 0, None)],
        "noise_type": [_Options(("gaussian", "masking"))],
        "sparsity": [_Interval(numbers.Real, 0, None)],
        "sparsity_target": [_NONE, _Interval(numbers.Real, 0, 1, closed="neither")],
        "dropout": [_Interval(numbers.Real, 0, 1, closed="left")],
        "module": [_NONE, _SubclassOf(torch.nn.Module, "a torch.nn.Module subclass")],
        "module_params": [_NONE, _Instance(dict, name="a dict")],
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
        noise=0.0,
        noise_type="gaussian",
        sparsity=0.0,
        sparsity_target=None,
        dropout=0.0,
        module=None,
        module_params=None,
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
        self.noise = noise
        self.noise_type = noise_type
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target
        self.dropout = dropout
        self.module = module
        self.module_params = module_params

    def _net_params(self, n_features, n_components):
        if self.module is None:
            module = MLPAutoencoder
            module_params = {
                "hidden_layer_sizes": tuple(self.hidden_layer_sizes),
                "activation": self.activation,
                "code_activation": self.code_activation,
                "tied_weights": self.tied_weights,
                "dropout": self.dropout,
            }
        else:
            module, module_params = self.module, self.module_params or {}
        module_params = {"n_features": n_features, "n_components": n_components} | module_params
        return super()._net_params(n_features, n_components) | {
            "module": module,
            **{f"module__{name}": value for name, value in module_params.items()},
            "criterion": _ReconstructionLoss,
            "criterion__loss": self.loss,
            "criterion__output_activation": self.output_activation,
            "criterion__sparsity": self.sparsity,
            "criterion__sparsity_target": self.sparsity_target,
            "iterator_train__noise": self.noise,
            "iterator_train__noise_type": self.noise_type,
        }

    def _check_data_and_settings(self, X):
        """Raise ValueError for settings that contradict each other or ``X``."""
        if self.loss == "bce":
            if self.output_activation != "sigmoid":
                raise ValueError(
                    "loss='bce' needs output_activation='sigmoid', got "
                    f"output_activation={self.output_activation!r}."
                )
            _check_unit_interval(X, "loss='bce'", "loss='mse'")
        if self.noise_type == "masking" and self.noise >= 1:
            raise ValueError(f"noise_type='masking' needs noise < 1, got noise={self.noise}.")
        if (
            self.sparsity_target is not None
            and self.module is None
            and self.code_activation != "logistic"
        ):
            raise ValueError(
                "sparsity_target needs codes in (0, 1): set code_activation='logistic' "
                f"(got code_activation={self.code_activation!r})."
            )

    def _fit_validated(self, X, *, resume, incremental):
        self._check_data_and_settings(X)
        net = self._prepare_net(X.shape[1], self.n_components, resume=resume)
        epochs = 1 if incremental else self.max_iter
        self._train_net(net, X, epochs=epochs, warn=not incremental)
        self._set_net(net)
        self.n_components_ = self.n_components

    def _decode(self, Z):
        if self.output_activation == "sigmoid":
            return self._run_module(lambda module, z: torch.sigmoid(module.decode(z)), Z)
        return super()._decode(Z)

    @property
    def _bernoulli_output(self):
        return self.loss == "bce"


class AutoencoderOutlierDetector(_OutlierThreshold, AutoencoderTransformer):
    """Outlier detection by the reconstruction error of an autoencoder.

    An :class:`AutoencoderTransformer` learns to reconstruct the training data;
    samples it reconstructs badly are unlike it. ``score_samples`` is the negative
    per-sample reconstruction error, ``decision_function`` that score minus
    ``offset_`` (negative for outliers), and ``predict`` gives -1 for outliers and
    +1 for inliers, as :class:`~sklearn.ensemble.IsolationForest` does. All the
    parameters of :class:`AutoencoderTransformer` apply (denoising, sparsity,
    custom modules); ``contamination`` sets the threshold.

    Parameters
    ----------
    n_components : int, default=2
        Width of the code.

    contamination : "auto" or float, default="auto"
        Expected share of outliers in the training data. With a float in
        (0, 0.5], ``offset_`` is that quantile of the training scores. With
        "auto", it is Tukey's lower fence on them: the first quartile minus 1.5
        times the interquartile range.

    **params
        Every other parameter of :class:`AutoencoderTransformer`, with the same
        defaults.

    Attributes
    ----------
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples -
        offset_``. ``fit`` sets it from the training data; ``partial_fit`` from the
        latest chunk.

    n_components_, net_, n_iter_, loss_curve_, validation_scores_, \
best_validation_score_, n_features_in_, feature_names_in_
        As in :class:`AutoencoderTransformer`.

    See Also
    --------
    AutoencoderTransformer : The autoencoder underneath.
    sklearn.ensemble.IsolationForest : Outliers by random partitioning.
    sklearn.neighbors.LocalOutlierFactor : Outliers by local density.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderOutlierDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> detector = AutoencoderOutlierDetector(8, contamination=0.05, max_iter=50,
    ...                                       random_state=0).fit(X[y == 0] / 16)
    >>> labels = detector.predict(X[:20] / 16)
    >>> sorted(set(labels.tolist()))
    [-1, 1]
    """

    _fitted_state = {
        **AutoencoderTransformer._fitted_state,
        "offset_": [_Interval(numbers.Real, None, None)],
    }

    _parameter_rules = {
        **AutoencoderTransformer._parameter_rules,
        "contamination": [_Options(("auto",)), _Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        contamination="auto",
        hidden_layer_sizes=(100,),
        activation="relu",
        code_activation="identity",
        output_activation="identity",
        loss="mse",
        tied_weights=False,
        noise=0.0,
        noise_type="gaussian",
        sparsity=0.0,
        sparsity_target=None,
        dropout=0.0,
        module=None,
        module_params=None,
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
        params = dict(locals())
        del params["self"], params["__class__"], params["contamination"]
        super().__init__(**params)
        self.contamination = contamination
