"""One search on two processes (Lightning's DDP, gloo on the CPU), every strategy, plain and with
each schedule and estimator: one search state on every rank, bit for bit; the batches split
across the ranks with global sample indices; the epoch pass split and all-reduced, equal to a
one-process pass over the same supernet; the batch schedule normalised over the global batch.
The two ranks are started as torchrun starts them (tests/ddp_probe.py, each seeded differently,
through NNI's own ``Trainer(strategy='ddp')``); ``nni-cnas search --devices 2`` (Lightning's own
launcher), its run folder written once, and a kill and resume under DDP are checked apart."""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nni_cnas.errors import UserError
from nni_cnas.run.config import SearchConfig
from nni_cnas.strategies import registry

from helpers import NNI_CNAS, same_value

HERE = Path(__file__).parent
PROBE_STEPS = 4  # training batches a rank an epoch (tests/ddp_probe.py: 128 samples, batches of 16, 2 ranks)


def _configs():
    configs = []
    for spec in registry.specs():
        for schedule in ('none', 'epoch', 'batch'):
            configs.append(f'{spec.name}:{schedule}:exact:tensor')
        if spec.single_path:
            configs.append(f'{spec.name}:epoch:amortised:tensor')
    configs.append('rsps:batch:amortised:tensor')
    # The ranking parts: the sample schedule's one draw on both ranks, the epoch means and the last K
    # step values merged over the ranks (combined loaders too: DARTS).
    configs += ['rsps:sample:margin:tensor', 'darts:sample:margin:tensor', 'setn:epoch:disagreement-history:tensor']
    # A user's torch DataLoaders (Lightning's distributed samplers), once per kind of step.
    configs += ['rsps:epoch:exact:torch', 'darts:epoch:exact:torch', 'enas:batch:exact:torch']
    return configs


