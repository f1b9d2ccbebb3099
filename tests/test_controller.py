"""The ENAS controller's sampler against brute-force enumeration."""

import itertools
import math
import random

import pytest
import torch

from nni_cnas.strategies.sampling.controller import LstmController

OPTIONS = {'a': ['x', 'y', 'z'], 'b': [0, 1], 'c': ['x', 'y', 'z']}


def controller(seed=0):
    torch.manual_seed(seed)
    ctrl = LstmController(OPTIONS, lstm_size=8, tanh_constant=2.5, temperature=1.0)
    with torch.no_grad():
        for head in ctrl.heads:  # sharper than the tiny init, so that a wrong sampler would show
            head.weight.mul_(20)
    return ctrl


def test_probabilities_of_all_samples_sum_to_one():
    ctrl = controller()
    total = sum(math.exp(ctrl.log_prob(dict(zip(OPTIONS, combo)))) for combo in itertools.product(*OPTIONS.values()))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_sampling_frequencies_match_the_policy():
    ctrl = controller()
    rng = random.Random(0)
    draws = 1200
    counts = {}
    for _ in range(draws):
        key = tuple(ctrl.sample(rng).values())
        counts[key] = counts.get(key, 0) + 1
    for combo in itertools.product(*OPTIONS.values()):
        p = math.exp(ctrl.log_prob(dict(zip(OPTIONS, combo))))
        tolerance = 5 * math.sqrt(p * (1 - p) / draws) + 1e-3
        assert abs(counts.get(combo, 0) / draws - p) < tolerance, combo


def test_drawn_log_prob_and_greedy_choice():
    ctrl = controller(1)
    log_prob, entropy, sample = ctrl(random.Random(3))
    assert float(log_prob.detach()) == pytest.approx(ctrl.log_prob(sample))
    greedy = ctrl(greedy=True)[2]
    best = max(itertools.product(*OPTIONS.values()), key=lambda combo: ctrl.log_prob(dict(zip(OPTIONS, combo))))
    # Greedy decoding picks the best option step by step; on this space it finds the best sample.
    assert ctrl.log_prob(greedy) == pytest.approx(ctrl.log_prob(dict(zip(OPTIONS, best))))
    assert float(entropy.detach()) > 0


def test_decisions_with_the_same_options_share_parameters():
    ctrl = LstmController(OPTIONS)
    assert len(ctrl.heads) == 2 and ctrl.group_of == [0, 1, 0]


def test_baseline_is_a_moving_average():
    ctrl = LstmController(OPTIONS)
    assert ctrl.update_baseline(1.0, 0.9) == 1.0
    assert ctrl.update_baseline(0.0, 0.9) == pytest.approx(0.9)
    assert ctrl.update_baseline(0.0, 0.9) == pytest.approx(0.81)


def test_sample_many_draws_what_as_many_samples_draw():
    """The batched draw of an epoch's paths: the same architectures, from the same random numbers,
    as one sample at a time (the LSTM's batched arithmetic rounds alike on these sizes)."""
    options = {'a': ['x', 'y', 'z'], 'b': [0, 1], 'c': ['p', 'q', 'r', 's']}
    controller = LstmController(options)
    one_by_one, together = random.Random(3), random.Random(3)
    expected = [controller.sample(one_by_one) for _ in range(50)]
    assert controller.sample_many(together, 50) == expected
    assert one_by_one.random() == together.random()  # the generator is left where 50 samples leave it
    assert controller.sample_many(random.Random(0), 0) == []
