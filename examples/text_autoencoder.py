"""
Text through an autoencoder: TF-IDF features, sparse all the way
================================================================

A bag-of-words matrix is wide and almost empty: here 1,200 short documents over a
vocabulary of a few hundred words, about 2 % of the entries non-zero. scikit-learn's
:class:`~sklearn.feature_extraction.text.TfidfVectorizer` returns it as a sparse
matrix, and an :class:`~skae.AutoencoderTransformer` takes it as it is: its first
layer multiplies the stored entries only, never a densified batch, and with
``reconstruction_sampling`` its loss reconstructs each row's non-zeros and a random,
importance-weighted sample of its zeros (Dauphin, Glorot and Bengio, 2011), so that
the decoder computes a small share of its output. The codes then feed a classifier,
in one :class:`~sklearn.pipeline.Pipeline`, next to the same pipeline with
:class:`~sklearn.decomposition.TruncatedSVD` (latent semantic analysis),
scikit-learn's linear reducer for sparse input.

The documents are generated (no download): each is about one of four topics, with
words of its topic, words every topic uses, and a few stray words of other topics.

Run it as a script (``--help`` lists the options)::

    python examples/text_autoencoder.py --out out/text
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
    description="Text through an autoencoder: TF-IDF features, sparse all the way",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/text"), help="figure folder")
parser.add_argument("--epochs", type=int, default=40, help="training epochs")
parser.add_argument("--documents", type=int, default=1200, help="documents generated")
parser.add_argument("--seed", type=int, default=0, help="random_state of the data and fits")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Documents about four topics
# ---------------------------
#
# Each topic has 60 words of its own (``space0`` ... ``space59``, and so on), and every
# document draws 12 to 30 words: 60 % from its topic, 30 % from 80 words all topics
# share, 10 % from the other topics.
import numpy as np

rng = np.random.default_rng(args.seed)
topics = ["space", "cooking", "football", "finance"]
shared = [f"common{i}" for i in range(80)]
vocabulary = {topic: [f"{topic}{i}" for i in range(60)] for topic in topics}


def document(topic):
    words = []
    for _ in range(rng.integers(12, 31)):
        draw = rng.random()
        if draw < 0.6:
            words.append(rng.choice(vocabulary[topic]))
        elif draw < 0.9:
            words.append(rng.choice(shared))
        else:
            other = rng.choice([t for t in topics if t != topic])
            words.append(rng.choice(vocabulary[other]))
    return " ".join(words)


labels = rng.integers(0, len(topics), size=args.documents)
documents = [document(topics[label]) for label in labels]
print(documents[0][:70], "...")

# %%
# The sparse matrix
# -----------------
#
# TF-IDF weights, each row scaled to unit length: a CSR matrix of float64.
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

tfidf = TfidfVectorizer()
X = tfidf.fit_transform(documents)
print(
    f"{X.shape[0]} documents x {X.shape[1]} words, {X.nnz:,} non-zeros "
    f"({X.nnz / np.prod(X.shape):.1%}), sparse: {sp.issparse(X)}"
)

# %%
# Two pipelines, one classifier
# -----------------------------
#
# Text -> TF-IDF -> 8 codes -> logistic regression, with the autoencoder or with
# TruncatedSVD as the reducer. The autoencoder's reconstruction is a squared error on
# the TF-IDF weights; one hidden layer of 64 units and 8 codes. Rows of unit length
# spread over hundreds of columns make a small loss (about 0.003 per value here),
# and the default weight decay (``alpha=1e-4``) outweighs it: the network would learn
# to output the mean document, whatever its input, and the classifier would guess.
# ``alpha=0`` lets the reconstruction speak. The second autoencoder reconstructs, for
# each document, its words and a tenth of the vocabulary drawn at random (each drawn
# zero weighted by the inverse of its chance), an unbiased estimate of the full loss
# at a fraction of the decoder's work; on a vocabulary of tens of thousands of words
# that fraction is most of an epoch's time (:doc:`/performance`, table 20).
from sklearn.base import clone
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer
from skae.metrics import reconstruction_error

train, test = train_test_split(np.arange(args.documents), test_size=0.25, random_state=0)
docs_train = [documents[i] for i in train]
docs_test = [documents[i] for i in test]
autoencoder = AutoencoderTransformer(
    8,
    hidden_layer_sizes=(64,),
    alpha=0.0,
    batch_size=64,
    max_iter=args.epochs,
    n_iter_no_change=None,
    random_state=args.seed,
)
reducers = {
    "autoencoder": autoencoder,
    "autoencoder, reconstruction_sampling=0.1": clone(autoencoder).set_params(
        reconstruction_sampling=0.1
    ),
    "TruncatedSVD": TruncatedSVD(8, random_state=args.seed),
}
pipelines = {
    name: make_pipeline(TfidfVectorizer(), reducer, LogisticRegression(max_iter=1000))
    for name, reducer in reducers.items()
}
print("| reducer | test accuracy | held-out squared error per word, x 1000 |")
print("| --- | ---: | ---: |")
for name, pipe in pipelines.items():
    pipe.fit(docs_train, labels[train])
    error = reconstruction_error(pipe[1], pipe[0].transform(docs_test)).mean()
    print(f"| {name} | {pipe.score(docs_test, labels[test]):.3f} | {1000 * error:.3f} |")

# %%
# The codes of the test documents
# -------------------------------
#
# The first two of the eight codes of each reducer, coloured by topic. TruncatedSVD
# does not center, so its first direction is the words every document shares, and
# its first two codes set two topics apart and mix the other two; each autoencoder's
# first two already place the four topics apart, with some overlap, whether it
# reconstructed every word or a sample. On all eight codes every classifier
# separates the topics, and the sampled loss reached about the same held-out error
# as the full one (the table above).
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, (name, pipe) in zip(axes, pipelines.items(), strict=True):
    codes = pipe[:-1].transform(docs_test)
    for label, topic in enumerate(topics):
        mine = labels[test] == label
        ax.scatter(codes[mine, 0], codes[mine, 1], s=8, label=topic)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("code 0")
    ax.set_ylabel("code 1")
axes[-1].legend(loc="upper left", bbox_to_anchor=(1, 1))
fig.tight_layout()
fig.savefig(args.out / "text_codes.png", dpi=80)
print("wrote text_codes.png to the --out folder")
