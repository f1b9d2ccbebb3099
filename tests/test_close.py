"""CLOSE: the block pool's schedule, new blocks, the gate, equality with the plain supernet
with one block, and searches with single-path strategies with and without the data curriculum."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import nni_cnas
from nni_cnas.run.checkpoint import CHECKPOINT_DIR
from nni_cnas.cli import main
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.spaces import NasBench201Space
from nni_cnas.spaces.close import (
    CloseNasBench201Space, GlowPool, blocks_at, check_growth_epochs, default_growth_epochs,
)
from nni_cnas.spaces.nb201 import make_op
from nni_cnas.spaces.nb201_arch import LABELS, OPS, arch_to_sample, parse_arch
from nni_cnas.arch.supernet import fixed_architecture

from helpers import assert_same_search, run_to_end, search_argv, start, wait_for

ARCHS = [
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|',
    '|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_3x3~2|',
    '|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|',
]


def supernets(strategy_class, max_blocks=3):
    """A CLOSENet and a plain NB201 supernet of the same size, mutated by ``strategy_class``."""
    torch.manual_seed(0)
    close = strategy_class(curriculum=None).mutate_model(CloseNasBench201Space(channels=4, cells=1, max_blocks=max_blocks))
    plain = strategy_class(curriculum=None).mutate_model(NasBench201Space(channels=4, cells=1))
    return close, plain


def perturbed(model):
    """Every parameter moved off its initial value (so that copies and ties are not trivially equal)."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return model


def copy_block_into_every_edge(close, plain, block=0):
    """The plain supernet's weights := the CLOSENet's, each edge's convolutions := the cell's block."""
    source = close.state_dict()
    state = {}
    for key in plain.state_dict():
        parts = key.split('.')
        if parts[0] == 'cells' and parts[2] == 'layers' and len(parts) > 6:  # cells.{c}.layers.{node-1}.{from}.{op}.{rest}
            state[key] = source['.'.join(parts[:2] + ['pool', 'blocks', str(block), parts[5]] + parts[6:])]
        else:
            state[key] = source[key]
    plain.load_state_dict(state)


def test_default_schedule_is_closes_nb201_setting_scaled_to_the_budget():
    assert default_growth_epochs(4, 1000) == [200, 400, 600]  # epochs 201, 401, 601 counted from 1
    assert default_growth_epochs(4, 10) == [2, 4, 6]
    assert default_growth_epochs(3, 5) == [1, 2]
    assert default_growth_epochs(1, 3) == []
    assert [blocks_at(epoch, [2, 4, 6]) for epoch in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 4, 4]
    with pytest.raises(ValueError, match='cannot place 3 new blocks in 4 epochs'):
        default_growth_epochs(4, 4)
    for bad in ([0], [2, 2], [3, 1]):
        with pytest.raises(ValueError, match='rise strictly'):
            check_growth_epochs(bad)
    with pytest.raises(ValueError, match='not within the 5 epochs'):
        check_growth_epochs([2, 5], 5)
    with pytest.raises(ValueError, match='grow 2 times'):
        CloseNasBench201Space(channels=4, cells=1, max_blocks=3, growth_epochs=[1])


@pytest.mark.parametrize('strategy_class', [nni_cnas.RSPS, nni_cnas.DARTS])
def test_with_one_block_the_closenet_computes_the_plain_supernet_with_the_same_weights(strategy_class):
    close, plain = supernets(strategy_class)
    perturbed(close)
    copy_block_into_every_edge(close, plain)
    x = torch.randn(16, 3, 8, 8)
    for mode in (True, False):
        close.train(mode)
        plain.train(mode)
        for arch in ARCHS:
            sample = arch_to_sample(arch)
            with fixed_architecture(close, sample), fixed_architecture(plain, sample):
                assert torch.equal(close(x), plain(x))
        if strategy_class is nni_cnas.DARTS:  # the whole mixture, with the same alphas
            assert torch.equal(close(x), plain(x))


