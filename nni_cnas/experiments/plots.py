"""Figures from run folders: rank traces (paper Fig. 4) and accuracy against K (paper Fig. 5).
matplotlib draws off screen (Agg), so they work on a headless machine."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ..figures import pyplot, save_figure

__all__ = ['plot_rank_traces', 'plot_accuracy_against_k', 'plot_quality', 'plot_search_curves', 'plot_weight_histograms']


def plot_rank_traces(traces: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> None:
    """One panel per run (its policy), one line per traced architecture: rank against epoch."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, len(traces), figsize=(5 * len(traces), 3.6), squeeze=False, sharey=True)
    for axis, (run_name, rows) in zip(axes[0], traces.items()):
        for name in dict.fromkeys(row['name'] for row in rows):
            points = [(row['epoch'] + 1, row['rank']) for row in rows if row['name'] == name]
            axis.plot(*zip(*points), marker='o', markersize=3, label=name)
        axis.set_yscale('log')
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(f'policy of {run_name}', fontsize=9)
        axis.set_xlabel('epoch')
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel('rank under the policy (1 = most probable)')
    axes[0][-1].legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def plot_accuracy_against_k(points: Sequence[Tuple[int, float]], path: Path, metric: str,
                            title: str = '') -> Dict[int, Tuple[float, float, int]]:
    """Mean and std over seeds per K (K=0 is the plain strategy, drawn as a line with its band).
    Returns ``{k: (mean, std, runs)}``."""
    by_k: Dict[int, List[float]] = {}
    for k, value in points:
        by_k.setdefault(k, []).append(value)
    summary = {k: (statistics.fmean(v), statistics.pstdev(v), len(v)) for k, v in sorted(by_k.items())}
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.6))
    curriculum = [(k, s) for k, s in summary.items() if k > 0]
    if curriculum:
        ks = [k for k, _ in curriculum]
        axis.errorbar(ks, [s[0] for _, s in curriculum], yerr=[s[1] for _, s in curriculum], marker='o',
                      capsize=3, label='curriculum')
        axis.set_xticks(ks)
    if 0 in summary:
        mean, std, _ = summary[0]
        axis.axhline(mean, color='gray', linestyle='--', label='plain')
        axis.axhspan(mean - std, mean + std, color='gray', alpha=0.15)
    axis.set_xlabel('K (subnets measuring uncertainty)')
    axis.set_ylabel(metric)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)
    return summary


def plot_quality(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Search-quality protocol: look-up test accuracy and Kendall's tau per strategy, one marker per
    seed and the mean, each curriculum setting side by side."""
    plt = pyplot()
    from .quality import variant

    strategies = list(dict.fromkeys(r['strategy'] for r in records))
    curricula = list(dict.fromkeys(variant(r) for r in records))
    panels = [('look-up test accuracy (%)', lambda r: r.get('test_acc')),
              ('Kendall tau, supernet vs NAS-Bench-201', lambda r: (r.get('ranking') or {}).get('kendall_tau'))]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), squeeze=False)
    width = 0.7 / max(1, len(curricula))
    for axis, (label, value) in zip(axes[0], panels):
        for c, curriculum in enumerate(curricula):
            offset = (c - (len(curricula) - 1) / 2) * width
            for s, strategy in enumerate(strategies):
                values = [value(r) for r in records if r['strategy'] == strategy and variant(r) == curriculum]
                values = [v for v in values if v is not None]
                if not values:
                    continue
                x = s + offset
                axis.scatter([x] * len(values), values, s=14, alpha=0.6, color=f'C{c}',
                             label=curriculum if s == 0 else None)
                axis.hlines(statistics.fmean(values), x - width / 2.5, x + width / 2.5, color=f'C{c}', linewidth=2)
        axis.set_xticks(range(len(strategies)))
        axis.set_xticklabels(strategies)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3, axis='y')
    axes[0][0].legend(title='curriculum', fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def plot_search_curves(runs, path: Path) -> None:
    """Per epoch, one line per run: train accuracy, and the current cell's validation accuracy and
    look-up test accuracy (where recorded)."""
    plt = pyplot()
    panels = [('train accuracy (%)', lambda m: 100 * m.train_acc if m.train_acc is not None else None),
              ('current cell: validation accuracy (%)', lambda m: 100 * m.val_acc if m.val_acc is not None else None),
              ('current cell: look-up test accuracy (%)', lambda m: m.lookup_test)]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for axis, (label, value) in zip(axes[0], panels):
        for number, run in enumerate(runs):
            points = [(m.epoch + 1, value(m)) for m in run.metrics if value(m) is not None]
            if points:
                plain = run.config.get('curriculum') == 'none' or not run.config.get('k')
                axis.plot(*zip(*points), marker='o', markersize=3, color=f'C{number % 10}',
                          linestyle='--' if plain else '-', label=run.label)
        axis.set_xlabel('epoch')
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    save_figure(figure, path)
    plt.close(figure)


def plot_weight_histograms(runs, path: Path) -> bool:
    """One panel per run with data weights: samples per weight bin (x) and epoch (y), log colour.
    Returns False (and draws nothing) when no run recorded weights."""
    import numpy as np

    from ..curriculum.weights import HISTOGRAM_BIN, HISTOGRAM_BINS

    with_weights = []
    for run in runs:
        recorded = [m for m in run.metrics if (m.data_weights or {}).get('histogram')]
        rows = [(m.epoch + 1, m.data_weights['histogram']) for m in recorded]
        if any((m.data_weights.get('gini') or 0) > 0 for m in recorded):  # plain runs: all weights 1
            with_weights.append((run, rows))
    if not with_weights:
        return False
    plt = pyplot()
    figure, axes = plt.subplots(1, len(with_weights), figsize=(4.6 * len(with_weights), 3.6), squeeze=False)
    for axis, (run, rows) in zip(axes[0], with_weights):
        counts = np.array([histogram for _, histogram in rows], dtype=float)
        image = axis.imshow(np.log10(1 + counts), aspect='auto', origin='lower', cmap='viridis',
                            extent=(0, HISTOGRAM_BIN * HISTOGRAM_BINS, rows[0][0] - 0.5, rows[-1][0] + 0.5))
        axis.axvline(1.0, color='white', linewidth=0.8, linestyle=':')
        axis.set_xlabel(f'data weight (last bin: {HISTOGRAM_BIN * (HISTOGRAM_BINS - 1):.1f} and above)')
        axis.set_ylabel('epoch')
        axis.set_title(run.label, fontsize=8)
        figure.colorbar(image, ax=axis, label='log10(1 + samples)')
    save_figure(figure, path)
    plt.close(figure)
    return True
