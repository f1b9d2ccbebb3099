"""Errors the CLI reports as one line, without a traceback."""


class UserError(ValueError):
    """Bad input (an option, a file, a data directory, an architecture). The message names the
    problem and, where there is one, the fix. Exit code 2."""


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite: the search stops instead of training on garbage; the last
    epoch's checkpoint is still good. Exit code 3."""


class SearchInterrupted(RuntimeError):
    """The search was stopped (SIGTERM, Ctrl+C) after saving a checkpoint. Exit code 143."""
