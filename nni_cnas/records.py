"""One epoch of a search as one typed record: what the search module measures at an epoch's end,
what the run folder adds (time, learning rate, the cell as a string, its benchmark look-up), and
the one reader of ``metrics.jsonl``. The log line, TensorBoard, NNI's intermediate results, the
report and the figures all read these fields, so a metric has one name everywhere.

Names: ``sample`` is the current cell as NNI's sample ``{label: value}``; ``arch`` is the same cell
as a string (a NAS-Bench-201 string, a genotype), as in ``result.json``. Each quality is named by
where it is measured (``train``: the weight steps' batches; ``arch``: the architecture steps'
validation batches; ``supernet``: the supernet on the selection batch; ``val``: the current cell
on the selection batch) and by what it is: ``_acc`` for class targets, ``_ppl`` for a language
model, ``_loss`` (lower is better) otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

__all__ = ['EpochRecord', 'QUALITY_PLACES', 'QUALITY_KINDS']

#: Where an epoch's qualities are measured, and what they are (see the module docstring).
QUALITY_PLACES = ('train', 'arch', 'supernet', 'val')
QUALITY_KINDS = ('loss', 'acc', 'ppl')


@dataclasses.dataclass
class EpochRecord:
    """One line of ``metrics.jsonl`` (:meth:`to_json`, :meth:`from_json`)."""

    epoch: int
    train_loss: Optional[float] = None
    train_acc: Optional[float] = None
    train_ppl: Optional[float] = None
    arch_loss: Optional[float] = None
    arch_acc: Optional[float] = None
    arch_ppl: Optional[float] = None
    supernet_loss: Optional[float] = None
    supernet_acc: Optional[float] = None
    supernet_ppl: Optional[float] = None
    val_loss: Optional[float] = None
    val_acc: Optional[float] = None
    val_ppl: Optional[float] = None
    #: Statistics of the data weights applied this epoch (:meth:`Curriculum.epoch_statistics`).
    data_weights: Optional[Dict[str, Any]] = None
    #: The search policy ``{label: {value: probability}}`` and how decided it is (differentiable strategies).
    policy: Optional[Dict[str, Dict[Any, float]]] = None
    policy_max_prob: Optional[float] = None
    sample: Optional[Dict[str, Any]] = None
    arch: Optional[str] = None
    #: The cell's benchmark accuracies (NAS-Bench-201: per dataset), and the search dataset's two.
    lookup: Optional[Dict[str, Any]] = None
    lookup_test: Optional[float] = None
    lookup_valid: Optional[float] = None
    seconds: Optional[float] = None
    lr: Optional[float] = None
    #: What a search space adds of its own (CLOSE: ``close_blocks``), under its own names.
    space: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def set_quality(self, place: str, kind: str, value: float) -> None:
        """Set ``<place>_<kind>`` (e.g. ``val_acc``), refusing a name that is not a field."""
        if place not in QUALITY_PLACES or kind not in QUALITY_KINDS:
            raise ValueError(f'no quality {place}_{kind}: places are {QUALITY_PLACES}, kinds {QUALITY_KINDS}')
        setattr(self, f'{place}_{kind}', value)

    def scalars(self) -> Dict[str, float]:
        """The record's numbers by name (what TensorBoard plots under ``epoch/``), the space's included."""
        own = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
               if field.name not in ('epoch', 'space')}
        numbers = {name: value for name, value in {**own, **self.space}.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
        gini = (self.data_weights or {}).get('gini')
        if gini is not None:
            numbers['data_weights_gini'] = gini
        return {name: float(value) for name, value in numbers.items()}

    def to_json(self) -> Dict[str, Any]:
        """The ``metrics.jsonl`` line: the fields that are set, the space's entries beside them."""
        line = {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != 'space'}
        line = {name: value for name, value in line.items() if value is not None}
        line.update(self.space)
        return line

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> 'EpochRecord':
        """A ``metrics.jsonl`` line, also of earlier versions (whose ``arch`` was the sample and
        ``arch_string`` the string); keys that are not fields are the space's."""
        line = dict(line)
        if isinstance(line.get('arch'), dict):
            line['sample'] = line.pop('arch')
        if 'arch_string' in line:
            line['arch'] = line.pop('arch_string')
        names = {field.name for field in dataclasses.fields(cls)} - {'space'}
        return cls(**{name: value for name, value in line.items() if name in names},
                   space={name: value for name, value in line.items() if name not in names})
