"""Language-model search: the PTB reader, the recurrent spaces, searches and retraining."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
import torch
import torch.nn.functional as F

from nni_cnas import DARTS, RSPS
from nni_cnas.cli import main
from nni_cnas.data.text import EOS, default_ptb_dir, fixed_length_sequences, load_text_data, read_corpus
from nni_cnas.arch.decisions import DartsDecisions
from nni_cnas.errors import UserError
from nni_cnas.run.evaluator import SequenceCrossEntropy
from nni_cnas.retrain.rnn import RecurrentRetrainConfig, run_recurrent_retrain
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.spaces.genotype import GenotypeError
from nni_cnas.spaces.genotype_reader import read_genotype
from nni_cnas.spaces.rnn import (
    RNN_OPS, RecurrentCell, RecurrentNetwork, RecurrentSpace, count_parameters, genotype_network_from_space,
    rnn_genotype_to_sample,
)
from nni_cnas.spaces.rnn_genotype import RecurrentGenotype
from nni_cnas.arch.supernet import fixed_architecture
from nni_cnas.arch.sampling import most_probable, space_size

import nni_cnas.retrain.rnn as retrain_rnn_module
import nni_cnas.spaces.rnn as rnn_module
from helpers import killed_after_epoch

# DARTS' published recurrent cell (genotypes.py, DARTS_V2), as DARTS prints it.
DARTS_V2 = ("Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), "
            "('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))")


@pytest.fixture(scope='module')
def corpus_dir(tmp_path_factory):
    """A tiny PTB-style corpus: 30 words from a random Markov chain, lines of 4-11 words."""
    root = tmp_path_factory.mktemp('tiny-ptb')
    rng = random.Random(0)
    words = [f'w{i}' for i in range(30)]
    following = {w: rng.sample(words, 4) for w in words}
    for split, lines in (('train', 240), ('valid', 40), ('test', 40)):
        text = []
        for _ in range(lines):
            word, line = rng.choice(words), []
            for _ in range(rng.randint(4, 11)):
                line.append(word)
                word = rng.choice(following[word])
            text.append(' ' + ' '.join(line) + ' ')
        (root / f'ptb.{split}.txt').write_text('\n'.join(text) + '\n')
    return root


# ------------------------------------------------------------------ the reader

def test_ptb_has_the_standard_vocabulary_and_token_counts():
    root = default_ptb_dir()
    if root is None:
        pytest.skip('Penn Treebank is not here (../shared/data/ptb/ptb.{train,valid,test}.txt)')
    corpus = read_corpus(root)
    assert len(corpus) == 10_000 and EOS in corpus.vocabulary and corpus.vocabulary.count(EOS) == 1
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (929_589, 73_760, 82_430)
    eos = corpus.vocabulary.index(EOS)
    assert [int((split == eos).sum()) for split in (corpus.train, corpus.valid, corpus.test)] == [42_068, 3_370, 3_761]


def test_reader_numbers_words_in_order_and_ends_every_line_with_eos(tmp_path):
    for split, text in (('train', ' a b \n b c\n'), ('valid', 'c a\n'), ('test', 'd\n')):
        (tmp_path / f'{split}.txt').write_text(text)  # DARTS' file names work too
    corpus = read_corpus(tmp_path)
    assert corpus.vocabulary == ['a', 'b', EOS, 'c', 'd']
    assert corpus.train.tolist() == [0, 1, 2, 1, 3, 2] and corpus.valid.tolist() == [3, 0, 2]
    assert corpus.test.tolist() == [4, 2]


def test_fixed_length_sequences_cut_the_stream_with_next_token_targets():
    inputs, targets = fixed_length_sequences(torch.arange(11), 3)
    assert inputs.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(UserError, match='lower --bptt'):
        fixed_length_sequences(torch.arange(3), 5)


def test_reader_errors_are_one_clear_line(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        read_corpus(tmp_path / 'nowhere')
    (tmp_path / 'ptb.train.txt').write_text('a b\n')
    with pytest.raises(UserError, match='no ptb.valid.txt'):
        read_corpus(tmp_path)


def test_per_sequence_loss_is_the_mean_token_cross_entropy():
    logits, targets = torch.randn(2, 3, 5), torch.randint(0, 5, (2, 3))
    per_token = SequenceCrossEntropy('none')(logits, targets)
    by_hand = torch.tensor([[-F.log_softmax(logits[b, t], 0)[targets[b, t]] for t in range(3)] for b in range(2)])
    assert torch.allclose(per_token, by_hand, atol=1e-6)
    assert torch.allclose(SequenceCrossEntropy()(logits, targets), by_hand.mean(), atol=1e-6)


# ------------------------------------------------------------------ the cell

def test_recurrent_cell_step_matches_a_hand_computation():
    genotype = RecurrentGenotype((('relu', 0), ('sigmoid', 1)), (1, 2))
    torch.manual_seed(0)
    cell = RecurrentCell(genotype, input_size=3, hidden=2)
    x, h = torch.randn(1, 3), torch.randn(1, 2)
    c0, h0 = torch.chunk(torch.cat([x, h], 1) @ cell.w0, 2, 1)
    s0 = h + torch.sigmoid(c0) * (torch.tanh(h0) - h)
    c1, g1 = torch.chunk(s0 @ cell.matrices[0], 2, 1)
    s1 = s0 + torch.sigmoid(c1) * (torch.relu(g1) - s0)
    c2, g2 = torch.chunk(s1 @ cell.matrices[1], 2, 1)
    s2 = s1 + torch.sigmoid(c2) * (torch.sigmoid(g2) - s1)
    assert torch.allclose(cell.step(x, h), (s1 + s2) / 2, atol=1e-6)


@pytest.mark.parametrize('preset', ['rnn-darts', 'rnn-enas'])
@pytest.mark.parametrize('batch_norm', [False, True])
@pytest.mark.parametrize('strategy', [DARTS, RSPS])
def test_network_of_an_exported_genotype_equals_the_supernets_fixed_forward(preset, batch_norm, strategy):
    torch.manual_seed(1)
    space = RecurrentSpace(vocabulary=20, hidden=8, preset=preset, nodes=4, batch_norm=batch_norm)
    supernet = strategy().mutate_model(space)
    decisions = supernet.architecture_decisions()
    rng = random.Random(0)
    tokens = torch.randint(0, 20, (3, 6))
    for _ in range(3):
        sample = decisions.expand({label: rng.choice(values) for label, values in decisions.options.items()})
        genotype = supernet.genotype(sample)
        assert rnn_genotype_to_sample(genotype) == sample
        if preset == 'rnn-enas':
            used = {j for _, j in genotype.recurrent}
            assert genotype.concat == tuple(n for n in range(1, 5) if n not in used)  # the loose ends
        else:
            assert genotype.concat == (1, 2, 3, 4)
        fixed = genotype_network_from_space(genotype, supernet).eval()
        supernet.eval()
        with torch.no_grad(), fixed_architecture(supernet, sample):
            expected = supernet(tokens)
        with torch.no_grad():
            assert torch.allclose(fixed(tokens)[0], expected, atol=1e-5)


def test_a_fixed_subnet_computes_only_its_own_edges(monkeypatch):
    space = RecurrentSpace(vocabulary=20, hidden=8, nodes=4)
    supernet = DARTS().mutate_model(space)
    calls = []
    original = rnn_module.gates
    monkeypatch.setattr(rnn_module, 'gates', lambda *args: calls.append(1) or original(*args))
    decisions = supernet.architecture_decisions()
    sample = decisions.expand({label: values[0] for label, values in decisions.options.items()})
    tokens = torch.randint(0, 20, (2, 5))
    with torch.no_grad(), fixed_architecture(supernet, sample):
        supernet(tokens)
    assert len(calls) == 4 * 5  # one edge per node and step
    calls.clear()
    with torch.no_grad():
        supernet(tokens)  # the mixture: every edge
    assert len(calls) == (1 + 2 + 3 + 4) * 5


@pytest.mark.parametrize('seed', range(3))
def test_recurrent_top_k_equals_brute_force(seed):
    nodes, rng = 3, random.Random(seed)
    labels = [f'rnn/{j}_{i}' for i in range(1, nodes + 1) for j in range(i)]
    probs = {}
    for label in labels:
        weights = [rng.random() for _ in RNN_OPS]
        probs[label] = {op: w / sum(weights) for op, w in zip(RNN_OPS, weights)}
    brute = []
    for values in itertools.product(RNN_OPS, repeat=len(labels)):
        sample = dict(zip(labels, values))
        if all(sum(sample[f'rnn/{j}_{i}'] != 'none' for j in range(i)) == 1 for i in range(1, nodes + 1)):
            brute.append((math.prod(probs[label][op] for label, op in sample.items() if op != 'none'), sample))
    brute.sort(key=lambda item: -item[0])
    decisions = DartsDecisions(('rnn',), nodes, RNN_OPS, inputs=1, first=1)
    assert len(brute) == space_size(decisions.options) == 4 * 8 * 12
    for k in (1, 7, len(brute)):
        found = most_probable(decisions.probabilities(probs), k)
        assert [decisions.expand(s) for _, s in found] == [s for _, s in brute[:k]]


# ------------------------------------------------------------------ genotypes

def test_darts_published_recurrent_genotype_reads_and_round_trips(tmp_path):
    genotype = read_genotype(DARTS_V2)
    assert isinstance(genotype, RecurrentGenotype) and genotype.concat == tuple(range(1, 9))
    assert read_genotype(genotype.text()) == genotype
    path = tmp_path / 'genotype.json'
    path.write_text(json.dumps(genotype.to_json()))
    assert read_genotype(str(path)) == genotype


@pytest.mark.parametrize('text, message', [
    ("Genotype(recurrent=[('softmax', 0)], concat=[1])", "unknown activation 'softmax'"),
    ("Genotype(recurrent=[('tanh', 1)], concat=[1])", 'takes state 1'),
    ("Genotype(recurrent=[('tanh', 0)], concat=[2])", 'is not a node'),
    ("Genotype(recurrent=[('tanh', 0)])", 'no concat'),
    ("Genotype(recurrent=[('tanh', 0)], concat=[1], normal=[])", 'unknown field'),
    ("Genotype(recurrent=[], concat=[1])", 'non-empty'),
])
def test_bad_recurrent_genotypes_are_one_clear_error(text, message):
    with pytest.raises(GenotypeError, match=message):
        read_genotype(text)


# ------------------------------------------------------------------ searches

@pytest.mark.parametrize('space, strategy, curriculum', [
    ('rnn-darts', 'darts', 'none'), ('rnn-darts', 'darts', 'epoch'),
    ('rnn-darts', 'darts-v2', 'none'), ('rnn-darts', 'darts-v2', 'epoch'),
    ('rnn-darts', 'enas', 'none'), ('rnn-darts', 'enas', 'epoch'),
    ('rnn-enas', 'enas', 'epoch'), ('rnn-enas', 'rsps', 'batch'),
])
def test_each_strategy_searches_a_recurrent_cell_and_exports_it(space, strategy, curriculum, corpus_dir, tmp_path):
    options = dict(controller_steps=2, controller_aggregate=2) if strategy == 'enas' else {}
    config = SearchConfig(space=space, strategy=strategy, curriculum=curriculum, dataset='ptb',
                          data_dir=str(corpus_dir), subset=48, bptt=8, hidden=8, nodes=3, epochs=2, batch_size=16,
                          num_candidates=4, out=str(tmp_path / 'run'), tensorboard=False, progress_bar=False, **options)
    result = run_search(config)
    genotype = read_genotype(str(tmp_path / 'run'))
    assert isinstance(genotype, RecurrentGenotype) and genotype.nodes == 3
    assert rnn_genotype_to_sample(genotype) == result['sample'] and result['arch'] == genotype.text()
    assert result['val_ppl'] > 1 and 'val_acc' not in result
    metrics = [json.loads(line) for line in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    assert len(metrics) == 2 and all(m['train_ppl'] == pytest.approx(math.exp(m['train_loss'])) for m in metrics)
    assert (tmp_path / 'run' / 'cells.png').stat().st_size > 0
    if curriculum != 'none':  # the weights of the second epoch's sequences are not all 1
        assert metrics[1]['data_weights']['max'] > 1.0


def test_curriculum_weights_sequences_by_their_uncertainty(corpus_dir):
    """The exact estimator's K subnet losses of a language-model batch are per-sequence mean token
    losses of each fixed subnet (Eq. 10 then turns them into weights as for images)."""
    from nni_cnas.run.evaluator import LanguageModelModule

    data = load_text_data('ptb', corpus_dir, 6, subset=10)
    space = RecurrentSpace(vocabulary=data.vocabulary_size, hidden=8, nodes=3)
    strategy = DARTS()
    supernet = strategy.mutate_model(space)
    module = strategy.configure_oneshot_module(LanguageModelModule())
    module.set_model(supernet)
    x, y = data.train
    archs = module.curriculum_subnets(3)
    losses = module.subnets.outputs(archs, (x, y)).losses
    assert losses.shape == (3, 10)
    for row, arch in zip(losses, archs):
        supernet.eval()
        with torch.no_grad(), fixed_architecture(supernet, arch):
            logits = supernet(x)
        by_hand = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction='none').view(10, 6)
        assert torch.allclose(row, by_hand.mean(1), atol=1e-5)


@pytest.mark.parametrize('argv, message', [
    (['--space', 'nb201', '--hidden', '8'], '--hidden applies to the recurrent spaces'),
    (['--space', 'rnn-darts', '--channels', '8'], '--channels applies to the image spaces'),
    (['--space', 'rnn-darts', '--dataset', 'cifar10'], "unknown dataset 'cifar10'; choose one of ptb"),
    (['--space', 'rnn-darts', '--dataset', 'ptb', '--data-dir', 'nowhere'], 'does not exist'),
    (['--space', 'rnn-darts', '--stem', 'imagenet'], '--stem applies to the darts, nasnet, nni:darts'),
    (['--space', 'rnn-darts', '--dropout-scale', '1.5'], '--dropout-scale multiplies'),
    (['--space', 'darts', '--dropout-scale', '0'], '--dropout-scale applies to the recurrent spaces'),
])
def test_bad_language_model_options_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['search', *argv, '--out', str(out)]) == 2 and not out.exists()
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]


# ------------------------------------------------------------------ retraining

def _retrain_config(corpus_dir, out, **changes):
    options = dict(source='', data_dir=str(corpus_dir), epochs=3, batch_size=4, hidden=8, bptt=6, out=str(out))
    options.update(changes)
    return RecurrentRetrainConfig(**options)


def test_retrain_reports_perplexities_and_a_killed_run_resumes_to_the_same_numbers(corpus_dir, tmp_path, monkeypatch):
    genotype = read_genotype(DARTS_V2)
    whole = run_recurrent_retrain(_retrain_config(corpus_dir, tmp_path / 'whole'), genotype)
    vocabulary, hidden = len(read_corpus(corpus_dir)), 8
    # tied embedding/decoder, decoder bias, W0 and one matrix per node
    assert whole['params'] == vocabulary * hidden + vocabulary + (2 * hidden) * (2 * hidden) + 8 * hidden * 2 * hidden
    assert whole['params'] == count_parameters(RecurrentNetwork(genotype, vocabulary, hidden))
    assert 1 < whole['test_ppl'] < vocabulary * 2 and 1 < whole['val_ppl']

    with killed_after_epoch(monkeypatch, retrain_rnn_module, 1):
        run_recurrent_retrain(_retrain_config(corpus_dir, tmp_path / 'killed'), genotype)
    assert main(['retrain', '--resume', str(tmp_path / 'killed')]) == 0
    resumed = json.loads((tmp_path / 'killed' / 'result.json').read_text())
    assert (resumed['val_ppl'], resumed['test_ppl']) == (whole['val_ppl'], whole['test_ppl'])
    first = torch.load(tmp_path / 'whole' / 'checkpoint.pt', weights_only=True)['model']
    second = torch.load(tmp_path / 'killed' / 'checkpoint.pt', weights_only=True)['model']
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize('extra, message', [
    (['--channels', '8'], '--channels does not apply to retraining a recurrent cell'),
    (['--data-dir', 'nowhere'], 'does not exist'),
    (['--bptt', '0'], '--bptt must be positive'),
])
def test_bad_recurrent_retrain_options_are_one_line_and_exit_2(extra, message, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main(['retrain', DARTS_V2, '--out', str(out), *extra]) == 2 and not out.exists()
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]


def test_dropout_scale_multiplies_darts_rates():
    from types import SimpleNamespace

    from nni_cnas.spaces import build_space

    config = SearchConfig(space='rnn-darts', hidden=8, nodes=2, dropout_scale=0.5).resolve()
    space = build_space(config, SimpleNamespace(vocabulary_size=20))
    assert (space.dropout, space.cell.dropout_h, space.cell.dropout_x, space.dropout_i) == (0.375, 0.125, 0.375, 0.1)
    assert SearchConfig(space='rnn-enas').resolve().dropout_scale == 1.0
