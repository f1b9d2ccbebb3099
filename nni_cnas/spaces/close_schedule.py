"""CLOSE's schedule of its block pools: how many blocks, and at which epochs a block is added.
Pure Python, so that search configs are checked without building a network."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

__all__ = ['GROWTH_FRACTION', 'DEFAULT_BLOCKS', 'default_growth_epochs', 'check_growth_epochs', 'blocks_at',
           'growth_epochs_of', 'check_close_options']

#: CLOSE's NAS-Bench-201 setting: 1000 epochs, a new block at epochs 201, 401 and 601 (1-based),
#: that is after each fifth of the budget. Scaled to other budgets by :func:`default_growth_epochs`.
GROWTH_FRACTION = 0.2
#: Blocks the pool grows to by default (CLOSE's NAS-Bench-201 setting: 1 + 3 added).
DEFAULT_BLOCKS = 4


def default_growth_epochs(blocks: int, epochs: int) -> List[int]:
    """0-based epochs at which the pool grows to 2, 3, ... ``blocks`` blocks: CLOSE's schedule (a new
    block after each fifth of the epochs) scaled to ``epochs``. Raises ValueError when the budget
    cannot hold that many distinct steps."""
    if blocks < 1:
        raise ValueError(f'CLOSE needs at least one block, not {blocks}')
    growth = [math.floor(epochs * GROWTH_FRACTION * b + 0.5) for b in range(1, blocks)]
    try:
        check_growth_epochs(growth, epochs)
    except ValueError:
        raise ValueError(f'CLOSE\'s default schedule (a new block after each fifth of the epochs) cannot place '
                         f'{blocks - 1} new blocks in {epochs} epochs; use fewer blocks or give the growth epochs') from None
    return growth


def check_growth_epochs(growth: Sequence[int], epochs: Optional[int] = None) -> None:
    """Growth epochs must rise strictly, from 1 (epoch 0 always has one block), and lie in the budget."""
    if any(not isinstance(e, int) or isinstance(e, bool) for e in growth):
        raise ValueError(f'growth epochs must be integers, not {list(growth)}')
    if any(e < 1 for e in growth) or any(b <= a for a, b in zip(growth, growth[1:])):
        raise ValueError(f'growth epochs must rise strictly from 1 or more (0-based; epoch 0 trains one block), '
                         f'not {list(growth)}')
    if epochs is not None and growth and growth[-1] >= epochs:
        raise ValueError(f'growth epoch {growth[-1]} is not within the {epochs} epochs (0-based)')


def blocks_at(epoch: int, growth: Sequence[int]) -> int:
    """Active blocks during the 0-based ``epoch``."""
    return 1 + sum(1 for e in growth if e <= epoch)


def growth_epochs_of(text: Optional[str]) -> Optional[List[int]]:
    """The growth epochs of the ``close_epochs`` option (``'2,4,6'``), or None for the default schedule."""
    if text is None:
        return None
    try:
        return [int(part) for part in str(text).split(',')]
    except ValueError:
        raise ValueError(f'--close-epochs takes comma-separated epochs such as 2,4,6, not {text!r}') from None


def check_close_options(values: Dict[str, Any], config) -> Optional[str]:
    """The NAS-Bench-201 space's CLOSE options together, against the search's epochs: an error text,
    or None, with ``close_blocks`` filled in (one more than the growth epochs when they are given)."""
    if not values['close']:
        given = [name for name in ('close_blocks', 'close_epochs') if values[name] is not None]
        return f'--{given[0].replace("_", "-")} configures CLOSE; add --close' if given else None
    blocks = values['close_blocks']
    if blocks is not None and blocks < 1:
        return f'--close-blocks must be at least 1, not {blocks}'
    try:
        growth = growth_epochs_of(values['close_epochs'])
    except ValueError as error:
        return str(error)
    pool = len(growth) + 1 if growth is not None else (blocks or DEFAULT_BLOCKS)
    try:
        if growth is None:
            default_growth_epochs(pool, config.epochs)
        else:
            check_growth_epochs(growth, config.epochs)
    except ValueError as error:
        return f'--close-epochs: {error}' if growth is not None else f'{error} (--close-blocks N or --close-epochs E1,E2,...)'
    if growth is not None and blocks is not None and blocks != pool:
        return (f'--close-epochs {values["close_epochs"]} grows the pool to {pool} blocks, --close-blocks says {blocks}; '
                'give one of them')
    values['close_blocks'] = pool
    return None
