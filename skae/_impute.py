"""``AutoencoderImputer``: missing values filled by an autoencoder trained on the
observed entries."""

import numbers
import sys
import warnings

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._autoencoder import AutoencoderTransformer
from ._batches import _normalized_weights
from ._categorical import _names_a_column, _own_values, _row_labels
from ._chunks import _chunks
from ._distributed import _refuse_in_group
from ._docstrings import _fill_doc
from ._random import _draw_seed
from ._validation import (
    _BOOLEAN,
    _NONE,
    _Array,
    _caller_level,
    _Fitted,
    _in_memory_table,
    _Instance,
    _Interval,
    _ListOf,
)


def _never(estimator):
    return False


@_fill_doc(
    alpha="0.0001",
    learning_rate_init="0.005",
    learning_rate='"cosine"',
    max_iter=200,
    max_iter_meaning=(
        "Number of epochs (passes over the training data): exactly these with the\n"
        "        default n_iter_no_change=None, since the loss of randomly hidden entries\n"
        "        is too noisy from epoch to epoch for early stopping on the training loss\n"
        "        to judge (at a constant learning rate of 0.001 it stopped a fit on the\n"
        "        digits at 76 epochs, with an RMSE of 0.170 where 200 epochs reach\n"
        "        0.137); ``early_stopping=True`` judges on held-out rows instead, by\n"
        "        how well it reconstructs their observed entries with none hidden (a\n"
        "        proxy: not the fills of hidden entries that training measures). The\n"
        "        default cosine schedule spans them: its larger early steps and small\n"
        "        last ones filled the digits at a 4.6 to 6.0 % lower RMSE than a\n"
        "        constant learning rate of 0.001 over the same epochs\n"
        "        (``benchmarks/RESULTS.md``, table 19). ``random_state`` also seeds the\n"
        "        draws of ``sample_posterior=True``."
    ),
    tol="0.0001",
    tol_meaning="Smallest decrease of the monitored loss that counts as an improvement.",
    n_iter_no_change="None",
)
class AutoencoderImputer(AutoencoderTransformer):
    """Fill missing values with a denoising autoencoder trained on the observed ones.

    Each feature is standardized by the mean and standard deviation of its
    observed values; an :class:`AutoencoderTransformer` then learns to
    reconstruct the rows from their observed entries, with a random fraction
    ``noise`` of the observed entries hidden at every step as if they were
    missing (``noise_type="missing"``), its loss counting every observed entry.
    It thus learns to predict an entry from the others, which is what filling a
    hole asks (Lall and Robinson's MIDAS, 2022, trains so; an autoencoder
    trained without hiding never has to). ``transform`` gives each row, its
    holes entering as their feature's mean, to the network, and replaces the
    missing entries by the network's reconstruction; the observed entries are
    returned untouched, bit for bit. It follows :mod:`sklearn.impute`'s
    conventions, as :class:`~sklearn.impute.IterativeImputer` and
    :class:`~sklearn.impute.KNNImputer` do, and goes in a pipeline before any
    estimator.

    Parameters
    ----------
    missing_values : float or int, default=np.nan
        The placeholder of a missing value; ``np.nan`` also takes ``pd.NA`` in
        pandas' nullable columns. With another placeholder, NaN in ``X`` is an
        error, as in :class:`~sklearn.impute.SimpleImputer`.

    n_components : int, default=64
        Width of the autoencoder's code. It may exceed the number of features:
        the network cannot copy an entry it is not shown, so a wide code does
        not teach it the identity.

    hidden_layer_sizes : int or tuple of int, default=(256, 256)
        Widths of the encoder's hidden layers; the decoder mirrors them.

    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers.

    noise : float, default=0.25
        Probability with which each observed entry is hidden from the network
        at a training step, as if it were missing (the loss still counts it):
        the rate at which it practises filling holes. In [0, 1).

    dropout : float, default=0.0
        Dropout probability after every hidden layer in training.

    sample_posterior : bool, default=False
        If True, ``transform`` fills each hole with a draw rather than the
        network's best guess (for multiple imputation, call ``transform`` with
        several ``random_state`` values, as with
        :class:`~sklearn.impute.IterativeImputer`). A draw has two parts: each
        call hides, as in training, a random fraction ``noise`` of every row's
        observed entries from the network before it reconstructs, so that the
        fills vary with the evidence the network is given; and each numeric fill
        gets Gaussian noise of ``imputation_std_``, the network's own error on
        entries it had to fill, while each categorical fill is drawn from the
        softmax of its head. Without the second part the draws spread over a
        quarter of the fills' actual error (an interval meant to hold 80 % of
        the true values held 19 %), which Rubin's rules would take for
        certainty. Needs ``noise > 0``.

    add_indicator : bool, default=False
        If True, a :class:`~sklearn.impute.MissingIndicator` of the features with
        missing values in ``fit`` (see ``indicator_features_``) is stacked onto
        the output. Read at ``transform``, as scikit-learn's imputers read it:
        set to False after fit, the indicator is left out; set to True after a
        fit without it, ``transform`` raises.

    keep_empty_features : bool, default=False
        If True, a feature with no observed value in ``fit`` is kept in the
        output, its missing entries filled with 0; if False it is dropped
        (``transform`` warns, naming it, as scikit-learn's SimpleImputer does). Either
        way the network never sees it: at ``transform`` its entries are hidden
        from the network as they were in training, so they change no other fill.
        Fitted on ``X`` with no observed value at all, every feature is empty,
        and the network is not trained (``n_iter_`` is 0, with early stopping no
        validation score), as scikit-learn's imputers fit such a table.

    categorical_features : {"from_dtype"}, array-like of bool, int or str, \
default=None
        The categorical columns, as in :class:`AutoencoderTransformer` (None,
        "from_dtype", a boolean mask, indices or names): each is given to the
        network one-hot and reconstructed by a softmax head, and a missing entry
        (NaN, None or ``pd.NA``; needs ``missing_values=np.nan``) is filled with its
        most probable category. ``transform`` then returns the table: a pandas
        DataFrame (categorical columns of dtype ``category``) for a table with
        column names, else an array (of floats where every category is a float, as
        in a numeric array, else of objects). A category unseen in ``fit`` is
        hidden from the network as a missing entry is, and returned as it is (an
        imputer changes missing entries only; a DataFrame's column gains it as a
        category, an array of floats becomes one of objects for a value that is no
        number); so is one of ``categories_`` that no training row of positive
        weight held (declared by the column's dtype only). A categorical column with no
        observed value in ``fit`` is an error, unless its dtype declares its
        categories; such a column, or one observed only in rows of zero weight, is
        an empty feature, as a numeric one is (dropped, or with
        ``keep_empty_features`` filled with its first category).

    {training_parameters}

    Attributes
    ----------
    mean_ : ndarray of shape (n_inputs,)
        Weighted mean of each feature's observed training values (0 for an
        empty feature), which standardizes it for the network; over
        ``partial_fit`` calls, of every chunk so far. ``n_inputs`` is
        ``n_features_in_``, or with categorical columns the network's inputs:
        the numeric features, then one per category (0 there).

    std_ : ndarray of shape (n_inputs,)
        Weighted standard deviation of each feature's observed training values
        (0 for an empty feature; 1 at a one-hot input); over ``partial_fit``
        calls, of every chunk so far.

    scale_ : ndarray of shape (n_inputs,)
        ``std_``, but 1 where the feature is constant (a spread within rounding
        of its mean) or empty: what standardizes it.

    imputation_std_ : ndarray of shape (n_inputs,)
        The network's error on an entry it fills, per feature in standardized
        units (multiply by ``scale_``): the root mean squared error of its fills
        of observed training entries hidden at the rate ``noise``, measured once
        a ``fit`` has trained, on its rows, and merged over ``partial_fit``'s
        chunks, each weighing its observed entries (1 where none was hidden; 0
        for a categorical column's one-hot inputs, drawn from their softmax
        instead). ``sample_posterior`` draws add Gaussian noise of it.

    indicator_features_ : list of int or None
        With ``add_indicator=True``, the features that had missing values in
        ``fit`` (any row, also one with nothing observed; over ``partial_fit``
        calls, in any chunk so far, so a chunk may widen the output), whose
        indicator columns follow the imputed ones.

    n_components_ : int
        Width of the code.

    {training_attributes}

    {missing_attributes}

    {categorical_attributes}

    Notes
    -----
    The imputer is the autoencoder: its network, training history and the
    attributes above are those of the :class:`AutoencoderTransformer` it
    extends, trained on the standardized features, and :func:`skae.save` stores
    it. Its network settings are fixed for imputation (a linear code and output,
    squared error, ``noise_type="missing"``). ``transform`` returns the filled
    table, so it has no ``inverse_transform`` nor ``score_samples``; its codes
    are those of an :class:`AutoencoderTransformer` fitted alike. ``partial_fit``
    continues training on each chunk standardized by the moments of every chunk
    so far, merged pairwise as StandardScaler's ``partial_fit`` merges them, each
    call's weights averaging 1 as the fill values count them (a feature empty in
    the first chunks is standardized once it has values). A row of weight zero
    is set aside before training, as a row with nothing observed is, so that its
    values do not change the network; its holes still count among the
    indicator's features and its categories among ``categories_``, which are
    read from every row, as MissingIndicator and OneHotEncoder read them.

    See Also
    --------
    AutoencoderTransformer : The autoencoder underneath, which takes NaN itself.
    sklearn.impute.IterativeImputer : Each feature regressed on the others, in turn.
    sklearn.impute.KNNImputer : Each hole filled from the nearest complete rows.
    sklearn.impute.SimpleImputer : Each hole filled with a column statistic.

    References
    ----------
    R. Lall and T. Robinson, "The MIDAS touch: accurate and scalable
    missing-data imputation with deep learning", Political Analysis 30 (2), 2022.

    J. Yoon, J. Jordon and M. van der Schaar, "GAIN: missing data imputation
    using generative adversarial nets", ICML 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderImputer
    >>> X = load_digits().data
    >>> rng = np.random.default_rng(0)
    >>> X_holes = np.where(rng.random(X.shape) < 0.2, np.nan, X)
    >>> imputer = AutoencoderImputer(max_iter=20, random_state=0)
    >>> X_filled = imputer.fit_transform(X_holes)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> observed = ~np.isnan(X_holes)
    >>> bool((X_filled[observed] == X_holes[observed]).all())
    True
    """

    # the network an imputer trains: standardized features in and out, holes
    # hidden at random as if missing (not parameters: an imputer fixes them)
    code_activation = "identity"
    output_activation = "identity"
    loss = "mse"
    tied_weights = False
    noise_type = "missing"
    sparsity = 0.0
    sparsity_target = None
    pretrain_iter = 0
    module = None
    module_params = None
    reconstruction_sampling = None

    _parameter_rules = {
        # a number NumPy compares with (ints within 64 bits), or a float: NaN
        "missing_values": [
            _Interval(numbers.Real, None, None),
            _Instance(float, np.floating, name="np.nan"),
        ],
        "noise": [_Interval(numbers.Real, 0, 1, closed="left")],
        "sample_posterior": [_BOOLEAN],
        "add_indicator": [_BOOLEAN],
        "keep_empty_features": [_BOOLEAN],
    }

    _fitted_state = {
        "fill_values_": _Array("_n_inputs"),  # no release before 0.3.0 had the imputer
        "n_observed_": _Array("_n_inputs"),
        "mean_": _Array("_n_inputs"),
        "std_": _Array("_n_inputs"),
        "scale_": _Array("_n_inputs"),
        "imputation_std_": _Array("_n_inputs"),
        "indicator_features_": _Fitted(_NONE, _ListOf(_Interval(numbers.Integral, 0, None))),
    }

    def __init__(
        self,
        *,
        missing_values=np.nan,
        n_components=64,
        hidden_layer_sizes=(256, 256),
        activation="relu",
        noise=0.25,
        dropout=0.0,
        sample_posterior=False,
        add_indicator=False,
        keep_empty_features=False,
        categorical_features=None,
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=5e-3,
        learning_rate="cosine",
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=None,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
        precision="float32",
        n_jobs=None,
    ):
        # the base's __init__ would set the fixed network settings too
        self.missing_values = missing_values
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.noise = noise
        self.dropout = dropout
        self.sample_posterior = sample_posterior
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.categorical_features = categorical_features
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs

    def _check_settings(self):
        super()._check_settings()
        self._check_draws()

    def _check_draws(self):
        """Raise where ``sample_posterior`` asks for draws that ``noise`` cannot
        make (at ``fit``, and at ``transform``: either may be set after fit)."""
        if self.sample_posterior and self.noise == 0:
            raise ValueError(
                "sample_posterior=True draws by hiding observed entries at the rate "
                "noise, which is 0; set noise > 0."
            )

    def _check_nan_holes(self):
        if not self._nan_holes():
            raise ValueError(
                "categorical_features takes missing values as NaN, None or pd.NA: "
                f"set missing_values=np.nan (got {self.missing_values!r})."
            )

    def _nan_holes(self):
        value = self.missing_values
        return isinstance(value, numbers.Real) and value != value  # NaN alone is not itself

    def _validate(self, X, **kwargs):
        """``X`` as a float array with NaN at its missing entries (a new array
        where ``missing_values`` is another placeholder); with categorical
        columns, the network's input (one-hot blocks, NaN where missing)."""
        reset = kwargs.get("reset", True)
        X = _in_memory_table(X)
        spec = self.categorical_features if reset else getattr(self, "categories_", None)
        # with another placeholder than NaN, "from_dtype" on a numeric table (or no
        # column named) is numeric data, as HistGradientBoosting finds no category
        # there either: the placeholder was refused
        if spec is not None and (self._nan_holes() or not reset or _names_a_column(spec, X)):
            self._check_nan_holes()
            return super()._validate(X, **kwargs)
        if reset:
            self.is_categorical_ = self.categories_ = self.categorical_dtypes_ = None
        X = self._validated_numbers(
            lambda: validate_data(
                self,
                X,
                dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan" if self._nan_holes() else True,
                **kwargs,
            ),
            X,
            training="ensure_min_samples" in kwargs and not reset,
            reset=reset,
        )
        if not self._nan_holes():
            X = np.where(X == self.missing_values, np.nan, X).astype(X.dtype, copy=False)
        return X

    def _fit_validated(self, X, sample_weight, *, resume, incremental):
        # every rank gets here with the same (agreed) parameters
        _refuse_in_group(
            "AutoencoderImputer does not train across the ranks of a process group "
            "(each rank would standardize by its own shard); fit it in one process."
        )
        holes = np.isnan(X)
        # the indicator's features are those with a hole in any row of X, as
        # MissingIndicator's; over a partial_fit stream, in any chunk so far
        features = np.unique(self._input_columns()[holes.any(axis=0)])
        previous = getattr(self, "indicator_features_", None) if incremental and resume else None
        if previous is not None:
            features = np.union1d(features, np.asarray(previous, dtype=features.dtype))
        # a row of nothing observed has nothing to teach, and one of weight zero
        # is not trained on: both are set aside before the batches are made, so a
        # row of weight zero does not shape the fit by whether it holds values
        rows = ~holes.all(axis=1)
        # nothing observed at all: every feature is empty, so transform fills or
        # drops every column without the network, which is left untrained
        # (n_iter_=0), as scikit-learn's imputers fit such a table; a continued fit
        # has nothing to go on with
        if not rows.any():
            if resume:
                raise ValueError(
                    "X has no observed value: every entry is missing, so there is "
                    "nothing to continue training on."
                )
            sample_weight = None  # no row is kept for it to weigh
        elif sample_weight is not None:
            rows &= sample_weight > 0
            if not rows.any():
                raise ValueError(
                    "sample_weight is zero for every row of X that has an observed "
                    "value: there is nothing to learn from."
                )
        if not rows.all():
            X = X[rows]
            sample_weight = None if sample_weight is None else sample_weight[rows]
        # each feature's moments over every row so far (a partial_fit stream's
        # chunks merged pairwise), each call's rows weighted as its fill values are
        previous = (self.n_observed_, self.mean_, self.std_) if incremental and resume else None
        self.mean_, self.std_, self.scale_ = _observed_moments(
            X, _normalized_weights(sample_weight), previous
        )
        # one-hot inputs stay as they are: their outputs are a softmax's logits
        one_hot = self._one_hot_inputs()
        self.mean_[one_hot], self.std_[one_hot], self.scale_[one_hot] = 0.0, 1.0, 1.0
        standardized = self._standardized(X)
        super()._fit_validated(standardized, sample_weight, resume=resume, incremental=incremental)
        std, measured = self._imputation_std(standardized, sample_weight)
        if previous is not None:
            # merged with the chunks' before, each weighing its observed entries: a
            # last chunk of 2 rows reset every feature's spread to 1
            before, now = previous[0], self.n_observed_ - previous[0]
            share = np.divide(now, before + now, out=np.zeros_like(now), where=before + now > 0)
            merged = np.sqrt((1 - share) * self.imputation_std_**2 + share * std**2)
            std = np.where(measured > 0, merged, self.imputation_std_)
        self.imputation_std_ = std
        self.indicator_features_ = features.tolist() if self.add_indicator else None

    def _train_net(self, net, data, sample_weight, *, incremental):
        # a numeric hole enters the network as its feature's mean, 0 in the units of
        # every chunk so far, in training as at transform (the base's running mean
        # of the fill values mixes each chunk's units)
        self.fill_values_[~self._one_hot_inputs()] = 0.0
        net.iterator_train__fill = net.iterator_valid__fill = torch.from_numpy(self.fill_values_)
        if len(data):  # no rows: nothing was observed (see _fit_validated)
            super()._train_net(net, data, sample_weight, incremental=incremental)

    def _one_hot_inputs(self):
        """Which of the network's inputs are one-hot (they come after the numbers)."""
        return np.arange(self._n_inputs) >= self._n_inputs - sum(self._widths())

    def _hide(self, standardized, rng):
        """Hide (in place) a random fraction ``noise`` of the entries of the
        network's input ``standardized``, as training hides observed entries: a
        categorical column's one-hot block whole. Returns the mask of the inputs hidden."""
        hide = rng.random((len(standardized), self.n_features_in_)) < self.noise
        hide = hide[:, self._input_columns()]
        standardized[hide] = np.nan
        return hide

    def _imputation_std(self, standardized, sample_weight):
        """Per network input, the root of the weighted mean squared error of the
        network's fill of an observed training entry hidden from it (at the rate
        ``noise``, as in training), in standardized units: how far a fill falls
        from the value, which the draws of ``sample_posterior`` add. 1, a feature's
        own spread, where no entry was hidden; 0 for a one-hot input, whose draws
        come from the softmax. With the weight of the entries measured. A chunk of
        rows at a time."""
        rng = np.random.default_rng(_draw_seed(self.random_state))
        weights = np.ones(len(standardized)) if sample_weight is None else sample_weight
        totals = sums = np.zeros(standardized.shape[1])
        for rows in _chunks(*standardized.shape):
            chunk = standardized[rows]
            masked = chunk.copy()
            # rows of weight zero count for nothing, whatever their fills' errors
            hidden = self._hide(masked, rng) & ~np.isnan(chunk) & (weights[rows] > 0)[:, None]
            fills = self._decode(self._encode(masked))
            errors = np.where(hidden, fills - np.nan_to_num(chunk), 0.0) ** 2
            totals = totals + weights[rows] @ hidden
            sums = sums + weights[rows] @ errors
        std = np.sqrt(np.divide(sums, totals, out=np.ones(len(totals)), where=totals > 0))
        std[self._one_hot_inputs()] = 0.0
        return std, totals

    def _fixed_fills(self):
        """``(fixed, values)``: the inputs whose fill is a value of their own, not
        the network's, and those values. A feature with one value in ``fit`` takes
        it (its scale is 1, not its spread, and the network reconstructs it to
        within its error only, in its units: 1e-6 was filled as 0.005); one with
        none takes 0; a categorical column with none its first category (1 at its
        block's first input, 0 at the others), where its untrained head picked any."""
        fixed = self.scale_ != self.std_
        values = np.where(fixed, self.mean_, 0.0)
        empty = self._one_hot_inputs() & (self.n_observed_ == 0)
        if empty.any():
            first = np.zeros(len(fixed), dtype=bool)
            first[np.unique(self._input_columns(), return_index=True)[1]] = True
            fixed, values = fixed | empty, np.where(empty & first, 1.0, values)
        return fixed, values

    def _standardized(self, X):
        """``X`` standardized by ``mean_`` and ``scale_``, in its dtype."""
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def transform(self, X):
        """Fill the missing entries of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing values. A row with no observed value is filled with
            the network's reconstruction of the features' means.

        Returns
        -------
        X_imputed : ndarray or DataFrame of shape (n_samples, n_features_out)
            ``X`` with its missing entries filled (observed entries unchanged,
            in float32 for float32 ``X``, else in float64, as skae's
            transformers and PCA: float16 too, which SimpleImputer keeps; with
            categorical columns, the table of ``categorical_features``), without
            the features that were empty in
            ``fit`` unless ``keep_empty_features``, followed by the indicator
            columns (1.0 where missing) with ``add_indicator``.
        """
        check_is_fitted(self)
        self._check_draws()
        index, given = _row_labels(X), X  # a DataFrame's rows keep their labels
        if getattr(self, "categories_", None) is None:
            X = self._validate(X, reset=False)
            missing = filled = np.isnan(X)
        else:
            # a category unseen in fit is hidden from the network as a missing
            # entry is, but it was observed: it is returned as it is (below), and
            # the indicator leaves it out, as MissingIndicator does
            X = self._validate(X, reset=False, unknown=np.inf, untrained=False)
            missing, filled = np.isnan(X), ~np.isfinite(X)
            X[filled] = np.nan
        standardized = self._standardized(X)
        # a feature with no observed value in fit was always missing to the
        # network: what it holds now is hidden from the network, as then
        empty = self.n_observed_ == 0
        standardized[:, empty] = np.nan
        if getattr(self, "categories_", None) is not None:
            # and so is a category no training row weighed, whose input's weights
            # were never trained; being one of categories_, it stays in the output
            self._mark_untrained(X, standardized, np.nan)
        if self.sample_posterior:
            rng = np.random.default_rng(_draw_seed(self.random_state))
            self._hide(standardized, rng)
        guess = self._trained_logits(self._decode(self._encode(standardized)))
        if self.sample_posterior:
            # the network's error on an entry it fills, and a category drawn from
            # its softmax (the Gumbel-max draw) rather than the most probable one
            guess += rng.standard_normal(guess.shape) * self.imputation_std_
            one_hot = self._one_hot_inputs()
            guess[:, one_hot] += rng.gumbel(size=(len(X), int(one_hot.sum())))
        guess = guess * self.scale_ + self.mean_
        fixed, values = self._fixed_fills()
        guess[:, fixed] = values[fixed]
        imputed = X.copy()
        # a draw past float32's range near its largest values is its largest value
        limit = np.finfo(X.dtype).max
        imputed[filled] = np.clip(guess[filled], -limit, limit)
        # each original column's first input: missing where the column is
        columns = self._input_columns()
        first = np.unique(columns, return_index=True)[1]
        unseen = (filled & ~missing)[:, first]
        missing, kept = missing[:, first], ~np.isin(np.arange(len(first)), columns[empty])
        # a categorical column's category is its block's most probable one
        imputed = self._as_table(imputed, index=index)
        if unseen.any():
            imputed = _with_values_of(imputed, given, unseen)
        if not self.keep_empty_features and not kept.all():
            # named, as scikit-learn's SimpleImputer names them
            names = getattr(self, "feature_names_in_", None)
            dropped = np.flatnonzero(~kept) if names is None else names[~kept]
            warnings.warn(
                f"Features {dropped.tolist()} had no observed value in fit: "
                "they are dropped. Set keep_empty_features=True to keep them (filled "
                "with 0, or a categorical column's first category).",
                UserWarning,
                stacklevel=_caller_level(),
            )
            imputed = imputed.loc[:, kept] if hasattr(imputed, "loc") else imputed[:, kept]
        features = self._indicator_features()
        if features is None:
            return imputed
        indicators = missing[:, features].astype(X.dtype)
        if hasattr(imputed, "loc"):  # a DataFrame: pandas is imported
            pandas = sys.modules["pandas"]
            # stacked, as the names get_feature_names_out gives them (an input
            # column may already carry an indicator's name)
            names = self.get_feature_names_out()[imputed.shape[1] :]
            stacked = pandas.DataFrame(indicators, columns=names, index=imputed.index)
            return pandas.concat([imputed, stacked], axis=1)
        return np.hstack([imputed, indicators])

    # an imputer's output is the filled table, not codes: nothing to invert, and
    # no score of its own (a search scores the pipeline it sits in)

    @available_if(_never)
    def inverse_transform(self, X):
        """Not available: an imputer's output is the filled table, not codes.

        Parameters
        ----------
        X : array-like
            Unused.
        """

    @available_if(_never)
    def score_samples(self, X):
        """Not available: an imputer has no score of its own.

        Parameters
        ----------
        X : array-like
            Unused.
        """

    @available_if(_never)
    def score(self, X, y=None):
        """Not available: an imputer has no score of its own.

        Parameters
        ----------
        X : array-like
            Unused.
        y : None
            Unused.
        """

    @available_if(_never)
    def set_score_request(self, **kwargs):
        """Not available: an imputer has no score to route metadata to.

        Parameters
        ----------
        **kwargs : dict
            Unused.
        """

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; by default ``feature_names_in_``, or
            ``x0, x1, ...`` for input without column names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names of the features kept, then ``missingindicator_<name>``
            for each indicator column, as scikit-learn's imputers name them.
        """
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_ or (
                names is not None and not np.array_equal(input_features, names)
            ):
                raise ValueError(
                    f"input_features must be the n_features_in_={self.n_features_in_} "
                    "names seen in fit."
                )
            names = input_features
        if names is None:
            names = np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        names = np.asarray(names, dtype=object)
        empty = np.isin(
            np.arange(self.n_features_in_), self._input_columns()[self.n_observed_ == 0]
        )
        kept = names if self.keep_empty_features else names[~empty]
        features = self._indicator_features()
        if features is None:
            return kept
        indicators = [f"missingindicator_{names[i]}" for i in features]
        return np.concatenate([kept, np.asarray(indicators, dtype=object)])

    def _indicator_features(self):
        """The features whose indicators the output stacks, or None: as in
        scikit-learn's imputers, ``add_indicator`` as it is now (set after fit too)."""
        if not self.add_indicator:
            return None
        if self.indicator_features_ is None:
            raise ValueError(
                "add_indicator=True, but fit ran with add_indicator=False and found no "
                "indicator's features; fit again."
            )
        return self.indicator_features_

    def _check_consistency(self):
        super()._check_consistency()
        if self.categories_ is not None:
            self._check_nan_holes()
        if (
            not (np.isfinite(self.mean_).all() and np.isfinite(self.scale_).all())
            or (self.scale_ <= 0).any()
            or not (np.isfinite(self.std_).all() and (self.std_ >= 0).all())
            or not ((self.scale_ == self.std_) | (self.scale_ == 1)).all()
            or not (np.isfinite(self.imputation_std_).all() and (self.imputation_std_ >= 0).all())
        ):
            raise ValueError(
                "mean_ must be finite, std_ finite and not negative, scale_ std_ or 1, "
                "and imputation_std_ finite and not negative."
            )
        # add_indicator set to False after fit leaves them, unused
        features = self.indicator_features_
        if (features is None and self.add_indicator) or (
            features is not None
            and (features != sorted(set(features)) or features[-1:] >= [self.n_features_in_])
        ):
            raise ValueError(
                "indicator_features_ must be the sorted, distinct indices of features "
                "below n_features_in_, with add_indicator=True not None."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._nan_holes()
        tags.input_tags.sparse = False
        return tags


def _observed_moments(X, weights, previous=None):
    """``(mean, std, scale)``: each feature's weighted mean and standard deviation
    over its observed values, merged after ``previous`` (the weight behind each
    feature's moments of the chunks before, their means and standard deviations),
    and the scale that standardizes it: 0, 0 and 1 for a feature with none, and a
    scale of 1 for a constant one (a spread within rounding of its mean, the
    bound of scikit-learn's scalers)."""
    weights = np.ones(len(X)) if weights is None else weights
    # a row of weight zero counts for nothing, whatever it holds
    observed = ~np.isnan(X) & (weights > 0)[:, None]
    values = np.where(observed, X, 0.0).astype(np.float64)
    seen, old_mean, old_std = (0.0, 0.0, 0.0) if previous is None else previous
    # in units of each feature's largest magnitude, the chunks' before included:
    # no square overflows (values of 1e155) and no spread is lost below a fixed
    # floor (values of 1e-18)
    unit = np.fmax(np.abs(values).max(axis=0, initial=0.0), np.fmax(np.abs(old_mean), old_std))
    unit[unit == 0] = 1.0
    values /= unit
    totals = weights @ observed
    mean = np.divide(weights @ values, totals, out=np.zeros(X.shape[1]), where=totals > 0)
    spread = weights @ np.where(observed, values - mean, 0.0) ** 2
    # merged with the chunks before (Chan, Golub and LeVeque's pairwise update)
    merged = seen + totals
    share = np.divide(totals, merged, out=np.zeros(X.shape[1]), where=merged > 0)
    delta = mean - old_mean / unit
    mean = old_mean / unit + delta * share
    spread += seen * (old_std / unit) ** 2 + delta**2 * seen * share
    std = np.sqrt(np.divide(spread, merged, out=np.zeros(X.shape[1]), where=merged > 0))
    constant = ~(std > (observed.sum(axis=0) + seen) * np.finfo(np.float64).eps * np.abs(mean))
    std = std * unit
    # a spread that rounds to nothing in its own units (subnormal values) too
    return mean * unit, std, np.where(constant | (std == 0), 1.0, std)


def _with_values_of(table, given, entries):
    """``table`` (the imputer's output, before features are dropped) with its
    ``entries`` (a mask of its shape) as the input ``given`` holds them: categories
    unseen in fit, which an imputer returns as observed (a DataFrame's categorical
    column gains them as categories)."""
    given = given if hasattr(given, "columns") else np.asarray(given, dtype=object)
    for j in np.flatnonzero(entries.any(axis=0)):
        rows = entries[:, j]
        values = _own_values(given, given, j)[rows]
        if not hasattr(table, "iloc"):
            if table.dtype != object and not all(isinstance(v, numbers.Real) for v in values):
                table = table.astype(object)  # floats, as every category was, no longer
            table[rows, j] = values
            continue
        column = table.iloc[:, j]
        if hasattr(column, "cat"):
            categories = column.cat.categories
            # in the categories' own dtype where nothing is lost (5.0 among integer
            # categories is 5), so that every batch's column has one dtype
            try:
                same = np.asarray(values, dtype=object).astype(categories.dtype)
            except (TypeError, ValueError, OverflowError):
                same = None
            if same is not None and (same == values).all():
                values = same
            new = [v for v in dict.fromkeys(values) if v not in categories]
            column = column.cat.add_categories(new)
        column[rows] = values
        table[table.columns[j]] = column
    return table
