"""Faults in the middle of a search: a full disk (a real small tmpfs where this machine lets the test
mount one, and an injected ENOSPC at the checkpoint write everywhere) and a crash. Each ends in one
line and its exit code, a true status.json, no partial file, the last good checkpoint untouched,
and a resume that ends where an uninterrupted search ends."""

import errno
import json
import subprocess
from pathlib import Path

import pytest
import torch

from nni_cnas.cli import EXIT_FAILED, EXIT_MEMORY, EXIT_STORAGE, main

TINY = ['search', '--strategy', 'gdas', '--curriculum', 'epoch', '--k', '2', '--dataset', 'digits', '--subset', '96',
        '--epochs', '4', '--channels', '8', '--cells', '2', '--batch-size', '16', '--seed', '1', '--no-tensorboard',
        '--threads', '1']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp('whole') / 'run'
    assert main([*TINY, '--out', str(out)]) == 0
    return out


def assert_same_end(a: Path, b: Path) -> None:
    first, second = (json.loads((run / 'result.json').read_text()) for run in (a, b))
    assert (first['arch'], first['selection_score']) == (second['arch'], second['selection_score'])
    losses = [[json.loads(line)['train_loss'] for line in (run / 'metrics.jsonl').read_text().splitlines()] for run in (a, b)]
    assert losses[0] == losses[1]


def assert_failed_cleanly(run: Path, err: str, code: int, exit_code: int, words: str) -> dict:
    lines = err.strip().splitlines()
    assert code == exit_code and len(lines) == 1 and words in lines[0], err
    status = json.loads((run / 'status.json').read_text())
    assert status['state'] == 'failed' and words in status['reason']
    assert not list(run.rglob('*.partial'))
    return status


def test_a_full_disk_at_a_checkpoint_is_one_line_and_resumes_to_the_same_search(uninterrupted, tmp_path, capsys,
                                                                                 monkeypatch):
    import nni_cnas.run.checkpoint as checkpoint

    real, writes = checkpoint.atomic_write_bytes, []

    def full_on_the_second(path, data):
        writes.append(path)
        if len(writes) == 2:  # as a full disk does: part of the file written, then ENOSPC
            Path(path).with_name(f'.{Path(path).name}.1.partial').write_bytes(bytes(data[:1000]))
            raise OSError(errno.ENOSPC, 'No space left on device', str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, 'atomic_write_bytes', full_on_the_second)
    run = tmp_path / 'run'
    code = main([*TINY, '--out', str(run)])
    status = assert_failed_cleanly(run, capsys.readouterr().err, code, EXIT_STORAGE, 'No space left on device')
    line = status['reason']
    assert 'a checkpoint needs' in line and 'is free there' in line and f'nni-cnas search --resume {run}' in line
    assert status['last_good_checkpoint'].endswith('epoch-0000.ckpt')
    torch.load(run / 'checkpoints' / 'epoch-0000.ckpt', weights_only=False)  # untouched, whole
    monkeypatch.setattr(checkpoint, 'atomic_write_bytes', real)
    assert main(['search', '--resume', str(run)]) == 0
    assert_same_end(uninterrupted, run)


def test_a_real_full_tmpfs_then_room_made_resumes_to_the_same_search(uninterrupted, tmp_path, capsys):
    mount = tmp_path / 'small'
    mount.mkdir()
    checkpoint = (uninterrupted / 'checkpoints' / 'epoch-0003.ckpt').stat().st_size
    size = f'{int(1.6 * checkpoint) // 1024}k'  # the first checkpoint fits, the second does not
    try:
        subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mount)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f'mounting a tmpfs is not allowed here ({error}); the injected ENOSPC test covers the code path')
    try:
        run = mount / 'run'
        code = main([*TINY, '--out', str(run)])
        assert_failed_cleanly(run, capsys.readouterr().err, code, EXIT_STORAGE, 'No space left on device')
        assert (run / 'checkpoints' / 'epoch-0000.ckpt').is_file()
        subprocess.run(['mount', '-o', 'remount,size=64m', str(mount)], check=True, capture_output=True)
        assert main(['search', '--resume', str(run)]) == 0
        assert_same_end(uninterrupted, run)
    finally:
        subprocess.run(['umount', str(mount)], capture_output=True)


def test_a_crash_is_one_line_with_the_traceback_in_the_run_folder(tmp_path, capsys, monkeypatch):
    import nni_cnas.run.folder as folder

    def broken(self, record):
        if record.epoch == 1:
            raise KeyError('a bug in the recorder')
        folder.append_json_line(self.path / 'metrics.jsonl', record.to_json())

    monkeypatch.setattr(folder.RunFolder, 'append_metrics', broken)
    run = tmp_path / 'run'
    code = main([*TINY, '--out', str(run)])
    assert_failed_cleanly(run, capsys.readouterr().err, code, EXIT_FAILED, "KeyError: 'a bug in the recorder'")
    log = (run / 'error.log').read_text()
    assert 'Traceback' in log and 'a bug in the recorder' in log
    assert main(['--debug', *TINY, '--out', str(tmp_path / 'again')]) == EXIT_FAILED
    assert 'Traceback' in capsys.readouterr().err


def test_the_run_folders_temporary_files_stay_in_it(tmp_path, monkeypatch):
    """A checkpoint is written in the run folder's own file system, not through the system temp folder
    (Lightning's own save makes its file with ``tempfile.mkstemp()`` there and moves it)."""
    import tempfile

    real, system_temp = tempfile.mkstemp, []

    def watched(*args, **kwargs):
        if kwargs.get('dir') is None and (len(args) < 3 or args[2] is None):
            system_temp.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, 'mkstemp', watched)
    assert main([*TINY, '--epochs', '1', '--out', str(tmp_path / 'run')]) == 0
    assert (tmp_path / 'run' / 'checkpoints' / 'epoch-0000.ckpt').is_file() and system_temp == []


def test_out_of_memory_at_a_step_is_one_line_with_what_fits_and_resumes(uninterrupted, tmp_path, capsys, monkeypatch):
    """On the CPU the exception is injected at a chosen step; a GPU's torch.OutOfMemoryError takes the same path."""
    from nni_cnas.strategies.base import SearchModule

    real = SearchModule.weight_step

    def exhausted(self, batch, batch_idx, weights):
        if self.current_epoch == 2 and batch_idx == 1:
            raise MemoryError('injected: the allocator found no room')
        return real(self, batch, batch_idx, weights)

    monkeypatch.setattr(SearchModule, 'weight_step', exhausted)
    run = tmp_path / 'run'
    code = main([*TINY, '--out', str(run)])
    status = assert_failed_cleanly(run, capsys.readouterr().err, code, EXIT_MEMORY, 'out of memory')
    assert 'is available on the cpu' in status['reason'] and '--batch-size' in status['reason']
    assert status['last_good_checkpoint'].endswith('epoch-0001.ckpt') and status['resume'] == f'nni-cnas search --resume {run}'
    monkeypatch.setattr(SearchModule, 'weight_step', real)
    assert main(['search', '--resume', str(run)]) == 0
    assert_same_end(uninterrupted, run)
