"""Package attributes loaded on first use, so that importing a package (for ``nni-cnas --help``, a
config check, the strategy registry) does not import torch or NNI."""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``where[name]`` (a module path relative to
    ``package``, such as ``'.component'``) on first access of ``name``."""

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name], package), name)
        raise AttributeError(f'module {package!r} has no attribute {name!r}')

    return __getattr__
