"""The search-quality protocol: the protocol file is checked before any run, runs are
appended once and skipped after, a torn results line is survived, the table is mean and std."""

from __future__ import annotations

import json
import statistics

import pytest
import yaml

from nni_cnas.cli import main
from nni_cnas.errors import UserError
from nni_cnas.experiments.quality import Protocol, quality_table, read_results, run_protocol, variant

TINY_SEARCH = {'dataset': 'digits', 'subset': 48, 'epochs': 1, 'channels': 4, 'cells': 1, 'batch_size': 16,
               'num_candidates': 4, 'selection_size': 32, 'rank_cells': 10, 'rank_samples': 40, 'progress_bar': False}


def write_protocol(path, **changes):
    values = {'search': TINY_SEARCH, 'strategies': ['rsps'], 'curricula': ['none', 'epoch'], 'seeds': [0], 'k': 2}
    values.update(changes)
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize('changes, message', [
    ({'search': dict(TINY_SEARCH, seed=3)}, 'sets seed per run'),
    ({'k': 0}, 'k must be a positive integer'),
    ({'k': [1, 1]}, 'or a list of different ones'),
    ({'k': []}, 'or a list of different ones'),
    ({'variants': {'late': {'epochs': 3}}}, 'variant late may set only the curriculum'),
    ({'variants': {'Late Start': {'curriculum_start': 0.5}}}, 'must be lower-case letters'),
    ({'variants': {'wild': {'weighting': 'wild'}}}, 'unknown weighting'),
    ({'variants': []}, 'variants must map a name to curriculum options'),
    ({'strategies': ['rsps', 'nope']}, "unknown strategy 'nope'"),
    ({'curricula': ['none', 'sometimes']}, "unknown curriculum 'sometimes'"),
    ({'seeds': []}, 'seeds must be a non-empty list'),
    ({'seeds': [0, 0]}, 'repeats a value'),
    ({'search': dict(TINY_SEARCH, epochz=3)}, "unknown option 'epochz'"),
    ({'extra': 1}, 'must hold the keys'),
])
def test_a_bad_protocol_file_is_one_clear_error(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        Protocol.load(write_protocol(tmp_path / 'p.yaml', **changes))


def test_protocol_runs_once_resumes_past_a_torn_line_and_refuses_other_options(tmp_path, nb201_table, caplog):
    protocol = Protocol.load(write_protocol(tmp_path / 'p.yaml'))
    results = tmp_path / 'results.jsonl'
    records = run_protocol(protocol, results, tmp_path / 'runs')
    assert [r['run'] for r in records] == ['rsps-none-s0', 'rsps-epoch-s0']
    assert records[0]['k'] == 0 and records[1]['k'] == 2
    for record in records:
        assert -1 <= record['ranking']['kendall_tau'] <= 1 and record['test_acc'] > 0
    assert len(results.read_text().splitlines()) == 2

    # A crash while appending leaves a torn line; the next run ignores it and starts a fresh line.
    with open(results, 'a') as f:
        f.write('{"run": "rsps-none-s1", "stra')
    wider = Protocol.load(write_protocol(tmp_path / 'p.yaml', seeds=[0, 1]))
    caplog.clear()
    with caplog.at_level('INFO', logger='nni_cnas'):
        records = run_protocol(wider.select(seeds=[0, 1]), results, tmp_path / 'runs')
    log = caplog.text
    assert log.count('skipped') == 2 and 'rsps-none-s1: searching' in log
    assert [r['run'] for r in read_results(results)] == ['rsps-none-s0', 'rsps-epoch-s0', 'rsps-none-s1', 'rsps-epoch-s1']

    other = Protocol.load(write_protocol(tmp_path / 'q.yaml', k=3))
    with pytest.raises(UserError, match='other protocol options'):
        run_protocol(other, results, tmp_path / 'runs')


def test_quality_table_is_mean_and_sample_std_by_hand():
    records = [{'strategy': 'rsps', 'curriculum': c, 'seed': s, 'test_acc': acc, 'search_seconds': 60.0,
                'ranking': {'kendall_tau': tau, 'top10_mean_true_acc': 90.0}}
               for c, s, acc, tau in [('none', 0, 90.0, 0.1), ('none', 1, 92.0, 0.3), ('epoch', 0, 93.0, 0.2)]]
    rows = quality_table(records)
    assert [(r['strategy'], r['curriculum'], r['seeds']) for r in rows] == [('rsps', 'none', [0, 1]), ('rsps', 'epoch', [0])]
    assert rows[0]['test_acc'] == pytest.approx((91.0, statistics.stdev([90.0, 92.0])))
    assert rows[0]['kendall_tau'] == pytest.approx((0.2, statistics.stdev([0.1, 0.3])))
    assert rows[1]['test_acc'] == (93.0, 0.0) and rows[0]['minutes'] == 1.0
    # Runs of a CLOSE protocol (close: true in its search options) are rows of their own.
    close = [dict(record, options={'close': True}, test_acc=80.0) for record in records]
    rows = quality_table(records + close)
    assert [r['curriculum'] for r in rows] == ['none', 'epoch', 'none + CLOSE', 'epoch + CLOSE']
    assert rows[2]['test_acc'] == (80.0, 0.0) and rows[2]['seeds'] == [0, 1]
    # So are runs with the amortised estimator (estimator: amortised in a protocol's search options).
    amortised = [dict(records[2], options={'estimator': 'amortised'}), dict(records[2], options={'estimator': 'exact'})]
    assert [r['curriculum'] for r in quality_table(amortised)] == ['epoch (amortised)', 'epoch']
    assert variant(dict(records[2], options={'estimator': 'amortised', 'close': True})) == 'epoch (amortised) + CLOSE'


def test_quality_cli_selects_and_renders(tmp_path, nb201_table, capsys):
    protocol = write_protocol(tmp_path / 'p.yaml', strategies=['rsps', 'gdas'])
    results = tmp_path / 'r.jsonl'
    assert main(['quality', str(protocol), '--results', str(results), '--runs-dir', str(tmp_path / 'runs'),
                 '--strategies', 'gdas']) == 0
    assert {json.loads(line)['strategy'] for line in results.read_text().splitlines()} == {'gdas'}
    assert main(['quality-table', str(results), '--md', str(tmp_path / 't.md'), '--png', str(tmp_path / 't.png')]) == 0
    assert (tmp_path / 't.md').read_text().startswith('| strategy |') and (tmp_path / 't.png').stat().st_size > 0
    assert main(['quality-table', str(results), '--strategies', 'rsps']) == 2
    assert 'no runs of rsps in' in capsys.readouterr().err
    assert main(['quality', str(protocol), '--results', str(results), '--runs-dir', str(tmp_path / 'runs'),
                 '--strategies', 'enas']) == 2
    assert 'not among the protocol' in capsys.readouterr().err
    assert main(['quality-table', str(tmp_path / 'missing.jsonl')]) == 2

    # A second cell set for the finished searches: the same records, the ranking of other cells; again, nothing.
    second = tmp_path / 'r-cells2.jsonl'
    argv = ['quality-rescore', str(results), '--runs-dir', str(tmp_path / 'runs'), '--results', str(second),
            '--cells', '10']
    assert main(argv) == 0 and '2 searches scored on the cells of seed 2023' in capsys.readouterr().out
    first, again = read_results(results), read_results(second)
    assert [{**r, 'ranking': None} for r in again] == [{**r, 'ranking': None} for r in first]
    assert all(r['ranking']['cell_seed'] == 2023 and r['ranking']['excluded_cells'] == 10 for r in again)
    assert main(argv) == 0 and len(second.read_text().splitlines()) == 2
    assert main(['quality-table', str(second)]) == 0
    elsewhere = [*argv[:3], str(tmp_path), *argv[4:]]
    assert main(elsewhere) == 2 and 'lacks the run folders of gdas-none-s0' in capsys.readouterr().err


@pytest.mark.parametrize('name, runs', [('quality-cpu.yaml', 42), ('quality-cpu-amortised.yaml', None),
                                        ('quality-cpu-10k.yaml', 50), ('quality-cpu-10k-amortised.yaml', 20),
                                        ('quality-cpu-10k-k-sweep.yaml', 15), ('quality-gpu.yaml', 30),
                                        ('quality-cpu-10k-ranking-close.yaml', 20),
                                        ('quality-cpu-10k-ranking-plain.yaml', 20)])
def test_the_benchmark_protocols_are_valid(name, runs):
    """Every protocol file of benchmarks/ loads and every one of its runs resolves (the GPU one with
    its device swapped for the CPU here: NATS-Bench's settings, the full split, 100 epochs)."""
    from pathlib import Path

    from nni_cnas.experiments.quality import FIELDS, _read_protocol_values

    path = Path(__file__).resolve().parents[1] / 'benchmarks' / name
    data = _read_protocol_values(path, ())
    if data['search'].get('device') == 'cuda':
        assert (data['search']['channels'], data['search']['cells'], data['search']['epochs']) == (16, 5, 100)
        assert 'subset' not in data['search'] and 'image_size' not in data['search']  # 25,000 + 25,000 at 32x32
        data['search']['device'] = 'cpu'
    protocol = Protocol(*(data.get(key) for key in FIELDS), source=name)
    assert runs is None or len(protocol.grid()) == runs


def test_a_protocol_on_a_base_runs_a_k_sweep_and_refuses_another_search_in_a_used_folder(tmp_path, nb201_table):
    """A K sweep written as a base protocol plus what differs: its search options merged, K in the
    run names and the table's variants; a run folder that holds another search under the same name
    is one clear error, never taken as this search's result."""
    write_protocol(tmp_path / 'base.yaml')
    (tmp_path / 'sub').mkdir()
    sweep_file = tmp_path / 'sub' / 'sweep.yaml'
    sweep_file.write_text(yaml.safe_dump({'base': '../base.yaml', 'search': {'subset': 40}, 'curricula': ['epoch'],
                                          'k': [1, 3]}))
    sweep = Protocol.load(sweep_file)
    assert sweep.options() == dict(TINY_SEARCH, subset=40, k=[1, 3]) and sweep.strategies == ['rsps']
    assert [run.name for run in sweep.grid()] == ['rsps-epoch-k1-s0', 'rsps-epoch-k3-s0']
    records = run_protocol(sweep, tmp_path / 'sweep.jsonl', tmp_path / 'runs')
    assert [(r['k'], variant(r)) for r in records] == [(1, 'epoch K=1'), (3, 'epoch K=3')]
    assert [r['curriculum'] for r in quality_table(records)] == ['epoch K=1', 'epoch K=3']

    # The base's runs (named without K) and then its amortised variant, whose epoch run has the
    # base's epoch run's name but other options, in the same runs folder.
    amortised_file = tmp_path / 'amortised.yaml'
    amortised_file.write_text(yaml.safe_dump({'base': 'base.yaml', 'search': {'estimator': 'amortised'},
                                              'curricula': ['epoch']}))
    run_protocol(Protocol.load(tmp_path / 'base.yaml'), tmp_path / 'base.jsonl', tmp_path / 'runs')
    with pytest.raises(UserError, match=r"rsps-epoch-s0 holds another search \(measure 'uncertainty' there, 'amortised' here\)"):
        run_protocol(Protocol.load(amortised_file), tmp_path / 'amortised.jsonl', tmp_path / 'runs')
    assert not (tmp_path / 'amortised.jsonl').exists() or not read_results(tmp_path / 'amortised.jsonl')


def test_one_search_is_the_same_options_but_how_and_where_it_runs():
    from nni_cnas.run.config import SearchConfig

    base = SearchConfig(dataset='digits', strategy='gdas', epochs=2, seed=1)
    same = SearchConfig(dataset='digits', strategy='gdas', epochs=2, seed=1, threads=3, out='elsewhere', overwrite=True,
                        progress_bar=True, tensorboard=False, device='cpu', data_dir='/mnt/data', tau_max=None)
    assert same.defining() == base.defining()
    for other in (dict(seed=2), dict(devices=2), dict(tau_max=5.0), dict(estimator='amortised'), dict(epochs=3)):
        assert SearchConfig(**dict(dict(dataset='digits', strategy='gdas', epochs=2, seed=1), **other)).defining() != base.defining()


@pytest.mark.parametrize('files, message', [
    ({'a.yaml': {'base': 'a.yaml', 'k': 3}}, 'base chain comes back to it'),
    ({'a.yaml': {'base': 'b.yaml', 'k': 3}, 'b.yaml': {'base': 'a.yaml'}}, 'base chain comes back to it'),
    ({'a.yaml': {'base': 'base.yaml', 'seedz': [1]}}, 'may hold only search, strategies'),
    ({'a.yaml': {'base': 'missing.yaml'}}, 'missing.yaml'),
    ({'a.yaml': {'base': 'base.yaml', 'k': [2, 2]}}, 'list of different ones'),
])
def test_a_bad_base_protocol_is_one_clear_error(tmp_path, files, message):
    write_protocol(tmp_path / 'base.yaml')
    for name, values in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(values))
    with pytest.raises(UserError, match=message):
        Protocol.load(tmp_path / 'a.yaml')


