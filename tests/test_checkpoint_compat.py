"""Checkpoints written by nni_cnas 0.1 (before the package layout changed) still resume, and the
resumed search ends exactly where the uninterrupted 0.1 search ended."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from nni_cnas.run.search import resume_search

LEGACY = Path(__file__).parent / 'data' / 'checkpoints-v0.1'
COMPARED = ('train_loss', 'train_acc', 'arch_loss', 'arch_acc', 'data_weights', 'policy', 'arch', 'val_acc')


@pytest.fixture
def one_thread(monkeypatch):
    """The 0.1 runs used one thread; other thread counts sum in another order (last bits differ).
    The search's thread policy would set its own count: it gets one thread too."""
    import nni_cnas.threads

    threads = torch.get_num_threads()
    monkeypatch.setattr(nni_cnas.threads, 'default_threads', lambda share=1: 1)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('strategy', ['darts', 'gdas', 'rsps', 'enas'])
def test_a_v0_1_checkpoint_resumes_to_the_same_search(strategy, tmp_path, capsys, one_thread):
    run = tmp_path / strategy
    shutil.copytree(LEGACY / strategy, run)
    result = resume_search(run)
    expected = json.loads((LEGACY / f'{strategy}-result.json').read_text())
    assert result['sample'] == expected['sample']
    assert result['selection_score'] == expected['selection_score']
    assert result['val_acc'] == expected['val_acc']
    last = json.loads((run / 'metrics.jsonl').read_text().splitlines()[-1])
    expected_last = json.loads((LEGACY / f'{strategy}-last-epoch.json').read_text())
    assert last['epoch'] == expected_last['epoch'] == 1
    for key in COMPARED:
        assert last.get(key) == expected_last.get(key), key
