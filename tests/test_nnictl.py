"""A real nnictl experiment of curriculum searches: NNI's bundled Node.js manager on a
free loopback port, two tiny trials (one that succeeds, one with a bad strategy that must fail with
its reason in the log), checked through the REST API, stopped with nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from nni_cnas.nnictl import loopback_env
from nni_cnas.records import EpochRecord
from nni_cnas.run.trial import epoch_metrics, final_metrics, trial_options

NNICTL = str(Path(sys.executable).with_name('nnictl'))
TRIAL = [sys.executable, '-m', 'nni_cnas.cli', 'trial', '--dataset', 'digits', '--subset', '48', '--epochs', '2',
         '--channels', '4', '--cells', '1', '--batch-size', '16', '--candidates', '4', '--selection-size', '32', '--k', '2']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def get(port: int, path: str):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/v1/nni/{path}', timeout=10) as response:
        body = response.read().decode()
    try:
        return json.loads(body)
    except ValueError:
        return body


def decode(data):
    """A metric as NNI stores it: JSON, possibly of a JSON string."""
    while isinstance(data, str):
        data = json.loads(data)
    return data


def listening_addresses(port: int):
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6), as hex strings."""
    found = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(':', 1)
            if int(hex_port, 16) == port and state == '0A':  # LISTEN
                found.append(address)
    return found


def test_trial_options_merge_parameters_and_drop_k_for_plain_runs(monkeypatch):
    monkeypatch.setenv('NNI_OUTPUT_DIR', '/tmp/trial-x')
    options = trial_options({'dataset': 'digits', 'k': 5}, {'strategy': 'gdas', 'curriculum': 'none', 'seed': 2})
    assert options == {'dataset': 'digits', 'strategy': 'gdas', 'curriculum': 'none', 'seed': 2,
                       'out': '/tmp/trial-x/search', 'overwrite': True}
    assert trial_options({}, {'curriculum': 'epoch', 'k': 3, 'out': 'here'}) == {'curriculum': 'epoch', 'k': 3, 'out': 'here'}


def test_the_tuned_metric_is_never_a_test_set_number():
    record = EpochRecord(1, train_acc=0.5, val_acc=0.25, lookup_test=91.5, lookup_valid=88.0, data_weights={'gini': 0.1})
    assert epoch_metrics(record) == {'default': 88.0, 'train_acc': 50.0, 'val_acc': 25.0, 'lookup_valid_acc': 88.0,
                                     'lookup_test_acc': 91.5, 'data_weight_gini': 0.1}
    assert epoch_metrics(EpochRecord(1, train_acc=0.5, val_acc=0.25, lookup_test=91.5))['default'] == 25.0
    assert epoch_metrics(EpochRecord(1, train_acc=0.5))['default'] == 50.0
    final = final_metrics({'arch': 'A', 'run_folder': 'r', 'val_acc': 0.5, 'lookup_test': 93.0, 'lookup_valid': 90.0})
    assert final == {'default': 90.0, 'val_acc': 50.0, 'lookup_valid_acc': 90.0, 'lookup_test_acc': 93.0,
                     'arch': 'A', 'run_folder': 'r'}
    final = final_metrics({'arch': 'A', 'run_folder': 'r', 'val_acc': 0.5, 'lookup': None})
    assert final == {'default': 50.0, 'val_acc': 50.0, 'arch': 'A', 'run_folder': 'r'}


def test_language_model_metrics_report_perplexity():
    record = EpochRecord(1, train_loss=5.0, train_ppl=148.4, val_ppl=160.0, data_weights={'gini': 0.1})
    assert epoch_metrics(record) == {'default': 160.0, 'train_ppl': 148.4, 'val_ppl': 160.0, 'data_weight_gini': 0.1}
    final = final_metrics({'arch': 'Genotype(recurrent=...)', 'run_folder': 'r', 'val_ppl': 150.0})
    assert final == {'default': 150.0, 'val_ppl': 150.0, 'arch': 'Genotype(recurrent=...)', 'run_folder': 'r'}


