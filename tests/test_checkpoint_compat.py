"""Checkpoints written by earlier versions (nni_cnas 0.1 before the package layout changed, and before
the curriculum became parts) still resume, and the resumed search ends exactly where the
uninterrupted search of that version ended."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from nni_cnas.records import EpochRecord
from nni_cnas.run.folder import RunFolder
from nni_cnas.run.search import resume_search

LEGACY = Path(__file__).parent / 'data' / 'checkpoints-v0.1'
#: Records that gained keys since 0.1 (the data weights' diagnostics); the keys of 0.1 must match.
ADDED = {'data_weights': {'top10_share', 'class_mean', 'rank_corr_loss', 'rank_corr_previous'}}
COMPARED = ('train_loss', 'train_acc', 'arch_loss', 'arch_acc', 'data_weights', 'policy', 'sample', 'val_acc')


def assert_close(got, expected, key):
    """Equal, floats to 1e-4 relative: the same search on another CPU (AVX2 against AVX-512
    kernels) sums in another order, and its last bits differ (seen: 2.31038 against 2.31036).
    Everything discrete (the sample, the architecture, counts) must match exactly."""
    if isinstance(expected, float) or isinstance(got, float):
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6), key
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() - ADDED.get(key, set()) == expected.keys(), key
        for name in expected:
            assert_close(got[name], expected[name], f'{key}.{name}')
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), key
        for index, (a, b) in enumerate(zip(got, expected)):
            assert_close(a, b, f'{key}[{index}]')
    else:
        assert got == expected, key


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


@pytest.mark.parametrize('folder, strategy', [('checkpoints-v0.1', name) for name in ('darts', 'gdas', 'rsps', 'enas')]
                         + [('checkpoints-0.1.0', name) for name in ('gdas', 'enas')])
def test_an_earlier_versions_checkpoint_resumes_to_the_same_search(folder, strategy, tmp_path, capsys, one_thread):
    legacy = LEGACY.parent / folder
    run = tmp_path / strategy
    shutil.copytree(legacy / strategy, run)
    result = resume_search(run)
    expected = json.loads((legacy / f'{strategy}-result.json').read_text())
    assert result['sample'] == expected['sample']
    assert_close(result['selection_score'], expected['selection_score'], 'selection_score')
    assert_close(result['val_acc'], expected['val_acc'], 'val_acc')
    # (Read as records: the earlier versions' lines named the sample ``arch``.)
    last = RunFolder(run).metrics()[-1]
    expected_last = EpochRecord.from_json(json.loads((legacy / f'{strategy}-last-epoch.json').read_text()))
    assert last.epoch == expected_last.epoch == 1
    for key in COMPARED:
        assert_close(getattr(last, key), getattr(expected_last, key), key)
    lines = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
    assert not any(isinstance(line.get('arch'), dict) or 'arch_string' in line for line in lines)  # one format
