"""Training and inference on a CUDA device; skipped where there is none.

Run alone on a GPU machine with ``pytest tests/test_cuda.py``.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    LinearAETransformer,
    MLPAutoencoder,
)

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def digits(digits01):
    return digits01[:600]


def _on_cuda(est):
    return all(p.is_cuda for p in est.net_.module_.parameters())


@pytest.mark.parametrize("device", ["auto", "cuda", "cuda:0"])
def test_training_runs_on_the_gpu(digits, device):
    ae = AutoencoderTransformer(8, hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    Z = ae.set_params(device=device).fit_transform(digits)
    assert _on_cuda(ae) and ae.net_.device.startswith("cuda")
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float64 and Z.shape == (600, 8)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_gpu_and_cpu_codes_agree_for_the_same_weights(digits):
    ae = AutoencoderTransformer(8, hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    Z_gpu = ae.set_params(device="cuda").fit(digits).transform(digits)
    ae.net_.module_.to("cpu")
    ae.net_.device = "cpu"
    np.testing.assert_allclose(ae.transform(digits), Z_gpu, atol=1e-10)


def test_linear_ae_on_the_gpu_matches_pca(digits):
    lae = LinearAETransformer(5, device="cuda", random_state=0).fit(digits)
    pca = PCA(5).fit(digits)
    cosines = np.abs(np.sum(lae.components_ * pca.components_, axis=1))
    assert cosines.min() > 1 - 1e-9


def test_partial_fit_on_the_gpu(digits):
    ae = AutoencoderTransformer(8, hidden_layer_sizes=(32,), device="cuda", random_state=0)
    for chunk in np.array_split(digits, 3):
        ae.partial_fit(chunk)
    assert _on_cuda(ae) and ae.n_iter_ == 3


@pytest.mark.parametrize("tied_weights", [False, True])
def test_sampled_entries_on_the_gpu_are_those_of_the_whole_output(tied_weights):
    # reconstruction sampling's product goes through cuSPARSE on a GPU
    torch.manual_seed(0)
    module = MLPAutoencoder(30, 3, hidden_layer_sizes=(5,), tied_weights=tied_weights)
    module.to("cuda")
    z = torch.randn(6, 3, device="cuda")
    rows = torch.tensor([0, 5, 2, 2, 0, 5, 5], device="cuda")
    columns = torch.tensor([29, 0, 8, 7, 3, 0, 11], device="cuda")
    results = []
    for at_entries in (True, False):
        module.zero_grad()
        codes = z.clone().requires_grad_()
        out = module.decode(codes, at=(rows, columns)) if at_entries else module.decode(codes)
        out = out if at_entries else out[rows, columns]
        out.square().sum().backward()
        results.append([out.detach(), codes.grad, *(p.grad for p in module.parameters())])
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected)


def test_a_sampled_fit_on_the_gpu(digits):
    import scipy.sparse as sp

    ae = AutoencoderTransformer(
        8, hidden_layer_sizes=(32,), max_iter=3, device="cuda", random_state=0,
        reconstruction_sampling=0.2,
    )  # fmt: skip
    ae.fit(sp.csr_matrix(digits))
    assert _on_cuda(ae) and np.isfinite(ae.loss_curve_).all()


def test_pickle_holds_cpu_tensors_and_loads_without_cuda(digits, monkeypatch):
    detector = AutoencoderOutlierDetector(
        8, hidden_layer_sizes=(32,), max_iter=3, device="cuda", random_state=0
    ).fit(digits)
    scores = detector.score_samples(digits)
    pickled_net = detector.__getstate__()["net_"]
    assert pickled_net.device == "cpu"
    assert not any(p.is_cuda for p in pickled_net.module_.parameters())
    assert not any(
        t.is_cuda
        for state in pickled_net.optimizer_.state.values()
        for t in state.values()
        if isinstance(t, torch.Tensor)
    )
    data = pickle.dumps(detector)
    assert _on_cuda(detector), "pickling must not move the live estimator"
    np.testing.assert_allclose(pickle.loads(data).score_samples(digits), scores, atol=1e-10)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="stays on the CPU"):
        loaded = pickle.loads(data)
    assert not any(p.is_cuda for p in loaded.net_.module_.parameters())
    np.testing.assert_allclose(loaded.score_samples(digits), scores, atol=1e-10)


def test_loading_onto_a_missing_gpu_index_falls_back_to_the_cpu(digits):
    ae = AutoencoderTransformer(8, hidden_layer_sizes=(32,), max_iter=2, device="cuda")
    Z = ae.set_params(random_state=0).fit(digits).transform(digits)
    ae.set_params(device=f"cuda:{torch.cuda.device_count()}")
    with pytest.warns(UserWarning, match="CUDA device.*available.*stays on the CPU"):
        loaded = pickle.loads(pickle.dumps(ae))
    assert loaded.net_.device == "cpu"
    np.testing.assert_allclose(loaded.transform(digits), Z, atol=1e-10)


def test_save_load_from_the_gpu(digits, tmp_path, monkeypatch):
    ae = AutoencoderTransformer(8, hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    Z = ae.set_params(device="auto").fit(digits).transform(digits)
    skae.save(ae, tmp_path / "ae.skae")
    np.testing.assert_array_equal(skae.load(tmp_path / "ae.skae").transform(digits), Z)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = skae.load(tmp_path / "ae.skae")
    assert loaded.net_.device == "cpu"
    np.testing.assert_allclose(loaded.transform(digits), Z, atol=1e-10)
