"""Ranking quality: Kendall's tau by hand and against scipy, the top-10 true ranks, the
random cells, and the supernet's accuracy of a cell against NNI's frozen network of that cell."""

from __future__ import annotations

import csv
import json
import math
import random
import tracemalloc

import numpy as np
import pytest
import torch

from nni_cnas.run.ranking import kendall_tau, random_cells, rank_supernet, ranking_quality, supernet_accuracies
from nni_cnas.spaces.nb201_arch import arch_to_sample, parse_arch
from nni_cnas.strategies import RSPS

from helpers import run_tiny_search, standalone_from_supernet


def test_kendall_tau_by_hand():
    # Pairs of (1,2,3,4) against (1,3,2,4): 5 concordant, 1 discordant (the 2-3 pair) -> 4/6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # One tie in x: pairs (1,2)=+1, (1,3)=+1, (2,3) tied in x; tau-b = 2 / sqrt(2 * 3).
    assert kendall_tau([1, 2, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))


def pairwise_tau(a, b) -> float:
    """Kendall's tau-b over every pair (the O(n^2) count this project used before scipy's)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    upper = np.triu_indices(len(x), k=1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    return float((dx * dy).sum() / np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy)))


@pytest.mark.parametrize('seed', range(5))
def test_kendall_tau_equals_the_pairwise_count_with_ties(seed):
    rng = random.Random(seed)
    a = [rng.randint(0, 6) for _ in range(40)]
    b = [x + rng.randint(-3, 3) for x in a]
    assert kendall_tau(a, b) == pytest.approx(pairwise_tau(a, b), abs=1e-12)


def test_kendall_tau_of_every_cell_needs_no_quadratic_memory():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 50, 15625)
    b = a + rng.integers(-20, 20, 15625)
    tracemalloc.start()
    tau = kendall_tau(a, b)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0 < tau < 1 and peak < 50e6  # the pairwise count would take ~6.8 GB


def test_ranking_quality_names_the_true_ranks_of_the_supernets_top_cells():
    supernet = [0.9, 0.1, 0.5, 0.7]
    true = [60.0, 90.0, 80.0, 70.0]  # true ranks: 4, 1, 2, 3
    summary = ranking_quality(supernet, true, top=2)
    assert summary['top2_true_ranks'] == [4, 3]  # the supernet's best two are cells 0 and 3
    assert summary['top2_mean_true_acc'] == pytest.approx(65.0)
    assert summary['best_true_acc'] == 90.0
    assert summary['kendall_tau'] == pytest.approx(kendall_tau(supernet, true))


def test_random_cells_are_distinct_valid_and_fixed():
    cells = random_cells(200)
    assert len(set(cells)) == 200 and cells == random_cells(200)
    for cell in cells:
        parse_arch(cell)
    assert len(set(random_cells(15625))) == 15625  # every cell reachable
    with pytest.raises(ValueError):
        random_cells(0)


def test_random_cells_without_some_are_the_same_draw_with_those_passed_over():
    first = random_cells(200)
    second = random_cells(200, seed=2023, exclude=first)
    assert len(set(second)) == 200 and not set(second) & set(first) and second == random_cells(200, 2023, first)
    # Without exclusions the draw is the one every earlier ranking used; an exclusion only skips cells.
    assert random_cells(50, seed=7, exclude=()) == random_cells(50, seed=7)
    drawn = random_cells(60, seed=7)
    assert random_cells(50, seed=7, exclude=drawn[:10]) == drawn[10:60]
    with pytest.raises(ValueError):
        random_cells(15625, exclude=first)


def test_supernet_accuracy_of_a_cell_is_the_accuracy_of_its_standalone_network(digits):
    search_module = _trained_search_module(digits)
    loader = digits.loaders(16, 0)['val'].view(shuffle=False, augment=None, batch_size=32, with_index=False)
    batches = list(loader)
    cells = random_cells(3, seed=1)
    ours = supernet_accuracies(search_module, cells, batches)
    for cell, accuracy in zip(cells, ours):
        frozen = standalone_from_supernet(search_module.model, arch_to_sample(cell), channels=4, cells=1,
                                          num_classes=10, in_channels=1).eval()
        with torch.no_grad():
            correct = sum(int((frozen(x).argmax(1) == y).sum()) for x, y in batches)
        assert accuracy == pytest.approx(correct / sum(len(y) for _, y in batches))


def _trained_search_module(digits):
    strategy = RSPS()
    run_tiny_search(strategy, digits, epochs=1)
    return strategy.search_module


def test_search_with_rank_cells_writes_ranking_csv_and_summary(tmp_path, nb201_table):
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.search import run_search

    config = SearchConfig(strategy='rsps', curriculum='none', dataset='digits', subset=48, epochs=1, channels=4,
                          cells=1, batch_size=16, num_candidates=4, selection_size=32, rank_cells=12,
                          rank_samples=40, out=str(tmp_path / 'run'), progress_bar=False)
    result = run_search(config)
    ranking = result['ranking']
    assert ranking['cells'] == 12 and ranking['samples'] == 40 and -1 <= ranking['kendall_tau'] <= 1
    assert len(ranking['top10_true_ranks']) == 10 and all(1 <= r <= 12 for r in ranking['top10_true_ranks'])
    with open(tmp_path / 'run' / 'ranking.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [row['arch'] for row in rows] == random_cells(12)
    assert json.loads((tmp_path / 'run' / 'result.json').read_text())['ranking'] == ranking


def test_rank_supernet_without_a_benchmark_still_scores_cells(digits):
    search_module = _trained_search_module(digits)
    rows, summary = rank_supernet(search_module, digits.loaders(16, 0)['val'], cells=5, samples=20)
    assert len(rows) == 5 and 'kendall_tau' not in summary and summary['samples'] == 20
    assert all(0 <= row['supernet_acc'] <= 1 for row in rows)


@pytest.mark.parametrize('close', [False, True])
def test_a_finished_search_scored_again_gives_its_own_tau_and_a_second_cell_set(tmp_path, close):
    """The supernet is rebuilt from the run folder and its last checkpoint: its own cells score as they
    did at the end of the search (to the bit; CLOSE's gate and blocks included), and another seed's
    cells are none of them."""
    from nni_cnas.errors import UserError
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.rescore import ranking_file, rescore_run
    from nni_cnas.run.search import run_search

    run = tmp_path / 'run'
    config = SearchConfig(strategy='rsps', curriculum='none', dataset='digits', subset=48, epochs=3, channels=4,
                          cells=1, batch_size=16, num_candidates=4, selection_size=32, rank_cells=12, rank_samples=40,
                          close=close, close_epochs='1,2' if close else None, out=str(run), progress_bar=False,
                          keep_checkpoints=0)
    result = run_search(config)
    assert sorted(p.name for p in (run / 'checkpoints').iterdir()) == [f'epoch-000{e}.ckpt' for e in range(3)]
    again = rescore_run(run, cells=12, cell_seed=2022)  # the search's own seed: its own cells again
    assert {key: again[key] for key in result['ranking']} == result['ranking']
    earlier = rescore_run(run, cells=12, cell_seed=2022, epoch=0)  # the supernet of the first epoch
    assert (run / ranking_file(2022, 0)).is_file() and earlier['kendall_tau'] != again['kendall_tau']
    with pytest.raises(UserError, match='between 0 and 2'):
        rescore_run(run, cells=12, cell_seed=2022, epoch=3)
    second = rescore_run(run, cells=12, cell_seed=2023)
    with open(run / ranking_file(2023), newline='') as f:
        rows = list(csv.DictReader(f))
    assert [row['arch'] for row in rows] == random_cells(12, 2023, exclude=random_cells(12))
    assert second['cell_seed'] == 2023 and second['excluded_cells'] == 12 and second['samples'] == 40
    with pytest.raises(UserError, match='between 1 and'):
        rescore_run(run, cells=15625, cell_seed=2023)
    (run / 'status.json').write_text(json.dumps({'state': 'interrupted'}))
    with pytest.raises(UserError, match='has not finished'):
        rescore_run(run, cells=12, cell_seed=2023)
    with pytest.raises(UserError, match='not a run folder'):
        rescore_run(tmp_path, cells=12, cell_seed=2023)
