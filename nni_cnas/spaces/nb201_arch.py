"""NAS-Bench-201 architectures as strings and as NNI samples: the one mapping between them.

Pure Python (no torch), so that look-ups and input checks are fast. Labels are those of NNI's
``NasBench201Cell``: ``cell/{j}_{i}`` for the edge from node j to node i.
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, Iterator, Mapping, Tuple

from ..errors import UserError

__all__ = [
    'OPS', 'EDGES', 'LABELS', 'NNI_HUB_ALIASES', 'ArchStringError',
    'parse_arch', 'format_arch', 'arch_to_sample', 'sample_to_arch', 'all_archs',
]

OPS: Tuple[str, ...] = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
NUM_NODES = 4
#: Edges ``(from_node, to_node)`` in the order of the arch string.
EDGES: Tuple[Tuple[int, int], ...] = tuple((j, i) for i in range(1, NUM_NODES) for j in range(i))
#: NNI labels of the edges, in the same order.
LABELS: Tuple[str, ...] = tuple(f'cell/{j}_{i}' for j, i in EDGES)
#: Op names of NNI's hub ``NasBench201`` space that differ from the benchmark's.
NNI_HUB_ALIASES = {'conv_3x3': 'nor_conv_3x3', 'conv_1x1': 'nor_conv_1x1'}


class ArchStringError(UserError):
    """Not an architecture of the NAS-Bench-201 space."""


def parse_arch(arch: str) -> Tuple[str, ...]:
    """The 6 edge ops of a NAS-Bench-201 arch string, in :data:`EDGES` order; strict."""
    example = '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
    if not isinstance(arch, str):
        raise ArchStringError(f'an arch string must be a str, not {type(arch).__name__}')
    groups = arch.strip().split('+')
    if len(groups) != NUM_NODES - 1:
        raise ArchStringError(f'{arch!r} is not a NAS-Bench-201 arch string (want 3 "+"-separated nodes, like {example})')
    ops = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith('|') and group.endswith('|')) or len(group) < 2:
            raise ArchStringError(f'{arch!r}: node {node} must look like |op~input|...|, e.g. {example}')
        edges = group[1:-1].split('|')
        if len(edges) != node:
            raise ArchStringError(f'{arch!r}: node {node} must have {node} incoming edge(s), found {len(edges)}')
        for source, edge in enumerate(edges):
            op, sep, index = edge.partition('~')
            if not sep or index != str(source):
                raise ArchStringError(f'{arch!r}: edge {edge!r} of node {node} must be "op~{source}"')
            if op not in OPS:
                raise ArchStringError(f'{arch!r}: unknown op {op!r}; NAS-Bench-201 ops are {", ".join(OPS)}')
            ops.append(op)
    return tuple(ops)


def format_arch(ops) -> str:
    ops = list(ops)
    groups, position = [], 0
    for node in range(1, NUM_NODES):
        groups.append('|' + '|'.join(f'{ops[position + j]}~{j}' for j in range(node)) + '|')
        position += node
    return '+'.join(groups)


def arch_to_sample(arch: str) -> Dict[str, str]:
    """NNI sample (``{'cell/0_1': 'nor_conv_3x3', ...}``) of an arch string."""
    return dict(zip(LABELS, parse_arch(arch)))


def sample_to_arch(sample: Mapping[str, Any]) -> str:
    """Arch string of an NNI sample of this space or of NNI's hub ``NasBench201`` space."""
    missing = [label for label in LABELS if label not in sample]
    if missing:
        raise ArchStringError(f'not a NAS-Bench-201 sample: no value for {", ".join(missing)}')
    ops = []
    for label in LABELS:
        op = NNI_HUB_ALIASES.get(sample[label], sample[label])
        if op not in OPS:
            raise ArchStringError(f'not a NAS-Bench-201 sample: {label}={sample[label]!r} is not one of {", ".join(OPS)}')
        ops.append(op)
    return format_arch(ops)


def all_archs() -> Iterator[str]:
    """All 15,625 cells (in odometer order over :data:`EDGES`, not the benchmark's index order)."""
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        yield format_arch(ops)
