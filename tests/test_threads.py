"""Trials of thread counts during a fit with ``n_jobs="adaptive"``
(``skae._threads._ThreadTrials``): the faster count runs the steps, one slow step or a
short batch starts no trial, the default runs none, and nothing of the timings
outlives the fit."""

import os
import pickle
import signal
import threading
import time
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import skae
import skae._threads as threads
from skae import AutoencoderTransformer, VAETransformer
from skae._modules import MLPAutoencoder


class _Seen(MLPAutoencoder):
    """The MLP autoencoder, recording torch's intra-op threads at each training encode."""

    seen = []

    def encode(self, x):
        if torch.is_grad_enabled():
            _Seen.seen.append(torch.get_num_threads())
        return super().encode(x)


class _Clock:
    """A clock on which a step takes ``cost(count, step)`` seconds a row on ``count``
    threads: each reading advances it by that time of the count then set."""

    def __init__(self, cost):
        self.cost, self.now, self.readings = cost, 0.0, 0

    def __call__(self):
        reading = self.now
        # a batch's start and end are read in pairs: the step lies between them
        if self.readings % 2 == 0:
            self.now += 32 * self.cost(torch.get_num_threads(), self.readings // 2)
        self.readings += 1
        return reading


# the counts that the last _fit passed to torch.set_num_threads
_COUNTS_SET = []


def _fit(
    monkeypatch,
    cost,
    estimator=AutoencoderTransformer,
    n_jobs="adaptive",
    max_iter=4,
    rows=640,
    large=False,
    **params,
):
    monkeypatch.setattr(threads, "_clock", _Clock(cost))
    hidden = (1500,) if large else (8,)
    if not large:
        # a small network whose steps run on two threads (see _thread_count): the
        # decisions are the clock's, the network's size is only time
        monkeypatch.setattr(threads, "_ONE_THREAD_WORK", 0)
    # 20 steps of 32 rows an epoch
    X = np.random.default_rng(0).random((rows, 64), dtype=np.float32)
    if estimator is AutoencoderTransformer:
        params |= {"module": _Seen, "module_params": {"hidden_layer_sizes": hidden}}
    else:
        params |= {"hidden_layer_sizes": hidden}
    est = estimator(
        4,
        batch_size=32,
        max_iter=max_iter,
        n_iter_no_change=None,
        random_state=0,
        n_jobs=n_jobs,
        **params,
    )
    _Seen.seen = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    _COUNTS_SET.clear()
    set_num_threads = torch.set_num_threads

    def recorded(count):
        _COUNTS_SET.append(count)
        set_num_threads(count)

    monkeypatch.setattr(torch, "set_num_threads", recorded)
    try:
        est.fit(X)
        assert torch.get_num_threads() == 2  # the caller's setting, whatever ran
    finally:
        monkeypatch.setattr(torch, "set_num_threads", set_num_threads)
        torch.set_num_threads(before)
    return est, X, list(_Seen.seen)


def _one_thread_faster(count, step):
    return 1.0 if count == 1 else 3.0


def _two_threads_faster(count, step):
    return 1.0 if count == 2 else 1.5


def test_one_thread_runs_the_steps_where_it_is_faster(monkeypatch):
    _, _, seen = _fit(monkeypatch, _one_thread_faster)
    first_trial = threads._FIRST_TRIAL
    assert seen[:first_trial] == [2] * first_trial
    # after the first trial, every step but the (shortened) trials of two threads
    assert seen[-20:].count(1) >= 18
    after = seen[first_trial:]
    assert after.count(1) > 0.8 * len(after)


def test_two_threads_keep_the_steps_where_they_pay(monkeypatch):
    _, _, seen = _fit(monkeypatch, _two_threads_faster)
    # one-thread steps are trials only, and they space out
    ones = [i for i, count in enumerate(seen) if count == 1]
    assert 0 < len(ones) <= threads._TRIAL_STEPS * 3
    assert seen.count(2) > 0.85 * len(seen)


def test_a_neighbour_that_comes_and_goes_is_followed(monkeypatch):
    # one thread is faster while a neighbour runs (steps 10 to 59), two otherwise
    def cost(count, step):
        busy = 10 <= step < 60
        return _one_thread_faster(count, step) if busy else _two_threads_faster(count, step)

    _, _, seen = _fit(monkeypatch, cost, max_iter=10)
    assert seen[40:60].count(1) >= 18
    assert seen[-20:].count(2) >= 18


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_the_default_and_an_explicit_count_run_no_trials(monkeypatch, n_jobs):
    # what the default runs does not depend on the machine's load: a seeded fit
    # repeats bit for bit, whatever runs beside it
    _, _, seen = _fit(monkeypatch, _one_thread_faster, n_jobs=n_jobs)
    assert set(seen) == {2}


def test_one_slow_step_starts_no_trial(monkeypatch):
    # a collection or a page fault: one step of 30 times the others, on any count
    def cost(count, step):
        return 30.0 if step == 45 else _two_threads_faster(count, step)

    _, _, seen = _fit(monkeypatch, cost)
    _, _, without = _fit(monkeypatch, _two_threads_faster)
    assert seen == without


def test_a_short_last_batch_starts_no_trial(monkeypatch):
    # 641 rows: each epoch ends on a batch of one row, 32 times the others' time a row
    _, _, seen = _fit(monkeypatch, _two_threads_faster, rows=641)
    # the short batches end steps 20, 41 and 62; the first trial ends before step 40
    assert set(seen[40:75]) == {2}


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, VAETransformer])
def test_which_count_runs_a_step_does_not_change_the_model(monkeypatch, estimator):
    # the counts alternate every few steps here; the model is the one fitted on one
    # thread throughout, and the one fitted on two, bit for bit, in these networks
    # (batches of 32 x 64: a convolution, or a loss over more values than torch sums
    # in one piece, can differ in the last bits, which is why "adaptive" is opt-in)
    def flipping(count, step):
        return 1.0 if (count == 1) == (step // 12 % 2 == 0) else 3.0

    # steps large enough for two threads by the real rule
    varied, X, seen = _fit(monkeypatch, flipping, estimator, large=True)
    assert _COUNTS_SET.count(1) >= 2  # one thread, and back more than once
    if estimator is AutoencoderTransformer:
        assert {1, 2} <= set(seen)
    for n_jobs in (1, 2):
        fixed, _, _ = _fit(monkeypatch, flipping, estimator, n_jobs=n_jobs, large=True)
        np.testing.assert_array_equal(varied.transform(X), fixed.transform(X))


def test_no_timing_is_kept_with_the_fitted_net(monkeypatch):
    est, _, _ = _fit(monkeypatch, _one_thread_faster)
    trials = dict(est.net_.callbacks_)["threads"]
    assert not [name for name in vars(trials) if name.endswith("_")]
    assert pickle.loads(pickle.dumps(est)).transform(np.zeros((2, 64), np.float32)).shape == (2, 4)


def test_one_time_costs_of_the_first_steps_switch_nothing(monkeypatch):
    # the allocator settling: every other step of the first 12 takes 20 times a
    # later one, on any count
    def cost(count, step):
        return 20.0 if step < 12 and step % 2 == 0 else _two_threads_faster(count, step)

    _, _, seen = _fit(monkeypatch, cost)
    _, _, without = _fit(monkeypatch, _two_threads_faster)
    assert seen == without


class _SeenInInference(MLPAutoencoder):
    """The MLP autoencoder, recording torch's intra-op threads at each encode
    without gradients (inference)."""

    seen = []

    def encode(self, x):
        if not torch.is_grad_enabled():
            _SeenInInference.seen.append(torch.get_num_threads())
        return super().encode(x)


def test_inference_follows_n_jobs_set_after_the_fit():
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    est = AutoencoderTransformer(2, module=_SeenInInference, max_iter=1, n_iter_no_change=None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est.fit(X)  # a small network: one thread with n_jobs=None
        _SeenInInference.seen = []
        est.set_params(n_jobs=2).transform(X)
        assert set(_SeenInInference.seen) == {2}
    finally:
        torch.set_num_threads(before)


def test_no_more_threads_than_the_machine_has_cpus():
    # more cannot run at once, and OpenMP ends the process when it cannot start
    # them (n_jobs=16384 did on a 2-core VM)
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    est = AutoencoderTransformer(2, module=_SeenInInference, max_iter=1, n_iter_no_change=None)
    est.fit(X)
    _SeenInInference.seen = []
    est.set_params(n_jobs=64).transform(X)
    assert set(_SeenInInference.seen) == {min(64, joblib.cpu_count())}


@pytest.mark.parametrize("n_jobs", [0, 1.5, True, "bad"])
def test_inference_checks_n_jobs_set_after_the_fit_as_fit_does(n_jobs):
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    est = AutoencoderTransformer(2, max_iter=1, n_iter_no_change=None).fit(X)
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="'n_jobs' parameter of AutoencoderTransformer"):
        est.set_params(n_jobs=n_jobs).transform(X)
    assert torch.get_num_threads() == before


def test_adaptive_is_saved_and_loaded_with_the_estimator(monkeypatch, tmp_path):
    est, X, _ = _fit(monkeypatch, _one_thread_faster)
    skae.save(est, tmp_path / "est.skae")
    loaded = skae.load(tmp_path / "est.skae", trusted=[_Seen])
    assert loaded.n_jobs == "adaptive"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


class _PausingInItsCheck(MLPAutoencoder):
    """Waits, the first time it encodes without gradients (the estimator's check
    of a new module), until the test thread has drawn."""

    checked = drawn = None

    def encode(self, x):
        if not torch.is_grad_enabled() and not self.checked.is_set():
            self.checked.set()
            self.drawn.wait(30)
        return super().encode(x)


def test_a_fit_leaves_the_draws_of_other_threads_from_the_global_generator_alone():
    # the module check saved torch's global generator and restored it after: a
    # thread that drew meanwhile was handed the same numbers again
    _PausingInItsCheck.checked, _PausingInItsCheck.drawn = threading.Event(), threading.Event()
    X = np.random.default_rng(0).normal(size=(20, 4))
    est = AutoencoderTransformer(
        2, module=_PausingInItsCheck, module_params={"hidden_layer_sizes": (4,)}, max_iter=1
    )
    torch.manual_seed(0)
    expected = torch.rand(2).tolist() + torch.rand(2).tolist()
    torch.manual_seed(0)
    fit = threading.Thread(target=est.fit, args=(X,))
    fit.start()
    assert _PausingInItsCheck.checked.wait(30)
    drawn = torch.rand(2).tolist()
    _PausingInItsCheck.drawn.set()
    fit.join()
    assert hasattr(est, "net_")
    assert drawn + torch.rand(2).tolist() == expected


def _count_of_a_new_thread():
    counts = []
    thread = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return counts[0]


@pytest.fixture
def two_threads():
    """torch's count set to 2 in this thread and for new threads, then put back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_tiny_seeded_fit_is_the_same_whatever_torch_s_count():
    # a step of under 32,768 multiplications ran on the calling thread's count,
    # and MKL's products that small differ in their last bits between one thread
    # and two or three: the same fit in a thread started while another fit ran
    # (which inherits that fit's count) was not the one fitted alone
    X = np.random.default_rng(0).normal(size=(100, 20)).astype(np.float32)
    before = torch.get_num_threads()
    outputs = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            est = AutoencoderTransformer(
                2, hidden_layer_sizes=(16,), batch_size=10, max_iter=5, random_state=0
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                outputs.append(est.fit(X).transform(X))
    finally:
        torch.set_num_threads(before)
    for other in outputs[1:]:
        np.testing.assert_array_equal(other, outputs[0])


def test_a_fit_inside_threadpool_limits_leaves_new_threads_torch_s_count(two_threads):
    # the restore wrote the caller's limited count (1) as torch's count for every
    # thread started later
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X = np.random.default_rng(0).normal(size=(40, 6))
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=1, n_jobs=2)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert torch.get_num_threads() == 1
        est.fit(X)
        est.transform(X)
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    assert _count_of_a_new_thread() == 2


class _Paused(MLPAutoencoder):
    """The MLP autoencoder, whose first training encode of a ``name`` with events
    in ``events`` says so and waits for its go."""

    events = {}

    def __init__(self, n_features, n_components, name):
        super().__init__(n_features, n_components, hidden_layer_sizes=(4,))
        self.name = name

    def encode(self, x):
        started, go = _Paused.events.pop(self.name, (None, None))
        if started is not None:
            started.set()
            assert go.wait(30)
        return super().encode(x)


def test_overlapping_fits_in_threads_leave_new_threads_torch_s_count(two_threads):
    # a thread that first used torch while a one-thread fit ran took that count;
    # its own fit, ending last, wrote it back as the count of every later thread
    X = np.random.default_rng(0).normal(size=(40, 6))
    events = {name: (threading.Event(), threading.Event()) for name in ("first", "second")}
    _Paused.events = dict(events)

    def fit(name, n_jobs):
        est = AutoencoderTransformer(
            2, module=_Paused, module_params={"name": name}, max_iter=1, n_jobs=n_jobs
        )
        return threading.Thread(target=est.fit, args=(X,))

    first, second = fit("first", None), fit("second", 2)
    first.start()
    assert events["first"][0].wait(30)
    second.start()
    assert events["second"][0].wait(30)
    events["first"][1].set()
    first.join()
    events["second"][1].set()
    second.join()
    assert torch.get_num_threads() == 2
    assert _count_of_a_new_thread() == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_process_forked_while_another_thread_held_the_thread_lock_fits():
    # the child inherited the lock held, and no thread of it would release it
    X = np.random.default_rng(0).normal(size=(20, 4))
    held, release = threading.Event(), threading.Event()

    def hold():
        with threads._NEW_THREADS.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            child = os.fork()
        if child == 0:  # pragma: no cover (the child's code)
            code = 1
            try:
                AutoencoderTransformer(2, max_iter=1, n_jobs=1).fit(X)
                code = 0
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        while (done := os.waitpid(child, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                pytest.fail("the forked child waited for the lock")
            time.sleep(0.05)
        assert os.waitstatus_to_exitcode(done[1]) == 0
    finally:
        release.set()
        holder.join()


def test_a_call_made_while_the_thread_lock_is_held_in_its_thread_ends(two_threads):
    # as a signal handler's call does in the frame it interrupts: the thread that
    # wrote the count for new threads back waited for the lock, and the call for
    # that thread
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X = np.random.default_rng(0).normal(size=(20, 4))
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=1, n_jobs=2).fit(X)
    done = threading.Event()

    def call():
        with threads._NEW_THREADS.lock, threadpoolctl.threadpool_limits(1, user_api="openmp"):
            est.transform(X)
        done.set()

    threading.Thread(target=call, daemon=True).start()
    assert done.wait(20)
    assert _count_of_a_new_thread() == 2
