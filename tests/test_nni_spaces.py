"""A user's own NNI space made of every mutable NNI 3.0 offers (LayerChoice, InputChoice choosing
two, nn.Cell, Repeat with a choice of depth, MutableConv2d / MutableBatchNorm2d / MutableLinear
with choices of width): decisions against brute force over NNI's own enumeration of the space, the
fixed-architecture forward against NNI's frozen subnet, and every strategy end to end."""

from __future__ import annotations

import itertools
import math
import random

import nni
import pytest
import torch
import torch.nn as tnn
from nni.nas import nn
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from torch.utils.data import TensorDataset

import nni_cnas
from nni_cnas.arch.decisions import CellDecisions, decisions_of
from nni_cnas.arch.sampling import most_probable
from nni_cnas.arch.supernet import fixed_architecture

CELL_OPS = {
    'conv': lambda node, op, chosen: tnn.Conv2d(8, 8, 3, padding=1),
    'pool': lambda node, op, chosen: tnn.AvgPool2d(3, 1, 1),
    'skip': lambda node, op, chosen: tnn.Identity(),
}


class EverySpace(nn.ModelSpace):
    """Each kind of NNI mutable once; 2 x 3 x 6 x 9 x 3 x 3 x 2 = 5,832 architectures."""

    def __init__(self):
        super().__init__()
        width = nni.choice('width', [4, 8])
        self.stem = tnn.Sequential(nn.MutableConv2d(3, width, 3, padding=1), nn.MutableBatchNorm2d(width), tnn.ReLU(),
                                   nn.MutableConv2d(width, 8, 1))
        self.layer = nn.LayerChoice([tnn.Conv2d(8, 8, 3, padding=1), tnn.AvgPool2d(3, 1, 1), tnn.Identity()], label='layer')
        # Node 1 has one predecessor for its two slots (it repeats its input), node 2 two.
        self.cell = nn.Cell(CELL_OPS, num_nodes=2, num_ops_per_node=2, num_predecessors=1, merge_op='all', label='cell')
        self.blocks = nn.Repeat(lambda index: tnn.Sequential(tnn.Conv2d(16, 16, 3, padding=1), tnn.ReLU()),
                                nni.choice('depth', [1, 2, 3]))
        self.branch = tnn.Conv2d(16, 16, 1)
        self.inputs = nn.InputChoice(3, n_chosen=2, reduction='sum', label='inputs')
        hidden = nni.choice('hidden', [8, 16])
        self.head = tnn.Sequential(nn.MutableLinear(16, hidden), tnn.ReLU(), nn.MutableLinear(hidden, 10))

    def forward(self, x):
        x = self.layer(self.stem(x))
        x = self.blocks(self.cell([x]))
        x = self.inputs([x, self.branch(x), torch.relu(x)])
        return self.head(x.mean((2, 3)))


def structure(sample) -> tuple:
    """What an architecture of EverySpace is, whatever order NNI's cell slots come in."""
    nodes = tuple(tuple(sorted((sample[f'cell/input_{i}_{k}'][0], sample[f'cell/op_{i}_{k}']) for k in range(2)))
                  for i in (1, 2))
    return (sample['width'], sample['layer'], nodes, sample['depth'], tuple(sample['inputs']), sample['hidden'])


def all_decided(decisions):
    labels = list(decisions.options)
    for values in itertools.product(*(decisions.options[label] for label in labels)):
        yield dict(zip(labels, values))


def test_decisions_are_the_spaces_architectures_once_each():
    space = EverySpace()
    decisions = decisions_of(space)
    assert isinstance(decisions, CellDecisions)
    assert list(decisions.options) == ['width', 'layer', 'cell/node_1', 'cell/node_2', 'depth', 'inputs', 'hidden']
    expanded = [decisions.expand(decided) for decided in all_decided(decisions)]
    assert all(space.contains(sample) for sample in expanded)
    ours = [structure(sample) for sample in expanded]
    assert len(ours) == len(set(ours)) == 5832
    # Brute force over NNI's own enumeration: every architecture whose node 2 takes distinct inputs
    # (node 1 has one predecessor), counted once however its slots are ordered.
    mutables = space.simplify()
    nni_samples = (dict(zip(mutables, values)) for values in itertools.product(*(list(m.grid()) for m in mutables.values())))
    nni_archs = {structure(sample) for sample in nni_samples if sample['cell/input_2_0'] != sample['cell/input_2_1']}
    assert set(ours) == nni_archs


