"""NAS-Bench-201 look-up of a found cell: CIFAR-10, CIFAR-100 and ImageNet16-120 accuracies.

Two sources, same answer format:

- the official NATS-Bench topology file through ``nats_bench`` (``--nats-bench PATH`` or
  ``$NNI_CNAS_NATS_BENCH``), 200-epoch results averaged over seeds;
- the table of all 15,625 cells (``--nb201-table PATH``, ``$NNI_CNAS_NB201_TABLE``, or the copy that
  ships inside the package, ``data/nb201_accuracy_200ep.csv.xz``, see ``data/SOURCE.md``),
  NAS-Bench-201 v1.0 200-epoch results; a table is read as CSV, or xz-compressed CSV when its name
  ends in ``.xz``.

``valid`` is the x-valid accuracy (CIFAR-10: trained on half of the training set, tested on the
other half, "cifar10-valid"), ``test`` the test accuracy searches report (CIFAR-10: trained on the
full training set, "cifar10").
"""

from __future__ import annotations

import csv
import io
import lzma
import os
from pathlib import Path
from typing import Dict, Optional

from ..errors import UserError
from ..spaces.nb201_arch import ArchStringError, format_arch, parse_arch

__all__ = ['NB201_DATASETS', 'NB201Table', 'NatsBenchLookup', 'open_benchmark', 'default_table_path', 'open_table_text',
           'PACKAGED_TABLE']

NB201_DATASETS = ('cifar10', 'cifar100', 'imagenet16-120')
_TABLE_COLUMNS = {
    'cifar10': ('cifar10_valid_val', 'cifar10_test'),
    'cifar100': ('cifar100_val', 'cifar100_test'),
    'imagenet16-120': ('imagenet16_val', 'imagenet16_test'),
}
TABLE_ENV, NATS_ENV = 'NNI_CNAS_NB201_TABLE', 'NNI_CNAS_NATS_BENCH'


#: The table that ships with the package (about 0.37 MB): a look-up needs no download.
PACKAGED_TABLE = Path(__file__).with_name('data') / 'nb201_accuracy_200ep.csv.xz'


def default_table_path() -> Optional[Path]:
    """The packaged table, or None where an install lost it (then only explicit paths work)."""
    return PACKAGED_TABLE if PACKAGED_TABLE.is_file() else None


def open_table_text(path: Path):
    """The table's text: xz-compressed when the name ends in ``.xz``, else plain."""
    if path.suffix == '.xz':
        return io.TextIOWrapper(lzma.open(path), encoding='utf-8', newline='')
    return open(path, newline='', encoding='utf-8')


class NB201Table:
    """The offline accuracy table: ``lookup(arch)`` -> ``{'index', 'arch', dataset: {'valid', 'test'}}``."""

    source = 'table'

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f'NAS-Bench-201 table {self.path} does not exist; give the CSV with --nb201-table '
                            f'or ${TABLE_ENV}')
        wanted = {'index', 'arch', *(c for pair in _TABLE_COLUMNS.values() for c in pair)}
        self.rows: Dict[str, Dict] = {}
        try:
            with open_table_text(self.path) as f:
                reader = csv.DictReader(f)
                missing = wanted - set(reader.fieldnames or ())
                if missing:
                    raise UserError(f'{self.path} is not a NAS-Bench-201 accuracy table (no column {sorted(missing)[0]!r})')
                for line, row in enumerate(reader, start=2):
                    try:
                        arch = format_arch(parse_arch(row['arch']))
                    except ArchStringError as error:
                        raise UserError(f'{self.path} line {line} is not a valid NAS-Bench-201 table row ({error}); '
                                        'the file may be cut short, give a whole table') from None
                    self.rows[arch] = {
                        'index': int(row['index']), 'arch': arch,
                        **{name: {'valid': float(row[v]), 'test': float(row[t])} for name, (v, t) in _TABLE_COLUMNS.items()},
                    }
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, csv.Error, lzma.LZMAError, EOFError) as error:
            if isinstance(error, UserError):
                raise
            where = f' line {line}' if 'line' in locals() else ''
            raise UserError(f'{self.path}{where} is not a valid NAS-Bench-201 table row ({error})') from None
        if not self.rows:
            raise UserError(f'{self.path} holds no architectures')

    def lookup(self, arch: str) -> Dict:
        key = format_arch(parse_arch(arch))
        if key not in self.rows:
            raise ArchStringError(f'{arch} is a valid cell but is missing from {self.path}')
        return dict(self.rows[key], source=f'{self.source}:{self.path}')

    def best(self, dataset: str = 'cifar10', split: str = 'test') -> Dict:
        return max(self.rows.values(), key=lambda row: row[dataset][split])


class NatsBenchLookup:
    """The official NATS-Bench topology benchmark through the ``nats_bench`` API (fast mode)."""

    source = 'nats_bench'
    _queries = {  # dataset: (NATS-Bench dataset for valid, metric), (dataset for test, metric)
        'cifar10': (('cifar10-valid', 'valid-accuracy'), ('cifar10', 'test-accuracy')),
        'cifar100': (('cifar100', 'valid-accuracy'), ('cifar100', 'test-accuracy')),
        'imagenet16-120': (('ImageNet16-120', 'valid-accuracy'), ('ImageNet16-120', 'test-accuracy')),
    }

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise UserError(f'NATS-Bench file {self.path} does not exist; give the NATS-tss-v1_0-3ffb9-simple '
                            f'folder with --nats-bench or ${NATS_ENV}')
        from nats_bench import create

        try:
            self.api = create(str(self.path), 'tss', fast_mode=True, verbose=False)
        except Exception as error:  # nats_bench raises assorted errors for foreign files
            raise UserError(f'{self.path} is not a NATS-Bench topology benchmark ({type(error).__name__}: {error})') from None

    def lookup(self, arch: str) -> Dict:
        key = format_arch(parse_arch(arch))
        index = self.api.query_index_by_arch(key)
        if index is None or index < 0:
            raise ArchStringError(f'{arch} is not in the NATS-Bench file {self.path}')
        result = {'index': int(index), 'arch': key, 'source': f'{self.source}:{self.path}'}
        for name, ((valid_set, valid_key), (test_set, test_key)) in self._queries.items():
            valid = self.api.get_more_info(index, valid_set, hp='200', is_random=False)[valid_key]
            test = self.api.get_more_info(index, test_set, hp='200', is_random=False)[test_key]
            result[name] = {'valid': float(valid), 'test': float(test)}
        return result


def open_benchmark(table: Optional[Path] = None, nats_bench: Optional[Path] = None, required: bool = False):
    """The look-up to use: an explicit NATS-Bench file or table, then the environment, then the
    packaged table. None when there is none (an install without it) and ``required`` is false."""
    nats_bench = nats_bench or os.environ.get(NATS_ENV)
    if nats_bench:
        return NatsBenchLookup(Path(nats_bench))
    table = table or os.environ.get(TABLE_ENV)
    if table:
        return NB201Table(Path(table))
    default = default_table_path()
    if default is not None and default.is_file():
        return NB201Table(default)
    if required:
        raise UserError(f'no NAS-Bench-201 benchmark found (the table that ships with nni_cnas is missing from '
                        f'{PACKAGED_TABLE.parent}; reinstall nni_cnas): give --nb201-table CSV (or ${TABLE_ENV}), '
                        f'or --nats-bench PATH (or ${NATS_ENV})')
    return None
