"""Retrain a found recurrent cell as a language model and report validation and test perplexity.

``nni-cnas retrain RUN_FOLDER`` (a recurrent search) builds
:class:`~nni_cnas.spaces.rnn.RecurrentNetwork` and trains it with DARTS' recurrent recipe: hidden
and embedding size 850, tied decoder, dropouts 0.75 (output), 0.25 (hidden), 0.75 (cell input),
0.2 (embedding), 0.1 (words), SGD at a constant 20, weight decay 8e-7, gradient norm clipped at
0.25, batch 64, truncated back-propagation over 35 tokens with the state carried across batches.
After each epoch the validation perplexity is measured over the whole validation stream (10
streams, state carried); the best epoch's weights are kept and give the test perplexity at the end.

Not in this recipe (DARTS has them): the switch to averaged SGD when validation stops improving,
the random BPTT length and the temporal activation regularisation. They matter for the thousands
of epochs DARTS trains; say so when comparing with its numbers. Every epoch writes a checkpoint
atomically; ``--resume OUT`` continues from it and ends with the same numbers as an uninterrupted
run on the CPU (dropout masks come from per-epoch seeds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import UserError
from ..progress import progress
from ..resources import apply_cuda_math
from .common import (CHECKPOINT, RunOptions, autocast, device_of, gradient_scaler, output_folder,
                    restore_training_state, save_checkpoint, training_state, training_step)
from ..spaces.genotype_reader import genotype_from_json
from ..spaces.rnn_genotype import RecurrentGenotype

__all__ = ['RecurrentRetrainConfig', 'run_recurrent_retrain', 'resume_recurrent_retrain', 'batchify']

_logger = logging.getLogger(__name__)

EVAL_STREAMS = 10


@dataclasses.dataclass
class RecurrentRetrainConfig(RunOptions):
    source: str = ''
    dataset: str = 'ptb'
    data_dir: Optional[str] = None
    subset: Optional[int] = None  # tokens kept of each split
    epochs: int = 8000
    batch_size: int = 64
    hidden: int = 850
    bptt: int = 35
    learning_rate: float = 20.0
    weight_decay: float = 8e-7
    grad_clip: float = 0.25

    def check(self) -> 'RecurrentRetrainConfig':
        self.check_run_options()
        for name in ('epochs', 'batch_size', 'hidden', 'bptt', 'learning_rate', 'subset'):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f'--{name.replace("_", "-")} must be positive, not {value}')
        for name in ('weight_decay', 'grad_clip'):
            if not getattr(self, name) >= 0:
                raise UserError(f'--{name.replace("_", "-")} must not be negative')
        if self.device not in ('auto', 'cpu', 'cuda', 'gpu'):
            raise UserError(f'unknown device {self.device!r}; choose auto, cpu or cuda')
        return self


def batchify(stream, streams: int):
    """``[streams, L]``: the token stream cut into ``streams`` contiguous rows (the tail dropped)."""
    length = len(stream) // streams
    if length < 2:
        raise UserError(f'a split of {len(stream)} tokens is too short for {streams} streams; lower --batch-size')
    return stream[:streams * length].view(streams, length)


def run_recurrent_retrain(config: RecurrentRetrainConfig, genotype: RecurrentGenotype) -> Dict[str, Any]:
    """Check everything, create the output folder, train; returns the result (also result.json)."""
    return _train(config.check(), genotype.check(), resume=False)


def resume_recurrent_retrain(folder: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    config = RecurrentRetrainConfig(**record['config']).check()
    config.out = str(folder)
    genotype = genotype_from_json(record['genotype'])
    return _train(config, genotype, resume=True)


def evaluate(model, data, bptt: int) -> float:
    """Mean token cross-entropy over ``data`` (``[streams, L]``), the state carried across pieces."""
    import torch
    import torch.nn.functional as F

    model.eval()
    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, data.shape[1] - 1, bptt):
            x = data[:, start:start + bptt]
            y = data[:, start + 1:start + 1 + bptt]
            x = x[:, :y.shape[1]]
            logits, h = model(x, h)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction='sum'))
            count += y.numel()
    return total / count


def _train(config: RecurrentRetrainConfig, genotype: RecurrentGenotype, resume: bool) -> Dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from ..data.text import TEXT_DATASETS
    from ..run.folder import RunFolder
    from ..files import append_json_line, atomic_write_text, read_json_lines
    from ..spaces.rnn import RecurrentNetwork, count_parameters

    if config.dataset not in TEXT_DATASETS:
        raise UserError(f'a recurrent cell retrains on a text dataset ({", ".join(TEXT_DATASETS)}), not {config.dataset!r}')
    corpus = TEXT_DATASETS[config.dataset](Path(config.data_dir) if config.data_dir else None)
    splits = {name: getattr(corpus, name)[:config.subset] if config.subset else getattr(corpus, name)
              for name in ('train', 'valid', 'test')}
    device = device_of(config.device)
    config.check_precision_on(device)
    apply_cuda_math(device)  # cuDNN's fastest algorithms, TF32 (nni_cnas.resources)
    scaler = gradient_scaler(device, config.precision)
    train = batchify(splits['train'], config.batch_size).to(device)
    valid = batchify(splits['valid'], EVAL_STREAMS).to(device)
    test = batchify(splits['test'], EVAL_STREAMS).to(device)
    out = output_folder(config, genotype, resume)

    torch.manual_seed(config.seed)
    model = RecurrentNetwork(genotype, len(corpus), config.hidden).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    start, seconds_before, best = 0, 0.0, {'val_loss': math.inf, 'epoch': -1, 'model': None}
    if resume:
        state = restore_training_state(out / CHECKPOINT, device, model, optimizer, scaler)
        start, seconds_before, best = state['epoch'] + 1, state['seconds'], state['best']
        RunFolder(out).keep_metrics_through(state['epoch'])
        _logger.info(f'resuming {out} at epoch {start + 1}/{config.epochs}')
    params = count_parameters(model)
    _logger.info(f'retraining a recurrent cell of {genotype.nodes} nodes: hidden {config.hidden}, vocabulary {len(corpus)}, '
          f'{params / 1e6:.3f}M parameters, on {device}')
    started = time.time() - seconds_before
    record: Dict[str, Any] = {}
    for epoch in range(start, config.epochs):
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout masks: per-epoch seed, resumable
        model.train()
        loss_sum, count, h = 0.0, 0, None
        positions = range(0, train.shape[1] - 1, config.bptt)
        for position in progress(positions, config.progress_bar, f'epoch {epoch + 1}/{config.epochs}', len(positions), 'batch'):
            y = train[:, position + 1:position + 1 + config.bptt]
            x = train[:, position:position + y.shape[1]]
            with autocast(device, config.precision):
                logits, h = model(x, None if h is None else h.detach())
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            training_step(model, optimizer, loss, config.grad_clip, f'epoch {epoch + 1}', out / CHECKPOINT, scaler)
            loss_sum += float(loss.detach()) * y.numel()
            count += y.numel()
        val_loss = evaluate(model, valid, config.bptt)
        if val_loss < best['val_loss']:
            best = {'val_loss': val_loss, 'epoch': epoch,
                    'model': {k: v.detach().clone() for k, v in model.state_dict().items()}}
        record = {'epoch': epoch, 'train_loss': loss_sum / count, 'train_ppl': math.exp(loss_sum / count),
                  'val_loss': val_loss, 'val_ppl': math.exp(val_loss), 'lr': config.learning_rate,
                  'seconds': round(time.time() - started, 2)}
        append_json_line(out / 'metrics.jsonl', record)
        save_checkpoint(out / CHECKPOINT, {**training_state(model, optimizer, scaler), 'epoch': epoch,
                                           'seconds': record['seconds'], 'best': best})
        _logger.info(f'epoch {epoch + 1:4d}/{config.epochs}  train ppl {record["train_ppl"]:9.2f}  '
              f'valid ppl {record["val_ppl"]:9.2f}  {record["seconds"]:8.1f}s')
    if not record:
        record = read_json_lines(out / 'metrics.jsonl')[-1]
    model.load_state_dict(best['model'])
    test_loss = evaluate(model, test, config.bptt)
    result = {'genotype': genotype.text(), 'space': genotype.space, 'dataset': config.dataset,
              'val_ppl': math.exp(best['val_loss']), 'test_ppl': math.exp(test_loss), 'best_epoch': best['epoch'],
              'epochs': config.epochs, 'params': params, 'seconds': record['seconds'], 'out': str(out)}
    atomic_write_text(out / 'result.json', json.dumps(result, indent=1) + '\n')
    return result
