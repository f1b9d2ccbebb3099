"""The curriculum's interchangeable parts (measures, weightings, the start of the schedule) and its
diagnostics, each against a hand computation; the defaults and the plain settings against the
base algorithm, bit for bit."""

import json
import math

import pytest
import torch

from nni_cnas.curriculum import CurriculumConfig, data_weights
from nni_cnas.curriculum.component import Curriculum, StepWeights
from nni_cnas.curriculum.config import measure_of_estimator, start_epoch
from nni_cnas.data.batches import IndexedBatch
from nni_cnas.curriculum.diagnostics import average_ranks, class_mean_weights, spearman, top_share
from nni_cnas.curriculum.measures import TrainingLoss, mean_from_sums
from nni_cnas.curriculum.state import LossHistory
from nni_cnas.curriculum.weightings import Inverse, Permuted, Proportional, Ramp, SelfPaced, WeighingContext

CONTEXT = WeighingContext(epoch=1, max_epochs=3)


def test_proportional_is_difficulty_to_the_power_alpha_normalised_to_n():
    d = torch.tensor([1.0, 2.0, 3.0])
    # alpha 2: [1, 4, 9] / 14 * 3
    assert torch.allclose(Proportional(2.0)(d, CONTEXT), torch.tensor([3 / 14, 12 / 14, 27 / 14]))
    # alpha 0.5: sqrt
    s = torch.tensor([1.0, math.sqrt(2), math.sqrt(3)])
    assert torch.allclose(Proportional(0.5)(d, CONTEXT), 3 * s / s.sum())


def test_proportional_at_alpha_one_is_eq_11_exactly():
    d = torch.rand(257, dtype=torch.float64) * 3
    assert torch.equal(Proportional(1.0)(d, CONTEXT), data_weights(d))


def test_inverse_weights_easy_samples_up_with_a_floor():
    # d [1, 2, 4], alpha 1: scores [1, 0.5, 0.25], sum 1.75
    assert torch.allclose(Inverse(1.0)(torch.tensor([1.0, 2.0, 4.0]), CONTEXT),
                          3 * torch.tensor([1, 0.5, 0.25]) / 1.75)
    # d [0, 1, 2]: mean 1, floor 0.001 -> scores [1000, 1, 0.5]
    assert torch.allclose(Inverse(1.0)(torch.tensor([0.0, 1.0, 2.0]), CONTEXT),
                          3 * torch.tensor([1000, 1, 0.5]) / 1001.5)
    assert torch.equal(Inverse(1.0)(torch.zeros(4), CONTEXT), torch.ones(4))


@pytest.mark.parametrize('epoch, expected', [
    (0, [0, 2, 0, 2]),                  # share 0.5 of 4: the 2 easiest (d <= 2)
    (1, [0, 4 / 3, 4 / 3, 4 / 3]),      # progress 0.5, share 0.75: 3 samples (d <= 3)
    (2, [1, 1, 1, 1]),                  # the last epoch: every sample
])
def test_self_paced_admits_a_growing_share_of_the_easiest_samples(epoch, expected):
    d = torch.tensor([4.0, 1.0, 3.0, 2.0])
    weights = SelfPaced()(d, WeighingContext(epoch=epoch, max_epochs=3))
    assert torch.allclose(weights, torch.tensor(expected, dtype=torch.float32))


def test_self_paced_counts_from_the_curriculum_start():
    context = WeighingContext(epoch=5, max_epochs=11, start_epoch=5)  # the first weighted epoch: share 0.5
    assert SelfPaced().share(context) == 0.5
    assert SelfPaced().share(WeighingContext(epoch=10, max_epochs=11, start_epoch=5)) == 1.0


def test_ramp_goes_from_even_to_proportional_weights_by_hand():
    d = torch.tensor([1.0, 3.0, 0.0, 4.0])  # N = 4, sum 8: proportional weights 4 d / 8 = [0.5, 1.5, 0, 2]
    first, middle, last = (WeighingContext(epoch=e, max_epochs=5, start_epoch=1) for e in (1, 3, 4))
    assert middle.progress == pytest.approx(2 / 3)
    assert torch.allclose(Ramp()(d, first), torch.ones(4))
    p = 2 / 3
    assert torch.allclose(Ramp()(d, middle), torch.tensor([(1 - p) + p * w for w in (0.5, 1.5, 0.0, 2.0)]))
    assert torch.allclose(Ramp()(d, last), Proportional()(d, last))
    # alpha: the ramp's end is the proportional weighting with that alpha; alpha 0 is the base algorithm.
    assert torch.allclose(Ramp(2.0)(d, last), Proportional(2.0)(d, last))
    assert Ramp.is_plain(0.0) and CurriculumConfig(weighting='ramp', alpha=0.0).enabled is False
    assert torch.equal(Ramp()(torch.zeros(3), middle), torch.ones(3))  # no difficulty: even weights


