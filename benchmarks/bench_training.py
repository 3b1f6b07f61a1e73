"""Table 1 (and 4 on a GPU): the seed MNIST recipe, hand-written PyTorch loops vs skae.

Seed recipe: 784 -> 36 -> 784, ReLU encoder, sigmoid decoder, binary cross-entropy,
Adam lr 1e-3, batch 256, 20 epochs, shuffled. Two hand-written loops stand beside
skae: the textbook one (``DataLoader(TensorDataset)``, ``nn.Sigmoid`` then
``nn.BCELoss``) and a bare one with the tricks skae uses (the loss on logits,
batches gathered with ``index_select`` from one tensor that sits on the device, fused
Adam), so that the ratio skae / bare loop is what skorch's bookkeeping costs. All run
in the same process, in rotating order; in repeat r all start from the same initial
weights (skae's seed for random_state=r), so the comparison is paired. The table
shows medians. One tiny warm-up fit of each comes first, so none pays PyTorch's
one-time imports inside its timing.

    python benchmarks/bench_training.py --data-dir ../shared/data/mnist
    python benchmarks/bench_training.py --quick            # smoke run on digits
    python benchmarks/bench_training.py --device cuda      # table 4
"""

import argparse
import cProfile
import pstats

import numpy as np
import torch
from _common import (
    QuickDefault,
    data_folder,
    load_data,
    output_file,
    parse,
    positive_int,
    report,
    seed_recipe,
    timed,
)
from torch import nn
from torch.nn import functional as F

from skae._random import _draw_seed


def plain_loop(X_train, epochs, seed, device, batch_size=256):
    # the same torch seed that AutoencoderTransformer(random_state=seed) derives, so
    # both start from identical weights and differ only in batch order and kernels:
    # with 20 epochs, the initial weights decide how many ReLU code units die
    torch.manual_seed(_draw_seed(seed))
    d = X_train.shape[1]
    model = nn.Sequential(nn.Linear(d, 36), nn.ReLU(), nn.Linear(36, d), nn.Sigmoid()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCELoss()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X_train)),
        batch_size=batch_size,
        shuffle=True,
    )
    for _ in range(epochs):
        for (xb,) in loader:
            xb = xb.to(device)
            optimizer.zero_grad()
            loss = criterion(model(xb), xb)
            loss.backward()
            optimizer.step()
    model.eval()

    def reconstruct(X):
        with torch.no_grad():
            return model(torch.from_numpy(X).to(device)).cpu().numpy()

    return reconstruct


def bare_loop(X_train, epochs, seed, device, batch_size=256):
    # the same initial weights as plain_loop and skae: encoder, then decoder
    torch.manual_seed(_draw_seed(seed))
    d = X_train.shape[1]
    encoder, decoder = nn.Linear(d, 36).to(device), nn.Linear(36, d).to(device)
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3, fused=True)
    X = torch.from_numpy(X_train).to(device)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator).to(device)
        for start in range(0, len(X), batch_size):
            xb = X.index_select(0, order[start : start + batch_size])
            optimizer.zero_grad()
            logits = decoder(torch.relu(encoder(xb)))
            F.binary_cross_entropy_with_logits(logits, xb).backward()
            optimizer.step()

    def reconstruct(X):
        with torch.no_grad():
            x = torch.from_numpy(X).to(device)
            return torch.sigmoid(decoder(torch.relu(encoder(x)))).cpu().numpy()

    return reconstruct


def skae_fit(X_train, epochs, seed, device, batch_size=256):
    # n_iter_no_change=None: a fixed budget of epochs, as in the loops
    ae = seed_recipe(
        36,
        batch_size=batch_size,
        max_iter=epochs,
        n_iter_no_change=None,
        random_state=seed,
        device=device,
    )
    ae.fit(X_train)
    return lambda X: ae.inverse_transform(ae.transform(X))


def test_errors(reconstruct, X_test):
    P = np.clip(reconstruct(X_test).astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -np.mean(X_test * np.log(P) + (1 - X_test) * np.log(1 - P))
    return bce, np.mean((X_test - P) ** 2)


def profile_rows(X_train, epochs, device, top=10):
    """Where the time of one skae fit goes (cProfile, self time): totals by whose
    code runs (torch's kernels and C functions, skorch, skae, the rest of Python),
    then the ``top`` functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    skae_fit(X_train, epochs, 0, device)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values())

    def owner(key):
        filename, _, name = key
        if "/skorch/" in filename:
            return "skorch (Python)"
        if "/skae/" in filename:
            return "skae (Python)"
        if filename == "~" and ("torch" in name or "Tensor" in name):
            return "torch kernels and C calls"
        if "/torch/" in filename:
            return "torch (Python)"
        return "other Python"

    groups = {}
    for key, row in stats.items():
        groups[owner(key)] = groups.get(owner(key), 0.0) + row[2]
    rows = [
        [group, f"{t:.3f}", f"{100 * t / total:.1f} %"]
        for group, t in sorted(groups.items(), key=lambda item: -item[1])
    ]
    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    rows += [
        [
            f"`{name}` ({filename.rsplit('/', 2)[-1] if filename != '~' else 'C'})",
            f"{row[2]:.3f}",
            f"{100 * row[2] / total:.1f} %",
        ]
        for (filename, _, name), row in ranked
    ]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument("--quick", action="store_true", help="digits")
    parser.add_argument("--epochs", type=positive_int, default=QuickDefault(20, 2), help="epochs")
    parser.add_argument(
        "--repeats", type=positive_int, default=QuickDefault(5, 1), help="paired repeats"
    )
    parser.add_argument("--device", default="cpu", help="PyTorch device, e.g. cuda")
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one skae fit: where its time goes"
    )
    args = parse(parser, argv)
    epochs, repeats = args.epochs, args.repeats
    X_train, X_test = load_data(args.data_dir, args.quick)

    runners = {
        "textbook PyTorch loop": plain_loop,
        "bare PyTorch loop, skae's tricks": bare_loop,
        "skae AutoencoderTransformer": skae_fit,
    }
    for runner in runners.values():  # warm-up: imports and first-call costs
        runner(X_train[:512], 1, 0, args.device)
    results = {name: [] for name in runners}
    names = list(runners)
    for repeat in range(repeats):
        # rotate the order, so no runner always goes first or last
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            seconds, reconstruct = timed(runners[name], X_train, epochs, repeat, args.device)
            results[name].append((seconds, *test_errors(reconstruct, X_test)))

    medians = {name: np.median(np.array(r), axis=0) for name, r in results.items()}
    base = medians["bare PyTorch loop, skae's tricks"][0]
    rows = [
        [name, f"{m[0]:.2f}", f"{m[0] / base:.3f}", f"{m[1]:.4f}", f"{m[2]:.4f}"]
        for name, m in medians.items()
    ]
    data = "digits (quick)" if args.quick else "MNIST"
    report(
        f"Seed recipe on {data}, {epochs} epochs, device {args.device}, median of {repeats}",
        ["implementation", "fit s", "ratio to bare loop", "test BCE", "test MSE"],
        rows,
        args.markdown,
        notes=[
            "",
            "Per repeat (fit s, test BCE, test MSE): "
            + "; ".join(
                f"{name}: " + ", ".join(f"({s:.1f}, {b:.4f}, {e:.4f})" for s, b, e in r)
                for name, r in results.items()
            ),
        ],
    )
    if args.profile:
        report(
            f"Where one skae fit's time goes ({epochs} epochs, cProfile self time)",
            ["code", "s", "share"],
            profile_rows(X_train, epochs, args.device),
            None,
        )


if __name__ == "__main__":
    main()
