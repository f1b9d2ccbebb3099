"""NNI's constructor arguments, with NNI's meaning, on the strategies that replace NNI's: GumbelDARTS'
``temperature``, RandomOneShot's ``filter``, ENAS' own, and NNI's profiler penalties together with
the curriculum; and ``nni_cnas.Proxyless``."""

from __future__ import annotations

import pytest
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.hub.pytorch import NasBench201
from nni.nas.oneshot.pytorch.differentiable import LinearTemperatureScheduler
from nni.nas.oneshot.pytorch.profiler import ExpectationProfilerPenalty, RangeProfilerFilter, SampleProfilerPenalty
from nni.nas.profiler.pytorch.flops import FlopsProfiler
from pytorch_lightning import Callback
from nni.nas import nn
from torch import nn as tnn
from torch.utils.data import TensorDataset

import nni_cnas

EPOCHS = 3


def _data(n=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator))


def _space():
    return NasBench201(stem_out_channels=4, num_modules_per_stack=1)


class ConvSpace(nn.ModelSpace):
    """Two choices of kernel size: a space NNI's FLOPs profiler can count (NAS-Bench-201's ``Zero``
    op has no shape formula in NNI 3.0)."""

    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(3, 4, 3, padding=1)
        self.a, self.b = (nn.LayerChoice({'conv3': tnn.Conv2d(4, 4, 3, padding=1), 'conv5': tnn.Conv2d(4, 4, 5, padding=2),
                                          'conv1': tnn.Conv2d(4, 4, 1)}, label=label) for label in 'ab')
        self.head = tnn.Linear(4, 10)

    def forward(self, x):
        return self.head(self.b(self.a(self.stem(x))).mean((2, 3)))


def _flops():
    return FlopsProfiler(ConvSpace(), torch.randn(1, 3, 8, 8))


def run(strategy, tmp_path, callbacks=(), space_factory=_space):
    evaluator = Classification(train_dataloaders=DataLoader(_data(), batch_size=8),
                               val_dataloaders=DataLoader(_data(seed=1), batch_size=8), max_epochs=EPOCHS,
                               num_classes=10, accelerator='cpu', logger=False, enable_checkpointing=False,
                               enable_model_summary=False, enable_progress_bar=False, callbacks=list(callbacks))
    space = space_factory()
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.config.experiment_working_directory = str(tmp_path)
    experiment.run()
    try:
        exported = experiment.export_top_models(formatter='dict')[0]
    finally:
        experiment.stop()
    assert space.contains(exported)
    return exported


