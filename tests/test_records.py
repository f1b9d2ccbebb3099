"""The epoch record: one name per metric, one line format, earlier versions' lines read alike."""

import pytest

from nni_cnas.records import EpochRecord


def test_a_record_is_its_line_and_back():
    record = EpochRecord(3, train_loss=1.5, val_acc=0.25, sample={'cell/0_1': 'none'}, arch='|none~0|+|',
                         data_weights={'gini': 0.2}, space={'close_blocks': 2})
    line = record.to_json()
    assert line == {'epoch': 3, 'train_loss': 1.5, 'val_acc': 0.25, 'sample': {'cell/0_1': 'none'},
                    'arch': '|none~0|+|', 'data_weights': {'gini': 0.2}, 'close_blocks': 2}
    assert EpochRecord.from_json(line) == record


def test_an_earlier_versions_line_names_the_sample_arch_and_the_string_arch_string():
    old = {'epoch': 0, 'arch': {'cell/0_1': 'none'}, 'arch_string': '|none~0|+|', 'lookup_test': 90.0}
    record = EpochRecord.from_json(old)
    assert (record.sample, record.arch, record.lookup_test) == ({'cell/0_1': 'none'}, '|none~0|+|', 90.0)
    assert record.space == {}


def test_scalars_are_the_numbers_tensorboard_plots():
    record = EpochRecord(1, train_loss=2.0, policy_max_prob=0.5, data_weights={'gini': 0.1, 'histogram': [1, 2]},
                         sample={'a': 1}, space={'close_blocks': 3, 'close_done': True})
    assert record.scalars() == {'train_loss': 2.0, 'policy_max_prob': 0.5, 'data_weights_gini': 0.1, 'close_blocks': 3.0}


def test_a_quality_is_named_by_place_and_kind():
    record = EpochRecord(0)
    record.set_quality('supernet', 'loss', 0.7)
    assert record.supernet_loss == 0.7
    with pytest.raises(ValueError, match='no quality val_mse'):
        record.set_quality('val', 'mse', 1.0)
