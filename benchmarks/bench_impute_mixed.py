"""Imputation of mixed tables: AutoencoderImputer with categorical columns (issue #35).

Two tables mix numbers and categories. The Palmer penguins (344 rows; species,
island and sex categorical, the four measurements numeric, the year left out) keep
their real holes (2 rows without measurements, 11 without sex). A generated table
has a known structure: a latent factor of ``--latent`` dimensions drives every
column, so that the columns predict each other; four numeric columns (two linear
in it, two not), a count in a nullable integer column (``pd.Int64Dtype()``) and
categorical columns of 3, 5, 10, 20 and 50 levels (each level's logit linear in the
factor, the level drawn from their softmax).

On top of any real holes, entries are removed with ``bench_impute.py``'s masks:
completely at random (MCAR) or at random given observed columns (MAR, driven by
the numeric values and the categories' codes, a real hole counting as its
column's mean), 20 % or 50 % of the table's entries. Only removed entries that
were observed are scored: the RMSE of the numeric ones, each numeric column
standardized by the mean and standard deviation of its observed values before the
removal, and the share of the categorical ones filled with the right category.
The table gives, as mean ± standard deviation over the seeds, both scores and the
imputer's seconds (``fit_transform`` with its encoding and decoding; PyTorch's
first-call start-up is paid by an untimed warm-up fit).

The imputers: SimpleImputer (mean for numbers, most frequent category);
KNNImputer and IterativeImputer on one-hot codes (the numeric columns standardized
by their observed values, each categorical column one column per observed
category, its block missing whole where the entry is, and decoded as the
category of the block's largest imputed value). IterativeImputer is given each
block without its first column, whose value is then 1 minus the sum of the
others: given the whole block, its chained regressions learn that each column is
exactly 1 minus the others, the filled blocks stay at their initial means, and
every filled category is the most frequent one (a first run of this script gave
it SimpleImputer's accuracy to the last digit in every setting). miceforest
(LightGBM chained equations, if installed) on the table, with
``mean_match_candidates=0`` so that it gives its best guess (the most probable
category, the predicted number) rather than a random draw for multiple
imputation; and ``AutoencoderImputer(categorical_features="from_dtype")`` on the
table as it is (category columns, the count as Int64), which standardizes the
numbers itself.

AutoencoderImputer's target: the best categorical accuracy and a numeric RMSE
within 5 % of the best; the last column says whether each is met.

    python benchmarks/bench_impute_mixed.py
    python benchmarks/bench_impute_mixed.py --quick   # generated table, 200 rows, one setting
"""

import argparse
import warnings

import numpy as np
import pandas as pd
from _common import QuickDefault, output_file, parse, positive_int, report, timed, warm_up_torch
from bench_impute import cell, mar_mask, mcar_mask
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from skae import AutoencoderImputer

AE = "AutoencoderImputer"
CATEGORICAL = ["species", "island", "sex"]  # the penguins'
LEVELS = (3, 5, 10, 20, 50)


def mixed_table(n, rng, latent=2, sharpness=2.0):
    """A generated mixed table of ``n`` rows, and each categorical column's level
    probabilities given the row's latent factor (name -> ``n`` x levels)."""
    z = rng.standard_normal((n, latent))
    signal = z @ rng.standard_normal((latent, 5)) / np.sqrt(latent)
    noise = 0.3 * rng.standard_normal((n, 5))
    columns = {
        "linear_1": signal[:, 0] + noise[:, 0],
        "linear_2": 10 + 3 * (signal[:, 1] + noise[:, 1]),
        "sine": np.sin(2 * signal[:, 2]) + noise[:, 2],
        "square": signal[:, 3] ** 2 + noise[:, 3],
        "count": pd.array(rng.poisson(np.exp(1.5 + 0.7 * signal[:, 4])), dtype="Int64"),
    }
    probabilities = {}
    for levels in LEVELS:
        name = f"category_{levels}"
        logits = sharpness * z @ rng.standard_normal((latent, levels))
        probabilities[name] = softmax(logits, axis=1)
        codes = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)  # a softmax draw
        labels = np.array([f"{name}_{i}" for i in range(levels)], dtype=object)
        columns[name] = pd.Categorical(labels[codes])
    return pd.DataFrame(columns), probabilities


def datasets(args):
    """(name, table, is_categorical) of each table, missing entries as NaN / NA."""
    generated = mixed_table(args.rows, np.random.default_rng(args.table_seed), args.latent)[0]
    sets = [("generated", generated)]
    if not args.quick:
        from palmerpenguins import load_penguins

        penguins = load_penguins().drop(columns="year")
        sets.insert(0, ("penguins", penguins.astype({c: "category" for c in CATEGORICAL})))
    return [(name, table, table.dtypes.map(_is_category).to_numpy()) for name, table in sets]


