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
from nni_cnas.spaces.nb201_arch import all_archs, sample_to_arch


def dataset(n=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return TensorDataset(x, y)


def nni_script(strategy, tmp_path, train_loader=None):
    """What an NNI 3.0 user writes, with ``strategy`` the only nni_cnas part."""
    train = train_loader or DataLoader(dataset(), batch_size=16, shuffle=True)
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
    # No validation loop, and no loader handed to one (Lightning would warn of it as NNI's own do not).
    assert not [str(w.message) for w in caught if 'val_dataloader' in str(w.message)]
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
