"""ENAS (Pham et al., 2018) with the data curriculum, as NATS-Bench runs it on NAS-Bench-201.

Each training step trains the shared weights on one controller-sampled path. After each epoch the
controller is trained with REINFORCE on validation accuracy, reward = accuracy + entropy_weight *
entropy, moving-average baseline, gradient norm clipped at 5, Adam(lr 1e-3, betas (0.5, 0.999),
eps 1e-3). How much: with ``controller_steps`` (the command line's 50, NATS-Bench's schedule),
that many updates each averaging ``controller_aggregate`` (20) samples, whatever the data size;
without (the Python API's default, as NNI's ENAS), one sample per validation batch, one pass over
the validation loader, and an update every ``controller_aggregate`` samples counted over the whole
search (NNI's ``batches_per_update``), so the controller's cost follows the data. A stop request
stops it between two samples (the search resumes it from there: see :meth:`EnasModule.train_controller`).
Top-K = the first K controller samples; final = best of ``num_candidates`` samples.

A ``reward_metric_name`` that names an error (a loss, an MSE: see :func:`reward_direction_of`) is
minimised: its negative is the reward. NNI 3.0 maximises whatever metric it reads.

NNI's own ``ENAS`` needs tianshou 0.4 and gym (undeclared by NNI) and used a PPO policy; it also
breaks on Lightning >= 2.1. This controller is small, has no extra dependency, is the REINFORCE
controller of the paper and of NATS-Bench, and keeps its state in Lightning checkpoints.
"""

from __future__ import annotations

import collections
import itertools
import random
from typing import Any, Dict, List, Optional, Tuple

import nni.nas.strategy as nni_strategy
import torch
from nni.nas.oneshot.pytorch.profiler import ExpectationProfilerPenalty, SampleProfilerPenalty
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from ... import distributed
from ...arch.supernet import apply_architecture, fixed_architecture
from ...data.batches import unpack
from ...progress import progress
from ..base import CurriculumStrategy, Sample
from ..losses import evaluation_mode
from ..registry import defaults
from .controller import LstmController
from .enas_state import ControllerProgress, EpochPaths, ReplayMemory, StoppedTraining
from .path import PathSamplingSearch

__all__ = ['ENAS', 'EnasModule', 'reward_direction_of', 'REWARD_DIRECTIONS']

_DEFAULTS = defaults('enas')
#: ``max``: the metric is the reward; ``min``: its negative is.
REWARD_DIRECTIONS = ('max', 'min')
#: Metric names (after an optional ``val_`` prefix) that are errors, minimised: NNI's evaluators
#: log ``val_loss``, ``val_mse`` (Regression); torchmetrics' errors are these too.
_ERROR_METRICS = ('loss', 'mse', 'rmse', 'mae', 'mape', 'error', 'err', 'ppl', 'perplexity')


def reward_direction_of(metric_name: Optional[str]) -> str:
    """Whether ENAS maximises the metric ``metric_name`` (accuracy, a reward) or minimises it
    (an error, by its name: ``val_loss``, ``val_mse``, ``val_mae``, ``train_error``, ...)."""
    if metric_name is None:
        return 'max'
    last = metric_name.lower().replace('/', '_').split('_')[-1]
    return 'min' if last in _ERROR_METRICS else 'max'



