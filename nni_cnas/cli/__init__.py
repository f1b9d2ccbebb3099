"""``nni-cnas``: run Curriculum-NAS searches and look up NAS-Bench-201 cells.

Every failure is one line, ``nni-cnas: error: ...``, and an exit code (``EXIT_CODES``): bad input 2
(nothing written), a non-finite loss 3, a run folder that cannot be written (full, read-only) 4,
out of memory on the device 5,
any other failure of a search 1 (its traceback in the run folder's ``error.log``; ``--debug`` shows
it here), a search stopped by SIGTERM or Ctrl+C after saving a checkpoint 143.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import List, Optional

from ..errors import NonFiniteLoss, OutOfMemory, SearchFailed, SearchInterrupted, StorageFull, UserError
from ..logs import show_on_stdout
from ..plugins import load_plugins, plugin_modules
from ..threads import prepare_environment
from . import experiments, lookup, retrain, search
from .common import Parser

EXIT_FAILED, EXIT_USAGE, EXIT_NUMERICAL, EXIT_STORAGE, EXIT_MEMORY, EXIT_INTERRUPTED = 1, 2, 3, 4, 5, 143
#: The exit code of each kind of failure (docs/checkpoints.md lists them).
EXIT_CODES = {UserError: EXIT_USAGE, NonFiniteLoss: EXIT_NUMERICAL, StorageFull: EXIT_STORAGE, OutOfMemory: EXIT_MEMORY,
              SearchFailed: EXIT_FAILED}


def build_parser():
    from .._version import __version__

    parser = Parser(prog='nni-cnas', description='Curriculum-NAS for NNI: curriculum searches and NAS-Bench-201 look-ups.')
    parser.add_argument('--version', action='version', version=f'nni-cnas {__version__}')
    parser.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                        help='a failure shows its traceback here too')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=Parser)
    search._search_parser(sub)
    search._sweep_parser(sub)
    experiments._sweep_plot_parser(sub)
    experiments._ranks_parser(sub)
    experiments._quality_parsers(sub)
    experiments._rescore_parsers(sub)
    search._trial_parser(sub)
    experiments._report_parser(sub)
    search._nnictl_parser(sub)
    lookup._lookup_parser(sub)
    retrain._retrain_parser(sub)
    return parser


def one_line(error: BaseException) -> str:
    """An error's message on one line (messages quoting a parser's report may hold line breaks)."""
    return ' '.join(str(error).split())


def plugin_arguments(argv: List[str]) -> List[str]:
    """The modules of every ``--plugin`` in a command line, before it is parsed: their parts must be
    registered before the parser lists the choices of ``--strategy``, ``--space``, ``--measure``..."""
    modules = []
    for index, word in enumerate(argv):
        if word == '--plugin' and index + 1 < len(argv):
            modules += plugin_modules(argv[index + 1])
        elif word.startswith('--plugin='):
            modules += plugin_modules(word.split('=', 1)[1])
    return modules


def main(argv: Optional[List[str]] = None) -> int:
    prepare_environment()  # before anything imports torch
    show_on_stdout()  # the library's progress lines, as they are
    words = sys.argv[1:] if argv is None else argv
    debug = '--debug' in words
    try:
        load_plugins(plugin_arguments(words))
        args = build_parser().parse_args(argv)
        vars(args).pop('debug', None)  # the command's own options only, from here on
        return args.run(args)
    except tuple(EXIT_CODES) as error:
        if debug and error.__cause__ is not None:
            traceback.print_exception(error.__cause__)
        print(f'nni-cnas: error: {one_line(error)}', file=sys.stderr)
        return next(code for kind, code in EXIT_CODES.items() if isinstance(error, kind))
    except SearchInterrupted as error:
        print(f'nni-cnas: interrupted: {one_line(error)}', file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print('nni-cnas: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
