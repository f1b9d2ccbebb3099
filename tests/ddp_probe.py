"""One rank of a DDP search check (tests/test_ddp.py starts two, as torchrun would): searches of
every strategy and schedule through NNI's own ``Trainer(strategy='ddp')`` on the CPU (gloo), each
rank writing what it saw and holds to ``OUT/rank-R.json``.

Each rank is seeded differently on purpose (``seed_everything(rank)``): the search must still hold
one state on every rank. Usage: ``python ddp_probe.py OUT STRATEGY:CURRICULUM:MEASURE:LOADER ...`` (LOADER: ``tensor``, nni_cnas'
loaders, or ``torch``, torch DataLoaders).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from nni.nas.evaluator.pytorch import Lightning, Trainer
from pytorch_lightning.callbacks import Callback

from nni_cnas.curriculum.weights import data_weights, sigma_from_sums
from nni_cnas.data import load_search_data
from nni_cnas.data.batches import IndexedBatch
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.evaluator import SearchClassificationModule
from nni_cnas.run.search import build_strategy, seed_everything
from nni_cnas.spaces import get as get_space

SUBSET, BATCH, EPOCHS = 128, 16, 2  # 4 training batches a rank an epoch


def state_hashes(module) -> dict:
    """``{state key: sha256 of its bytes}``: equal on two ranks only if bit for bit equal."""
    return {name: hashlib.sha256(value.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
            for name, value in module.state_dict().items() if isinstance(value, torch.Tensor)}


def one_process_weights(module):
    """The epoch pass over the whole split in this process alone (no share, no all-reduce): the
    reference the DDP pass must equal."""
    loader = module.loader('train')
    share = getattr(loader, 'shard_of', None)  # a torch DataLoader here is whole (Lightning shards a copy)
    if share:
        loader.shard(0, 1)
    archs = module.curriculum_subnets(module.curriculum.k)
    n = len(module.curriculum.data_weights)
    sums, counts = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for batch, index in loader:
        losses = module.subnets.outputs(archs, module.device_batch(batch)).losses
        sums.index_add_(0, index, losses.sum(0).double())
        counts.index_add_(0, index, torch.full_like(index, len(archs), dtype=torch.float64))
    if share:
        loader.shard(*share)
    return data_weights(sigma_from_sums(sums, counts))


class Probe(Callback):
    def __init__(self):
        self.batches = []  # per epoch: the sample indices of this rank's training batches
        self.weight_sums = []  # per step: the sum of the data weights this rank applied

    def on_train_epoch_start(self, trainer, module):
        self.batches.append([])

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        train = batch['train'] if module.validation_in_batches else batch
        if isinstance(train, IndexedBatch):
            self.batches[-1].append(train.index.tolist())
        else:
            self.batches[-1].append(len(train[0]))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.weight_sums.append(float(module.curriculum.last_applied.sum()))  # this step's weights

    def on_train_end(self, trainer, module):
        self.record = {'state': state_hashes(module), 'batches': self.batches, 'weight_sums': self.weight_sums}
        curriculum = module.curriculum
        if curriculum.per_epoch and not curriculum.amortised:
            sampler = module.loader('train').sampler
            rng, passes = curriculum.rng.getstate(), getattr(sampler, 'passes', None)
            sums, counts = module.measure_split()  # the DDP pass: this rank's share, all-reduced
            curriculum.rng.setstate(rng)  # the same K subnets (and for nni_cnas loaders order and augmentation)
            if passes is not None:
                sampler.passes = passes
            split = data_weights(sigma_from_sums(sums, counts))
            self.record['pass_weights'] = split.tolist()
            self.record['pass_counts'] = sorted(set(counts.tolist()))  # each sample once, under K subnets
            self.record['one_process_max_diff'] = float((split - one_process_weights(module)).abs().max())


def run(strategy: str, curriculum: str, measure: str, loader: str, rank: int):
    named = dict(estimator=measure) if measure in ('exact', 'amortised') else dict(measure=measure)
    curriculum_options = {} if curriculum == 'none' else dict(k=2, **named)
    config = SearchConfig(strategy=strategy, curriculum=curriculum, **curriculum_options, dataset='digits',
                          subset=SUBSET, epochs=EPOCHS, batch_size=BATCH, channels=4, cells=1, num_candidates=2,
                          selection_size=16, seed=0, device='cpu', tensorboard=False,
                          **({'controller_steps': 1, 'controller_aggregate': 2} if strategy == 'enas' else {})).resolve()
    seed_everything(rank)  # deliberately different on each rank
    data = load_search_data('digits', None, SUBSET, None)
    space = get_space(config.space).build(config, data)
    strategy_object = build_strategy(config)
    loaders = data.loaders(BATCH, 0)
    if loader == 'torch':  # a user's own torch DataLoaders: Lightning gives them distributed samplers
        loaders = {name: torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(split.images.float() / 255, split.labels.long()), batch_size=BATCH, shuffle=True)
            for name, split in (('train', data.train), ('val', data.val))}
    probe = Probe()
    trainer = Trainer(max_epochs=EPOCHS, accelerator='cpu', devices=2, strategy='ddp', logger=False,
                      enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                      num_sanity_val_steps=0, callbacks=[probe])
    evaluator = Lightning(SearchClassificationModule(data.num_classes), trainer,
                          train_dataloaders=loaders['train'], val_dataloaders=loaders['val'])
    supernet = strategy_object.mutate_model(space)
    evaluator = strategy_object.mutate_evaluator(evaluator)
    evaluator.evaluate(supernet)
    return dict(probe.record, arch=strategy_object.search_module.export(),
                strategy_class=type(trainer.strategy).__name__)


def main():
    out, configs = Path(sys.argv[1]), sys.argv[2:]
    rank = int(os.environ['RANK'])
    torch.set_num_threads(1)
    records = {}
    for config in configs:
        records[config] = run(*config.split(':'), rank=rank)
    (out / f'rank-{rank}.json').write_text(json.dumps(records, default=str))


if __name__ == '__main__':
    main()
