"""
Deploying an outlier detector with ONNX
=======================================

A model that serves predictions should not need the library that trained it. This
example trains :class:`~skae.AutoencoderOutlierDetector` on the 8x8 digits, converts
it to ONNX with skl2onnx (``import skae.onnx`` registers skae's converters), saves
the ``.onnx`` file, then runs it in a fresh Python process that imports only
onnxruntime and NumPy: no PyTorch, no scikit-learn, no skae, no pickle. The outputs
that process computes are compared with skae's, and drawn.

Run it as a script (``--help`` lists the options)::

    python examples/onnx_export.py --out out/onnx
"""

# %%
# Options
# -------
#
# As a script, the example writes the model, its figure and the fresh process's
# outputs to the ``--out`` folder. The gallery and the tests run it with fewer epochs
# (``docs/_gallery_argv.py``).
import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(
    description="Deploying an outlier detector with ONNX",
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
)
parser.add_argument("--out", type=Path, default=Path("out/onnx"), help="output folder")
parser.add_argument("--epochs", type=int, default=100, help="training epochs")
parser.add_argument("--n-components", type=int, default=8, help="code width")
parser.add_argument("--seed", type=int, default=0, help="random_state of the fit")
# a notebook's kernel adds arguments of its own (-f, its connection file); anywhere
# else an unknown option is a typo, which would leave its option at the default
args, unknown = parser.parse_known_args()
if unknown and "ipykernel" not in sys.modules:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
args.out.mkdir(parents=True, exist_ok=True)

# %%
# Train a detector of zeros
# -------------------------
#
# The detector learns to reconstruct the zeros; ``contamination=0.05`` puts its
# threshold ``offset_`` at the 5 % quantile of the training scores. The pixels are
# scaled to [0, 1] for the Bernoulli loss, and cast to float32: ONNX graphs from
# scikit-learn models compute in float32.
import numpy as np
from sklearn.datasets import load_digits

from skae import AutoencoderOutlierDetector

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
detector = AutoencoderOutlierDetector(
    args.n_components,
    hidden_layer_sizes=(32,),
    output_activation="sigmoid",
    loss="bce",
    contamination=0.05,
    max_iter=args.epochs,
    n_iter_no_change=None,
    random_state=args.seed,
).fit(X[y == 0])

# %%
# Convert and save
# ----------------
#
# A detector's graph outputs ``label`` (``predict``) and ``scores``
# (``decision_function``), as scikit-learn's own detectors do. For monitoring, the
# options add the raw ``score_samples`` and the ``reconstruction`` of each image. The
# sample ``X[:1]`` gives the input's width and float type; the batch dimension stays
# dynamic.
from skl2onnx import to_onnx

import skae.onnx  # noqa: F401  registers skae's converters with skl2onnx

model = to_onnx(detector, X[:1], options={"score_samples": True, "reconstruction": True})
onnx_path = args.out / "zeros_detector.onnx"
onnx_path.write_bytes(model.SerializeToString())
print(f"wrote {onnx_path.name}: {onnx_path.stat().st_size / 1024:.0f} KiB")

# %%
# Run it where skae is not
# ------------------------
#
# A fresh process loads the file with onnxruntime, runs it on the digits and saves
# its outputs. It also reports which of the training libraries it imported: none.
import subprocess
import sys

SERVE = """
import sys
import numpy as np
import onnxruntime

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
X = np.load(sys.argv[2])
names = [output.name for output in session.get_outputs()]
outputs = session.run(None, {session.get_inputs()[0].name: X})
np.savez(sys.argv[3], **dict(zip(names, outputs)))
training = ("torch", "sklearn", "skorch", "skae", "skl2onnx")
print("training libraries imported:", [name for name in training if name in sys.modules])
"""
np.save(args.out / "digits.npy", X)
served = subprocess.run(
    [sys.executable, "-c", SERVE, onnx_path, args.out / "digits.npy", args.out / "served.npz"],
    capture_output=True,
    text=True,
    check=True,
)
print(served.stdout.strip())
outputs = np.load(args.out / "served.npz")

# %%
# The same numbers
# ----------------
#
# Each output against the skae method it stands for, on all 1797 digits: the largest
# absolute difference, and whether all agree to a relative 1e-5 (absolute 1e-6). The
# decision is the score minus ``offset_``, so its rounding is that of the score. The
# labels are compared away from the threshold: an image whose score lies within
# float32 rounding of ``offset_`` (a training image can sit exactly on it, since
# ``offset_`` is a quantile of the training scores) may fall either side.
expected = {
    "label": detector.predict(X),
    "scores": detector.decision_function(X),
    "score_samples": detector.score_samples(X),
    "reconstruction": detector.inverse_transform(detector.transform(X)),
}
scale = {"scores": np.abs(expected["score_samples"])}
print("| output | shape | max abs difference | agrees |")
print("| --- | --- | ---: | --- |")
near_threshold = np.abs(expected["scores"]) <= 1e-6 + 1e-5 * scale["scores"]
for name, want in expected.items():
    got = outputs[name].reshape(want.shape)
    difference = np.abs(got - want)
    tolerance = 1e-6 + 1e-5 * np.maximum(np.abs(want), scale.get(name, 0))
    if name == "label":
        tolerance = np.where(near_threshold, 2, 0)
    agrees = bool(np.all(difference <= tolerance))
    print(f"| {name} | {outputs[name].shape} | {difference.max():.2g} | {agrees} |")
flagged = outputs["label"][:, 0] == -1
print(
    f"flagged as not a zero: {flagged[y == 0].mean():.1%} of zeros, "
    f"{flagged[y != 0].mean():.1%} of other digits"
)

# %%
# What the served model sees
# --------------------------
#
# Left, each digit's score from the ONNX graph against skae's: one line. Right, the
# served reconstructions of a zero and of three other digits: the detector rebuilds
# zeros, and the others as zero-like blobs, which is why their score is low.
import matplotlib.pyplot as plt

fig = plt.figure(figsize=(8, 4.2))
grid = fig.add_gridspec(4, 3, width_ratios=[3.2, 1, 1])
ax = fig.add_subplot(grid[:, 0])
ax.scatter(
    expected["score_samples"], outputs["score_samples"][:, 0], s=6, c=y == 0, cmap="coolwarm"
)
ax.axvline(detector.offset_, color="gray", linestyle="--", linewidth=1)
ax.set_xlabel("skae score_samples")
ax.set_ylabel("onnxruntime score_samples")
ax.set_title("scores: zeros (red), other digits (blue)")
shown = [int(np.flatnonzero(y == digit)[0]) for digit in (0, 3, 5, 8)]
for i, row in enumerate(shown):
    for j, image in enumerate([X[row], outputs["reconstruction"][row]]):
        cell = fig.add_subplot(grid[i, 1 + j])
        cell.imshow(image.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
        cell.set_xticks([])
        cell.set_yticks([])
        if i == 0:
            cell.set_title(["digit", "served\nreconstruction"][j], fontsize=9)
fig.tight_layout()
fig.savefig(args.out / "onnx_scores.png", dpi=80)
print("wrote onnx_scores.png to the --out folder")
