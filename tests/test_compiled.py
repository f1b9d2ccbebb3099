"""compile=True: the steps whose forward is the whole mixed supernet run compiled; the search equals
the eager one, resumes bit for bit, keeps the eager checkpoint's keys, and is refused in one line
where it cannot take effect. These use torch.compile's aot_eager backend (dynamo and AOT autograd,
no generated code: seconds); inductor's generated kernels are the slow suite's
(``pytest -m compiled tests/test_compiled.py``)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nni_cnas
from nni_cnas.errors import UserError
from nni_cnas.run.checkpoint import CHECKPOINT_DIR
from nni_cnas.run.config import SearchConfig
from nni_cnas.strategies import registry

from helpers import NNI_CNAS, assert_same_search, final_state, run_to_end, search_argv, start, wait_for

AOT = ['--compile', '--compile-backend', 'aot_eager']


@pytest.fixture(scope='module')
def darts_runs(tmp_path_factory):
    """DARTS with the epoch curriculum, eager and compiled (aot_eager), uninterrupted."""
    root = tmp_path_factory.mktemp('compiled')
    runs = {'eager': root / 'eager', 'compiled': root / 'compiled'}
    run_to_end(search_argv(runs['eager'], 'darts', 'epoch', epochs=2))
    run_to_end(search_argv(runs['compiled'], 'darts', 'epoch', epochs=2, extra=AOT))
    return runs


def test_a_compiled_darts_search_equals_the_eager_one_and_keeps_its_checkpoint_keys(darts_runs):
    assert_same_search(darts_runs['eager'], darts_runs['compiled'])  # aot_eager runs the same kernels: bit for bit
    config = (darts_runs['compiled'] / 'config.yaml').read_text()
    assert 'compile: true' in config and 'compile_backend: aot_eager' in config
    state, _ = final_state(darts_runs['compiled'])
    assert not any('_orig_mod' in key for key in state)


def test_a_stopped_compiled_search_resumes_to_the_uninterrupted_one(darts_runs, tmp_path):
    run = tmp_path / 'stopped'
    process = start(search_argv(run, 'darts', 'epoch', epochs=2, extra=AOT))
    wait_for(run / CHECKPOINT_DIR / 'epoch-0000.ckpt', process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr[-2000:]
    resumed = run_to_end([NNI_CNAS, 'search', '--resume', str(run)])
    assert resumed.stderr == '', resumed.stderr
    assert_same_search(darts_runs['compiled'], run)


def test_setn_compiles_its_architecture_step_and_equals_eager(tmp_path):
    eager, compiled = tmp_path / 'eager', tmp_path / 'compiled'
    run_to_end(search_argv(eager, 'setn', 'epoch', epochs=2))
    run_to_end(search_argv(compiled, 'setn', 'epoch', epochs=2, extra=AOT))
    assert_same_search(eager, compiled)



def test_a_compiled_search_on_two_processes_equals_the_eager_one(tmp_path):
    """Under DDP (--devices 2) each rank compiles its own forward; the ranks' steps are as eager's."""
    eager, compiled = tmp_path / 'eager', tmp_path / 'compiled'
    processes = ['--device', 'cpu', '--devices', '2', '--threads', '1']
    run_to_end(search_argv(eager, 'darts', 'epoch', epochs=2, extra=processes))
    run_to_end(search_argv(compiled, 'darts', 'epoch', epochs=2, extra=[*processes, *AOT]))
    assert 'compile: true' in (compiled / 'config.yaml').read_text()
    assert_same_search(eager, compiled)


def test_jobs_workers_compile_their_own_searches(tmp_path):
    """A sweep with --jobs 2: each worker process compiles its search's steps and records the option."""
    import yaml

    out = tmp_path / 'sweep'
    argv = [NNI_CNAS, 'sweep', '--strategy', 'setn', '--curriculum', 'epoch', '--ks', '0,2', '--seeds', '0', '--jobs', '2',
            '--dataset', 'digits', '--subset', '48', '--batch-size', '16', '--epochs', '2', '--channels', '4',
            '--cells', '1', '--candidates', '4', '--selection-size', '32', '--out', str(out), *AOT]
    run_to_end(argv)
    configs = [yaml.safe_load(path.read_text())['config'] for path in sorted(out.glob('*/config.yaml'))]
    assert [(c['k'], c['compile'], c['compile_backend']) for c in configs] == [(0, True, 'aot_eager'), (2, True, 'aot_eager')]
    assert all(json.loads(path.read_text())['arch'] for path in out.glob('*/result.json'))

@pytest.mark.parametrize('name', [spec.name for spec in registry.specs() if not spec.static_steps])
def test_compile_is_refused_in_one_line_where_no_step_runs_the_whole_supernet(name):
    with pytest.raises(ValueError, match=f'{name} has none .* leave it off'):
        nni_cnas.STRATEGIES[name](compile=True)
    with pytest.raises(UserError, match=f'{name} has none'):
        SearchConfig(strategy=name, dataset='digits', compile=True).resolve()


def test_the_static_steps_are_the_mixed_ones():
    static = {spec.name: spec.static_steps for spec in registry.specs() if spec.static_steps}
    assert static == {'darts': ('weight', 'architecture'), 'darts-v2': ('weight',), 'amended-darts': ('weight',),
                      'setn': ('architecture',)}
    assert all(not registry.get(name).single_path for name in static if 'weight' in static[name])


