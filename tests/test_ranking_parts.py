"""The curriculum parts aimed at ranking: the parts' own options, the sample schedule, PA&DA's
margin, the pass-free disagreement and pacing (a random measure), each against a hand computation,
then end to end: searches, a resumed search, the command line and a protocol's variants."""

import json
import math
import signal
import subprocess
import time

import pytest
import torch

from nni_cnas.curriculum import CurriculumConfig
from nni_cnas.curriculum.component import Curriculum
from nni_cnas.curriculum.measures import DisagreementHistory, Margin, RandomDifficulty, SubnetOutputs
from nni_cnas.curriculum.parts import MEASURES, WEIGHTINGS, PartOption
from nni_cnas.curriculum.state import EpochMeans, LossHistory
from nni_cnas.curriculum.weightings import Inverse, SelfPaced, WeighingContext
from nni_cnas.data.batches import IndexedBatch
from nni_cnas.errors import UserError

from helpers import CHECKPOINT_DIR, NNI_CNAS, assert_same_search, run_to_end, search_argv, start, wait_for


# ---------------------------------------------------------------------- the parts' options

def test_a_parts_options_are_declared_once_checked_and_filled_with_their_defaults():
    spec = MEASURES.get('disagreement')
    assert spec.resolve_options(None) == {'subnets': 'policy'}
    assert spec.resolve_options('subnets=uniform') == {'subnets': 'uniform'}
    assert spec.resolve_options({'subnets': 'uniform'}) == {'subnets': 'uniform'}
    with pytest.raises(ValueError, match="disagreement has no option 'subnet'; its options are subnets"):
        spec.resolve_options('subnet=uniform')
    with pytest.raises(ValueError, match='must be one of policy, uniform'):
        spec.resolve_options('subnets=best')
    with pytest.raises(ValueError, match='margin has no option .*it takes no options'):
        MEASURES.get('margin').resolve_options('k=3')
    share = WEIGHTINGS.get('self-paced')
    assert share.resolve_options('initial_share=0.2') == {'initial_share': 0.2}
    for bad in ('initial_share=0', 'initial_share=1.5', 'initial_share=nan', 'initial_share=word'):
        with pytest.raises(ValueError, match='self-paced option initial_share must be'):
            share.resolve_options(bad)
    with pytest.raises(ValueError, match='KEY=VALUE'):
        share.resolve_options('0.2')
    option = PartOption('n', int, 1, 'a count', minimum=1)
    assert option.check(3, 'x') == 3
    with pytest.raises(ValueError, match='must be a number'):
        option.check(True, 'x')


def test_the_former_constants_are_options_with_the_same_defaults():
    context = WeighingContext(epoch=0, max_epochs=3)
    assert SelfPaced().share(context) == 0.5 and SelfPaced(options={'initial_share': 0.2}).share(context) == 0.2
    d = torch.tensor([0.0, 1.0, 2.0])  # mean 1: the floors are 0.001 and 0.5
    low, high = Inverse().transform(d, context), Inverse(options='floor=0.5').transform(d, context)
    assert torch.allclose(low, torch.tensor([1000.0, 1.0, 0.5], dtype=torch.float64))
    assert torch.allclose(high, torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64))


def test_the_config_checks_options_where_every_other_option_is_checked():
    from nni_cnas.run.config import SearchConfig

    config = CurriculumConfig(measure='disagreement', measure_options='subnets=uniform')
    assert config.measure_options == {'subnets': 'uniform'}
    with pytest.raises(ValueError, match='uncertainty has no option'):
        CurriculumConfig(measure_options='floor=1')
    with pytest.raises(UserError, match='self-paced option initial_share must be .* --weighting-options'):
        SearchConfig(weighting='self-paced', weighting_options='initial_share=2', dataset='digits').resolve()
    with pytest.raises(UserError, match='--measure-options configure'):
        SearchConfig(curriculum='none', measure_options='subnets=uniform', dataset='digits').resolve()
    SearchConfig.from_mapping({'measure': 'disagreement', 'measure_options': 'subnets=uniform'}).resolve()
    # An nnictl trial's parameters name them as the command line does; a plain trial drops them.
    from nni_cnas.run.trial import trial_options

    options = trial_options({'dataset': 'digits'}, {'measure': 'disagreement', 'measure-options': 'subnets=uniform'})
    assert SearchConfig.from_mapping(options).resolve().measure_options == 'subnets=uniform'
    plain = trial_options({'dataset': 'digits'}, {'curriculum': 'none', 'weighting_options': 'initial_share=0.2'})
    assert 'weighting_options' not in plain