def benchmark_module(name: str = 'paired'):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / 'benchmarks' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def paired_module():
    return benchmark_module('paired')


def test_paired_differences_and_their_interval_by_hand(tmp_path):
    paired = paired_module()
    options = {'subset': 10, 'k': 5}

    def record(curriculum, seed, acc, tau, k=5, **changes):
        return {'run': f'{curriculum}-{seed}-{k}', 'strategy': 'rsps', 'curriculum': curriculum, 'seed': seed,
                'k': 0 if curriculum == 'none' else k, 'test_acc': acc, 'options': dict(options, **changes),
                'ranking': {'kendall_tau': tau, 'top10_mean_true_acc': None}}

    records = [record('none', 0, 90.0, 0.1), record('none', 1, 91.0, 0.3), record('none', 2, 92.0, 0.2),
               record('epoch', 0, 91.0, 0.2), record('epoch', 1, 90.0, 0.3), record('epoch', 2, 95.0, 0.1),
               record('epoch', 0, 89.0, 0.0, k=3)]
    records[-1]['options'] = {'subset': 10, 'k': [1, 3]}  # a K sweep's file
    paired.shared_options(records)
    rows = paired.paired_rows(records)
    acc, tau = rows[0], rows[1]
    assert (acc['curriculum'], acc['k'], acc['seeds'], acc['diffs']) == ('epoch', 5, 3, [1.0, -1.0, 3.0])
    half = 4.302653 * statistics.stdev([1.0, -1.0, 3.0]) / 3 ** 0.5  # t(0.975, 2 df) s / sqrt(n)
    assert acc['mean'] == pytest.approx(1.0) and (acc['low'], acc['high']) == pytest.approx((1.0 - half, 1.0 + half))
    assert (acc['better'], acc['worse']) == (2, 1) and tau['diffs'] == pytest.approx([0.1, 0.0, -0.1])
    assert (tau['better'], tau['worse']) == (1, 1)
    assert acc['sign_p'] == pytest.approx(1.0) and tau['sign_p'] == 1.0  # 2 of 3 better is no evidence
    assert paired.sign_test_p(0, 4) == pytest.approx(2 / 16) and paired.sign_test_p(5, 0) == pytest.approx(2 / 32)
    assert paired.sign_test_p(1, 5) == pytest.approx(2 * (1 + 6) / 64) and paired.sign_test_p(0, 0) == 1.0
    # Past 10 seeds the interval still uses Student's t (t(0.975, 11 df) = 2.200985), not the normal's 1.96.
    twelve = [0.1 * i for i in range(12)]
    low, high = paired.t_interval(twelve)
    assert high - low == pytest.approx(2 * 2.200985 * statistics.stdev(twelve) / 12 ** 0.5, rel=1e-6)
    assert [(r['curriculum'], r['k'], r['diffs']) for r in rows[2:]] == [('epoch K=3', 3, [-1.0]), ('epoch K=3', 3, [-0.1])]
    assert rows[2]['low'] != rows[2]['low']  # one seed: no interval (nan), and the table says so
    assert '| epoch K=3 | 3 | look-up test acc (points) | 1 | -1.000 | n/a (one seed) |' in paired.format_rows(rows)
    assert [r['curriculum'] for r in paired.paired_rows(records, ['epoch K=3'])] == ['epoch K=3', 'epoch K=3']
    assert '| rsps | epoch | 5 | look-up test acc (points) | 3 | +1.000 |' in paired.format_rows(rows)
    assert '| 2 / 1 | 1.00 | +1.000, -1.000, +3.000 |' in paired.format_rows(rows)
    against_exact = paired.paired_rows(records, against='epoch')  # K=3 minus K=5 on the one seed both ran
    assert [(r['curriculum'], r['diffs'][0]) for r in against_exact] == [('epoch K=3', -2.0), ('epoch K=3', pytest.approx(-0.2))]
    assert '| strategy | curriculum - epoch | K |' in paired.format_rows(against_exact, 'epoch')
    with pytest.raises(SystemExit, match='searches of other options \\(subset\\)'):
        paired.shared_options(records + [record('none', 3, 90.0, 0.1, subset=20)])
    # A second cell set of the same searches (rescored) is a measure of its own; CLOSE pairs as a variant.
    close = [record('none', seed, 90.0, tau, close=True) for seed, tau in ((0, 0.3), (1, 0.2))]
    rescored = [dict(r, ranking={'kendall_tau': tau}) for r, tau in zip(records[:2] + close, (0.0, 0.1, 0.5, 0.1))]
    both = paired.with_second_cells(records[:2] + close, rescored)
    paired.shared_options(both)
    second = [r for r in paired.paired_rows(both) if r['measure'] == 'Kendall tau (second cells)']
    assert [(r['curriculum'], r['diffs']) for r in second] == [('none + CLOSE', pytest.approx([0.5, 0.0]))]
    paired.plot_rows(rows, tmp_path / 'forest.png')  # the forest plot of the same rows
    assert (tmp_path / 'forest.png').stat().st_size > 0 and not list(tmp_path.glob('*.partial'))


