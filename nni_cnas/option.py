"""An option that a registered part declares once (a strategy's, a space's): its config key, its
command-line flag, its type, default, help and checks. The search config, the CLI's flags and help,
``config.yaml`` and protocol files all read the declaration, so a default is written in one place."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .errors import UserError

__all__ = ['Option', 'AS_CLI', 'find', 'resolve']

#: :attr:`Option.api_default` of an option whose class default is the command line's.
AS_CLI = 'as-cli'


@dataclasses.dataclass(frozen=True)
class Option:
    """An option of one strategy or space: its config key (``--name-with-dashes`` on the command line
    unless ``flag`` says otherwise; a ``bool`` is ``--name``/``--no-name``), a strategy class's keyword
    for it (``kwarg``), its default on image spaces and, where it differs, on recurrent (text) spaces."""

    name: str
    type: type
    default: Any
    help: str
    kwarg: Optional[str] = None
    text_default: Any = None
    choices: Tuple[str, ...] = ()
    positive: bool = False
    minimum: Optional[float] = None
    flag: Optional[str] = None
    #: The class's default where it differs from the command line's (:data:`AS_CLI`: the same).
    api_default: Any = AS_CLI

    @property
    def cli_flag(self) -> str:
        return self.flag or '--' + self.name.replace('_', '-')

    @property
    def keyword(self) -> str:
        return self.kwarg or self.name

    def default_for(self, kind: str) -> Any:
        return self.text_default if kind == 'text' and self.text_default is not None else self.default

    def check(self, value: Any) -> Any:
        """``value`` if it is valid for this option; else a :class:`UserError` naming the flag."""
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f'{self.cli_flag} must be a finite number, not {value}')
        if self.choices and value not in self.choices:
            raise UserError(f'unknown {self.name.replace("_", " ")} {value!r}; choose one of {", ".join(self.choices)}')
        if self.positive and not value > 0:
            raise UserError(f'{self.cli_flag} must be positive, not {value}')
        if self.minimum is not None and not value >= self.minimum:
            raise UserError(f'{self.cli_flag} must be {self.minimum:g} or more, not {value}')
        return value


def find(options: Sequence[Option], name: str) -> Optional[Option]:
    """The declaration named ``name`` among ``options``, or None."""
    return next((option for option in options if option.name == name), None)


def resolve(options: Sequence[Option], given: Mapping[str, Any], kind: str) -> Dict[str, Any]:
    """Every declared option: the given value (checked) or the default for the space's ``kind``."""
    return {option.name: option.default_for(kind) if given.get(option.name) is None else option.check(given[option.name])
            for option in options}