def _is_category(dtype):
    return isinstance(dtype, pd.CategoricalDtype)


def split(table, is_categorical):
    """The numeric columns as a float array (NaN where missing) and the categorical
    ones as an object array (NaN where missing)."""
    numeric = table.loc[:, ~is_categorical].astype("float64").to_numpy()
    categories = table.loc[:, is_categorical].astype(object)
    return numeric, categories.where(categories.notna(), np.nan).to_numpy()


def driver(numeric, categories):
    """Per original column, numbers that drive the MAR mask: the numeric values and
    the categories' codes, a missing entry at its column's mean."""
    codes = np.column_stack([pd.Categorical(column).codes.astype(float) for column in categories.T])
    codes[codes < 0] = np.nan
    values = np.hstack([numeric, codes])
    return np.where(np.isnan(values), np.nanmean(values, axis=0), values)


def one_hot(numeric, categories):
    """The one-hot codes: standardized numbers, then one block per categorical
    column (one column per observed category, NaN whole where missing); with each
    block's categories and the numbers' mean and scale."""
    mean, scale = np.nanmean(numeric, axis=0), np.nanstd(numeric, axis=0)
    scale[scale == 0] = 1
    blocks, levels = [(numeric - mean) / scale], []
    for column in categories.T:
        missing = pd.isna(column)
        observed = np.unique(column[~missing].astype(str))
        block = (column.astype(str)[:, None] == observed[None, :]).astype(float)
        block[missing] = np.nan
        blocks.append(block)
        levels.append(observed)
    return np.hstack(blocks), levels, mean, scale


def decode(codes, levels, mean, scale):
    """Imputed one-hot codes back to numbers and categories (each block's argmax)."""
    n_numeric = len(mean)
    numeric = codes[:, :n_numeric] * scale + mean
    start, columns = n_numeric, []
    for observed in levels:
        columns.append(observed[codes[:, start : start + len(observed)].argmax(axis=1)])
        start += len(observed)
    return numeric, np.column_stack(columns).astype(object)


def on_one_hot(make, drop_first=False):
    """An imputer of the one-hot codes; with ``drop_first``, of the codes without
    each block's first column, which is then 1 minus the sum of the others."""

    def impute(table, is_categorical, seed):
        codes, levels, mean, scale = one_hot(*split(table, is_categorical))
        first = len(mean) + np.cumsum([0, *map(len, levels[:-1])])
        kept = ~np.isin(np.arange(codes.shape[1]), first) if drop_first else slice(None)
        codes[:, kept] = make(seed).fit_transform(codes[:, kept])
        if drop_first:
            for start, observed in zip(first, levels, strict=True):
                codes[:, start] = 1 - codes[:, start + 1 : start + len(observed)].sum(axis=1)
        return decode(codes, levels, mean, scale)

    return impute


def simple(table, is_categorical, seed):
    numeric, categories = split(table, is_categorical)
    frequent = SimpleImputer(strategy="most_frequent", missing_values=np.nan)
    return SimpleImputer().fit_transform(numeric), frequent.fit_transform(categories)


def with_miceforest(iterations):
    import miceforest

    def impute(table, is_categorical, seed):
        # LightGBM takes floats with NaN, not pandas' nullable integers
        frame = table.astype({c: "float64" for c in table.columns[~is_categorical]})
        kernel = miceforest.ImputationKernel(frame, mean_match_candidates=0, random_state=seed)
        kernel.mice(iterations, verbose=False)
        return split(kernel.complete_data(0), is_categorical)

    return impute


def autoencoder(epochs):
    def impute(table, is_categorical, seed):
        imputer = AutoencoderImputer(
            categorical_features="from_dtype", max_iter=epochs, random_state=seed
        )
        return split(imputer.fit_transform(table), is_categorical)

    return impute


def imputers(args):
    """name -> function(table, is_categorical, seed) -> (numbers, categories)."""
    makers = {
        "SimpleImputer (mean, most frequent)": simple,
        "KNNImputer (one-hot)": on_one_hot(lambda seed: KNNImputer()),
        "IterativeImputer (one-hot, first level dropped)": on_one_hot(
            lambda seed: IterativeImputer(max_iter=args.iterative_iter, random_state=seed),
            drop_first=True,
        ),
    }
    try:
        makers["miceforest"] = with_miceforest(args.mice_iter)
    except ImportError:
        print("miceforest is not installed: its row is skipped (pip install miceforest).")
    makers[AE] = autoencoder(args.epochs)
    return makers


