"""Shared plumbing of the benchmark scripts: data, timing, memory, tables."""

import argparse
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def data_folder(text):
    """argparse type of ``--data-dir``: an existing folder, checked before any work."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return Path(text)


def positive_int(text):
    """argparse type of a count (epochs, repeats, rows, seeds): an int of at least 1,
    checked before the run (0 ran the default count, or failed in the run)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a count of at least 1")
    return value


class QuickDefault:
    """The default of an option that ``--quick`` changes. ``parse`` replaces it by
    ``full`` or ``quick``, so that a value given on the command line wins over both
    (``--quick --epochs 3`` runs 3 epochs), and ``--help`` shows the two."""

    def __init__(self, full, quick):
        self.full, self.quick = full, quick

    def __str__(self):
        return f"{self.full}; {self.quick} with --quick"


def parse(parser, argv=None):
    """``parser.parse_args(argv)``, with each option left at a ``QuickDefault`` given
    its value for this run (the parser must have ``--quick``)."""
    args = parser.parse_args(argv)
    for name, value in vars(args).items():
        if isinstance(value, QuickDefault):
            setattr(args, name, value.quick if args.quick else value.full)
    return args


def output_file(text):
    """argparse type of ``--markdown``: a file in an existing folder, checked before
    the run (a missing folder failed after it, the table only printed)."""
    path = Path(text)
    if path.is_dir() or not path.parent.is_dir():
        why = "it is a folder" if path.is_dir() else "its folder does not exist"
        raise argparse.ArgumentTypeError(f"cannot write the table to {text}: {why}")
    return path


def output_folder(text):
    """argparse type of a folder to write figures in: created now if it is missing,
    so that a path that cannot be one fails before the run."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write figures to {text}: {error}") from None
    return path


def load_data(data_dir, quick):
    """MNIST from ``data_dir`` as float32 in [0, 1]; with ``quick``, scikit-learn's
    digits instead (64 features), so the smoke run needs no download."""
    if quick:
        from sklearn.datasets import load_digits

        X = (load_digits().data / 16).astype(np.float32)
        return X[:1500], X[1500:]
    from skae.datasets import load_mnist

    X_train, X_test, _, _ = load_mnist(data_dir)
    return X_train, X_test


def seed_recipe(n_components, **params):
    """``skae.datasets.MNIST_RECIPE`` with ``n_components`` and ``params`` overridden."""
    from skae import AutoencoderTransformer
    from skae.datasets import MNIST_RECIPE

    return AutoencoderTransformer(**{**MNIST_RECIPE, "n_components": n_components, **params})


def machine():
    """One line naming the processor, cores and library versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def rss_mb():
    """Current resident memory of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss():
    """Make the kernel's peak-RSS mark (VmHWM) restart from the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb():
    """Peak resident memory (VmHWM) since start or the last ``reset_peak_rss``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(queue, fn, args):
    try:
        queue.put((True, fn(*args)))
    except BaseException as exc:  # report it, or the parent would wait forever
        queue.put((False, repr(exc)))
        raise


def in_fresh_process(fn, *args):
    """Run ``fn(*args)`` in a new process, so its memory marks are its own."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, fn, args))
    process.start()
    ok, result = queue.get()
    process.join()
    if not ok:
        raise RuntimeError(f"{fn.__name__}{args} failed in its process: {result}")
    return result


def launcher(quick):
    """How each measurement runs: ``in_fresh_process``, so that its memory marks are
    its own; for a ``--quick`` smoke run, in this process (its figures mean nothing
    anyway, and each fresh process costs seconds of imports)."""
    return (lambda fn, *args: fn(*args)) if quick else in_fresh_process


def squared_error_per_image(R, X):
    """Hinton and Salakhutdinov's metric: the squared error of each reconstruction
    in ``R`` of ``X``, summed over the pixels, averaged over the images."""
    return float(((R - X) ** 2).sum(axis=1).mean())


def markdown_table(header, rows):
    # a pipe inside a cell would split it (1 - min |cos|)
    def line(cells):
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), "|" + " --- |" * len(header), *(line(row) for row in rows)])


def report(title, header, rows, markdown_path, notes=()):
    """Print the table and, with ``markdown_path``, write it with the machine line."""
    table = markdown_table(header, rows)
    text = "\n".join([f"### {title}", "", f"Machine: {machine()}", "", table, *notes, ""])
    print(text)
    if markdown_path:
        Path(markdown_path).write_text(text)
    return text


class RescoredDetector:
    """A detector whose ``score_samples`` a subclass defines from the wrapped one's."""

    def __init__(self, detector):
        self.detector = detector

    def fit(self, X):
        self.detector.fit(X)
        return self


class PCAReconstructionError:
    """PCA's per-sample squared reconstruction error as an outlier score."""

    def __init__(self, n_components):
        from sklearn.decomposition import PCA

        self.pca = PCA(n_components, random_state=0)

    def fit(self, X):
        self.pca.fit(X)
        return self

    def score_samples(self, X):
        return -((X - self.pca.inverse_transform(self.pca.transform(X))) ** 2).mean(axis=1)


def one_class_table(makers, splits):
    """Header and rows of ROC AUC per normal class, mean AUC and fit seconds, for the
    detectors ``makers`` (name -> factory) over ``splits``: (class, train, test,
    is_anomaly) tuples. The anomalies are ranked by the negated ``score_samples``."""
    from sklearn.metrics import roc_auc_score

    auc = {name: [] for name in makers}
    seconds = dict.fromkeys(makers, 0.0)
    classes = []
    for normal, train, test, is_anomaly in splits:
        classes.append(normal)
        for name, make in makers.items():
            spent, detector = timed(make().fit, train)
            seconds[name] += spent
            auc[name].append(roc_auc_score(is_anomaly, -detector.score_samples(test)))
    header = ["detector", *[f"digit {c}" for c in classes], "mean AUC", "fit s (all)"]
    rows = [
        [name, *[f"{a:.4f}" for a in values], f"**{np.mean(values):.4f}**", f"{seconds[name]:.1f}"]
        for name, values in auc.items()
    ]
    return header, rows


def warm_up_torch():
    """Fit a tiny autoencoder once, so that no timed fit pays PyTorch's first-call
    start-up (about 3 s on a 2-core VM)."""
    import warnings

    from skae import AutoencoderTransformer

    X = np.random.default_rng(0).standard_normal((20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge
        AutoencoderTransformer(1, hidden_layer_sizes=(2,), max_iter=1, random_state=0).fit(X)
