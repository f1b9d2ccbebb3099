"""Several searches at once (``--jobs``), a protocol split over processes (``--shard``), and one
results file shared by several processes."""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import pytest

from nni_cnas.cli import main
from nni_cnas.errors import UserError
from nni_cnas.experiments.jobs import parse_shard
from nni_cnas.experiments.quality import Protocol, read_results, run_protocol
from nni_cnas.files import append_json_line, read_json_lines

from test_quality import TINY_SEARCH, write_protocol

#: A protocol search long enough (20 epochs of 200 digits) to be stopped midway.
TINY_SEARCH_LONG = dict(TINY_SEARCH, subset=200, epochs=20, rank_cells=0, tensorboard=False)

SWEEP = ['--dataset', 'digits', '--subset', '64', '--epochs', '12', '--channels', '4', '--cells', '1',
         '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--strategy', 'rsps', '--no-tensorboard']


def test_jobs_run_searches_at_once_each_in_its_process_and_each_result_lands_once(tmp_path, capsys):
    out = tmp_path / 'sweep'
    # 40 epochs (about 8 s a search here): long beside the skew of two workers' start-up (torch's import
    # under load), so that the searches' overlap says they ran at once and not how fast a worker started.
    longer = [*SWEEP, '--epochs', '40']
    assert main(['sweep', '--ks', '0,2', '--seeds', '0', '--jobs', '2', '--out', str(out), *longer]) == 0
    log = capsys.readouterr().out
    results = [json.loads((out / name / 'result.json').read_text()) for name in ('k0-s0', 'k2-s0')]
    spans = [(r['finished_at'] - r['search_seconds'], r['finished_at']) for r in results]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans  # they ran at the same time
    for name in ('k0-s0', 'k2-s0'):
        assert 'searching in' in (out / name / 'search.log').read_text()  # each search's own lines
        assert log.count(f'k={name[1]} seed=0: done') == 1
    # Each took half of the machine's cores (config.yaml records the threads it ran with).
    from nni_cnas.threads import default_threads

    assert all(f'threads: {default_threads(2)}' in (out / name / 'config.yaml').read_text() for name in ('k0-s0', 'k2-s0'))
    # Run again: everything is finished, nothing runs twice.
    assert main(['sweep', '--ks', '0,2', '--seeds', '0', '--jobs', '2', '--out', str(out), *longer]) == 0
    assert capsys.readouterr().out.count('finished before, skipped') == 2


def test_shards_split_a_protocol_and_share_its_results_file(tmp_path, nb201_table):
    protocol = Protocol.load(write_protocol(tmp_path / 'p.yaml', seeds=[0, 1]))
    results = tmp_path / 'results.jsonl'
    first = run_protocol(protocol, results, tmp_path / 'runs', shard=parse_shard('1/2'))
    second = run_protocol(protocol, results, tmp_path / 'runs', shard=parse_shard('2/2'))
    assert [r['run'] for r in first] == ['rsps-none-s0', 'rsps-none-s1']
    assert [r['run'] for r in second] == ['rsps-epoch-s0', 'rsps-epoch-s1']
    assert sorted(r['run'] for r in read_results(results)) == sorted(r['run'] for r in first + second)
    everything = run_protocol(protocol, results, tmp_path / 'runs')  # the whole grid is there: nothing runs
    assert len(everything) == 4 and len(read_results(results)) == 4


@pytest.mark.parametrize('text, message', [('3', 'takes I/N'), ('0/2', '1 <= I <= N'), ('3/2', '1 <= I <= N'),
                                           ('a/b', 'takes I/N')])
def test_a_bad_shard_is_one_clear_error(text, message):
    with pytest.raises(UserError, match=message):
        parse_shard(text)


def test_bad_jobs_is_refused_in_one_line(tmp_path, capsys):
    assert main(['sweep', '--ks', '0', '--seeds', '0', '--jobs', '0', '--out', str(tmp_path / 's'), *SWEEP]) == 2
    assert capsys.readouterr().err.strip() == 'nni-cnas: error: --jobs must be 1 or more, not 0'


def _append_many(path, writer, count):
    for i in range(count):
        append_json_line(path, {'writer': writer, 'i': i, 'padding': 'x' * 2000})


