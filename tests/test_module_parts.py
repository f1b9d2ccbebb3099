"""The search module's parts, each on its own: the evaluator's loss adapters, the non-finite guard,
the epoch's summary, description and resumable end work, the checkpoint slices (ENAS' and GDAS' parts too), the loaders, and the state kept equal across DDP ranks
(two real gloo processes)."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from nni_cnas.errors import NonFiniteLoss
from nni_cnas.run.evaluator import SearchClassificationModule
import nni_cnas.strategies as strategies
from nni_cnas.records import EpochRecord
from nni_cnas.strategies.epochs import EpochEndWork, EpochSummary, describe_epoch, policy_max_probability
from nni_cnas.strategies.loaders import SearchLoaders
from nni_cnas.strategies.losses import (FINITE_CHECK_EVERY, CriterionLosses, FiniteLossGuard, ModuleLosses,
                                        evaluator_losses)
from nni_cnas.strategies.meters import EpochMeter
from nni_cnas.strategies.ranks import RankKeeper

from helpers import run_tiny_search

X = torch.tensor([[1.0, 0.0, -1.0, 2.0], [0.5, 0.5, 0.5, 0.5], [-1.0, 2.0, 0.0, 1.0], [0.0, 0.0, 3.0, -2.0],
                  [1.0, 1.0, 1.0, 1.0]])
Y = torch.tensor([0, 2, 1, 1, 0])
V = torch.tensor([0.5, 1.5, 1.0, 2.0, 0.0])


def classifier():
    torch.manual_seed(0)
    module = SearchClassificationModule(3)
    module.set_model(torch.nn.Linear(4, 3))
    return module


class OwnModule(torch.nn.Module):
    """A user's evaluator module: no criterion, its own training_step and sample_losses."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))
        self.steps = []

    def sample_losses(self, x):
        return self.scale * x.sum(1)

    def training_step(self, x, step):
        self.steps.append(step)
        return {'loss': self.scale * x.mean()}


def test_the_adapter_is_chosen_by_the_module_having_a_criterion():
    assert isinstance(evaluator_losses(classifier()), CriterionLosses)
    assert isinstance(evaluator_losses(OwnModule()), ModuleLosses)


def test_a_criterion_modules_weighted_loss_is_the_mean_of_weights_times_losses_by_hand():
    module = classifier()
    losses = CriterionLosses(module)
    logits = module(X)
    by_hand = torch.stack([-F.log_softmax(logits[i], 0)[Y[i]] for i in range(5)])
    meter = EpochMeter()
    step = losses.step_loss((X, Y), 1, meter, V)
    assert torch.allclose(step.loss, (by_hand * V).sum() / 5)
    assert torch.allclose(step.losses, by_hand) and torch.equal(step.targets, Y) and step.logits.shape == (5, 3)
    assert meter.count == 5 and torch.allclose(meter.loss, by_hand.sum())
    plain = losses.step_loss((X, Y), 1, EpochMeter())
    assert torch.equal(plain.loss, F.cross_entropy(logits, Y))  # the evaluator's own criterion, to the bit
    made = []
    from_step = losses.step_loss((X, Y), 1, EpochMeter(), lambda l: made.append(l) or torch.ones_like(l) * 2)
    assert torch.allclose(from_step.loss, 2 * by_hand.mean()) and torch.allclose(made[0], by_hand)


def test_a_criterion_modules_quality_reward_and_kind():
    module = classifier()
    losses = CriterionLosses(module)
    accuracy = float((module(X).argmax(1) == Y).float().mean())
    assert losses.batch_quality((X, Y)) == accuracy == losses.reward((X, Y))
    assert losses.classification((X, Y)) and not losses.classification((X, Y.float()))
    assert losses.quality_kind(0.25, True) == ('acc', 0.25) and losses.quality_kind(-0.5, False) == ('loss', 0.5)
    module.sequence_task = True  # a language model: perplexity, and ENAS' reward 80 / perplexity
    ppl = losses.quality_kind(-1.0, False)
    assert ppl[0] == 'ppl' and ppl[1] == pytest.approx(torch.e)


def test_a_users_module_steps_with_its_training_step_plain_and_its_sample_losses_weighted():
    module = OwnModule()
    losses = ModuleLosses(module)
    plain = losses.step_loss(X, 7, EpochMeter())
    assert module.steps == [7] and torch.allclose(plain.loss, 2 * X.mean()) and plain.losses is None
    weighted = losses.step_loss(X, 9, EpochMeter(), V)
    assert module.steps == [7] and torch.allclose(weighted.loss, (2 * X.sum(1) * V).mean())
    assert torch.allclose(weighted.losses, 2 * X.sum(1)) and weighted.logits is None
    with torch.no_grad():  # the caller's mode, as the selector's evaluation mode
        assert losses.batch_quality(X) == pytest.approx(-float(2 * X.sum(1).mean()))
    subnet_losses, outputs, targets = losses.subnet_output(X, bf16=False)
    assert torch.allclose(subnet_losses, 2 * X.sum(1)) and outputs is None and targets is None
    assert not losses.classification(X)


