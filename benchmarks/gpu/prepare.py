"""Bundle what the GPU check needs beyond the GPU machine's own image (Python 3.12 with CUDA torch,
Lightning, torchmetrics, scikit-learn, ... but no nni): nni 3.0 (its Python package only: NNI's
Node.js manager is not needed for a search) and the packages nni and nni_cnas import, as one
``.gpu/site.tar.gz`` of ~5 MB to carry there. Needs PyPI here.

    python benchmarks/gpu/prepare.py            # then carry .gpu to the GPU machine (see check.sh)
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Pinned as constraints.txt pins them here; what the GPU image lacks (its package list: KINDS.md of the device tool).
PACKAGES = ['nni==3.0', 'astor', 'json-tricks==3.17.3', 'prettytable==3.18.0', 'wcwidth', 'PythonWebHDFS==0.2.3',
            'responses==0.26.3', 'schema==0.7.8', 'typeguard==4.1.2', 'websockets', 'nats_bench', 'tensorboardX',
            'simplejson']
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64', 'any']
SKIPPED = ('nni_node/',)  # NNI's Node.js manager (190 MB): nnictl only


def main():
    out = ROOT / '.gpu'
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        platforms = [arg for platform in PLATFORMS for arg in ('--platform', platform)]
        subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
                        '--python-version', '3.12', '--implementation', 'cp', *platforms, '-d', folder, *PACKAGES],
                       check=True)
        with tarfile.open(out / 'site.tar.gz', 'w:gz') as bundle:
            for wheel in sorted(Path(folder).glob('*.whl')):
                with zipfile.ZipFile(wheel) as archive:
                    for member in archive.infolist():
                        if member.is_dir() or member.filename.startswith(SKIPPED):
                            continue
                        info = tarfile.TarInfo(member.filename)
                        data = archive.read(member)
                        info.size = len(data)
                        bundle.addfile(info, io.BytesIO(data))
    print(f'{out / "site.tar.gz"}: {(out / "site.tar.gz").stat().st_size / 2 ** 20:.1f} MiB')


if __name__ == '__main__':
    main()
