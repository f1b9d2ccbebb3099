"""nni_cnas: Curriculum-NAS (Zhou et al., ACM MM 2022) as strategies for Microsoft NNI 3.0."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / 'nni_cnas' / '_version.py').read_text(), version)

setup(
    name='nni_cnas',
    version=version['__version__'],
    description='Curriculum-NAS: data-uncertainty curricula for weight-sharing NAS, as NNI 3.0 strategies',
    long_description=(here / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.9',
    packages=find_packages(include=['nni_cnas', 'nni_cnas.*']),
    package_data={'nni_cnas.nnictl': ['loopback.js'], 'nni_cnas.benchmarks': ['data/*.csv.xz', 'data/*.md']},
    install_requires=[
        # Exact pins live in constraints.txt; these are the ranges the code supports.
        'nni==3.0',
        'torch>=2.1',
        'pytorch-lightning>=2.1,<2.7',
        'torchmetrics>=1.0',
        'setuptools>=77.0.3,<82',  # nnictl needs pkg_resources, removed in setuptools 82
        'nats_bench>=1.7',
        'pyyaml>=6',
        'numpy>=1.23',
        'pillow>=9',
        'scikit-learn>=1.2',
        'scipy>=1.10',  # Kendall's tau, the paired comparisons' t-intervals and sign tests
        'tqdm>=4.60',
        'psutil>=5',  # memory available to a search (nni_cnas.resources)
        'matplotlib>=3.7',  # the figures of nni-cnas ranks and sweep-plot
        'tensorboardX>=2.6',  # Lightning's TensorBoard logger of each run (tensorboard itself is not needed)
    ],
    extras_require={
        'test': ['pytest>=7', 'hypothesis>=6', 'pytest-timeout>=2', 'pytest-xdist>=3', 'build>=1', 'twine>=5',
                 'mkdocs>=1.6', 'mkdocs-material>=9', 'mkdocstrings-python>=1.10'],
        # torchvision is optional: its PyPI wheels are CUDA builds that fail to import next to a CPU
        # torch, and because torchmetrics imports torchvision when present, every NNI import then fails.
        'vision': ['torchvision'],
    },
    entry_points={'console_scripts': ['nni-cnas = nni_cnas.cli:main']},
)
