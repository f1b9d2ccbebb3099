"""NAS-Bench-201 look-up: the table's values, and bad benchmark files."""

import csv

import pytest

from nni_cnas.benchmarks import nb201
from nni_cnas.benchmarks.nb201 import NB201Table, NatsBenchLookup, open_benchmark
from nni_cnas.errors import UserError
from nni_cnas.spaces.nb201_arch import ArchStringError

BEST_C10 = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'


def test_best_cifar10_cell_reads_94_37(nb201_table):
    table = NB201Table(nb201_table)
    best = table.best('cifar10', 'test')
    assert best['arch'] == BEST_C10 and round(best['cifar10']['test'], 2) == 94.37
    assert round(table.best('cifar100')['cifar100']['test'], 2) == 73.51
    assert round(table.best('imagenet16-120')['imagenet16-120']['test'], 2) == 47.31


def test_lookup_returns_the_row(nb201_table):
    with nb201.open_table_text(nb201_table) as f:
        row = next(r for r in csv.DictReader(f) if r['index'] == '1')
    result = NB201Table(nb201_table).lookup(row['arch'])
    assert result['index'] == 1 and result['cifar10']['test'] == float(row['cifar10_test'])
    assert result['cifar100']['valid'] == float(row['cifar100_val'])
    assert result['imagenet16-120']['test'] == float(row['imagenet16_test'])


def test_environment_variable_selects_the_table(nb201_table, monkeypatch):
    monkeypatch.setenv('NNI_CNAS_NB201_TABLE', str(nb201_table))
    assert open_benchmark().lookup(BEST_C10)['index'] == 6111


def write_table(path, rows, columns=None):
    columns = columns or ['index', 'arch', 'cifar10_valid_val', 'cifar10_test', 'cifar100_val', 'cifar100_test',
                          'imagenet16_val', 'imagenet16_test']
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def test_small_table_and_a_cell_it_lacks(tmp_path):
    path = write_table(tmp_path / 't.csv', [[7, BEST_C10, 1, 2, 3, 4, 5, 6]])
    table = NB201Table(path)
    assert table.lookup(BEST_C10)['imagenet16-120'] == {'valid': 5.0, 'test': 6.0}
    with pytest.raises(ArchStringError, match='missing from'):
        table.lookup('|none~0|+|none~0|none~1|+|none~0|none~1|none~2|')
    with pytest.raises(ArchStringError):
        table.lookup('|conv_9x9~0|')


@pytest.mark.parametrize('content, message', [
    (None, 'does not exist'),
    ('index,arch\n1,x\n', 'no column'),
    ('', 'no column'),
    (b'\xff\xfe\x00garbage', 'not a valid NAS-Bench-201 table'),
])
def test_bad_tables_are_user_errors(tmp_path, content, message):
    path = tmp_path / 'table.csv'
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        NB201Table(path)


def test_bad_rows_are_user_errors(tmp_path):
    path = write_table(tmp_path / 't.csv', [[1, '|bad~0|', 1, 2, 3, 4, 5, 6]])
    with pytest.raises(UserError):
        NB201Table(path)
    path = write_table(tmp_path / 'u.csv', [[1, BEST_C10, 'x', 2, 3, 4, 5, 6]])
    with pytest.raises(UserError, match='line 2'):
        NB201Table(path)


def test_missing_or_foreign_nats_bench_file(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        NatsBenchLookup(tmp_path / 'NATS-tss-v1_0-3ffb9-simple')
    (tmp_path / 'foreign').write_text('not a benchmark')
    with pytest.raises(UserError, match='not a NATS-Bench topology benchmark'):
        NatsBenchLookup(tmp_path / 'foreign')


def test_required_benchmark_that_is_nowhere(tmp_path, monkeypatch):
    """An install that lost its packaged table: None, or one line that says how to mend it."""
    monkeypatch.setattr(nb201, 'PACKAGED_TABLE', tmp_path / 'lost.csv.xz')
    monkeypatch.delenv('NNI_CNAS_NB201_TABLE', raising=False)
    monkeypatch.delenv('NNI_CNAS_NATS_BENCH', raising=False)
    assert open_benchmark() is None
    with pytest.raises(UserError, match='no NAS-Bench-201 benchmark found .* reinstall nni_cnas'):
        open_benchmark(required=True)


def test_the_packaged_table_is_the_whole_benchmark_and_the_default(monkeypatch):
    """The table inside the package holds all 15,625 cells and is what a look-up reads by default."""
    monkeypatch.delenv('NNI_CNAS_NB201_TABLE', raising=False)
    monkeypatch.delenv('NNI_CNAS_NATS_BENCH', raising=False)
    table = open_benchmark()
    assert table.path == nb201.PACKAGED_TABLE and len(table.rows) == 15625
    assert sorted(row['index'] for row in table.rows.values()) == list(range(15625))
    assert table.lookup(BEST_C10)['index'] == 6111


def test_the_packaged_table_equals_the_shared_csv():
    """The compressed copy is the CSV it was made from, value for value."""
    from nni_cnas.paths import shared_data_dir

    shared = shared_data_dir()
    csv_path = shared / 'nasbench201' / 'nb201_accuracy_200ep.csv' if shared else None
    if csv_path is None or not csv_path.is_file():
        pytest.skip('the uncompressed table is not here (../shared/data/nasbench201/nb201_accuracy_200ep.csv)')
    with nb201.open_table_text(nb201.PACKAGED_TABLE) as packaged, open(csv_path, newline='', encoding='utf-8') as plain:
        assert packaged.read() == plain.read()


def test_an_explicit_table_overrides_the_packaged_one(tmp_path, monkeypatch):
    path = write_table(tmp_path / 't.csv', [[7, BEST_C10, 1, 2, 3, 4, 5, 6]])
    assert open_benchmark(path).lookup(BEST_C10)['index'] == 7
    monkeypatch.setenv('NNI_CNAS_NB201_TABLE', str(path))
    assert open_benchmark().lookup(BEST_C10)['index'] == 7


def test_a_compressed_table_cut_short_is_one_clear_error(tmp_path):
    path = tmp_path / 'cut.csv.xz'
    path.write_bytes(nb201.PACKAGED_TABLE.read_bytes()[:50_000])
    with pytest.raises(UserError, match='not a valid NAS-Bench-201 table'):
        NB201Table(path)
