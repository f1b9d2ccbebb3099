"""Drawings of found cells (``cells.png`` of a run folder): DARTS, NASNet and recurrent genotypes."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

from ..figures import pyplot, save_figure

__all__ = ['plot_cells']


def plot_cells(genotype, path: Path) -> None:
    """The cells of a genotype as graphs: inputs left, nodes by depth, output right; each edge
    labelled with its op (NASNet blocks also with their combine). DARTS/NASNet: both cells;
    recurrent: the one cell."""
    plt = pyplot()
    if genotype.space == 'rnn':
        figure, axis = plt.subplots(1, 1, figsize=(9, 5.2))
        nodes = tuple(((op, index),) for op, index in genotype.recurrent)
        _draw_cell(axis, 'recurrent cell', nodes, genotype.concat, ('x_t, h_{t-1}',), 'h_t (mean)', first_number=1)
    else:
        figure, axes = plt.subplots(1, 2, figsize=(13, 5.2))
        for axis, (name, cell) in zip(axes, genotype.cells().items()):
            _draw_cell(axis, f'{name} cell', cell.nodes, cell.concat, ('c_{k-2}', 'c_{k-1}'), 'c_{k}', cell.combine)
    save_figure(figure, path)
    plt.close(figure)


def _draw_cell(axis, title: str, nodes, concat, input_labels, output_label: str, combine=None,
               first_number: int = 0) -> None:
    """One cell: ``nodes[n]`` lists its ``(op, input)`` pairs, inputs indexed with the cell's inputs
    first; nodes are labelled from ``first_number``."""
    count, first = len(nodes), len(input_labels)
    depth = [0] * first
    for node in nodes:
        depth.append(1 + max(depth[index] for _, index in node))
    top = max(depth) + 1
    rows: Dict[int, int] = {}
    position = {}
    for index in range(first + count):
        row = rows.get(depth[index], 0)
        rows[depth[index]] = row + 1
        position[index] = (depth[index], -row - (0.5 if depth[index] % 2 else 0))
    output = (top, -(count - 1) / 2)
    for n, node in enumerate(nodes):
        target = position[first + n]
        for (op, index), offset in zip(node, (0.08, -0.08) if len(node) > 1 else (0.08,)):
            source = position[index]
            axis.annotate('', xy=target, xytext=source,
                          arrowprops=dict(arrowstyle='->', color='0.35', shrinkA=14, shrinkB=14))
            axis.text((source[0] + target[0]) / 2, (source[1] + target[1]) / 2 + offset, op, fontsize=7,
                      ha='center', va='center', color='tab:blue',
                      bbox=dict(boxstyle='round,pad=0.1', fc='white', ec='none', alpha=0.8))
    for index in concat:
        axis.annotate('', xy=output, xytext=position[index],
                      arrowprops=dict(arrowstyle='->', color='0.75', linestyle='--', shrinkA=14, shrinkB=14))
    for index, (x, y) in position.items():
        text = input_labels[index] if index < first else str(index - first + first_number)
        if index >= first and combine is not None:
            text += f'\n{combine[index - first]}'
        color = 'tab:green' if index < first else 'lightblue'
        axis.text(x, y, text, ha='center', va='center', fontsize=8,
                  bbox=dict(boxstyle='round', fc=color, ec='0.3'))
    axis.text(*output, output_label, ha='center', va='center', fontsize=8,
              bbox=dict(boxstyle='round', fc='gold', ec='0.3'))
    axis.set_xlim(-0.6, top + 0.6)
    lowest = min(y for _, y in position.values())
    axis.set_ylim(lowest - 0.8, 0.8)
    axis.set_title(title)
    axis.axis('off')
