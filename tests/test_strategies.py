"""Every strategy end to end, the curriculum's exact semantics, and parity with NNI's own DARTS."""

import itertools
import math

import nni.nas.strategy as nni_strategy
import pytest
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback

import nni_cnas
from nni_cnas.data import SearchData
from nni_cnas.spaces.nb201_arch import LABELS, OPS, all_archs, sample_to_arch
from nni_cnas.strategies.differentiable.gdas import GdasMixedLayer, GdasModule
from nni_cnas.run.evaluator import SearchClassificationModule, build_evaluator

from helpers import cell_strategies, run_tiny_search, standalone_from_supernet, state_of, tiny_space

FAST_ENAS = dict(controller_steps=2, controller_aggregate=3)


def make(name, **kwargs):
    extra = FAST_ENAS if name == 'enas' else {}
    return nni_cnas.STRATEGIES[name](num_candidates=8, selection_size=32, seed=0, **extra, **kwargs)


class Capture(Callback):
    """Copies of the module's state at chosen points."""

    def __init__(self, at_batch=None, at_epoch=None, extra=None):
        self.at_batch, self.at_epoch, self.extra = at_batch, at_epoch, extra
        self.state = None
        self.captured = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.at_batch is not None and self.state is None and batch_idx == self.at_batch:
            self.state = state_of(pl_module.model)

    def on_train_epoch_end(self, trainer, pl_module):
        if self.at_epoch is not None and trainer.current_epoch == self.at_epoch:
            self.state = state_of(pl_module.model)
            if self.extra:
                self.captured = self.extra(pl_module)


ALL = cell_strategies()


#: Tiny searches shared by the tests of this file: ``(supernet state, exported sample, last summary)``
#: by (strategy, schedule, K), each run once (a plain search is one, whatever schedule it was given).
_RUNS = {}


def tiny_run(name, digits, curriculum=None, k=3):
    key = (name, curriculum if curriculum and k else 'none', k if curriculum and k else 0)
    if key not in _RUNS:
        strategy = make(name, curriculum=curriculum, k=k)
        supernet = run_tiny_search(strategy, digits)
        module = strategy.search_module
        _RUNS[key] = (state_of(supernet), module.export(), module.epoch_record.to_json())
    return _RUNS[key]


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('curriculum', [None, 'epoch', 'batch'])
def test_each_strategy_runs_and_exports_a_valid_cell(name, curriculum, digits):
    _, sample, summary = tiny_run(name, digits, curriculum)
    assert sample_to_arch(sample) in set(all_archs())
    assert summary['epoch'] == 1 and 0 <= summary['train_acc'] <= 1
    weights = summary['data_weights']
    assert weights['count'] == len(digits.train)
    assert (weights['gini'] > 0) == (curriculum is not None)  # the last epoch of a curriculum is weighted


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('schedule', ['epoch', 'batch'])
def test_k_zero_is_the_plain_algorithm_bit_for_bit(name, schedule, digits):
    plain_state = tiny_run(name, digits)[0]
    # run here: a k=0 search must not be taken for the shared plain run
    zero_state = state_of(run_tiny_search(make(name, curriculum=schedule, k=0), digits))
    cl_state = tiny_run(name, digits, schedule)[0]
    assert all(torch.equal(plain_state[key], zero_state[key]) for key in plain_state)
    assert not all(torch.equal(plain_state[key], cl_state[key]) for key in plain_state)  # k>0 changes training


def test_plain_darts_is_nni_darts_bit_for_bit(digits):
    def loaders():  # NNI's module takes (x, y) batches: no sample indices
        built = digits.loaders(16, 0)
        built['train'] = built['train'].view(shuffle=True, augment=digits.augment, with_index=False)
        return built

    ours = run_tiny_search(nni_cnas.DARTS(curriculum=None), digits, loaders=loaders())
    nni_own = run_tiny_search(nni_strategy.DARTS(), digits, loaders=loaders())
    ours_state, nni_state = state_of(ours), state_of(nni_own)
    assert ours_state.keys() == nni_state.keys()
    assert all(torch.equal(ours_state[key], nni_state[key]) for key in ours_state)