class EnasModule(PathSamplingSearch, RandomSamplingLightningModule):

    def __init__(self, training_module, *, ctrl_learning_rate: float = _DEFAULTS['ctrl_learning_rate'],
                 ctrl_eps: float = 1e-3, ctrl_weight_decay: float = 0.0,
                 controller_steps: Optional[int] = _DEFAULTS['controller_steps'],
                 controller_aggregate: int = _DEFAULTS['controller_aggregate'],
                 baseline_decay: float = 0.99, entropy_weight: float = 1e-4, ctrl_grad_clip: float = 5.0,
                 warmup_epochs: int = 0, reward_metric_name: Optional[str] = None,
                 reward_direction: Optional[str] = None, penalty=None,
                 replay_buffer_size: Optional[int] = None, update_times: int = 1, update_batch_size: Optional[int] = None,
                 log_prob_every_n_step: int = 10, **kwargs):
        super().__init__(training_module, **kwargs)
        self.ctrl_learning_rate, self.ctrl_eps, self.ctrl_weight_decay = ctrl_learning_rate, ctrl_eps, ctrl_weight_decay
        self.controller_steps, self.controller_aggregate = controller_steps, controller_aggregate
        self.baseline_decay, self.entropy_weight, self.ctrl_grad_clip = baseline_decay, entropy_weight, ctrl_grad_clip
        self.warmup_epochs = warmup_epochs
        self.reward_metric_name, self.penalty = reward_metric_name, penalty
        self.reward_direction = reward_direction or reward_direction_of(reward_metric_name)
        self.replay_buffer_size = replay_buffer_size or controller_aggregate
        self.update_times, self.update_batch_size = update_times, update_batch_size
        self.log_prob_every_n_step = log_prob_every_n_step
        self.controller: Optional[LstmController] = None
        self.paths = EpochPaths()
        #: Per-batch controller training (controller_steps None): samples drawn and the replay buffer.
        self.replay = ReplayMemory(self.replay_buffer_size)
        self.stopped_training = StoppedTraining()

    def set_model(self, model) -> None:
        super().set_model(model)
        self.controller = LstmController(self.options)

    def configure_architecture_optimizers(self):
        return torch.optim.Adam(self.controller.parameters(), lr=self.ctrl_learning_rate, betas=(0.5, 0.999),
                                eps=self.ctrl_eps, weight_decay=self.ctrl_weight_decay)

    def draw(self, rng: random.Random) -> Sample:
        was_training = self.controller.training
        self.controller.eval()
        try:
            return self.expand(self.controller.sample(rng))
        finally:
            self.controller.train(was_training)

    def curriculum_subnets(self, k: int) -> List[Sample]:
        queued = self.paths.take('subnets', k)  # the batch schedule's K samples of this step
        if queued is not None:
            return [self.expand(sample) for sample in queued]
        return [self.draw(self.curriculum_rng) for _ in range(k)]

    # The controller is trained after each epoch, so its policy is fixed during one: the epoch's
    # paths (one per weight step, and the batch schedule's K per step) are drawn when it starts,
    # all at once (LstmController.sample_many: the same draws, one host read per decision for the
    # whole epoch instead of one per decision every step). A checkpoint carries the paths left.
    def on_train_epoch_start(self):
        started = super().on_train_epoch_start()
        steps = self.trainer.num_training_batches
        was_training = self.controller.training
        self.controller.eval()
        try:
            queues = {'paths': self.controller.sample_many(self.rng, steps)}
            if self.curriculum.uses_subnets and self.curriculum.schedule == 'batch':
                queues['subnets'] = self.controller.sample_many(self.curriculum_rng, steps * self.curriculum.k)
            self.paths.refill(queues)
        finally:
            self.controller.train(was_training)
        return started

    def resample(self) -> Sample:
        queued = self.paths.take('paths')
        if queued is None:
            return super().resample()
        sample = self.expand(queued[0])
        apply_architecture(self.model, sample)
        return sample

    def _checkpoint_parts(self) -> tuple:
        return (*super()._checkpoint_parts(), self.paths, self.replay, self.stopped_training)

    def export_candidates(self) -> List[Sample]:
        rng = self.candidate_rng()
        return [self.draw(rng) for _ in range(self.num_candidates)]

    def current_architecture(self) -> Sample:
        with torch.no_grad():
            return self.expand(self.controller(greedy=True)[2])

    def export_probs(self) -> Dict[str, Dict[Any, float]]:
        """The controller's probabilities of each decision along its most likely architecture (NNI's
        ENAS exports the probabilities of its last sample)."""
        return self.controller.probabilities()

    def end_of_epoch(self) -> bool:
        if self.search_epoch < self.warmup_epochs:
            return True
        finished = self.train_controller() if distributed.rank_and_world()[0] == 0 else True
        return self._broadcast_controller(finished)

    def _broadcast_controller(self, finished: bool) -> bool:
        """Under DDP the controller is trained once, on rank 0 (on its validation batches, which
        are not split across ranks), and its state broadcast: parameters, baseline, Adam's state
        (through the host: each rank loads it onto its own device), the sampling generator, and
        whether the training finished (or stopped at a stop request: every rank stops then)."""
        if not distributed.is_distributed():
            return finished
        optimizer = self.architecture_optimizers().optimizer
        host_state = _to_host(optimizer.state_dict())
        rng, host_state, drawn, replay, finished = distributed.broadcast_object(
            (self.rng.getstate(), host_state, self.replay.samples_drawn, list(self.replay.buffer), finished))
        self.rng.setstate(rng)
        self.replay.replace(drawn, replay)
        optimizer.load_state_dict(host_state)
        distributed.broadcast_tensors(list(self.controller.parameters()) + list(self.controller.buffers()))
        return finished

    def sample_reward(self, sample: Sample, batch, batch_idx: int) -> float:
        """The reward of one sampled architecture on a validation batch, with the supernet in eval
        mode: validation accuracy (``80 / perplexity`` for a language model, as ENAS on PTB), or
        with ``reward_metric_name`` the metric of that name the evaluator logs in its
        ``validation_step`` (as NNI's ENAS reads it); NNI's profiler penalty applied."""
        with evaluation_mode(self.training_module), fixed_architecture(self.model, sample):
            if self.reward_metric_name is None:
                reward = self.losses.reward(batch)
            else:
                self.training_module.validation_step(unpack(batch)[0], batch_idx)
                metrics = self.trainer.callback_metrics
                if self.reward_metric_name not in metrics:
                    raise KeyError(f'ENAS reward_metric_name={self.reward_metric_name!r} is not a metric the evaluator '
                                   f'logs in validation_step; it logs {sorted(metrics)}')
                reward = float(metrics[self.reward_metric_name])
                if self.reward_direction == 'min':
                    reward = -reward
        if self.penalty is not None:
            probs_or_sample = self.export_probs() if isinstance(self.penalty, ExpectationProfilerPenalty) else sample
            reward, details = self.penalty(reward, probs_or_sample)
            self.log_dict({f'penalty/{k}': v for k, v in details.items()})
        return reward

    def train_controller(self) -> bool:
        """REINFORCE on validation batches: an update after each ``controller_aggregate`` new
        samples, on the last ``replay_buffer_size`` samples (by default the new ones),
        ``update_times`` gradient steps (each on ``update_batch_size`` of them). With
        ``controller_steps``, that many updates cycling over the validation batches; without, one
        sample per validation batch, counted (and buffered) over the whole search.

        A stop request (:meth:`stop_wanted`) stops it between two samples: it returns False and
        keeps its progress (in the checkpoint), and the next call goes on from there."""
        optimizer = self.architecture_optimizers().optimizer
        controller = self.controller
        loader = self.loader('val')
        progress_state = self.stopped_training.take()
        if self.controller_steps is None:
            batches, steps = enumerate(loader), len(loader)
            buffer, drawn = self.replay.buffer, self.replay.samples_drawn
        else:
            batches = itertools.cycle(enumerate(loader))
            steps = self.controller_steps * self.controller_aggregate
            buffer, drawn = collections.deque(progress_state.buffer, maxlen=self.replay_buffer_size), 0
        batches = itertools.islice(batches, progress_state.done, None)  # the validation passes are seeded by epoch
        rewards = progress_state.rewards
        controller.train()
        samples = range(drawn + progress_state.done, drawn + steps)
        for step in progress(samples, self.progress_bar, 'ENAS controller', len(samples), 'sample'):
            if self.stop_wanted():
                own_buffer = [] if self.controller_steps is None else list(buffer)
                self.stopped_training.progress = ControllerProgress(step - drawn, rewards, own_buffer)
                return False
            batch_idx, batch = next(batches)
            with torch.no_grad():
                _, entropy, sample = controller(self.rng)
            reward = self.sample_reward(self.expand(sample), self.device_batch(batch), batch_idx)
            reward = reward + self.entropy_weight * float(entropy)
            baseline = controller.update_baseline(reward, self.baseline_decay)
            buffer.append((sample, reward - baseline))
            rewards.append(reward)
            if (step + 1) % self.log_prob_every_n_step == 0:
                self.log_probs(self.export_probs())
            if (step + 1) % self.controller_aggregate == 0:
                self.update_controller(optimizer, list(buffer))
        if self.controller_steps is None:
            self.replay.samples_drawn = drawn + steps
        if rewards:
            self.log('controller/reward', sum(rewards) / len(rewards))
            self.log('controller/baseline', float(controller.baseline))
        return True

    def update_controller(self, optimizer, buffer: List[Tuple[Dict[str, Any], float]]) -> None:
        """REINFORCE steps on ``(sample, advantage)`` pairs, log-probabilities under the current policy."""
        for _ in range(self.update_times):
            chosen = buffer if self.update_batch_size is None or self.update_batch_size >= len(buffer) else \
                self.rng.sample(buffer, self.update_batch_size)
            optimizer.zero_grad()
            for sample, advantage in chosen:
                log_prob = self.controller(sample=sample)[0]
                (-log_prob * advantage / len(chosen)).backward()
            torch.nn.utils.clip_grad_norm_(self.controller.parameters(), self.ctrl_grad_clip)
            optimizer.step()
        optimizer.zero_grad()


