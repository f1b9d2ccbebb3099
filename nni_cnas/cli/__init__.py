"""``nni-cnas``: run Curriculum-NAS searches and look up NAS-Bench-201 cells.

Bad input is reported as one line, ``nni-cnas: error: ...``, with exit code 2 and no traceback; a
non-finite loss exits with 3, a search stopped by SIGTERM or Ctrl+C (after saving a checkpoint)
with 143.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from ..errors import NonFiniteLoss, SearchInterrupted, UserError
from ..logs import show_on_stdout
from ..threads import prepare_environment
from . import experiments, lookup, retrain, search
from .common import Parser

EXIT_USAGE, EXIT_NUMERICAL, EXIT_INTERRUPTED = 2, 3, 143


def build_parser():
    from .._version import __version__

    parser = Parser(prog='nni-cnas', description='Curriculum-NAS for NNI: curriculum searches and NAS-Bench-201 look-ups.')
    parser.add_argument('--version', action='version', version=f'nni-cnas {__version__}')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=Parser)
    search._search_parser(sub)
    search._sweep_parser(sub)
    experiments._sweep_plot_parser(sub)
    experiments._ranks_parser(sub)
    experiments._quality_parsers(sub)
    search._trial_parser(sub)
    experiments._report_parser(sub)
    search._nnictl_parser(sub)
    lookup._lookup_parser(sub)
    retrain._retrain_parser(sub)
    return parser


def one_line(error: BaseException) -> str:
    """An error's message on one line (messages quoting a parser's report may hold line breaks)."""
    return ' '.join(str(error).split())


def main(argv: Optional[List[str]] = None) -> int:
    prepare_environment()  # before anything imports torch
    show_on_stdout()  # the library's progress lines, as they are
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserError as error:
        print(f'nni-cnas: error: {one_line(error)}', file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteLoss as error:
        print(f'nni-cnas: error: {one_line(error)}', file=sys.stderr)
        return EXIT_NUMERICAL
    except SearchInterrupted as error:
        print(f'nni-cnas: interrupted: {one_line(error)}', file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print('nni-cnas: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