def test_processes_appending_to_one_results_file_never_tear_a_line(tmp_path):
    path = tmp_path / 'shared.jsonl'
    context = multiprocessing.get_context('spawn')
    writers = [context.Process(target=_append_many, args=(path, w, 100)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    records = list(read_json_lines(path))
    assert len(records) == 400 and len(path.read_text().splitlines()) == 400
    assert sorted((r['writer'], r['i']) for r in records) == [(w, i) for w in range(4) for i in range(100)]


LONG = ['--dataset', 'digits', '--subset', '64', '--epochs', '30', '--channels', '4', '--cells', '1',
        '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--strategy', 'rsps', '--no-tensorboard']


def test_stop_after_stops_with_checkpoints_and_the_same_command_continues_to_the_same_results(tmp_path, capsys):
    """A protocol advanced in short runs (such as a GPU held for 10 minutes at a time): the searches
    running at the limit stop as SIGTERM stops them, none starts after it (exit 143), and the same
    command again ends where one uninterrupted run ends."""
    whole, cut = tmp_path / 'whole', tmp_path / 'cut'
    assert main(['sweep', '--ks', '0', '--seeds', '0,1', '--out', str(whole), *LONG]) == 0
    assert main(['sweep', '--ks', '0', '--seeds', '0,1', '--out', str(cut), '--stop-after', '4', *LONG]) == 143
    err = capsys.readouterr().err
    assert 'stopped at the time limit with a checkpoint' in err and 'run the same command again' in err
    assert not (cut / 'k0-s1' / 'result.json').exists()  # the second never started (or was cut too)
    runs = 0
    while main(['sweep', '--ks', '0', '--seeds', '0,1', '--out', str(cut), '--stop-after', '6', *LONG]) == 143:
        runs += 1  # each run advances the searches by about 6 s
        assert runs < 40
    for name in ('k0-s0', 'k0-s1'):
        a, b = (json.loads((folder / name / 'result.json').read_text()) for folder in (whole, cut))
        assert (a['arch'], a['selection_score']) == (b['arch'], b['selection_score'])
        metrics = [[{k: v for k, v in json.loads(line).items() if k != 'seconds'}
                    for line in (folder / name / 'metrics.jsonl').read_text().splitlines()] for folder in (whole, cut)]
        assert metrics[0] == metrics[1]


def _session_processes(session: int):
    """Pids of the processes in a session (the runner started with start_new_session, its workers,
    multiprocessing's resource tracker)."""
    import os

    pids = []
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            fields = Path(f'/proc/{entry}/stat').read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):  # gone meanwhile
            continue
        if int(fields[3]) == session and fields[0] != 'Z':  # field 6 of stat: the session id
            pids.append(int(entry))
    return pids


def _wait_for(predicate, seconds, what):
    import time

    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, f'waited {seconds} s for {what}'
        time.sleep(0.2)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc to find the runner\'s processes')
@pytest.mark.parametrize('jobs, how', [(2, 'SIGTERM to the runner'), (2, 'SIGINT to the group (Ctrl+C)'),
                                       (2, 'SIGKILL to the runner'), (1, 'SIGTERM to the runner')])
def test_a_signal_stops_the_running_searches_with_checkpoints_starts_no_other_and_leaves_no_process(
        tmp_path, nb201_table, jobs, how):
    """A protocol stopped by a signal (a cluster's preemption, Ctrl+C, kill): the searches running stop
    at a batch end with a checkpoint, none starts after, the workers stop with the runner (even when
    it is killed outright: they get SIGTERM when it dies), and the same command continues."""
    import os
    import signal
    import subprocess

    search = dict(TINY_SEARCH_LONG)
    protocol = write_protocol(tmp_path / 'p.yaml', search=search, seeds=[0, 1])
    command = [sys.executable, '-m', 'nni_cnas.cli', 'quality', str(protocol), '--results', str(tmp_path / 'r.jsonl'),
               '--runs-dir', str(tmp_path / 'runs'), '--jobs', str(jobs)]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env=dict(os.environ, NNI_CNAS_NB201_TABLE=str(nb201_table)))
    names = ['rsps-none-s0', 'rsps-epoch-s0', 'rsps-none-s1', 'rsps-epoch-s1']
    running = names[:jobs]
    try:
        _wait_for(lambda: all(list((tmp_path / 'runs' / name / 'checkpoints').glob('epoch-*.ckpt')) for name in running),
                  180, 'the first epochs')
        signum = {'SIGTERM': signal.SIGTERM, 'SIGINT': signal.SIGINT, 'SIGKILL': signal.SIGKILL}[how.split()[0]]
        (os.killpg if 'group' in how else os.kill)(runner.pid, signum)
        out, err = runner.communicate(timeout=120)
        assert runner.returncode == (-9 if signum == signal.SIGKILL else 143), err[-2000:]
        _wait_for(lambda: not _session_processes(runner.pid), 120, 'the workers to leave')
    except BaseException:  # a failed test leaves no search running
        for pid in _session_processes(runner.pid):
            os.kill(pid, signal.SIGKILL)
        raise
    for name in running:
        folder = tmp_path / 'runs' / name
        assert json.loads((folder / 'status.json').read_text())['state'] == 'interrupted'
        assert list((folder / 'checkpoints').glob('interrupted-*.ckpt'))
    for name in names[jobs:]:
        assert not (tmp_path / 'runs' / name / 'status.json').exists()  # never started
    if signum != signal.SIGKILL:
        assert 'stopped at a signal with a checkpoint' in err and ', '.join(sorted(names)) in err
    assert not (tmp_path / 'r.jsonl').exists() or not read_results(tmp_path / 'r.jsonl')  # none finished
    if how == 'SIGTERM to the runner' and jobs == 2:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, NNI_CNAS_NB201_TABLE=str(nb201_table)))
        assert done.returncode == 0, done.stderr[-2000:]
        assert sorted(r['run'] for r in read_results(tmp_path / 'r.jsonl')) == sorted(names)
        assert all('resuming' in (tmp_path / 'runs' / name / 'search.log').read_text() for name in running)


def test_stop_after_must_be_positive(tmp_path, capsys):
    assert main(['sweep', '--ks', '0', '--seeds', '0', '--out', str(tmp_path / 's'), '--stop-after', '0', *LONG]) == 2
    assert capsys.readouterr().err.strip() == 'nni-cnas: error: --stop-after takes a positive number of seconds, not 0'
    assert not (tmp_path / 's').exists()
