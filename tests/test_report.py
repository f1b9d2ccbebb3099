"""The metrics without nnictl: nni-cnas report's table and figures, the data-weight
histograms in metrics.jsonl, and the TensorBoard log of a run."""

from __future__ import annotations

import json
import struct

import pytest

from nni_cnas.cli import main

TINY = ['--dataset', 'digits', '--subset', '48', '--epochs', '2', '--channels', '4', '--cells', '1',
        '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--strategy', 'gdas']


def tensorboard_tags(folder):
    """Scalar tags in a run's TensorBoard event files (TFRecord framing: length, crc, event, crc)."""
    from tensorboardX.proto import event_pb2

    tags = set()
    for path in folder.glob('events.out.tfevents.*'):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (length,) = struct.unpack('Q', data[i:i + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12:i + 12 + length])
            tags.update(value.tag for value in event.summary.value)
            i += 12 + length + 4
    return tags


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('report')
    assert main(['search', *TINY, '--curriculum', 'none', '--out', str(root / 'plain')]) == 0
    assert main(['search', *TINY, '--curriculum', 'epoch', '--k', '2', '--out', str(root / 'cl'),
                 '--no-tensorboard']) == 0
    return root


def test_report_prints_a_row_per_run_and_draws_curves_and_weight_histograms(two_runs, tmp_path, capsys):
    assert main(['report', str(two_runs / 'plain'), str(two_runs / 'cl'), '--md', str(tmp_path / 'runs.md'),
                 '--png-dir', str(tmp_path / 'figures')]) == 0
    table = (tmp_path / 'runs.md').read_text().splitlines()
    assert len(table) == 4 and table[2].startswith('| plain | gdas | none |') and table[3].startswith('| cl | gdas | epoch | 2 |')
    assert '\\|' in table[2]  # the arch string's bars are escaped inside the table cell
    for name in ('curves.png', 'weights.png'):
        assert (tmp_path / 'figures' / name).stat().st_size > 1000


def test_metrics_hold_a_weight_histogram_per_epoch(two_runs):
    for line in (two_runs / 'cl' / 'metrics.jsonl').read_text().splitlines():
        weights = json.loads(line)['data_weights']
        assert len(weights['histogram']) == 30 and sum(weights['histogram']) == weights['count'] == 48


def test_tensorboard_log_holds_the_epoch_metrics_and_can_be_switched_off(two_runs):
    tags = tensorboard_tags(two_runs / 'plain' / 'tensorboard')
    assert {'epoch/train_acc', 'epoch/train_loss', 'epoch/val_acc'} <= tags
    assert not (two_runs / 'cl' / 'tensorboard').exists()


def test_report_of_a_folder_that_is_not_a_run_is_one_clear_error(tmp_path, capsys):
    assert main(['report', str(tmp_path)]) == 2
    assert 'is not a run folder' in capsys.readouterr().err
