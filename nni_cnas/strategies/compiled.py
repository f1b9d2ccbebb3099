"""torch.compile of the search steps whose forward is the whole mixed supernet (DARTS' weight and
architecture steps, SETN's architecture step): the same graph at every step, so it compiles once.
Steps that train or score one path (a new graph each time), the curriculum's passes and the
scoring of fixed cells stay eager. Opt-in (``compile=True``): the first steps wait for the compile.

The compiled callable is kept outside the module's registered children, so that checkpoints and
``state_dict`` keys are those of the eager search. Inductor's generated code is cached on disk
(``TORCHINDUCTOR_CACHE_DIR``, by default in the system temp folder), so the searches of ``--jobs``
and later runs on the machine reuse it."""

from __future__ import annotations

import os
import shutil
from typing import Callable, Optional, Sequence

import torch

from .registry import COMPILE_BACKEND

__all__ = ['StaticStepCompiler', 'check_backend']


def check_backend(backend: str) -> None:
    """Refuse a backend torch.compile does not know, in one line that lists those it does."""
    import torch._dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if backend not in known:
        raise ValueError(f'compile backend {backend!r} is not one of torch.compile\'s: {", ".join(sorted(known))}')


def _cpp_compiler() -> Optional[str]:
    for name in (os.environ.get('CXX'), 'g++', 'c++', 'clang++'):
        if name and shutil.which(name):
            return name
    return None


class StaticStepCompiler:
    """The compiled forward of the evaluator's module for the static steps, made once the module is on
    its device (:meth:`build`); None for every step when compiling is off."""

    def __init__(self, backend: Optional[str] = None, static_steps: Sequence[str] = ()):
        #: torch.compile's backend, or None: compiling is off.
        self.backend = backend
        #: The strategy's steps whose forward is the whole mixed supernet (StrategySpec.static_steps).
        self.static_steps = tuple(static_steps)
        # Held by this plain object, not by the search module: no registered child, no state_dict keys.
        self._compiled: Optional[Callable] = None

    def build(self, training_module: torch.nn.Module, device: torch.device) -> None:
        if self.backend is None or self._compiled is not None:
            return
        if self.backend == COMPILE_BACKEND and device.type == 'cpu' and _cpp_compiler() is None:
            raise RuntimeError('compile=True (--compile) with inductor on the CPU needs a C++ compiler and none was found '
                               '(install g++, or set CXX to one); or compile_backend="aot_eager" (no generated code)')
        self._compiled = torch.compile(training_module, backend=self.backend, dynamic=False)

    def forward(self, step: str) -> Optional[Callable]:
        """The compiled forward for ``step`` (``'weight'`` or ``'architecture'``) where the strategy
        runs it as the mixed supernet, else None (the eager module)."""
        return self._compiled if step in self.static_steps else None
