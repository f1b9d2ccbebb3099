"""The commands of the README and the documentation pages, as written: the demo, the look-up, the
Python example, the drop-in example, the paired comparison."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nni_cnas.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
#: The README and the documentation pages: their code blocks are what a reader copies.
PAGES = README + ''.join(path.read_text() for path in sorted((ROOT / 'docs').glob('*.md')))


def makefile_demo_commands() -> list:
    """The ``nni-cnas`` commands of the Makefile's demo target, as argument lists (without ``nni-cnas``)."""
    text = (ROOT / 'Makefile').read_text().replace('\\\n', ' ')
    target = text.split('\ndemo:', 1)[1].split('\n\n', 1)[0]
    return [shlex.split(line.split('nni-cnas', 1)[1]) for line in target.splitlines() if '/nni-cnas ' in line]


def code_blocks(language):
    return re.findall(rf'```{language}\n(.*?)```', PAGES, flags=re.S)


def test_readme_shows_the_demo_commands_of_the_makefile():
    shown = next(block for block in code_blocks('bash') if block.strip().startswith('nni-cnas search --space'))
    commands = [shlex.split(line)[1:] for line in shown.replace('\\\n', ' ').splitlines() if line.strip()]
    assert commands == makefile_demo_commands()


def test_the_demo_runs_plain_and_curriculum_side_by_side(tmp_path, capsys, monkeypatch):
    """As on a fresh install: no shared data folder, no table given; the look-ups come from the package."""
    monkeypatch.setenv('NNI_CNAS_DATA', str(tmp_path / 'no-data-here'))
    monkeypatch.delenv('NNI_CNAS_NB201_TABLE', raising=False)
    plain, curriculum, report = makefile_demo_commands()
    folders = []
    for argv in (plain, curriculum):
        out = argv.index('--out') + 1
        argv[out] = str(tmp_path / argv[out])  # everything else exactly as written
        folders.append(argv[out])
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'found architecture: |' in out and 'cifar10         test' in out
    assert 'supernet val' in out and 'cell val' in out and 'policy p_max' in out
    # What the demo is for: the policy decides and the curriculum's data weights move, visibly.
    metrics = [json.loads(line) for line in (tmp_path / 'runs' / 'demo-cl-gdas' / 'metrics.jsonl').read_text().splitlines()]
    assert metrics[-1]['policy_max_prob'] > metrics[0]['policy_max_prob'] + 0.15
    assert max(m['data_weights']['gini'] for m in metrics) > 0.1
    # The report puts the two runs side by side, the weights' diagnostics in the curriculum's row.
    assert report[0] == 'report' and [str(tmp_path / r) for r in report[1:]] == folders
    assert main(['report', *folders]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith('| demo')]
    assert [row.split('|')[3].strip() for row in rows] == ['none', 'epoch']
    assert all(0 < float(row.split('|')[9]) <= 100 for row in rows)  # look-up test (%): both found cells, not '-'
    assert float(rows[0].split('|')[11]) == 0.1 and float(rows[1].split('|')[11]) > 0.12  # top-10% weight: even, uneven


def test_the_lookup_command_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('NNI_CNAS_DATA', str(tmp_path / 'no-data-here'))  # the packaged table, nothing else
    monkeypatch.delenv('NNI_CNAS_NB201_TABLE', raising=False)
    command = next(line for block in code_blocks('bash') for line in block.splitlines()
                   if line.startswith('nni-cnas lookup'))
    assert main(shlex.split(command)[1:]) == 0
    assert '94.37' in capsys.readouterr().out


def test_the_python_example_runs(tmp_path, monkeypatch, nb201_table):
    example = next(block for block in code_blocks('python') if 'run_search' in block)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(example, 'README.md', 'exec'), namespace)
    assert (tmp_path / 'runs' / 'api-example' / 'result.json').exists()
    assert namespace['result']['lookup']['cifar10']['test'] > 0


def test_the_drop_in_example_runs(tmp_path):
    process = subprocess.run([sys.executable, str(ROOT / 'examples' / 'nni_dropin.py'), '--tiny'],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-2000:]
    assert re.search(r'^\|\w+~0\|\+', process.stdout, flags=re.M)


def test_the_paired_command_runs_on_the_committed_results(tmp_path):
    """The README's paired comparison, as written, on the results files committed in benchmarks/."""
    lines = [line for block in code_blocks('bash') for line in block.splitlines()
             if line.startswith('.venv/bin/python benchmarks/paired.py')]
    assert lines
    for line in lines:
        argv = shlex.split(line)[1:]
        argv[argv.index('--md') + 1] = str(tmp_path / 'paired.md')
        process = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert process.returncode == 0, process.stderr[-2000:]
        assert (tmp_path / 'paired.md').read_text().startswith('| strategy | curriculum - plain | K |')
        assert '| rsps | epoch | 5 | Kendall tau |' in process.stdout


def readme_commands():
    """Every concrete ``nni-cnas`` command of the README's shell blocks (synopses with {a,b} or
    [optional] parts are not commands)."""
    commands = []
    for block in code_blocks('bash'):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #')[0].strip()
            if line.startswith('nni-cnas ') and not re.search(r'[{\[]', line):
                commands.append(shlex.split(line)[1:])
    return commands


