"""Retraining found cells: network size by hand, multiply-adds by hand, ScheduledDropPath, cutout,
resume after a kill, and bad input from the command line."""

import json

import pytest
import torch
import torch.nn as nn

from nni_cnas.retrain import cnn as retrain_module
from nni_cnas.cli import main
from nni_cnas.retrain.cnn import RetrainConfig, cutout, resume_retrain, run_retrain
from nni_cnas.spaces.fixed import (
    GenotypeNetwork, ScheduledDropPath, count_macs, count_parameters, drop_path_probability,
)
from nni_cnas.spaces.genotype import Genotype

from helpers import killed_after_epoch

SMALL = ("Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2)], "
         "normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 2), "
         "('max_pool_3x3', 1)], reduce_concat=[2, 3])")


def relu_conv_bn(c_in, c_out):
    return c_in * c_out + 2 * c_out


def factorized_reduce(c_in, c_out):
    return 2 * c_in * (c_out // 2) + 2 * c_out


def sep_conv_3x3(c):
    return 2 * (c * 9 + c * c + 2 * c)


def test_parameter_count_matches_a_hand_count():
    # 1 input channel, C=2, one normal cell per stage: normal, reduce, normal, reduce, normal.
    model = GenotypeNetwork(Genotype.from_text(SMALL), channels=2, cells=1, num_classes=10, in_channels=1)
    stem = 1 * 6 * 9 + 2 * 6                                                                   # 3x3 conv to 3C, BN
    cell0 = relu_conv_bn(6, 2) + relu_conv_bn(6, 2) + sep_conv_3x3(2)                         # out 2 nodes x 2
    cell1 = relu_conv_bn(6, 4) + relu_conv_bn(4, 4) + factorized_reduce(4, 4)                 # strided skip; out 8
    cell2 = factorized_reduce(4, 4) + relu_conv_bn(8, 4) + sep_conv_3x3(4)                    # after a reduction
    cell3 = relu_conv_bn(8, 8) + relu_conv_bn(8, 8) + factorized_reduce(8, 8)                 # out 16
    cell4 = factorized_reduce(8, 8) + relu_conv_bn(16, 8) + sep_conv_3x3(8)
    classifier = 16 * 10 + 10
    assert count_parameters(model) == {'params': stem + cell0 + cell1 + cell2 + cell3 + cell4 + classifier,
                                       'auxiliary_params': 0}
    with_head = GenotypeNetwork(Genotype.from_text(SMALL), channels=2, cells=1, num_classes=10, in_channels=1,
                                auxiliary=True)
    head = 16 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert count_parameters(with_head) == {'params': count_parameters(model)['params'], 'auxiliary_params': head}


def test_multiply_adds_match_a_hand_count():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4, stride=2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 10))
    assert count_macs(model, (3, 5, 5)) == 4 * 25 * 3 * 9 + 4 * 9 * 1 * 9 + 36 * 10


def test_network_outputs_and_auxiliary_logits():
    model = GenotypeNetwork(Genotype.from_text(SMALL), channels=4, cells=1, num_classes=5, in_channels=3,
                            auxiliary=True)
    logits, aux = model(torch.randn(2, 3, 16, 16))
    assert logits.shape == aux.shape == (2, 5)
    model.eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_scheduled_drop_path_rises_linearly_and_never_drops_at_evaluation():
    assert [drop_path_probability(0.2, e, 4) for e in range(4)] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    drop = ScheduledDropPath()
    drop.drop_prob = 0.5
    x = torch.ones(4000, 2, 3, 3)
    out = drop(x)
    kept = out[:, 0, 0, 0]
    assert set(kept.unique().tolist()) <= {0.0, 2.0}
    assert abs(float((kept == 0).float().mean()) - 0.5) < 0.05
    assert torch.equal(out[kept == 0], torch.zeros_like(out[kept == 0]))  # whole paths, per sample
    drop.eval()
    assert torch.equal(drop(x), x)


def test_cutout_zeroes_one_clipped_square_per_image():
    images = torch.ones(64, 3, 8, 8)
    out = cutout(images, 4, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros <= 16).all() and (zeros >= 4).all() and (zeros == 16).any()
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # same square on every channel
    assert torch.equal(cutout(images, 0, torch.Generator()), images)


