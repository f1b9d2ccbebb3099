"""The memory guard: a search that cannot fit is refused in one line, before anything large is
allocated (each command runs under an address-space limit, so a regression fails instead of
filling the machine), with a size that fits; the estimate's extrapolation in cells is exact."""

import dataclasses
import re
import resource
import subprocess
from types import SimpleNamespace

import pytest
import torch

from nni_cnas.data import load_search_data
from nni_cnas.errors import UserError
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.memory import _Costs, _meta_space_cost, check_search_memory, estimate_search
from nni_cnas.spaces import get

from helpers import NNI_CNAS

LIMIT = 6 * 2 ** 30  # bytes of address space for each command: torch and NNI need about 3 GB


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.parametrize('options, message', [
    (['--cells', '100000'], 'at most --cells'),
    (['--batch-size', '500000'], 'at most --batch-size'),
    (['--space', 'darts', '--channels', '2048'], 'parameters with gradients and momentum'),
    (['--image-size', '100000'], '--image-size 100000 needs'),
])
def test_a_search_that_cannot_fit_is_refused_in_one_line(options, message, tmp_path):
    out = tmp_path / 'run'
    process = subprocess.run([NNI_CNAS, 'search', '--dataset', 'digits', *options, '--out', str(out)],
                             capture_output=True, text=True, timeout=300, preexec_fn=limited)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1 and message in lines[0], process.stderr[-2000:]
    assert 'is available' in lines[0] and 'Traceback' not in process.stderr and not out.exists()


@pytest.mark.parametrize('space', ['nb201', 'darts'])
def test_the_estimate_is_exactly_linear_in_the_cells(space):
    data = load_search_data('digits', subset=16)
    config = SearchConfig(space=space, dataset='digits', channels=4, cells=5, batch_size=8).resolve()
    extrapolated = _Costs(get(space), config, data).at(5)
    assert extrapolated == _meta_space_cost(get(space), config, data, None)


def test_the_refusal_names_a_size_that_fits():
    data = load_search_data('digits', subset=16)
    config = SearchConfig(dataset='digits', channels=8, cells=20, batch_size=64).resolve()
    needed = estimate_search(get('nb201'), config, data).total
    with pytest.raises(UserError, match=r'at most --batch-size (\d+) or --cells (\d+) fits') as refusal:
        check_search_memory(get('nb201'), config, data, 'cpu', available=needed // 2)
    batch, cells = map(int, re.search(r'--batch-size (\d+) or --cells (\d+)', str(refusal.value)).groups())
    for smaller in (dataclasses.replace(config, batch_size=batch), dataclasses.replace(config, cells=cells)):
        assert estimate_search(get('nb201'), smaller, data).total <= needed // 2
    check_search_memory(get('nb201'), config, data, 'cpu', available=needed)  # enough: no refusal


def test_the_text_spaces_are_estimated_too():
    data = SimpleNamespace(device_bytes=lambda: 1000, vocabulary_size=50,
                           meta_batch=lambda b: torch.zeros(b, 5, dtype=torch.long))
    config = SearchConfig(space='rnn-darts', hidden=8, bptt=5, batch_size=4).resolve()
    estimate = estimate_search(get('rnn-darts'), config, data)
    assert estimate.parameters > 0 and estimate.activations > 0 and estimate.data == 1000