def measure(table, is_categorical, mask, makers, seed):
    """name -> (numeric RMSE, categorical accuracy, seconds) on the removed entries."""
    numeric, categories = split(table, is_categorical)
    observed = ~np.hstack([np.isnan(numeric), pd.isna(categories)])
    # the mask's columns are those of ``split``: the numbers, then the categories
    removed = mask & observed
    order = np.r_[np.flatnonzero(~is_categorical), np.flatnonzero(is_categorical)]
    n_numeric = numeric.shape[1]
    removed_numeric, removed_category = removed[:, :n_numeric], removed[:, n_numeric:]
    holes = table.copy()
    for k, j in enumerate(order):
        holes.iloc[removed[:, k], j] = np.nan
    scale = np.nanstd(numeric, axis=0)
    results = {}
    for name, impute in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # miceforest's advice to group the 20- and 50-level columns' rare levels
            warnings.filterwarnings("ignore", "[^ ]+ have very rare categories")
            seconds, (filled, chosen) = timed(impute, holes, is_categorical, seed)
        errors = ((filled - numeric) / scale)[removed_numeric]
        right = chosen[removed_category].astype(str) == categories[removed_category].astype(str)
        results[name] = (float(np.sqrt((errors**2).mean())), float(right.mean()), seconds)
    return results


def verdict(stats):
    """Whether AutoencoderImputer meets its target in one setting, and why not."""
    rmse = {name: values[0].mean() for name, values in stats.items()}
    accuracy = {name: values[1].mean() for name, values in stats.items()}
    best_rmse = min((r, name) for name, r in rmse.items() if name != AE)
    best_accuracy = max((a, name) for name, a in accuracy.items() if name != AE)
    misses = []
    if accuracy[AE] < best_accuracy[0]:
        misses.append(
            f"accuracy {100 * (accuracy[AE] - best_accuracy[0]):+.1f} points vs {best_accuracy[1]}"
        )
    if rmse[AE] > 1.05 * best_rmse[0]:
        misses.append(f"RMSE {100 * (rmse[AE] / best_rmse[0] - 1):+.1f} % vs {best_rmse[1]}")
    return "yes" if not misses else "no: " + "; ".join(misses)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=QuickDefault(1000, 200),
        help="rows of the generated table",
    )
    parser.add_argument("--latent", type=int, default=2, help="its latent factor's dimensions")
    parser.add_argument("--table-seed", type=int, default=0, help="seed of the generated table")
    parser.add_argument(
        "--seeds", type=positive_int, default=QuickDefault(3, 1), help="seeds (masks and imputers)"
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
    parser.add_argument(
        "--mice-iter", type=positive_int, default=QuickDefault(5, 1), help="miceforest iterations"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the generated table only, 20 %% MCAR",
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    settings = [("MCAR", 0.2), ("MCAR", 0.5), ("MAR", 0.2), ("MAR", 0.5)]
    if args.quick:
        settings = settings[:1]

    header = ["data", "mechanism", "rate", "imputer", "numeric RMSE", "categorical accuracy"]
    header += ["seconds", f"{AE} target met"]
    rows, notes = [], [""]
    makers = imputers(args)
    warm_up_torch()
    for dataset, table, is_categorical in datasets(args):
        numeric, categories = split(table, is_categorical)
        real = np.isnan(numeric).sum() + pd.isna(categories).sum()
        notes.append(
            f"{dataset}: {len(table)} rows, {int((~is_categorical).sum())} numeric and "
            f"{int(is_categorical.sum())} categorical columns, {real} real holes;"
        )
        for mechanism, rate in settings:
            runs = []
            for seed in range(args.seeds):
                rng = np.random.default_rng([seed, round(100 * rate), int(mechanism == "MAR")])
                values = driver(numeric, categories)
                mask = (mcar_mask if mechanism == "MCAR" else mar_mask)(values, rate, rng)
                runs.append(measure(table, is_categorical, mask, makers, seed))
            stats = {name: np.array([run[name] for run in runs]).T for name in runs[0]}
            met = verdict(stats)
            for name, (rmse, accuracy, seconds) in stats.items():
                row = [dataset, mechanism, f"{rate:.0%}", name, cell(rmse, 4)]
                row += [cell(accuracy, 4), cell(seconds, 2), met if name == AE else ""]
                rows.append(row)
    notes[-1] = notes[-1].rstrip(";") + "."
    notes += [
        "",
        f"Mean ± std over {args.seeds} seed(s). Numeric RMSE in standard deviations of "
        "each column's observed values; categorical accuracy: the share of removed "
        f"categories filled right. AutoencoderImputer: defaults, {args.epochs} epochs; "
        f"IterativeImputer: max_iter={args.iterative_iter}; miceforest: "
        f"{args.mice_iter} iterations, mean_match_candidates=0. Generated table: "
        f"latent factor of {args.latent} dimensions, table seed {args.table_seed}.",
    ]
    report("Imputation of mixed tables: numbers and categories", header, rows, args.markdown, notes)


if __name__ == "__main__":
    main()
