"""Progress on every long phase: bars with an ETA on stderr when asked (or on a terminal), none in
logs; the sweep and protocol countdown by hand."""

import pytest

from nni_cnas.cli import main
from nni_cnas.progress import Countdown, bars_enabled

TINY = ['--dataset', 'digits', '--subset', '48', '--epochs', '2', '--channels', '4', '--cells', '1', '--batch-size', '16',
        '--candidates', '4', '--selection-size', '32', '--no-tensorboard', '--k', '2']


def test_countdown_by_hand():
    clock = iter([0.0, 60.0, 60.0, 180.0]).__next__
    countdown = Countdown(4)
    countdown._clock = clock
    assert countdown.prefix() == '[1/4]'
    countdown.finish(timed=False)  # a run finished before: done, not timed
    countdown.start()
    countdown.finish()  # 60 s
    assert countdown.prefix() == '[3/4, 1 searched in 1.0 min, about 2 min left]'
    countdown.start()
    countdown.finish()  # 120 s: mean 90 s, one run left
    assert countdown.prefix() == '[4/4, 2 searched in 3.0 min, about 2 min left]'


def test_bars_follow_the_setting_and_else_the_terminal(monkeypatch):
    assert bars_enabled(True) and not bars_enabled(False)
    assert not bars_enabled(None)  # pytest's stderr is no terminal


@pytest.mark.parametrize('strategy, phase', [('rsps', 'uncertainty pass (K=2)'), ('enas', 'ENAS controller')])
def test_long_phases_show_a_bar_when_asked(strategy, phase, tmp_path, capsys):
    extra = ['--controller-steps', '2', '--controller-aggregate', '2'] if strategy == 'enas' else []
    assert main(['search', '--strategy', strategy, *TINY, *extra, '--progress-bar', '--out', str(tmp_path / 'a')]) == 0
    assert phase in capsys.readouterr().err
    assert main(['search', '--strategy', strategy, *TINY, *extra, '--out', str(tmp_path / 'b')]) == 0
    assert phase not in capsys.readouterr().err  # not a terminal: no bar


def test_a_retraining_shows_a_bar_within_each_epoch(tmp_path, capsys):
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
                "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2)], "
                "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
                "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
    assert main(['retrain', genotype, '--dataset', 'digits', '--subset', '32', '--epochs', '1', '--batch-size', '16',
                 '--channels', '4', '--cells', '1', '--progress-bar', '--out', str(tmp_path / 'r')]) == 0
    assert 'epoch 1/1' in capsys.readouterr().err
