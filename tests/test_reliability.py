"""Searches survive being killed, resume exactly, stop cleanly on NaN, and take no bad input."""

import json
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nni_cnas.run.checkpoint import CHECKPOINT_DIR, latest_checkpoint
from nni_cnas.data import SearchData
from nni_cnas.data.batches import IndexedBatch
from nni_cnas.errors import NonFiniteLoss, UserError
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.spaces.nb201_arch import OPS, ArchStringError, all_archs, parse_arch

from helpers import NNI_CNAS, assert_same_search, run_to_end, search_argv, start, wait_for


def killed_after(run: Path, checkpoint: str) -> None:
    """A GDAS search in ``run`` SIGKILLed once ``checkpoint`` is on disk."""
    process = start(search_argv(run, 'gdas', 'epoch'))
    wait_for(run / CHECKPOINT_DIR / checkpoint, process)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture(scope='module')
def reference_runs(tmp_path_factory):
    """Uninterrupted searches to compare against."""
    root = tmp_path_factory.mktemp('reference')
    runs = {}
    for strategy, curriculum in (('gdas', 'epoch'), ('enas', 'batch')):
        runs[strategy] = root / strategy
        run_to_end(search_argv(runs[strategy], strategy, curriculum))
    return runs


def test_same_config_and_seed_give_the_same_search(reference_runs, tmp_path):
    again = tmp_path / 'again'
    process = run_to_end(search_argv(again, 'gdas', 'epoch'))
    assert_same_search(reference_runs['gdas'], again)
    assert process.stderr == '', process.stderr  # no library's warnings: the search's lines only


def test_sigkill_after_epoch_2_then_resume_is_bit_identical(reference_runs, tmp_path):
    run = tmp_path / 'killed'
    killed_after(run, 'epoch-0001.ckpt')
    assert json.loads((run / 'status.json').read_text())['state'] == 'running'  # killed: no chance to say more
    before = [json.loads(line)['seconds'] for line in (run / 'metrics.jsonl').read_text().splitlines()[:2]]
    resumed = run_to_end([NNI_CNAS, 'search', '--resume', str(run)])
    assert 'resuming from' in resumed.stdout
    assert_same_search(reference_runs['gdas'], run)
    # Time counts on across the interruption: the first two epochs' seconds are kept and later ones exceed them.
    after = [json.loads(line)['seconds'] for line in (run / 'metrics.jsonl').read_text().splitlines()]
    assert after[:2] == before and after[2] > before[1]
    assert json.loads((run / 'result.json').read_text())['search_seconds'] >= after[-1]


def test_sigterm_mid_epoch_saves_and_resumes_bit_identically(reference_runs, tmp_path):
    run = tmp_path / 'terminated'
    process = start(search_argv(run, 'enas', 'batch'))
    wait_for(run / CHECKPOINT_DIR / 'epoch-0000.ckpt', process)
    time.sleep(0.3)  # into epoch 1
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr[-2000:]
    # One line, nothing of the libraries' before it (ENAS has a validation_step: no empty-loader warning).
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('nni-cnas: interrupted:') and '--resume' in stderr, stderr
    status = json.loads((run / 'status.json').read_text())
    assert status['state'] == 'interrupted'
    interrupted = list((run / CHECKPOINT_DIR).glob('interrupted-*.ckpt'))
    assert len(interrupted) == 1
    resumed = run_to_end([NNI_CNAS, 'search', '--resume', str(run)])
    assert resumed.stderr == '', resumed.stderr
    assert_same_search(reference_runs['enas'], run)
    assert not list((run / CHECKPOINT_DIR).glob('interrupted-*.ckpt'))  # superseded by later epochs


def test_a_nan_loss_on_the_command_line_is_one_line_on_stderr(tmp_path):
    """No TensorBoard complaint about the NaN before the search's own line."""
    import subprocess

    argv = search_argv(tmp_path / 'nan', 'darts', 'epoch', epochs=2, extra=['--lr', '1e12'])
    process = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert process.returncode == 3, process.stderr[-2000:]
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and 'lower --lr or add --grad-clip' in lines[0], process.stderr


def test_a_truncated_checkpoint_falls_back_to_the_previous(reference_runs, tmp_path):
    run = tmp_path / 'torn'
    killed_after(run, 'epoch-0002.ckpt')
    newest = latest_checkpoint(run / CHECKPOINT_DIR)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    resumed = run_to_end([NNI_CNAS, 'search', '--resume', str(run)])
    assert f'checkpoint {newest.name} is damaged' in resumed.stdout
    assert_same_search(reference_runs['gdas'], run)


