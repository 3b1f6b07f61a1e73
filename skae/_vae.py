"""The variational autoencoder: transformer, generator and outlier detector."""

import numbers

import torch
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseAutoencoder
from ._categorical import _CATEGORICAL_STATE, _Categorical
from ._changes import _check_scored_settings
from ._docstrings import _fill_doc
from ._losses import (
    _by_column,
    _kl_to_standard_normal,
    _negative_log_likelihood,
    _NegativeELBO,
    _outside_unit_interval,
    _unknown_marks,
)
from ._missing import _FILL_STATE, _as_fill, _filled, _observed_entries, _observed_total
from ._modules import _ACTIVATIONS, _VariationalMLP, _widths
from ._net import _TORCH_DTYPES, _run_chunks, _VAENet
from ._outlier import _OutlierThreshold
from ._random import _draw_seed
from ._validation import _NONE, _Fitted, _Interval, _Options, _Sizes

# Standard-normal draws that every score uses, in antithetic pairs: the same for
# every sample, so a sample's score does not depend on the batch it comes in
_SCORE_DRAWS = 16


def _score_noise(n_components, dtype):
    # drawn in float64 whatever the input's dtype, so float32 and float64 input
    # are scored with the same draws
    half = torch.randn(
        _SCORE_DRAWS // 2,
        n_components,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    return torch.cat([half, -half]).to(dtype)


@_fill_doc(
    alpha="0.0",
    max_iter=200,
    max_iter_meaning="Maximum number of epochs (passes over the training data).",
    tol="0.0001",
    tol_meaning=(
        "Smallest decrease of the monitored loss (the negative ELBO, in nats per\n"
        "        sample) that counts as an improvement."
    ),
)
class VAETransformer(_Categorical, _BaseAutoencoder):
    """Variational autoencoder used as a scikit-learn transformer and generator.

    The encoder maps each sample through ``hidden_layer_sizes`` to a Gaussian
    posterior over an ``n_components``-dimensional code (a mean and a log-variance);
    training decodes a reparameterized sample of it through a mirrored decoder and
    maximizes the evidence lower bound (ELBO): the likelihood of the sample under
    the decoder minus ``beta`` times the KL divergence of the posterior from a
    standard normal prior (Kingma and Welling, 2014). ``transform`` returns the
    posterior mean, ``inverse_transform`` the decoder's mean, ``sample`` new data
    drawn from the prior through the decoder, and ``score_samples`` each sample's
    ELBO in nats. It trains on the same skorch engine as the other estimators:
    all-or-nothing fits, ``partial_fit``, ``warm_start``, early stopping and
    ``random_state`` work the same way.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent code.

    {vae_parameters}

    {categorical_features}

    {training_parameters}

    Attributes
    ----------
    n_components_ : int
        Size of the latent code.

    {training_attributes}

    {missing_attributes}

    {categorical_attributes}

    See Also
    --------
    AutoencoderTransformer : Deterministic autoencoder.
    VAEOutlierDetector : The same model as an outlier detector.
    sklearn.decomposition.PCA : Linear dimensionality reduction, whose
        probabilistic version is the linear-Gaussian limit of this model.

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014.

    I. Higgins et al., "beta-VAE: learning basic visual concepts with a constrained
    variational framework", ICLR 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(2, likelihood="bernoulli", max_iter=5, n_iter_no_change=None,
    ...                      random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> vae.sample(4, random_state=0).shape
    (4, 64)
    >>> bool(vae.score(X) < 0)
    True
    """

    _parameters_added = {"categorical_features": "0.3.0", "reconstruction_sampling": "0.3.0"}

    _parameter_rules = {
        "n_components": [_Interval(numbers.Integral, 1, None)],
        "hidden_layer_sizes": [_Sizes()],
        "activation": [_Options(tuple(_ACTIVATIONS))],
        "likelihood": [_Options(("gaussian", "bernoulli"))],
        "beta": [_Interval(numbers.Real, 0, None)],
        "reconstruction_sampling": [_NONE, _Interval(numbers.Real, 0, 1, closed="right")],
    }

    _fitted_state = _FILL_STATE | _CATEGORICAL_STATE
    _scored_settings = ("likelihood",)

    _net_class = _VAENet

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        likelihood="gaussian",
        beta=1.0,
        reconstruction_sampling=None,
        categorical_features=None,
        optimizer="adam",
        alpha=0.0,
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
        self.likelihood = likelihood
        self.beta = beta
        self.reconstruction_sampling = reconstruction_sampling
        self.categorical_features = categorical_features

    def _net_params(self, n_features, n_components):
        return super()._net_params(n_features, n_components) | {
            "module": _VariationalMLP,
            "module__n_features": n_features,
            "module__n_components": n_components,
            "module__hidden_layer_sizes": _widths(self.hidden_layer_sizes),
            "module__activation": self.activation,
            "criterion": _NegativeELBO,
            "criterion__likelihood": self.likelihood,
            "criterion__beta": self.beta,
            "iterator_train__sampling": self.reconstruction_sampling,
        }

    @property
    def _sigmoid_output(self):
        return self.likelihood == "bernoulli"

    @property
    def _bernoulli_setting(self):
        if self.likelihood == "bernoulli":
            return ("likelihood='bernoulli'", "likelihood='gaussian'")
        return None

    # what loss_curve_ records, for a plot's axis
    _loss_label = "negative ELBO (nats per sample)"

    # whether score_samples is the ELBO (skae.onnx asks too)
    _scores_elbo = True

    def _score_samples(self, X):
        # the ELBO with the KL term in closed form and the expected log-likelihood
        # averaged over _SCORE_DRAWS fixed standard-normal draws; a Bernoulli
        # model gives a value outside [0, 1] no likelihood (-inf)
        _check_scored_settings(self)
        draws = _score_noise(self.n_components_, _TORCH_DTYPES[X.dtype.type])
        fill, widths = _as_fill(self), self._widths()
        surprise = self._new_category_surprise() if widths else None

        def elbo(module, x):
            x, unknown = _unknown_marks(x)
            cost = None if unknown is None else surprise.to(x)  # of an unseen category
            # the network may compute in mixed precision; the sums are in x's dtype
            mean, log_var = (t.to(x.dtype) for t in module.posterior(_filled(x, fill)))
            std = torch.exp(0.5 * log_var)
            outside = _outside_unit_interval(x)
            # a row's log-likelihood over its observed entries, rescaled to all
            # of its features: comparable with a complete row's
            x, observed = _observed_entries(x)
            log_likelihood = torch.zeros(len(x), dtype=x.dtype, device=x.device)
            for noise in draws.to(x.device):
                raw = module.decode(mean + std * noise).to(x.dtype)
                terms = _negative_log_likelihood(raw, x, self.likelihood)
                by_column = _by_column(terms, raw, x, observed, widths, unknown, cost)
                log_likelihood -= _observed_total(*by_column)
            score = log_likelihood / _SCORE_DRAWS - _kl_to_standard_normal(mean, log_var)
            if self.likelihood == "bernoulli":
                score = score.masked_fill(outside, -float("inf"))
            return score

        return _run_chunks(self, elbo, X)

    def sample(self, n_samples=1, random_state=None):
        """Draw new data: codes from the standard normal prior, through the decoder.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (an int gives the same samples every time); the
            global random generators are left untouched.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_in_`)
            The decoder's mean for each drawn code (Bernoulli probabilities for
            ``likelihood="bernoulli"``), in the network's dtype; with categorical
            columns, the table that ``inverse_transform`` gives, each categorical
            column's most probable category.
        """
        check_is_fitted(self)
        if not _Interval(numbers.Integral, 1, None).accepts(n_samples):  # no bool, as fit's
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        generator = torch.Generator().manual_seed(_draw_seed(random_state))
        dtype = next(self.net_.module_.parameters()).dtype
        codes = torch.randn(int(n_samples), self.n_components_, generator=generator, dtype=dtype)
        return self._as_table(self._trained_logits(self._decode(codes.numpy())))


@_fill_doc(
    alpha="0.0",
    max_iter=200,
    max_iter_meaning="Maximum number of epochs (passes over the training data).",
    tol="0.0001",
    tol_meaning=(
        "Smallest decrease of the monitored loss (the negative ELBO, in nats per\n"
        "        sample) that counts as an improvement."
    ),
)
class VAEOutlierDetector(_OutlierThreshold, VAETransformer):
    """Outlier detection with a variational autoencoder.

    A :class:`VAETransformer` learns the training data's distribution; samples
    unlike it reconstruct badly and have a low evidence lower bound.
    ``score_samples`` is, by ``anomaly_score``, the negative reconstruction error
    of each sample's posterior mean or its ELBO; ``decision_function`` that score
    minus ``offset_`` (negative for outliers), and ``predict`` gives -1 for
    outliers and +1 for inliers, exactly as :class:`AutoencoderOutlierDetector`
    does.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent code.

    {contamination}

    anomaly_score : {"reconstruction", "elbo"}, default="reconstruction"
        What ``score_samples`` returns. "reconstruction": minus the reconstruction
        error of the decoded posterior mean, as
        :class:`AutoencoderOutlierDetector` scores (for
        ``likelihood="bernoulli"`` the Bernoulli divergence averaged over the
        features, else the mean squared error). "elbo": the ELBO in nats, as
        :meth:`skae.VAETransformer.score_samples` gives it. A likelihood bound
        favours simple samples whatever the training data (an image with few ink
        pixels has a high Bernoulli likelihood), so it ranks outliers worse: on
        one-class MNIST the mean ROC AUC was 0.970 with "reconstruction" and
        0.919 with "elbo" (``benchmarks/bench_anomaly_mnist.py``).

    {vae_parameters}

    {categorical_features}

    {training_parameters}

    Attributes
    ----------
    {offset}

    anomaly_score_ : str
        The ``anomaly_score`` of the last fit, which ``score_samples`` and
        ``offset_`` use: setting the parameter takes effect at the next fit.

    n_components_ : int
        Size of the latent code.

    {training_attributes}

    {missing_attributes}

    {categorical_attributes}

    See Also
    --------
    VAETransformer : The model underneath.
    AutoencoderOutlierDetector : Outliers by reconstruction error.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAEOutlierDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> detector = VAEOutlierDetector(4, likelihood="bernoulli", contamination=0.05,
    ...                               max_iter=20, n_iter_no_change=None,
    ...                               random_state=0).fit(X[y == 0] / 16)
    >>> sorted(set(detector.predict(X[:20] / 16).tolist()))
    [-1, 1]
    """

    _fitted_state = {"anomaly_score_": _Fitted(_Options(("reconstruction", "elbo")))}

    _parameter_rules = {"anomaly_score": [_Options(("reconstruction", "elbo"))]}

    def __init__(
        self,
        n_components=2,
        *,
        contamination="auto",
        anomaly_score="reconstruction",
        hidden_layer_sizes=(100,),
        activation="relu",
        likelihood="gaussian",
        beta=1.0,
        reconstruction_sampling=None,
        categorical_features=None,
        optimizer="adam",
        alpha=0.0,
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
            likelihood=likelihood,
            beta=beta,
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
        self.anomaly_score = anomaly_score

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        # offset_ is on the scale of one score: the fit fixes which, as a fitted
        # PCA keeps its width when n_components is set afterwards; the quantiles of
        # rows trained before are of the other score
        if getattr(self, "anomaly_score_", self.anomaly_score) != self.anomaly_score:
            self._forget_score_quantiles()
        self.anomaly_score_ = self.anomaly_score
        super()._fit_validated(X, sample_weight, resume=resume, incremental=incremental)

    @property
    def _scores_elbo(self):
        return self.anomaly_score_ == "elbo"

    def _score_samples(self, X):
        if self._scores_elbo:
            return super()._score_samples(X)
        return -self._reconstruction_errors(X)