def test_permuted_keeps_the_multiset_of_weights_exactly_and_drops_the_order():
    d = torch.rand(500) * 2
    proportional = Proportional(1.0)(d, CONTEXT)
    permuted = Permuted(1.0)(d, WeighingContext(1, 3, seed=7))
    assert torch.equal(torch.sort(permuted).values, torch.sort(proportional).values)
    assert not torch.equal(permuted, proportional)
    assert torch.equal(permuted, Permuted(1.0)(d, WeighingContext(1, 3, seed=7)))  # same seed, same shuffle
    assert not torch.equal(permuted, Permuted(1.0)(d, WeighingContext(1, 3, seed=8)))
    assert abs(spearman(permuted, d)) < 0.2


def test_start_is_a_share_below_one_and_an_epoch_from_one():
    assert [start_epoch(s, 20) for s in (0, 0.5, 0.25, 1, 3)] == [0, 10, 5, 1, 3]
    assert CurriculumConfig(start=0.5).start_epoch(20) == 10
    for bad in (-1, 1.5, float('nan')):
        with pytest.raises(ValueError, match='start'):
            CurriculumConfig(start=bad)


@pytest.mark.parametrize('weighting, alpha, enabled', [('proportional', 0.0, False), ('inverse', 0.0, False),
                                                       ('permuted', 0.0, False), ('self-paced', 0.0, True),
                                                       ('proportional', 0.5, True)])
def test_alpha_zero_is_the_base_algorithm(weighting, alpha, enabled):
    assert CurriculumConfig(weighting=weighting, alpha=alpha).enabled is enabled


def test_unknown_parts_and_the_former_estimator_name():
    for kwargs, match in (({'measure': 'guess'}, 'measure'), ({'weighting': 'guess'}, 'weighting'),
                          ({'alpha': -1.0}, 'alpha')):
        with pytest.raises(ValueError, match=match):
            CurriculumConfig(**kwargs)
    assert measure_of_estimator('exact', 'uncertainty') == 'uncertainty'
    assert measure_of_estimator('amortised', 'uncertainty') == 'amortised'
    assert measure_of_estimator(None, 'loss') == 'loss'
    with pytest.raises(ValueError, match='give only measure'):
        measure_of_estimator('amortised', 'loss')


def test_the_loss_measure_is_each_samples_last_training_loss():
    history = LossHistory()
    history.reset(TrainingLoss().history_length(5), 3)
    history.record(torch.tensor([0, 1]), torch.tensor([2.0, 5.0]))
    history.record(torch.tensor([0]), torch.tensor([4.0]))  # replaces sample 0's loss
    # sample 2 never trained on: the mean of the others, (4 + 5) / 2
    assert TrainingLoss().split(history, None).tolist() == [4.0, 5.0, 4.5]
    assert mean_from_sums(torch.tensor([6.0, 0.0]), torch.tensor([3.0, 0.0])).tolist() == [2.0, 2.0]


def test_the_loss_measure_on_the_batch_schedule_weighs_a_step_by_its_own_losses():
    curriculum = Curriculum(CurriculumConfig('batch', 1, 'loss'))
    weights = curriculum.batch_weights((torch.zeros(2, 1), torch.zeros(2)), measure=None, epoch=0, max_epochs=2)
    assert isinstance(weights, StepWeights)
    assert torch.allclose(weights(torch.tensor([1.0, 3.0])), torch.tensor([0.5, 1.5]))


def test_an_epoch_before_the_start_runs_no_pass_and_weighs_nothing():
    curriculum = Curriculum(CurriculumConfig('epoch', 2, start=3))
    curriculum.attach(4)

    def no_pass():
        raise AssertionError('the uncertainty pass ran before the curriculum started')

    for epoch in (0, 1):
        curriculum.end_epoch(epoch, 10, no_pass)
        assert curriculum.batch_weights(IndexedBatch((None, None), torch.tensor([0, 1])), None, epoch + 1, 10) is None
    curriculum.end_epoch(2, 10, lambda reduce: (torch.tensor([1.0, 4.0, 1.0, 4.0], dtype=torch.float64), torch.ones(4)))
    assert torch.allclose(curriculum.batch_weights(IndexedBatch((None, None), torch.tensor([0, 1])), None, 3, 10),
                          torch.tensor([2 / 3, 4 / 3]))


