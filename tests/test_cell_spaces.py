"""DARTS and NASNet spaces: building, every strategy on each, top-K on DARTS cells against brute
force, valid exported genotypes, NASNet's loose ends."""

import itertools
import math
import random

import pytest
import torch

import nni_cnas
from nni_cnas.data import load_search_data
from nni_cnas.arch.decisions import DartsDecisions, decisions_of
from nni_cnas.run.evaluator import SearchClassificationModule, build_evaluator
from nni_cnas.run.search import seed_everything
from nni_cnas.spaces.darts import DartsSpace, darts_genotype_to_sample, darts_sample_to_genotype
from nni_cnas.spaces.genotype import Genotype, loose_ends
from nni_cnas.spaces.ops import DARTS_OPS
from nni_cnas.spaces.nasnet import NasnetSpace, nasnet_genotype_to_sample, nasnet_sample_to_genotype
from nni_cnas.arch.supernet import fixed_architecture
from nni_cnas.arch.sampling import most_probable, space_size

from helpers import cell_strategies

ALL = cell_strategies()


@pytest.fixture(scope='module')
def tiny_digits():
    return load_search_data('digits', subset=16)


def tiny(space: str):
    if space == 'darts':
        return DartsSpace(channels=4, cells=1, num_classes=10, in_channels=1)
    return NasnetSpace(channels=4, cells=1, num_classes=10, in_channels=1, blocks=3)


@pytest.mark.parametrize('space', ['darts', 'nasnet'])
@pytest.mark.parametrize('stem', ['cifar', 'imagenet'])
def test_spaces_build_and_run_at_tiny_size(space, stem):
    cls = DartsSpace if space == 'darts' else NasnetSpace
    model = cls(channels=4, cells=1, num_classes=7, in_channels=3, stem=stem)
    supernet = nni_cnas.RSPS().mutate_model(model)
    decisions = decisions_of(supernet)
    sample = decisions.expand({label: values[0] for label, values in decisions.options.items()})
    with fixed_architecture(supernet, sample):
        out = supernet(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert len(model.cells) == 5  # 3N + 2 with two reduction cells


def test_darts_space_size_is_about_1e9_per_cell_type():
    options = decisions_of(DartsSpace(channels=4, cells=1)).options
    per_cell = space_size({k: v for k, v in options.items() if k.startswith('normal/')})
    assert per_cell == 49 ** 4 * (1 * 3 * 6 * 10) and len(options) == 8  # C(i, 2) pairs, 7 x 7 ops, 4 nodes


@pytest.mark.parametrize('space', ['darts', 'nasnet'])
@pytest.mark.parametrize('name', ALL)
def test_every_strategy_searches_each_space_and_exports_a_valid_genotype(space, name, tiny_digits):
    seed_everything(0)
    extra = dict(controller_steps=1, controller_aggregate=2) if name == 'enas' else {}
    strategy = nni_cnas.STRATEGIES[name](num_candidates=3, selection_size=8, seed=0, curriculum='batch', k=2, **extra)
    model = tiny(space)
    evaluator = build_evaluator(SearchClassificationModule(10), tiny_digits.loaders(16, 0), max_epochs=1,
                                accelerator='cpu')
    supernet = strategy.mutate_model(model)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    strategy.mutate_evaluator(evaluator).evaluate(supernet)
    module = strategy.search_module
    after = supernet.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k in after)  # a step was taken
    sample = module.export()
    genotype = model.genotype(sample).check()
    assert Genotype.from_text(genotype.text()) == genotype
    to_sample = darts_genotype_to_sample if space == 'darts' else nasnet_genotype_to_sample
    assert to_sample(genotype) == {label: sample[label] for label in to_sample(genotype)}
    assert module.epoch_record.data_weights['gini'] > 0


def _brute_force_darts(probs, nodes, ops):
    """Every edge assignment of one cell type; valid ones keep exactly two edges per node."""
    labels = [f'normal/{j}_{i}' for i in range(2, 2 + nodes) for j in range(i)]
    ranked = []
    for values in itertools.product(ops, repeat=len(labels)):
        sample = dict(zip(labels, values))
        if any(sum(sample[f'normal/{j}_{i}'] != 'none' for j in range(i)) != 2 for i in range(2, 2 + nodes)):
            continue
        p = math.prod(probs[label][op] for label, op in sample.items() if op != 'none')
        ranked.append((p, sample))
    ranked.sort(key=lambda item: -item[0])
    return ranked


@pytest.mark.parametrize('seed', range(4))
def test_darts_top_k_equals_brute_force_and_top_1_is_darts_derivation(seed):
    ops = ('none', 'conv', 'pool', 'skip')
    nodes = 3
    rng = random.Random(seed)
    probs = {}
    for i in range(2, 2 + nodes):
        for j in range(i):
            weights = [rng.random() for _ in ops]
            probs[f'normal/{j}_{i}'] = {op: w / sum(weights) for op, w in zip(ops, weights)}
    decisions = DartsDecisions(('normal',), nodes, ops)
    brute = _brute_force_darts(probs, nodes, ops)
    assert len(brute) == space_size(decisions.options) == 9 ** 3 * (1 * 3 * 6)
    for k in (1, 5, 40, len(brute)):
        found = most_probable(decisions.probabilities(probs), k)
        assert [decisions.expand(s) for _, s in found] == [s for _, s in brute[:k]]
        assert [math.exp(lp) for lp, _ in found] == pytest.approx([p for p, _ in brute[:k]])
    # DARTS' derivation: per node, the two edges whose best non-none op is strongest, with that op.
    best = decisions.expand(most_probable(decisions.probabilities(probs), 1)[0][1])
    for i in range(2, 2 + nodes):
        strength = {j: max((p, op) for op, p in probs[f'normal/{j}_{i}'].items() if op != 'none') for j in range(i)}
        kept = sorted(strength, key=lambda j: -strength[j][0])[:2]
        for j in range(i):
            assert best[f'normal/{j}_{i}'] == (strength[j][1] if j in kept else 'none')


def test_nasnet_cell_output_zeroes_the_used_blocks_of_a_fixed_subnet():
    model = NasnetSpace(channels=4, cells=1, num_classes=10, in_channels=1, blocks=3)
    supernet = nni_cnas.RSPS().mutate_model(model)
    decisions = decisions_of(supernet)
    sample = {label: values[0] for label, values in decisions.options.items()}
    sample.update({'normal/input_1_0': 2, 'normal/input_2_1': 3})  # block 2 uses block 1 uses block 0
    cell = supernet.cells[0]
    outputs = {}
    cell.register_forward_hook(lambda module, args, out: outputs.__setitem__('cell', out))
    with fixed_architecture(supernet, sample), torch.no_grad():
        supernet(torch.randn(2, 1, 8, 8))
    per_block = outputs['cell'].chunk(3, dim=1)
    genotype = nasnet_sample_to_genotype(sample, blocks=3)
    assert genotype.normal.concat == loose_ends(genotype.normal.nodes) == (4,)
    assert torch.count_nonzero(per_block[0]) == 0 and torch.count_nonzero(per_block[1]) == 0
    assert torch.count_nonzero(per_block[2]) > 0


def test_darts_sample_and_genotype_round_trip():
    decisions = DartsDecisions(('normal', 'reduce'), 4, DARTS_OPS)
    rng = random.Random(0)
    for _ in range(20):
        sample = decisions.expand({label: rng.choice(values) for label, values in decisions.options.items()})
        assert darts_genotype_to_sample(darts_sample_to_genotype(sample)) == sample
