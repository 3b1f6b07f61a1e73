"""The intra-op threads of a step: chosen from its work, and, with
``n_jobs="adaptive"`` on a machine that other processes share, from how fast each
count is.

torch splits each CPU operation over a pool of OpenMP threads that spin at every
barrier. While another process holds one of their cores, every operation waits
for the thread that lost it: a fit on two threads beside one busy core took 4x to
5x its time on a 2-core VM, and the same fit on one thread took its usual time.
"""

import _thread
import os
import statistics
import threading
import time
from collections import deque
from contextlib import contextmanager

import joblib
import torch
from skorch.callbacks import Callback

# a step (or an inference chunk) that multiplies fewer numbers than this (the
# module's weights times the rows) runs on one intra-op thread: a second thread
# saves less than its synchronization costs (a 784-36-784 network on batches of
# 256, 14 million, is 15 % faster on two cores; the quickstart's 64-16-64 on
# batches of 200, 0.4 million, is not), and while another process keeps a core
# busy, torch's OpenMP threads spin at every barrier: the quickstart's fit took
# 5x its time on two threads, and the same time on one. Also the smallest steps:
# MKL's products of a few thousand numbers differ in their last bits between one
# thread and two, and a thread started while another fit ran inherits its count
_ONE_THREAD_WORK = 4_000_000

# With n_jobs="adaptive", a larger training step runs on torch's setting, and every
# so often a few steps run on the other count (a trial): one thread, or back to
# torch's setting; also as soon as the median of the last _SLOW_STEPS steps is
# _SLOWER times the current count's average at the last trial (a neighbour starting
# slows every step, a collection or a page fault one). The other count is kept when
# its steps took under _MARGIN of the time per row of the current count's last
# _WINDOW steps, on average: beside a busy core, steps on two threads are mostly as
# fast as on a quiet machine, but one in a few dozen waits a whole time slice of
# the other process (20 to 100 ms against 2), and those steps are the cost.
#
# Not timed: a step of fewer rows than half the batch (an epoch's last: its time
# per row is not the others'); a trial's first step (the threads that a switch
# leaves idle spin a while before they sleep); a fit's first _WARMUP_STEPS steps
# (one-time costs: on the seed recipe, one step in two of the first 20 took 3 to
# 30 times a later step, as the allocator settled). A trial ends at
# its first timed step if that step took twice the current average. The first
# trial comes after _FIRST_TRIAL steps, so that a late one-time cost weighs little
# in the average it is compared with; a trial that keeps the count puts the next
# one _BACKOFF times further away, up to the longest period, so that trials cost
# about a percent on a quiet machine, and a neighbour that starts or stops is
# noticed within that period.
_WARMUP_STEPS = 16
_FIRST_TRIAL = 32
_TRIAL_STEPS = 5
_WINDOW = 32
_SHORTEST_PERIOD = 16
_LONGEST_PERIOD = 1024
_BACKOFF = 4
_MARGIN = 0.9
_SLOW_STEPS = 8
_SLOWER = 1.5

_clock = time.perf_counter


def _thread_count(n_jobs, rows, module):
    """The intra-op threads for steps of ``module`` on ``rows`` rows that the
    ``n_jobs`` parameter asks for (None, and "adaptive" before its trials: chosen
    from the work, capped by torch's current setting)."""
    if n_jobs is None or n_jobs == "adaptive":
        work = rows * sum(p.numel() for p in module.parameters())
        return 1 if work < _ONE_THREAD_WORK else torch.get_num_threads()
    # the cores this process may use (its affinity and cgroup quota), as joblib
    # counts them; no more threads than those: more cannot run at once, and OpenMP
    # ends the process when it cannot start them (n_jobs=16384 did on a 2-core VM)
    cores = joblib.cpu_count()
    return min(n_jobs, cores) if n_jobs > 0 else max(1, cores + 1 + n_jobs)