def test_the_budget_ladder_pairs_each_rung_apart_and_takes_a_search_from_the_first_file_that_has_it(tmp_path):
    ladder = benchmark_module('budget_ladder')
    from nni_cnas.files import append_json_line

    def record(seed, tau, subset, curriculum='none', **changes):
        return {'run': f'{curriculum}-{seed}', 'strategy': 'rsps', 'curriculum': curriculum, 'seed': seed,
                'k': 0 if curriculum == 'none' else 5, 'test_acc': 90.0 + tau,
                'options': dict({'subset': subset}, **changes), 'ranking': {'kendall_tau': tau, 'top10_mean_true_acc': 91.0}}

    small, large, reused = tmp_path / 'small.jsonl', tmp_path / 'large.jsonl', tmp_path / 'reused.jsonl'
    for r in [record(0, 0.1, 2), record(1, 0.2, 2), record(0, 0.4, 2, 'none', close=True), record(1, 0.0, 2, 'none', close=True),
              record(7, 0.9, 2, 'none', close=True)]:  # seed 7: not a paired seed
        append_json_line(small, r)
    for r in [record(0, 0.3, 20), record(1, 0.5, 20), record(0, 0.2, 20, 'epoch'), record(1, 0.3, 20, 'epoch')]:
        append_json_line(large, r)
    for r in [record(0, 0.9, 20), record(1, 0.9, 20, 'epoch')]:  # the same searches again: the first file wins
        append_json_line(reused, r)
    rows = ladder.ladder_rows([('small', [small]), ('large', [large, reused])], 'rsps', {0, 1})
    tau = {(r['rung'], r['label']): r for r in rows if r['measure'] == 'Kendall tau'}
    assert set(tau) == {('small', 'CLOSE'), ('large', "the paper's weights")}
    assert tau['small', 'CLOSE']['diffs'] == pytest.approx([0.3, -0.2])
    assert tau['large', "the paper's weights"]['diffs'] == pytest.approx([-0.1, -0.2])
    assert {r['measure'] for r in rows} == set(ladder.SHOWN)
    table = ladder.format_ladder(rows)
    assert "| large | the paper's weights | Kendall tau | 2 | -0.150 |" in table
    ladder.plot_ladder(rows, [('small', [small]), ('large', [large])], tmp_path / 'ladder.png', 'rsps')
    assert (tmp_path / 'ladder.png').stat().st_size > 0


