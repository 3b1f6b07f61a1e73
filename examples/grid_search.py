"""PCA, LinearAETransformer and AutoencoderTransformer side by side in one search.

The reducers are interchangeable steps of one Pipeline, so a single GridSearchCV
swaps them and their ``n_components`` exactly as it would swap PCA settings.

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/grid_search"))
    parser.add_argument("--epochs", type=int, default=100, help="autoencoder epochs")
    parser.add_argument("--components", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
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
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=args.n_jobs)
    search.fit(X_train, y_train)

    results = search.cv_results_
    names = [type(r).__name__ for r in results["param_reduce"]]
    print("| reducer | n_components | CV accuracy | fit s |")
    print("| --- | ---: | ---: | ---: |")
    for name, k, score, seconds in zip(
        names,
        results["param_reduce__n_components"],
        results["mean_test_score"],
        results["mean_fit_time"],
        strict=True,
    ):
        print(f"| {name} | {k} | {score:.4f} | {seconds:.2f} |")
    best = search.best_params_
    print(
        f"best: {type(best['reduce']).__name__} with n_components="
        f"{best['reduce__n_components']}, test accuracy {search.score(X_test, y_test):.4f}"
    )

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in reducers:
        rows = [i for i, n in enumerate(names) if n == name]
        ax.plot(
            np.asarray(results["param_reduce__n_components"])[rows],
            results["mean_test_score"][rows],
            marker="o",
            label=name,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n_components")
    ax.set_ylabel("CV accuracy, logistic regression")
    ax.set_title("digits: reducer + LogisticRegression")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "accuracy.png", dpi=80)
    print(f"wrote {args.out / 'accuracy.png'}")


if __name__ == "__main__":
    main()
