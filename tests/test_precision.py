"""--precision: Lightning's precision of the training steps, the second-order terms kept in fp32,
bf16 detection that counts only native bf16 on the run's own device."""


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
    result = run_search(SearchConfig(strategy='darts-v2', precision='bf16-mixed', out=str(tmp_path / 'run'), **TINY))
    assert seen == {'step': True, 'hypergradient': False} and result['arch'].count('~') == 6


def test_bf16_counts_only_where_it_is_native():
    assert not native_bf16('cpu')
    assert not CurriculumConfig(uncertainty_precision='auto').uses_bf16(torch.device('cpu'))
    assert CurriculumConfig(uncertainty_precision='bf16').uses_bf16(torch.device('cpu'))


GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
            "reduce_concat=[2, 3, 4, 5])")


def test_a_retraining_in_bf16_mixed_runs_and_fp16_is_refused_on_the_cpu(tmp_path, capsys, monkeypatch):
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
    assert '--precision 16-mixed needs a CUDA GPU; on the cpu use bf16-mixed or 32' in capsys.readouterr().err
    assert not (tmp_path / 'b').exists()


def test_the_gradient_scaler_step_is_the_unscaled_step_with_clipping_on_unscaled_gradients(tmp_path):
    """16-mixed retraining's step (torch's GradScaler, here on the CPU, where it also runs): the
    scaled backward, unscaled before clipping, gives the parameters a plain step gives."""
    from nni_cnas.retrain.common import training_step

    def step(scaler):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        loss = torch.nn.functional.cross_entropy(model(x), y) * 100  # large gradients: clipping acts
        training_step(model, optimizer, loss, 0.1, 'step 1', tmp_path / 'checkpoint.pt', scaler)
        return [p.detach().clone() for p in model.parameters()]

    scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 12)
    for plain, scaled in zip(step(None), step(scaler)):
        assert torch.allclose(plain, scaled, atol=1e-6)
    assert scaler.get_scale() == 2.0 ** 12  # no overflow: the scale stays (it grows after 2000 good steps)


def test_the_cuda_math_policy_sets_cudnn_benchmark_and_tf32_on_cuda_only():
    from nni_cnas.resources import apply_cuda_math

    saved = (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cudnn.benchmark = False
        torch.set_float32_matmul_precision('highest')
        apply_cuda_math(torch.device('cpu'))
        assert not torch.backends.cudnn.benchmark and torch.get_float32_matmul_precision() == 'highest'
        apply_cuda_math(torch.device('cuda'))  # flags only: no GPU is needed to set them
        assert torch.backends.cudnn.benchmark and torch.get_float32_matmul_precision() == 'high'
        assert torch.backends.cudnn.allow_tf32
        apply_cuda_math(torch.device('cuda', 0), tf32=False)
        assert torch.get_float32_matmul_precision() == 'highest' and not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.benchmark = saved[0]
        torch.set_float32_matmul_precision(saved[1])
        torch.backends.cudnn.allow_tf32 = saved[2]