@contextlib.contextmanager
def started_experiment(config: dict, folder: Path, env: dict, also_left=(), none_left: bool = True):
    """``(port, experiment id)`` of ``nnictl create`` on ``config`` (in ``folder``) on a free loopback
    port; always stopped afterwards, with no manager listening and no process of it left (those whose
    command line names the port, ``folder`` or one of ``also_left`` are killed; ``none_left``: and there
    must have been none)."""
    port = free_port()
    (folder / 'config.yml').write_text(yaml.safe_dump(config))
    for attempt in range(2):
        created = subprocess.run([NNICTL, 'create', '--config', str(folder / 'config.yml'), '--port', str(port)],
                                 capture_output=True, text=True, timeout=180, env=env, cwd=folder)
        # nnictl gives NNI's Node.js manager 3 seconds to answer; a cold start on a busy machine can
        # take longer (it then exits 1 with 'check-status ... Connection refused'): once more.
        if created.returncode == 0 or 'check-status' not in created.stdout + created.stderr or attempt:
            break
        subprocess.run([NNICTL, 'stop', '--all'], capture_output=True, timeout=120, env=env)
    experiment_id = None
    try:
        assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
        experiment_id = get(port, 'experiment')['id']
        yield port, experiment_id
    finally:
        subprocess.run([NNICTL, 'stop', experiment_id or '--all'], capture_output=True, timeout=120, env=env)
        deadline = time.time() + 30
        while listening_addresses(port) and time.time() < deadline:
            time.sleep(0.5)
        pattern = '|'.join(f'({part})' for part in (f'--port {port}', folder, *also_left))
        leftovers = subprocess.run(['pgrep', '-f', pattern], capture_output=True, text=True).stdout.split()
        for pid in leftovers:  # never leave a process behind, even when the test failed
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        assert not listening_addresses(port), 'the NNI manager still listens after nnictl stop'
        assert not none_left or not leftovers, f'processes left after nnictl stop: {leftovers}'


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """A started nnictl experiment (its port, id and folder); always stopped afterwards."""
    tmp_path = tmp_path_factory.mktemp('nnictl')
    space = {'strategy': {'_type': 'choice', '_value': ['rsps', 'nope']},
             'curriculum': {'_type': 'choice', '_value': ['epoch']}}
    (tmp_path / 'space.json').write_text(json.dumps(space))
    config = {
        'experimentName': 'nni-cnas-test', 'searchSpaceFile': str(tmp_path / 'space.json'),
        # The trials weigh with a user's own weighting, from a plug-in the trial command names.
        'trialCommand': ' '.join(TRIAL + ['--plugin', 'rank_curriculum', '--weighting', 'rank']),
        'trialCodeDirectory': str(tmp_path), 'trialConcurrency': 1,
        'maxTrialNumber': 2, 'tuner': {'name': 'GridSearch'}, 'trainingService': {'platform': 'local'},
        'experimentWorkingDirectory': str(tmp_path / 'experiments'),
    }
    env = loopback_env()
    here = Path(__file__).resolve().parent
    env['PYTHONPATH'] = os.pathsep.join([str(here.parent), str(here / 'extensions'), env.get('PYTHONPATH', '')])
    with started_experiment(config, tmp_path, env) as (port, experiment_id):
        yield port, experiment_id, tmp_path / 'experiments' / experiment_id


@pytest.fixture(scope='module')
def finished_trials(experiment):
    port = experiment[0]
    deadline = time.time() + 420
    while time.time() < deadline:
        trials = get(port, 'trial-jobs')
        if len(trials) == 2 and all(t['status'] in ('SUCCEEDED', 'FAILED') for t in trials):
            return trials
        time.sleep(2)
    pytest.fail(f'trials did not finish: {get(port, "trial-jobs")}')


def test_nnictl_experiment_runs_trials_reports_metrics_and_fails_bad_ones(experiment, finished_trials):
    port, experiment_id, folder = experiment
    assert listening_addresses(port) and set(listening_addresses(port)) <= {'0100007F', '0000000000000000FFFF00000100007F'}
    trials = finished_trials
    by_strategy = {json.loads(t['hyperParameters'][0])['parameters']['strategy']: t for t in trials}
    good, bad = by_strategy['rsps'], by_strategy['nope']
    assert good['status'] == 'SUCCEEDED' and bad['status'] == 'FAILED'

    metrics = get(port, f'metric-data/{good["trialJobId"]}')
    decoded = [(m['type'], decode(m['data'])) for m in metrics]
    periodical = [data for kind, data in decoded if kind == 'PERIODICAL']
    final = [data for kind, data in decoded if kind == 'FINAL']
    assert len(periodical) == 2 and all('default' in data and 'train_acc' in data for data in periodical)
    assert len(final) == 1 and final[0]['arch'].count('~') == 6 and isinstance(final[0]['default'], float)
    assert get(port, f'metric-data/{bad["trialJobId"]}') == []
    recorded = yaml.safe_load((Path(final[0]['run_folder']) / 'config.yaml').read_text())['config']
    assert (recorded['plugin'], recorded['weighting']) == ('rank_curriculum', 'rank')  # the plug-in's, in the trial

    stderr = get(port, f'trial-file/{bad["trialJobId"]}/stderr')
    assert "nni-cnas: error: unknown strategy 'nope'" in stderr


