"""Options written as ``KEY=VALUE`` items on one line (``"width=(8,16) num_cells=4"``), the form
that fits a command-line flag, a ``config.yaml`` string and an nnictl search space's choice alike."""

from __future__ import annotations

import ast
import shlex
from typing import Any, Dict, Optional

from .errors import UserError

__all__ = ['parse_items', 'format_items']


def parse_items(text: Optional[str], flag: str) -> Dict[str, Any]:
    """The items of ``text``, each value a Python literal (a bare word is a string); a
    :class:`UserError` naming ``flag`` for anything else."""
    items: Dict[str, Any] = {}
    try:
        words = shlex.split(text or '')
    except ValueError as error:
        raise UserError(f'{flag}: {error} in {text!r}') from None
    for item in words:
        key, sep, value = item.partition('=')
        if not sep or not key.isidentifier():
            raise UserError(f'{flag} takes KEY=VALUE items separated by spaces, not {item!r}')
        try:
            items[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            if not value.replace('-', '_').isidentifier():
                raise UserError(f'{flag} {key}={value}: not a number, tuple, list or word') from None
            items[key] = value
    return items


def format_items(items: Dict[str, Any]) -> str:
    """The line :func:`parse_items` reads back as ``items``."""
    return ' '.join(f'{key}={value!r}' if not isinstance(value, str) else f'{key}={value}'
                    for key, value in items.items())