CONFIGS = _configs()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    """Both ranks' records of every config (one pair of processes runs them all)."""
    out = tmp_path_factory.mktemp('ddp')
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), WORLD_SIZE='2', RANK=str(rank),
                   LOCAL_RANK=str(rank), NODE_RANK='0', OMP_NUM_THREADS='1', PYTHONPATH=str(HERE.parent))
        procs.append(subprocess.Popen([sys.executable, str(HERE / 'ddp_probe.py'), str(out), *CONFIGS], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [proc.communicate(timeout=900)[0] for proc in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f'rank {rank} failed:\n{log[-4000:]}'
    return [json.loads((out / f'rank-{rank}.json').read_text()) for rank in (0, 1)]


@pytest.mark.parametrize('config', CONFIGS)
def test_every_rank_holds_one_search_state(ranks, config):
    first, second = ranks[0][config], ranks[1][config]
    assert first['strategy_class'] == 'SearchDDPStrategy'  # NNI's Trainer(strategy='ddp'), adopted
    differing = sorted(key for key in first['state'] if first['state'][key] != second['state'][key])
    assert not differing, f'state differs between the ranks: {differing[:8]}'
    assert first['arch'] == second['arch']


@pytest.mark.parametrize('config', CONFIGS)
def test_the_ranks_split_each_epoch(ranks, config):
    for epoch in range(2):
        mine, theirs = (rank[config]['batches'][epoch] for rank in ranks)
        assert len(mine) == len(theirs) == PROBE_STEPS
        if isinstance(mine[0], int):  # a loader without sample indices (the batch schedule needs none): sizes
            assert sum(mine) + sum(theirs) == 128
            continue
        first = [i for batch in mine for i in batch]
        second = [i for batch in theirs for i in batch]
        if ':sample:' in config and epoch > 0:  # one draw of 128 with replacement, split between the ranks
            assert len(first) + len(second) == 128 and len(set(first + second)) < 128
            continue
        assert not set(first) & set(second), 'a sample was trained on by both ranks in one epoch'
        assert sorted(first + second) == list(range(128)), 'global sample indices: each sample once'


@pytest.mark.parametrize('config', [c for c in CONFIGS if ':epoch:exact' in c])
def test_the_epoch_pass_is_split_and_equals_one_process(ranks, config):
    first, second = ranks[0][config], ranks[1][config]
    assert first['pass_weights'] == second['pass_weights']
    assert first['pass_counts'] == [2.0]  # every sample once, under each of the K=2 subnets
    assert abs(sum(first['pass_weights']) - 128) < 1e-3
    if config.endswith(':tensor'):
        # nni_cnas' loaders split a pass by its batches: the same batches as one process (the cells'
        # batch norm normalises by batch), summed in another order: equal to rounding. A torch
        # DataLoader's pass is split by sample index, whose batches one process never sees.
        assert first['one_process_max_diff'] < 1e-5 and second['one_process_max_diff'] < 1e-5


@pytest.mark.parametrize('config', [c for c in CONFIGS if ':batch:' in c])
def test_batch_weights_are_normalised_over_the_global_batch(ranks, config):
    first, second = (rank[config]['weight_sums'] for rank in ranks)
    steps = [a + b for a, b in zip(first, second)]
    assert all(abs(total - 32) < 1e-3 for total in steps), steps  # 2 ranks x 16: N of Eq. 11 is global
    assert any(abs(a - 16) > 1e-3 for a in first), first  # each rank's share is not normalised on its own


def _search_args(out, epochs=2, extra=()):
    return ['search', '--strategy', 'gdas', '--curriculum', 'epoch', '--k', '2', '--dataset', 'digits',
            '--subset', '128', '--epochs', str(epochs), '--batch-size', '16', '--channels', '4', '--cells', '1',
            '--candidates', '2', '--selection-size', '16', '--device', 'cpu', '--devices', '2', '--no-tensorboard',
            '--out', str(out), *extra]


def readme_devices_command(out) -> list:
    """The scale-out page's ``--devices 2`` command, as written, with its run folder in ``out``."""
    readme = (HERE.parent / 'docs' / 'scale-out.md').read_text()
    line = next(line for line in readme.splitlines() if line.startswith('nni-cnas search') and '--devices 2' in line)
    argv = shlex.split(line)
    argv[argv.index('--out') + 1] = str(out)
    return [NNI_CNAS, *argv[1:]]


def test_cli_devices_2_writes_the_run_folder_once(tmp_path):
    out = tmp_path / 'run'
    done = subprocess.run(readme_devices_command(out), capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count('found architecture') == 1  # rank 1 prints nothing
    assert done.stdout.count('epoch   1/2') == 1
    metrics = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [m['epoch'] for m in metrics] == [0, 1]  # one line per epoch, not one per rank
    result = json.loads((out / 'result.json').read_text())
    assert json.loads((out / 'status.json').read_text())['state'] == 'finished'
    assert sorted(p.name for p in (out / 'checkpoints').iterdir()) == ['epoch-0000.ckpt', 'epoch-0001.ckpt']
    assert result['arch']
    assert result['lookup']['index'] >= 0  # looked up in the packaged table
    assert not list(tmp_path.glob('*.partial')) and not list((out / 'checkpoints').glob('.*'))


def test_cli_devices_2_names_a_dead_rank_and_resumes_to_the_same_search(tmp_path):
    """Kill rank 1 after the first epoch's checkpoint: rank 0 fails within seconds, in one line that
    names the rank and its signal, with the last checkpoint and the resume command; ``--resume``
    continues on two processes and ends where an uninterrupted two-process search ends."""
    import psutil

    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    done = subprocess.run([NNI_CNAS, *_search_args(whole, epochs=3)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    proc = subprocess.Popen([NNI_CNAS, *_search_args(killed, epochs=3)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.time() + 300
    while not (killed / 'checkpoints' / 'epoch-0000.ckpt').exists():
        assert proc.poll() is None and time.time() < deadline, 'the search ended before its first checkpoint'
        time.sleep(0.05)
    (rank1,) = [child for child in psutil.Process(proc.pid).children() if child.environ().get('LOCAL_RANK') == '1']
    rank1.kill()
    killed_at = time.time()
    _, stderr = proc.communicate(timeout=120)
    assert time.time() - killed_at < 60, 'rank 0 waited for the dead rank'
    lines = stderr.strip().splitlines()
    assert proc.returncode == 1 and lines[-1].startswith('nni-cnas: error: the search failed: rank 1 (process '), stderr[-3000:]
    assert 'was killed by SIGKILL' in lines[-1] and f'nni-cnas search --resume {killed}' in lines[-1]
    status = json.loads((killed / 'status.json').read_text())
    assert status['state'] == 'failed' and 'rank 1' in status['reason'] and status['resume']
    assert not (killed / 'result.json').exists() and not list(killed.rglob('*.partial'))
    resumed = subprocess.run([NNI_CNAS, 'search', '--resume', str(killed)], capture_output=True, text=True,
                             timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert 'resuming from' in resumed.stdout
    first, second = (json.loads((run / 'result.json').read_text()) for run in (whole, killed))
    assert first['arch'] == second['arch'] and first['selection_score'] == second['selection_score']
    assert [m['epoch'] for m in map(json.loads, (killed / 'metrics.jsonl').read_text().splitlines())] == [0, 1, 2]
    states = [torch.load(run / 'checkpoints' / 'epoch-0002.ckpt', map_location='cpu', weights_only=False)['state_dict']
              for run in (whole, killed)]
    assert all(same_value(states[0][key], states[1][key]) for key in states[0]), 'the resumed search ended elsewhere'


@pytest.mark.parametrize('options, message', [
    (dict(device='cuda:0', devices=2), 'is one GPU'),
    (dict(device='cpu', num_nodes=2), 'give --out'),
])
def test_bad_process_options_are_refused_in_one_line(options, message):
    with pytest.raises(UserError, match=message) as error:
        SearchConfig(strategy='rsps', dataset='digits', **options).resolve()
    assert '\n' not in str(error.value)


def test_ranks_started_by_torchrun_share_one_run_folder(tmp_path):
    """torchrun starts every rank itself (as on a cluster, one command per machine): the others find
    rank 0's run folder by --out, write nothing, and the search is the one of Lightning's launcher."""
    out = tmp_path / 'torchrun'
    argv = _search_args(out)[1:]  # without the leading 'search'
    torchrun = str(Path(sys.executable).with_name('torchrun'))
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), OMP_NUM_THREADS='1')
    done = subprocess.run([torchrun, '--nnodes', '1', '--nproc-per-node', '2', '--master-addr', '127.0.0.1',
                           '--master-port', str(free_port()), '-m', 'nni_cnas.cli', 'search', *argv],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count('found architecture') == 1
    assert [json.loads(line)['epoch'] for line in (out / 'metrics.jsonl').read_text().splitlines()] == [0, 1]
    assert json.loads((out / 'status.json').read_text())['state'] == 'finished'
    # Without --out each rank would name its own default folder: refused in one line, nothing written.
    argv = argv[:argv.index('--out')]
    refused = subprocess.run([torchrun, '--nnodes', '1', '--nproc-per-node', '2', '--master-addr', '127.0.0.1',
                              '--master-port', str(free_port()), '-m', 'nni_cnas.cli', 'search', *argv],
                             capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert refused.returncode != 0 and 'give --out' in refused.stderr
    assert not (tmp_path / 'runs').exists()
