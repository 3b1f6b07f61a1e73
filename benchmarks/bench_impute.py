"""Imputation: AutoencoderImputer against scikit-learn's imputers (issue #34).

Complete tables lose entries on purpose, and each imputer fills them back in:
completely at random (MCAR), or at random given observed columns (MAR: a random
30 % of the columns stays fully observed, and each other column's entries go
missing with a probability that is a logistic function of the observed columns,
with random weights and an intercept found by bisection, as HyperImpute's
``simulate`` builds its MAR mask). The share of missing entries in the whole
table is the rate (20 % or 50 %). For each (data set, mechanism, rate) and seed
every imputer fills the table with ``fit_transform``; the table gives, as mean
± standard deviation over the seeds, the RMSE on the removed entries (on the
scale of the data below), the imputer's seconds, and a downstream score:
5-fold cross-validated accuracy of a LogisticRegression (R² of a Ridge for
diabetes) trained on the imputed table.

The data: scikit-learn's digits scaled to [0, 1]; breast_cancer, wine and
diabetes standardized (on the complete table); and, with ``--data-dir``, the
first ``--mnist-rows`` MNIST training images in [0, 1].

AutoencoderImputer's targets: the lowest RMSE of all imputers on digits and MNIST,
within 5 % of the lowest on the small tabular sets, and less time than
IterativeImputer everywhere; the last column says whether each is met.

    python benchmarks/bench_impute.py --data-dir ../shared/data/mnist
    python benchmarks/bench_impute.py --quick        # digits, 300 rows, one setting
"""

import argparse
import warnings

import numpy as np
from _common import QuickDefault, data_folder, output_file, parse, positive_int, report, timed
from scipy.special import expit
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderImputer

AE = "AutoencoderImputer"
ITERATIVE = "IterativeImputer"


def datasets(args):
    """(name, X, y, is_classification) of each data set, X complete and scaled."""
    X, y = load_digits(return_X_y=True)
    if args.quick:
        return [("digits", X[: args.quick_rows] / 16, y[: args.quick_rows], True)]
    sets = [("digits", X / 16, y, True)]
    for name, load, classification in [
        ("breast_cancer", load_breast_cancer, True),
        ("wine", load_wine, True),
        ("diabetes", load_diabetes, False),
    ]:
        X, y = load(return_X_y=True)
        sets.append((name, StandardScaler().fit_transform(X), y, classification))
    if args.data_dir is None:
        print("No --data-dir: MNIST is skipped (it needs the four MNIST IDX files).")
    else:
        from skae.datasets import load_mnist

        X, _, y, _ = load_mnist(args.data_dir)
        rows = args.mnist_rows
        sets.append(("MNIST", X[:rows].astype(np.float64), y[:rows], True))
    return sets


def mcar_mask(X, rate, rng):
    """Each entry missing with probability ``rate``, independently."""
    return rng.random(X.shape) < rate


def mar_mask(X, rate, rng, observed_share=0.3):
    """A random ``observed_share`` of the columns fully observed; each other column
    missing with probability ``sigmoid(X_obs @ w + b)``, ``w`` random normal scaled so
    that the logit has unit standard deviation, ``b`` found by bisection so that the
    column's mean probability makes the table's missing share ``rate``."""
    n, d = X.shape
    n_observed = max(1, round(observed_share * d))
    columns = rng.permutation(d)
    observed, holed = columns[:n_observed], columns[n_observed:]
    column_rate = rate * d / len(holed)
    if column_rate >= 1:
        raise ValueError(f"rate {rate} needs more than {len(holed)} columns with holes")
    X_obs = X[:, observed]
    X_obs = (X_obs - X_obs.mean(axis=0)) / np.where(X_obs.std(axis=0) > 0, X_obs.std(axis=0), 1)
    mask = np.zeros(X.shape, dtype=bool)
    for j in holed:
        logit = X_obs @ rng.standard_normal(n_observed)
        logit /= logit.std() if logit.std() > 0 else 1
        low, high = -50.0, 50.0
        for _ in range(60):  # mean sigmoid is increasing in the intercept
            middle = (low + high) / 2
            if expit(logit + middle).mean() < column_rate:
                low = middle
            else:
                high = middle
        mask[:, j] = rng.random(n) < expit(logit + (low + high) / 2)
    return mask


def imputers(args, seed, dataset):
    """name -> imputer of the table's rows, seeded by ``seed``."""
    makers = {
        "SimpleImputer (mean)": lambda: SimpleImputer(),
        "KNNImputer": lambda: KNNImputer(),
        ITERATIVE: lambda: IterativeImputer(max_iter=args.iterative_iter, random_state=seed),
        f"{ITERATIVE} (ExtraTrees)": lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=args.trees, random_state=seed),
            max_iter=args.trees_iter,
            random_state=seed,
        ),
        AE: lambda: AutoencoderImputer(max_iter=args.epochs, random_state=seed),
    }
    if dataset == "MNIST" and not args.mnist_iterative:
        del makers[ITERATIVE], makers[f"{ITERATIVE} (ExtraTrees)"]
    if args.quick:
        del makers[f"{ITERATIVE} (ExtraTrees)"]
    return makers