def test_average_ranks_and_spearman_by_hand():
    assert average_ranks(torch.tensor([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]
    # d = rank differences [0, 1, 1, 0]: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    assert spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert spearman(torch.ones(5), torch.arange(5.0)) is None


def test_top_share_and_class_means_by_hand():
    assert top_share(torch.ones(20)) == pytest.approx(0.1)
    assert top_share(torch.tensor([10.0] + [0.0] * 9)) == pytest.approx(1.0)
    # 10 samples: the top one (ceil of 10%) holds 5 of 14
    assert top_share(torch.tensor([5.0] + [1.0] * 9)) == pytest.approx(5 / 14)
    means = class_mean_weights(torch.tensor([1.0, 3.0, 0.5, 1.5]), torch.tensor([0, 0, 2, 2]))
    assert means == {'0': 2.0, '2': 1.0}
    assert class_mean_weights(torch.ones(2), torch.tensor([0.5, 1.5])) is None  # regression targets


def test_epoch_diagnostics_by_hand():
    curriculum = Curriculum(CurriculumConfig('batch', 1, 'loss'))
    curriculum.attach(4)
    x = torch.zeros(4, 1)
    batch = IndexedBatch((x, torch.tensor([0, 1, 0, 1])), torch.arange(4))
    # epoch 0: weights from the losses [1, 2, 3, 4] -> [0.4, 0.8, 1.2, 1.6]
    weights = curriculum.batch_weights(batch, None, 0, 2)
    weights(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    curriculum.record(batch, torch.tensor([1.0, 2.0, 3.0, 4.0]), weights)
    stats = curriculum.epoch_statistics()
    assert stats['rank_corr_loss'] == pytest.approx(1.0) and stats['rank_corr_previous'] is None
    assert stats['class_mean'] == {'0': pytest.approx(0.8), '1': pytest.approx(1.2)}
    assert stats['top10_share'] == pytest.approx(1.6 / 4)
    curriculum.end_epoch(0, 2, None)
    # epoch 1: the order of difficulty reversed -> rank correlation with epoch 0's weights is -1
    curriculum.start_epoch()
    weights = curriculum.batch_weights(batch, None, 1, 2)
    weights(torch.tensor([4.0, 3.0, 2.0, 1.0]))
    curriculum.record(batch, torch.tensor([4.0, 3.0, 2.0, 1.0]), weights)
    assert curriculum.epoch_statistics()['rank_corr_previous'] == pytest.approx(-1.0)
    # the records survive a checkpoint (a resume in the middle of an epoch)
    restored = Curriculum(CurriculumConfig('batch', 1, 'loss'))
    restored.set_extra_state(curriculum.get_extra_state())
    assert json.dumps(restored.epoch_statistics()) == json.dumps(curriculum.epoch_statistics())


# ---------------------------------------------------------------------------- whole searches

TINY = dict(dataset='digits', subset=64, epochs=3, batch_size=16, channels=4, cells=1, num_candidates=4,
            selection_size=32, tensorboard=False, seed=3)


def _search(tmp_path, name, **options):
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.search import run_search

    out = tmp_path / name
    result = run_search(SearchConfig(out=str(out), **dict(TINY, **options)))
    metrics = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    return result, metrics


@pytest.mark.parametrize('strategy, schedule, measure, weighting, alpha, start', [
    ('rsps', 'epoch', 'uncertainty', 'inverse', 1.0, 0.0),
    ('rsps', 'epoch', 'uncertainty', 'self-paced', 1.0, 0.0),
    ('rsps', 'batch', 'uncertainty', 'permuted', 1.0, 0.0),
    ('gdas', 'epoch', 'loss', 'proportional', 0.5, 0.0),
    ('darts', 'batch', 'loss', 'self-paced', 1.0, 0.0),
    ('setn', 'epoch', 'amortised', 'permuted', 2.0, 0.5),
    ('rsps', 'epoch', 'loss', 'ramp', 1.0, 0.0),
    ('rsps', 'epoch', 'disagreement', 'proportional', 1.0, 0.0),
    ('setn', 'batch', 'disagreement', 'proportional', 1.0, 0.0),
])
def test_each_part_searches_and_records_what_the_weights_did(tmp_path, strategy, schedule, measure, weighting, alpha,
                                                             start):
    from nni_cnas.spaces.nb201_arch import all_archs

    result, metrics = _search(tmp_path, 'run', strategy=strategy, curriculum=schedule, measure=measure,
                              weighting=weighting, alpha=alpha, curriculum_start=start, k=2)
    assert result['arch'] in set(all_archs())
    first_weighted = 2 if start else (1 if schedule == 'epoch' else 0)
    for record in metrics:
        stats = record['data_weights']
        # self-paced admits every sample in the last epoch: uniform weights again
        weighted = record['epoch'] >= first_weighted and not (weighting == 'self-paced' and record['epoch'] == 2)
        assert (stats['std'] > 0) == weighted, record['epoch']
        assert set(stats['class_mean']) <= {str(c) for c in range(10)}
        assert 0.1 <= stats['top10_share'] <= 1
        assert (stats['rank_corr_loss'] is not None) == weighted
    if first_weighted < 2 and weighting != 'self-paced':
        assert metrics[-1]['data_weights']['rank_corr_previous'] is not None


@pytest.mark.parametrize('strategy', ['rsps', 'gdas'])
def test_alpha_zero_and_a_start_past_the_last_epoch_are_the_base_algorithm_bit_for_bit(tmp_path, strategy):
    _, plain = _search(tmp_path, 'plain', strategy=strategy, curriculum='none')
    for name, options in (('alpha0', dict(alpha=0.0)), ('late', dict(curriculum_start=3))):
        _, metrics = _search(tmp_path, name, strategy=strategy, curriculum='epoch', k=2, **options)
        for a, b in zip(plain, metrics):
            assert (a['train_loss'], a.get('arch'), a.get('val_acc')) == \
                (b['train_loss'], b.get('arch'), b.get('val_acc')), name


def test_disagreement_is_the_spread_of_the_true_class_probability_by_hand():
    from nni_cnas.curriculum.measures import Disagreement, SubnetOutputs

    # K = 2 subnets, B = 2 samples, C = 2 classes. Sample 0 (class 0): probabilities of class 0 are
    # softmax([0, 0]) = 0.5 and softmax([ln 3, 0]) = 0.75 -> population std 0.125. Sample 1 (class 1):
    # both subnets give class 1 the same 0.5 -> 0.
    logits = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[math.log(3), 0.0], [0.0, 0.0]]])
    outputs = SubnetOutputs(losses=torch.zeros(2, 2), logits=logits, targets=torch.tensor([0, 1]))
    assert torch.allclose(Disagreement.spread(outputs), torch.tensor([0.125, 0.0]))
    assert torch.allclose(Disagreement().batch(None, None, lambda batch: outputs), torch.tensor([0.125, 0.0]))
    values, counts = Disagreement.reduce(outputs)
    assert values.dtype == torch.float64 and counts.tolist() == [1.0, 1.0]
    # Over the split: the per-sample values summed, one count each (a sample not seen gets the mean).
    split = Disagreement().split(None, lambda reduce: (torch.tensor([0.125, 0.0, 0.0], dtype=torch.float64),
                                                        torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)))
    assert torch.allclose(split, torch.tensor([0.125, 0.0, 0.0625], dtype=torch.float64))
    with pytest.raises(ValueError, match='needs the subnets\' class logits'):
        Disagreement.spread(SubnetOutputs(losses=torch.zeros(2, 2)))


