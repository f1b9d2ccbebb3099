"""Shared helpers: tiny searches on CPU, the digits data, and the shared benchmark table."""

from __future__ import annotations

import logging
import os
from pathlib import Path


def _one_core_per_worker() -> None:
    """Under pytest-xdist (``make test`` runs a worker per core): each worker, and every process it
    starts, on a core of its own, so that torch's threads never spin against the other worker's
    (nni_cnas' thread policy then gives each search one thread). Before torch is imported."""
    worker, count = os.environ.get('PYTEST_XDIST_WORKER', ''), int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if worker.startswith('gw') and count > 1 and hasattr(os, 'sched_setaffinity'):
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= count:
            os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


_one_core_per_worker()

import pytest
import pytorch_lightning  # noqa: F401  (sets its logger level on import; ours comes after)

from nni_cnas.benchmarks.nb201 import default_table_path
from nni_cnas.data import SearchData, load_search_data

for _name in ('pytorch_lightning', 'lightning_fabric', 'nni'):
    logging.getLogger(_name).setLevel(logging.ERROR)
# NNI registers an atexit stop for every NasExperiment, which logs after pytest has closed its
# capture streams: without this, each drop-in test leaves a "Logging error" traceback at exit.
logging.raiseExceptions = False


@pytest.fixture(scope='session', autouse=True)
def _nothing_written_into_the_repository():
    """Tests write into temporary folders: a Trainer left at its default root writes lightning_logs/
    into the working directory (give it ``default_root_dir=tmp_path`` or ``logger=False``)."""
    root = Path(__file__).resolve().parents[1]
    before = {path.name for path in root.iterdir()}
    yield
    left = sorted({path.name for path in root.iterdir()} - before - {'.pytest_cache', '.hypothesis'})
    assert not left, f'the tests left {left} in the repository root'


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv('NNI_CNAS_CACHE', str(tmp_path_factory.getbasetemp() / 'cache'))


@pytest.fixture(scope='session')
def digits() -> SearchData:
    """64 + 64 digits: enough for a few real steps, small enough for seconds per search."""
    return load_search_data('digits', subset=64)


@pytest.fixture(scope='session')
def nb201_table() -> Path:
    """The table that ships with the package: every test that looks up a cell runs everywhere."""
    path = default_table_path()
    assert path is not None, 'the packaged NAS-Bench-201 table is missing: reinstall nni_cnas'
    return path


def pytest_addoption(parser):
    parser.addoption('--device', default='cpu',
                     help='device of the tests that take one (tests/test_device.py): cpu (CI) or cuda (the GPU check)')


@pytest.fixture(scope='session')
def device(request):
    """The device those tests run on: ``--device`` (cpu here; benchmarks/gpu/check.py passes cuda)."""
    import torch

    device = torch.device(request.config.getoption('--device'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        pytest.skip('--device cuda, but torch sees no CUDA GPU here')
    return device
