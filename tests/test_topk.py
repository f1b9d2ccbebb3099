"""Top-K samplers against brute-force enumeration."""

import itertools
import math
import random

import pytest
import torch

from nni_cnas.spaces.nb201_arch import LABELS, OPS
from nni_cnas.arch.sampling import most_probable, space_options, space_size, uniform_samples


def brute_force(probs, k):
    labels = list(probs)
    scored = []
    for combo in itertools.product(*(list(probs[label].items()) for label in labels)):
        logp = sum(math.log(p) for _, p in combo)
        scored.append((logp, {label: value for label, (value, _) in zip(labels, combo)}))
    scored.sort(key=lambda item: -item[0])
    return scored[:k]


def nb201_probs(seed):
    generator = torch.Generator().manual_seed(seed)
    return {label: dict(zip(OPS, torch.softmax(torch.randn(len(OPS), generator=generator) * 2, 0).tolist()))
            for label in LABELS}


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_most_probable_equals_brute_force_on_nas_bench_201(seed):
    probs = nb201_probs(seed)
    exact = brute_force(probs, 50)  # enumerates all 15,625 cells
    found = most_probable(probs, 50)
    assert [sample for _, sample in found] == [sample for _, sample in exact]
    assert [lp for lp, _ in found] == pytest.approx([lp for lp, _ in exact])


def test_most_probable_every_k_on_an_uneven_space():
    generator = torch.Generator().manual_seed(7)
    sizes = {'a': 2, 'b': 3, 'c': 4}
    probs = {label: dict(enumerate(torch.softmax(torch.randn(n, generator=generator), 0).tolist()))
             for label, n in sizes.items()}
    exact = brute_force(probs, 24)
    for k in range(1, 25):
        assert [s for _, s in most_probable(probs, k)] == [s for _, s in exact[:k]]
    assert len(most_probable(probs, 100)) == 24  # never more than the space holds


def test_ties_give_distinct_samples_of_the_best_probability():
    uniform = {label: {op: 1 / len(OPS) for op in OPS} for label in LABELS}
    found = most_probable(uniform, 10)
    assert len({tuple(sorted(s.items())) for _, s in found}) == 10
    assert all(lp == pytest.approx(6 * math.log(1 / 5)) for lp, _ in found)
    assert found == most_probable(uniform, 10)  # deterministic


def test_uniform_samples_are_distinct_and_cover_a_small_space():
    options = {'a': [0, 1], 'b': ['x', 'y', 'z']}
    samples = uniform_samples(options, 6, random.Random(0))
    assert sorted(tuple(sorted(s.items())) for s in samples) == sorted(
        tuple(sorted({'a': a, 'b': b}.items())) for a in [0, 1] for b in ['x', 'y', 'z'])
    assert uniform_samples(options, 6, random.Random(0)) == samples  # seeded


def test_uniform_samples_are_uniform():
    options = {'a': list(range(5))}
    counts = [0] * 5
    rng = random.Random(1)
    for _ in range(5000):
        counts[uniform_samples(options, 1, rng, distinct=False)[0]['a']] += 1
    assert max(counts) - min(counts) < 200  # ~1000 each; 200 is > 6 standard deviations


def test_more_than_the_space_is_every_architecture_once_with_a_warning():
    options = {'a': [0, 1], 'b': ['x', 'y', 'z']}  # 6 architectures
    every = sorted(tuple(sorted({'a': a, 'b': b}.items())) for a in [0, 1] for b in ['x', 'y', 'z'])
    with pytest.warns(UserWarning, match='num_candidates=100 is more than the 6 architectures'):
        samples = uniform_samples(options, 100, random.Random(0), what='num_candidates')
    assert sorted(tuple(sorted(s.items())) for s in samples) == every
    assert uniform_samples(options, 100, random.Random(0)) == samples  # seeded
    probs = {'a': {0: 0.7, 1: 0.3}, 'b': {'x': 0.5, 'y': 0.3, 'z': 0.2}}
    with pytest.warns(UserWarning, match='k=9 is more than the 6 architectures'):
        ranked = most_probable(probs, 9)
    assert len(ranked) == 6 and ranked[0][1] == {'a': 0, 'b': 'x'}
    assert space_size({label: list(OPS) for label in LABELS}) == 15625


def test_space_options_of_the_nb201_space():
    from nni_cnas.spaces import NasBench201Space

    options = space_options(NasBench201Space(channels=4, cells=1))
    assert list(options) == list(LABELS)
    assert all(values == list(OPS) for values in options.values())
