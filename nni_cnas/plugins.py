"""A user's own parts (a strategy, a space, a measure, a weighting: each one file that registers
itself) in every process that searches, not only the Python process that imported them.

Two ways to name them:

- ``--plugin MODULE[,MODULE...]`` (``plugin:`` in a config or protocol file, ``plugin=`` to the
  Python API's ``SearchConfig``): recorded in the run's ``config.yaml``, so that ``--resume``,
  ``--jobs`` workers and nnictl trials import them again;
- an installed package's entry point in the group ``nni_cnas.plugins``
  (``[project.entry-points."nni_cnas.plugins"] mine = "my_package.nas_parts"``): imported in every
  process that reads a search's options, with nothing to name.

A module is imported once per process; one that cannot be imported is one line saying which and why.
"""

from __future__ import annotations

import importlib
import logging
from importlib import metadata
from typing import Iterable, List, Optional

from .errors import UserError

__all__ = ['GROUP', 'load_plugins', 'plugin_modules']

_logger = logging.getLogger(__name__)

#: The entry-point group of installed plug-ins.
GROUP = 'nni_cnas.plugins'

_entry_points_loaded = False


def plugin_modules(text: Optional[str]) -> List[str]:
    """The module names of a ``--plugin`` value (comma-separated; None or empty: none)."""
    return [name.strip() for name in (text or '').split(',') if name.strip()]


def _entry_points():
    found = metadata.entry_points()
    return found.select(group=GROUP) if hasattr(found, 'select') else found.get(GROUP, [])  # Python 3.9's dict


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in _entry_points():
        try:
            entry.load()
        except Exception as error:  # noqa: BLE001  (a plug-in's import may fail in any way)
            raise UserError(f'the installed nni_cnas plug-in {entry.name!r} ({entry.value}) could not be imported '
                            f'({type(error).__name__}: {error}); fix or uninstall its package') from None
        _logger.debug('nni_cnas plug-in %s (%s) loaded', entry.name, entry.value)


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Import the installed plug-ins (once per process), then each of ``modules`` (Python imports a
    module once; ``sys.modules`` remembers it)."""
    _load_entry_points()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001  (a user's module may fail in any way)
            raise UserError(f'--plugin {name}: the module could not be imported ({type(error).__name__}: {error}); '
                            'give an importable module (on PYTHONPATH or installed) that registers your parts') from None