@contextmanager
def _intra_op_threads(n_jobs, rows, module):
    """Within the block, torch's intra-op parallelism in this thread uses the
    threads that ``n_jobs`` asks for steps of ``module`` on ``rows`` rows
    (``_thread_count``), then what it used before (the setting is the calling
    thread's own: fits in other threads are not affected).

    ``torch.set_num_threads`` also sets the count that threads started later take
    at their first use of torch. While a block runs, new threads take its count;
    when the last block of the process ends, that count is again what it was
    before the first began (``_NewThreads``), also where this thread's own count
    differed from it (inside ``threadpoolctl.threadpool_limits``, or in a thread
    started while another fit ran): the restore wrote this thread's count there.
    """
    count = _thread_count(n_jobs, rows, module)
    before = torch.get_num_threads()
    try:
        # within the try: a Ctrl-C that lands before the count goes up does not
        # leave it up (the count does not go below 0)
        _NEW_THREADS.enter()
        if count != before:
            _NEW_THREADS.set(count)
        yield
    finally:
        _NEW_THREADS.leave(before)


class _NewThreads:
    """Keeps torch's count for threads started later as it is outside skae's
    blocks. torch offers no way to read it but a new thread's first
    ``torch.get_num_threads()``, which costs a thread's start (0.1 to 0.3 ms): it
    is known before the first write of skae's while blocks overlap (every write
    of skae's goes through ``set``), and the last block to end writes it back,
    from a short-lived thread, where skae's last write left another. It is read
    where the calling thread's count differs from the count skae last left
    (``known``): the count of a thread that no one but torch set (the calls that
    follow each other in one thread) is that count, and so is the count for new
    threads, unless ``torch.set_num_threads`` set both apart, which a different
    count says. (Not seen: a ``torch.set_num_threads`` in another thread, and
    one in this thread whose count threadpoolctl then set back to the known one.)

    No thread is started or waited for while the lock is held, so that a fork or
    a signal handler that calls skae never finds it held for long; the lock is
    reentrant (a handler runs in the thread it interrupts) and made anew in a
    forked child."""

    def __init__(self):
        self.lock = threading.RLock()
        self.blocks = 0
        self.default = None  # read at the blocks' first write (None: not yet)
        self.last = None  # skae's last write while blocks run
        self.pending = None  # the _WriteBack that the last block's end started
        self.writes = 0  # skae's writes so far: a count read meanwhile may be one
        self.known = None  # the count for new threads that the last blocks left

    def enter(self):
        with self.lock:
            self.blocks += 1

    def set(self, count):
        for _ in range(3):  # a count read while another block wrote is read again
            with self.lock:
                if self.pending is not None and self.pending.written:
                    self.pending = None
                if self.default is None and self.pending is not None:
                    self.default = self.pending.count
                if self.default is None and torch.get_num_threads() == self.known:
                    self.default = self.known
                if self.default is not None:
                    break
                writes = self.writes
            default = _in_a_new_thread(torch.get_num_threads)
            with self.lock:
                if self.default is None and self.writes == writes:
                    self.default = default
                    break
        with self.lock:
            self._write(count)

    def leave(self, before):
        back = None
        with self.lock:
            # the try is entered with no call before it, where a Ctrl-C cannot land;
            # the count goes down after the restore, so that a signal handler's call
            # that interrupts it does not take itself for the last block
            try:
                if torch.get_num_threads() != before:
                    self._write(before)
            finally:
                self.blocks -= 1
                if self.blocks <= 0:  # below 0 in a forked child, or after a Ctrl-C
                    self.blocks = 0
                    if None not in (self.default, self.last) and self.last != self.default:
                        back = self.pending = _WriteBack(self.default)
                    if self.default is not None:
                        self.known = self.default
                    self.default = self.last = None
        if back is not None:
            # in a thread of its own, whose setting is its own: only the count for
            # new threads changes (a block that began meanwhile took it as its
            # default); the thread takes no lock, which a signal handler's call may
            # find held by the frame it interrupted
            _in_a_new_thread(self._write_back, back)

    def _write_back(self, back):
        # no lock: see leave; it says that it has written, whoever reads it (a
        # Ctrl-C may end the wait for it, not the write)
        torch.set_num_threads(back.count)
        self.writes += 1
        back.written = True

    def _write(self, count):
        torch.set_num_threads(count)
        self.last = count
        self.writes += 1

    def after_fork(self):
        # the parent's other threads, their blocks and the thread writing the
        # count back do not exist in the child: what the parent knew of the count
        # for new threads is kept, to be checked against this thread's count
        self.lock = threading.RLock()
        self.known = self.pending.count if self.pending else self.default or self.known
        self.blocks, self.default, self.last, self.pending = 0, None, None, None


class _WriteBack:
    """A count for new threads being written back, and whether it is written."""

    def __init__(self, count):
        self.count, self.written = count, False