@pytest.mark.parametrize('name', ['nnictl_nb201_digits.yml', 'nnictl_nb201_cifar10.yml', 'nnictl_nb201_gpus.yml',
                                  'nnictl_nb201_remote.yml'])
def test_every_trial_of_the_example_experiments_has_valid_options(name, tmp_path):
    """NNI accepts the config, and each grid point of its search space merged into its trial command
    gives a search config that resolves (so no trial of the example fails on its options)."""
    import itertools
    import shlex

    from nni.experiment.config import ExperimentConfig

    from nni_cnas.cli import build_parser
    from nni_cnas.cli.common import given_options
    from nni_cnas.run.config import SearchConfig

    path = Path(__file__).resolve().parents[1] / 'examples' / name
    raw = yaml.safe_load(path.read_text())
    for machine in raw['trainingService'].get('machineList', []):  # NNI checks that the SSH key file exists
        (tmp_path / 'key').write_text('')
        machine['sshKeyFile'] = str(tmp_path / 'key')
    for key in ('searchSpaceFile', 'trialCodeDirectory'):
        raw[key] = str((path.parent / raw[key]).resolve())
    config = ExperimentConfig(**_snake_case(raw))
    config.validate()
    space = json.loads(Path(config.search_space_file).read_text())
    argv = shlex.split(config.trial_command)
    assert argv[:2] == ['nni-cnas', 'trial']
    base = given_options(build_parser().parse_args(argv[1:]))
    names = list(space)
    for values in itertools.product(*(space[n]['_value'] for n in names)):
        options = trial_options(base, dict(zip(names, values)))
        options.pop('data_dir', None)
        SearchConfig.from_mapping(options).resolve()
    assert config.max_trial_number == len(list(itertools.product(*(space[n]['_value'] for n in names))))


def _snake_case(value):
    """NNI's YAML keys (camelCase) as its config classes' arguments."""
    if isinstance(value, dict):
        return {re.sub(r'(?<!^)(?=[A-Z])', '_', key).lower(): _snake_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snake_case(item) for item in value]
    return value


CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (Debian: apt-get install chromium; .ci/run does)')
def test_web_ui_shows_the_trials_in_headless_chromium(experiment, finished_trials, tmp_path):
    port = experiment[0]
    flags = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
             '--window-size=1400,1000', '--virtual-time-budget=20000', f'--user-data-dir={tmp_path / "profile"}']
    url = f'http://127.0.0.1:{port}/oview'
    shot = tmp_path / 'webui.png'
    subprocess.run([*flags, f'--screenshot={shot}', url], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10000  # a rendered page, not a blank one
    dom = subprocess.run([*flags, '--dump-dom', url], capture_output=True, text=True, timeout=120).stdout
    text = re.sub(r'<[^>]+>', ' ', dom)
    assert re.search(r'Trial numbers', text), text[:2000]
    counts = re.findall(r'(Succeeded|Failed)\s+(\d+)', text)
    assert ('Succeeded', '1') in counts and ('Failed', '1') in counts, counts
    artifacts = os.environ.get('NNI_CNAS_TEST_ARTIFACTS')
    if artifacts:  # keep the screenshot (CI) to look at
        shutil.copy(shot, Path(artifacts) / 'nni-webui.png')


def test_a_retried_trial_resumes_its_interrupted_search(tmp_path):
    from helpers import CHECKPOINT_DIR, assert_same_search, run_to_end, search_argv, start, wait_for

    reference = tmp_path / 'reference'
    run_to_end(search_argv(reference, 'gdas', 'epoch'))
    run = tmp_path / 'trial'
    process = start(search_argv(run, 'gdas', 'epoch'))
    wait_for(run / CHECKPOINT_DIR / 'epoch-0001.ckpt', process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    retried = search_argv(run, 'gdas', 'epoch')
    retried[1] = 'trial'
    finished = run_to_end(retried)
    assert f'nni-cnas trial: resuming {run}' in finished.stdout
    assert_same_search(reference, run)
