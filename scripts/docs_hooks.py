"""MkDocs hooks of the documentation site (mkdocs.yml): the command-line reference generated from
the CLI's own parser, so that it says what ``--help`` says; and the figures BENCHMARKS.md shows,
served from ``benchmarks/results`` where they are made (not copied into docs/)."""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
#: The line of docs/cli.md that the generated reference replaces.
CLI_REFERENCE = '<!-- the command line reference, generated -->'


def command_line_reference() -> str:
    """One section per command: its ``--help``, at a fixed width."""
    os.environ['COLUMNS'] = '100'
    from nni_cnas.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if action.__class__.__name__ == '_SubParsersAction')
    sections = []
    for name, command in commands.choices.items():
        sections.append(f'### nni-cnas {name}\n\n```text\n{command.format_help().rstrip()}\n```\n')
    return '\n'.join(sections)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == 'cli.md':
        if CLI_REFERENCE not in markdown:
            raise ValueError(f'docs/cli.md lost its marker {CLI_REFERENCE!r}')
        return markdown.replace(CLI_REFERENCE, command_line_reference())
    return markdown


def on_files(files, config):
    for figure in sorted((ROOT / 'benchmarks' / 'results').glob('*.png')):
        files.append(File(str(figure.relative_to(ROOT)), src_dir=str(ROOT), dest_dir=config['site_dir'],
                          use_directory_urls=config['use_directory_urls']))
    return files