def test_a_backend_option_that_cannot_take_effect_is_refused():
    with pytest.raises(ValueError, match="compile backend 'nope' is not one of torch.compile's: .*inductor"):
        nni_cnas.DARTS(compile=True, compile_backend='nope')
    with pytest.raises(ValueError, match='applies with compile=True'):
        nni_cnas.DARTS(compile_backend='aot_eager')
    with pytest.raises(UserError, match='--compile-backend aot_eager applies with --compile'):
        SearchConfig(strategy='darts', dataset='digits', compile_backend='aot_eager').resolve()


def test_a_users_module_without_a_criterion_is_refused_before_training():
    class OwnStep(torch.nn.Module):
        def training_step(self, batch, step):
            return batch.sum()

    strategy = nni_cnas.DARTS(compile=True, compile_backend='aot_eager')
    with pytest.raises(TypeError, match='OwnStep has no criterion .* leave compile off'):
        strategy.configure_oneshot_module(OwnStep())


@pytest.mark.compiled
def test_an_inductor_compiled_darts_search_matches_the_eager_one_within_float_tolerance(darts_runs, tmp_path):
    run = tmp_path / 'inductor'
    run_to_end(search_argv(run, 'darts', 'epoch', epochs=2, extra=['--compile']))
    eager, eager_result = final_state(darts_runs['eager'])
    compiled, compiled_result = final_state(run)
    floats = [key for key in eager if isinstance(eager[key], torch.Tensor) and eager[key].is_floating_point()]
    assert floats and all(torch.allclose(eager[k], compiled[k], rtol=1e-3, atol=1e-4) for k in floats)
    assert 'compile: true' in (run / 'config.yaml').read_text()
    assert eager_result['arch'] == compiled_result['arch']


def test_fixing_and_unfixing_a_mixed_op_leaves_it_as_the_compiled_forward_saw_it():
    """torch.compile guards the mixed forward on each op's ``__dict__``: a fixed-architecture pass (the
    curriculum's, a candidate's score) must not leave anything there, or every later step recompiles."""
    from nni_cnas.arch.supernet import fixed_architecture
    from nni_cnas.data import load_search_data
    from nni_cnas.spaces.nb201_arch import all_archs, arch_to_sample

    from helpers import tiny_space

    supernet = nni_cnas.DARTS(curriculum=None).mutate_model(tiny_space(load_search_data('digits', subset=16), 4))
    first, second = (arch_to_sample(arch) for arch, _ in zip(all_archs(), range(2)))
    with fixed_architecture(supernet, first):  # the first pass caches each op's labels, once
        pass
    before = {name: dict(module.__dict__) for name, module in supernet.named_modules()}
    with fixed_architecture(supernet, second):
        assert any('_fixed' in module.__dict__ for module in supernet.modules())
    after = {name: dict(module.__dict__) for name, module in supernet.named_modules()}
    assert after.keys() == before.keys() and all(after[name].keys() == before[name].keys() for name in before)
    assert not any('_fixed' in module.__dict__ for module in supernet.modules())


def test_the_side_by_side_script_times_an_eager_and_a_compiled_search(tmp_path):
    script = Path(__file__).resolve().parents[1] / 'benchmarks' / 'compiled_search.py'
    out = tmp_path / 'compiled.json'
    done = subprocess.run([sys.executable, str(script), '--strategies', 'darts', '--sizes', '4x1x8', '--curricula', 'none',
                           '--epochs', '2', '--subset', '64', '--batch-size', '16', '--dataset', 'digits', '--threads', '1',
                           '--backend', 'aot_eager', '--warm', '--json', str(out)], capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    row, = json.loads(out.read_text())['rows']
    assert (row['strategy'], row['size'], row['curriculum']) == ('darts', '4x1x8', 'none')
    assert row['eager']['arch'] == row['compiled']['arch'] == row['compiled_warm']['arch']  # aot_eager: the same search
    assert row['warm_search_speedup'] > 0
    assert row['search_speedup'] > 0 and row['compiled']['first_epoch_seconds'] > row['compiled']['later_epoch_seconds']


@pytest.mark.parametrize('script, row_keys', [
    ('compiled_step.py', {'eager', 'compiled'}),
    ('compiled_path.py', {'eager', 'pieces_compiled'}),
])
def test_the_step_benchmarks_time_eager_against_compiled(script, row_keys, tmp_path):
    """The mixed step (compiled whole) and the path step (compiled pieces), with aot_eager at a tiny size."""
    out = tmp_path / 'step.json'
    path = Path(__file__).resolve().parents[1] / 'benchmarks' / script
    done = subprocess.run([sys.executable, str(path), '--sizes', '4x1x8', '--batch-size', '8', '--warmup', '1',
                           '--repeats', '2', '--threads', '1', '--backend', 'aot_eager', '--json', str(out)],
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    size, = json.loads(out.read_text())['sizes']
    timed = size['variants'] if 'variants' in size else size
    assert (size['channels'], size['cells'], size['side']) == (4, 1, 8) and size['speedup'] > 0
    assert all(timed[key]['median_s'] > 0 and len(timed[key]['times_s']) == 2 for key in row_keys)
    if script == 'compiled_path.py':
        assert size['pieces'] == 60 and size['graphs_compiled'] >= 1  # 3 cells x 6 edges x 3 ops, and the rest