def test_the_guard_names_the_first_non_finite_loss_at_its_next_check():
    guard = FiniteLossGuard()
    guard.watch(torch.tensor(1.0), 'weight', 0, epoch=3, last_step=False)
    guard.watch(torch.tensor(float('nan')), 'architecture', 1, epoch=3, last_step=False)  # recorded, not read yet
    guard.watch(torch.tensor(float('inf')), 'weight', 2, epoch=3, last_step=False)  # not the first
    with pytest.raises(NonFiniteLoss, match='the architecture loss is nan at epoch 3, step 1'):
        guard.watch(torch.tensor(1.0), 'weight', FINITE_CHECK_EVERY - 1, epoch=3, last_step=False)
    fine = FiniteLossGuard()
    fine.watch(torch.tensor(1.0), 'weight', 0, epoch=0, last_step=True)  # checked, nothing found


def test_the_summary_records_the_epochs_means_and_comes_back_from_its_state():
    summary = EpochSummary()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    summary.train.update(logits, torch.tensor([0, 0, 0]), torch.tensor([0.5, 1.5, 1.0]))
    summary.arch.update(logits[:2], torch.tensor([1, 1]), torch.tensor([2.0, 4.0]))
    restored = EpochSummary()
    restored.load_state_dict(summary.state_dict())
    record = restored.record(4, sequence_task=False)
    assert (record.epoch, record.train_loss, record.train_acc, record.arch_loss, record.arch_acc) == (4, 1.0, 2 / 3, 3.0, 0.5)
    summary.start()
    assert summary.record(5, sequence_task=False).train_loss is None
    assert policy_max_probability({'a': {'x': 0.5, 'y': 0.5}, 'b': {'x': 1.0, 'y': 0.0}}) == 0.75


def test_the_end_work_keeps_where_the_loaders_stood_and_resumes_there(digits):
    loaders = digits.loaders(16, 0)
    train, val = loaders['train'], loaders['val']
    train.sampler.set_epoch(2)
    train.sampler.passes = 3
    work = EpochEndWork()
    work.begin(2, {'train': train, 'val': val})
    started_at = dict(work.loader_passes)
    train.sampler.set_epoch(5)
    train.sampler.passes = 9
    work.begin(2, {'train': train})  # the same work again after a stop: where it first began
    assert work.loader_passes == started_at and work.pending == 2
    saved = work.state_dict()
    resumed = EpochEndWork()
    resumed.load_state_dict(saved)
    resumed.rewind({'train': train, 'val': val})
    assert (train.sampler.epoch, train.sampler.passes) == started_at['train']
    resumed.done()
    assert resumed.pending is None and resumed.state_dict() == {'pending': None}
    legacy = {'rng': None, 'epoch_end_pending': 2, 'loader_passes': started_at}
    EpochEndWork.migrate(legacy)
    assert legacy == {'rng': None, 'epoch_end': {'pending': 2, 'loader_passes': started_at}}



def test_the_end_work_stops_the_fit_only_where_its_work_is_pending_and_finishes_it_on_resume():
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    work = EpochEndWork()
    work.stop_if_pending()
    work.stop_if_final_pending(max_epochs=3)  # nothing pending: the fit goes on
    work.begin(1, {})
    work.stop_if_final_pending(max_epochs=3)  # epoch 1 of 3: stops at the epoch's end instead
    with pytest.raises(SIGTERMException):
        work.stop_if_pending()
    work.begin(2, {})
    with pytest.raises(SIGTERMException):
        work.stop_if_final_pending(max_epochs=3)
    seen = []
    trainer = type('Trainer', (), {'received_sigterm': True, 'callbacks': []})()

    def finish():
        seen.append((work.resuming, work.stop_wanted(trainer)))
        work.done()

    work.finish_interrupted({}, finish)
    assert seen == [(True, False)] and not work.resuming and work.pending is None
    work.finish_interrupted({}, finish)  # nothing pending: nothing runs
    assert len(seen) == 1 and work.stop_wanted(trainer)


