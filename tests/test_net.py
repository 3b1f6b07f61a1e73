"""The skorch engine: batches, split, loss and divergence check."""

import pytest
import torch
from torch.nn import functional as F

from skae._net import _Batches, _RandomSplit, _ReconstructionLoss, _Rows


def test_batches_cover_every_row_once_and_reshuffle():
    X = torch.arange(10, dtype=torch.float64)[:, None]
    batches = _Batches(_Rows(X), 4, torch.float32, True, torch.Generator().manual_seed(0))
    assert len(batches) == 3
    first = torch.cat([xb for xb, _ in batches])
    second = torch.cat([xb for xb, _ in batches])
    assert first.dtype == torch.float32
    assert sorted(first[:, 0].tolist()) == list(range(10))
    assert not torch.equal(first, second)
    xb, yb = next(iter(batches))
    assert xb is yb  # the target of an autoencoder is its input


def test_batches_in_order_and_centered_for_evaluation():
    X = torch.arange(6, dtype=torch.float32)[:, None]
    rows = _Rows(X, torch.tensor([4, 1, 3]))
    batches = _Batches(rows, 2, torch.float32, False, None, center=torch.tensor([1.0]))
    assert [xb[:, 0].tolist() for xb, _ in batches] == [[3.0, 0.0], [2.0]]


def test_split_is_disjoint_and_sized():
    train, valid = _RandomSplit(0.25, torch.Generator().manual_seed(0))(_Rows(torch.zeros(10, 2)))
    assert len(train) == 7 and len(valid) == 3
    assert set(train.indices.tolist()).isdisjoint(valid.indices.tolist())


def test_bce_from_logits_equals_sigmoid_then_bce():
    raw = torch.randn(8, 5, dtype=torch.float64) * 3
    target = torch.rand(8, 5, dtype=torch.float64)
    fused = _ReconstructionLoss("bce", "sigmoid")(raw, target)
    torch.testing.assert_close(fused, F.binary_cross_entropy(torch.sigmoid(raw), target))
    mse = _ReconstructionLoss("mse", "sigmoid")(raw, target)
    torch.testing.assert_close(mse, F.mse_loss(torch.sigmoid(raw), target))
    assert _ReconstructionLoss()(raw, target) == pytest.approx(float(F.mse_loss(raw, target)))
