"""PCA, LinearAETransformer and AutoencoderTransformer in one search
=================================================================

The reducers are interchangeable steps of one Pipeline, so a single GridSearchCV
swaps them and their ``n_components`` exactly as it would swap PCA settings. Two
searches: a supervised one (reducer + LogisticRegression, ranked by accuracy) and an
unsupervised one (scaler + reducer alone, ranked by ``reconstruction_scorer``, the
same squared reconstruction error for every reducer: their own ``score`` methods
measure different things, PCA's being a log-likelihood).

Run it as a script::

    python examples/grid_search.py --out out/grid_search
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, LinearAETransformer
from skae.metrics import reconstruction_scorer


def main(argv=None):
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
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
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
    # verbose=1: the search says how many fits it runs (the autoencoders take a while)
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=args.n_jobs, verbose=1)
    search.fit(X_train, y_train)
    print_table(search, "CV accuracy")
    best = search.best_params_
    print(
        f"best: {type(best['reduce']).__name__} with n_components="
        f"{best['reduce__n_components']}, test accuracy {search.score(X_test, y_test):.4f}"
    )

    unsupervised = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("reduce", PCA())]),
        grid,
        cv=3,
        n_jobs=args.n_jobs,
        scoring=reconstruction_scorer,
        verbose=1,
    )
    unsupervised.fit(X_train)
    print_table(unsupervised, "CV reconstruction MSE", sign=-1)
    best = unsupervised.best_params_
    print(
        f"best: {type(best['reduce']).__name__} with n_components="
        f"{best['reduce__n_components']}, test reconstruction MSE "
        f"{-reconstruction_scorer(unsupervised.best_estimator_, X_test):.4f}"
    )

    figures = {
        "accuracy.png": plot_search(search, list(reducers), "CV accuracy, logistic regression"),
        "reconstruction.png": plot_search(
            unsupervised, list(reducers), "CV reconstruction MSE, pixel values 0-16", sign=-1
        ),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=80)
        print(f"wrote {args.out / name}")


def print_table(search, metric, sign=1):
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


def plot_search(search, names, ylabel, sign=1):
    results = search.cv_results_
    reducers = [type(r).__name__ for r in results["param_reduce"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    # PCA and the linear autoencoder can coincide: distinct markers and line
    # styles keep both visible where one lies on top of the other
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
    ax.set_title("digits: " + ("reducer + LogisticRegression" if sign == 1 else "reducer alone"))
    ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
