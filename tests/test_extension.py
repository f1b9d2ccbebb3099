"""docs/architecture.md's checklists, proven: a strategy (tests/extensions/local_search.py), a
space (tests/extensions/chain_space.py) and curriculum parts (tests/extensions/rank_curriculum.py),
each one file registered against the contract, run through the Python API and the CLI with nothing
else changed."""

import importlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from nni_cnas import spaces
from nni_cnas.curriculum import parts
from nni_cnas.cli import main
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.spaces.nb201_arch import all_archs
from nni_cnas.strategies import registry

TINY = dict(dataset='digits', subset=48, epochs=2, batch_size=16, channels=4, cells=1, num_candidates=4,
            selection_size=32, tensorboard=False)


EXTENSIONS = ('local_search', 'chain_space', 'rank_curriculum')


@pytest.fixture
def extensions(monkeypatch):
    """Import the two extension files (each registers itself); forget them afterwards."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / 'extensions'))
    monkeypatch.setattr(registry.SPECS, 'entries', dict(registry.SPECS.entries))
    monkeypatch.setattr(spaces.SPECS, 'entries', dict(spaces.SPECS.entries))
    for registry_ in (parts.MEASURES, parts.WEIGHTINGS):
        monkeypatch.setattr(registry_, 'entries', dict(registry_.entries))
    for name in EXTENSIONS:
        sys.modules.pop(name, None)
        importlib.import_module(name)
    yield
    for name in EXTENSIONS:
        sys.modules.pop(name, None)


@pytest.mark.parametrize('curriculum', ['none', 'epoch'])
def test_a_strategy_in_one_file_searches_and_exports(extensions, curriculum, tmp_path, capsys):
    result = run_search(SearchConfig(strategy='local-search', curriculum=curriculum, k=None if curriculum == 'none' else 2,
                                     climb_steps=3, out=str(tmp_path / 'run'), **TINY))
    assert result['arch'] in set(all_archs())
    config = yaml.safe_load((tmp_path / 'run' / 'config.yaml').read_text())['config']
    assert config['strategy'] == 'local-search' and config['climb_steps'] == 3
    metrics = [json.loads(line) for line in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    assert len(metrics) == 2 and (metrics[1]['data_weights']['std'] > 0) == (curriculum == 'epoch')


def test_a_strategy_in_one_file_gets_its_cli_options_and_checks(extensions, tmp_path, capsys):
    tiny = ['--dataset', 'digits', '--subset', '48', '--epochs', '1', '--channels', '4', '--cells', '1',
            '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--no-tensorboard']
    with pytest.raises(SystemExit):
        main(['search', '--help'])
    assert '--climb-steps' in capsys.readouterr().out
    assert main(['search', '--strategy', 'rsps', '--climb-steps', '2', *tiny, '--out', str(tmp_path / 'a')]) == 2
    assert 'applies to local-search, not to rsps' in capsys.readouterr().err
    assert main(['search', '--strategy', 'local-search', '--climb-steps', '0', *tiny, '--out', str(tmp_path / 'b')]) == 2
    assert '--climb-steps must be positive' in capsys.readouterr().err
    assert main(['search', '--strategy', 'local-search', '--climb-steps', '2', *tiny, '--out', str(tmp_path / 'c')]) == 0
    assert json.loads((tmp_path / 'c' / 'result.json').read_text())['strategy'] == 'local-search'


@pytest.mark.parametrize('strategy', ['darts', 'gdas', 'rsps', 'enas', 'local-search'])
def test_a_space_in_one_file_is_searched_by_every_family(extensions, strategy, tmp_path, capsys):
    extra = dict(controller_steps=1, controller_aggregate=2) if strategy == 'enas' else {}
    result = run_search(SearchConfig(space='chain', strategy=strategy, curriculum='epoch', k=2,
                                     out=str(tmp_path / 'run'), **dict(TINY, cells=3), **extra))
    sample = json.loads(result['arch'])  # no describe() or genotype(): the contract's JSON of the sample
    assert set(sample) == {'layer0', 'layer1', 'layer2'} and result['lookup'] is None
    assert sample['layer0'] in ('conv1x1', 'conv3x3', 'conv5x5', 'skip')


def test_the_cli_refuses_nb201_options_on_a_space_without_the_benchmark(extensions, tmp_path, capsys):
    assert main(['search', '--space', 'chain', '--rank-cells', '10', '--out', str(tmp_path / 'r')]) == 2
    assert 'needs NAS-Bench-201' in capsys.readouterr().err and not (tmp_path / 'r').exists()


def test_curriculum_parts_in_one_file_work_in_the_api_and_the_cli(extensions, tmp_path, capsys):
    result = run_search(SearchConfig(strategy='gdas', curriculum='epoch', k=2, measure='recent-loss', weighting='rank',
                                     out=str(tmp_path / 'run'), **TINY))
    assert result['arch'] in set(all_archs())
    metrics = [json.loads(line) for line in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    # epoch 1's weights are ranks 1..N normalised to N: from 2/(N+1) to 2N/(N+1)
    n = metrics[1]['data_weights']['count']
    assert metrics[1]['data_weights']['max'] == pytest.approx(2 * n / (n + 1), rel=1e-3)
    with pytest.raises(SystemExit):
        main(['search', '--help'])
    assert 'rank' in capsys.readouterr().out
    tiny = ['--dataset', 'digits', '--subset', '48', '--epochs', '1', '--channels', '4', '--cells', '1',
            '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--no-tensorboard']
    assert main(['search', '--strategy', 'rsps', '--weighting', 'rank', '--measure', 'recent-loss', *tiny,
                 '--out', str(tmp_path / 'cli')]) == 0
    assert main(['search', '--strategy', 'rsps', '--weighting', 'ranked', *tiny, '--out', str(tmp_path / 'bad')]) == 2
    assert "unknown weighting 'ranked'" in capsys.readouterr().err and not (tmp_path / 'bad').exists()
