"""
Mixed tabular data: one-hot and scaled columns into an autoencoder
==================================================================

Real tables mix numbers, categories, integers with missing values and strings. A
:class:`~sklearn.compose.ColumnTransformer` turns them into numbers (scaling the
numeric columns, one-hot encoding the others), and an autoencoder takes it from
there, as any scikit-learn step would: here once as a reducer in front of a
classifier, and once as an :class:`~skae.AutoencoderOutlierDetector` on the same
features, whose per-feature reconstruction errors
(:func:`skae.metrics.reconstruction_error` with ``per_feature=True``) say which
columns make a row anomalous. ``set_output(transform="pandas")`` carries the
feature names through every step.

The table is generated (no download): customers of a subscription service, with a
few rows whose values contradict each other planted as anomalies.

Run it as a script (``--help`` lists the options)::

    python examples/mixed_tabular.py --out out/tabular
"""

# %%
# Options
# -------
#
# As a script, the example writes its figure to the ``--out`` folder; the gallery and
# the tests train for a few epochs only (``docs/_gallery_argv.py``).
import argparse
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Mixed tabular data: one-hot and scaled columns into an autoencoder",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/tabular"), help="figure folder")
parser.add_argument("--epochs", type=int, default=100, help="training epochs")
parser.add_argument("--rows", type=int, default=3000, help="customers generated")
parser.add_argument("--seed", type=int, default=0, help="random_state of the data and fits")
# known arguments only: a notebook's kernel adds arguments of its own
args, _ = parser.parse_known_args()
args.out.mkdir(parents=True, exist_ok=True)

# %%
# A table of customers
# --------------------
#
# Four kinds of column: floats (``age``, ``monthly_fee``), a pandas categorical with 40
# levels (``city``), a nullable integer with missing values (``children``, dtype
# ``Int64``) and strings (``plan``). The plan sets the fee, and the label (``churned``)
# depends on the fee, the age and the city.
import numpy as np
import pandas as pd

rng = np.random.default_rng(args.seed)
n = args.rows
plans = np.array(["basic", "plus", "premium"])
plan = rng.choice(plans, size=n, p=[0.5, 0.3, 0.2])
fee = np.select([plan == "basic", plan == "plus"], [10.0, 25.0], 60.0) + rng.normal(0, 2, n)
age = rng.normal(40, 12, n).clip(18, 90)
cities = [f"city_{i:02d}" for i in range(40)]
city = rng.choice(cities, size=n, p=np.r_[np.full(10, 0.05), np.full(30, 0.5 / 30)])
children = pd.array(rng.poisson(1.2, n), dtype="Int64")
children[rng.random(n) < 0.1] = pd.NA
risk = 0.04 * (fee - 25) - 0.03 * (age - 40) + np.isin(city, cities[:5]) * 1.0
churned = (risk + rng.logistic(size=n) > 0.5).astype(int)
table = pd.DataFrame(
    {
        "age": age,
        "monthly_fee": fee,
        "city": pd.Categorical(city, categories=cities),
        "children": children,
        "plan": pd.Series(plan, dtype="string"),
    }
)
print(table.dtypes.to_string())

# %%
# From columns to features
# ------------------------
#
# Numbers (the nullable integer's missing values filled with its median) are
# standardized; the categorical and the string column are one-hot encoded. With
# pandas output the features keep their names (``num__age``, ``cat__city_city_07``,
# ...); a one-hot encoder must then return dense columns, which pandas holds. (With
# the default sparse output, and no pandas output, the autoencoder takes the sparse
# matrix too.)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

features = ColumnTransformer(
    [
        (
            "num",
            make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
            ["age", "monthly_fee", "children"],
        ),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city", "plan"]),
    ]
).set_output(transform="pandas")
encoded = features.fit_transform(table)
print(f"{encoded.shape[1]} features:", ", ".join(encoded.columns[:4]), "...")

