"""What the nni-cnas commands share: a parser that fails in one line, the YAML of --config under the
command line's options, comma lists and tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

from ..errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse that raises one-line UserErrors instead of printing usage and exiting, and that
    takes no abbreviated options (``--epoch`` is a typo, not ``--epochs``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('allow_abbrev', False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f'{message} (see {self.prog} --help)')


def load_yaml(path: str) -> dict:
    import yaml

    from ..files import read_user_text

    try:
        values = yaml.safe_load(read_user_text(Path(path), 'config file'))
    except yaml.YAMLError as error:
        raise UserError(f'config file {path} is not readable YAML ({type(error).__name__}: {error})') from None
    return {} if values is None else values


def given_options(args, skip=()) -> dict:
    """Options of ``--config`` (YAML) overridden by those given on the command line."""
    given = {key: value for key, value in vars(args).items()
             if key not in ('command', 'run', 'config_file', *skip)}
    config_file = getattr(args, 'config_file', None)
    values = load_yaml(config_file) if config_file else {}
    if not isinstance(values, dict):
        raise UserError(f'config file {config_file} must hold a mapping of option names to values')
    return {**values, **given}


def names(text: str) -> List[str]:
    """A comma-separated option as its non-empty names."""
    return [name.strip() for name in text.split(',') if name.strip()]


def print_table(table: str, md: Optional[str]) -> None:
    """Print a Markdown table, and write it to ``md`` when given."""
    print(table)
    if md:
        from ..files import atomic_write_text

        atomic_write_text(Path(md), table + '\n')
        print(f'wrote {md}')


def add_job_options(p) -> None:
    """``--jobs`` and ``--shard`` of the commands that run many searches (nni_cnas.experiments.jobs)."""
    p.add_argument('--jobs', type=int, default=1,
                   help='searches at once on this machine, each with its share of the cores or its own GPU; each '
                        'writes its lines to search.log in its run folder (default 1)')
    p.add_argument('--shard', help='I/N: run only every N-th search, starting at the I-th, so that N processes or '
                                   'machines share the work (and one results file)')
    p.add_argument('--stop-after', type=float, metavar='SECONDS',
                   help='stop the searches running after this long, each with a checkpoint, and start no more '
                        '(exit 143); the same command again continues: a protocol advanced in runs of a fixed length')


def stop_time(args) -> Optional[float]:
    """The ``time.time()`` at which ``--stop-after`` stops, or None; a bad value is refused."""
    seconds = getattr(args, 'stop_after', None)
    if seconds is None:
        return None
    if not seconds > 0:
        raise UserError(f'--stop-after takes a positive number of seconds, not {seconds:g}')
    import time

    return time.time() + seconds
