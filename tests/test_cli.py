"""The command line: a real search, look-ups, and every bad input (one line, exit 2, no run folder)."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from nni_cnas.cli import main


TINY = ['--epochs', '2', '--channels', '4', '--cells', '1', '--subset', '48', '--batch-size', '16',
        '--candidates', '4', '--selection-size', '32']
BEST = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_writes_a_complete_run_folder(capsys, tmp_path, nb201_table):
    out = tmp_path / 'run'
    code, stdout, _ = run_cli(capsys, 'search', '--strategy', 'rsps', '--curriculum', 'batch', '--k', '2',
                              *TINY, '--out', str(out), '--nb201-table', str(nb201_table))
    assert code == 0
    result = json.loads((out / 'result.json').read_text())
    assert result['arch'] in stdout and 'found architecture' in stdout
    assert result['lookup']['cifar10']['test'] > 0 and 'best of 4 candidates' in result['selected_by']
    config = yaml.safe_load((out / 'config.yaml').read_text())
    assert config['config']['strategy'] == 'rsps' and config['config']['k'] == 2 and config['versions']['nni'] == '3.0'
    assert json.loads((out / 'status.json').read_text())['state'] == 'finished'
    metrics = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [m['epoch'] for m in metrics] == [0, 1]
    assert set(metrics[1]['data_weights']) >= {'min', 'max', 'entropy', 'gini'}


def test_search_prints_the_architecture_per_epoch(capsys, tmp_path, nb201_table):
    code, stdout, _ = run_cli(capsys, 'search', '--strategy', 'darts', *TINY, '--out', str(tmp_path / 'r'),
                              '--nb201-table', str(nb201_table))
    epochs = [line for line in stdout.splitlines() if line.startswith('epoch ')]
    assert code == 0 and len(epochs) == 2 and all('|~' not in line and '~0|' in line for line in epochs)


def test_lookup_prints_the_benchmark(capsys, nb201_table):
    code, stdout, _ = run_cli(capsys, 'lookup', BEST, '--nb201-table', str(nb201_table))
    assert code == 0 and '94.37' in stdout
    code, stdout, _ = run_cli(capsys, 'lookup', BEST, '--nb201-table', str(nb201_table), '--json')
    assert json.loads(stdout)['cifar10']['test'] == pytest.approx(94.3733)


def broken_cifar100(tmp_path):
    folder = tmp_path / 'c100' / 'cifar-100-python'
    folder.mkdir(parents=True)
    (folder / 'train').write_bytes(b'\x80garbage')
    with open(folder / 'test', 'wb') as f:
        pickle.dump({b'data': [], b'fine_labels': []}, f)
    return tmp_path / 'c100'


def bad_table(tmp_path):
    path = tmp_path / 'table.csv'
    path.write_text('index,arch\n0,|none~0|\n')
    return path


def image_folder(tmp_path, classes, empty=()):
    """A ``train/<class>/*.png`` folder with two tiny images per class, and empty class folders."""
    from PIL import Image

    root = tmp_path / 'images'
    for name in classes:
        (root / 'train' / name).mkdir(parents=True)
        for i in range(2):
            Image.new('RGB', (8, 8), (40 * i, 90, 200)).save(root / 'train' / name / f'{i}.png')
    for name in empty:
        (root / 'train' / name).mkdir(parents=True)
    return root


def cut_table(tmp_path, nb201_rows=3):
    """The packaged NAS-Bench-201 table's first rows, the last one cut in the middle of its arch string."""
    from nni_cnas.benchmarks.nb201 import PACKAGED_TABLE, open_table_text

    with open_table_text(PACKAGED_TABLE) as source:
        lines = [next(source).rstrip('\n') for _ in range(nb201_rows)]
    path = tmp_path / 'cut.csv'
    path.write_text('\n'.join(lines[:-1] + [lines[-1][:40]]) + '\n')
    return path


def file_parent(tmp_path):
    (tmp_path / 'a-file').write_text('x')
    return tmp_path / 'a-file' / 'run'


BAD_SEARCHES = {
    'unknown space': (['--space', 'darts-cnn'], 'unknown space'),
    'unknown strategy': (['--strategy', 'nsga'], 'unknown strategy'),
    'unknown dataset': (['--dataset', 'imagenet'], 'unknown dataset'),
    'unknown schedule': (['--curriculum', 'weekly'], 'unknown curriculum'),
    'unknown device': (['--device', 'tpu'], 'unknown device'),
    'negative k': (['--k', '-1'], '--k must be 0 or more'),
    'missing data dir': (['--dataset', 'cifar100', '--data-dir', '/nonexistent/cifar'], 'does not exist'),
    'corrupt data dir': (['--dataset', 'cifar100', '--data-dir', broken_cifar100], 'not a readable dataset pickle'),
    'data dir without data': (['--dataset', 'cifar10', '--data-dir', lambda p: p], 'python-pickle layout'),
    'missing benchmark': (['--nb201-table', '/nonexistent/table.csv'], 'does not exist'),
    'corrupt benchmark': (['--nb201-table', bad_table], 'not a NAS-Bench-201 accuracy table'),
    'k without curriculum': (['--curriculum', 'none', '--k', '3'], '--curriculum is none'),
    'gdas option for darts': (['--strategy', 'darts', '--tau-max', '5'], 'applies to gdas'),
    'enas option for rsps': (['--strategy', 'rsps', '--controller-steps', '5'], 'applies to enas'),
    'data dir for digits': (['--data-dir', '/tmp'], 'takes no --data-dir'),
    'tau order': (['--strategy', 'gdas', '--tau-max', '1', '--tau-min', '5'], 'tau_max >= tau_min > 0 (--tau-max, --tau-min)'),
    'zero epochs': (['--epochs', '0'], '--epochs must be positive'),
    'not a number': (['--epochs', 'many'], 'invalid int value'),
    'unknown option': (['--epoch', '3'], 'unrecognized arguments'),
    'amended option for darts-v2': (['--strategy', 'darts-v2', '--eta', '0.2'], 'applies to amended-darts'),
    'unknown hvp': (['--strategy', 'amended-darts', '--hvp', 'newton'], 'unknown hvp'),
    'negative eta': (['--strategy', 'amended-darts', '--eta', '-1'], '--eta must be 0 or more'),
    'amortised darts-v2': (['--strategy', 'darts-v2', '--estimator', 'amortised'], 'trains the whole mixture'),
    'amortised darts': (['--strategy', 'darts', '--measure', 'amortised'], '(--measure uncertainty)'),
    'measure and estimator': (['--strategy', 'rsps', '--measure', 'loss', '--estimator', 'amortised'], 'give only --measure'),
    'weighting without curriculum': (['--curriculum', 'none', '--weighting', 'inverse'], '--weighting configure(s) the data'),
    'negative alpha': (['--alpha', '-1'], '--alpha must be 0 or more'),
    'fractional start epoch': (['--curriculum-start', '2.5'], 'a share of the epochs (below 1) or an epoch number'),
    'unknown measure': (['--measure', 'hardness'], "unknown measure 'hardness'"),
    'run folder in /proc': (['--out', '/proc/nni-cnas-run'], 'cannot create folders in /proc'),
    'run folder under a file': (['--out', file_parent], 'is a file, not a folder'),
    'folder of one class': (['--dataset', 'folder', '--data-dir', lambda p: image_folder(p, ['cat'])],
                            'a classifier needs at least 2'),
    'empty class folder': (['--dataset', 'folder', '--data-dir', lambda p: image_folder(p, ['cat', 'dog'], ['emu'])],
                           'train/emu holds no images'),
    'table cut mid-line': (['--nb201-table', cut_table], 'line 3 is not a valid NAS-Bench-201 table row'),
    'fp16 on the CPU': (['--precision', '16-mixed', '--device', 'cpu'], '--precision 16-mixed needs a CUDA GPU'),
    'unknown precision': (['--precision', 'fp8'], "unknown precision 'fp8'"),
    'one GPU on a CPU machine': (['--device', 'cuda:1'], '--device cuda:1: torch sees no CUDA GPU'),
    'GPU index not a number': (['--device', 'cuda:x'], "unknown device 'cuda:x'"),
    'space options of our own space': (['--space-options', 'width=4'], '--space-options applies to NNI\'s hub spaces'),
    'space options not KEY=VALUE': (['--space', 'nni:darts', '--space-options', 'width'], 'takes KEY=VALUE items'),
    'space options not a value': (['--space', 'nni:darts', '--space-options', 'width=(4'], 'not a number, tuple'),
    'hub cell space of 10 classes': (['--space', 'nni:darts', '--dataset', 'folder',
                                      '--data-dir', lambda p: image_folder(p, ['cat', 'dog'])], 'has 10 classes, the data 2'),
    'hub constructor refusal': (['--space', 'nni:darts', '--cells', '1', '--dataset', 'folder',
                                 '--data-dir', lambda p: image_folder(p, [str(i) for i in range(10)])], 'is invalid'),
}


def test_device_picks_one_gpu_as_lightning_names_it():
    from nni_cnas.run.config import lightning_device

    assert lightning_device('cuda:3') == ('gpu', [3])
    assert lightning_device('cuda') == ('gpu', 1) and lightning_device('auto') == ('auto', 1)
    assert lightning_device('cpu') == ('cpu', 1)


def test_search_on_an_nni_hub_space(capsys, tmp_path):
    """``--space nni:darts`` with the hub's constructor options: a search whose architecture is a
    sample of NNI's own hub space."""
    import json

    from nni.nas.hub.pytorch import DARTS

    folder = image_folder(tmp_path, [str(i) for i in range(10)])
    out = tmp_path / 'run'
    code, stdout, _ = run_cli(capsys, 'search', '--space', 'nni:darts', '--space-options', 'width=(4,8) num_cells=3',
                              '--strategy', 'rsps', '--k', '2', '--candidates', '3', '--dataset', 'folder',
                              '--data-dir', str(folder), '--epochs', '1', '--batch-size', '10', '--out', str(out))
    assert code == 0, stdout
    sample = json.loads((out / 'result.json').read_text())['sample']
    assert DARTS(width=(4, 8), num_cells=3).contains(sample)
    assert 'the space is not in a benchmark' in stdout


def test_a_hub_space_on_the_default_grey_data_repeats_its_channel(capsys, tmp_path):
    """NNI's hub spaces take RGB images; on the default data set (grey digits) the search repeats the
    channel, says so in one line, and looks the found cell up as for its own NAS-Bench-201 space."""
    out = tmp_path / 'run'
    code, stdout, stderr = run_cli(capsys, 'search', '--space', 'nni:nasbench201', '--strategy', 'rsps', *TINY,
                                   '--out', str(out))
    assert code == 0, stderr
    assert stdout.count('nni:nasbench201 takes RGB images: the grey channel of digits is repeated 3 times') == 1
    result = json.loads((out / 'result.json').read_text())
    assert result['lookup']['cifar10']['test'] > 0
    data = yaml.safe_load((out / 'config.yaml').read_text())['data']
    assert data['in_channels'] == 3 and data['grey_repeated_to_rgb'] is True


def test_grey_data_as_rgb_gives_the_same_normalised_inputs(digits):
    rgb = digits.as_rgb()
    assert rgb.in_channels == 3 and torch.equal(rgb.train.images[:, 2], digits.train.images[:, 0])
    grey_batch = next(iter(digits.loaders(16, seed=0)['val']))[0]
    rgb_batch = next(iter(rgb.loaders(16, seed=0)['val']))[0]
    assert all(torch.equal(rgb_batch[:, c], grey_batch[:, 0]) for c in range(3))
    with pytest.raises(ValueError, match='one grey channel'):
        rgb.as_rgb()


@pytest.mark.parametrize('case', list(BAD_SEARCHES))
def test_bad_search_input(case, capsys, tmp_path):
    args, message = BAD_SEARCHES[case]
    args = [str(a(tmp_path)) if callable(a) else a for a in args]
    out = tmp_path / 'run'
    code, stdout, stderr = run_cli(capsys, 'search', *TINY, '--out', str(out), *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('nni-cnas: error:') and message in lines[0], stderr
    assert 'Traceback' not in stderr + stdout
    assert 'run folder' not in stdout  # nothing names a folder that is never made
    assert not out.exists()


def test_existing_run_folder_is_not_overwritten(capsys, tmp_path):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'result.json').write_text('{"keep": true}')
    code, _, stderr = run_cli(capsys, 'search', *TINY, '--out', str(out))
    assert code == 2 and 'already exists' in stderr and 'keep' in (out / 'result.json').read_text()
    (tmp_path / 'file').write_text('x')
    code, _, stderr = run_cli(capsys, 'search', *TINY, '--out', str(tmp_path / 'file'))
    assert code == 2 and 'not a folder' in stderr


@pytest.mark.parametrize('arch, message', [
    ('|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|', "unknown op 'conv_9x9'"),
    ('hello', 'not a NAS-Bench-201 arch string'),
])
def test_bad_arch_strings(arch, message, capsys, nb201_table):
    code, _, stderr = run_cli(capsys, 'lookup', arch, '--nb201-table', str(nb201_table))
    assert code == 2 and stderr.count('\n') == 1 and message in stderr


def test_lookup_without_any_benchmark(capsys, tmp_path, monkeypatch):
    from nni_cnas.benchmarks import nb201

    monkeypatch.setattr(nb201, 'PACKAGED_TABLE', tmp_path / 'lost.csv.xz')
    monkeypatch.delenv('NNI_CNAS_NB201_TABLE', raising=False)
    code, _, stderr = run_cli(capsys, 'lookup', BEST)
    assert code == 2 and 'no NAS-Bench-201 benchmark found' in stderr


def test_the_installed_command_exits_2_without_traceback(tmp_path):
    command = Path(sys.executable).with_name('nni-cnas')
    process = subprocess.run([str(command), 'search', '--strategy', 'nsga', '--out', str(tmp_path / 'r')],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 2 and process.stderr.count('\n') == 1 and 'Traceback' not in process.stderr
    assert not (tmp_path / 'r').exists()