# ---------------------------------------------------------------------- the measures, by hand

def test_margin_is_the_norm_of_softmax_minus_onehot_averaged_over_the_epoch_by_hand():
    # Logits [0, 0] for class 0: softmax (0.5, 0.5), minus (1, 0): norm sqrt(0.5). Logits [ln 3, 0]
    # for class 0: (0.75, 0.25) - (1, 0): norm sqrt(0.125). Logits [ln 3, 0] for class 1: (0.75, -0.75): sqrt(1.125).
    logits = torch.tensor([[0.0, 0.0], [math.log(3), 0.0], [math.log(3), 0.0]])
    outputs = SubnetOutputs(torch.zeros(1, 3), logits[None], torch.tensor([0, 0, 1]))
    values = Margin().step_values(outputs)
    assert torch.allclose(values, torch.tensor([0.5 ** 0.5, 0.125 ** 0.5, 1.125 ** 0.5]))
    means = EpochMeans()
    means.reset(4)
    assert torch.equal(means.means(), torch.zeros(4, dtype=torch.float64))  # nothing scored: no difficulty
    means.record(torch.tensor([0, 1]), torch.tensor([1.0, 2.0]))
    means.record(torch.tensor([0]), torch.tensor([3.0]))  # sample 0 twice this epoch: its mean is 2
    means.close_epoch()
    assert means.means().tolist() == [2.0, 2.0, 2.0, 2.0]  # samples 2 and 3 unseen: the scored mean, 2
    means.record(torch.tensor([1, 2]), torch.tensor([5.0, 8.0]))
    means.close_epoch()  # sample 0 keeps its mean of the epoch before; 3 is still unscored
    assert means.means().tolist() == [2.0, 5.0, 8.0, 5.0]
    assert Margin().split(means, None).tolist() == [2.0, 5.0, 8.0, 5.0]
    batch = IndexedBatch((torch.zeros(2, 1), torch.zeros(2)), torch.tensor([2, 0]))
    assert Margin().batch(means, batch, None).tolist() == [8.0, 2.0]


def test_the_pass_free_disagreement_is_the_spread_of_each_samples_last_k_true_class_probabilities():
    history = LossHistory()
    history.reset(3, 4)
    # Sample 0: 0.2, 0.4, 0.6, then 0.8 overwrites 0.2 -> (0.4, 0.6, 0.8), population std sqrt(0.08/3).
    # Sample 1: 0.5 and 0.7 -> std 0.1. Sample 2: one value, no spread yet: the mean of the others.
    # Sample 3: never recorded: the mean of the others too.
    for values, index in (([0.2, 0.5, 0.9], [0, 1, 2]), ([0.4, 0.7], [0, 1]), ([0.6], [0]), ([0.8], [0])):
        history.record(torch.tensor(index), torch.tensor(values))
    spread = DisagreementHistory().split(history, None)
    first = (0.08 / 3) ** 0.5
    expected = [first, 0.1, (first + 0.1) / 2, (first + 0.1) / 2]
    assert torch.allclose(spread, torch.tensor(expected, dtype=torch.float64), atol=1e-6)
    # Its step value is the trained path's probability of the true class: softmax([ln 3, 0])[0] = 0.75.
    outputs = SubnetOutputs(torch.zeros(1, 1), torch.tensor([[[math.log(3), 0.0]]]), torch.tensor([0]))
    assert torch.allclose(DisagreementHistory().step_values(outputs), torch.tensor([0.75]))
    one = LossHistory()
    one.reset(3, 2)
    one.record(torch.tensor([0, 1]), torch.tensor([0.3, 0.9]))
    assert DisagreementHistory().split(one, None).tolist() == [0.0, 0.0]  # nobody has two: all weights 1