def test_the_k_passes_hand_a_measure_the_subnets_logits_and_targets(digits):
    """The subnet runner's outputs: each subnet's logits, the losses they give, the batch's targets."""
    import torch.nn.functional as F

    from nni_cnas.strategies import RSPS

    from helpers import run_tiny_search

    strategy = RSPS(k=3)
    run_tiny_search(strategy, digits, epochs=1)
    module = strategy.search_module
    x, y = next(iter(digits.loaders(16, 0)['val']))
    archs = module.curriculum_subnets(3)
    outputs = module.subnets.outputs(archs, (x, y))
    assert outputs.logits.shape == (3, len(y), 10) and torch.equal(outputs.targets, y)
    assert torch.allclose(outputs.losses, F.cross_entropy(outputs.logits.transpose(1, 2), y.expand(3, -1),
                                                          reduction='none'))


def test_a_measure_of_class_probabilities_is_refused_for_a_module_that_gives_none():
    """Before any training: a regression (NNI's RegressionModule) or a language model has no class
    probabilities to disagree on; NNI's ClassificationModule has."""
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule, RegressionModule

    import nni_cnas
    from nni_cnas.run.evaluator import LanguageModelModule

    for module in (RegressionModule(), LanguageModelModule()):
        with pytest.raises(TypeError, match='the disagreement measure reads the subnets\' class probabilities'):
            nni_cnas.RSPS(measure='disagreement').configure_oneshot_module(module)
    nni_cnas.RSPS(measure='disagreement').configure_oneshot_module(ClassificationModule(num_classes=10))
    nni_cnas.RSPS(measure='uncertainty').configure_oneshot_module(RegressionModule())  # losses are enough there
