"""Errors the CLI reports as one line, without a traceback."""


class UserError(ValueError):
    """Bad input (an option, a file, a data directory, an architecture). The message names the
    problem and, where there is one, the fix. Exit code 2."""


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite: the search stops instead of training on garbage; the last
    epoch's checkpoint is still good. Exit code 3."""


class StorageFull(RuntimeError):
    """The run folder could not be written (a full disk, a quota, a read-only or forbidden
    folder): the search stopped, its last good checkpoint untouched and no partial file left; the
    message says what was needed, what is free and how to continue. Exit code 4."""


class OutOfMemory(RuntimeError):
    """The search ran out of memory on its device (GPU or CPU): the figures, the sizes the estimate
    says fit, the status ``failed`` and the command that resumes it (after memory is freed).
    Exit code 5."""


class SearchFailed(RuntimeError):
    """A search failed for a reason none of the others names (a bug, a crash in a library): one line
    with the error, its status in ``status.json`` and its traceback in the run folder's
    ``error.log``. Exit code 1."""


class SearchInterrupted(RuntimeError):
    """The search was stopped (SIGTERM, Ctrl+C) after saving a checkpoint. Exit code 143."""
