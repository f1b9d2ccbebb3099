"""Helpers for tests: tiny searches on CPU, in this process or as nni-cnas processes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nni_cnas.run.checkpoint import CHECKPOINT_DIR
from nni_cnas.data import SearchData
from nni_cnas.run.evaluator import SearchClassificationModule, build_evaluator
from nni_cnas.run.search import seed_everything
from nni_cnas.spaces import NasBench201Space


def cell_strategies() -> list:
    """Every registered strategy that searches cell spaces (all but Proxyless, whose NNI one-shot
    module refuses cells), read from the registry so that a new strategy is tested too."""
    from nni_cnas.strategies import registry

    return [name for name in registry.names() if name != 'proxyless']


def tiny_space(data: SearchData, channels: int = 4, cells: int = 1) -> NasBench201Space:
    return NasBench201Space(channels=channels, cells=cells, num_classes=data.num_classes, in_channels=data.in_channels)


def run_tiny_search(strategy, data: SearchData, *, epochs: int = 2, batch_size: int = 16, seed: int = 0,
                    channels: int = 4, loaders=None, callbacks=()):
    """Mutate a tiny NB201 space with ``strategy`` and train it; returns the trained supernet."""
    seed_everything(seed)
    space = tiny_space(data, channels)
    module = SearchClassificationModule(data.num_classes)
    evaluator = build_evaluator(module, loaders or data.loaders(batch_size, seed), max_epochs=epochs,
                                accelerator='cpu', callbacks=list(callbacks))
    supernet = strategy.mutate_model(space)
    strategy.mutate_evaluator(evaluator).evaluate(supernet)
    return supernet


def state_of(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def standalone_from_supernet(supernet, sample, **space_kwargs):
    """NNI's own frozen network for ``sample`` (a fresh space), with the supernet's weights copied in."""
    frozen = NasBench201Space(**space_kwargs).freeze(sample)
    supernet_state = supernet.state_dict()
    state = {}
    for key in frozen.state_dict():
        parts = key.split('.')
        if parts[0] == 'cells' and parts[2] == 'layers':  # cells.{c}.layers.{node-1}.{source}.{rest}
            label = f'cell/{parts[4]}_{int(parts[3]) + 1}'
            key_in_supernet = '.'.join(parts[:5] + [sample[label]] + parts[5:])
        else:
            key_in_supernet = key
        state[key] = supernet_state[key_in_supernet]
    frozen.load_state_dict(state)
    return frozen


@contextlib.contextmanager
def killed_after_epoch(monkeypatch, module, epoch: int):
    """Inside the block, ``module.save_checkpoint`` stops the run (KeyboardInterrupt) right after
    writing the checkpoint of ``epoch``: a run killed between epochs. The block must be stopped."""
    save = module.save_checkpoint

    def killing(path, state):
        save(path, state)
        if state['epoch'] == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, 'save_checkpoint', killing)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        monkeypatch.setattr(module, 'save_checkpoint', save)


NNI_CNAS = str(Path(sys.executable).with_name('nni-cnas'))


def search_argv(out, strategy, curriculum, epochs=4, extra=()):
    """A tiny search (digits, C=4 N=1, K=2) as a command line."""
    return [NNI_CNAS, 'search', '--strategy', strategy, '--curriculum', curriculum, '--k', '2',
            '--dataset', 'digits', '--subset', '96', '--batch-size', '8', '--epochs', str(epochs),
            '--channels', '4', '--cells', '1', '--candidates', '4', '--selection-size', '32',
            '--out', str(out)] + (['--controller-steps', '2', '--controller-aggregate', '3'] if strategy == 'enas' else []) + list(extra)


def final_state(run: Path):
    """The last epoch's checkpoint: supernet, alphas/controller, data weights; and the result."""
    last = sorted((run / CHECKPOINT_DIR).glob('epoch-*.ckpt'))[-1]
    checkpoint = torch.load(last, map_location='cpu', weights_only=False)
    return checkpoint['state_dict'], json.loads((run / 'result.json').read_text())


def same_value(a, b) -> bool:
    """Equal tensors (bit for bit), or equal nested dicts, lists and plain values of them."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def assert_same_search(a: Path, b: Path):
    state_a, result_a = final_state(a)
    state_b, result_b = final_state(b)
    assert state_a.keys() == state_b.keys()
    assert all(same_value(state_a[k], state_b[k]) for k in state_a), 'weights differ'
    assert any(k.endswith('data_weights.weights') for k in state_a)
    assert result_a['arch'] == result_b['arch'] and result_a['selection_score'] == result_b['selection_score']
    metrics = lambda run: [{k: v for k, v in json.loads(line).items() if k != 'seconds'}  # noqa: E731
                           for line in (run / 'metrics.jsonl').read_text().splitlines()]
    assert metrics(a) == metrics(b)


def start(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process, timeout=240):
    deadline = time.time() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f'search ended before {path.name}: {process.stderr.read()[-2000:]}')
        if time.time() > deadline:
            process.kill()
            raise AssertionError(f'timed out waiting for {path}')
        time.sleep(0.05)


def run_to_end(argv):
    process = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    return process
