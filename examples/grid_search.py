"""
PCA, LinearAETransformer and AutoencoderTransformer in one search
=================================================================

skae's reducers are scikit-learn transformers, so they are interchangeable steps of one
:class:`~sklearn.pipeline.Pipeline`, and a single
:class:`~sklearn.model_selection.GridSearchCV` swaps them and their ``n_components`` as
it would swap PCA's settings. This example runs two such searches on the 8x8 digits: a
supervised one, where each reducer feeds a logistic regression ranked by accuracy, and
an unsupervised one, where the reducers alone are ranked by their reconstruction error.

Run it as a script (``--help`` lists the options)::

    python examples/grid_search.py --out out/grid_search
"""

# %%
# Options
# -------
#
# As a script, the example writes its two figures to the ``--out`` folder.
# ``--components`` is the grid of code widths and ``--n-jobs`` the number of fits run in
# parallel; the gallery and the tests search fewer widths with fewer epochs
# (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="PCA, LinearAETransformer and AutoencoderTransformer in one search",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/grid_search"), help="figure folder")
parser.add_argument("--epochs", type=int, default=100, help="autoencoder epochs")
parser.add_argument(
    "--components", type=int, nargs="+", default=[2, 4, 8, 16], help="n_components grid"
)
parser.add_argument("--n-jobs", type=int, default=2, help="parallel fits of the searches")
parser.add_argument("--seed", type=int, default=0, help="split and random_state seed")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Load and split the digits
# -------------------------
#
# The raw pixel values, 0 to 16, with their labels. A stratified quarter is held out
# to test the best model each search finds.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=args.seed
)

# %%
# One pipeline, three reducers
# ----------------------------
#
# The pipeline standardizes the pixels, reduces them and classifies the codes. Its
# ``reduce`` step is a placeholder: the grid puts each of the three reducers there, and
# ``reduce__n_components`` sets the code width of whichever is in place.
# :class:`~skae.LinearAETransformer` is PCA computed by a linear network;
# :class:`~skae.AutoencoderTransformer` is a nonlinear autoencoder with one hidden layer
# of 100 units, trained for a fixed number of epochs.
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, LinearAETransformer

pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("reduce", PCA()),
        ("clf", LogisticRegression(max_iter=2000)),
    ]
)
reducers = {
    "PCA": PCA(random_state=args.seed),
    "LinearAETransformer": LinearAETransformer(random_state=args.seed),
    "AutoencoderTransformer": AutoencoderTransformer(
        batch_size=64, max_iter=args.epochs, n_iter_no_change=None, random_state=args.seed
    ),
}
grid = {"reduce": list(reducers.values()), "reduce__n_components": args.components}

# %%
# The supervised search
# ---------------------
#
# Three-fold cross-validation of every reducer at every width, ranked by the pipeline's
# ``score``, the classifier's accuracy. ``verbose=1`` makes the search say how many
# fits it runs.
from sklearn.model_selection import GridSearchCV

search = GridSearchCV(pipe, grid, cv=3, n_jobs=args.n_jobs, verbose=1)
search.fit(X_train, y_train)

# %%
# The table lists each candidate's mean cross-validated score and fit time; the last
# line gives the best candidate's accuracy on the held-out quarter.


def print_table(search, metric, sign=1):
    """One Markdown row per candidate of ``search``: reducer, width, score, fit time."""
    results = search.cv_results_
    print(f"| reducer | n_components | {metric} | fit s |")
    print("| --- | ---: | ---: | ---: |")
    for reducer, k, score, seconds in zip(
        results["param_reduce"],
        results["param_reduce__n_components"],
        results["mean_test_score"],
        results["mean_fit_time"],
        strict=True,
    ):
        print(f"| {type(reducer).__name__} | {k} | {sign * score:.4f} | {seconds:.2f} |")


print_table(search, "CV accuracy")
best = search.best_params_
print(
    f"best: {type(best['reduce']).__name__} with n_components="
    f"{best['reduce__n_components']}, test accuracy {search.score(X_test, y_test):.4f}"
)

# %%
# The same scores against the code width. PCA and the linear autoencoder find the same
# components, so their curves lie on top of each other; distinct markers and line
# styles keep both visible. On the full run (100 epochs, widths 2 to 16) the nonlinear
# autoencoder's codes classify best at every width.
import matplotlib.pyplot as plt
import numpy as np


def plot_search(search, names, ylabel, sign=1):
    """Mean CV score of each reducer in ``names`` against n_components."""
    results = search.cv_results_
    reducers = [type(r).__name__ for r in results["param_reduce"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = [("o", "-", 9), ("x", "--", 9), ("s", ":", 5)]
    for name, (marker, linestyle, size) in zip(names, styles, strict=False):
        rows = [i for i, n in enumerate(reducers) if n == name]
        ax.plot(
            np.asarray(results["param_reduce__n_components"])[rows],
            sign * results["mean_test_score"][rows],
            marker=marker,
            linestyle=linestyle,
            markersize=size,
            markerfacecolor="none" if marker == "o" else None,
            label=name,
        )
    ax.set_xscale("log", base=2)
    components = sorted(set(results["param_reduce__n_components"]))
    ax.set_xticks(components, [str(k) for k in components])
    ax.set_xlabel("n_components")
    ax.set_ylabel(ylabel)
    kind = "reducer + LogisticRegression" if sign == 1 else "reducer alone"
    ax.set_title(f"digits: {kind}")
    ax.legend()
    fig.tight_layout()
    return fig


fig = plot_search(search, list(reducers), "CV accuracy, logistic regression")
fig.savefig(args.out / "accuracy.png", dpi=80)

# %%
# The unsupervised search
# -----------------------
#
# Without labels the reducers still compete, but on what? Their own ``score`` methods
# measure different things (PCA's is a log-likelihood), so the search ranks them by
# :func:`~skae.metrics.reconstruction_scorer` instead: the negative mean squared error
# of each reconstruction, the same measure for every reducer. It is computed on the
# pixel values the pipeline receives, 0 to 16, after undoing the scaler.
from skae.metrics import reconstruction_scorer

unsupervised = GridSearchCV(
    Pipeline([("scale", StandardScaler()), ("reduce", PCA())]),
    grid,
    cv=3,
    n_jobs=args.n_jobs,
    scoring=reconstruction_scorer,
    verbose=1,
)
unsupervised.fit(X_train)

# %%
# The table shows the error itself (the score negated), lower being better, and the
# test error of the best candidate.
print_table(unsupervised, "CV reconstruction MSE", sign=-1)
best = unsupervised.best_params_
print(
    f"best: {type(best['reduce']).__name__} with n_components="
    f"{best['reduce__n_components']}, test reconstruction MSE "
    f"{-reconstruction_scorer(unsupervised.best_estimator_, X_test):.4f}"
)

# %%
# More components reconstruct better, so the widest code wins this search. The curves
# compare the reducers at each width: the linear autoencoder's error is PCA's, and on
# the full run the nonlinear autoencoder's is lower than both at every width.
fig = plot_search(
    unsupervised,
    list(reducers),
    "CV reconstruction MSE, pixel values 0-16",
    sign=-1,
)
fig.savefig(args.out / "reconstruction.png", dpi=80)
print("wrote accuracy.png and reconstruction.png to the --out folder")
