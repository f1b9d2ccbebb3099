"""Which K subnets measure the uncertainty: exact top-K by probability, or uniform samples.

A search space is described here as its *options*: ``{label: [value, ...]}``, one entry per
independent decision, as :func:`space_options` reads them off an NNI model space or supernet.
Samples are NNI samples: ``{label: value}``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import warnings
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from nni.mutable import Categorical, CategoricalMultiple, Sample

__all__ = ['space_options', 'space_size', 'most_probable', 'uniform_samples', 'capped_to_space']



def space_options(model) -> Dict[str, List[Any]]:
    """``{label: options}`` of an NNI model space (or supernet), in the space's label order.

    ``CategoricalMultiple`` (an input choice) contributes every sorted combination of ``n_chosen``
    inputs, as tuples (:class:`~nni_cnas.arch.decisions.Decisions` turns them into the lists NNI
    samples carry).
    """
    options: Dict[str, List[Any]] = {}
    for label, mutable in model.simplify().items():
        if isinstance(mutable, Categorical):
            options[label] = list(mutable.values)
        elif isinstance(mutable, CategoricalMultiple) and mutable.n_chosen is not None:
            options[label] = list(itertools.combinations(mutable.values, mutable.n_chosen))
        elif isinstance(mutable, CategoricalMultiple):
            raise TypeError(f'{label}: an InputChoice with n_chosen=None (any number of inputs) has no fixed '
                            'architecture here; give it an n_chosen')
        else:
            raise TypeError(f'{label}: only categorical choices are supported, got {type(mutable).__name__}')
    return options


def space_size(options: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(values) for values in options.values())


def capped_to_space(k: int, size: int, what: str = 'k') -> int:
    """``k`` distinct architectures asked of a space of ``size``: all of them when it has fewer, which
    a warning says (once per message: Python shows a repeated warning once)."""
    if k > size:
        warnings.warn(f'{what}={k} is more than the {size} architectures of the search space; each of them is '
                      'used once', UserWarning, stacklevel=3)
        return size
    return k


def most_probable(probs: Mapping[str, Mapping[Any, float]], k: int, what: str = 'k') -> List[Tuple[float, Sample]]:
    """The exact K most probable samples when every label is an independent categorical choice.

    ``probs`` is NNI's ``export_probs()`` format, ``{label: {value: probability}}``. Returns
    ``(log_probability, sample)`` pairs, most probable first; equal probabilities are ordered by
    the options' order, so the result is deterministic. A space of fewer than K gives all of them
    (``what`` names K in the warning that says so).

    Best-first search over the product of the per-label options sorted by probability: each state
    (a rank per label) is reached only from the parent that has its last non-zero rank one lower,
    so every state enters the heap once and K pops cost ``O(K * L * log(K * L))`` for L labels,
    whatever the size of the space.
    """
    labels = list(probs)
    ranked: List[List[Tuple[float, Any]]] = []
    for label in labels:
        values = list(probs[label].items())
        if not values:
            raise ValueError(f'{label} has no options')
        logp = [(math.log(p) if p > 0 else -math.inf, position, value) for position, (value, p) in enumerate(values)]
        logp.sort(key=lambda item: (-item[0], item[1]))
        ranked.append([(lp, value) for lp, _, value in logp])

    k = capped_to_space(k, math.prod(len(r) for r in ranked), what)
    if k <= 0:
        return []

    def score(state: Tuple[int, ...]) -> float:
        return sum(ranked[i][rank][0] for i, rank in enumerate(state))

    root = (0,) * len(labels)
    heap: List[Tuple[float, Tuple[int, ...], int]] = [(-score(root), root, 0)]
    result: List[Tuple[float, Sample]] = []
    while heap and len(result) < k:
        neg_score, state, pivot = heapq.heappop(heap)
        result.append((-neg_score, {label: ranked[i][state[i]][1] for i, label in enumerate(labels)}))
        for position in range(pivot, len(labels)):
            if state[position] + 1 < len(ranked[position]):
                child = state[:position] + (state[position] + 1,) + state[position + 1:]
                heapq.heappush(heap, (-score(child), child, position))
    return result


def uniform_samples(options: Mapping[str, Sequence[Any]], k: int, rng: random.Random,
                    distinct: bool = True, what: str = 'k') -> List[Sample]:
    """``k`` architectures drawn uniformly (distinct ones unless ``distinct=False``); distinct ones from
    a space of no more than ``k`` are every architecture once, in an order drawn from ``rng``."""
    if distinct:
        size = space_size(options)
        if k > size:
            capped_to_space(k, size, what)
            every = [dict(zip(options, values)) for values in itertools.product(*options.values())]
            rng.shuffle(every)
            return every
    samples: List[Sample] = []
    seen = set()
    while len(samples) < k:
        sample = {label: values[rng.randrange(len(values))] for label, values in options.items()}
        key = repr(sorted(sample.items()))
        if distinct and key in seen:
            continue
        seen.add(key)
        samples.append(sample)
    return samples
