"""A table of named specs (strategies, spaces) that plug-ins can extend: one spec per name, each
with the options it declares (``spec.options``, each with a ``name``)."""

from __future__ import annotations

from typing import Any, Dict, Generic, Tuple, TypeVar

from .errors import UserError
from .option import find

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

    def option_names(self) -> Tuple[str, ...]:
        """Every option the specs declare, once, in registration order."""
        return tuple(dict.fromkeys(option.name for spec in self.specs() for option in getattr(spec, 'options', ())))

    def having(self, option: str) -> Tuple[str, ...]:
        """The names of the specs that declare ``option``."""
        return tuple(spec.name for spec in self.specs() if self._declared(spec, option) is not None)

    def declaration(self, option: str) -> Any:
        """The first declaration of ``option`` (those of one name agree: the CLI has one flag for it)."""
        return next(found for found in (self._declared(spec, option) for spec in self.specs()) if found is not None)

    @staticmethod
    def _declared(spec: Spec, option: str) -> Any:
        return find(getattr(spec, 'options', ()), option)
