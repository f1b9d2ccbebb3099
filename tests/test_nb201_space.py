"""The NAS-Bench-201 space: arch strings <-> NNI samples, and the model space itself."""

import csv

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from nni.nas.hub.pytorch.modules import NasBench201Cell

from nni_cnas.errors import UserError
from nni_cnas.spaces import NasBench201Space
from nni_cnas.spaces.nb201 import AvgPool, SearchCell, sum_nodes
from nni_cnas.spaces.nb201_arch import (
    LABELS, OPS, ArchStringError, all_archs, arch_to_sample, parse_arch, sample_to_arch,
)

BEST = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'


def test_arch_string_to_sample_and_back():
    sample = arch_to_sample(BEST)
    assert sample == {'cell/0_1': 'nor_conv_3x3', 'cell/0_2': 'nor_conv_3x3', 'cell/1_2': 'nor_conv_3x3',
                      'cell/0_3': 'skip_connect', 'cell/1_3': 'nor_conv_3x3', 'cell/2_3': 'nor_conv_1x1'}
    assert sample_to_arch(sample) == BEST


def test_every_cell_round_trips():
    archs = list(all_archs())
    assert len(archs) == len(set(archs)) == 15625
    assert all(sample_to_arch(arch_to_sample(a)) == a for a in archs)


def test_every_cell_of_the_benchmark_table_parses(nb201_table):
    from nni_cnas.benchmarks.nb201 import open_table_text

    with open_table_text(nb201_table) as f:
        archs = {row['arch'] for row in csv.DictReader(f)}
    assert archs == set(all_archs())


def test_nni_hub_op_names_map_to_the_benchmark_names():
    hub = {label: 'conv_3x3' for label in LABELS}
    assert sample_to_arch(hub) == '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+' \
                                  '|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'


@pytest.mark.parametrize('bad', [
    '', 'hello', '|nor_conv_3x3~0|', BEST.replace('nor_conv_1x1', 'conv_5x5'), BEST.replace('~2|', '~1|'),
    BEST.replace('+', '|'), BEST[1:], BEST + '+|none~0|', '|none~0|+|none~0|+|none~0|none~1|none~2|',
])
def test_bad_arch_strings_are_user_errors(bad):
    with pytest.raises(ArchStringError):
        parse_arch(bad)
    assert issubclass(ArchStringError, UserError)


def test_incomplete_or_foreign_samples_are_refused():
    with pytest.raises(ArchStringError, match='no value for'):
        sample_to_arch({'cell/0_1': 'none'})
    with pytest.raises(ArchStringError, match='is not one of'):
        sample_to_arch({label: 'max_pool_3x3' for label in LABELS})


def test_space_labels_ops_and_search_batchnorm():
    space = NasBench201Space(channels=4, cells=2, num_classes=7, in_channels=1)
    assert list(space.simplify()) == list(LABELS)
    assert all(list(m.values) == list(OPS) for m in space.simplify().values())
    cell_norms = [m for name, m in space.named_modules() if isinstance(m, nn.BatchNorm2d) and 'layers' in name]
    assert cell_norms and all(not m.affine and not m.track_running_stats for m in cell_norms)
    assert space(torch.randn(2, 1, 8, 8)).shape == (2, 7)
    assert sum(1 for m in space.cells if isinstance(m, NasBench201Cell)) == 6  # 3 stages x N=2


def test_frozen_space_is_the_chosen_cell():
    space = NasBench201Space(channels=4, cells=1)
    frozen = space.freeze(arch_to_sample(BEST))
    assert frozen(torch.randn(3, 3, 8, 8)).shape == (3, 10)


def test_cpu_avg_pool_is_bitwise_the_nchw_pool():
    """The CPU pool runs in channels-last for speed; values and gradients must not move a bit."""
    torch.manual_seed(0)
    for shape in [(8, 6, 11, 9), (2, 3, 1, 1), (4, 16, 32, 32)]:
        x = torch.randn(*shape, requires_grad=True)
        upstream = torch.randn(*shape)
        ours = AvgPool(shape[1], shape[1], affine=False, track=False)(x)
        (ours_grad,) = torch.autograd.grad(ours, x, upstream)
        reference = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        (reference_grad,) = torch.autograd.grad(reference, x, upstream)
        assert ours.is_contiguous()
        assert torch.equal(ours, reference) and torch.equal(ours_grad, reference_grad)


def test_node_sums_are_bitwise_nnis_stack_and_sum(monkeypatch):
    torch.manual_seed(0)
    for count in (1, 2, 3):
        tensors = [torch.randn(5, 4, 7, 7) for _ in range(count)]
        assert torch.equal(sum_nodes(tensors), torch.sum(torch.stack(tensors), 0))
    arch = '|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'
    frozen = NasBench201Space(channels=4, cells=1).freeze(arch_to_sample(arch))
    assert sum(1 for cell in frozen.cells if isinstance(cell, SearchCell)) == 3
    x = torch.randn(3, 3, 8, 8)
    ours = frozen(x)
    monkeypatch.setattr(SearchCell, 'forward', NasBench201Cell.forward)
    assert torch.equal(ours, frozen(x))
