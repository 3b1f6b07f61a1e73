"""Anomaly detection on a mixed table: categorical columns as categories (issue #35).

The table is ``bench_impute_mixed.py``'s generated one: a latent factor drives four
numeric columns, a count (nullable integers) and categorical columns of 3, 5, 10,
20 and 50 levels. Each detector trains on ``--train`` clean rows and scores
``--test`` clean rows with anomalies planted in ``--anomalies`` further rows of
each kind:

- categorical: one categorical column, drawn at random, takes the level that is
  least probable given the row's latent factor (among the levels seen in
  training): a common enough category that does not fit the row's other columns;
- numeric: two numeric columns, drawn at random, take their values from another
  random row: each value is ordinary on its own, but off the structure that ties
  it to the row's other columns.

The detectors, ranking the anomalies by the negated ``score_samples``:
``AutoencoderOutlierDetector(categorical_features="from_dtype")`` after a
``ColumnTransformer`` that standardizes the numeric columns and passes the
categories through; today's way, ``make_pipeline(ColumnTransformer(StandardScaler
+ OneHotEncoder), AutoencoderOutlierDetector())`` (the squared error averaged
over the one-hot codes, of which a column of ``k`` levels has ``k``); and
IsolationForest on the same one-hot encoding. Both autoencoders have the
estimator's defaults (a code of 2, one hidden layer of 100, training stopped when
the training loss has not improved for 10 epochs) with ``max_iter=--epochs``. The
table gives the ROC AUC per anomaly kind (against the clean test rows) and over
both kinds, the fit's seconds (PyTorch's first-call start-up paid by an untimed
warm-up fit) and the autoencoders' epochs, as mean ± standard deviation over the
seeds, each seed its own generated table.

    python benchmarks/bench_anomaly_mixed.py
    python benchmarks/bench_anomaly_mixed.py --quick      # small table, one seed, 5 epochs
"""

import argparse

import numpy as np
from _common import QuickDefault, output_file, parse, positive_int, report, timed, warm_up_torch
from bench_impute import cell
from bench_impute_mixed import mixed_table
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderOutlierDetector

KINDS = ("categorical", "numeric")


def planted(args, seed):
    """Training table, test table, and each test row's kind ("" when clean)."""
    rng = np.random.default_rng(seed)
    n_test = args.test + 2 * args.anomalies
    table, probabilities = mixed_table(args.train + n_test, rng, args.latent)
    train, test = table.iloc[: args.train], table.iloc[args.train :].reset_index(drop=True)
    kind = np.array([""] * args.test + [k for k in KINDS for _ in range(args.anomalies)])
    categorical = [c for c in table.columns if c in probabilities]
    numeric = [c for c in table.columns if c not in probabilities]
    for i in np.flatnonzero(kind == "categorical"):
        column = categorical[rng.integers(len(categorical))]
        # the generator names level j of a column "{column}_{j}"
        levels = np.array([f"{column}_{j}" for j in range(probabilities[column].shape[1])])
        seen = np.isin(levels, train[column].astype(object).unique())
        odds = np.where(seen, probabilities[column][args.train + i], np.inf)
        test.loc[i, column] = levels[odds.argmin()]
    for i in np.flatnonzero(kind == "numeric"):
        donor = rng.integers(args.train)
        for column in rng.choice(numeric, size=2, replace=False):
            test.loc[i, column] = train[column].iloc[donor]
    return train, test, kind, numeric, categorical


def detectors(args, seed, numeric, categorical):
    """name -> factory of each detector (a pipeline from the table)."""

    def one_hot():
        return ColumnTransformer(
            [
                ("num", StandardScaler(), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            ]
        )

    def scaled():
        return ColumnTransformer(
            [("num", StandardScaler(), numeric)],
            remainder="passthrough",
            verbose_feature_names_out=False,
        ).set_output(transform="pandas")

    def autoencoder(**params):
        return AutoencoderOutlierDetector(max_iter=args.epochs, random_state=seed, **params)

    return {
        'AutoencoderOutlierDetector(categorical_features="from_dtype")': lambda: make_pipeline(
            scaled(), autoencoder(categorical_features="from_dtype")
        ),
        "one-hot + AutoencoderOutlierDetector (squared error)": lambda: make_pipeline(
            one_hot(), autoencoder()
        ),
        "one-hot + IsolationForest": lambda: make_pipeline(
            one_hot(), IsolationForest(random_state=seed)
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--train", type=positive_int, default=QuickDefault(2000, 300), help="clean training rows"
    )
    parser.add_argument(
        "--test", type=positive_int, default=QuickDefault(1000, 100), help="clean test rows"
    )
    parser.add_argument(
        "--anomalies",
        type=positive_int,
        default=QuickDefault(50, 10),
        help="test rows of each kind",
    )
    parser.add_argument("--latent", type=int, default=2, help="the latent factor's dimensions")
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=QuickDefault(5, 1),
        help="seeds (tables and detectors)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=QuickDefault(200, 5),
        help="the autoencoders' max_iter",
    )
    parser.add_argument("--quick", action="store_true", help="small settings (for tests)")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)

    warm_up_torch()
    auc, seconds, epochs = {}, {}, {}
    for seed in range(args.seeds):
        train, test, kind, numeric, categorical = planted(args, seed)
        for name, make in detectors(args, seed, numeric, categorical).items():
            spent, detector = timed(make().fit, train)
            score = -detector.score_samples(test)
            seconds.setdefault(name, []).append(spent)
            epochs.setdefault(name, []).append(getattr(detector[-1], "n_iter_", np.nan))
            runs = auc.setdefault(name, {k: [] for k in (*KINDS, "all")})
            for k in KINDS:
                rows = np.isin(kind, ["", k])
                runs[k].append(roc_auc_score(kind[rows] == k, score[rows]))
            runs["all"].append(roc_auc_score(kind != "", score))

    header = ["detector", *[f"AUC, {k} anomalies" for k in KINDS], "AUC, all", "fit s"]
    header.append("epochs run")
    rows = [
        [
            name,
            *[cell(runs[k], 4) for k in (*KINDS, "all")],
            cell(seconds[name], 2),
            cell(epochs[name], 0) if not np.isnan(epochs[name]).any() else "",
        ]
        for name, runs in auc.items()
    ]
    notes = [
        "",
        f"Mean ± std over {args.seeds} seed(s), each its own table: {args.train} training "
        f"rows, {args.test} clean test rows and {args.anomalies} anomalies of each kind; "
        f"latent factor of {args.latent} dimensions; autoencoders: max_iter={args.epochs}, "
        "stopped early by their default n_iter_no_change=10 on the training loss.",
    ]
    report("ROC AUC on a mixed table, planted anomalies", header, rows, args.markdown, notes)


if __name__ == "__main__":
    main()