class PoisonedLoader:
    """A real loader whose batch ``at`` of epoch ``epoch`` carries a NaN image."""

    def __init__(self, loader, epoch, at):
        self.loader, self.epoch, self.at = loader, epoch, at
        self.sampler, self.yields_indices = loader.sampler, loader.yields_indices

    def __len__(self):
        return len(self.loader)

    @property
    def num_samples(self):
        return self.loader.num_samples

    def to_device(self, device):
        self.loader.to_device(device)

    def __iter__(self):
        for i, ((x, y), index) in enumerate(self.loader):
            if self.sampler.epoch == self.epoch and i == self.at:
                x = x.clone()
                x[0, 0, 0, 0] = float('nan')
            yield IndexedBatch((x, y), index)


def test_a_nan_loss_stops_the_search_with_a_usable_checkpoint(tmp_path, monkeypatch, digits):
    import nni_cnas.data as data_module

    original = SearchData.loaders

    def poisoned(self, batch_size, seed):
        loaders = original(self, batch_size, seed)
        loaders['train'] = PoisonedLoader(loaders['train'], epoch=1, at=2)
        return loaders

    monkeypatch.setattr(data_module.SearchData, 'loaders', poisoned)
    config = SearchConfig(strategy='darts', dataset='digits', subset=64, batch_size=16, epochs=3, channels=4,
                          cells=1, out=str(tmp_path / 'nan'))
    with pytest.raises(NonFiniteLoss, match=r'at epoch 1, step 2.*last good checkpoint is .*epoch-0000\.ckpt'):
        run_search(config)
    status = json.loads((tmp_path / 'nan' / 'status.json').read_text())
    assert status['state'] == 'failed' and 'epoch 1, step 2' in status['reason']
    assert latest_checkpoint(tmp_path / 'nan' / CHECKPOINT_DIR).name == 'epoch-0000.ckpt'


def test_a_run_failing_before_its_first_epoch_is_marked_failed(tmp_path, monkeypatch):
    import nni_cnas.data as data_module

    original = SearchData.loaders
    monkeypatch.setattr(data_module.SearchData, 'loaders', lambda self, b, s: {
        **original(self, b, s), 'train': PoisonedLoader(original(self, b, s)['train'], epoch=0, at=0)})
    config = SearchConfig(strategy='rsps', dataset='digits', subset=32, epochs=2, channels=4, cells=1,
                          out=str(tmp_path / 'early'))
    with pytest.raises(NonFiniteLoss, match='no epoch finished'):
        run_search(config)
    assert json.loads((tmp_path / 'early' / 'status.json').read_text())['state'] == 'failed'
    assert not (tmp_path / 'early' / 'result.json').exists()


def test_resume_refuses_other_options_and_non_runs(tmp_path, capsys):
    from nni_cnas.cli import main

    assert main(['search', '--resume', str(tmp_path), '--epochs', '3']) == 2
    assert 'drop epochs' in capsys.readouterr().err
    assert main(['search', '--resume', str(tmp_path)]) == 2
    assert 'not a run folder' in capsys.readouterr().err


def test_yaml_config_and_flags_override_it(tmp_path, capsys, monkeypatch):
    from nni_cnas.cli import build_parser
    from nni_cnas.cli.search import _search_config

    config_file = tmp_path / 'search.yaml'
    config_file.write_text('strategy: gdas\nepochs: 7\ntau_max: 5.0\nchannels: 4\n')
    args = build_parser().parse_args(['search', '--config', str(config_file), '--epochs', '2'])
    config = _search_config(args)
    assert (config.strategy, config.epochs, config.tau_max, config.channels, config.k) == ('gdas', 2, 5.0, 4, 5)
    for text, message in [('epochs: many\n', 'epochs must be an int'), ('lr: 0.1\n', "unknown option 'lr'"),
                          ('- a\n- b\n', 'mapping'), ('strategy: [unclosed\n', 'not readable YAML')]:
        config_file.write_text(text)
        from nni_cnas.cli import main
        assert main(['search', '--config', str(config_file), '--out', str(tmp_path / 'r')]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'r').exists()


# ------------------------------------------------------------------------- property-based tests

VALID = list(all_archs())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('|+~0123_') + list('nonerskipcovavg3x1')), max_size=120))
def test_arch_parser_on_random_text(text):
    try:
        ops = parse_arch(text)
    except ArchStringError:
        return
    assert len(ops) == 6 and all(op in OPS for op in ops)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.integers(0, 200), st.integers(0, 3), st.text(max_size=4))
def test_arch_parser_on_mutated_valid_strings(arch, position, action, insert):
    position = position % (len(arch) + 1)
    mutated = [arch[:position] + insert + arch[position:],          # insertion
               arch[:position] + arch[position + 1:],                # deletion
               arch[:position] + insert + arch[position + len(insert):],  # replacement
               arch.replace('~', insert or '', 1)][action]
    try:
        ops = parse_arch(mutated)
    except ArchStringError:
        return
    assert len(ops) == 6  # whatever parses is a real cell


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 20000), st.floats(allow_nan=True),
                   st.text(max_size=12), st.lists(st.integers(), max_size=2))
