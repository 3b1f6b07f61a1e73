"""
Mixed tabular data: categorical columns as categories
=====================================================

Real tables mix numbers and categories, with holes in both. Here the Palmer penguins
(344 penguins of three species on three islands: bill, flipper and body measurements,
sex; ``palmerpenguins.load_penguins()``, shipped with the package, no download) go
into skae's autoencoders as they are: ``categorical_features="from_dtype"`` makes the
estimator encode the string columns itself, each reconstructed by a softmax head, so
that ``inverse_transform`` gives back species, islands and sexes. The same model fills
missing categories (:class:`~skae.AutoencoderImputer`) and flags penguins whose
measurements contradict their species (:class:`~skae.AutoencoderOutlierDetector`),
whose per-column errors (:func:`skae.metrics.reconstruction_error` with
``per_feature=True``) say which column is odd.

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
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Mixed tabular data: categorical columns as categories",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/tabular"), help="figure folder")
parser.add_argument("--epochs", type=int, default=300, help="training epochs")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# The penguins
# ------------
#
# Four measurements (floats, 2 rows missing them), three string columns (``species``,
# ``island``, and ``sex`` with 11 missing) and the year, left out here.
import numpy as np
import pandas as pd
from palmerpenguins import load_penguins

table = load_penguins().drop(columns="year")
numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
print(table.dtypes.to_string())

# %%
# Categories in, categories out
# -----------------------------
#
# The measurements are standardized (a :class:`~sklearn.compose.ColumnTransformer`
# with pandas output, the string columns passed through); the autoencoder encodes the
# string columns itself: one input per category, one softmax head per column, each
# column counting once in the loss, a categorical one by its cross-entropy. Missing
# entries, numbers and categories alike, are missing values.
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

scale = ColumnTransformer(
    [("num", StandardScaler(), numbers)],
    remainder="passthrough",
    verbose_feature_names_out=False,
).set_output(transform="pandas")
settings = dict(
    hidden_layer_sizes=(32,),
    max_iter=args.epochs,
    n_iter_no_change=None,
    learning_rate_init=0.01,
    random_state=args.seed,
)
ae = make_pipeline(
    scale, AutoencoderTransformer(3, categorical_features="from_dtype", **settings)
).fit(table)
model = ae[-1]
categorical = model.feature_names_in_[model.is_categorical_]
print("categories_:", {c: list(v) for c, v in zip(categorical, model.categories_, strict=True)})
X = ae[0].transform(table)
rebuilt = model.inverse_transform(model.transform(X))
print(type(rebuilt).__name__, dict(rebuilt.dtypes.astype(str)))
print("| column | reconstructed from 3 codes |")
print("| --- | ---: |")
for column in ["species", "island", "sex"]:
    seen = table[column].notna()
    share = (rebuilt[column][seen].astype(str) == table[column][seen]).mean()
    print(f"| {column} | {share:.1%} |")

# %%
# Filling missing categories
# --------------------------
#
# A fifth of the species is hidden, and the imputer fills each hole with its head's
# most probable category, from the measurements and the island; observed entries come
# back untouched.
from skae import AutoencoderImputer

rng = np.random.default_rng(args.seed)
hidden = rng.random(len(table)) < 0.2
holes = X.copy()
holes.loc[hidden, "species"] = np.nan
imputer = AutoencoderImputer(
    n_components=8, categorical_features="from_dtype", **settings | {"hidden_layer_sizes": (64,)}
)
filled = imputer.fit_transform(holes)
right = (filled["species"][hidden].astype(str) == table["species"][hidden]).mean()
print(f"| species filled correctly | {right:.1%} of {hidden.sum()} |")

# %%
# Penguins that contradict their species
# --------------------------------------
#
# Ten penguins get the wrong species: each label is ordinary, each measurement too,
# but not together, which is what the autoencoder reconstructs badly. One code is
# enough to hold a penguin's build (with it the species) and too little to memorize
# a label that contradicts it; with three codes the network learns the planted labels
# by heart and flags 2 of them.
from skae import AutoencoderOutlierDetector
from skae.metrics import reconstruction_error

odd = rng.choice(len(table), size=10, replace=False)
planted = X.copy()
planted.loc[odd, "species"] = planted.loc[odd, "species"].map(
    {"Adelie": "Gentoo", "Gentoo": "Adelie", "Chinstrap": "Gentoo"}
)
is_planted = np.isin(np.arange(len(table)), odd)
detector = AutoencoderOutlierDetector(
    1, contamination=0.04, categorical_features="from_dtype", **settings
).fit(planted)
flagged = detector.predict(planted) == -1
print(f"flagged {flagged.sum()} penguins, {flagged[is_planted].sum()} of the 10 planted")

# %%
# Which column makes a penguin anomalous
# --------------------------------------
#
# One error per original column: the squared error of a standardized measurement, the
# cross-entropy (in nats) of a categorical column. Their mean over a row's observed
# columns is its error, the detector's score negated.
errors = pd.DataFrame(
    reconstruction_error(detector, planted, per_feature=True), columns=planted.columns
)
assert np.allclose(errors.mean(axis=1, skipna=True), -detector.score_samples(planted))
worst = errors.mean(axis=1).nlargest(8).index
print("median penguin:", errors.median().round(2).to_dict())
print(errors.loc[worst].round(2).to_string())

# %%
# The median penguin and the eight most anomalous ones, their error split by column.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(9, 3.8))
shares = pd.concat([errors.median().to_frame("median").T, errors.loc[worst]]).fillna(0)
bottom = np.zeros(len(shares))
for column in planted.columns:
    ax.bar(np.arange(len(shares)), shares[column], bottom=bottom, label=column)
    bottom += shares[column].to_numpy()
names = ["median"] + [f"{i}\n{'planted' if is_planted[i] else ''}" for i in worst]
ax.set_xticks(np.arange(len(shares)), names)
ax.set_xlabel("penguin")
ax.set_ylabel("error per column")
ax.set_title("the most anomalous penguins: which columns reconstruct badly")
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
fig.tight_layout()
fig.savefig(args.out / "anomalous_columns.png", dpi=80)
print("wrote anomalous_columns.png to the --out folder")