# %%
# A reducer in front of a classifier
# ----------------------------------
#
# Features -> 6 codes -> logistic regression, against the classifier on all the
# features. The codes keep the autoencoder's names through ``set_output``.
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skae import AutoencoderOutlierDetector, AutoencoderTransformer

train, test = train_test_split(np.arange(n), test_size=0.25, random_state=0)
reduced = make_pipeline(
    features,
    AutoencoderTransformer(
        6, hidden_layer_sizes=(32,), max_iter=args.epochs, random_state=args.seed
    ),
    LogisticRegression(max_iter=1000),
)
reduced.set_output(transform="pandas")  # every step's output a DataFrame
full = make_pipeline(features, LogisticRegression(max_iter=1000))
print("| classifier on | test accuracy |")
print("| --- | ---: |")
for name, pipe in [("6 autoencoder codes", reduced), ("all features", full)]:
    pipe.fit(table.iloc[train], churned[train])
    print(f"| {name} | {pipe.score(table.iloc[test], churned[test]):.3f} |")
codes = reduced[:-1].transform(table.iloc[test[:3]])
print(type(codes).__name__, list(codes.columns))

# %%
# The same features, an outlier detector
# --------------------------------------
#
# Twenty planted rows contradict the rest: a premium plan at a basic fee, or a basic
# plan at a premium one. Each value on its own is ordinary; the combination is not,
# and that is what an autoencoder learns to reconstruct.
odd = rng.choice(n, size=20, replace=False)
planted = table.copy()
swap = planted.loc[odd, "plan"] == "premium"
planted.loc[odd, "plan"] = np.where(swap, "basic", "premium")
planted["plan"] = planted["plan"].astype("string")
is_planted = np.isin(np.arange(n), odd)

detector = make_pipeline(
    features,
    AutoencoderOutlierDetector(
        6,
        hidden_layer_sizes=(32,),
        contamination=0.01,
        max_iter=args.epochs,
        random_state=args.seed,
    ),
)
detector.fit(planted)
flagged = detector.predict(planted) == -1
print(f"flagged {flagged.sum()} rows, {flagged[is_planted].sum()} of the 20 planted")

# %%
# Which columns make a row anomalous
# ----------------------------------
#
# The squared reconstruction error of each feature of each row; its mean over the
# features is the row's error, the detector's score negated. Summing the one-hot
# features of each original column gives that column's share. Against the median
# row, the planted rows stand out by their plan, which contradicts their fee; the
# city, one of 40 levels that 6 codes cannot all hold, costs about as much in every
# row.
from skae.metrics import reconstruction_error

model = detector[-1]
X = detector[0].transform(planted)
per_feature = pd.DataFrame(
    reconstruction_error(model, X, per_feature=True), columns=X.columns, index=planted.index
)
assert np.allclose(per_feature.mean(axis=1), -model.score_samples(X))
column_of = {
    feature: next(c for c in table.columns if feature.split("__", 1)[1].startswith(c))
    for feature in X.columns
}
per_column = per_feature.T.groupby(column_of).sum().T[table.columns]
worst = per_feature.mean(axis=1).nlargest(8).index
print("median row:", per_column.median().round(2).to_dict())
print(per_column.loc[worst].round(2).to_string())

# %%
# The median row and the eight most anomalous ones, their error split by column.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(9, 3.8))
shares = pd.concat([per_column.median().to_frame("median").T, per_column.loc[worst]])
bottom = np.zeros(len(shares))
for column in table.columns:
    ax.bar(np.arange(len(shares)), shares[column], bottom=bottom, label=column)
    bottom += shares[column].to_numpy()
names = ["median"] + [f"{i}\n{'planted' if is_planted[i] else ''}" for i in worst]
ax.set_xticks(np.arange(len(shares)), names)
ax.set_xlabel("row")
ax.set_ylabel("squared error, summed per column")
ax.set_title("the most anomalous rows: which columns reconstruct badly")
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
fig.tight_layout()
fig.savefig(args.out / "anomalous_columns.png", dpi=80)
print("wrote anomalous_columns.png to the --out folder")
