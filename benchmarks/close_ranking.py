"""Is a CLOSE supernet's ranking CLOSE's, or a defect? What its ranking pass does, from finished runs.

For each run folder (searches run with ``--keep-checkpoints 0``, so that every epoch's supernet is kept;
with ``--last-epoch``, any finished search, its last epoch only): Kendall tau over the search's own 200
cells at the end of every epoch (a trace over training, with CLOSE's growth epochs), scored as the
search scores them (evaluation mode; CLOSE's gate takes each edge's argmax block). For a CLOSENet, at
its last epoch also: tau with every edge forced onto one block (each block in turn: do the gate's
assignments rank better or worse than one shared set of weights?), with each edge's block drawn as
training draws it (the gate's logits plus Gumbel noise, as the authors' code evaluates), and what the
gate assigns over those cells (how many distinct assignments, each block's share of the edges, how
decided it is).

    .venv/bin/python benchmarks/close_ranking.py runs/close-rsps-s100 runs/plain-rsps-s100 \
        --json benchmarks/results/close-ranking.json --png benchmarks/results/close-ranking.png
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_logger = logging.getLogger('close_ranking')
#: Seeds of the Gumbel draws of the sampled-blocks scoring (one tau each).
SAMPLED_SEEDS = (0, 1, 2)


@contextlib.contextmanager
def blocks_forced(space, block: int):
    """Every edge of every cell on ``block`` (within the pool's active blocks), whatever the gate says."""
    from nni_cnas.spaces.close import BlockAssignment
    from nni_cnas.spaces.nb201_arch import EDGES

    space.assignment = lambda: BlockAssignment([block] * len(EDGES))
    try:
        yield
    finally:
        del space.assignment


@contextlib.contextmanager
def blocks_sampled(space, seed: int):
    """Each forward's blocks drawn from the gate as training draws them (argmax of logits plus Gumbel
    noise; the authors' code evaluates with such a draw), from a generator of ``seed``."""
    import torch

    from nni_cnas.spaces.close import BlockAssignment

    generator = torch.Generator().manual_seed(seed)

    def draw():
        logits = space.gate.logits(space.op_distribution(), int(space.active_blocks))
        noise = -torch.empty(logits.shape, dtype=logits.dtype).exponential_(generator=generator).log()
        return BlockAssignment((logits + noise.to(logits.device)).argmax(dim=-1).tolist())

    space.assignment = draw
    try:
        yield
    finally:
        del space.assignment


def gate_assignments(search_module, cells):
    """The gate's argmax block of each edge for each cell, as the ranking pass computes it, and the
    gate's probability of the most likely block per cell and edge (how decided training's draws were)."""
    import torch

    from nni_cnas.arch.supernet import fixed_architecture
    from nni_cnas.spaces.nb201_arch import arch_to_sample
    from nni_cnas.strategies.losses import evaluation_mode

    space = search_module.model
    assignments, top_probs = [], []
    with evaluation_mode(search_module), torch.no_grad():
        for cell in cells:
            with fixed_architecture(space, arch_to_sample(cell)):
                assignments.append(tuple(space.assignment().indices))
                logits = space.gate.logits(space.op_distribution(), int(space.active_blocks))
                top_probs.append(torch.softmax(logits, -1).max(-1).values.mean().item())
    return assignments, sum(top_probs) / len(top_probs)


def analyse(folder: Path, last_only: bool = False):
    from nni_cnas.run.ranking import kendall_tau, random_cells, ranking_batches, supernet_accuracies
    from nni_cnas.run.rescore import epoch_checkpoint, load_finished_search, load_weights
    from nni_cnas.spaces.close import CloseNasBench201Space

    search = load_finished_search(folder)
    config, module = search.config, search.search_module
    cells = random_cells(config.rank_cells)
    true = [search.benchmark.lookup(cell)[search.benchmark_dataset]['test'] for cell in cells]
    batches = ranking_batches(module, search.val_loader, config.rank_samples)
    space = module.model
    close = isinstance(space, CloseNasBench201Space)
    trace = []
    for epoch in [config.epochs - 1] if last_only else range(config.epochs):
        load_weights(module, epoch_checkpoint(folder, config.epochs, epoch))
        tau = kendall_tau(supernet_accuracies(module, cells, batches), true)
        trace.append({'epoch': epoch, 'kendall_tau': tau, **({'blocks': int(space.active_blocks)} if close else {})})
        _logger.info('%s epoch %d: tau %.3f', folder.name, epoch, tau)
    report = {'run': folder.name, 'close': close, 'seed': config.seed, 'trace': trace}
    if close:  # the last epoch's supernet (loaded last above)
        load_weights(module, epoch_checkpoint(folder, config.epochs))
        blocks = int(space.active_blocks)
        report['growth_epochs'] = space.schedule(config.epochs)
        forced = {}
        for block in range(blocks):
            with blocks_forced(space, block):
                forced[block] = kendall_tau(supernet_accuracies(module, cells, batches), true)
        report['forced_block_tau'] = forced
        sampled = []
        for seed in SAMPLED_SEEDS:
            with blocks_sampled(space, seed):
                sampled.append(kendall_tau(supernet_accuracies(module, cells, batches), true))
        report['sampled_blocks_tau'] = sampled
        assignments, top_prob = gate_assignments(module, cells)
        usage = Counter(block for assignment in assignments for block in assignment)
        edges = sum(usage.values())
        report['gate'] = {'distinct_assignments': len(set(assignments)), 'cells': len(cells),
                          'block_share': {b: usage.get(b, 0) / edges for b in range(blocks)},
                          'most_common': [list(a) for a, _ in Counter(assignments).most_common(3)],
                          'mean_top_block_probability': top_prob}
    return report


def plot(reports, path: Path) -> None:
    from nni_cnas.figures import pyplot, save_figure

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    for report in reports:
        epochs = [1 + point['epoch'] for point in report['trace']]
        axes.plot(epochs, [point['kendall_tau'] for point in report['trace']], marker='o', markersize=3,
                  label=f'{report["run"]}' + (' (CLOSE)' if report['close'] else ''),
                  linestyle='-' if report['close'] else '--')
        for growth in report.get('growth_epochs', []):
            axes.axvline(1 + growth, color='grey', linewidth=0.6, linestyle=':')
    axes.set_xlabel('epoch (dotted: a CLOSE block added at its start)')
    axes.set_ylabel('Kendall tau, the search\'s own cells')
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def main():
    from nni_cnas.files import atomic_write_json
    from nni_cnas.quiet import quiet_libraries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', type=Path, help='run folders (searched with --keep-checkpoints 0)')
    parser.add_argument('--json', type=Path, required=True)
    parser.add_argument('--png', type=Path)
    parser.add_argument('--last-epoch', action='store_true',
                        help='no trace: only the last epoch (runs searched with the default --keep-checkpoints)')
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    quiet_libraries()
    reports = [analyse(folder, args.last_epoch) for folder in args.runs]
    atomic_write_json(args.json, reports)
    if args.png:
        plot(reports, args.png)
    for report in reports:
        final = report['trace'][-1]['kendall_tau']
        line = f'{report["run"]}: tau at the end {final:.3f}, best {max(p["kendall_tau"] for p in report["trace"]):.3f}'
        if report['close']:
            forced = ', '.join(f'block {b} {tau:.3f}' for b, tau in report['forced_block_tau'].items())
            gate = report['gate']
            sampled = ', '.join(f'{tau:.3f}' for tau in report['sampled_blocks_tau'])
            line += (f'; every edge on one block: {forced}; blocks drawn as in training: {sampled}; the gate: '
                     f'{gate["distinct_assignments"]} distinct assignments over {gate["cells"]} cells, block shares '
                     + ', '.join(f'{b}: {share:.2f}' for b, share in gate['block_share'].items())
                     + f', top block probability {gate["mean_top_block_probability"]:.2f}')
        print(line)


if __name__ == '__main__':
    main()
