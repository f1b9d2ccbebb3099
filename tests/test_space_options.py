"""A space's own options, declared with its registration (as a strategy's are): one declaration is
the search config's keyword, the CLI flag, the ``config.yaml`` key and its check; the NAS-Bench-201
space's CLOSE options and the recurrent spaces' options are such, and so is a user's space's
(tests/extensions/chain_space.py)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from nni_cnas import spaces
from nni_cnas.cli import main
from nni_cnas.errors import UserError
from nni_cnas.run.config import SearchConfig


@pytest.fixture
def chain_space(monkeypatch):
    """The user's space of tests/extensions/chain_space.py, registered on import; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / 'extensions'))
    monkeypatch.setattr(spaces.SPECS, 'entries', dict(spaces.SPECS.entries))
    sys.modules.pop('chain_space', None)
    yield importlib.import_module('chain_space')
    sys.modules.pop('chain_space', None)


def test_close_is_the_nb201_spaces_option_a_keyword_a_config_key_and_checked():
    config = SearchConfig(close=True, epochs=10).resolve()
    assert (config.close, config.close_blocks, config.close_epochs) == (True, 4, None)  # the pool's size filled in
    assert config.space_settings == {'close': True, 'close_blocks': 4, 'close_epochs': None}
    written = config.as_dict()
    assert {'close', 'close_blocks', 'close_epochs'} <= set(written) and 'hidden' not in written
    again = SearchConfig.from_mapping(written, 'config.yaml').resolve()
    assert again.defining() == config.defining() and again.space_settings == config.space_settings
    with pytest.raises(UserError, match='--close-blocks must be at least 1, not 0'):
        SearchConfig(close=True, close_blocks=0).resolve()
    with pytest.raises(UserError, match='--close applies to nb201, not to darts'):
        SearchConfig(space='darts', close=True).resolve()
    assert SearchConfig(space='darts', close=False).resolve().close is None  # at its default: not given


def test_config_yaml_files_that_list_every_spaces_options_still_load():
    """Earlier versions wrote every space's options into every run's config.yaml."""
    every = dict(close=False, close_blocks=None, close_epochs=None, hidden=None, nodes=None, dropout_scale=None)
    for space, settings in (('rnn-darts', dict(every, hidden=300, dropout_scale=1.0)), ('darts', every), ('nb201', every)):
        config = SearchConfig.from_mapping(dict(settings, space=space), 'config.yaml').resolve()
        assert set(config.space_settings) == {'rnn-darts': {'hidden', 'nodes', 'dropout_scale'}, 'darts': set(),
                                              'nb201': {'close', 'close_blocks', 'close_epochs'}}[space]
    assert SearchConfig.from_mapping({'space': 'rnn-darts'}, 'x').resolve().hidden == 300  # the declared default
    with pytest.raises(UserError, match='--hidden applies to the recurrent spaces .rnn-darts, rnn-enas., not to darts'):
        SearchConfig.from_mapping({'space': 'darts', 'hidden': 64}, 'config.yaml').resolve()
    with pytest.raises(UserError, match='config.yaml: close must be a bool'):
        SearchConfig.from_mapping({'close': 'yes'}, 'config.yaml')


def test_a_users_space_declares_its_option_and_the_command_line_takes_it(chain_space, tmp_path, capsys):
    argv = ['search', '--space', 'chain', '--strategy', 'darts', '--curriculum', 'none', '--dataset', 'digits',
            '--subset', '64', '--batch-size', '16', '--epochs', '1', '--channels', '4', '--cells', '2', '--no-progress-bar']
    with pytest.raises(SystemExit):
        main(['search', '--help'])
    assert '--kernel-sizes' in capsys.readouterr().out
    out = tmp_path / 'run'
    assert main([*argv, '--kernel-sizes', '3', '--out', str(out)]) == 0
    assert yaml.safe_load((out / 'config.yaml').read_text())['config']['kernel_sizes'] == '3'
    policy = json.loads((out / 'metrics.jsonl').read_text().splitlines()[-1])['policy']
    assert {label: set(probabilities) for label, probabilities in policy.items()} == \
        {'layer0': {'conv3x3', 'skip'}, 'layer1': {'conv3x3', 'skip'}}  # the supernet offered only these
    for bad, message in ((['--kernel-sizes', '4'], "--kernel-sizes takes odd sizes separated by commas, such as 3,5, not '4'"),
                         (['--space', 'nb201', '--kernel-sizes', '3'], '--kernel-sizes applies to chain, not to nb201')):
        capsys.readouterr()
        assert main([*argv, *bad, '--out', str(tmp_path / 'never')]) == 2 and not (tmp_path / 'never').exists()
        assert capsys.readouterr().err.strip() == f'nni-cnas: error: {message}'