def test_a_new_block_starts_equal_to_the_previous_one_and_changes_nothing():
    close, _ = supernets(nni_cnas.RSPS, max_blocks=4)
    perturbed(close)
    close.grow_to(2)
    perturbed(close)  # blocks 0 and 1 differ now; block 2 is the one to watch
    before = copy.deepcopy(close)
    close.grow_to(3)
    assert int(close.active_blocks) == 3
    for cell in close.close_cells():
        for name, parameter in cell.pool.blocks[2].named_parameters():
            assert torch.equal(parameter, cell.pool.blocks[1].get_parameter(name))
    for name, parameter in close.gate.heads[2].named_parameters():
        assert torch.equal(parameter, close.gate.heads[1].get_parameter(name))
    x = torch.randn(16, 3, 8, 8)
    sample = arch_to_sample(ARCHS[1])
    with fixed_architecture(close, sample), fixed_architecture(before, sample):
        close.eval()
        before.eval()
        assert torch.equal(close(x), before(x))  # ties go to the older block
    for cell in close.close_cells():  # an edge the training gate sends to the new block computes the same
        features = torch.randn(16, cell.pool.blocks[0]['nor_conv_1x1'][1].in_channels, 8, 8)
        for name in ('nor_conv_1x1', 'nor_conv_3x3'):
            assert torch.equal(cell.pool.run(name, features, 2, None), cell.pool.run(name, features, 1, None))
    with torch.no_grad():
        close.close_cells()[0].pool.blocks[2]['nor_conv_3x3'][1].weight.add_(1.0)
    changed = close.close_cells()[0].pool.blocks[2]['nor_conv_3x3'][1].weight.clone()
    close.grow_to(3)  # idempotent: an active block is never copied over again
    assert torch.equal(close.close_cells()[0].pool.blocks[2]['nor_conv_3x3'][1].weight, changed)


def test_the_gate_draws_in_training_and_takes_the_argmax_in_evaluation():
    close, _ = supernets(nni_cnas.RSPS, max_blocks=4)
    close.grow_to(3)
    perturbed(close)  # equal blocks give the gate no gradient (BatchNorm removes the scale of a conv)
    sample = arch_to_sample(ARCHS[0])
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    with fixed_architecture(close, sample):
        ops = close.op_distribution()
        assert torch.equal(ops, F.one_hot(torch.tensor([OPS.index(op) for op in parse_arch(ARCHS[0])]), len(OPS)).float())
        close.eval()
        logits = close.gate.logits(ops, 3)
        assert close.assignment().indices == logits.argmax(-1).tolist()
        assert close.assignment().weights is None
        assert torch.equal(close(x), close(x))
        close.train()
        draws = set()
        for seed in range(20):
            torch.manual_seed(seed)
            assignment = close.assignment()
            assert torch.equal(assignment.weights.detach(), F.one_hot(torch.tensor(assignment.indices), 3).float())
            draws.add(tuple(assignment.indices))
        assert len(draws) > 1  # tau 5: the draw varies
        close.zero_grad(set_to_none=True)
        torch.manual_seed(0)
        F.cross_entropy(close(x), y).backward()
    active = [head.weight.grad for head in close.gate.heads[:3]]
    assert all(grad is not None and grad.abs().sum() > 0 for grad in active)
    assert close.gate.heads[3].weight.grad is None  # not active yet: no gradient, no weight decay
    for cell in close.close_cells():
        assert all(parameter.grad is None for parameter in cell.pool.blocks[3].parameters())


