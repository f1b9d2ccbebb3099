"""Tests that take the device as a parameter (``--device``, conftest.py): the CPU here and in CI,
CUDA in the prepared GPU check (benchmarks/gpu/check.py). On CUDA every strategy searches; on the
CPU two do (the other tests run every strategy on the CPU already)."""


import pytest
import torch

from nni_cnas.curriculum.config import CurriculumConfig
from nni_cnas.data import load_search_data
from nni_cnas.resources import native_bf16
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.strategies import registry


def tiny(strategy, curriculum, device, out, **extra):
    options = {} if curriculum == 'none' else dict(k=2)
    return SearchConfig(strategy=strategy, curriculum=curriculum, **options, dataset='digits', subset=96, epochs=2,
                        batch_size=16, channels=4, cells=1, num_candidates=2, selection_size=16, device=device.type,
                        tensorboard=False, progress_bar=False, out=str(out), **extra)


def test_the_loader_serves_the_same_batches_on_the_device(device):
    """Order and augmentation are drawn on the CPU: the device's batches are the CPU's."""
    data = load_search_data('digits', subset=64)
    here, there = data.loaders(16, 0)['train'], data.loaders(16, 0)['train'].to_device(device)
    for ((x, y), index), ((dx, dy), dindex) in zip(here, there):
        assert dx.device.type == device.type
        assert torch.equal(index, dindex.cpu()) and torch.equal(y, dy.cpu())
        assert torch.allclose(x, dx.cpu(), atol=1e-6)


def test_every_strategy_searches_on_the_device_plain_and_with_the_curriculum(device, tmp_path):
    names = [spec.name for spec in registry.specs()] if device.type == 'cuda' else ['rsps', 'gdas']
    for name in names:
        for curriculum in ('none', 'epoch'):
            result = run_search(tiny(name, curriculum, device, tmp_path / f'{name}-{curriculum}'))
            assert result['arch'].count('~') == 6, (name, curriculum)


def test_a_bf16_mixed_search_runs_on_the_device(device, tmp_path):
    result = run_search(tiny('gdas', 'epoch', device, tmp_path / 'bf16', precision='bf16-mixed'))
    assert result['arch'].count('~') == 6


def test_the_passes_use_bf16_only_where_the_device_computes_it(device):
    auto = CurriculumConfig('epoch', 2, 'uncertainty', 'auto')
    assert auto.uses_bf16(device) == native_bf16(device)
    if device.type == 'cpu':
        assert not auto.uses_bf16(device)
    else:  # Ampere and later compute bf16; earlier GPUs emulate it (slower than fp32)
        assert auto.uses_bf16(device) == (torch.cuda.get_device_capability(device)[0] >= 8)


def test_a_16_mixed_retraining_runs_on_a_cuda_device(device, tmp_path):
    """fp16 autocast with the gradient scaler (refused on the CPU: tests/test_precision.py)."""
    if device.type != 'cuda':
        pytest.skip('16-mixed is CUDA only; the GPU check runs this with --device cuda')
    from nni_cnas.cli import main

    from test_precision import GENOTYPE  # a DARTS cell

    argv = ['retrain', GENOTYPE, '--dataset', 'digits', '--subset', '64', '--epochs', '2', '--batch-size', '16',
            '--channels', '4', '--cells', '1', '--device', 'cuda', '--precision', '16-mixed', '--out', str(tmp_path / 'r')]
    assert main(argv) == 0
    assert (tmp_path / 'r' / 'result.json').is_file()


def test_channels_last_puts_the_batches_and_the_supernet_in_nhwc_and_searches(device, tmp_path):
    from nni_cnas.run.evaluator import ChannelsLast

    from nni_cnas.data import TensorImageLoader
    from nni_cnas.data.batches import unpack

    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)  # 3 channels: NHWC differs from NCHW
    loader = TensorImageLoader(images, torch.zeros(32), 16, shuffle=True, augment=None, mean=(0.5,) * 3,
                               std=(0.25,) * 3).to_device(device)
    loader.memory_format = torch.channels_last
    x = unpack(next(iter(loader)))[0][0]
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).to(device)
    ChannelsLast().on_fit_start(None, net)
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    result = run_search(tiny('gdas', 'epoch', device, tmp_path / 'nhwc', channels_last=True))
    assert result['arch'].count('~') == 6