def _to_host(value):
    """A state dict with its tensors on the CPU (to send it to ranks on other devices)."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _to_host(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_host(item) for item in value)
    return value


#: NNI's ENAS update_kwargs keys and what they mean here (NNI passes them to tianshou's PPO).
_UPDATE_KWARGS = {'update_times': 'gradient steps per update', 'repeat': 'passes over the buffer per gradient step '
                  '(multiplies update_times)', 'batch_size': 'samples per gradient step'}


class ENAS(CurriculumStrategy, nni_strategy.RandomOneShot):
    """ENAS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain ENAS.

    Use it where ``nni.nas.strategy.ENAS`` is used, with NNI's arguments and their meaning, for a
    REINFORCE controller instead of tianshou's PPO: ``batches_per_update`` (samples between two
    controller updates; this project's ``controller_aggregate``), ``replay_buffer_size`` (the most
    recent samples each update learns from; default: the new ones), ``update_kwargs``
    (``update_times``, ``repeat``, ``batch_size`` of each update), ``reward_metric_name`` (the
    evaluator's metric that is the reward; default: validation accuracy), ``log_prob_every_n_step``,
    ``warmup_epochs``, ``penalty`` (NNI's ``SampleProfilerPenalty``, a dict of its arguments, or
    ``ExpectationProfilerPenalty``, combined with the reward). ``policy_fn`` (a tianshou policy
    factory) has no counterpart: the controller is ENAS' LSTM. Controller options of this project:
    ``ctrl_learning_rate``, ``controller_steps``, ``controller_aggregate`` (defaults in
    :mod:`nni_cnas.strategies.registry`), ``ctrl_eps`` (1e-3), ``ctrl_weight_decay`` (0),
    ``baseline_decay`` (0.99), ``entropy_weight`` (1e-4), ``reward_direction`` (``'max'`` or
    ``'min'``; default: ``'min'`` for a metric named as an error, ``val_loss``, ``val_mse``, ...,
    see :func:`reward_direction_of`; NNI maximises any metric); ``gradient_clip_val`` clips the
    weight gradients' norm.

    The controller is trained after each epoch, as NNI's after the epoch's training batches: by
    default one sample per validation batch (NNI's cost); ``controller_steps=50`` is NATS-Bench's
    schedule (50 updates of ``controller_aggregate`` samples, whatever the data size), which the
    command line and the NAS-Bench-201 protocols use. See :mod:`nni_cnas.strategies.sampling.enas`.
    """

    module_class = EnasModule
    needs_validation_batches = False
    _controller_options = ('ctrl_learning_rate', 'ctrl_eps', 'ctrl_weight_decay', 'controller_steps',
                           'controller_aggregate', 'baseline_decay', 'entropy_weight', 'warmup_epochs',
                           'reward_metric_name', 'reward_direction', 'replay_buffer_size', 'log_prob_every_n_step')

    def __init__(self, *, gradient_clip_val=None, batches_per_update: Optional[int] = None, policy_fn=None,
                 update_kwargs: Optional[Dict[str, Any]] = None, penalty=None, **kwargs):
        own = {key: kwargs.pop(key) for key in self._controller_options if key in kwargs}
        if own.get('reward_direction') not in (None, *REWARD_DIRECTIONS):
            raise ValueError(f'ENAS reward_direction must be one of {", ".join(REWARD_DIRECTIONS)} (or None: by the '
                             f'metric\'s name), not {own["reward_direction"]!r}')
        if policy_fn is not None:
            raise ValueError('nni_cnas.ENAS trains ENAS\' LSTM controller with REINFORCE; a tianshou policy_fn has no '
                             'meaning here: drop it (the other arguments of nni.nas.strategy.ENAS work)')
        if batches_per_update is not None:
            if 'controller_aggregate' in own and own['controller_aggregate'] != batches_per_update:
                raise ValueError('batches_per_update and controller_aggregate are the same option; give one')
            own['controller_aggregate'] = int(batches_per_update)
        own.update(self._update_options(update_kwargs))
        if isinstance(penalty, dict):
            penalty = SampleProfilerPenalty(**penalty)
        own['penalty'] = penalty
        super().__init__(**kwargs)
        if self.filter is not None:
            raise ValueError('ENAS does not support a sampling filter (as nni.nas.strategy.ENAS)')
        self.gradient_clip_val = gradient_clip_val
        self.controller_options = own

    @staticmethod
    def _update_options(update_kwargs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        if not update_kwargs:
            return {}
        unknown = sorted(set(update_kwargs) - set(_UPDATE_KWARGS))
        if unknown:
            known = '; '.join(f'{key}: {meaning}' for key, meaning in _UPDATE_KWARGS.items())
            raise ValueError(f'ENAS update_kwargs {", ".join(unknown)} have no meaning for the REINFORCE controller ({known})')
        return {'update_times': int(update_kwargs.get('update_times', 1)) * int(update_kwargs.get('repeat', 1)),
                'update_batch_size': update_kwargs.get('batch_size')}

    def module_kwargs(self):
        return dict(super().module_kwargs(), gradient_clip_val=self.gradient_clip_val, **self.controller_options)
