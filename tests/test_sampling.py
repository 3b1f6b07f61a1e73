"""Sparse rows at the cost of their non-zeros: the networks' first layer multiplies
the stored entries alone, and reconstruction sampling (Dauphin, Glorot and Bengio,
2011) estimates the loss over every entry, without bias, from the stored entries
and a weighted sample of the zeros."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import skae
from skae import AutoencoderTransformer, ConvAutoencoder, MLPAutoencoder, VAETransformer
from skae._losses import _NegativeELBO, _ReconstructionLoss
from skae._modules import _SparseRows, _VariationalMLP
from skae._sampling import _sample_entries


def sparse_matrix(n_rows=40, n_cols=30, density=0.2, seed=0, missing=0):
    """CSR float64 in (0, 1], ``missing`` of its stored entries NaN."""
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    X.data = 0.01 + 0.99 * X.data
    X.data[rng.choice(X.nnz, size=missing, replace=False)] = np.nan
    return X


@pytest.mark.parametrize("tied_weights", [False, True])
def test_the_first_layer_of_sparse_rows_is_the_dense_product_forward_and_backward(tied_weights):
    X = sparse_matrix()
    dense = torch.from_numpy(X.toarray()).float()
    torch.manual_seed(0)
    module = MLPAutoencoder(30, 3, hidden_layer_sizes=(5,), tied_weights=tied_weights)
    rows = _SparseRows.of(X).to(dtype=torch.float32)
    results = []
    for x in (dense, rows):
        module.zero_grad()
        codes = module.encode(x)
        codes.square().sum().backward()
        results.append((codes.detach(), module.encoder_layers[0].weight.grad.clone()))
    for got, expected in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, expected)
    vae = _VariationalMLP(30, 2, hidden_layer_sizes=())
    torch.testing.assert_close(vae.posterior(rows), vae.posterior(dense))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "at",
    [
        # rows out of order, a row (1) and columns without entries, a repeated entry
        ([0, 5, 2, 2, 0, 5, 5], [29, 0, 8, 7, 3, 0, 11]),
        # more entries than the output has (draws are made with replacement)
        ([1] * 100 + [4] * 100, [2] * 199 + [29]),
        ([], []),
    ],
)
def test_decoding_chosen_entries_gives_those_of_the_whole_output_forward_and_backward(at, dtype):
    torch.manual_seed(0)
    z = torch.randn(6, 3, dtype=dtype)
    rows, columns = (torch.tensor(a, dtype=torch.int64) for a in at)
    weights = torch.randn(len(rows), dtype=dtype)
    for module in (
        MLPAutoencoder(30, 3, hidden_layer_sizes=(5,)),
        MLPAutoencoder(30, 3, hidden_layer_sizes=(5,), tied_weights=True),
        _VariationalMLP(30, 3, hidden_layer_sizes=(5,)),
    ):
        module.to(dtype)
        results = []
        for at_entries in (True, False):
            module.zero_grad()
            codes = z.clone().requires_grad_()
            out = (
                module.decode(codes, at=(rows, columns))
                if at_entries
                else module.decode(codes)[rows, columns]
            )
            (out * weights).sum().backward()
            grads = [codes.grad, *(p.grad for p in module.parameters() if p.grad is not None)]
            results.append((out.detach(), *grads))
        assert len(results[0]) == len(results[1])
        for got, expected in zip(*results, strict=True):
            torch.testing.assert_close(got, expected)
        if dtype == torch.float64:
            continue  # autocast leaves float64 alone
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = z.to(torch.bfloat16)
            assert module.decode(low, at=(rows, columns)).dtype == module.decode(low).dtype


@pytest.mark.parametrize(
    "at", [([0, 6], [1, 2]), ([0, -1], [1, 2]), ([0, 1], [30, 2]), ([0, 1], [-1, 2])]
)
def test_decoding_entries_out_of_range_is_an_index_error(at):
    module = MLPAutoencoder(30, 3)
    rows, columns = (torch.tensor(a) for a in at)
    with pytest.raises(IndexError, match="must lie in"):
        module.decode(torch.zeros(6, 3), at=(rows, columns))


def test_decoded_entries_take_int32_indices_and_refuse_a_second_derivative():
    torch.manual_seed(0)
    module = MLPAutoencoder(30, 3, tied_weights=True)
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    module.to(torch.float64)
    at = (torch.tensor([3, 0, 0]), torch.tensor([7, 29, 7]))
    narrow = tuple(index.to(torch.int32) for index in at)
    torch.testing.assert_close(module.decode(z, at=narrow), module.decode(z, at=at))
    (grad,) = torch.autograd.grad(module.decode(z, at=at).square().sum(), z, create_graph=True)
    # the backward is not itself differentiable: an error, not a wrong Hessian
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


def test_a_sampled_fit_on_nearly_full_rows_trains():
    # at a rate near 1, and in a last batch of one row, the draws (with
    # replacement) outnumber a batch's entries
    rng = np.random.default_rng(0)
    dense = rng.random((21, 10)) + 0.1
    dense[np.arange(21), rng.integers(10, size=21)] = 0
    for rate in (1.0, 0.3):
        est = AutoencoderTransformer(
            2,
            batch_size=10,
            max_iter=3,
            n_iter_no_change=None,
            random_state=0,
            reconstruction_sampling=rate,
        )
        assert np.isfinite(est.fit(sp.csr_matrix(dense)).transform(dense)).all()


def _losses(criterion, module, X, weight, draws, rate=0.1, importance=True):
    """(the full loss of the batch ``X``, the sampled loss of each of ``draws``
    samples at ``rate``), the network's outputs held fixed; without
    ``importance`` weights, each drawn zero counts once (a biased estimate)."""
    dense = torch.from_numpy(X.toarray())
    fill = torch.full((X.shape[1],), 0.5, dtype=torch.float64)
    with torch.no_grad():
        x = torch.where(torch.isnan(dense), fill, dense)
        if isinstance(module, _VariationalMLP):
            z, log_var = module.posterior(x)
            rest = (z, log_var)
        else:
            z = module.encode(x)
            rest = (z,)
        full = criterion((module.decode(z), *rest), dense, weight)
        generator = torch.Generator().manual_seed(0)
        sampled = []
        for _ in range(draws):
            sample = _sample_entries(_SparseRows.of(X), rate, generator)
            if not importance:
                sample.weights = sample.weights.clamp_max(1)
            raw = module.decode(z, at=(sample.rows, sample.columns))
            sampled.append(float(criterion((raw, *rest), sample, weight)))
    return float(full), np.array(sampled)


def _close(full, sampled):
    """Whether the mean of the ``sampled`` losses is within four of its standard
    errors of the ``full`` loss."""
    return abs(sampled.mean() - full) < 4 * sampled.std() / np.sqrt(len(sampled))


@pytest.mark.parametrize(
    "criterion",
    [
        _ReconstructionLoss(),
        _ReconstructionLoss("bce", "sigmoid"),
        _ReconstructionLoss("mse", "sigmoid", sparsity=0.1),
        _NegativeELBO("gaussian"),
        _NegativeELBO("bernoulli"),
    ],
    ids=["mse", "bce", "sigmoid-sparsity", "elbo-gaussian", "elbo-bernoulli"],
)
def test_the_sampled_loss_is_the_full_loss_in_expectation(criterion):
    # with holes (stored NaN) and unequal row weights, both of which the loss counts
    X = sparse_matrix(missing=15)
    torch.manual_seed(0)
    if isinstance(criterion, _NegativeELBO):
        module = _VariationalMLP(30, 2, hidden_layer_sizes=(5,)).double()
    else:
        module = MLPAutoencoder(30, 2, hidden_layer_sizes=(5,)).double()
    weight = torch.from_numpy(np.random.default_rng(1).uniform(0.2, 2, size=40))
    full, sampled = _losses(criterion, module, X, weight, draws=400)
    assert sampled.std() > 0  # a sample, not every entry
    assert _close(full, sampled)
    # the same test tells a biased estimator: each drawn zero counted once
    assert not _close(*_losses(criterion, module, X, weight, draws=400, importance=False))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_a_sampled_fit_is_repeatable_with_its_random_state_and_saved_whole(cls, tmp_path):
    X = sparse_matrix(missing=5)
    weights = np.random.default_rng(0).uniform(0, 2, size=40)
    weights[:3] = 0

    def fitted(seed):
        est = cls(2, hidden_layer_sizes=(4,), max_iter=3, reconstruction_sampling=0.1)
        return est.set_params(random_state=seed).fit(X, sample_weight=weights)

    first, again, other = fitted(0), fitted(0), fitted(1)
    assert np.isfinite(first.loss_curve_).all()
    np.testing.assert_array_equal(first.loss_curve_, again.loss_curve_)
    np.testing.assert_array_equal(first.transform(X), again.transform(X))
    assert first.loss_curve_ != other.loss_curve_
    skae.save(first, tmp_path / "model.skae")
    loaded = skae.load(tmp_path / "model.skae")
    assert loaded.reconstruction_sampling == 0.1
    np.testing.assert_array_equal(loaded.transform(X), first.transform(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sampling_leaves_dense_input_alone_and_refuses_a_custom_module():
    X = sparse_matrix().toarray()
    plain = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    sampled = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, random_state=0, reconstruction_sampling=0.1
    )
    np.testing.assert_array_equal(sampled.fit(X).transform(X), plain.fit(X).transform(X))
    custom = AutoencoderTransformer(
        module=ConvAutoencoder,
        module_params={"image_shape": (5, 6)},
        reconstruction_sampling=0.1,
    )
    with pytest.raises(
        ValueError, match=r"reconstruction_sampling needs the estimator.s own MLP \(module=None\)"
    ):
        custom.fit(X)
    with pytest.raises(ValueError, match="reconstruction_sampling"):
        plain.set_params(reconstruction_sampling=0.0).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sampled_training_and_encoding_never_densify_a_batch():
    # 100 rows of 100,000 columns: a dense batch of them is 40 MB of float32
    rng = np.random.default_rng(0)
    X = sp.random(100, 100_000, density=1e-4, format="csr", dtype=np.float32, random_state=rng)
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(),
        batch_size=100,
        max_iter=1,
        reconstruction_sampling=1e-4,
        random_state=0,
    )
    est.fit(X[:10])  # first-call allocations out of the measurement
    tracemalloc.start()
    est.set_params(warm_start=True).fit(X)
    Z = est.transform(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert Z.shape == (100, 2)
    # what a fit keeps per feature (fill values, their counts) is some 10 MB
    assert peak < 16 * 2**20 < 100 * 100_000 * 4 / 2


def test_each_partial_fit_call_draws_anew_and_repeatably(monkeypatch):
    # an int random_state seeded every call alike: each call repeated the first
    # call's draws, so most zeros of a stream were never sampled
    import skae._batches

    drawn = []

    def spy(stored, rate, generator):
        sample = _sample_entries(stored, rate, generator)
        drawn.append(sample.columns.tolist())
        return sample

    monkeypatch.setattr(skae._batches, "_sample_entries", spy)
    X = sparse_matrix(n_rows=16, n_cols=200, density=0.05)
    runs = []
    for _ in range(2):
        est = AutoencoderTransformer(
            2, hidden_layer_sizes=(4,), batch_size=16, random_state=0, reconstruction_sampling=0.05
        )
        drawn.clear()
        for _ in range(3):
            est.partial_fit(X)
        runs.append((list(drawn), est.transform(X)))
    calls = runs[0][0]
    assert len(calls) == 3 and calls[0] != calls[1] != calls[2]
    # and the same random_state draws the same again
    assert runs[1][0] == calls
    np.testing.assert_array_equal(runs[1][1], runs[0][1])


@pytest.mark.parametrize("sampling", [None, 0.1])
def test_a_sparse_matrix_without_stored_entries_trains_and_scores(sampling):
    # a chunk of empty documents: no stored value at all
    empty = sp.csr_matrix((20, 30))
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None, random_state=0
    ).set_params(reconstruction_sampling=sampling)
    est.fit(empty).partial_fit(empty)
    assert np.isfinite(est.score_samples(empty)).all()
    assert est.transform(empty).shape == (20, 2)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_a_row_whose_weight_is_zero_in_float32_is_cleared_from_the_sampled_loss(cls):
    # the batch cleared rows of weight exactly 0; 1e-60 is 0 only in the float32
    # loss, where the row's overflowing error entered as 0 x inf: a NaN loss
    X = sp.random(20, 6, density=0.4, format="lil", random_state=np.random.default_rng(10))
    X[0, 2] = 1e30
    X = X.tocsr()
    weights = np.ones(20)
    weights[0] = 1e-60
    params = dict(hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=None, random_state=0)
    est = cls(2, reconstruction_sampling=0.5, **params).fit(X, sample_weight=weights)
    assert np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_zeros_stored_in_the_matrix_are_zeros_like_the_others(cls):
    # a stored zero was reconstructed exactly, and a draw that fell on it dropped:
    # the same data gave another model than the matrix without them
    X = sparse_matrix()
    stored = X.copy()
    stored.data[::4] = 0.0
    clean = stored.copy()
    clean.eliminate_zeros()
    codes = [
        cls(2, hidden_layer_sizes=(4,), max_iter=3, reconstruction_sampling=0.3, random_state=0)
        .fit(matrix)
        .transform(clean)
        for matrix in (stored, clean)
    ]
    np.testing.assert_array_equal(*codes)
    assert stored.nnz > clean.nnz  # the caller's matrix is left as it was
