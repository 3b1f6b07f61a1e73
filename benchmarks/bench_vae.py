"""The classic MNIST VAE: PyTorch's example loop against VAETransformer.

The recipe of PyTorch's example (784 -> 400 -> 20, ReLU, Bernoulli decoder, Adam
1e-3, batch 128, 10 epochs): the example written as its plain loop
(``DataLoader``, sigmoid then summed ``binary_cross_entropy`` plus the KL term), and
``VAETransformer`` with the same settings. Both start from the same initial
weights in repeat r and run alternately in one process; the test negative ELBO of
both is computed by one function (16 fixed antithetic posterior draws per image),
in nats per image. The table shows medians.

    python benchmarks/bench_vae.py --data-dir ../shared/data/mnist
    python benchmarks/bench_vae.py --quick
"""

import argparse

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
    timed,
)
from torch import nn
from torch.nn import functional as F

from skae import VAETransformer
from skae._random import _draw_seed
from skae._vae import _SCORE_DRAWS, _score_noise


class ExampleVAE(nn.Module):
    def __init__(self, d, hidden, k):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc21, self.fc22 = nn.Linear(hidden, k), nn.Linear(hidden, k)
        self.fc3, self.fc4 = nn.Linear(k, hidden), nn.Linear(hidden, d)

    def posterior(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):  # logits
        return self.fc4(F.relu(self.fc3(z)))


def example_loop(X_train, epochs, seed, hidden, k):
    # the same initial weights as VAETransformer(random_state=seed): same layers, same order
    torch.manual_seed(_draw_seed(seed))
    model = ExampleVAE(X_train.shape[1], hidden, k)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X_train)), batch_size=128, shuffle=True
    )
    for _ in range(epochs):
        for (x,) in loader:
            optimizer.zero_grad()
            mu, logvar = model.posterior(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            recon = torch.sigmoid(model.decode(z))
            bce = F.binary_cross_entropy(recon, x, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            (bce + kld).backward()
            optimizer.step()
    return model


def skae_fit(X_train, epochs, seed, hidden, k):
    vae = VAETransformer(
        k,
        hidden_layer_sizes=(hidden,),
        likelihood="bernoulli",
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=epochs,
        n_iter_no_change=None,
        random_state=seed,
    )
    return vae.fit(X_train).net_.module_


def test_negative_elbo(module, X):
    """Mean over the images of -ELBO in nats, one estimator for both models."""
    with torch.no_grad():
        x = torch.from_numpy(X)
        mu, logvar = module.posterior(x)
        nll = 0.0
        for eps in _score_noise(mu.shape[1], x.dtype):
            logits = module.decode(mu + torch.exp(0.5 * logvar) * eps)
            nll += F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kld = 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(1)
        return float((nll / _SCORE_DRAWS + kld).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=data_folder, default=None, help="folder with the MNIST IDX files"
    )
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs")
    parser.add_argument(
        "--repeats", type=positive_int, default=QuickDefault(3, 1), help="paired repeats"
    )
    parser.add_argument(
        "--markdown", type=output_file, default=None, help="write the table to this file"
    )
    args = parse(parser, argv)
    X_train, X_test = load_data(args.data_dir, args.quick)
    epochs, repeats = (2 if args.quick else 10), args.repeats
    hidden, k = (32, 4) if args.quick else (400, 20)
    runners = {"PyTorch example loop": example_loop, "skae VAETransformer": skae_fit}
    for run in runners.values():  # warm-up: imports and first-call costs
        run(X_train[:512], 1, 0, hidden, k)
    results = {name: [] for name in runners}
    for repeat in range(repeats):
        for name in list(runners)[:: 1 if repeat % 2 == 0 else -1]:
            seconds, module = timed(runners[name], X_train, epochs, repeat, hidden, k)
            results[name].append((seconds, test_negative_elbo(module, X_test)))
    medians = {name: np.median(np.array(r), axis=0) for name, r in results.items()}
    base = medians["PyTorch example loop"][0]
    rows = [[n, f"{m[0]:.1f}", f"{m[0] / base:.2f}", f"{m[1]:.2f}"] for n, m in medians.items()]
    data = "digits (quick)" if args.quick else "MNIST"
    report(
        f"Classic VAE on {data}, {epochs} epochs, median of {repeats}",
        ["implementation", "fit s", "ratio to loop", "test -ELBO (nats/image)"],
        rows,
        args.markdown,
        notes=[
            "",
            "Per repeat (fit s, test -ELBO): "
            + "; ".join(
                f"{name}: " + ", ".join(f"({s:.1f}, {e:.2f})" for s, e in r)
                for name, r in results.items()
            ),
        ],
    )


if __name__ == "__main__":
    main()