def downstream(X, y, classification, seed):
    """Mean 5-fold score of LogisticRegression (accuracy) or Ridge (R²) on ``X``."""
    if classification:
        model = LogisticRegression(max_iter=300)
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    else:
        model, folds = Ridge(), KFold(5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(cross_val_score(model, X, y, cv=folds).mean())


def measure(X, y, classification, mask, makers, seed):
    """name -> (RMSE on the masked entries, seconds, downstream score)."""
    X_holes = np.where(mask, np.nan, X)
    results = {}
    for name, make in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            seconds, X_filled = timed(make().fit_transform, X_holes)
        rmse = float(np.sqrt(((X_filled[mask] - X[mask]) ** 2).mean()))
        results[name] = (rmse, seconds, downstream(X_filled, y, classification, seed))
    return results


def verdict(dataset, stats):
    """Whether AutoencoderImputer meets its targets in one setting, and why not."""
    rmse = {name: values[0].mean() for name, values in stats.items()}
    best = min((r, name) for name, r in rmse.items() if name != AE)
    misses = []
    if dataset in ("digits", "MNIST"):
        if rmse[AE] >= best[0]:
            misses.append(f"RMSE {100 * (rmse[AE] / best[0] - 1):+.1f} % vs {best[1]}")
    elif rmse[AE] > 1.05 * best[0]:
        misses.append(f"RMSE {100 * (rmse[AE] / best[0] - 1):+.1f} % vs {best[1]}")
    if ITERATIVE in stats:
        ratio = stats[AE][1].mean() / stats[ITERATIVE][1].mean()
        if ratio >= 1:
            misses.append(f"time {ratio:.1f}x {ITERATIVE}'s")
    return "yes" if not misses else "no: " + "; ".join(misses)


def cell(values, digits):
    values = np.asarray(values)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument(
        "--mnist-rows", type=positive_int, default=5000, help="MNIST training rows used"
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=QuickDefault(3, 1), help="seeds (masks and imputers)"
    )
    parser.add_argument("--mnist-seeds", type=positive_int, default=3, help="seeds on MNIST")
    parser.add_argument(
        "--mnist-iterative",
        action="store_true",
        help="also run the IterativeImputers on MNIST (one round of the default one took "
        "over 6 minutes on 5,000 rows on a 2-core VM)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=QuickDefault(200, 5),
        help="AutoencoderImputer max_iter",
    )
    parser.add_argument(
        "--iterative-iter",
        type=positive_int,
        default=QuickDefault(10, 2),
        help="IterativeImputer rounds",
    )
    parser.add_argument("--trees", type=int, default=10, help="ExtraTrees of the missForest-like")
    parser.add_argument("--trees-iter", type=int, default=3, help="its IterativeImputer rounds")
    parser.add_argument("--quick-rows", type=int, default=300, help="digits rows with --quick")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="digits' first rows, 20 %% MCAR, no ExtraTrees",
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    settings = [("MCAR", 0.2), ("MCAR", 0.5), ("MAR", 0.2), ("MAR", 0.5)]
    if args.quick:
        settings = settings[:1]

    header = ["data", "mechanism", "rate", "imputer", "RMSE", "seconds", "downstream score"]
    header.append(f"{AE} target met")
    rows, notes = [], ["", "Downstream score on the complete tables (no holes):"]
    for dataset, X, y, classification in datasets(args):
        notes.append(f"{dataset} {downstream(X, y, classification, 0):.4f};")
        seeds = args.mnist_seeds if dataset == "MNIST" else args.seeds
        for mechanism, rate in settings:
            runs = []
            for seed in range(seeds):
                rng = np.random.default_rng([seed, round(100 * rate), int(mechanism == "MAR")])
                mask = (mcar_mask if mechanism == "MCAR" else mar_mask)(X, rate, rng)
                makers = imputers(args, seed, dataset)
                runs.append(measure(X, y, classification, mask, makers, seed))
            stats = {name: np.array([run[name] for run in runs]).T for name in runs[0]}
            met = verdict(dataset, stats)
            for name, (rmse, seconds, score) in stats.items():
                row = [dataset, mechanism, f"{rate:.0%}", name, cell(rmse, 4), cell(seconds, 2)]
                rows.append([*row, cell(score, 4), met if name == AE else ""])
    notes[-1] = notes[-1].rstrip(";") + "."
    score_kind = "accuracy (LogisticRegression), R² (Ridge) for diabetes"
    notes += [
        "",
        f"Mean ± std over {args.seeds} seed(s) ({args.mnist_seeds} on MNIST); downstream: "
        f"5-fold {score_kind}. AutoencoderImputer: {args.epochs} epochs; IterativeImputer: "
        f"max_iter={args.iterative_iter}; ExtraTrees variant: {args.trees} trees, "
        f"max_iter={args.trees_iter}.",
    ]
    report("Imputation RMSE, time and downstream score", header, rows, args.markdown, notes)


if __name__ == "__main__":
    main()
