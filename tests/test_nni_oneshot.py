"""NNI 3.0's own one-shot strategy test, with each NNI strategy replaced by its nni_cnas
counterpart (``hub_grid.NNI_COUNTERPART``), plain and with each schedule: every model space of
NNI's test under NNI's evaluators (``Classification`` over loaders or a data module, ``Regression``
over ``((q, k, v), target)`` batches), success wherever NNI's counterpart succeeds and NNI's
refusal ("not supported") where it refuses; resume through ``state_dict()['ckpt_path']``; a
user's own LightningModule with its own loss, optimiser and learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn as tnn
from nni.nas import nn
from nni.nas.evaluator.pytorch import DataLoader, Lightning, LightningModule, Trainer
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.space import RawFormatModelSpace

import nni_cnas
from hub_grid import NNI_COUNTERPART
from nni_models import MODELS, TRAINER, evaluator

#: The spaces each NNI strategy of NNI's test searches (the others it refuses with "not supported").
NNI_SUCCEEDS = {
    'darts': set(MODELS) - {'custom_op'}, 'gumbel': set(MODELS) - {'custom_op'},
    'random': set(MODELS) - {'custom_op'}, 'proxyless': {'simple'},
}
NNI_SUCCEEDS['enas'] = NNI_SUCCEEDS['random']  # NNI's ENAS is RandomOneShot's family (its test expects the same)
SINGLE_PATH = ('GDAS', 'SETN', 'RSPS', 'ENAS')


def strategy_options(name: str, model: str, curriculum: str) -> dict:
    options = {'curriculum': None if curriculum == 'none' else curriculum}
    if curriculum == 'amortised':
        options.update(curriculum='epoch', measure='amortised')
    if name == 'ENAS' and model in MODELS:  # as NNI's test names the reward
        options['reward_metric_name'] = 'val_mse' if model == 'multihead_attention' else 'val_acc'
    return options


def run_nni_case(strategy, model: str, tmp_path, **evaluator_options):
    """NNI's ``_test_strategy``: the strategy on a raw-format model space, one model out, a checkpoint."""
    space = RawFormatModelSpace(MODELS[model](), evaluator(model, default_root_dir=str(tmp_path), **evaluator_options))
    strategy(space, SequentialExecutionEngine())
    assert len(list(strategy.list_models())) == 1
    assert strategy.state_dict().get('ckpt_path')
    return list(strategy.list_models())[0]


CASES = [(name, model, curriculum) for name in NNI_COUNTERPART for model in MODELS
         for curriculum in ('none', 'batch', 'epoch') + (('amortised',) if name in SINGLE_PATH else ())]


@pytest.mark.parametrize('name, model, curriculum', CASES)
def test_nnis_strategy_test_with_every_strategy(name, model, curriculum, tmp_path):
    torch.manual_seed(0)
    strategy = getattr(nni_cnas, name)(**strategy_options(name, model, curriculum))
    if model not in NNI_SUCCEEDS[NNI_COUNTERPART[name]]:
        with pytest.raises(TypeError, match='not supported'):
            run_nni_case(strategy, model, tmp_path)
        return
    exported = run_nni_case(strategy, model, tmp_path)
    assert exported.sample and MODELS[model]().contains(exported.sample)
    summary = strategy.search_module.epoch_record.to_json()
    if model == 'multihead_attention':  # a regression: losses, no accuracies
        assert not any(key.endswith('_acc') for key in summary), summary
        assert {'val_loss', 'supernet_loss', 'arch_loss'} & set(summary), summary
    elif 'val_acc' in summary:
        assert 0 <= summary['val_acc'] <= 1


@pytest.mark.parametrize('name', list(NNI_COUNTERPART))
@pytest.mark.parametrize('curriculum', ['none', 'epoch'])
def test_a_lightning_data_module(name, curriculum, tmp_path):
    strategy = getattr(nni_cnas, name)(**strategy_options(name, 'simple', curriculum))
    run_nni_case(strategy, 'simple', tmp_path, datamodule=True, max_epochs=2)
    if curriculum == 'epoch':  # the data module's loader got sample indices
        assert bool(strategy.search_module.curriculum.data_weights.ready)


def test_resume_through_the_state_dicts_checkpoint_path(tmp_path):
    first = nni_cnas.RSPS()
    run_nni_case(first, 'simple', tmp_path / 'a')
    state = first.state_dict()
    second = nni_cnas.RSPS()
    second.initialize(RawFormatModelSpace(MODELS['simple'](), evaluator('simple', max_epochs=2,
                                                                        default_root_dir=str(tmp_path / 'b'))),
                      SequentialExecutionEngine())
    second.load_state_dict(state)
    second.run()
    module = second.search_module
    assert module.trainer.ckpt_path == state['ckpt_path'] and module.current_epoch == 2


# ---------------------------------------------------------------------- a user's own LightningModule

class TwoLayers(nn.ModelSpace):
    def __init__(self):
        super().__init__()
        self.layer1 = tnn.Linear(32, 2)
        self.layer2 = nn.LayerChoice([tnn.Linear(2, 2), tnn.Linear(2, 2, bias=False)], label='layer')

    def forward(self, x):
        return self.layer2(self.layer1(x))


class OwnModule(LightningModule):
    """Batches without labels, its own loss, SGD and a StepLR schedule (NNI's test module)."""

    def __init__(self):
        super().__init__()
        self.learning_rates = []

    def forward(self, x):
        return self.model(x)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)]

    def training_step(self, batch, batch_idx):
        loss = self(batch).sum()
        self.log('train_loss', loss)
        return {'loss': loss}

    def on_train_epoch_start(self):
        optimizers = self.optimizers()
        self.learning_rates.append((optimizers[0] if isinstance(optimizers, list) else optimizers).param_groups[0]['lr'])

    def validation_step(self, batch, batch_idx):
        self.log('val_loss', self(batch).sum())