def test_the_parts_slices_round_trip_and_a_part_with_nothing_to_keep_writes_no_key():
    import random

    from nni_cnas.strategies.differentiable.gdas import DrawAhead
    from nni_cnas.strategies.sampling.enas_state import ControllerProgress, EpochPaths, ReplayMemory, StoppedTraining
    from nni_cnas.strategies.slices import GeneratorState, load_parts, save_parts

    rng, paths, replay, stopped, ahead = random.Random(7), EpochPaths(), ReplayMemory(2), StoppedTraining(), DrawAhead()
    paths.refill({'paths': [{'a': 1}, {'a': 2}], 'subnets': [{'a': 3}]})
    assert paths.take('subnets', 2) is None and paths.take('paths') == [{'a': 1}]
    replay.replace(5, [({'a': 1}, 0.5), ({'a': 2}, 0.25), ({'a': 3}, 0.125)])  # the buffer keeps the last 2
    checkpoint = {'state_dict': {}}  # as Lightning's
    save_parts(checkpoint, [GeneratorState(rng, 'rng'), paths, replay, stopped, ahead])
    assert set(checkpoint['nni_cnas']) == {'rng', 'enas_queues', 'enas_replay'}  # nothing stopped, no draw ahead
    stopped.progress = ControllerProgress(3, [0.5], [])
    ahead.hold([torch.ones(2)], [1])
    save_parts(checkpoint, [GeneratorState(rng, 'rng'), paths, replay, stopped, ahead])
    expected = rng.random()
    fresh_rng, fresh = random.Random(0), (EpochPaths(), ReplayMemory(2), StoppedTraining(), DrawAhead())
    load_parts(checkpoint, [GeneratorState(fresh_rng, 'rng'), *fresh])
    assert fresh_rng.random() == expected
    assert fresh[0].take('paths') == [{'a': 2}] and fresh[0].take('paths') is None
    assert fresh[1].samples_drawn == 5 and list(fresh[1].buffer) == [({'a': 2}, 0.25), ({'a': 3}, 0.125)]
    assert fresh[2].take() == ControllerProgress(3, [0.5], []) and fresh[2].take() == ControllerProgress()
    noise, indices = fresh[3].take()
    assert torch.equal(noise[0], torch.ones(2)) and indices == [1] and fresh[3].take() is None
    legacy = EpochPaths()
    legacy.load_state_dict({'top_k': [{'a': 4}]})  # nni_cnas 0.1's name of the K-subnet queue
    assert legacy.take('subnets') == [{'a': 4}]

def test_the_loaders_part_aligns_epochs_and_refuses_a_missing_loader(digits):
    given = digits.loaders(16, 0)
    train = given['train']
    loaders = SearchLoaders()
    loaders.attach(train, None)
    assert loaders.get('train', 4).sampler.epoch == 4 and loaders.train_size() == 64
    assert not loaders.has('selection') and set(loaders.attached()) == {'train'}
    with pytest.raises(RuntimeError, match='needs a val loader; give the evaluator val_dataloaders'):
        loaders.get('val', 0)


def test_a_shared_state_is_registered_once():
    keeper = RankKeeper()
    keeper.share('seed', lambda: 1, lambda value: None)
    with pytest.raises(ValueError, match="'seed' is already shared"):
        keeper.share('seed', lambda: 2, lambda value: None)
    assert keeper.start([]) is False  # one process: nothing to share


def _rank(rank, port, results):
    torch.distributed.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        state = {'seed': 10 + rank}
        buffer = torch.full((3,), float(rank))
        keeper = RankKeeper()
        keeper.share('seed', lambda: state['seed'], lambda value: state.update(seed=value))
        started = keeper.start([buffer])
        buffer.fill_(5.0 + rank)  # each rank's own statistics after a step
        keeper.share_buffers()
        results[rank] = (started, state['seed'], buffer.tolist())
    finally:
        torch.distributed.destroy_process_group()


def test_every_rank_holds_rank_zeros_registered_state_and_buffers():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    results = mp.get_context('spawn').Manager().dict()
    mp.start_processes(_rank, args=(port, results), nprocs=2, start_method='spawn')
    assert dict(results) == {0: (True, 10, [5.0] * 3), 1: (True, 10, [5.0] * 3)}


@pytest.mark.parametrize('strategy, measures_supernet, has_policy', [('RSPS', True, False), ('GDAS', False, True)])
def test_the_epochs_description_measures_the_supernet_only_where_the_strategy_can(digits, strategy, measures_supernet,
                                                                                   has_policy):
    search = getattr(strategies, strategy)()
    run_tiny_search(search, digits, epochs=1)
    module = search.search_module
    record = EpochRecord(0)
    describe_epoch(module, record)
    assert (record.supernet_acc is not None) == measures_supernet  # RSPS: its draws; GDAS: no draw of its own
    assert (record.policy is not None) == has_policy
    assert record.sample == module.current_architecture()
    if has_policy:  # its most probable cell is scored
        assert 0 < record.policy_max_prob <= 1
        assert record.val_acc == module.selector.quality_kind(module.score(record.sample))[1]
    else:  # uniform paths: no current cell to score
        assert (record.sample, record.val_acc) == (None, None)
    assert record.space == {}  # NAS-Bench-201 has no summary of its own