def test_the_random_measure_is_fixed_by_the_seed_and_knows_nothing():
    a, b, c = RandomDifficulty(), RandomDifficulty(), RandomDifficulty()
    a.attach(100, 7)
    b.attach(100, 7)
    c.attach(100, 8)
    assert torch.equal(a.split(None, None), b.split(None, None))
    assert not torch.equal(a.split(None, None), c.split(None, None))
    assert float(a.split(None, None).min()) >= 0 and float(a.split(None, None).max()) < 1
    # The curriculum's seed, once broadcast from rank 0 or restored from a checkpoint, redraws it.
    curriculum = Curriculum(CurriculumConfig(schedule='sample', measure='random', weighting='self-paced'), 8)
    curriculum.attach(100)
    curriculum.set_seed(7)
    assert torch.equal(curriculum.measure.split(None, None), a.split(None, None))


# ---------------------------------------------------------------------- the sample schedule

def _sampling_curriculum(weights, seed=3):
    curriculum = Curriculum(CurriculumConfig(schedule='sample', measure='loss'), seed)
    curriculum.attach(len(weights))
    curriculum.data_weights.set(torch.tensor(weights))
    return curriculum


def test_the_sample_schedule_draws_n_samples_in_proportion_to_the_weights_per_seed_and_epoch():
    curriculum = Curriculum(CurriculumConfig(schedule='sample', measure='loss'), 3)
    curriculum.attach(4)
    assert curriculum.sampling_order(0) is None  # no weights yet: the loader's own order
    weights = [0.0, 1.0, 0.0, 3.0]
    curriculum = _sampling_curriculum(weights)
    order = curriculum.sampling_order(1)
    assert order.shape == (4,) and set(order.tolist()) <= {1, 3}  # a weight of 0 is never drawn
    assert torch.equal(order, _sampling_curriculum(weights).sampling_order(1))  # the same seed and epoch: the same draw
    many = _sampling_curriculum([1.0] * 1000 + [3.0] * 1000)
    counts = torch.stack([many.sampling_order(epoch) >= 1000 for epoch in range(20)]).double().mean()
    assert abs(float(counts) - 0.75) < 0.01  # probabilities 1/4 and 3/4 by weight
    assert not torch.equal(many.sampling_order(1), many.sampling_order(2))  # each epoch its own draw
    assert not torch.equal(many.sampling_order(1), _sampling_curriculum([1.0] * 1000 + [3.0] * 1000, 4).sampling_order(1))
    # The loss is unweighted; the diagnostics record each trained sample's sampling weight.
    batch = IndexedBatch((torch.zeros(2, 1), torch.tensor([0, 1])), torch.tensor([1, 3]))
    assert curriculum.batch_weights(batch, None, epoch=1, max_epochs=3) is None
    curriculum.record(batch, torch.tensor([0.5, 0.7]), None)
    assert curriculum.last_applied.tolist() == [1.0, 3.0]


def test_the_loader_draws_only_the_first_pass_of_each_epoch():
    from nni_cnas.data.loader import TensorLoader

    loader = TensorLoader(torch.arange(6.0)[:, None], torch.zeros(6), 3, shuffle=False)
    loader.sampler.draw = lambda epoch: torch.tensor([5, 5, 4, 4, 3, epoch])
    loader.sampler.set_epoch(2)
    first = torch.cat([batch.index for batch in loader])
    second = torch.cat([batch.index for batch in loader])  # a measure's pass over the split
    assert first.tolist() == [5, 5, 4, 4, 3, 2] and second.tolist() == list(range(6))
    loader.sampler.draw = lambda epoch: None  # no weights yet
    loader.sampler.set_epoch(3)
    assert torch.cat([batch.index for batch in loader]).tolist() == list(range(6))