def test_epoch_schedule_first_epoch_is_unweighted(digits):
    plain, curriculum = Capture(at_epoch=0), Capture(at_epoch=0, extra=lambda m: bool(m.curriculum.data_weights.ready))
    run_tiny_search(make('darts', curriculum=None), digits, callbacks=[plain])
    run_tiny_search(make('darts', curriculum='epoch', k=3), digits, callbacks=[curriculum])
    assert all(torch.equal(plain.state[key], curriculum.state[key]) for key in plain.state)
    assert curriculum.captured  # ...and the weights for epoch 1 are ready at its end


@pytest.mark.parametrize('name', ['darts', 'gdas'])
def test_only_the_weight_step_is_weighted(name, digits):
    # NNI's order: architecture step, then weight step. After the first step the alphas are the same
    # with and without the (batch) curriculum, the weights are not.
    plain, curriculum = Capture(at_batch=0), Capture(at_batch=0)
    torch.manual_seed(0)
    run_tiny_search(make(name, curriculum=None), digits, epochs=1, callbacks=[plain])
    run_tiny_search(make(name, curriculum='batch', k=3), digits, epochs=1, callbacks=[curriculum])
    alphas = [key for key in plain.state if key.endswith('_arch_alpha')]
    weights = [key for key in plain.state if not key.endswith('_arch_alpha') and plain.state[key].is_floating_point()]
    assert alphas and all(torch.equal(plain.state[k], curriculum.state[k]) for k in alphas)
    assert not all(torch.equal(plain.state[k], curriculum.state[k]) for k in weights)


def test_epoch_weights_equal_an_independent_computation(digits):
    """After epoch 0: the K most probable cells (by enumerating all 15,625), each as NNI's own frozen
    network with the supernet's weights, per-sample CE on the whole split (one batch: BatchNorm uses
    batch statistics), sigma = sqrt(mean_k CE), v = N sigma / sum(sigma)."""
    data = SearchData('digits', digits.train, digits.val, 10, digits.mean, digits.std, None, None)
    k = 4

    def independent(module):
        probs = module.export_probs()
        ranked = sorted(itertools.product(OPS, repeat=len(LABELS)),
                        key=lambda ops: -sum(math.log(probs[l][o]) for l, o in zip(LABELS, ops)))[:k]
        x = (data.train.images.float() / 255 - torch.tensor(data.mean).view(1, -1, 1, 1)) / torch.tensor(data.std).view(1, -1, 1, 1)
        losses = []
        for ops in ranked:
            net = standalone_from_supernet(module.model, dict(zip(LABELS, ops)), channels=4, cells=1,
                                           num_classes=10, in_channels=1).eval()
            with torch.no_grad():
                losses.append(F.cross_entropy(net(x), data.train.labels, reduction='none'))
        sigma = torch.stack(losses).mean(0).sqrt()
        return sigma * len(sigma) / sigma.sum(), module.curriculum.data_weights.weights.clone()

    capture = Capture(at_epoch=0, extra=independent)
    run_tiny_search(make('darts', curriculum='epoch', k=k), data, batch_size=len(data.train), callbacks=[capture])
    expected, actual = capture.captured
    assert torch.allclose(actual, expected, atol=1e-5)
    assert actual.std() > 0


def test_gdas_runs_one_op_per_edge_and_reaches_every_alpha(digits):
    strategy = nni_cnas.GDAS()
    supernet = strategy.mutate_model(tiny_space(digits))
    module = GdasModule(SearchClassificationModule(10))
    module.set_model(supernet)
    calls = []
    layers = [m for m in supernet.modules() if isinstance(m, GdasMixedLayer)]
    for layer in layers:
        for name in layer.names:
            layer[name].register_forward_hook(lambda m, i, o: calls.append(m))
    module.tau = 1.0
    module.resample()
    out = supernet(torch.randn(4, 1, 8, 8))
    assert len(calls) == len(layers)  # one candidate per edge, not all five
    out.sum().backward()
    alphas = {id(layer._arch_alpha): layer._arch_alpha for layer in layers}
    assert len(alphas) == 6 and all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())