def test_the_ladders_reading_follows_its_rule_a_top_interval_off_zero_or_the_ends_apart():
    ladder = benchmark_module('budget_ladder')
    close, paper, disagreement = ladder.VARIANTS.values()

    def row(rung, label, mean, low, high, seeds=5, measure='Kendall tau'):
        return {'rung': rung, 'label': label, 'measure': measure, 'mean': mean, 'low': low, 'high': high, 'seeds': seeds}

    rows = [row('2k', close, 0.18, 0.05, 0.30), row('mid', close, 0.5, 0.4, 0.6), row('20k', close, -0.07, -0.17, 0.04),
            row('2k', paper, 0.0, -0.07, 0.06), row('20k', paper, -0.04, -0.20, 0.11),
            row('2k', disagreement, 0.15, -0.08, 0.39), row('20k', disagreement, 0.3, 0.1, 0.5),
            row('2k', close, 1.0, 0.5, 1.5, measure='look-up test acc (points)'),
            row('20k', close, 0.2, -0.6, 0.8, seeds=1, measure='look-up test acc (points)')]  # one seed: no reading
    readings = {(r['label'], r['measure']): r['reading'] for r in ladder.ladder_readings(rows, ['2k', 'mid', '20k'])}
    assert readings == {(close, 'Kendall tau'): '2k and 20k apart (falls)',  # 0.04 < 0.05; the middle rung is not read
                        (paper, 'Kendall tau'): 'no trend measured',
                        (disagreement, 'Kendall tau'): '20k above plain'}  # 0.1 > 0, the ends overlap
    assert "| CLOSE | Kendall tau | 2k and 20k apart (falls) |" in ladder.format_readings(
        ladder.ladder_readings(rows, ['2k', 'mid', '20k']))


