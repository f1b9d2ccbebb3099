"""Genotypes: DARTS' text and JSON round trips (property-based), strict validation, clear errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nni_cnas.errors import UserError
from nni_cnas.spaces.genotype_reader import read_genotype
from nni_cnas.spaces.genotype import (
    SPACE_OPS, CellGenotype, Genotype, GenotypeError, loose_ends,
)

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


@st.composite
def cells(draw, space):
    nodes = draw(st.integers(1, 5))
    ops = SPACE_OPS[space]
    pairs = []
    for n in range(nodes):
        if space == 'darts':
            inputs = draw(st.lists(st.integers(0, n + 1), min_size=2, max_size=2, unique=True))
        else:
            inputs = draw(st.lists(st.integers(0, n + 1), min_size=2, max_size=2))
        pairs.append(tuple((draw(st.sampled_from(ops)), i) for i in inputs))
    pairs = tuple(pairs)
    if space == 'darts':
        return CellGenotype(pairs, tuple(range(2, 2 + nodes)))
    combine = tuple(draw(st.sampled_from(('add', 'concat'))) for _ in range(nodes))
    return CellGenotype(pairs, loose_ends(pairs), combine)


@st.composite
def genotypes(draw):
    space = draw(st.sampled_from(['darts', 'nasnet']))
    return Genotype(draw(cells(space)), draw(cells(space))).check()


@settings(max_examples=150, deadline=None)
@given(genotypes())
def test_text_and_json_round_trip(genotype):
    assert Genotype.from_text(genotype.text()) == genotype
    assert Genotype.from_json(json.loads(json.dumps(genotype.to_json()))) == genotype


def test_darts_published_genotype_with_range_concat_parses():
    genotype = Genotype.from_text(DARTS_V2.replace('[2, 3, 4, 5]', 'range(2, 6)'))
    assert genotype.space == 'darts' and genotype.normal.concat == (2, 3, 4, 5)
    assert genotype.text() == DARTS_V2


@pytest.mark.parametrize('text, message', [
    (DARTS_V2.replace("'dil_conv_3x3'", "'dil_conv_9x9'"), "unknown op 'dil_conv_9x9'"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 7)"), 'takes input 7'),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)"), 'takes input 0 twice'),
    (DARTS_V2.replace('normal_concat=[2, 3, 4, 5]', 'normal_concat=[2, 9]'), '9 is not a node'),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ", '', 1), 'two per node'),
    (DARTS_V2.replace('reduce_concat=[2, 3, 4, 5]', 'reduce_concat=[2], extra=[1]'), 'unknown genotype field'),
    (DARTS_V2.replace(', reduce_concat=[2, 3, 4, 5]', ''), 'no reduce cell'),
    ("Genotype(normal=__import__('os').getcwd())", 'only literals'),
    ('Genotype(normal=[', 'not a genotype'),
    ('print(1)', 'a genotype is Genotype('),
    ("Genotype(normal=[('skip_connect', 0), ('conv_3x3', 0)], normal_concat=[3], normal_combine=['add'], "
     "reduce=[('skip_connect', 0), ('conv_3x3', 1)], reduce_concat=[2], reduce_combine=['add'])", 'is not a node'),
    ("Genotype(normal=[('skip_connect', 0), ('conv_3x3', 0), ('skip_connect', 2), ('conv_3x3', 0)], "
     "normal_concat=[2, 3], normal_combine=['add', 'add'], reduce=[('skip_connect', 0), ('conv_3x3', 1)], "
     "reduce_concat=[2], reduce_combine=['add'])", 'must be the nodes no node uses, [3]'),
    ("Genotype(normal=[('skip_connect', 0), ('conv_3x3', 0)], normal_concat=[2], normal_combine=['mul'], "
     "reduce=[('skip_connect', 0), ('conv_3x3', 1)], reduce_concat=[2], reduce_combine=['add'])", "unknown combine 'mul'"),
])
def test_bad_genotypes_say_what_is_wrong(text, message):
    with pytest.raises(GenotypeError, match=message.replace('(', r'\(').replace('[', r'\[')):
        Genotype.from_text(text)
    assert issubclass(GenotypeError, UserError)  # the CLI turns it into one line and exit 2


def test_read_genotype_from_files_folders_and_text(tmp_path):
    genotype = Genotype.from_text(DARTS_V2)
    (tmp_path / 'g.txt').write_text(DARTS_V2 + '\n')
    (tmp_path / 'g.json').write_text(json.dumps(genotype.to_json()))
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'genotype.json').write_text(json.dumps(genotype.to_json()))
    for source in (DARTS_V2, str(tmp_path / 'g.txt'), str(tmp_path / 'g.json'), str(run),
                   json.dumps(genotype.to_json())):
        assert read_genotype(source) == genotype
    (tmp_path / 'bad.json').write_text('{"normal": ')
    with pytest.raises(GenotypeError, match='not JSON'):
        read_genotype(str(tmp_path / 'bad.json'))
    with pytest.raises(GenotypeError, match='has no genotype.json'):
        read_genotype(str(tmp_path))
    with pytest.raises(GenotypeError, match='says space'):
        read_genotype(json.dumps(dict(genotype.to_json(), space='nasnet')))


def _mutated(draw_text: str, edits) -> str:
    text = draw_text
    for position, kind, char in edits:
        position %= len(text) + 1
        if kind == 0:
            text = text[:position] + text[position + 1:]
        elif kind == 1:
            text = text[:position] + char + text[position:]
        else:
            text = text[:position] + char + text[position + 1:]
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 ** 4), st.integers(0, 2),
                          st.sampled_from(list("()[]{},'\"=0123456789_ abcnrx~|+-") + ['\x00', 'range', 'Genotype('])),
                min_size=1, max_size=6))
def test_mutated_genotype_texts_give_a_genotype_or_the_clear_error(edits):
    text = _mutated(DARTS_V2, edits)
    try:
        assert Genotype.from_text(text).check()
    except GenotypeError:
        pass


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=15), children, max_size=5), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries(
    {'normal': json_values, 'normal_concat': json_values, 'reduce': json_values, 'reduce_concat': json_values},
    optional={'normal_combine': json_values, 'space': json_values})))
def test_random_json_gives_a_genotype_or_the_clear_error(data):
    try:
        Genotype.from_json(data)
    except GenotypeError:
        pass