def test_pacing_trains_only_on_a_random_subset_from_the_first_epoch(digits):
    """random x self-paced x sample: epoch 0 draws from a fixed random fifth of the data."""
    from nni_cnas.strategies import RSPS

    from helpers import run_tiny_search

    strategy = RSPS(curriculum='sample', measure='random', weighting='self-paced',
                    weighting_options={'initial_share': 0.2})
    seen = []

    class Recorder:
        def __init__(self, curriculum):
            self.curriculum = curriculum
            self.record = curriculum.record

        def __call__(self, batch, losses, weights, logits=None):
            seen.append(batch.index.clone())
            return self.record(batch, losses, weights, logits)

    original = strategy.configure_oneshot_module

    def configure(module):
        search = original(module)
        search.curriculum.record = Recorder(search.curriculum)
        return search

    strategy.configure_oneshot_module = configure
    run_tiny_search(strategy, digits, epochs=3)
    curriculum = strategy.search_module.curriculum
    difficulty = curriculum.measure.split(None, None)
    n = len(difficulty)
    drawn = torch.cat(seen)
    assert len(drawn) == 3 * n
    for epoch, share in ((0, 0.2), (1, 0.6)):  # growing linearly to all of the data at the last epoch
        subset = set(torch.argsort(difficulty)[:math.ceil(share * n)].tolist())
        assert set(drawn[epoch * n:(epoch + 1) * n].tolist()) <= subset, epoch
    assert len(set(drawn[:n].tolist())) < len(set(drawn[n:2 * n].tolist()))


def test_the_sample_schedule_is_refused_for_a_loader_that_cannot_draw(digits):
    from torch.utils.data import DataLoader, TensorDataset

    from nni_cnas.strategies import RSPS

    from helpers import run_tiny_search

    (x, y), _ = next(iter(digits.loaders(10_000, 0)['train']))
    loaders = {'train': DataLoader(TensorDataset(x.float(), y), batch_size=16), 'val': digits.loaders(16, 0)['val']}
    with pytest.raises(ValueError, match="RSPS's sample schedule draws each epoch's samples in nni_cnas' tensor loaders"):
        run_tiny_search(RSPS(curriculum='sample', measure='loss'), digits, epochs=1, loaders=loaders)


# ---------------------------------------------------------------------- end to end

def test_uniform_subnets_are_uniform_draws_from_the_curriculums_generator(digits):
    """SETN's K subnets are the policy's best; with subnets=uniform they are K distinct uniform draws."""
    import copy
    import random

    from nni_cnas.arch.sampling import uniform_samples
    from nni_cnas.strategies import SETN

    from helpers import run_tiny_search

    strategy = SETN(k=3, measure='disagreement', measure_options={'subnets': 'uniform'})
    run_tiny_search(strategy, digits, epochs=1)
    module = strategy.search_module
    rng = random.Random()
    rng.setstate(module.curriculum_rng.getstate())
    expected = [module.expand(s) for s in uniform_samples(module.options, 3, copy.deepcopy(rng))]
    assert module.measure_subnets(3) == expected
    assert module.measure_subnets(3) != module.curriculum_subnets(3)  # not the policy's three best