def test_every_readme_command_parses():
    from nni_cnas.cli import build_parser

    commands = readme_commands()
    assert {c[0] for c in commands} >= {'search', 'lookup', 'ranks', 'sweep', 'sweep-plot', 'quality', 'quality-table', 'report'}
    for argv in commands:
        build_parser().parse_args(argv)  # a renamed option fails here


def test_the_darts_search_and_retrain_commands_run(tmp_path, capsys):
    commands = [c for c in readme_commands() if any('darts-gdas' in part for part in c)]
    assert [c[0] for c in commands] == ['search', 'retrain', 'retrain']
    folders = {}
    for argv in commands:  # as written, with the run folders moved into tmp_path
        argv = list(argv)
        for flag in ('--out', '--resume'):
            if flag in argv:
                name = argv[argv.index(flag) + 1]
                argv[argv.index(flag) + 1] = folders.setdefault(name, str(tmp_path / Path(name).name))
        if argv[0] == 'retrain' and '--resume' not in argv:
            argv[1] = folders[argv[1]]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'Genotype(normal=' in out and 'test accuracy' in out


def test_the_ptb_search_and_retrain_commands_run(tmp_path, capsys):
    from nni_cnas.data.text import default_ptb_dir

    if default_ptb_dir() is None:
        pytest.skip('Penn Treebank is not here (../shared/data/ptb/ptb.{train,valid,test}.txt)')
    commands = [c for c in readme_commands() if any('ptb-darts' in part for part in c)]
    assert [c[0] for c in commands] == ['search', 'retrain']
    search, retrain = (list(c) for c in commands)
    search[search.index('--out') + 1] = str(tmp_path / 'ptb-darts')  # everything else as written
    retrain[1] = str(tmp_path / 'ptb-darts')
    retrain[retrain.index('--out') + 1] = str(tmp_path / 'ptb-darts-retrain')
    assert main(search) == 0 and main(retrain) == 0
    out = capsys.readouterr().out
    assert 'Genotype(recurrent=' in out and 'test perplexity' in out


def test_the_close_search_commands_run(tmp_path, capsys):
    commands = [c for c in readme_commands() if c[0] == 'search' and '--close' in c]
    assert len(commands) == 2
    for argv in commands:
        argv = list(argv)
        argv[argv.index('--out') + 1] = str(tmp_path / Path(argv[argv.index('--out') + 1]).name)  # the rest as written
        assert main(argv) == 0
    assert capsys.readouterr().out.count('found architecture: |') == 2
    metrics = (tmp_path / 'close-rsps' / 'metrics.jsonl').read_text().splitlines()
    assert [json.loads(line)['close_blocks'] for line in metrics] == [1, 2, 3, 4, 4]


def test_the_curriculum_parts_command_runs_and_records_what_the_weights_did(tmp_path, capsys):
    commands = [c for c in readme_commands() if c[0] == 'search' and '--weighting' in c and '--plugin' not in c]
    assert len(commands) == 1
    argv = list(commands[0])
    argv[argv.index('--out') + 1] = str(tmp_path / 'setn-permuted')  # the rest as written
    assert main(argv) == 0
    last = json.loads((tmp_path / 'setn-permuted' / 'metrics.jsonl').read_text().splitlines()[-1])['data_weights']
    assert last['std'] > 0 and abs(last['rank_corr_loss']) < 0.5  # shuffled: little to do with the losses
    assert set(last) >= {'class_mean', 'top10_share', 'rank_corr_loss', 'rank_corr_previous'}
    assert main(['report', str(tmp_path / 'setn-permuted')]) == 0
    assert 'top-10% weight' in capsys.readouterr().out


def test_the_readme_synopsis_names_every_registered_space_and_strategy():
    from nni_cnas import spaces
    from nni_cnas.strategies import registry

    synopsis = next(block for block in code_blocks('bash') if '--strategy {' in block)
    choices = lambda option: re.search(rf'--{option} {{([^}}]*)}}', synopsis).group(1).split(',')  # noqa: E731
    assert choices('strategy') == list(registry.names())
    assert choices('space') == list(spaces.names())


def test_the_drop_in_diff_is_the_example_script():
    """The README's and the drop-in page's diff: every line it adds or keeps stands in
    examples/nni_dropin.py (the import included), every line it removes stands there commented out."""
    code = lambda line: line.strip().split('  #')[0].strip()  # noqa: E731  (trailing comments may differ)
    example = [code(line) for line in (ROOT / 'examples' / 'nni_dropin.py').read_text().splitlines()]
    diffs = [block for block in code_blocks('diff') if 'nni_cnas.DARTS()' in block]
    assert len(diffs) >= 2  # the README's and the drop-in page's
    for block in diffs:
        lines = [line for line in block.splitlines() if line.strip() and line.strip() != '...']
        assert '+import nni_cnas' in lines
        for line in lines:
            kept = code(line[1:])
            assert (f'# {kept}' if line.startswith('-') else kept) in example, line
