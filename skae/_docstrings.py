"""Parameter text shared by several estimators, written once.

A class docstring names a snippet as ``{snippet_name}`` on a line of its own;
``_fill_doc`` substitutes it, so the same parameter reads the same everywhere.
"""

_SNIPPETS = {
    "training_parameters": """\
    optimizer : {{"adam", "sgd"}} or torch.optim.Optimizer subclass, default="adam"
        Optimizer of the minibatch training, by name or as a class; it receives
        ``lr=learning_rate_init`` and, when ``alpha > 0``, ``weight_decay=alpha``.

    alpha : float, default={alpha}
        L2 penalty on the connection weights (not the biases), applied as the
        optimizer's weight decay.

    batch_size : int or "auto", default="auto"
        Size of the minibatches; "auto" means ``min(200, n_samples)``, as in
        :class:`~sklearn.neural_network.MLPRegressor`.

    learning_rate_init : float, default=0.001
        Learning rate of the optimizer.

    max_iter : int, default={max_iter}
        {max_iter_meaning}

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data and stop
        when the validation loss has not improved by at least ``tol`` for
        ``n_iter_no_change`` epochs. The weights of the best epoch are restored.
        Without it, training stops when the training loss stalls the same way.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    n_iter_no_change : int, default=10
        Number of epochs without improvement before training stops.

    tol : float, default={tol}
        {tol_meaning}

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the shuffling, the validation split and
        any training noise. An int makes fits repeatable bit for bit on the same
        machine and device, also when several threads fit at once. The fit draws
        from generators of its own; only the module's construction seeds torch's
        global generator, inside ``torch.random.fork_rng`` and a lock shared by
        skae's fits, so the global state is as it was afterwards.

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
        CPU with a warning where it does not (``"auto"`` falls back silently).""",
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
        Best of ``validation_scores_``, the one whose weights are kept.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.""",
}


def _fill_doc(**values):
    """Class decorator: put the shared snippets, formatted with ``values``, in place."""

    def decorate(cls):
        doc = cls.__doc__
        for name, text in _SNIPPETS.items():
            marker = "    {" + name + "}"
            if marker in doc:
                doc = doc.replace(marker, text.format(**values))
        cls.__doc__ = doc
        return cls

    return decorate
