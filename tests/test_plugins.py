"""A user's own parts from every command: ``--plugin MODULE`` (recorded in the run's config.yaml) and an
installed package's ``nni_cnas.plugins`` entry point, each in a fresh process as a user's would be:
the command line, ``--resume``, ``--jobs`` workers (the nnictl trial: tests/test_nnictl.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from nni_cnas.run.checkpoint import CHECKPOINT_DIR

from helpers import NNI_CNAS, search_argv, wait_for

EXTENSIONS = Path(__file__).resolve().parent / 'extensions'
#: The curriculum parts of tests/extensions/rank_curriculum.py: a measure and a weighting of a user's.
PARTS = ['--measure', 'recent-loss', '--weighting', 'rank']


def environment(*paths) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, paths), os.environ.get('PYTHONPATH', '')]))


def run(argv, env, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_a_plugin_on_the_command_line_is_recorded_and_imported_again_on_resume(tmp_path):
    env = environment(EXTENSIONS)
    out = tmp_path / 'run'
    without = run(search_argv(out, 'rsps', 'epoch', extra=PARTS), env)
    assert without.returncode == 2 and "unknown measure 'recent-loss'" in without.stderr  # unknown until named
    process = subprocess.Popen(search_argv(out, 'rsps', 'epoch', epochs=4, extra=[*PARTS, '--plugin', 'rank_curriculum']),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(out / CHECKPOINT_DIR / 'epoch-0000.ckpt', process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr[-2000:]
    config = yaml.safe_load((out / 'config.yaml').read_text())['config']
    assert (config['plugin'], config['measure'], config['weighting']) == ('rank_curriculum', 'recent-loss', 'rank')
    resumed = run([NNI_CNAS, 'search', '--resume', str(out)], env)  # no --plugin: the run folder names it
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert 'found architecture' in resumed.stdout


def test_jobs_workers_import_the_plugin(tmp_path):
    out = tmp_path / 'sweep'
    argv = [NNI_CNAS, 'sweep', '--strategy', 'rsps', '--curriculum', 'epoch', *PARTS, '--plugin', 'rank_curriculum',
            '--ks', '2', '--seeds', '0,1', '--jobs', '2', '--dataset', 'digits', '--subset', '48', '--batch-size', '16',
            '--epochs', '2', '--channels', '4', '--cells', '1', '--candidates', '4', '--selection-size', '32',
            '--out', str(out)]
    done = run(argv, environment(EXTENSIONS))
    assert done.returncode == 0, done.stderr[-2000:]
    configs = [yaml.safe_load(path.read_text())['config'] for path in sorted(out.glob('*/config.yaml'))]
    assert len(configs) == 2 and all(c['weighting'] == 'rank' and c['plugin'] == 'rank_curriculum' for c in configs)


def package(root: Path, name: str, module_text: str) -> Path:
    """A one-module package declaring its module as an nni_cnas plug-in, as a user publishes one."""
    source = root / f'{name}-src'
    source.mkdir(parents=True)
    (source / f'{name}.py').write_text(module_text)
    (source / 'pyproject.toml').write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name.replace('_', '-')}"
        version = "0.1"

        [tool.setuptools]
        py-modules = ["{name}"]

        [project.entry-points."nni_cnas.plugins"]
        {name} = "{name}"
    '''))
    target = root / f'{name}-installed'
    installed = subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                                '--no-index', '--target', str(target), str(source)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    return target


def test_an_installed_plugin_needs_no_naming_and_a_broken_one_is_one_line(tmp_path):
    good = package(tmp_path, 'my_rank_parts', (EXTENSIONS / 'rank_curriculum.py').read_text())
    out = tmp_path / 'run'
    done = run(search_argv(out, 'rsps', 'epoch', epochs=2, extra=PARTS), environment(good))
    assert done.returncode == 0, done.stderr[-2000:]
    assert yaml.safe_load((out / 'config.yaml').read_text())['config']['weighting'] == 'rank'
    broken = package(tmp_path, 'broken_parts', 'raise ImportError("a dependency is missing")\n')
    failed = run([NNI_CNAS, 'search', '--out', str(tmp_path / 'never')], environment(broken))
    assert failed.returncode == 2 and failed.stderr.count('\n') == 1, failed.stderr
    assert "plug-in 'broken_parts' (broken_parts) could not be imported (ImportError: a dependency" in failed.stderr
    assert not (tmp_path / 'never').exists()
    shutil.rmtree(broken)


def test_a_plugin_that_cannot_be_imported_is_one_line(tmp_path):
    failed = run([NNI_CNAS, 'search', '--plugin', 'no_such_parts', '--out', str(tmp_path / 'never')], dict(os.environ))
    assert failed.returncode == 2 and failed.stderr.count('\n') == 1
    assert "--plugin no_such_parts: the module could not be imported (ModuleNotFoundError" in failed.stderr
    assert not (tmp_path / 'never').exists()