def test_the_straight_through_gradient_through_blended_weights_matches_the_hand_computation():
    torch.manual_seed(0)
    pool = GlowPool({'nor_conv_3x3': lambda c_in, c_out: make_op('nor_conv_3x3', c_in, c_out, False, False)}, 3, 3)
    x, r = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    weights = torch.tensor([0.0, 1.0, 0.0], requires_grad=True)  # block 1 chosen
    loss = (pool.run('nor_conv_3x3', x, 1, weights) * r).sum()
    loss.backward()
    # By hand: the op with block 1's weights W1 as a free tensor; dL/dg_b = <dL/dW, W_b>.
    conv = pool.blocks[1]['nor_conv_3x3'][1]
    w = conv.weight.detach().clone().requires_grad_(True)
    bias = conv.bias.detach().clone().requires_grad_(True)
    out = F.batch_norm(F.conv2d(F.relu(x), w, bias, padding=1), None, None, training=True)
    (out * r).sum().backward()
    for b in range(3):
        block = pool.blocks[b]['nor_conv_3x3'][1]
        expected = (w.grad * block.weight).sum() + (bias.grad * block.bias).sum()
        torch.testing.assert_close(weights.grad[b], expected.detach(), rtol=1e-4, atol=1e-5)
        expected_grad = w.grad if b == 1 else torch.zeros_like(w.grad)
        torch.testing.assert_close(block.weight.grad, expected_grad)


def test_a_differentiable_mixture_feeds_the_gate_its_softmax_weights():
    close, _ = supernets(nni_cnas.DARTS)
    alphas = {}
    with torch.no_grad():
        for choice in close.close_cells()[0].edge_choices():
            choice._arch_alpha.copy_(torch.randn_like(choice._arch_alpha))
            alphas[choice.label] = torch.softmax(choice._arch_alpha, -1)
            names = choice.names
    expected = torch.stack([torch.stack([alphas[label][names.index(op)] for op in OPS]) for label in LABELS])
    torch.testing.assert_close(close.op_distribution(), expected)


def close_config(out, strategy, curriculum, **extra):
    options = dict(strategy=strategy, curriculum=curriculum, dataset='digits', subset=96, batch_size=16, epochs=3,
                   channels=4, cells=1, num_candidates=4, selection_size=32, close=True, close_epochs='1,2',
                   out=str(out), tensorboard=False, progress_bar=False)
    if curriculum != 'none':
        options['k'] = 2
    if strategy == 'enas':
        options.update(controller_steps=2, controller_aggregate=3)
    options.update(extra)
    return SearchConfig(**options)


