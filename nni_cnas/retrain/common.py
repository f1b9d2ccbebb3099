"""What the CNN and recurrent retraining loops share: the output folder, checkpoints, the device
and one guarded SGD step."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import UserError
from ..resources import TRAINING_PRECISIONS

__all__ = ['RunOptions', 'RETRAIN_PRECISIONS', 'autocast', 'gradient_scaler', 'CHECKPOINT', 'device_of', 'training_step', 'output_folder', 'read_output_folder', 'save_checkpoint',
           'training_state', 'restore_training_state']

CHECKPOINT = 'checkpoint.pt'


@dataclasses.dataclass
class RunOptions:
    """What every retraining takes besides its recipe (the configs' fields that follow these)."""

    seed: int = 0
    device: str = 'auto'
    out: Optional[str] = None
    overwrite: bool = False
    progress_bar: Optional[bool] = None  # a bar within each epoch; None: when stderr is a terminal
    precision: str = '32'  # Lightning's names: '32', 'bf16-mixed' or '16-mixed' (CUDA; with a gradient scaler)

    def check_run_options(self) -> None:
        if self.precision not in RETRAIN_PRECISIONS:
            raise UserError(f'retraining takes --precision {", ".join(RETRAIN_PRECISIONS)}, not {self.precision!r}')

    def check_precision_on(self, device) -> None:
        """16-mixed needs a CUDA GPU (fp16 autocast and a gradient scaler there), as in the search."""
        if self.precision == '16-mixed' and device.type != 'cuda':
            raise UserError(f'--precision 16-mixed needs a CUDA GPU; on the {device.type} use bf16-mixed or 32')


#: Precisions of retraining, as the search's (resources.TRAINING_PRECISIONS).
RETRAIN_PRECISIONS = TRAINING_PRECISIONS


def autocast(device, precision: str):
    """The forward's autocast context for ``precision`` on ``device``: bf16 or fp16 (``16-mixed``)."""
    import torch

    dtype = torch.float16 if precision == '16-mixed' else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision in ('bf16-mixed', '16-mixed'))


def gradient_scaler(device, precision: str):
    """torch's gradient scaler for ``16-mixed`` (fp16 gradients underflow without it); off otherwise."""
    import torch

    return torch.amp.GradScaler(device.type, enabled=precision == '16-mixed')


def device_of(name: str):
    import torch

    if name in ('cuda', 'gpu') and not torch.cuda.is_available():
        raise UserError(f'--device {name}: torch sees no CUDA GPU here; use --device cpu (or auto)')
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device('cuda' if name in ('cuda', 'gpu') else 'cpu')


def training_step(model, optimizer, loss, grad_clip: float, where: str, checkpoint: Path, scaler=None) -> None:
    """One SGD step on ``loss`` (gradient norm clipped at ``grad_clip`` unless 0), through the
    gradient ``scaler`` when there is one (the gradients are unscaled before clipping, and a step
    whose scaled gradients overflowed is skipped, as torch's scaler does); a NaN or infinite loss
    stops the retraining, naming the last good checkpoint."""
    import torch

    if not torch.isfinite(loss):
        raise UserError(f'the training loss is {float(loss)} at {where}; lower --lr (the last good checkpoint is '
                        f'{checkpoint})')
    optimizer.zero_grad(set_to_none=True)
    scaling = scaler is not None and scaler.is_enabled()
    (scaler.scale(loss) if scaling else loss).backward()
    if grad_clip:
        if scaling:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaling:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def output_folder(config, genotype, resume: bool) -> Path:
    """The retraining's output folder: a new (or ``--overwrite``) one with ``config.json`` and
    ``genotype.txt``, or the folder being resumed."""
    from ..files import atomic_write_text

    out = Path(config.out or f'runs/retrain-{genotype.space}-{config.dataset}-s{config.seed}-{time.strftime("%Y%m%d-%H%M%S")}')
    if resume:
        return out
    if out.exists() and any(out.iterdir()) and not config.overwrite:
        raise UserError(f'{out} already exists and is not empty; choose another --out, add --overwrite, '
                        f'or continue it with --resume {out}')
    out.mkdir(parents=True, exist_ok=True)
    for stale in (CHECKPOINT, 'metrics.jsonl', 'result.json'):
        (out / stale).unlink(missing_ok=True)
    config.out = str(out)
    atomic_write_text(out / 'config.json', json.dumps(
        {'config': dataclasses.asdict(config), 'genotype': genotype.to_json()}, indent=1) + '\n')
    atomic_write_text(out / 'genotype.txt', genotype.text() + '\n')
    return out


def read_output_folder(out: str):
    """``(folder, record)`` of a retraining to resume: its ``config.json`` record."""
    folder = Path(out)
    if not (folder / 'config.json').is_file() or not (folder / CHECKPOINT).is_file():
        raise UserError(f'{folder} is not a retraining folder with a checkpoint (no config.json or {CHECKPOINT})')
    return folder, json.loads((folder / 'config.json').read_text())


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Write a checkpoint atomically (a partial file, then a rename)."""
    import torch

    partial = path.with_name(path.name + '.partial')
    torch.save(state, partial)
    partial.replace(path)


def training_state(model, optimizer, scaler) -> Dict[str, Any]:
    """What every retraining checkpoint holds of the training itself; each loop adds its own keys."""
    return {'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict()}


def restore_training_state(path: Path, device, model, optimizer, scaler) -> Dict[str, Any]:
    """Load a checkpoint's training state into ``model``, ``optimizer`` and ``scaler``; return the
    whole checkpoint for the loop's own keys. Checkpoints written before ``--precision 16-mixed``
    have no scaler: the scaler then starts fresh."""
    import torch

    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    if 'scaler' in state:
        scaler.load_state_dict(state['scaler'])
    return state