class Logged(Callback):
    """The values the search logs, per epoch."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({key: float(value) for key, value in trainer.callback_metrics.items()})


# ---------------------------------------------------------------------------- GDAS (GumbelDARTS')


@pytest.mark.parametrize('temperature, expected', [
    (2.0, [2.0, 2.0, 2.0]),
    ((3.0, 0.3), [3.0 - 2.7 * e / EPOCHS for e in range(EPOCHS)]),
    ({'init': 3.0, 'min': 0.3}, [3.0 - 2.7 * e / EPOCHS for e in range(EPOCHS)]),
    (LinearTemperatureScheduler(3.0, 0.3), [3.0 - 2.7 * e / EPOCHS for e in range(EPOCHS)]),
])
def test_gdas_takes_gumbel_darts_temperature(temperature, expected, tmp_path):
    taus = []

    class Tau(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            taus.append(pl_module.tau)

    run(nni_cnas.GDAS(temperature=temperature, k=2), tmp_path, [Tau()])
    assert taus == pytest.approx(expected)


def test_gdas_refuses_two_temperatures_and_a_bad_one():
    with pytest.raises(ValueError, match='either temperature'):
        nni_cnas.GDAS(temperature=1.0, tau_max=5.0)
    with pytest.raises(ValueError, match='invalid temperature'):
        nni_cnas.GDAS(temperature='hot')


# ---------------------------------------------------------------------------- RSPS (RandomOneShot's filter)


def test_rsps_filter_keeps_every_path_subnet_and_candidate_in_the_filter(tmp_path):
    seen = []

    def no_pooling_on_the_first_edge(sample):
        seen.append(sample)
        return sample['cell/0_1'] != 'avg_pool_3x3'

    strategy = nni_cnas.RSPS(filter=no_pooling_on_the_first_edge, k=3, num_candidates=6, selection_size=8)
    exported = run(strategy, tmp_path)
    assert exported['cell/0_1'] != 'avg_pool_3x3'
    assert any(sample['cell/0_1'] == 'avg_pool_3x3' for sample in seen)  # the filter did reject draws
    module = strategy.search_module
    drawn = module.curriculum_subnets(3) + module.export_candidates() + [module.draw(module.rng) for _ in range(20)]
    assert all(sample['cell/0_1'] != 'avg_pool_3x3' for sample in drawn)


def test_rsps_filter_as_nnis_dict_of_a_range_filter(tmp_path):
    flops = _flops()
    limit = flops.profile({'a': 'conv3', 'b': 'conv3'})  # no 5x5 kernel fits under it
    strategy = nni_cnas.RSPS(filter={'profiler': flops, 'max': limit}, k=2, num_candidates=3, selection_size=8)
    assert isinstance(strategy.filter, RangeProfilerFilter)
    exported = run(strategy, tmp_path, space_factory=ConvSpace)
    assert 'conv5' not in exported.values()
    module = strategy.search_module
    assert all('conv5' not in sample.values() for sample in module.curriculum_subnets(2) + module.export_candidates())


def test_rsps_filter_that_rejects_everything_says_so(tmp_path):
    with pytest.raises(ValueError, match='widen the filter'):
        run(nni_cnas.RSPS(filter=lambda sample: False, k=2), tmp_path)


# ---------------------------------------------------------------------------- ENAS


def test_enas_takes_nnis_arguments(tmp_path):
    logged = Logged()
    strategy = nni_cnas.ENAS(reward_metric_name='val_acc', batches_per_update=2, replay_buffer_size=4,
                             update_kwargs={'batch_size': 2, 'repeat': 2, 'update_times': 1}, log_prob_every_n_step=2,
                             warmup_epochs=1, controller_steps=2, k=2, num_candidates=3, selection_size=8)
    run(strategy, tmp_path, [logged])
    module = strategy.search_module
    assert (module.controller_aggregate, module.replay_buffer_size, module.update_times, module.update_batch_size) == (2, 4, 2, 2)
    assert 'controller/reward' not in logged.epochs[0] and 'controller/reward' in logged.epochs[1]  # warm-up epoch
    assert any(key.startswith('prob/') for key in logged.epochs[-1])  # log_prob_every_n_step


def test_enas_reward_is_the_named_metric_of_the_evaluator(tmp_path):
    with pytest.raises(KeyError, match='not a metric the evaluator logs'):
        run(nni_cnas.ENAS(reward_metric_name='val_f1', controller_steps=1, controller_aggregate=1), tmp_path)


def test_enas_refuses_what_has_no_meaning_for_its_controller():
    with pytest.raises(ValueError, match='tianshou policy_fn'):
        nni_cnas.ENAS(policy_fn=lambda env: None)
    with pytest.raises(ValueError, match='update_kwargs lr'):
        nni_cnas.ENAS(update_kwargs={'lr': 0.1})
    with pytest.raises(ValueError, match='same option'):
        nni_cnas.ENAS(batches_per_update=3, controller_aggregate=4)
    with pytest.raises(ValueError, match='sampling filter'):
        nni_cnas.ENAS(filter=lambda sample: True)


def test_enas_sample_penalty_is_combined_with_the_reward(tmp_path):
    logged = Logged()
    penalty = {'profiler': _flops(), 'baseline': 1e6, 'scale': -0.1}
    strategy = nni_cnas.ENAS(penalty=penalty, controller_steps=1, controller_aggregate=2, k=2)
    assert isinstance(strategy.controller_options['penalty'], SampleProfilerPenalty)
    run(strategy, tmp_path, [logged], space_factory=ConvSpace)
    assert 'penalty/penalty' in logged.epochs[-1]


# ---------------------------------------------------------------------------- DARTS' penalty


@pytest.mark.parametrize('curriculum', ['epoch', 'batch'])
def test_darts_expectation_penalty_with_the_curriculum(curriculum, tmp_path):
    logged = Logged()
    penalty = ExpectationProfilerPenalty(_flops(), 1e6, scale=0.1)
    run(nni_cnas.DARTS(penalty=penalty, curriculum=curriculum, k=2), tmp_path, [logged], space_factory=ConvSpace)
    assert 'penalty/penalty' in logged.epochs[-1] and logged.epochs[-1]['penalty/penalty'] > 0


# ---------------------------------------------------------------------------- Proxyless


@pytest.mark.parametrize('curriculum, estimator', [('none', 'exact'), ('epoch', 'exact'), ('batch', 'exact'),
                                                  ('epoch', 'amortised')])
def test_proxyless_runs_with_the_curriculum(curriculum, estimator, tmp_path):
    strategy = nni_cnas.Proxyless(curriculum=curriculum, estimator=estimator, k=3)
    run(strategy, tmp_path)
    module = strategy.search_module
    assert module.curriculum.schedule == curriculum
    subnets = module.curriculum_subnets(3)
    assert len({tuple(sorted(s.items())) for s in subnets}) == 3 and all(_space().contains(s) for s in subnets)