@pytest.mark.parametrize('strategy,curriculum', [
    ('rsps', 'none'), ('rsps', 'epoch'), ('setn', 'none'), ('setn', 'epoch'), ('enas', 'none'), ('enas', 'batch'),
    ('gdas', 'epoch'),
])
def test_single_path_strategies_search_a_closenet_with_and_without_the_data_curriculum(tmp_path, strategy, curriculum, capsys):
    result = run_search(close_config(tmp_path / 'run', strategy, curriculum))
    parse_arch(result['arch'])  # a valid NAS-Bench-201 cell
    metrics = [json.loads(line) for line in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    assert [record['close_blocks'] for record in metrics] == [1, 2, 3]
    if curriculum != 'none':  # both curricula on: the data weights are not all 1
        assert any(record['data_weights']['max'] > record['data_weights']['min'] for record in metrics)
    assert result['run_folder'].endswith('run')


def test_a_killed_close_search_resumes_to_the_same_search(tmp_path):
    close = ['--close', '--close-epochs', '1,2']
    reference = tmp_path / 'reference'
    run_to_end(search_argv(reference, 'rsps', 'epoch', extra=close))
    run = tmp_path / 'killed'
    process = start(search_argv(run, 'rsps', 'epoch', extra=close))
    wait_for(run / CHECKPOINT_DIR / 'epoch-0001.ckpt', process)  # 2 blocks; the third is added after the resume
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_to_end(search_argv(run, 'rsps', 'epoch', extra=close)[:2] + ['--resume', str(run)])
    assert_same_search(reference, run)
    assert [json.loads(line)['close_blocks'] for line in (run / 'metrics.jsonl').read_text().splitlines()] == [1, 2, 3, 3]


@pytest.mark.parametrize('argv,message', [
    (['--close', '--space', 'darts'], '--close applies to nb201, not to darts'),
    (['--close', '--epochs', '3'], 'cannot place 3 new blocks in 3 epochs'),
    (['--close-blocks', '3'], '--close-blocks configures CLOSE; add --close'),
    (['--close', '--close-epochs', '2,x'], 'comma-separated epochs'),
    (['--close', '--close-epochs', '2,4', '--close-blocks', '4', '--epochs', '6'], 'give one of them'),
    (['--close', '--close-epochs', '2,6', '--epochs', '6'], 'not within the 6 epochs'),
])
def test_bad_close_options_are_one_line_errors(tmp_path, capsys, argv, message):
    out = tmp_path / 'never'
    assert main(['search', '--out', str(out)] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_the_nni_example_searches_with_both_curricula(tmp_path):
    """examples/close_nni.py: NNI's evaluator and NasExperiment, a CLOSENet space, nni_cnas.RSPS."""
    example = Path(__file__).resolve().parents[1] / 'examples' / 'close_nni.py'
    process = subprocess.run([sys.executable, str(example), '--tiny'], capture_output=True, text=True, timeout=600,
                             cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-2000:]
    assert 'blocks per cell at the end: 3' in process.stdout  # 5 epochs: grown at epochs 1 and 2
    parse_arch(process.stdout.strip().splitlines()[-1])


def test_the_close_ranking_check_traces_tau_forces_blocks_and_reads_the_gate(tmp_path):
    """benchmarks/close_ranking.py on a tiny CLOSE search kept at every epoch: the trace is the tau of
    each epoch's supernet (its last the search's own), a forced block runs that block on every edge,
    and the gate's shares are of the blocks active at the end."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / 'benchmarks' / 'close_ranking.py'
    spec = importlib.util.spec_from_file_location('close_ranking', path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    run = tmp_path / 'close'
    result = run_search(SearchConfig(strategy='rsps', curriculum='none', dataset='digits', subset=48, epochs=3,
                                     channels=4, cells=1, batch_size=16, num_candidates=4, selection_size=32,
                                     rank_cells=12, rank_samples=40, close=True, close_epochs='1,2', out=str(run),
                                     progress_bar=False, keep_checkpoints=0))
    report = check.analyse(run)
    assert [point['epoch'] for point in check.analyse(run, last_only=True)['trace']] == [2]
    assert [point['epoch'] for point in report['trace']] == [0, 1, 2]
    assert [point['blocks'] for point in report['trace']] == [1, 2, 3] and report['growth_epochs'] == [1, 2]
    assert report['trace'][-1]['kendall_tau'] == result['ranking']['kendall_tau']
    assert set(report['forced_block_tau']) == {0, 1, 2}
    assert sum(report['gate']['block_share'].values()) == pytest.approx(1.0)
    assert len(report['sampled_blocks_tau']) == 3 and 0 < report['gate']['mean_top_block_probability'] <= 1
    assert 1 <= report['gate']['distinct_assignments'] <= 12
    from nni_cnas.run.rescore import load_finished_search

    space = load_finished_search(run).search_module.model
    with check.blocks_forced(space, 2):
        assert space.assignment().indices == [2] * 6
    assert 'assignment' not in vars(space)  # the gate decides again
    from nni_cnas.run.ranking import random_cells

    with fixed_architecture(space, arch_to_sample(random_cells(1)[0])):
        with check.blocks_sampled(space, 0):
            first = [space.assignment().indices for _ in range(20)]
        with check.blocks_sampled(space, 0):
            assert [space.assignment().indices for _ in range(20)] == first  # seeded
        assert all(0 <= b < 3 for a in first for b in a) and len({tuple(a) for a in first}) > 1  # drawn
