"""The nonlinear autoencoder: transformer and outlier detector."""

import numbers

import numpy as np
import torch

from ._base import _BaseAutoencoder
from ._categorical import _CATEGORICAL_STATE, _Categorical
from ._docstrings import _fill_doc
from ._losses import _ReconstructionLoss
from ._missing import _FILL_STATE
from ._modules import _ACTIVATIONS, MLPAutoencoder, _widths
from ._outlier import _OutlierThreshold
from ._random import _draw_seed
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
class AutoencoderTransformer(_Categorical, _BaseAutoencoder):
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

    {autoencoder_parameters}

    {categorical_features}

    {training_parameters}

    Attributes
    ----------
    n_components_ : int
        Width of the code.

    {training_attributes}

    {missing_attributes}

    {categorical_attributes}

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

    The classic MNIST recipe, whose settings :data:`skae.datasets.MNIST_RECIPE`
    holds and documents:

    >>> from skae.datasets import MNIST_RECIPE
    >>> mnist_ae = AutoencoderTransformer(**MNIST_RECIPE)
    >>> mnist_ae.loss, mnist_ae.batch_size, mnist_ae.max_iter
    ('bce', 256, 20)
    """

    _fitted_state = _FILL_STATE | _CATEGORICAL_STATE
    _scored_settings = ("loss", "output_activation")

    _parameters_added = {
        "pretrain_iter": "0.2.0",
        "categorical_features": "0.3.0",
        "reconstruction_sampling": "0.3.0",
    }

    _parameter_rules = {
        "n_components": [_Interval(numbers.Integral, 1, None)],
        "hidden_layer_sizes": [_Sizes()],
        "activation": [_Options(tuple(_ACTIVATIONS))],
        "code_activation": [_Options(tuple(_ACTIVATIONS))],
        "output_activation": [_Options(("identity", "sigmoid"))],
        "loss": [_Options(("mse", "bce"))],
        "tied_weights": [_BOOLEAN],
        "noise": [_Interval(numbers.Real, 0, None)],
        "noise_type": [_Options(("gaussian", "masking", "missing"))],
        "sparsity": [_Interval(numbers.Real, 0, None)],
        "sparsity_target": [_NONE, _Interval(numbers.Real, 0, 1, closed="neither")],
        "dropout": [_Interval(numbers.Real, 0, 1, closed="left")],
        "pretrain_iter": [_Interval(numbers.Integral, 0, None)],
        "module": [_NONE, _SubclassOf(torch.nn.Module, "a torch.nn.Module subclass")],
        "module_params": [_NONE, _Instance(dict, name="a dict")],
        "reconstruction_sampling": [_NONE, _Interval(numbers.Real, 0, 1, closed="right")],
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
        pretrain_iter=0,
        module=None,
        module_params=None,
        reconstruction_sampling=None,
        categorical_features=None,
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate="constant",
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
        precision="float32",
        n_jobs=None,
    ):
        super().__init__(
            n_components,
            optimizer=optimizer,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
            precision=precision,
            n_jobs=n_jobs,
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
        self.pretrain_iter = pretrain_iter
        self.module = module
        self.module_params = module_params
        self.reconstruction_sampling = reconstruction_sampling
        self.categorical_features = categorical_features

    def set_params(self, **params):
        # skorch's spelling of a module argument, module__<name>, reached scikit-learn's
        # rule for a nested estimator: "type object has no attribute 'set_params'"
        nested = sorted(key for key in params if key.startswith("module__"))
        if nested:
            name = nested[0].removeprefix("module__")
            raise ValueError(
                f"Invalid parameter {nested[0]!r} for estimator {type(self).__name__}: a "
                f"custom module's arguments are module_params={{{name!r}: ...}} (skorch's "
                "module__<name> is not a parameter here; in a search, give module_params "
                "a list of dicts)."
            )
        return super().set_params(**params)

    def _net_params(self, n_features, n_components):
        if self.module is None:
            module = MLPAutoencoder
            module_params = {
                "hidden_layer_sizes": _widths(self.hidden_layer_sizes),
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
            "iterator_train__sampling": self.reconstruction_sampling,
        }

    def _check_settings(self):
        super()._check_settings()
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='bce' needs output_activation='sigmoid', got "
                f"output_activation={self.output_activation!r}."
            )
        if self.noise_type in ("masking", "missing") and self.noise >= 1:
            raise ValueError(
                f"noise_type={self.noise_type!r} needs noise < 1, got noise={self.noise}."
            )
        if (
            self.sparsity_target is not None
            and self.module is None
            and self.code_activation != "logistic"
        ):
            raise ValueError(
                "sparsity_target needs codes in (0, 1): set code_activation='logistic' "
                f"(got code_activation={self.code_activation!r})."
            )
        if self.reconstruction_sampling is not None and self.module is not None:
            raise ValueError(
                "reconstruction_sampling needs the estimator's own MLP (module=None), "
                f"whose decoder computes chosen entries; module={self.module.__name__} "
                "computes every one: set reconstruction_sampling=None."
            )
        if self.pretrain_iter and self.module is not None:
            raise ValueError(
                "pretrain_iter pretrains the layers of the built-in MLP; a custom module "
                f"({self.module.__name__}) has no layers it knows: set pretrain_iter=0."
            )
        reserved = sorted(set(self.module_params or {}) & {"n_features", "n_components"})
        if reserved:
            raise ValueError(
                f"module_params may not set {', '.join(reserved)}: the estimator passes "
                "n_features from the data and n_components from its own parameter."
            )

    def _train_net(self, net, data, sample_weight, *, incremental):
        # a new network (not one that continues, nor a partial_fit chunk's)
        if self.pretrain_iter and not incremental and not len(net.history):
            rows, weights = data, sample_weight
            if net.train_split is not None:
                # the rows that early stopping's split keeps for training: the
                # validation rows stay unseen
                # checked as the split will check it, before pretraining, not as
                # the first layer's fit would
                keep = net.train_split.next_split(data.shape[0], sample_weight)[0].numpy()
                rows = data[keep]
                weights = None if sample_weight is None else sample_weight[keep]
            if weights is not None and not (positive := weights > 0).all():
                # rows of weight zero teach the layers nothing, whatever they hold:
                # passed down, their codes (of a row of 3e38) overflowed a layer's input
                rows, weights = rows[positive], weights[positive]
            self._pretrain(net.module_, rows, weights)
        super()._train_net(net, data, sample_weight, incremental=incremental)

    def _pretrain(self, module, X, sample_weight):
        """Greedy layer-wise pretraining (Bengio et al., NIPS 2006): encoder layer ``i``
        and its mirror decoder layer are trained as a single-layer autoencoder of
        this estimator's settings on the codes of the layers before it (the first
        on ``X`` with the estimator's output and loss, the rest on real-valued
        codes with squared error), and their weights become ``module``'s."""
        sizes = [*_widths(self.hidden_layer_sizes), self.n_components]
        seeds = np.random.default_rng(_draw_seed(self.random_state)).integers(
            np.iinfo(np.int32).max, size=len(sizes)
        )
        # a subclass's own parameters (the detector's contamination) are not a layer's
        names = set(AutoencoderTransformer._get_param_names())
        params = {
            name: value for name, value in self.get_params(deep=False).items() if name in names
        } | {
            "hidden_layer_sizes": (),
            "sparsity": 0.0,
            "sparsity_target": None,
            "pretrain_iter": 0,
            # the layers train on the network's input, categories already encoded
            "categorical_features": None,
            "max_iter": self.pretrain_iter,
            "early_stopping": False,
            "n_iter_no_change": None,
            "warm_start": False,
        }
        codes = X
        for i, (width, seed) in enumerate(zip(sizes, seeds, strict=True)):
            first, last = i == 0, i == len(sizes) - 1
            layer = AutoencoderTransformer(
                **params
                | {
                    "n_components": width,
                    "code_activation": self.code_activation if last else self.activation,
                    "output_activation": self.output_activation if first else "identity",
                    "loss": self.loss if first else "mse",
                    "noise": self.noise if first else 0.0,
                    "random_state": int(seed),
                }
            )
            if self.verbose:
                print(
                    f"pretraining layer {i + 1}/{len(sizes)}: {codes.shape[1]} -> {width}",
                    flush=True,
                )
            layer.fit(codes, sample_weight=sample_weight)
            if not last:
                codes = layer.transform(codes)
            trained, mirror = layer.net_.module_, len(sizes) - 1 - i
            with torch.no_grad():
                module.encoder_layers[i].load_state_dict(trained.encoder_layers[0].state_dict())
                if self.tied_weights:
                    module.decoder_biases[mirror].copy_(trained.decoder_biases[0])
                else:
                    module.decoder_layers[mirror].load_state_dict(
                        trained.decoder_layers[0].state_dict()
                    )

    @property
    def _sigmoid_output(self):
        return self.output_activation == "sigmoid"

    @property
    def _bernoulli_setting(self):
        return ("loss='bce'", "loss='mse'") if self.loss == "bce" else None

    @property
    def _loss_label(self):
        """What ``loss_curve_`` records, for a plot's axis: the loss of the fitted
        network (parameters set after fit do not change what it recorded)."""
        net = getattr(self, "net_", None)
        loss, output, sparsity = (
            (self.loss, self.output_activation, self.sparsity)
            if net is None
            else (net.criterion__loss, net.criterion__output_activation, net.criterion__sparsity)
        )
        if loss == "bce":
            name = "binary cross-entropy"
        elif output == "sigmoid":
            name = "mean squared error (sigmoid output)"
        else:
            name = "mean squared error"
        categorical = getattr(self, "is_categorical_", None)
        if categorical is not None and categorical.any():
            name = "" if categorical.all() else f"{name} and "
            name += "cross-entropy of the categorical columns"
        return name + (" + sparsity penalty" if sparsity > 0 else "")


@_fill_doc(
    alpha="0.0001",
    max_iter=200,
    max_iter_meaning="Maximum number of epochs (passes over the training data).",
    tol="0.0001",
    tol_meaning="Smallest decrease of the monitored loss that counts as an improvement.",
)
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

    {contamination}

    {autoencoder_parameters}

    {categorical_features}

    {training_parameters}

    Attributes
    ----------
    {offset}

    n_components_ : int
        Width of the code.

    {training_attributes}

    {missing_attributes}

    {categorical_attributes}

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
        pretrain_iter=0,
        module=None,
        module_params=None,
        reconstruction_sampling=None,
        categorical_features=None,
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate="constant",
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
        precision="float32",
        n_jobs=None,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            code_activation=code_activation,
            output_activation=output_activation,
            loss=loss,
            tied_weights=tied_weights,
            noise=noise,
            noise_type=noise_type,
            sparsity=sparsity,
            sparsity_target=sparsity_target,
            dropout=dropout,
            pretrain_iter=pretrain_iter,
            module=module,
            module_params=module_params,
            reconstruction_sampling=reconstruction_sampling,
            categorical_features=categorical_features,
            optimizer=optimizer,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
            precision=precision,
            n_jobs=n_jobs,
        )
        self.contamination = contamination
