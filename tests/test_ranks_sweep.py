"""Rank tracing (exact ranks against enumeration, the CSV and figure commands) and K sweeps
(every run once, resumable, the figure)."""

from __future__ import annotations

import csv
import itertools
import json
import math
import random

import pytest

from nni_cnas.cli import main
from nni_cnas.run.policy_ranks import log_probability, rank_under
from nni_cnas.spaces.nb201_arch import LABELS, OPS, sample_to_arch

TINY = ['--dataset', 'digits', '--subset', '48', '--epochs', '2', '--channels', '4', '--cells', '1',
        '--batch-size', '16', '--candidates', '4', '--selection-size', '32']
BEST = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'


def random_policy(rng, labels=LABELS, options=OPS, ties=False):
    policy = {}
    for label in labels:
        raw = [rng.choice([1.0, 2.0]) if ties else rng.random() + 1e-3 for _ in options]
        policy[label] = {op: value / sum(raw) for op, value in zip(options, raw)}
    return policy


@pytest.mark.parametrize('seed', range(6))
def test_rank_equals_brute_force_enumeration_of_nb201(seed):
    rng = random.Random(seed)
    policy = random_policy(rng, ties=seed % 2 == 1)  # odd seeds: many exactly equal probabilities
    everything = [dict(zip(LABELS, ops)) for ops in itertools.product(OPS, repeat=len(LABELS))]
    scores = [log_probability(policy, arch) for arch in everything]
    for arch in rng.sample(everything, 25):
        target = log_probability(policy, arch)
        expected = 1 + sum(score > target + 1e-9 for score in scores)
        assert rank_under(policy, arch) == expected


def test_the_most_probable_architecture_has_rank_one_and_probabilities_multiply():
    policy = random_policy(random.Random(0))
    best = {label: max(policy[label], key=policy[label].get) for label in LABELS}
    assert rank_under(policy, best) == 1
    assert math.isclose(log_probability(policy, best), sum(math.log(max(p.values())) for p in policy.values()))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_search_writes_ranks_and_the_ranks_command_draws_them(capsys, tmp_path):
    for name, curriculum in (('plain', 'none'), ('cl', 'epoch')):
        code, _, err = run(capsys, 'search', '--strategy', 'darts', '--curriculum', curriculum, *TINY,
                           '--out', tmp_path / name)
        assert code == 0, err
        rows = list(csv.DictReader((tmp_path / name / 'ranks.csv').open()))
        result = json.loads((tmp_path / name / 'result.json').read_text())
        assert [int(r['epoch']) for r in rows] == [0, 1] and {r['arch'] for r in rows} == {result['arch']}
        assert rows[-1]['rank'] == '1'  # DARTS exports the argmax: the most probable at the last epoch
    code, out, err = run(capsys, 'ranks', tmp_path / 'plain', tmp_path / 'cl', '--arch', f'best={BEST}',
                         '--csv', tmp_path / 'ranks.csv', '--png', tmp_path / 'ranks.png')
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / 'ranks.csv').open()))
    assert {r['run'] for r in rows} == {'plain', 'cl'}
    assert {r['name'] for r in rows} == {'found by plain', 'found by cl', 'best'}
    assert len(rows) == 2 * 2 * 3 and all(int(r['rank']) >= 1 for r in rows)
    assert (tmp_path / 'ranks.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not list(tmp_path.glob('*.partial'))


def test_ranks_refuses_runs_without_a_policy(capsys, tmp_path):
    assert run(capsys, 'search', '--strategy', 'rsps', '--curriculum', 'none', *TINY, '--out', tmp_path / 'r')[0] == 0
    code, _, err = run(capsys, 'ranks', tmp_path / 'r', '--csv', tmp_path / 'x.csv')
    assert code == 2 and 'recorded no policy' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'x.csv').exists()


def test_sweep_runs_each_k_and_seed_once_and_draws_the_figure(capsys, tmp_path):
    sweep = tmp_path / 'sweep'
    args = ['sweep', '--strategy', 'rsps', '--ks', '0,2', '--seeds', '0,1', *TINY, '--out', sweep]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    folders = sorted(p.name for p in sweep.iterdir())
    assert folders == ['k0-s0', 'k0-s1', 'k2-s0', 'k2-s1']
    results = {p.name: json.loads((p / 'result.json').read_text()) for p in sweep.iterdir()}
    assert results['k0-s1']['curriculum'] == 'none' and results['k2-s0']['k'] == 2 and results['k2-s1']['seed'] == 1
    code, out, err = run(capsys, *args)  # again: nothing left to do
    assert code == 0 and out.count('skipped') == 4
    code, out, err = run(capsys, 'sweep-plot', sweep, '--png', tmp_path / 'k.png')
    assert code == 0 and 'K=0' in out and 'K=2' in out and (tmp_path / 'k.png').is_file()


def test_sweep_resumes_an_interrupted_run(capsys, tmp_path, monkeypatch):
    """A run left 'interrupted' with checkpoints is resumed, not restarted; here from the checkpoint
    of its last epoch, inside an NNI trial (whose final report must not need a step that never ran)."""
    import nni

    sweep = tmp_path / 'sweep'
    args = ['sweep', '--strategy', 'rsps', '--ks', '2', '--seeds', '0', *TINY, '--out', sweep]
    assert run(capsys, *args)[0] == 0
    folder = sweep / 'k2-s0'
    first = json.loads((folder / 'result.json').read_text())
    (folder / 'result.json').unlink()
    (folder / 'status.json').write_text(json.dumps({'state': 'interrupted'}))
    monkeypatch.setattr(nni, 'get_current_parameter', lambda *args: {'k': 2})
    monkeypatch.setattr(nni, 'report_final_result', lambda *args: None)
    code, out, err = run(capsys, *args)
    assert code == 0 and 'resuming' in out, err
    assert json.loads((folder / 'result.json').read_text())['arch'] == first['arch']


@pytest.mark.parametrize('argv, message', [
    (['sweep', '--ks', '1,x', '--out', 'o'], '--ks must be comma-separated integers'),
    (['sweep', '--ks', '1,1', '--out', 'o'], 'repeats a value'),
    (['sweep', '--ks', '-1', '--out', 'o'], '--ks must be 0 or more'),
    (['sweep', '--seeds', '', '--out', 'o'], '--seeds is empty'),
    (['sweep', '--strategy', 'nsga', '--out', 'o'], 'unknown strategy'),
    (['sweep-plot', 'nowhere', '--png', 'k.png'], 'is not a sweep folder'),
    (['ranks', 'nowhere', '--png', 'r.png'], 'has no result.json'),
    (['ranks', 'nowhere'], 'nothing to write'),
])
def test_bad_sweep_and_ranks_input(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert not (tmp_path / 'o').exists()