config_keys = st.sampled_from(['strategy', 'curriculum', 'k', 'dataset', 'epochs', 'batch_size', 'channels',
                               'learning_rate', 'tau_max', 'tau_min', 'controller_steps', 'device', 'subset',
                               'grad_clip', 'space', 'seed', 'overwrite', 'unknown_option', 'eta_min'])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(config_keys, values, max_size=5))
def test_config_parser_gives_a_valid_config_or_a_user_error(mapping):
    try:
        config = SearchConfig.from_mapping(mapping).resolve()
    except UserError:
        return
    assert config.k >= 0 and config.epochs > 0 and config.strategy in ('darts', 'gdas', 'rsps', 'enas')


def test_atomic_write_json_makes_its_folder_and_replaces_the_file_whole(tmp_path):
    """Benchmarks write their results with it: never a half-written file, never a stray partial."""
    import torch

    from nni_cnas.files import atomic_write_json

    path = tmp_path / 'results' / 'nested' / 'bench.json'
    atomic_write_json(path, {'ratio': torch.tensor(1.25), 'runs': (1, 2), 'where': tmp_path})
    assert json.loads(path.read_text()) == {'ratio': 1.25, 'runs': [1, 2], 'where': str(tmp_path)}
    atomic_write_json(path, {'rows': []})
    assert json.loads(path.read_text()) == {'rows': []} and path.read_text().endswith('\n')
    assert sorted(p.name for p in path.parent.iterdir()) == ['bench.json']


def enas_config(out):
    """ENAS with NATS-Bench's controller schedule, small: 5 updates of 4 samples after each epoch."""
    return SearchConfig(strategy='enas', curriculum='epoch', k=2, dataset='digits', subset=64, batch_size=16, epochs=3,
                        channels=4, cells=1, num_candidates=4, selection_size=32, tensorboard=False,
                        strategy_options={'controller_steps': 5, 'controller_aggregate': 4}, out=str(out))


@pytest.fixture(scope='module')
def enas_whole(tmp_path_factory):
    out = tmp_path_factory.mktemp('enas') / 'whole'
    run_search(enas_config(out))
    return out


@pytest.mark.parametrize('how, signal_at, scored_before, stopped_in', [
    ('sigterm', 27, [0] * 20 + [1] * 7, 1),  # 5 updates of 4 samples an epoch: epoch 1's 7th sample
    ('sigterm', 47, [0] * 20 + [1] * 20 + [2] * 7, 2),  # the final epoch's: Lightning would count the fit done
    ('runner', 27, [0] * 20 + [1] * 7, 1),  # a runner's stop (a protocol's --stop-after, a signal to it)
])
def test_a_stop_inside_enas_controller_training_stops_there_and_resumes_bit_identically(
        how, signal_at, scored_before, stopped_in, enas_whole, tmp_path, monkeypatch):
    """A stop inside ENAS' epoch-end controller training stops before the next sample, not after
    the training; the resumed search finishes that epoch's end from where it stopped and ends as
    a search that was never stopped."""
    import os

    from nni_cnas.errors import SearchInterrupted
    from nni_cnas.run import stop
    from nni_cnas.run.search import resume_search
    from nni_cnas.strategies.sampling.enas import EnasModule

    scored, real = [], EnasModule.sample_reward

    def signalled(self, *args):
        scored.append(self.current_epoch)
        if len(scored) == signal_at and how == 'sigterm':
            os.kill(os.getpid(), signal.SIGTERM)
        elif len(scored) == signal_at:
            stop.request_stop()
        return real(self, *args)

    monkeypatch.setattr(EnasModule, 'sample_reward', signalled)
    monkeypatch.setitem(stop._state, 'requested', False)
    monkeypatch.setitem(stop._state, 'watching', how == 'runner')  # as a runner of several searches sets it
    with pytest.raises(SearchInterrupted, match=f'interrupted-000{stopped_in}-000004'):
        run_search(enas_config(tmp_path / 'stopped'))
    assert scored == scored_before  # none scored after the signal
    run = tmp_path / 'stopped'
    assert json.loads((run / 'status.json').read_text())['state'] == 'interrupted'
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == stopped_in  # the stopped epoch is not recorded
    monkeypatch.setattr(EnasModule, 'sample_reward', real)
    stop._state['requested'] = False
    resume_search(run)
    assert_same_search(enas_whole, run)
    assert (run / CHECKPOINT_DIR / 'epoch-0002.ckpt').is_file()  # the final epoch's, also when it was the stopped one
    assert not list((run / CHECKPOINT_DIR).glob('interrupted-*.ckpt'))  # superseded
