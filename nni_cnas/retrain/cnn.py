"""Retrain a found DARTS/NASNet cell from scratch and report its test accuracy, size and FLOPs.

``nni-cnas retrain RUN_FOLDER_OR_GENOTYPE`` builds :class:`~nni_cnas.spaces.fixed.GenotypeNetwork`
and trains it with DARTS' CIFAR-10 recipe: SGD (momentum 0.9, weight decay 3e-4), cosine learning
rate from 0.025, cutout (16: half the image side), auxiliary head (weight 0.4), ScheduledDropPath rising linearly to 0.2,
gradient norm clipped at 5, 600 epochs of batch 96 on a 20-cell, 36-channel network. Every epoch
writes a checkpoint (atomically); ``--resume OUT`` continues from it and, on the CPU, ends with the
same numbers as an uninterrupted run (all random numbers are drawn from per-epoch seeds).

A plain PyTorch loop rather than Lightning: one network, one optimiser, nothing to search, and
the loop is short enough to read in one go. Runs on the GPU when there is one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any, Dict, Optional

from ..errors import UserError
from ..progress import progress
from ..spaces.genotype import Genotype
from ..spaces.genotype_reader import read_genotype
from ..resources import apply_cuda_math
from .common import (CHECKPOINT, RunOptions, autocast, device_of, gradient_scaler, output_folder, read_output_folder,
                    restore_training_state, save_checkpoint, training_state, training_step)

__all__ = ['RetrainConfig', 'run_retrain', 'resume_retrain', 'cutout']

_logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RetrainConfig(RunOptions):
    source: str = ''
    dataset: str = 'cifar10'
    data_dir: Optional[str] = None
    subset: Optional[int] = None
    image_size: Optional[int] = None
    epochs: int = 600
    batch_size: int = 96
    channels: int = 36
    cells: int = 6
    stem: str = 'cifar'
    learning_rate: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: Optional[int] = None  # None: half the image side (16 on CIFAR, DARTS' setting)
    auxiliary_weight: float = 0.4
    drop_path: float = 0.2

    def check(self) -> 'RetrainConfig':
        from ..spaces import STEMS

        self.check_run_options()
        for name in ('epochs', 'batch_size', 'channels', 'cells', 'learning_rate', 'subset', 'image_size'):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f'--{name.replace("_", "-")} must be positive, not {value}')
        for name in ('momentum', 'weight_decay', 'grad_clip', 'cutout', 'auxiliary_weight'):
            if getattr(self, name) is not None and not getattr(self, name) >= 0:
                raise UserError(f'--{name.replace("_", "-")} must not be negative')
        if not 0 <= self.drop_path < 1:
            raise UserError(f'--drop-path is a probability below 1, not {self.drop_path}')
        if self.channels % 2:
            raise UserError(f'--channels must be even (reduction cells halve it in two), not {self.channels}')
        if self.stem not in STEMS:
            raise UserError(f'unknown stem {self.stem!r}; choose one of {", ".join(STEMS)}')
        if self.device not in ('auto', 'cpu', 'cuda', 'gpu'):
            raise UserError(f'unknown device {self.device!r}; choose auto, cpu or cuda')
        return self


def cutout(images, size: int, generator):
    """Zero a ``size`` x ``size`` square (clipped at the border) at a random centre of each image,
    as DARTS' ``Cutout``; random numbers from ``generator`` (CPU)."""
    import torch

    if size <= 0:
        return images
    b, _, h, w = images.shape
    centres = torch.stack([torch.randint(0, h, (b,), generator=generator),
                           torch.randint(0, w, (b,), generator=generator)]).to(images.device)
    rows = torch.arange(h, device=images.device)[None, :]
    cols = torch.arange(w, device=images.device)[None, :]
    in_rows = (rows >= centres[0, :, None] - size // 2) & (rows < centres[0, :, None] + size - size // 2)
    in_cols = (cols >= centres[1, :, None] - size // 2) & (cols < centres[1, :, None] + size - size // 2)
    mask = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return images * mask[:, None].to(images.dtype)




def run_retrain(config: RetrainConfig) -> Dict[str, Any]:
    """Check everything, create the output folder, train; returns the result (also result.json)."""
    config = config.check()
    genotype = read_genotype(config.source)
    if not isinstance(genotype, Genotype):
        raise UserError('this is a recurrent genotype: retrain it with nni_cnas.retrain.rnn.run_recurrent_retrain '
                        '(the nni-cnas retrain command chooses for you)')
    return _train(config, genotype, resume=False)


def resume_retrain(out: str) -> Dict[str, Any]:
    folder, record = read_output_folder(out)
    if 'recurrent' in record['genotype']:
        from .rnn import resume_recurrent_retrain

        return resume_recurrent_retrain(folder, record)
    config = RetrainConfig(**record['config']).check()
    config.out = str(folder)
    return _train(config, Genotype.from_json(record['genotype']), resume=True)


def _train(config: RetrainConfig, genotype: Genotype, resume: bool) -> Dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from ..data import TensorImageLoader, load_retrain_data
    from ..run.folder import RunFolder
    from ..files import append_json_line, atomic_write_text, read_json_lines
    from ..spaces.fixed import GenotypeNetwork, count_macs, count_parameters, drop_path_probability

    data = load_retrain_data(config.dataset, config.data_dir, config.subset, config.image_size)
    device = device_of(config.device)
    config.check_precision_on(device)
    apply_cuda_math(device)  # cuDNN's fastest algorithms, TF32 (nni_cnas.resources)
    scaler = gradient_scaler(device, config.precision)
    out = output_folder(config, genotype, resume)

    torch.manual_seed(config.seed)
    model = GenotypeNetwork(genotype, config.channels, config.cells, data.num_classes, data.in_channels,
                            config.stem, auxiliary=config.auxiliary_weight > 0).to(device)
    sizes = count_parameters(model)
    macs = count_macs(model, (data.in_channels, data.image_size, data.image_size))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
    train = TensorImageLoader(data.train.images, data.train.labels, config.batch_size, shuffle=True,
                              augment=data.augment, mean=data.mean, std=data.std, seed=config.seed,
                              with_index=False).to_device(device)
    test = TensorImageLoader(data.val.images, data.val.labels, 256, shuffle=False, augment=None, mean=data.mean,
                             std=data.std, with_index=False).to_device(device)
    start, seconds_before = 0, 0.0
    if resume:
        state = restore_training_state(out / CHECKPOINT, device, model, optimizer, scaler)
        schedule.load_state_dict(state['schedule'])
        start, seconds_before = state['epoch'] + 1, state['seconds']
        RunFolder(out).keep_metrics_through(state['epoch'])
        _logger.info(f'resuming {out} at epoch {start + 1}/{config.epochs}')
    _logger.info(f'retraining {genotype.space} cells: {3 * config.cells + 2} cells, C={config.channels}, '
          f'{sizes["params"] / 1e6:.3f}M parameters, {macs / 1e6:.1f}M multiply-adds, on {device}')
    cutout_size = data.image_size // 2 if config.cutout is None else config.cutout
    started = time.time() - seconds_before
    record: Dict[str, Any] = {}
    for epoch in range(start, config.epochs):
        torch.manual_seed(config.seed * 100_003 + epoch)  # drop-path masks: per-epoch seed, resumable
        drop = drop_path_probability(config.drop_path, epoch, config.epochs)
        model.set_drop_path(drop)
        train.sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch + 7)
        model.train()
        loss_sum = correct = count = 0.0
        for x, y in progress(train, config.progress_bar, f'epoch {epoch + 1}/{config.epochs}', len(train), 'batch'):
            x = cutout(x, cutout_size, generator)
            with autocast(device, config.precision):
                output = model(x)
                logits, aux = output if isinstance(output, tuple) else (output, None)
                loss = F.cross_entropy(logits, y)
                total = loss if aux is None else loss + config.auxiliary_weight * F.cross_entropy(aux, y)
            training_step(model, optimizer, total, config.grad_clip, f'epoch {epoch + 1}', out / CHECKPOINT, scaler)
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.detach().argmax(1) == y).sum())
            count += len(y)
        learning_rate = optimizer.param_groups[0]['lr']
        schedule.step()
        test_acc = evaluate(model, test)
        record = {'epoch': epoch, 'train_loss': loss_sum / count, 'train_acc': correct / count, 'test_acc': test_acc,
                  'drop_path': drop, 'lr': learning_rate, 'seconds': round(time.time() - started, 2)}
        append_json_line(out / 'metrics.jsonl', record)
        save_checkpoint(out / CHECKPOINT, {**training_state(model, optimizer, scaler),
                                           'schedule': schedule.state_dict(), 'epoch': epoch, 'seconds': record['seconds']})
        _logger.info(f'epoch {epoch + 1:4d}/{config.epochs}  train acc {100 * record["train_acc"]:5.1f}%  '
              f'test acc {100 * test_acc:5.2f}%  drop-path {drop:.3f}  {record["seconds"]:8.1f}s')
    if not record:
        record = read_json_lines(out / 'metrics.jsonl')[-1]
    result = {'genotype': genotype.text(), 'space': genotype.space, 'dataset': config.dataset,
              'test_acc': record['test_acc'], 'epochs': config.epochs, 'params': sizes['params'],
              'auxiliary_params': sizes['auxiliary_params'], 'multiply_adds': macs,
              'input_shape': [data.in_channels, data.image_size, data.image_size],
              'seconds': record['seconds'], 'out': str(out)}
    atomic_write_text(out / 'result.json', json.dumps(result, indent=1) + '\n')
    return result


def evaluate(model, loader) -> float:
    import torch

    model.eval()
    correct = count = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            count += len(y)
    return correct / max(count, 1)
