"""The losses in torch alone (skae/_losses.py): weighted means of the rows, the
Bernoulli divergence of a reconstruction."""

import numpy as np
import torch

from skae._losses import _bernoulli_divergence, _NegativeELBO, _ReconstructionLoss


def test_the_losses_are_weighted_means_of_the_rows():
    rng = np.random.default_rng(0)
    raw, x = torch.tensor(rng.normal(size=(6, 3))), torch.tensor(rng.random((6, 3)))
    codes = torch.tensor(rng.random((6, 2)))
    weight = torch.tensor([0.0, 1.0, 2.0, 0.5, 1.5, 1.0])
    per_row = ((raw - x) ** 2).mean(dim=1)
    loss = _ReconstructionLoss()((raw, codes), x, weight)
    torch.testing.assert_close(loss, (weight * per_row).mean())
    sparse = _ReconstructionLoss(sparsity=0.1)((raw, codes), x, weight)
    l1 = (weight[:, None] * codes.abs()).mean()
    torch.testing.assert_close(sparse, (weight * per_row).mean() + 0.1 * l1)
    mean, log_var = torch.tensor(rng.normal(size=(6, 2))), torch.tensor(rng.normal(size=(6, 2)))
    elbo = _NegativeELBO(beta=0.5)
    per_sample = torch.stack(
        [
            elbo((raw[i : i + 1], mean[i : i + 1], log_var[i : i + 1]), x[i : i + 1])
            for i in range(6)
        ]
    )
    torch.testing.assert_close(elbo((raw, mean, log_var), x, weight), (weight * per_sample).mean())


def test_the_bernoulli_divergence_is_zero_for_a_perfect_reconstruction_and_inf_outside():
    x = torch.tensor([[0.0, 0.25, 1.0], [0.5, 0.5, 0.5], [0.2, 1.5, 0.0]], dtype=torch.float64)
    logits = torch.logit(x.clamp(1e-12, 1 - 1e-12))
    divergence = _bernoulli_divergence(logits, x)
    zeros = torch.zeros(2, dtype=torch.float64)
    torch.testing.assert_close(divergence[:2], zeros, atol=1e-9, rtol=0)
    assert divergence[2] == float("inf")
    # a worse reconstruction diverges more
    assert (_bernoulli_divergence(logits[:2] + 1.0, x[:2]) > 1e-3).all()
