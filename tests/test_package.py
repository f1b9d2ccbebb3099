"""The package builds and describes itself: ``python -m build`` gives a wheel and an sdist that
``twine check`` accepts, the wheel holds every module and data file the code reads, and the
installed command reports its version."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nni_cnas._version import __version__

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    pytest.importorskip('build', reason='the test extras install build (pip install -e ".[test]")')
    out = tmp_path_factory.mktemp('dist')
    # --no-isolation: the build backend of this environment (pinned), no download.
    subprocess.run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(out), str(ROOT)], check=True,
                   capture_output=True, text=True)
    return out


def test_the_wheel_and_sdist_build_and_pass_twine_check(built):
    pytest.importorskip('twine', reason='the test extras install twine')
    wheels, sdists = sorted(built.glob('*.whl')), sorted(built.glob('*.tar.gz'))
    assert [w.name for w in wheels] == [f'nni_cnas-{__version__}-py3-none-any.whl']
    assert len(sdists) == 1
    checked = subprocess.run([sys.executable, '-m', 'twine', 'check', '--strict', *map(str, wheels + sdists)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_holds_every_module_the_nnictl_preload_and_the_benchmark_table(built):
    with zipfile.ZipFile(next(built.glob('*.whl'))) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f'nni_cnas-{__version__}.dist-info/entry_points.txt').decode()
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / 'nni_cnas').rglob('*.py')}
    assert modules <= names, sorted(modules - names)
    assert 'nni_cnas/nnictl/loopback.js' in names
    assert {'nni_cnas/benchmarks/data/nb201_accuracy_200ep.csv.xz', 'nni_cnas/benchmarks/data/SOURCE.md'} <= names
    assert 'nni-cnas = nni_cnas.cli:main' in entry_points


def test_the_command_reports_its_version():
    out = subprocess.run([sys.executable, '-m', 'nni_cnas.cli', '--version'], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f'nni-cnas {__version__}'