class OwnModuleWithLosses(OwnModule):
    def sample_losses(self, batch):
        return self(batch).sum(1)


def run_own_module(strategy, module, tmp_path):
    generator = torch.Generator().manual_seed(0)
    lightning = Lightning(module, Trainer(max_epochs=10, default_root_dir=str(tmp_path), **TRAINER),
                          train_dataloaders=DataLoader(torch.randn(32, 32, generator=generator), batch_size=8),
                          val_dataloaders=DataLoader(torch.randn(16, 32, generator=generator), batch_size=8))
    strategy(RawFormatModelSpace(TwoLayers(), lightning), SequentialExecutionEngine())
    return list(strategy.list_models())[0].sample


@pytest.mark.parametrize('name', [name for name in NNI_COUNTERPART if name != 'Proxyless'])
@pytest.mark.parametrize('curriculum', ['none', 'batch', 'epoch'])
def test_a_users_lightning_module_keeps_its_optimiser_and_schedule(name, curriculum, tmp_path):
    """NNI's ``test_optimizer_lr_scheduler`` through the public strategy API: the module's own
    StepLR steps each epoch; the curriculum weighs the losses its ``sample_losses`` gives."""
    module = OwnModule() if curriculum == 'none' else OwnModuleWithLosses()
    sample = run_own_module(getattr(nni_cnas, name)(**strategy_options(name, 'own', curriculum)), module, tmp_path)
    assert sample['layer'] in (0, 1)
    rates = module.learning_rates
    assert len(rates) == 10 and rates[0] == pytest.approx(0.1) and rates[2] == pytest.approx(0.01)
    assert rates[-1] == pytest.approx(1e-5)


@pytest.mark.parametrize('name', ['DARTS', 'RSPS'])
def test_a_users_module_without_per_sample_losses_is_refused_before_training(name, tmp_path):
    module = OwnModule()
    with pytest.raises(TypeError, match='has no criterion: give it a method sample_losses'):
        run_own_module(getattr(nni_cnas, name)(curriculum='epoch'), module, tmp_path)
    assert module.learning_rates == []  # not a single epoch


# ---------------------------------------------------------------------- ENAS as NNI's ENAS

def test_enas_draws_one_controller_sample_per_validation_batch_and_updates_every_batches_per_update(tmp_path):
    """Its cost follows the data as NNI's does: 2 validation batches per epoch, 3 epochs = 6
    samples, an update after the 4th (batches_per_update=4, counted over the search)."""
    strategy = nni_cnas.ENAS(batches_per_update=4, curriculum=None)
    updates = []
    strategy.module_class = type('CountingEnas', (strategy.module_class,), {
        'update_controller': lambda self, optimizer, buffer: updates.append(len(buffer))})
    run_nni_case(strategy, 'simple', tmp_path, max_epochs=3)
    module = strategy.search_module
    assert module.replay.samples_drawn == 6 and updates == [4] and len(module.replay.buffer) == 4


def test_a_stop_inside_enas_controller_training_stops_before_its_next_sample(tmp_path):
    """SIGTERM while the controller trains (epoch 1's first of 2 samples) stops the fit there, with
    Lightning's graceful stop, the epoch's end left pending (a checkpoint would carry it)."""
    import os
    import signal

    from pytorch_lightning.utilities.exceptions import SIGTERMException

    strategy = nni_cnas.ENAS(batches_per_update=4, curriculum=None)
    scored = []

    def sample_reward(self, sample, batch, batch_idx):
        scored.append(self.current_epoch)
        if len(scored) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return base_reward(self, sample, batch, batch_idx)

    base_reward = strategy.module_class.sample_reward
    strategy.module_class = type('SignalledEnas', (strategy.module_class,), {'sample_reward': sample_reward})
    with pytest.raises(SIGTERMException):
        run_nni_case(strategy, 'simple', tmp_path, max_epochs=3)
    module = strategy.search_module
    assert scored == [0, 0, 1] and module.epoch_end.pending == 1
    assert module.replay.samples_drawn == 2 and module.stopped_training.progress.done == 1 and len(module.replay.buffer) == 3


def test_enas_minimises_a_metric_named_as_an_error():
    from nni_cnas.strategies.sampling.enas import reward_direction_of

    assert [reward_direction_of(name) for name in ('val_mse', 'val_loss', 'valid/mae', 'val_acc', None, 'reward')] \
        == ['min', 'min', 'min', 'max', 'max', 'max']
    with pytest.raises(ValueError, match='reward_direction must be one of max, min'):
        nni_cnas.ENAS(reward_direction='down')


def test_enas_reward_of_a_regression_is_the_negative_error(tmp_path):
    strategy = nni_cnas.ENAS(reward_metric_name='val_mse', curriculum=None)
    seen = []

    def sample_reward(self, sample, batch, batch_idx):
        reward = base_reward(self, sample, batch, batch_idx)
        seen.append((reward, float(self.trainer.callback_metrics['val_mse'])))
        return reward

    base_reward = strategy.module_class.sample_reward
    strategy.module_class = type('WatchedEnas', (strategy.module_class,), {'sample_reward': sample_reward})
    run_nni_case(strategy, 'multihead_attention', tmp_path)
    assert strategy.search_module.reward_direction == 'min' and len(seen) == 2
    assert all(reward == pytest.approx(-mse) and mse > 0 for reward, mse in seen)
