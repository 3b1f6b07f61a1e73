"""Parameter text shared by several estimators, written once.

A class docstring names a snippet as ``{snippet_name}`` on a line of its own;
``_fill_doc`` substitutes it, so the same parameter reads the same everywhere.
"""

# the parameter of the autoencoders and the VAEs alike; each snippet ends it
_SAMPLING = """\
    reconstruction_sampling : float in (0, 1] or None, default=None
        For sparse ``X`` (a CSR matrix, say of word counts or one-hot columns):
        each training row's loss is computed from its stored entries and, for its
        zeros, from ``ceil(reconstruction_sampling * n_features)`` columns drawn
        at random, weighted by the inverse of their probability, so that its
        expected value is the full loss (reconstruction sampling; Dauphin, Glorot
        and Bengio, ICML 2011). The decoder then computes only those entries of
        its output, which is where a wide sparse matrix's time goes; the
        validation loss of early stopping stays the full one. None: every entry.
        The draws come from ``random_state``'s stream. Dense input trains on
        every entry whatever this is (it has no zeros to skip)"""

_SNIPPETS = {
    "autoencoder_parameters": """\
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Widths of the encoder's hidden layers, input side first; the decoder
        mirrors them. ``()`` gives the single-layer autoencoder
        ``n_features -> n_components -> n_features``.

    activation : {{"identity", "logistic", "tanh", "relu"}}, default="relu"
        Activation of the hidden layers, as in
        :class:`~sklearn.neural_network.MLPRegressor`.

    code_activation : {{"identity", "logistic", "tanh", "relu"}}, default="identity"
        Activation of the code layer. A linear code keeps all code values usable
        for downstream models; ``"relu"`` gives the classic nonnegative codes.

    output_activation : {{"identity", "sigmoid"}}, default="identity"
        Activation of the reconstruction. Use "sigmoid" for data in [0, 1].

    loss : {{"mse", "bce"}}, default="mse"
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
        Gaussian noise, or the probability of zeroing each input value, or of
        hiding it as if it were missing.

    noise_type : {{"gaussian", "masking", "missing"}}, default="gaussian"
        Kind of corruption that ``noise`` sets. ``"missing"`` hides values as
        missing entries are hidden (the encoder sees their feature's fill value,
        see ``fill_values_``) while the loss still counts them, so that the
        network learns to predict an entry from the others: what an imputer
        needs (MIDAS, Lall and Robinson 2022), and what :class:`~skae.AutoencoderImputer`
        trains with.

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

    pretrain_iter : int, default=0
        Epochs of greedy layer-wise pretraining of each layer before the network trains
        as a whole (0: none; Bengio et al., NIPS 2006). Each encoder layer and its
        mirror decoder layer are first fitted, for exactly this many epochs, as a
        single-layer autoencoder with this estimator's optimizer, ``alpha``, learning
        rate and schedule, batch size, ``tied_weights`` and precision, on the codes of
        the layers before it (hidden layers' codes through ``activation``, the last
        through ``code_activation``): the first on the data, with this
        ``output_activation``, ``loss`` and ``noise``; the others on the codes, with a
        linear output and squared error. ``sparsity``, ``dropout`` and early stopping
        apply to the whole network only; with ``early_stopping=True`` pretraining sees
        only the rows kept for training. Their weights start the network; ``n_iter_``
        and ``loss_curve_`` count its own epochs. Only a fit that builds a new network
        pretrains (not a ``warm_start`` fit that continues one, nor ``partial_fit``).

    module : torch.nn.Module subclass or None, default=None
        A custom autoencoder to train instead of the built-in MLP, such as
        :class:`~skae.ConvAutoencoder`. It must define ``encode(x)`` and
        ``decode(z)`` (the raw output, before ``output_activation``), neither
        writing to its input in place (checked: refused with a ValueError), and
        is built as ``module(n_features=..., n_components=..., **module_params)``
        (``n_features``: the network's inputs, with ``categorical_features`` each
        categorical column one-hot, one input per category);
        ``hidden_layer_sizes``, ``activation``, ``code_activation``,
        ``tied_weights`` and ``dropout`` are then unused and ``pretrain_iter``
        must be 0 (``output_activation``, ``loss``, ``noise`` and ``sparsity``
        still apply).

    module_params : dict or None, default=None
        Further keyword arguments of ``module``. Only used with a custom
        ``module``: the built-in MLP (``module=None``) takes the estimator's own
        parameters (``hidden_layer_sizes``, ``activation``, ...), as scikit-learn's
        MLP uses ``momentum`` only with ``solver="sgd"``.

"""
    + _SAMPLING
    + """; a custom
        ``module`` cannot take it.""",
    "vae_parameters": """\
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Widths of the encoder's hidden layers, input side first; the decoder
        mirrors them.

    activation : {{"identity", "logistic", "tanh", "relu"}}, default="relu"
        Activation of the hidden layers.

    likelihood : {{"gaussian", "bernoulli"}}, default="gaussian"
        The decoder's model of the data. "gaussian": each feature is Gaussian
        around the decoder's output with a fixed unit variance, which suits
        standardized data. "bernoulli": each feature in [0, 1] (pixel
        intensities) is a Bernoulli probability given by the decoder's logits;
        the loss is computed from the logits.

    beta : float, default=1.0
        Weight of the KL term: 1 is the ELBO proper; larger values give the
        beta-VAE's smoother, more disentangled codes at some cost in
        reconstruction.

"""
    + _SAMPLING
    + """.""",
    "categorical_features": """\
    categorical_features : {{"from_dtype"}}, array-like of bool, int or str, \
default=None
        The categorical columns, spelled as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: None (none),
        "from_dtype" (the columns of a pandas DataFrame of dtype ``category``, string or
        object, or of a polars one of dtype Categorical or String; an array has no
        column dtypes, so none), a boolean mask over the columns, their integer indices,
        or their names (which need a table with column names). The estimator encodes
        them itself: each category of the first fit (``categories_``: those its rows
        hold, and every one a column's dtype declares) is an input of the network and an
        output of a softmax head trained with cross-entropy; a missing entry (NaN, None,
        ``pd.NA``) is a missing value, and a category unseen in the first fit (or held
        by no row of positive weight of the last fit, of any ``partial_fit`` chunk so
        far) is treated as one when transforming, scored as at least as improbable as
        the row's least probable known category and as a category never seen in training
        (so a new category does not make a row look more typical), and an error in a
        continuing ``partial_fit`` or ``warm_start`` fit (a column that no training row
        of positive weight observed, possible where its dtype declares its categories,
        is missing at inference whatever it holds, as a numeric feature never observed
        is, and ``inverse_transform`` reconstructs it as missing). Each original column
        counts once in the loss and in ``score_samples``: a categorical column by its
        cross-entropy in nats. ``inverse_transform`` gives back the table. Dense input
        only, and no ONNX export; see the user guide's "Categorical
        columns".""",
    "categorical_attributes": """\
    is_categorical_ : ndarray of shape (`n_features_in_`,) of bool or None
        Which columns are categorical; None where none is.

    categories_ : list of ndarray or None
        The categories of each categorical column, in column order, sorted:
        those the first fit's rows hold, and every category the column's dtype
        declares (a pandas ``category``, a polars ``Enum``), so that a stream
        knows a declared category before a row holds it. None where no column
        is categorical.

    categorical_dtypes_ : list of tuple or None
        Per categorical column, ``(categories, ordered)`` where the first fit's
        column had a pandas ``category`` dtype (every category it declared, in
        its order, and whether they are ordered) or a polars ``Enum`` (its
        categories, ordered as it orders them), else None; the tables that
        ``inverse_transform`` and the imputer's ``transform`` return give such a
        column that dtype back (categories of a pandas extension dtype, such as
        ``Int64`` or ``string``, as NumPy holds them). None where no column is
        categorical.""",
    "contamination": """\
    contamination : "auto" or float, default="auto"
        Expected share of outliers in the training data. With a float in
        (0, 0.5], ``offset_`` is that quantile of the training scores. With
        "auto", it is Tukey's lower fence on them: the first quartile minus 1.5
        times the interquartile range.""",
    "offset": """\
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples -
        offset_``. ``fit`` sets it from the training data's scores; ``partial_fit``
        from its chunk's and, for a chunk of fewer than 2,048 rows, from those of
        the rows trained before it, up to 2,048 rows in all (``score_quantiles_``).
        A ``partial_fit`` reads ``offset_`` from its chunk alone after loading a
        file of skae 0.2.0, which holds no quantiles, and where it changes what
        the scores are (``loss``, ``output_activation``, ``likelihood``,
        ``anomaly_score``): the earlier quantiles are of the other score. The
        earlier rows' scores are those of the model that trained on them, which
        later chunks improve: a stream of small chunks early in training leaves
        ``offset_`` below the quantile of the current model's training scores
        (three epochs of chunks of 100 rows flagged 5 % of the training rows at
        ``contamination=0.1``); larger chunks, or a ``fit`` on a sample of the
        stream, hold it closer.

    score_quantiles_ : ndarray of shape (101,)
        The percentiles 0, 1, ..., 100 of the training scores that ``offset_`` was
        read from; the next ``partial_fit`` merges them with its chunk's scores
        (unless it changes what the scores are).

    n_offset_samples_ : int
        The number of training rows those scores stand for.""",
    "training_parameters": """\
    optimizer : {{"adam", "adamw", "sgd"}} or torch.optim.Optimizer subclass, default="adam"
        Optimizer of the minibatch training, by name or as a class; it receives
        ``lr=learning_rate_init`` and, if it takes one, ``weight_decay=alpha``.
        "adamw" is Adam with weight decay decoupled from the gradient's running
        averages (Loshchilov & Hutter, 2019).

    alpha : float, default={alpha}
        Weight decay of the connection weights (not the biases), applied as the
        optimizer's ``weight_decay``: an L2 penalty added to the gradient for
        "adam" and "sgd"; for "adamw" a shrinkage of each weight by
        ``learning_rate_init * alpha`` (the current learning rate under a
        schedule) at every step, so useful values are larger, around 1e-2 to 2e-1.

    batch_size : int or "auto", default="auto"
        Size of the minibatches; "auto" means ``min(200, n_samples)``, as in
        :class:`~sklearn.neural_network.MLPRegressor`.

    learning_rate_init : float, default={learning_rate_init}
        Learning rate of the optimizer.

    learning_rate : {{"constant", "cosine"}}, default={learning_rate}
        Schedule of the learning rate within a ``fit``: "constant" keeps
        ``learning_rate_init``; "cosine" lowers it batch by batch from
        ``learning_rate_init`` to 0 along a half cosine over ``max_iter`` epochs
        (Loshchilov and Hutter's annealing, without restarts), so the last epochs
        take small steps; early stopping may end it sooner. ``partial_fit``
        calls, one epoch each, train at ``learning_rate_init``.

    max_iter : int, default={max_iter}
        {max_iter_meaning}

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data and stop
        when the validation loss has not improved by at least ``tol`` for
        ``n_iter_no_change`` epochs. The weights of the best epoch are restored.
        Without it, training stops when the training loss stalls the same way.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping (of the rows of
        positive ``sample_weight``, when weights are given).

    n_iter_no_change : int or None, default={n_iter_no_change}
        Number of epochs without improvement before training stops; None
        trains for exactly ``max_iter`` epochs.

    tol : float, default={tol}
        {tol_meaning}

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the shuffling, the validation split and
        any training noise. An int makes fits repeatable bit for bit on the same
        machine and device, also when several threads fit at once. A continued
        fit (``partial_fit``, ``warm_start``) draws on from the number of epochs
        already trained, not the first call's draws again, and with an int keeps
        the first call's validation split (None or a RandomState draws a new one
        each call, as it draws everything anew). The fit draws
        from generators of its own, the module's initial weights included (torch's
        initializers are handed the fit's generator, in this thread only), so
        torch's and NumPy's global generators are neither drawn from nor reseeded
        (a custom ``module``'s own draws in functions that take no generator, such
        as ``torch.nn.Dropout`` in its forward pass, come from torch's global
        generator: the fit cannot hand them its own).

    verbose : int, default=0
        If positive, print one plain line per epoch: the epoch out of the
        epochs planned, the training (and validation) loss and the seconds so
        far.

    warm_start : bool, default=False
        If True and the estimator is fitted, ``fit`` continues training the fitted
        network for ``max_iter`` more epochs instead of starting anew.

    device : str, default="cpu"
        PyTorch device to train and infer on: "cpu", "cuda", "cuda:N", or "auto"
        for CUDA when available and the CPU otherwise. A fitted estimator pickles
        (and :func:`skae.save` stores) its network's tensors on the CPU; loading
        puts the network on ``device`` again where that device exists, and on the
        CPU with a warning where it does not (``"auto"`` falls back silently).

    precision : {{"float32", "bfloat16", "float16"}}, default="float32"
        Arithmetic of the network's forward and backward passes, in training and
        inference: "bfloat16" or "float16" run them under ``torch.autocast`` (mixed
        precision), while the weights, the optimizer's state and the outputs stay
        float32 (inference on float64 input is computed in float64 whatever this says;
        training on it is not), so saved files hold float32 weights (a "float16" file
        also holds the loss scaler's state, for a fit that continues). "bfloat16" pays
        on CPUs with AMX-BF16 or AVX512-BF16 (``torch.backends.mkldnn`` reports it) and
        on recent GPUs; "float16" scales the loss (``torch.amp.GradScaler``) so that
        small gradients do not vanish, skipping the steps whose gradients overflow
        (they are no epochs without progress for early stopping; a scale that falls
        below float16's smallest number is divergence), and cannot be combined with
        L-BFGS.
        (LinearAETransformer's closed-form and L-BFGS solvers work in float64, and its
        aligned ``transform`` in NumPy: there it applies to ``solver="minibatch"``
        training only.) The losses are summed in the weights' dtype. A network's codes
        computed in bfloat16 agree with its float32 codes to about 1e-2 relative; a
        network trained in it follows its own path to a model of about the same error.

    n_jobs : int, "adaptive" or None, default=None
        PyTorch intra-op threads of each training step and inference chunk, set
        for the duration of the call in the calling thread (torch's own setting is
        as it was when the call returns, and fits in other threads keep theirs;
        but a thread started anywhere in the process while the call runs begins
        with the call's count, torch keeping one default for new threads, which
        is what it was once the last call running ends). None
        chooses from the work of a step: one thread for a network whose step
        multiplies fewer than about 4 million numbers (its weights times the rows
        of a batch or chunk), where a second thread saves less than its
        synchronization costs and, while another process keeps a core busy, costs
        several times the step (torch's OpenMP threads spin while they wait);
        above that, torch's current setting in the calling thread
        (``torch.get_num_threads()``). This choice depends on the estimator, the
        data's width and that setting only, so a seeded fit is the same whatever
        else the machine runs; fitting large networks in several threads at once,
        give them an int instead, since a new thread's setting is inherited as
        said above. "adaptive" starts as None does, and on the CPU times the
        training steps of several threads against a few trial steps on one thread
        now and then (the first after 32 full batches of a ``fit`` or
        ``partial_fit`` call, each call starting its own; and at once when steps
        take half as long again), keeping the faster: beside a busy core a large
        network then trains within about 1.2 times the time one thread would take
        (see the performance page), but which count ran a step depends on the
        machine's load, and two counts can differ in the last bits of a sum (a
        convolution, a loss over many values), so a seeded fit is not repeated bit
        for bit. A positive int (at most 32768) sets the count, up to the cores this
        process may use (more threads cannot run at once); -1 means every core
        this process may use (``joblib.cpu_count()``, which counts CPU affinity and
        container quotas), -2 all but one, and so on. Different counts may change
        the last bits of a large network's results. A network's inference follows
        the value set when it runs (``set_params`` after a fit applies), checked
        as ``fit`` checks it.""",
    "training_attributes": """\
    net_ : skae's subclass of skorch.NeuralNet
        The trained network; ``net_.module_`` is the autoencoder module and
        ``net_.history`` skorch's record of the training.

    n_iter_ : int
        Number of epochs run, warm starts included.

    loss_curve_ : list of float
        Mean training loss of each epoch.

    validation_scores_ : list of float or None
        Negative validation loss of each epoch (higher is better, as for
        ``score``) when ``early_stopping`` is True, else None.

    best_validation_score_ : float or None
        Best of the last ``fit`` or ``partial_fit`` call's ``validation_scores_``,
        the one whose weights are kept (a call that continues keeps its own best,
        not an earlier call's).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.""",
    "missing_attributes": """    fill_values_ : ndarray of shape (n_inputs,)
        What the encoder is given for a missing entry (NaN) of each of its ``n_inputs``
        inputs (``n_features_in_``, or with categorical columns one per numeric column
        and one per category, their frequency): the mean of its observed training
        values, weighted by ``sample_weight`` (a category's over the rows trained on,
        early stopping's held-out rows not counted; running means over ``partial_fit``'s
        chunks; 0 for a feature never observed). Training and scores count the observed
        entries only; see the user guide's "Missing values".

    n_observed_ : ndarray of shape (n_inputs,)
        Number of observed training values behind each of ``fill_values_``
        (with ``sample_weight``, their total weight, each call's weights
        rescaled to average 1).""",
}


def _fill_doc(**values):
    """Class decorator: put the shared snippets, formatted with ``values``, in place."""

    values = {
        "n_iter_no_change": "10",
        "learning_rate_init": "0.001",
        "learning_rate": '"constant"',
    } | values

    def decorate(cls):
        doc = cls.__doc__
        if doc is None:  # python -OO strips docstrings
            return cls
        for name, text in _SNIPPETS.items():
            marker = "    {" + name + "}"
            if marker in doc:
                doc = doc.replace(marker, text.format(**values))
        cls.__doc__ = doc
        return cls

    return decorate
