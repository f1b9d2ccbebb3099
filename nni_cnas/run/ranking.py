"""Ranking quality of a trained supernet: how well its inherited-weight accuracies order cells.

After a search, the supernet's accuracy of a fixed set of random NAS-Bench-201 cells (inherited
weights, one pass over held-out validation images) is compared with their benchmark accuracy:
Kendall's tau over the set, and the true rank of the supernet's top cells. This is the measure
of the CLOSE paper; it is less noisy than the single cell a search exports.
"""

from __future__ import annotations

import random
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..spaces.nb201_arch import EDGES, OPS, format_arch

__all__ = ['random_cells', 'kendall_tau', 'ranking_quality', 'supernet_accuracies', 'ranking_batches', 'rank_supernet']

#: The random cells of every ranking use this seed, so every run is scored on the same cells.
CELL_SEED = 2022
#: Cells of the NAS-Bench-201 space.
TOTAL_CELLS = len(OPS) ** len(EDGES)


def random_cells(count: int, seed: int = CELL_SEED, exclude: Sequence[str] = ()) -> List[str]:
    """``count`` distinct cells drawn uniformly from the 15,625 of NAS-Bench-201 that are not in
    ``exclude``, in a fixed order (without ``exclude``, the same draw as ever for a seed)."""
    excluded = set(exclude)
    if not 0 < count <= TOTAL_CELLS - len(excluded):
        raise ValueError(f'count must be between 1 and {TOTAL_CELLS - len(excluded)}, not {count}')
    cells = []
    for index in random.Random(seed).sample(range(TOTAL_CELLS), count + len(excluded)):
        ops = []
        for _ in EDGES:
            index, op = divmod(index, len(OPS))
            ops.append(OPS[op])
        cell = format_arch(ops)
        if cell not in excluded:
            cells.append(cell)
    return cells[:count]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two score lists (ties in either list counted as neither concordant nor
    discordant, with the tau-b normalisation): ``scipy.stats.kendalltau``, O(n log n) time and
    O(n) memory (all 15,625 cells at once); NaN when either list is constant."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError('kendall_tau needs two lists of the same length, at least 2')
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float('nan')
    return float(stats.kendalltau(x, y).statistic)


def _ranks_descending(values: Sequence[float]) -> np.ndarray:
    """1 for the largest value; ties share the best rank among them."""
    values = np.asarray(values, dtype=float)
    return np.array([1 + int(np.count_nonzero(values > v)) for v in values])


def ranking_quality(supernet_acc: Sequence[float], true_acc: Sequence[float], top: int = 10) -> Dict:
    """Kendall's tau, and where the supernet's ``top`` cells really rank among the scored cells
    (1 = the best of them by the benchmark); supernet ties are broken by cell order."""
    supernet_acc, true_acc = list(supernet_acc), list(true_acc)
    if len(supernet_acc) != len(true_acc):
        raise ValueError('one true accuracy per supernet accuracy is needed')
    top = min(top, len(supernet_acc))
    chosen = sorted(range(len(supernet_acc)), key=lambda i: (-supernet_acc[i], i))[:top]
    true_ranks = _ranks_descending(true_acc)
    return {
        'kendall_tau': kendall_tau(supernet_acc, true_acc),
        'cells': len(supernet_acc),
        f'top{top}_true_ranks': [int(true_ranks[i]) for i in chosen],
        f'top{top}_mean_true_acc': float(np.mean([true_acc[i] for i in chosen])),
        'best_true_acc': float(max(true_acc)),
    }


def supernet_accuracies(search_module, cells: Sequence[str], batches: Sequence[Tuple[torch.Tensor, torch.Tensor]]
                        ) -> List[float]:
    """Accuracy of each cell with the supernet's weights, in evaluation mode without autograd, over
    the same un-augmented validation ``batches`` ``(x, y)``.

    The searched cells' BatchNorm keeps no running statistics (NATS-Bench's search setting), so
    each batch is normalised with its own statistics: use batches of a hundred or more samples.
    """
    from ..spaces.nb201_arch import arch_to_sample
    from ..strategies.losses import evaluation_mode
    from ..arch.supernet import fixed_architecture
    from ..progress import progress

    total = sum(len(y) for _, y in batches)
    accuracies = []
    with evaluation_mode(search_module):
        for cell in progress(cells, getattr(search_module, 'progress_bar', None), 'ranking cells', len(cells), 'cell'):
            correct = 0
            with fixed_architecture(search_module.model, arch_to_sample(cell)):
                for x, y in batches:
                    correct += int((search_module.training_module(x).argmax(1) == y).sum())
            accuracies.append(correct / total)
    return accuracies


def ranking_batches(search_module, val_loader, samples: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The first ``samples`` validation images in a fixed order, without augmentation, on the module's
    device: what every ranking scores cells on."""
    device = next(search_module.parameters()).device
    view = val_loader.view(shuffle=False, augment=None, batch_size=256, with_index=False)
    batches, seen = [], 0
    for x, y in view:
        keep = min(len(y), samples - seen)
        batches.append((x[:keep].to(device), y[:keep].to(device)))
        seen += keep
        if seen >= samples:
            break
    return batches


def rank_supernet(search_module, val_loader, cells: int, samples: int, lookup=None,
                  dataset: str = 'cifar10', cell_seed: int = CELL_SEED, exclude: Sequence[str] = ()
                  ) -> Tuple[List[Dict], Dict]:
    """Score :func:`random_cells` ``(cells, cell_seed, exclude)`` on the first ``samples`` validation
    images (in a fixed order, without augmentation); with a benchmark ``lookup``, also their benchmark
    test accuracy on ``dataset`` and the :func:`ranking_quality`. Returns ``(rows, summary)``."""
    batches = ranking_batches(search_module, val_loader, samples)
    seen = sum(len(y) for _, y in batches)
    archs = random_cells(cells, cell_seed, exclude)
    supernet_acc = supernet_accuracies(search_module, archs, batches)
    rows = [{'arch': arch, 'supernet_acc': acc} for arch, acc in zip(archs, supernet_acc)]
    summary: Dict = {'cells': len(archs), 'samples': seen, 'cell_seed': cell_seed,
                     **({'excluded_cells': len(set(exclude))} if exclude else {})}
    if lookup is not None:
        for row in rows:
            row['benchmark_test_acc'] = lookup(row['arch'])[dataset]['test']
        summary.update(ranking_quality(supernet_acc, [row['benchmark_test_acc'] for row in rows]))
        summary['benchmark_dataset'] = dataset
    return rows, summary
