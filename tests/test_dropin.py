"""Drop-in use in an NNI 3.0 script: NasExperiment, NNI's Classification evaluator and hub space,
only the strategy replaced."""

import warnings

import pytest
import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.hub.pytorch import NasBench201
from torch.utils.data import TensorDataset

import nni_cnas
from nni_cnas.quiet import NO_VALIDATION_LOADER
from nni_cnas.spaces.nb201_arch import all_archs, sample_to_arch


def dataset(n=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return TensorDataset(x, y)


def nni_script(strategy, tmp_path, train_loader=None):
    """What an NNI 3.0 user writes, with ``strategy`` the only nni_cnas part."""
    train = train_loader if train_loader is not None else DataLoader(dataset(), batch_size=16, shuffle=True)
    evaluator = Classification(train_dataloaders=train, val_dataloaders=DataLoader(dataset(seed=1), batch_size=16),
                               max_epochs=2, num_classes=10, accelerator='cpu', logger=False,
                               enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
    experiment = NasExperiment(NasBench201(stem_out_channels=4, num_modules_per_stack=1), evaluator, strategy)
    experiment.config.experiment_working_directory = str(tmp_path)
    experiment.run()
    try:
        return experiment.export_top_models(formatter='dict')[0]
    finally:
        experiment.stop()


@pytest.mark.parametrize('name', ['DARTS', 'GDAS', 'RSPS', 'ENAS'])
def test_drop_in_with_nni_evaluator_and_hub_space(name, tmp_path):
    options = dict(controller_steps=2, controller_aggregate=2) if name == 'ENAS' else {}
    strategy = getattr(nni_cnas, name)(k=3, num_candidates=5, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        sample = nni_script(strategy, tmp_path)
    # No validation loop, and no loader handed to one (Lightning would warn of it as NNI's own do not);
    # an empty loader only of our own class, whose warning silence_known_noise filters.
    assert not [str(w.message) for w in caught if 'val_dataloader' in str(w.message)]
    assert not [str(w.message) for w in caught if 'Total length' in str(w.message)
                and f'`{NO_VALIDATION_LOADER}`' not in str(w.message)]
    assert sample_to_arch(sample) in set(all_archs())  # NNI's hub names (conv_3x3) map to the benchmark's
    module = strategy.search_module
    assert module.curriculum.schedule == 'epoch' and bool(module.curriculum.data_weights.ready)  # NNI's loader got indices
    assert len(module.curriculum.data_weights) == 48


class BatchStream:
    """A training 'loader' that is just an iterable of batches: it cannot be given sample indices."""

    def __init__(self):
        self.batches = [(x, y) for x, y in DataLoader(dataset(), batch_size=16)]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def test_epoch_schedule_falls_back_to_batch_with_a_warning(tmp_path):
    strategy = nni_cnas.DARTS(k=2)
    with pytest.warns(UserWarning, match='falling back to the batch schedule'):
        sample = nni_script(strategy, tmp_path, train_loader=BatchStream())
    assert strategy.search_module.curriculum.schedule == 'batch'
    assert sample_to_arch(sample) in set(all_archs())


def test_the_known_noise_is_silenced_and_nothing_else():
    """Our empty validation loader's warning is hidden (a user's empty list still warns); tensorboardX's
    NaN line is dropped; NNI's repeated training-service line shows once."""
    import logging

    from nni_cnas.quiet import silence_known_noise
    from nni_cnas.strategies.loaders import NoValidationBatches

    assert NoValidationBatches.__name__ == NO_VALIDATION_LOADER
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter('always')  # every warning shows, but for what silence_known_noise hides
        silence_known_noise()
        for name in (NO_VALIDATION_LOADER, 'list'):
            warnings.warn(f'Total length of `{name}` across ranks is zero. Please make sure this was your intention.')
    assert [str(w.message)[:24] for w in caught] == ['Total length of `list` a']
    shown = []
    handler = logging.Handler()
    handler.emit = lambda record: shown.append(record.getMessage())
    nni_logger, tensorboard_logger = (logging.getLogger(name) for name in
                                      ('nni.nas.experiment.config.experiment', 'tensorboardX.x2num'))
    for logger in (nni_logger, tensorboard_logger):
        logger.addHandler(handler)
    try:
        for _ in range(3):
            nni_logger.warning('`training_service` will be ignored for sequential execution engine.')
        nni_logger.warning('another warning of NNI')
        tensorboard_logger.warning('NaN or Inf found in input tensor.')
        tensorboard_logger.warning('another warning of tensorboardX')
    finally:
        for logger in (nni_logger, tensorboard_logger):
            logger.removeHandler(handler)
    assert shown == ['another warning of NNI', 'another warning of tensorboardX'] or shown == [
        '`training_service` will be ignored for sequential execution engine.', 'another warning of NNI',
        'another warning of tensorboardX']  # NNI's line once in a process: an earlier test may have shown it


class Stream(torch.utils.data.IterableDataset):
    """Samples as a stream: a DataLoader over it has no length, so Lightning finds no epoch's end."""

    def __iter__(self):
        return iter(dataset())


@pytest.mark.parametrize('name', ['RSPS', 'DARTS'])
def test_a_training_loader_without_a_length_refuses_the_curriculum_and_runs_plain(name, tmp_path):
    """The curriculum's measurements come at each epoch's end; a stream never reaches one, so a
    curriculum is refused in one line rather than silently left out, and the plain strategy runs."""
    stream = DataLoader(Stream(), batch_size=16)
    with pytest.raises(Exception, match='needs the end of each epoch, which a training loader without a length'):
        nni_script(getattr(nni_cnas, name)(k=2), tmp_path / 'cl', train_loader=stream)
    sample = nni_script(getattr(nni_cnas, name)(curriculum=None), tmp_path / 'plain', train_loader=stream)
    assert sample_to_arch(sample) in set(all_archs())
