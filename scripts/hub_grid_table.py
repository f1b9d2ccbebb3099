"""The pass/skip table of NNI's hub test grid (tests/test_hub.py), from pytest's JUnit XML.

    .venv/bin/python -m pytest -m "" tests/test_hub.py --junitxml=grid.xml
    .venv/bin/python scripts/hub_grid_table.py grid.xml [rerun.xml ...]

A cell is the result plain / with the ``epoch`` curriculum: ``pass``, ``skip`` (with NNI's reason
below the table) or ``FAIL`` (with the first line of the error). A later file's result of a
configuration replaces an earlier one's (a rerun of some configurations after a fix).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from hub_grid import CURRICULA, SPACES, STRATEGIES  # noqa: E402


def outcomes(xml_path: str):
    """``{(space, strategy, curriculum): (outcome, message, seconds)}``."""
    results = {}
    for case in ElementTree.parse(xml_path).getroot().iter('testcase'):
        match = re.fullmatch(r'test_hub_space\[(.+)-(\w+)-(none|epoch)\]', case.get('name', ''))
        if not match:
            continue
        outcome, message = 'pass', ''
        for tag, name in (('skipped', 'skip'), ('failure', 'FAIL'), ('error', 'FAIL')):
            element = case.find(tag)
            if element is not None:
                outcome, message = name, (element.get('message') or '').splitlines()[0] if element.get('message') else ''
        results[match.groups()] = (outcome, message, float(case.get('time', 0)))
    return results


def table(results) -> str:
    notes: dict = {}
    lines = ['| space | ' + ' | '.join(STRATEGIES) + ' |', '|---|' + '---|' * len(STRATEGIES)]
    for space in SPACES:
        cells = []
        for strategy in STRATEGIES:
            parts = []
            for curriculum in CURRICULA:
                outcome, message, _ = results.get((space, strategy, curriculum), ('not run', '', 0.0))
                if outcome in ('skip', 'FAIL') and message:
                    number = notes.setdefault(message, len(notes) + 1)
                    outcome = f'{outcome}[{number}]'
                parts.append(outcome)
            cells.append(parts[0] if len(set(parts)) == 1 else ' / '.join(parts))
        lines.append(f'| {space} | ' + ' | '.join(cells) + ' |')
    passed = sum(1 for outcome, _, _ in results.values() if outcome == 'pass')
    skipped = sum(1 for outcome, _, _ in results.values() if outcome == 'skip')
    failed = sum(1 for outcome, _, _ in results.values() if outcome == 'FAIL')
    seconds = sum(time for _, _, time in results.values())
    lines += ['', f'{passed} passed, {skipped} skipped, {failed} failed of {len(results)} runs '
                  f'({seconds / 60:.0f} min of test time). A cell shows plain and `epoch` curriculum together when they agree.', '']
    lines += [f'[{number}] {message}' + '  ' for message, number in notes.items()]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('usage: hub_grid_table.py GRID.xml [RERUN.xml ...]')
    merged = {}
    for path in sys.argv[1:]:
        merged.update(outcomes(path))
    sys.stdout.write(table(merged))
