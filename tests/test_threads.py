"""The thread policy: passive OpenMP waits unless the user configured OpenMP, threads from the cores
this process may use (divided by the searches sharing them), --threads N and 0 (torch's own)."""

import os
import subprocess
import sys

import torch

from nni_cnas import threads
from nni_cnas.cli import main


def test_passive_waits_unless_openmp_is_configured(monkeypatch):
    for name in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS'):
        monkeypatch.delenv(name, raising=False)
    threads.prepare_environment()
    assert os.environ['OMP_WAIT_POLICY'] == 'PASSIVE'
    monkeypatch.delenv('OMP_WAIT_POLICY')
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    threads.prepare_environment()
    assert 'OMP_WAIT_POLICY' not in os.environ


def test_threads_follow_the_cores_and_their_share(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, 'usable_cores', lambda: 8)
    try:
        assert threads.default_threads() == 8 and threads.default_threads(share=3) == 2
        assert threads.default_threads(share=20) == 1
        assert threads.apply_thread_policy(None, share=4) == 2 and torch.get_num_threads() == 2
        assert threads.apply_thread_policy(3) == 3 and torch.get_num_threads() == 3
        assert threads.apply_thread_policy(0) == 3  # 0 leaves torch's count as it is
    finally:
        torch.set_num_threads(before)


def test_the_command_sets_passive_waits_before_torch_starts():
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS')}
    code = ('import os, sys; from nni_cnas.cli import main; assert "torch" not in sys.modules; '
            'main(["lookup", "x"]); print(os.environ.get("OMP_WAIT_POLICY"))')
    process = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0 and process.stdout.split()[-1] == 'PASSIVE', process.stderr[-2000:]


def test_negative_threads_are_refused(capsys, tmp_path):
    assert main(['search', '--threads', '-1', '--out', str(tmp_path / 'r')]) == 2
    assert '--threads must be 0 or more' in capsys.readouterr().err and not (tmp_path / 'r').exists()