@pytest.mark.parametrize('strategy, schedule, measure, weighting, options', [
    ('rsps', 'sample', 'margin', 'ramp', {}),  # PA&DA
    ('setn', 'epoch', 'disagreement', 'proportional', {'measure_options': 'subnets=uniform'}),
    ('setn', 'epoch', 'disagreement-history', 'proportional', {}),
    ('rsps', 'sample', 'random', 'self-paced', {'weighting_options': 'initial_share=0.3'}),  # pacing
    ('darts', 'batch', 'margin', 'proportional', {}),
])
def test_each_ranking_part_searches_and_exports(tmp_path, strategy, schedule, measure, weighting, options):
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.search import run_search
    from nni_cnas.spaces.nb201_arch import all_archs

    out = tmp_path / 'run'
    config = SearchConfig(strategy=strategy, curriculum=schedule, measure=measure, weighting=weighting, k=2,
                          dataset='digits', subset=96, epochs=3, batch_size=16, channels=4, cells=1,
                          num_candidates=4, selection_size=32, tensorboard=False, seed=1, out=str(out), **options)
    result = run_search(config)
    assert result['arch'] in set(all_archs())
    metrics = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    spread = [record['data_weights']['std'] for record in metrics]
    largest = [record['data_weights']['max'] for record in metrics]
    if measure == 'random':  # pacing: every trained sample of epoch 0 has the subset's weight, 1 / 0.3
        assert largest[0] == pytest.approx(1 / 0.3, rel=0.05) and spread[0] == 0
    elif schedule == 'sample':  # the sampling weights of the trained samples, from the second epoch on
        assert largest[0] == 1 and spread[1] > 0
    else:
        assert max(spread) > 0
    for key, value in options.items():  # the run's config.yaml records the part's options
        assert f'{key}: {value}' in (out / 'config.yaml').read_text()


def test_a_sample_schedule_search_stopped_mid_epoch_resumes_bit_identically(tmp_path):
    extra = ['--measure', 'margin', '--weighting', 'ramp']
    reference = tmp_path / 'reference'
    run_to_end(search_argv(reference, 'rsps', 'sample', extra=extra))
    run = tmp_path / 'terminated'
    process = start(search_argv(run, 'rsps', 'sample', extra=extra))
    wait_for(run / CHECKPOINT_DIR / 'epoch-0001.ckpt', process)
    time.sleep(0.2)  # into epoch 2, which draws its samples
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr[-2000:]
    assert list((run / CHECKPOINT_DIR).glob('interrupted-*.ckpt'))
    run_to_end([NNI_CNAS, 'search', '--resume', str(run)])
    assert_same_search(reference, run)


def test_the_command_line_takes_the_parts_options_and_a_protocol_its_variants(tmp_path):
    from nni_cnas.experiments.quality import Protocol, variant

    out = tmp_path / 'cli'
    run_to_end(search_argv(out, 'setn', 'epoch', epochs=1, extra=['--measure', 'disagreement', '--measure-options',
                                                                   'subnets=uniform']))
    assert 'measure_options: subnets=uniform' in (out / 'config.yaml').read_text()
    process = subprocess.run(search_argv(tmp_path / 'bad', 'setn', 'epoch', extra=['--measure-options', 'subnet=x']),
                             capture_output=True, text=True, timeout=120)
    lines = process.stderr.strip().splitlines()
    assert process.returncode != 0 and len(lines) == 1 and "uncertainty has no option 'subnet'" in lines[0], process.stderr
    assert not (tmp_path / 'bad').exists()
    protocol = Protocol({'dataset': 'digits', 'epochs': 1}, ['rsps'], ['sample'], [0], 2,
                        {'pada': {'measure': 'margin', 'weighting': 'ramp'},
                         'pacing': {'measure': 'random', 'weighting': 'self-paced',
                                    'weighting_options': 'initial_share=0.5'}})
    names = [run.name for run in protocol.grid()]
    assert names == ['rsps-sample-pada-s0', 'rsps-sample-pacing-s0']
    record = {'curriculum': 'sample', 'options': {'measure': 'random', 'weighting': 'self-paced',
                                                  'weighting_options': 'initial_share=0.5'}}
    assert variant(record) == 'sample (random) self-paced [initial_share=0.5]'