def test_top_k_under_a_differentiable_policy_is_exact():
    space = EverySpace()
    supernet = nni_cnas.DARTS().mutate_model(space)
    torch.manual_seed(0)
    module_alphas = [p for name, p in supernet.named_parameters() if '_arch_alpha' in name]
    with torch.no_grad():
        for alpha in module_alphas:
            alpha.normal_()
    decisions = decisions_of(supernet)
    probs = {}
    for module in supernet.modules():
        if hasattr(module, 'export_probs') and hasattr(module, 'arch_parameters'):
            probs.update(module.export_probs({}))
    scored = decisions.probabilities(probs)
    brute = sorted(((math.prod(scored[label][value] for label, value in decided.items()), i, decided)
                    for i, decided in enumerate(all_decided(decisions))), key=lambda t: (-t[0], t[1]))
    top = most_probable(scored, 20)
    assert [decided for _, decided in top] == [decided for _, _, decided in brute[:20]]
    # A cell node's probability is the product of its edges' (NNI's cell/{i}_{j} alphas).
    decided = brute[0][2]
    (j0, op0), (j1, op1) = decided['cell/node_2']
    assert scored['cell/node_2'][decided['cell/node_2']] == pytest.approx(probs[f'cell/2_{j0}'][op0] * probs[f'cell/2_{j1}'][op1])


@pytest.mark.parametrize('name', ['DARTS', 'GDAS'])
def test_fixed_forward_is_nnis_path_sampling_forward(name):
    """Every kind of differentiable supernet module runs a fixed architecture exactly as NNI's own
    path-sampling supernet runs that path (``resample(memo=sample)``) on the same weights: mixed
    operations sliced, cells and Repeats cut, without copying anything."""
    torch.manual_seed(0)
    supernet = getattr(nni_cnas, name)().mutate_model(EverySpace())
    reference = nni_cnas.RSPS().mutate_model(EverySpace())
    weights = {key: value for key, value in supernet.state_dict().items() if '_arch_alpha' not in key}
    reference.load_state_dict(weights)
    supernet.eval(), reference.eval()
    decisions = decisions_of(supernet)
    rng = random.Random(0)
    x = torch.randn(2, 3, 8, 8)
    parameters = {id(p) for p in supernet.parameters()}
    for _ in range(8):
        sample = decisions.expand({label: rng.choice(values) for label, values in decisions.options.items()})
        for module in reference.modules():
            if hasattr(module, 'resample') and module is not reference:
                module.resample(memo=sample)
        with torch.no_grad(), fixed_architecture(supernet, sample):
            ours = supernet(x)
        assert torch.allclose(ours, reference(x), atol=1e-5)
        assert {id(p) for p in supernet.parameters()} == parameters


def _data(n=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator))


def run_every_space(strategy, tmp_path):
    evaluator = Classification(train_dataloaders=DataLoader(_data(), batch_size=4),
                               val_dataloaders=DataLoader(_data(seed=1), batch_size=4), max_epochs=2, num_classes=10,
                               accelerator='cpu', logger=False, enable_checkpointing=False, enable_model_summary=False,
                               enable_progress_bar=False)
    space = EverySpace()
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.config.experiment_working_directory = str(tmp_path)
    experiment.run()
    try:
        return space, experiment.export_top_models(formatter='dict')[0]
    finally:
        experiment.stop()


STRATEGY_NAMES = ['DARTS', 'DARTSV2', 'AmendedDARTS', 'GDAS', 'SETN', 'RSPS', 'ENAS']


@pytest.mark.parametrize('name', STRATEGY_NAMES)
@pytest.mark.parametrize('curriculum', ['batch', 'epoch'])
def test_every_strategy_on_a_user_space(name, curriculum, tmp_path):
    options = dict(controller_steps=1, controller_aggregate=2) if name == 'ENAS' else {}
    strategy = getattr(nni_cnas, name)(curriculum=curriculum, k=3, num_candidates=4, selection_size=4, **options)
    space, exported = run_every_space(strategy, tmp_path)
    assert space.contains(exported)
    module = strategy.search_module
    assert bool(module.curriculum.data_weights.ready) or curriculum == 'batch'
    assert all(space.contains(subnet) for subnet in module.curriculum_subnets(3))


@pytest.mark.parametrize('name', ['GDAS', 'SETN', 'RSPS', 'ENAS'])
def test_amortised_estimator_on_a_user_space(name, tmp_path):
    options = dict(controller_steps=1, controller_aggregate=2) if name == 'ENAS' else {}
    strategy = getattr(nni_cnas, name)(curriculum='epoch', estimator='amortised', k=2, num_candidates=3,
                                       selection_size=4, **options)
    space, exported = run_every_space(strategy, tmp_path)
    assert space.contains(exported)
    assert bool(strategy.search_module.curriculum.data_weights.ready)
