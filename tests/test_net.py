"""The skorch engine: batches, split, loss and divergence check."""

import math
import threading

import joblib
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from skae import AutoencoderTransformer, MLPAutoencoder
from skae._batches import _Batches, _RandomSplit, _Rows
from skae._losses import _ReconstructionLoss


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


class _CountsThreads(MLPAutoencoder):
    """The MLP autoencoder, recording torch's intra-op threads at each encode."""

    seen = []

    def encode(self, x):
        _CountsThreads.seen.append(torch.get_num_threads())
        return super().encode(x)


@pytest.mark.parametrize(
    "n_jobs, hidden, expected",
    [
        (None, (8,), 1),  # a small step: one thread
        (None, (2000,), 2),  # a large one: torch's setting, 2 below
        (2, (8,), 2),
        (1, (2000,), 1),
    ],
)
def test_threads_are_chosen_per_call_and_the_callers_setting_is_restored(n_jobs, hidden, expected):
    X = np.random.default_rng(0).random((300, 64))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est = AutoencoderTransformer(
            2,
            module=_CountsThreads,
            module_params={"hidden_layer_sizes": hidden},
            max_iter=1,
            n_iter_no_change=None,
            n_jobs=n_jobs,
            random_state=0,
        )
        _CountsThreads.seen = []
        est.fit(X)
        assert set(_CountsThreads.seen) == {expected}
        assert torch.get_num_threads() == 2
        _CountsThreads.seen = []
        est.transform(X)
        assert set(_CountsThreads.seen) == {expected}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_thread_count_in_one_thread_leaves_other_threads_alone():
    X = np.random.default_rng(0).random((200, 16))
    before = torch.get_num_threads()
    torch.set_num_threads(1)

    def fit():
        AutoencoderTransformer(2, max_iter=1, n_iter_no_change=None, n_jobs=2).fit(X)

    worker = threading.Thread(target=fit)
    worker.start()
    worker.join()
    assert torch.get_num_threads() == 1
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", "auto"])
def test_n_jobs_must_be_a_nonzero_int_adaptive_or_none(n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        AutoencoderTransformer(n_jobs=n_jobs).fit(np.ones((4, 3)))


def test_n_jobs_minus_one_counts_the_cores_this_process_may_use(monkeypatch):
    # as joblib counts them: CPU affinity and container quotas included
    monkeypatch.setattr(joblib, "cpu_count", lambda: 1)
    _CountsThreads.seen = []
    X = np.random.default_rng(0).random((50, 8))
    AutoencoderTransformer(
        2, module=_CountsThreads, max_iter=1, n_iter_no_change=None, n_jobs=-1
    ).fit(X)
    assert set(_CountsThreads.seen) == {1}
