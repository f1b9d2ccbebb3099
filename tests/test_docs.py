"""The documentation site builds in strict mode (a broken link, anchor, API reference or snippet
fails it), its command-line page is generated from the CLI's parser, and the README stays a few
screens that link into it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` run from the site's parent folder, not the repository: a path that
    the configuration reads from the working directory fails here."""
    pytest.importorskip('mkdocs', reason='the test extras install mkdocs (pip install -e ".[test]")')
    return subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f', str(config), '-d', str(site)],
                          capture_output=True, text=True, timeout=300, cwd=site.parent,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING='1', PYTHONPATH=str(ROOT)))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    built = build(ROOT / 'mkdocs.yml', out)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def test_the_site_builds_in_strict_mode_with_every_page(site):
    for page in ('dropin', 'cli', 'results', 'api', 'changelog', 'benchmarks', 'scale-out'):
        assert (site / page / 'index.html').is_file(), page
    assert (site / 'benchmarks' / 'results' / 'quality-cpu-10k.png').is_file()  # served from where it is made


def test_the_command_line_page_is_the_parsers_help(site):
    from nni_cnas.cli import build_parser

    html = (site / 'cli' / 'index.html').read_text()
    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == '_SubParsersAction').choices
    for name in commands:
        assert f'nni-cnas {name}' in html
    assert '--curriculum-start' in html and '--controller-steps' in html  # the search config's and a strategy's


def test_the_api_reference_shows_defaults_in_signatures(site):
    html = re.sub(r'<[^>]+>', '', (site / 'api' / 'index.html').read_text())
    assert re.search(r'tau_max\s*:\s*float\s*=\s*10', html), 'GDAS shows its tau_max default'
    assert 'sample_losses' in html


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copytree(ROOT / 'docs', tmp_path / 'docs')
    shutil.copy(ROOT / 'mkdocs.yml', tmp_path / 'mkdocs.yml')
    for name in ('scripts', 'benchmarks'):
        (tmp_path / name).symlink_to(ROOT / name)
    for name in ('CHANGELOG.md', 'BENCHMARKS.md'):
        shutil.copy(ROOT / name, tmp_path / name)
    page = tmp_path / 'docs' / 'close.md'
    page.write_text(page.read_text() + '\nSee [the missing page](missing.md).\n')
    built = build(tmp_path / 'mkdocs.yml', tmp_path / 'site')
    assert built.returncode != 0 and 'missing.md' in built.stdout + built.stderr


def test_the_readme_is_a_few_screens_that_link_into_the_docs():
    readme = (ROOT / 'README.md').read_text()
    assert len(readme.splitlines()) <= 150
    for target in re.findall(r'\]\((docs/[^)#]+)', readme):
        assert (ROOT / target).exists(), target
