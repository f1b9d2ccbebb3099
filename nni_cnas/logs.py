"""nni_cnas' log: a logger per module under ``nni_cnas`` (``logging.getLogger(__name__)``, as NNI
does). A library user configures it as any Python logger; the ``nni-cnas`` command shows its lines
as they are, one per line, on stdout (:func:`show_on_stdout`), warnings prefixed ``warning:``. A
DDP rank other than 0 is quiet by level (:func:`quiet_rank`); a search of ``--jobs`` writes its
lines to its own file (:func:`to_file`)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

__all__ = ['LOGGER', 'show_on_stdout', 'quiet_rank', 'to_file']

#: The package's logger; every module's logger is a child of it.
LOGGER = 'nni_cnas'


class _LineFormatter(logging.Formatter):
    """The message as it is; a warning or error prefixed with its level."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return f'{record.levelname.lower()}: {message}' if record.levelno >= logging.WARNING else message


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged (pytest's capture, a redirect)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(_LineFormatter())

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # logging.StreamHandler sets it in __init__; the property decides
        pass


def show_on_stdout(level: int = logging.INFO) -> None:
    """The command line's view: nni_cnas' lines on stdout (once, however often it is called), not
    also passed to the root logger (NNI installs a handler there with its own format)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        logger.addHandler(_StdoutHandler())
    logger.setLevel(level)
    logger.propagate = False


def quiet_rank() -> None:
    """A DDP rank other than 0 trains; rank 0 speaks. Its warnings and errors still show."""
    logging.getLogger(LOGGER).setLevel(logging.WARNING)


@contextlib.contextmanager
def to_file(path: Path) -> Iterator[None]:
    """nni_cnas' lines go to ``path`` (appended) instead of stdout while the block runs: a search
    run beside others by ``--jobs`` keeps its own log."""
    logger = logging.getLogger(LOGGER)
    handler = logging.FileHandler(path, encoding='utf-8')
    handler.setFormatter(_LineFormatter())
    others = [h for h in logger.handlers if isinstance(h, _StdoutHandler)]
    for other in others:
        logger.removeHandler(other)
    logger.addHandler(handler)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        for other in others:
            logger.addHandler(other)
        logger.setLevel(level)
        logger.propagate = propagate
