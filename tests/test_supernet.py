"""The fixed-architecture forward: a subnet inside the supernet, shared weights, no copies."""

import random

import pytest
import torch

import nni_cnas
from nni_cnas.spaces import NasBench201Space
from nni_cnas.spaces.nb201_arch import LABELS, OPS
from nni_cnas.arch.supernet import ArchitectureMismatch, fixed_architecture
from nni_cnas.arch.sampling import uniform_samples

from helpers import standalone_from_supernet


def trained_like(supernet, seed=0):
    """Non-trivial weights, so that a wrong path or a wrong op would show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in supernet.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return supernet


STRATEGIES = {'darts': nni_cnas.DARTS, 'gdas': nni_cnas.GDAS, 'rsps': nni_cnas.RSPS, 'enas': nni_cnas.ENAS}


@pytest.mark.parametrize('name', list(STRATEGIES))
def test_fixed_forward_equals_the_standalone_network(name):
    kwargs = dict(channels=4, cells=2, num_classes=10, in_channels=3)
    torch.manual_seed(0)
    supernet = trained_like(STRATEGIES[name]().mutate_model(NasBench201Space(**kwargs)))
    x = torch.randn(8, 3, 8, 8)
    for sample in uniform_samples({label: list(OPS) for label in LABELS}, 5, random.Random(0)):
        supernet.eval()
        with torch.no_grad(), fixed_architecture(supernet, sample):
            inside = supernet(x)
        standalone = standalone_from_supernet(supernet, sample, **kwargs).eval()
        with torch.no_grad():
            assert torch.allclose(inside, standalone(x), atol=1e-6), sample


def test_only_the_chosen_ops_run():
    supernet = nni_cnas.DARTS().mutate_model(NasBench201Space(channels=4, cells=1))
    calls = []
    for name, module in supernet.named_modules():
        if name.split('.')[-1] in OPS and name.count('.') == 5:  # cells.c.layers.i.j.<op>
            module.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    sample = {label: 'nor_conv_3x3' for label in LABELS}
    with torch.no_grad(), fixed_architecture(supernet, sample):
        supernet(torch.randn(2, 3, 8, 8))
    assert len(calls) == 6 * 3 and all(c.endswith('nor_conv_3x3') for c in calls)  # 6 edges x 3 cells
    calls.clear()
    with torch.no_grad():
        supernet(torch.randn(2, 3, 8, 8))  # outside the block: DARTS' mixture again
    assert len(calls) == 6 * 3 * len(OPS)


def test_path_sampling_state_is_restored():
    supernet = nni_cnas.RSPS().mutate_model(NasBench201Space(channels=4, cells=1))
    path = {label: 'skip_connect' for label in LABELS}
    for module in supernet.modules():
        if hasattr(module, 'resample') and hasattr(module, '_sampled'):
            module.resample(memo=path)
    with fixed_architecture(supernet, {label: 'nor_conv_1x1' for label in LABELS}):
        pass
    sampled = {m.label: m._sampled for m in supernet.modules() if hasattr(m, '_sampled')}
    assert set(sampled.values()) == {'skip_connect'}


def test_samples_that_do_not_fit_are_refused():
    supernet = nni_cnas.DARTS().mutate_model(NasBench201Space(channels=4, cells=1))
    with pytest.raises(ArchitectureMismatch, match='no value for'):
        with fixed_architecture(supernet, {'cell/0_1': 'none'}):
            pass
    with pytest.raises(ArchitectureMismatch, match='is not one of'):
        with fixed_architecture(supernet, {label: 'conv_7x7' for label in LABELS}):
            pass
    # A failed fix leaves the supernet as it was: the mixture runs again.
    assert all(getattr(m, '_fixed', None) is None for m in supernet.modules())
