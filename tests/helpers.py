"""Helpers for tests: tiny searches on CPU."""

from __future__ import annotations

import contextlib

import pytest
import torch

from nni_cnas.data import SearchData
from nni_cnas.evaluator import SearchClassificationModule, build_evaluator
from nni_cnas.search import seed_everything
from nni_cnas.spaces import NasBench201Space


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