def _in_a_new_thread(function, *args):
    """``function(*args)``, called in a thread started for it (a bare one: a
    ``threading.Thread`` takes twice as long to start); None if no thread could
    start, or the function raised."""
    done, result = _thread.allocate_lock(), []

    def run():
        try:
            result.append(function(*args))
        except Exception:  # said by the None returned
            pass
        finally:
            done.release()

    done.acquire()
    try:
        _thread.start_new_thread(run, ())
    except RuntimeError:  # can't start new thread
        return None
    done.acquire()
    return result[0] if result else None


_NEW_THREADS = _NewThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_NEW_THREADS.after_fork)


class _ThreadTrials(Callback):
    """With ``n_jobs="adaptive"``, on the CPU, training steps that run on several
    threads (see ``_thread_count``) are timed against trial steps on one thread,
    and the faster count runs the steps that follow: several threads on a quiet
    machine where they pay, one where another process holds a core. The count is
    set within the threads context of the fit (``_intra_op_threads``), which
    restores the caller's setting afterwards. Which count runs a step depends on
    the machine's load, and two counts may differ in the last bits of a sum (a
    convolution, a loss over more values than torch splits), so such a fit is not
    repeated bit for bit: that is why it is not the default."""

    def on_train_begin(self, net, **kwargs):
        self.counts_ = None  # (current, other), set at the first training step

    def on_batch_begin(self, net, training=False, **kwargs):
        if self.counts_ is None and training:
            self._start(net)
        if not self.counts_:
            return
        count = self.counts_[1] if training and self.trial_ is not None else self.counts_[0]
        if torch.get_num_threads() != count:
            _NEW_THREADS.set(count)
        self.started_ = _clock() if training else None

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not self.counts_ or not training or self.started_ is None:
            return
        # per row; an epoch's short last batch is not timed
        target = batch[1][0] if isinstance(batch[1], tuple) else batch[1]
        rows = len(target)
        seconds = (_clock() - self.started_) / rows
        self.rows_ = max(self.rows_, rows)
        if 2 * rows < self.rows_:
            return
        self.step_ += 1
        if self.step_ <= _WARMUP_STEPS:
            return
        if self.trial_ is None:
            self.recent_.append(seconds)
            if self.step_ >= self.next_trial_ or self._slowed():
                self.trial_ = []
            return
        self.trial_.append(seconds)
        timed, current = self.trial_[1:], statistics.fmean(self.recent_)
        if timed and timed[0] >= 2 * current:
            self._end_trial(switch=False)
        elif len(self.trial_) == _TRIAL_STEPS:
            self._end_trial(switch=statistics.fmean(timed) < _MARGIN * current)

    def _slowed(self):
        """Whether the median of the last steps is _SLOWER times the level of the
        last trial (a neighbour that started while several threads run; one slow
        step is not); the window then keeps only them."""
        last = list(self.recent_)[-_SLOW_STEPS:]
        if self.level_ is None or len(last) < _SLOW_STEPS:
            return False
        if statistics.median(last) <= _SLOWER * self.level_:
            return False
        self.recent_ = deque(last, maxlen=_WINDOW)
        return True

    def _end_trial(self, switch):
        if switch:
            self.counts_ = self.counts_[::-1]
            self.recent_ = deque(self.trial_[1:], maxlen=_WINDOW)
            self.period_ = _SHORTEST_PERIOD
        else:
            self.period_ = min(_BACKOFF * self.period_, _LONGEST_PERIOD)
        self.level_ = statistics.fmean(self.recent_)
        self.trial_ = None
        self.next_trial_ = self.step_ + self.period_

    def on_train_end(self, net, **kwargs):
        # nothing of one fit's timings is kept with the net
        for name in [name for name in vars(self) if name.endswith("_")]:
            del self.__dict__[name]

    def _start(self, net):
        most = torch.get_num_threads()
        self.counts_ = ()
        if net.n_jobs == "adaptive" and most > 1 and torch.device(net.device).type == "cpu":
            self.counts_ = (most, 1)
        self.recent_ = deque(maxlen=_WINDOW)
        self.level_ = None
        self.trial_ = None
        self.started_ = None
        self.step_ = 0
        self.rows_ = 0
        self.next_trial_ = _FIRST_TRIAL
        self.period_ = _SHORTEST_PERIOD
