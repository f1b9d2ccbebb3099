"""Any found cell, CNN (DARTS, NASNet) or recurrent, from wherever a user has it: a run folder, a
``genotype.json`` or ``.txt`` file, JSON text or DARTS' ``Genotype(...)`` text. Pure Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

from .genotype import Genotype, GenotypeError, check_declared_space, json_fields, text_fields
from .rnn_genotype import RecurrentGenotype

__all__ = ['read_genotype', 'genotype_from_json', 'genotype_from_fields']


def genotype_from_fields(fields: Dict[str, Any], space: Optional[str] = None):
    """A CNN (:class:`Genotype`) or recurrent (``RecurrentGenotype``) genotype from its fields."""
    genotype = RecurrentGenotype.from_fields(fields) if 'recurrent' in fields else Genotype.from_fields(fields)
    return check_declared_space(genotype, space)


def genotype_from_json(data: Any):
    """A CNN or recurrent genotype from its JSON (a ``genotype.json``)."""
    return genotype_from_fields(*json_fields(data))


def read_genotype(source: str):
    """A genotype (CNN or recurrent) from a run folder (its ``genotype.json``), a ``.json``/``.txt``
    file, or text."""
    text = source.lstrip()
    if text.startswith('Genotype('):
        return genotype_from_fields(text_fields(source))
    if text.startswith('{'):
        try:
            return genotype_from_json(json.loads(source))
        except json.JSONDecodeError as error:
            raise GenotypeError(f'not a JSON genotype: {error.msg}') from None
    path = Path(source)
    if path.is_dir():
        found = path / 'genotype.json'
        if not found.is_file():
            raise GenotypeError(f'{path} has no genotype.json: it is not a finished DARTS, NASNet or recurrent search '
                                '(NAS-Bench-201 runs have no genotype to retrain)')
        path = found
    if path.is_file():
        content = path.read_text()
        if path.suffix == '.json':
            try:
                data = json.loads(content)
            except json.JSONDecodeError as error:
                raise GenotypeError(f'{path}: not JSON ({error.msg} at line {error.lineno})') from None
            return genotype_from_json(data)
        return genotype_from_fields(text_fields(content))
    raise GenotypeError(f'{source!r} is neither a run folder, a genotype file nor a Genotype(...) text')
