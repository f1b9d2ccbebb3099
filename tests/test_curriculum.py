"""Eq. 10-11 and the weight statistics against hand computations."""

import math

import pytest
import torch

from nni_cnas.curriculum import (
    CurriculumConfig, DataWeights, data_weights, sigma_from_sums, uncertainty, weight_statistics, weights_from_losses,
)


def test_uncertainty_is_root_of_mean_loss_over_subnets():
    # Hand computation: means over K=2 are [2, 2, 0, 0.25]; square roots [1.4142.., 1.4142.., 0, 0.5].
    losses = torch.tensor([[1.0, 4.0, 0.0, 0.5], [3.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(uncertainty(losses), torch.tensor([math.sqrt(2), math.sqrt(2), 0.0, 0.5]))


def test_weights_are_n_sigma_over_l1_norm():
    # sigma = [0.5, 1]: v = 2 * [0.5, 1] / 1.5 = [2/3, 4/3]
    assert torch.allclose(data_weights(torch.tensor([0.5, 1.0])), torch.tensor([2 / 3, 4 / 3]))
    # Eq. 10 then 11: losses [[1, 4, 0], [3, 0, 0]] -> sigma [sqrt2, sqrt2, 0] -> v [1.5, 1.5, 0]
    v = weights_from_losses(torch.tensor([[1.0, 4.0, 0.0], [3.0, 0.0, 0.0]]))
    assert torch.allclose(v, torch.tensor([1.5, 1.5, 0.0]))


def test_weights_always_sum_to_n():
    sigma = torch.rand(1000) * 3
    assert data_weights(sigma).sum().item() == pytest.approx(1000, rel=1e-5)


def test_all_zero_uncertainty_gives_weights_one():
    assert torch.equal(data_weights(torch.zeros(5)), torch.ones(5))
    assert torch.equal(weights_from_losses(torch.zeros(3, 4)), torch.ones(4))


def test_non_finite_uncertainty_counts_as_the_largest():
    v = data_weights(torch.tensor([1.0, float('inf'), 3.0, float('nan')]))
    # inf and nan become 3 (the largest finite sigma): sigma [1, 3, 3, 3], sum 10, N 4.
    assert torch.allclose(v, torch.tensor([0.4, 1.2, 1.2, 1.2]))
    assert torch.equal(data_weights(torch.tensor([float('nan'), float('inf')])), torch.ones(2))


def test_statistics_by_hand():
    uniform = weight_statistics(torch.ones(4))
    assert (uniform.min, uniform.max, uniform.std, uniform.gini) == (1.0, 1.0, 0.0, 0.0)
    assert uniform.entropy == pytest.approx(math.log(4)) and uniform.normalized_entropy == pytest.approx(1.0)
    # All weight on one of 4 samples: Gini = 2*(4*4)/(4*4) - 5/4 = 0.75, entropy 0.
    peaked = weight_statistics(torch.tensor([0.0, 0.0, 0.0, 4.0]))
    assert peaked.gini == pytest.approx(0.75) and peaked.entropy == pytest.approx(0.0)
    # v = [0.5, 1.5]: p = [0.25, 0.75]; H = -(0.25 ln 0.25 + 0.75 ln 0.75); Gini = 2*(0.5+3)/(2*2) - 3/2 = 0.25
    two = weight_statistics(torch.tensor([1.5, 0.5]))
    assert two.entropy == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    assert two.gini == pytest.approx(0.25) and two.std == pytest.approx(0.5)
    # Bins of 0.1: 0.5 -> bin 5, 1.5 -> bin 15; 4.0 and 7.2 -> the last bin (29); 0.0 -> bin 0.
    assert two.histogram[5] == 1 and two.histogram[15] == 1 and sum(two.histogram) == 2 and len(two.histogram) == 30
    assert weight_statistics(torch.tensor([0.0, 4.0, 7.2, 0.05])).histogram[0::29] == (2, 2)


def test_data_weights_module_epoch_update():
    weights = DataWeights()
    weights.reset(3)
    assert weights.lookup(torch.tensor([0, 2])) is None  # before the first update: unweighted
    # K=2 subnets: loss sums [2, 8, 0.5] over counts [2, 2, 2] -> means [1, 4, 0.25] -> sigma [1, 2, 0.5]
    weights.set(data_weights(sigma_from_sums(torch.tensor([2.0, 8.0, 0.5]), torch.tensor([2.0, 2.0, 2.0]))))
    assert torch.allclose(weights.lookup(torch.tensor([2, 0, 1])), torch.tensor([3 * 0.5 / 3.5, 3 / 3.5, 6 / 3.5]))


def test_unseen_samples_get_the_mean_uncertainty():
    weights = DataWeights()
    weights.reset(3)
    weights.set(data_weights(sigma_from_sums(torch.tensor([1.0, 4.0, 0.0]), torch.tensor([1.0, 1.0, 0.0]))))
    # sigma [1, 2, mean 1.5] -> v = 3 * sigma / 4.5
    assert torch.allclose(weights.weights, torch.tensor([1, 2, 1.5]) * 3 / 4.5)


def test_weights_travel_in_the_state_dict():
    weights = DataWeights()
    weights.reset(2)
    weights.set(data_weights(sigma_from_sums(torch.tensor([1.0, 9.0]), torch.tensor([1.0, 1.0]))))
    restored = DataWeights()
    restored.reset(2)
    restored.load_state_dict(weights.state_dict())
    assert torch.equal(restored.lookup(torch.tensor([0, 1])), weights.lookup(torch.tensor([0, 1])))


@pytest.mark.parametrize('schedule, k, enabled', [('epoch', 5, True), ('batch', 1, True), ('epoch', 0, False),
                                                  ('none', 5, False)])
def test_config_enabled(schedule, k, enabled):
    assert CurriculumConfig(schedule, k).enabled is enabled


@pytest.mark.parametrize('schedule, k', [('weekly', 5), ('epoch', -1), ('epoch', 1.5)])
def test_config_rejects_bad_values(schedule, k):
    with pytest.raises(ValueError):
        CurriculumConfig(schedule, k)


def test_loss_history_keeps_the_last_k_losses_per_sample():
    from nni_cnas.curriculum import LossHistory, sigma_from_sums

    history = LossHistory()
    history.reset(k=2, num_samples=3)
    history.record(torch.tensor([0, 2]), torch.tensor([1.0, 9.0]))
    history.record(torch.tensor([0]), torch.tensor([3.0]))
    history.record(torch.tensor([0, 2]), torch.tensor([5.0, 7.0]))  # sample 0's third loss replaces its first
    sums, counts = history.loss_sums()
    assert sums.tolist() == [8.0, 0.0, 16.0] and counts.tolist() == [2, 0, 2]
    # sigma: sqrt(8/2)=2, unseen -> mean of seen (2 + sqrt(8))/2, sqrt(16/2)
    expected = torch.tensor([2.0, (2 + 8 ** 0.5) / 2, 8 ** 0.5], dtype=torch.float64)
    assert torch.allclose(sigma_from_sums(sums, counts), expected)
    assert history.loss_sums(torch.tensor([2]))[0].tolist() == [16.0]


def test_estimator_is_checked():
    assert CurriculumConfig('epoch', 5, 'amortised').estimator == 'amortised'
    with pytest.raises(ValueError, match='measure'):
        CurriculumConfig('epoch', 5, 'guess')