def test_gdas_temperature_falls_linearly(digits):
    taus = []

    class Tau(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 0:
                taus.append(pl_module.tau)

    run_tiny_search(make('gdas', curriculum=None), digits, epochs=3, callbacks=[Tau()])
    assert taus == pytest.approx([10.0, 5.05, 0.1])


@pytest.mark.parametrize('name', ['rsps', 'enas', 'setn'])
def test_single_path_searches_are_reproducible(name, digits):
    first = make(name)
    second = make(name)
    a, b = run_tiny_search(first, digits), run_tiny_search(second, digits)
    assert all(torch.equal(x, y) for x, y in zip(state_of(a).values(), state_of(b).values()))
    assert first.search_module.export() == second.search_module.export()


def test_rsps_setn_and_enas_select_the_best_candidate(digits):
    for name in ('rsps', 'enas', 'setn'):
        strategy = make(name, curriculum=None)
        run_tiny_search(strategy, digits)
        module = strategy.search_module
        chosen = module.export()
        candidates = module.export_candidates()
        scores = [module.score(c) for c in candidates]
        selection = module.selector.selection
        assert selection.score == max(scores) and chosen in candidates
        assert selection.num_candidates == 8 and selection.batch_size == 32


def test_setn_candidates_are_the_most_probable_architectures(digits):
    strategy = make('setn', curriculum=None)
    run_tiny_search(strategy, digits)
    module = strategy.search_module
    probs = module.export_probs()

    def log_prob(arch):
        return sum(math.log(probs[label][arch[label]]) for label in LABELS)

    everything = sorted((dict(zip(LABELS, ops)) for ops in itertools.product(OPS, repeat=len(LABELS))),
                        key=log_prob, reverse=True)
    candidates = module.export_candidates()
    assert len(candidates) == 8
    assert [round(log_prob(c), 9) for c in candidates] == [round(log_prob(a), 9) for a in everything[:8]]


def test_setn_weight_step_trains_one_path_and_the_architecture_step_the_mixture(digits):
    """After one step: conv weights of exactly one op per edge changed (plus the classifier etc.),
    and every alpha moved (the joint architecture step)."""
    strategy = make('setn', curriculum=None)
    space = tiny_space(digits)
    supernet = strategy.mutate_model(space)
    before = state_of(supernet)
    evaluator = build_evaluator(SearchClassificationModule(digits.num_classes),
                                digits.loaders(len(digits.train), 0), max_epochs=1, accelerator='cpu')
    strategy.mutate_evaluator(evaluator).evaluate(supernet)
    after = state_of(supernet)
    changed_ops = {}
    for key in before:
        parts = key.split('.')
        if '_arch_alpha' in key:
            assert not torch.equal(before[key], after[key]), key
        elif 'layers' in parts and not torch.equal(before[key], after[key]):
            label_index = parts.index('layers')
            edge, op = '.'.join(parts[:label_index + 3]), parts[label_index + 3]
            changed_ops.setdefault(edge, set()).add(op)
    assert changed_ops and all(len(ops) == 1 for ops in changed_ops.values()), changed_ops


def test_amortised_estimator_adds_no_forward_pass(digits):
    def forwards(strategy):
        count = [0]

        class Count(Callback):
            def on_fit_start(self, trainer, pl_module):
                pl_module.model.register_forward_hook(lambda *args: count.__setitem__(0, count[0] + 1))

        run_tiny_search(strategy, digits, callbacks=[Count()])
        return count[0]

    plain = forwards(make('rsps', curriculum=None))
    assert forwards(make('rsps', curriculum='epoch', k=3, estimator='amortised')) == plain
    assert forwards(make('rsps', curriculum='epoch', k=3)) > plain  # the exact estimator's pass


def test_amortised_weights_come_from_the_recorded_training_losses(digits):
    def at_epoch_end(module):
        sums, counts = module.curriculum.loss_history.loss_sums()
        sigma = (sums / counts).sqrt()
        return sigma * len(sigma) / sigma.sum(), module.curriculum.data_weights.weights.clone(), counts.clone()

    capture = Capture(at_epoch=0, extra=at_epoch_end)
    run_tiny_search(make('gdas', curriculum='epoch', k=2, estimator='amortised'), digits, callbacks=[capture])
    expected, actual, counts = capture.captured
    assert torch.all(counts == 1)  # one weight step per sample in the first epoch
    assert torch.allclose(actual, expected.float(), atol=1e-6) and actual.std() > 0


def test_amortised_estimator_needs_a_single_path_strategy():
    with pytest.raises(ValueError, match='single-path'):
        nni_cnas.DARTS(estimator='amortised')
    with pytest.raises(ValueError, match="darts trains the whole mixture: use measure='uncertainty'"):
        nni_cnas.DARTS(measure='amortised')


def test_each_registered_family_agrees_with_its_classes():
    """The registry's weight-step family is what the strategy's module does; a subclass of a
    registered strategy is found under its base's entry."""
    from nni_cnas.strategies import registry

    for spec in registry.specs():
        cls = spec.load()
        assert cls.module_class.single_path == spec.single_path, spec.name
        assert registry.spec_of(cls) is spec
    assert registry.spec_of(type('MyGDAS', (nni_cnas.GDAS,), {})).name == 'gdas'


def test_bf16_uncertainty_passes_stay_close_to_fp32_and_auto_is_fp32_on_cpu(digits):
    """The GPU default (bf16 autocast for the exact estimator's passes), forced here on the CPU:
    data weights within bf16 rounding of the fp32 ones; ``auto`` on the CPU is fp32 bit for bit."""
    def weights_after_one_epoch(precision):
        capture = Capture(at_epoch=0, extra=lambda module: module.curriculum.data_weights.weights.clone())
        run_tiny_search(make('rsps', curriculum='epoch', k=3, uncertainty_precision=precision), digits,
                        callbacks=[capture])
        return capture.captured

    fp32, auto, bf16 = (weights_after_one_epoch(p) for p in ('fp32', 'auto', 'bf16'))
    assert torch.equal(fp32, auto)
    assert not torch.equal(fp32, bf16)  # autocast really ran
    assert (fp32 - bf16).abs().max() < 0.05 and bf16.sum().item() == pytest.approx(len(fp32))
    with pytest.raises(ValueError, match='uncertainty precision'):
        make('rsps', uncertainty_precision='fp16')


@pytest.mark.parametrize('name', ['rsps', 'setn', 'darts'])
def test_a_space_smaller_than_k_and_the_candidates_uses_each_architecture_once(name, digits, tmp_path):
    """A space of 4 architectures: K=5 subnets and 100 candidates are all 4, with a warning each, as
    NNI's RandomOneShot runs on any space."""
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace
    from nni.nas.evaluator.pytorch import Classification
    from torch import nn

    class Tiny(ModelSpace):
        def __init__(self):
            super().__init__()
            self.stem = LayerChoice([nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 1)], label='stem')
            self.mix = LayerChoice([nn.Identity(), nn.ReLU()], label='mix')
            self.head = nn.Linear(4, 10)

        def forward(self, x):
            return self.head(self.mix(self.stem(x)).mean((2, 3)))

    strategy = make(name, curriculum='epoch', k=5)
    evaluator = Classification(train_dataloaders=digits.loaders(16, 0)['train'], val_dataloaders=digits.loaders(16, 0)['val'],
                               max_epochs=2, num_classes=10, accelerator='cpu', default_root_dir=str(tmp_path))
    with pytest.warns(UserWarning, match='is more than the 4 architectures'):
        strategy.mutate_evaluator(evaluator).evaluate(strategy.mutate_model(Tiny()))
        sample = strategy.search_module.export()
    assert set(sample) == {'stem', 'mix'}
