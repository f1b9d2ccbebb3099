"""Errors that are the user's input, not a bug: the CLI reports them as one line and exits with 2."""


class UserError(ValueError):
    """Bad input (an option, a file, a data directory, an architecture). The message names the
    problem and, where there is one, the fix."""