def test_a_protocol_with_variants_runs_each_curriculum_variant_and_pairs_them_by_name(tmp_path, nb201_table):
    """Variants of the curriculum (the study of what the weights do): each curriculum run once per
    variant, the variant in its name and its options in its record; plain runs once; the table
    names each variant by what differs from the paper's method."""
    protocol = Protocol.load(write_protocol(tmp_path / 'study.yaml', variants={
        'permuted': {'weighting': 'permuted'}, 'alpha-half': {'alpha': 0.5}, 'start-half': {'curriculum_start': 0.5}}))
    # (yaml.safe_dump writes the variants in alphabetical order; the protocol keeps the file's)
    assert [run.name for run in protocol.grid()] == ['rsps-none-s0', 'rsps-epoch-alpha-half-s0',
                                                     'rsps-epoch-permuted-s0', 'rsps-epoch-start-half-s0']
    records = run_protocol(protocol, tmp_path / 'study.jsonl', tmp_path / 'runs')
    assert [variant(r) for r in records] == ['none', 'epoch alpha=0.5', 'epoch permuted', 'epoch start=0.5']
    assert records[2]['options'] == dict(TINY_SEARCH, weighting='permuted', k=2)
    config = yaml.safe_load((tmp_path / 'runs' / 'rsps-epoch-alpha-half-s0' / 'config.yaml').read_text())['config']
    assert (config['alpha'], config['weighting']) == (0.5, 'proportional')
    assert len(run_protocol(protocol, tmp_path / 'study.jsonl', tmp_path / 'runs')) == 4  # all skipped now
    # A partial run (one strategy of several) shares the results file with the other strategies' runs.
    wider = Protocol.load(write_protocol(tmp_path / 'study.yaml', strategies=['rsps', 'gdas'], variants={
        'permuted': {'weighting': 'permuted'}, 'alpha-half': {'alpha': 0.5}, 'start-half': {'curriculum_start': 0.5}}))
    records = run_protocol(wider.select(strategies=['gdas']), tmp_path / 'study.jsonl', tmp_path / 'runs')
    assert [r['run'] for r in records] == ['gdas-none-s0', 'gdas-epoch-alpha-half-s0', 'gdas-epoch-permuted-s0',
                                           'gdas-epoch-start-half-s0']
