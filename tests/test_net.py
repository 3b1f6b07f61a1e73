"""The skorch engine: batches, split, loss and divergence check."""

import math

import pytest
import torch
from torch.nn import functional as F

from skae._losses import _ReconstructionLoss
from skae._net import _Batches, _RandomSplit, _Rows


def test_batches_cover_every_row_once_and_reshuffle():
    X = torch.arange(10, dtype=torch.float64)[:, None]
    batches = _Batches(_Rows(X), 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(batches) == 3
    first = torch.cat([xb for xb, _ in batches])
    second = torch.cat([xb for xb, _ in batches])
    assert sorted(first[:, 0].tolist()) == list(range(10))
    assert not torch.equal(first, second)
    xb, yb = next(iter(batches))
    assert xb is yb  # the target of an autoencoder is its input


def test_batches_in_order_for_evaluation():
    X = torch.arange(6, dtype=torch.float32)[:, None]
    rows = _Rows(X, torch.tensor([4, 1, 3]))
    assert [xb[:, 0].tolist() for xb, _ in _Batches(rows, 2)] == [[4.0, 1.0], [3.0]]


@pytest.mark.parametrize("noise_type", ["gaussian", "masking"])
def test_noise_corrupts_the_input_only_and_follows_the_generator(noise_type):
    X = torch.ones(50, 4)

    def batch(seed):
        generator = torch.Generator().manual_seed(seed)
        return next(iter(_Batches(_Rows(X), 50, False, generator, 0.3, noise_type)))

    (noisy, clean), (again, _), (other, _) = batch(0), batch(0), batch(1)
    assert torch.equal(clean, X) and not torch.equal(noisy, X)
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    if noise_type == "masking":
        assert set(noisy.unique().tolist()) == {0.0, 1.0}


def test_split_is_disjoint_and_sized():
    train, valid = _RandomSplit(0.25, torch.Generator().manual_seed(0))(_Rows(torch.zeros(10, 2)))
    assert len(train) == 7 and len(valid) == 3
    assert set(train.indices.tolist()).isdisjoint(valid.indices.tolist())


def test_bce_from_logits_equals_sigmoid_then_bce():
    raw = torch.randn(8, 5, dtype=torch.float64) * 3
    target = torch.rand(8, 5, dtype=torch.float64)
    codes = torch.zeros(8, 2)
    fused = _ReconstructionLoss("bce", "sigmoid")((raw, codes), target)
    torch.testing.assert_close(fused, F.binary_cross_entropy(torch.sigmoid(raw), target))
    mse = _ReconstructionLoss("mse", "sigmoid")((raw, codes), target)
    torch.testing.assert_close(mse, F.mse_loss(torch.sigmoid(raw), target))
    plain = _ReconstructionLoss()((raw, codes), target)
    assert plain == pytest.approx(float(F.mse_loss(raw, target)))


def test_sparsity_penalties():
    raw, target = torch.zeros(4, 3), torch.zeros(4, 3)
    codes = torch.tensor([[0.5, -1.0], [0.5, 1.0], [0.5, 0.0], [0.5, 2.0]])
    l1 = _ReconstructionLoss(sparsity=0.1)((raw, codes), target)
    assert float(l1) == pytest.approx(0.1 * float(codes.abs().mean()))
    activations = torch.tensor([[0.1, 0.5], [0.1, 0.3]])
    kl = _ReconstructionLoss(sparsity=2.0, sparsity_target=0.1)((raw, activations), target)
    # unit 0 sits at its target (KL 0); unit 1 has mean 0.4
    expected = 0.1 * math.log(0.1 / 0.4) + 0.9 * math.log(0.9 / 0.6)
    assert float(kl) == pytest.approx(2.0 * expected, rel=1e-5)
