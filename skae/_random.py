"""Seeds and draws that never touch a global generator.

``random_state`` becomes an int seed (``_draw_seed``); a net's initial weights are
drawn from a generator of that seed by intercepting torch's random functions in
the building thread (``_DrawFrom``), since module constructors take no generator.
"""

import inspect

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.overrides import TorchFunctionMode


def _default_device():
    # torch.get_default_device arrived in torch 2.3
    get = getattr(torch, "get_default_device", None)
    return "cpu" if get is None else get()


class _DrawFrom(TorchFunctionMode):
    """Within the block, every torch random draw that is given no generator draws
    from ``generator`` instead of torch's global one.

    Module constructors (torch's layers, and any custom module's) draw their
    initial weights from the global generator, and nothing lets a caller hand them
    another; this mode hands them one. torch function modes are local to the
    thread, so other threads' draws, skae's or the caller's, are not disturbed, and
    there is no lock to hold across a ``fork``. A generator seeded like the global
    one gives the same numbers, so the weights are those of
    ``torch.manual_seed(seed)`` followed by construction. Draws that take no
    generator (dropout, or torch.distributions' Gamma family, called in a
    constructor) and draws on a GPU still come from torch's global generators.
    """

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _RANDOM_FUNCTIONS and kwargs.get("generator") is None:
            target = args[0] if args and isinstance(args[0], torch.Tensor) else None
            device = target.device if target is not None else kwargs.get("device")
            # the generator is a CPU one: draws on another device keep that device's
            if torch.device(device or _default_device()).type == "cpu":
                kwargs["generator"] = self.generator
        return func(*args, **kwargs)


# torch's functions, tensor methods and initializers that draw random numbers and
# take a generator. A mode sees the outermost call only (what a call does inside is
# not intercepted again), so torch.nn.init's functions, which layers' constructors
# call, are listed themselves.
_RANDOM_FUNCTIONS = {
    getattr(owner, name)
    for owner, names in (
        (
            torch,
            "rand randn randint randperm normal bernoulli multinomial poisson rand_like "
            "randn_like randint_like",
        ),
        (
            torch.Tensor,
            "uniform_ normal_ bernoulli_ random_ exponential_ geometric_ log_normal_ "
            "cauchy_ bernoulli multinomial",
        ),
        (
            torch.nn.init,
            "uniform_ normal_ trunc_normal_ kaiming_uniform_ kaiming_normal_ "
            "xavier_uniform_ xavier_normal_ orthogonal_ sparse_",
        ),
    )
    for name in names.split()
    # (older torch's initializers take no generator)
    if owner is not torch.nn.init
    or "generator" in inspect.signature(getattr(owner, name)).parameters
}


def _draw_seed(random_state):
    """An int seed from ``random_state``, never drawing from a global generator."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
