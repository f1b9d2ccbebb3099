"""A table of named specs (strategies, spaces) that plug-ins can extend: one spec per name."""

from __future__ import annotations

from typing import Dict, Generic, Tuple, TypeVar

from .errors import UserError

Spec = TypeVar('Spec')


class Registry(Generic[Spec]):
    """Specs by their ``name``, in registration order. ``what`` names them in messages."""

    def __init__(self, what: str):
        self.what = what
        self.entries: Dict[str, Spec] = {}

    def register(self, spec: Spec) -> Spec:
        if spec.name in self.entries and self.entries[spec.name] != spec:
            raise ValueError(f'a {self.what} named {spec.name!r} is registered already')
        self.entries[spec.name] = spec
        return spec

    def get(self, name: str) -> Spec:
        try:
            return self.entries[name]
        except KeyError:
            raise UserError(f'unknown {self.what} {name!r}; choose one of {", ".join(self.entries)}') from None

    def names(self) -> Tuple[str, ...]:
        return tuple(self.entries)

    def specs(self) -> Tuple[Spec, ...]:
        return tuple(self.entries.values())