def _config(tmp_path, name, **kwargs):
    return RetrainConfig(source=SMALL, dataset='digits', subset=64, epochs=3, batch_size=32, channels=4, cells=1,
                         out=str(tmp_path / name), **kwargs)


def test_retrain_writes_results_and_a_killed_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    whole = run_retrain(_config(tmp_path, 'whole'))
    metrics = [json.loads(line) for line in (tmp_path / 'whole' / 'metrics.jsonl').read_text().splitlines()]
    assert [m['drop_path'] for m in metrics] == pytest.approx([0.0, 0.2 / 3, 0.4 / 3])
    assert whole['params'] == count_parameters(GenotypeNetwork(Genotype.from_text(SMALL), 4, 1, 10, 1))['params']
    assert whole['multiply_adds'] > 0 and 0 <= whole['test_acc'] <= 1

    with killed_after_epoch(monkeypatch, retrain_module, 1):
        run_retrain(_config(tmp_path, 'killed'))
    resumed = resume_retrain(str(tmp_path / 'killed'))
    assert resumed['test_acc'] == whole['test_acc']
    first = torch.load(tmp_path / 'whole' / 'checkpoint.pt', weights_only=True)['model']
    second = torch.load(tmp_path / 'killed' / 'checkpoint.pt', weights_only=True)['model']
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert len((tmp_path / 'killed' / 'metrics.jsonl').read_text().splitlines()) == 3


@pytest.mark.parametrize('args, message', [
    (["Genotype(normal=[('conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2], "
      "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])"], "unknown op 'conv_9x9'"),
    (["Genotype(normal=[('skip_connect', 0), ('skip_connect', 4)], normal_concat=[2], "
      "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])"], 'takes input 4'),
    (['{folder}'], 'has no genotype.json'),
    ([SMALL, '--channels', '5'], '--channels must be even'),
    ([SMALL, '--drop-path', '1.5'], '--drop-path is a probability'),
    ([SMALL, '--dataset', 'mnist'], "unknown retraining dataset 'mnist'"),
])
def test_bad_input_is_one_line_and_exit_2_with_no_output(args, message, tmp_path, capsys):
    folder = tmp_path / 'not-a-run'
    folder.mkdir()
    out = tmp_path / 'out'
    argv = ['retrain'] + [a.replace('{folder}', str(folder)) for a in args] + ['--out', str(out)]
    if '--dataset' not in args:
        argv += ['--dataset', 'digits']
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_search_on_nasnet_then_retrain_its_run_folder(tmp_path, capsys):
    run = tmp_path / 'run'
    assert main(['search', '--space', 'nasnet', '--strategy', 'rsps', '--dataset', 'digits', '--subset', '32',
                 '--epochs', '1', '--channels', '4', '--cells', '1', '--batch-size', '16', '--candidates', '2',
                 '--selection-size', '16', '--k', '2', '--no-tensorboard', '--out', str(run)]) == 0
    result = json.loads((run / 'result.json').read_text())
    genotype = Genotype.from_json(result['genotype'])
    assert genotype.space == 'nasnet' and result['arch'] == genotype.text() == (run / 'genotype.txt').read_text().strip()
    assert (run / 'cells.png').stat().st_size > 10_000 and result['lookup'] is None
    out = tmp_path / 'retrained'
    assert main(['retrain', str(run), '--dataset', 'digits', '--subset', '32', '--epochs', '1', '--channels', '4',
                 '--cells', '1', '--out', str(out)]) == 0
    retrained = json.loads((out / 'result.json').read_text())
    assert retrained['genotype'] == genotype.text() and retrained['params'] > 0
    assert 'test accuracy' in capsys.readouterr().out


def test_nas_bench_options_are_refused_on_cell_spaces(capsys):
    assert main(['search', '--space', 'darts', '--rank-cells', '10', '--dataset', 'digits']) == 2
    assert '--rank-cells needs NAS-Bench-201' in capsys.readouterr().err
    assert main(['search', '--space', 'nb201', '--stem', 'imagenet', '--dataset', 'digits']) == 2
    assert '--stem applies to the darts, nasnet, nni:darts' in capsys.readouterr().err
