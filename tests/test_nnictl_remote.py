"""NNI's ``remote`` training service against a real SSH server on 127.0.0.1 (Debian's
openssh-server, started here on a free port with a host key and a user key made for the test): NNI
connects, starts its trial keeper through SSH, uploads the trial code, and runs a real
``nni-cnas trial`` search whose curves and final result reach the manager. Loopback only.

The SSH server gives sessions ``PIP_NO_INDEX=1``: NNI's worker runs ``pip install nni --upgrade``
on every machine, which without an index finds nni installed (this machine has no internet in CI)."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_cnas.nnictl import loopback_env

from test_nnictl import decode, free_port, get, listening_addresses, started_experiment

SSHD = '/usr/sbin/sshd'
BIN = str(Path(sys.executable).parent)  # the remote machine's pythonPath: nni and nni-cnas are there
TRIAL = ('nni-cnas trial --dataset digits --subset 48 --epochs 2 --channels 4 --cells 1 --batch-size 16 '
         '--candidates 4 --selection-size 32 --k 2')

pytestmark = pytest.mark.skipif(not os.access(SSHD, os.X_OK),
                                reason='no SSH server (Debian: apt-get install openssh-server; .ci/run installs it)')


def _wait_listening(port: int, process, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not listening_addresses(port):
        if process.poll() is not None or time.time() > deadline:
            raise AssertionError(f'sshd did not start: {process.stderr.read() if process.stderr else ""}')
        time.sleep(0.1)


@pytest.fixture(scope='module')
def ssh_server(tmp_path_factory):
    """``(port, user key, the sessions' home)`` of an SSH server on 127.0.0.1, stopped afterwards."""
    folder = tmp_path_factory.mktemp('sshd')
    home = folder / 'home'
    home.mkdir()
    for name in ('host_key', 'user_key'):
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(folder / name)], check=True)
    (folder / 'authorized_keys').write_text((folder / 'user_key.pub').read_text())
    os.chmod(folder / 'authorized_keys', 0o600)
    port = free_port()
    (folder / 'sshd_config').write_text('\n'.join([
        'ListenAddress 127.0.0.1', f'Port {port}', f'HostKey {folder / "host_key"}',
        f'AuthorizedKeysFile {folder / "authorized_keys"}', 'PubkeyAuthentication yes',
        'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password',
        'UsePAM no', 'StrictModes no', f'PidFile {folder / "sshd.pid"}', 'Subsystem sftp internal-sftp',
        f'SetEnv PIP_NO_INDEX=1 HOME={home}', '']))
    if os.geteuid() == 0:
        Path('/run/sshd').mkdir(exist_ok=True)  # its privilege-separation folder
    server = subprocess.Popen([SSHD, '-D', '-e', '-f', str(folder / 'sshd_config')], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, server)
        yield port, folder / 'user_key', home
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


@pytest.fixture(scope='module')
def remote_experiment(ssh_server, tmp_path_factory):
    port_ssh, key, home = ssh_server
    tmp_path = tmp_path_factory.mktemp('remote')
    (tmp_path / 'code').mkdir()
    (tmp_path / 'code' / 'README').write_text('trials run nni-cnas from the machine\'s pythonPath\n')
    space = {'strategy': {'_type': 'choice', '_value': ['rsps']}, 'curriculum': {'_type': 'choice', '_value': ['epoch']}}
    (tmp_path / 'space.json').write_text(json.dumps(space))
    config = {
        'experimentName': 'nni-cnas-remote-test', 'searchSpaceFile': str(tmp_path / 'space.json'),
        'trialCommand': TRIAL, 'trialCodeDirectory': str(tmp_path / 'code'), 'trialConcurrency': 1,
        'maxTrialNumber': 1, 'tuner': {'name': 'GridSearch'},
        'experimentWorkingDirectory': str(tmp_path / 'experiments'),
        'trainingService': {'platform': 'remote', 'nniManagerIp': '127.0.0.1', 'machineList': [
            {'host': '127.0.0.1', 'port': port_ssh, 'user': getpass.getuser(), 'sshKeyFile': str(key),
             'pythonPath': BIN}]},
    }
    env = loopback_env()
    env['PATH'] = os.pathsep.join([BIN, env.get('PATH', '')])
    with started_experiment(config, tmp_path, env, also_left=(home,), none_left=False) as (port, experiment_id):
        yield port, tmp_path / 'experiments' / experiment_id, home


def test_remote_service_runs_a_real_trial_over_ssh(remote_experiment):
    port, folder, home = remote_experiment
    deadline = time.time() + 420
    trials = []
    while time.time() < deadline:
        trials = get(port, 'trial-jobs')
        if trials and all(t['status'] in ('SUCCEEDED', 'FAILED') for t in trials):
            break
        time.sleep(2)
    log = (folder / 'log' / 'nnimanager.log').read_text()[-3000:] if (folder / 'log' / 'nnimanager.log').exists() else ''
    assert len(trials) == 1 and trials[0]['status'] == 'SUCCEEDED', f'{trials}\n{log}'
    trial = trials[0]
    assert trial['envId'].startswith('remote-worker')  # run by the remote service's worker, not locally
    metrics = [(m['type'], decode(m['data'])) for m in get(port, f'metric-data/{trial["trialJobId"]}')]
    periodical = [data for kind, data in metrics if kind == 'PERIODICAL']
    final = [data for kind, data in metrics if kind == 'FINAL']
    assert len(periodical) == 2 and all('default' in data for data in periodical)
    assert len(final) == 1 and final[0]['arch'].count('~') == 6
    # The search ran on the SSH server's side, in the session's home that server gave it.
    run_folder = Path(final[0]['run_folder'])
    assert home in run_folder.parents
    result = json.loads((run_folder / 'result.json').read_text())
    assert result['arch'] == final[0]['arch']
    assert final[0]['default'] == result['lookup_valid']  # the look-up's validation accuracy, never test
