"""--precision: Lightning's precision of the training steps, the second-order terms kept in fp32,
bf16 detection that counts only native bf16 on the run's own device."""

import io

import torch

from nni_cnas.curriculum.config import CurriculumConfig
from nni_cnas.resources import native_bf16
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import run_search
from nni_cnas.strategies.differentiable.darts_v2 import DartsV2Module

TINY = dict(dataset='digits', subset=32, epochs=1, batch_size=16, channels=4, cells=1, num_candidates=2,
            selection_size=16, k=2, tensorboard=False, progress_bar=False)


def test_bf16_mixed_trains_under_autocast_and_the_hypergradient_in_fp32(tmp_path, monkeypatch):
    seen = {}
    step = DartsV2Module.training_step
    second_order = DartsV2Module.architecture_gradient

    def training_step(self, batch, batch_idx):
        seen.setdefault('step', torch.is_autocast_enabled('cpu'))
        return step(self, batch, batch_idx)

    def hypergradient(self, *args):
        seen.setdefault('hypergradient', torch.is_autocast_enabled('cpu'))
        return second_order(self, *args)

    monkeypatch.setattr(DartsV2Module, 'training_step', training_step)
    monkeypatch.setattr(DartsV2Module, 'architecture_gradient', hypergradient)
    result = run_search(SearchConfig(strategy='darts-v2', precision='bf16-mixed', out=str(tmp_path / 'run'), **TINY),
                        stream=io.StringIO())
    assert seen == {'step': True, 'hypergradient': False} and result['arch'].count('~') == 6


def test_bf16_counts_only_where_it_is_native():
    assert not native_bf16('cpu')
    assert not CurriculumConfig(precision='auto').uses_bf16(torch.device('cpu'))
    assert CurriculumConfig(precision='bf16').uses_bf16(torch.device('cpu'))


GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
            "reduce_concat=[2, 3, 4, 5])")


def test_a_retraining_in_bf16_mixed_runs_and_fp16_is_refused(tmp_path, capsys, monkeypatch):
    import torch.nn.functional as F

    from nni_cnas.cli import main

    seen = []
    loss = F.cross_entropy
    monkeypatch.setattr(F, 'cross_entropy', lambda *a, **k: seen.append(torch.is_autocast_enabled('cpu'))
                        or loss(*a, **k))
    tiny = ['--dataset', 'digits', '--subset', '32', '--epochs', '1', '--batch-size', '16', '--channels', '4',
            '--cells', '1']
    assert main(['retrain', GENOTYPE, *tiny, '--precision', 'bf16-mixed', '--out', str(tmp_path / 'a')]) == 0
    assert seen and all(seen)
    assert main(['retrain', GENOTYPE, *tiny, '--precision', '16-mixed', '--out', str(tmp_path / 'b')]) == 2
    assert 'retraining takes --precision 32 or bf16-mixed' in capsys.readouterr().err and not (tmp_path / 'b').exists()
