"""How hard each training sample is: the curriculum's measures (see :mod:`.parts`).

A measure gives one difficulty per sample (>= 0, larger is harder), for the whole training split
(the ``epoch`` and ``sample`` schedules) or for one batch (the ``batch`` schedule). The strategy
lends the K subnets' passes as two functions, which hand the measure what the subnets did
(:class:`SubnetOutputs`: their per-sample losses and, for a classifier, their logits and the
targets) and leave the measure to reduce it; the curriculum lends its histories of what the weight
steps gave (:meth:`Measure.step_values` of each step's own forward: its losses by default).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

import torch

from ..data.batches import unpack
from .parts import MEASURES, part_options
from .weights import mean_from_sums, sigma_from_sums, uncertainty

if TYPE_CHECKING:
    from .state import LossHistory

__all__ = ['Measure', 'SubnetOutputs', 'Uncertainty', 'Disagreement', 'DisagreementHistory', 'Margin', 'Amortised',
           'TrainingLoss', 'RandomDifficulty', 'mean_from_sums', 'loss_sums', 'true_class_probability']


@dataclasses.dataclass
class SubnetOutputs:
    """What the K subnets did on one batch of B samples, in evaluation mode with the shared weights:
    ``losses`` ``[K, B]`` per-sample losses; for a classifier (NNI's evaluators), ``logits``
    ``[K, B, C]`` and ``targets`` ``[B]`` class indices (None for a module's own ``sample_losses``)."""

    losses: torch.Tensor
    logits: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None


#: A batch's :class:`SubnetOutputs` under the K subnets of the search policy.
MeasureBatch = Callable[[Any], SubnetOutputs]
#: Reduces a batch's outputs to ``(values, counts)`` per sample ``[B]`` (summed over the split).
Reduce = Callable[[SubnetOutputs], Tuple[torch.Tensor, torch.Tensor]]
#: ``(sums, counts)`` per training sample over the whole split, reduced by the given function
#: (default: :func:`loss_sums`).
MeasureSplit = Callable[..., Tuple[torch.Tensor, torch.Tensor]]


def loss_sums(outputs: SubnetOutputs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Each sample's loss summed over the K subnets, and K: Eq. 10's sums."""
    losses = outputs.losses
    return losses.sum(0).to(torch.float64), torch.full((losses.shape[1],), float(losses.shape[0]),
                                                       dtype=torch.float64, device=losses.device)


def _class_outputs(outputs: SubnetOutputs, measure: str):
    if outputs.logits is None or outputs.targets is None:
        raise ValueError(f'the {measure} measure needs the subnets\' class logits and targets (a classifier '
                         'evaluated through NNI\'s Classification or a module with a criterion); this '
                         'module gives only its sample_losses')
    return outputs.logits.float(), outputs.targets


def true_class_probability(outputs: SubnetOutputs, measure: str = 'disagreement') -> torch.Tensor:
    """``[K, B]``: the probability each subnet gives each sample's true class."""
    logits, targets = _class_outputs(outputs, measure)
    probs = torch.softmax(logits, dim=-1)
    return probs.gather(-1, targets.view(1, -1, 1).expand(probs.shape[0], -1, 1)).squeeze(-1)


class Measure:
    """Per-sample difficulty. Subclasses set what they need and implement :meth:`split` and
    :meth:`batch` (or set :attr:`from_step`). ``options``: the part's declared options
    (:class:`~nni_cnas.curriculum.parts.PartOption`), resolved into :attr:`options`."""

    name = ''
    #: It runs the K subnets of the search policy (the strategy's exact passes).
    uses_subnets = False
    #: Its losses must be subnet losses: only strategies whose weight step trains one path.
    single_path_only = False
    #: Even the batch schedule needs each batch's sample indices (its history is per sample).
    needs_indices = False
    #: A batch's difficulty is the weight step's own per-sample losses, known after its forward.
    from_step = False
    #: It reads the subnets' class logits (:class:`SubnetOutputs`): classifiers only, checked at the start.
    needs_class_logits = False
    #: Its history is each sample's mean of :meth:`step_values` over the last epoch it was trained in
    #: (:class:`~nni_cnas.curriculum.state.EpochMeans`), not the last K values.
    epoch_means = False
    #: It needs no training to tell difficulty (a control): the epoch and sample schedules weigh the
    #: curriculum's first epoch too, not only the epochs after one.
    static = False

    def __init__(self, options=None):
        self.options = part_options(MEASURES, type(self), options)

    @property
    def subnets(self) -> str:
        """Which K subnets its passes use: ``policy`` (the strategy's) or ``uniform``."""
        return self.options.get('subnets', 'policy')

    def attach(self, num_samples: int, seed: int) -> None:
        """The training split's size and the curriculum's seed, known before the search trains."""

    def history_length(self, k: int) -> int:
        """Values of the weight steps (:meth:`step_values`) kept per sample (0: none kept)."""
        return 0

    def step_values(self, outputs: SubnetOutputs) -> torch.Tensor:
        """``[B]``: what its history keeps of a weight step, from the step's own forward (one subnet,
        the trained path or the mixture, in training mode): the per-sample losses by default."""
        return outputs.losses[0]

    def split(self, history: 'LossHistory', measure_split: MeasureSplit) -> torch.Tensor:
        """``[N]`` difficulty of every training sample (the ``epoch`` schedule)."""
        raise NotImplementedError

    def batch(self, history: 'LossHistory', batch, measure_batch: MeasureBatch) -> torch.Tensor:
        """``[B]`` difficulty of a training batch ``(x, y[, index])`` (the ``batch`` schedule)."""
        raise NotImplementedError


class Uncertainty(Measure):
    """Eq. 10: ``sigma_i = sqrt(mean_k loss_k(x_i))`` over the K best subnets of the policy."""

    uses_subnets = True

    def split(self, history, measure_split):
        return sigma_from_sums(*measure_split(loss_sums))

    def batch(self, history, batch, measure_batch):
        return uncertainty(measure_batch(batch).losses)


class Disagreement(Measure):
    """How much the K subnets disagree on a sample: the standard deviation across them of the
    probability each gives the true class (Active Bias, Chang et al., NeurIPS 2017: the variance of
    the prediction, not its difficulty). The probability rather than the loss because it is
    bounded: a loss's spread is dominated by the subnet that is most wrong, a probability's by how
    far apart the subnets are. A classifier's measure: it needs the subnets' logits."""

    uses_subnets = True
    needs_class_logits = True

    @staticmethod
    def spread(outputs: SubnetOutputs) -> torch.Tensor:
        """``[B]`` population standard deviation over the K subnets of the true-class probability."""
        return true_class_probability(outputs).std(dim=0, unbiased=False)

    @classmethod
    def reduce(cls, outputs: SubnetOutputs) -> Tuple[torch.Tensor, torch.Tensor]:
        spread = cls.spread(outputs)
        return spread.to(torch.float64), torch.ones_like(spread, dtype=torch.float64)

    def split(self, history, measure_split):
        return mean_from_sums(*measure_split(self.reduce))

    def batch(self, history, batch, measure_batch):
        return self.spread(measure_batch(batch))


class DisagreementHistory(Measure):
    """The disagreement measure's spread without its passes: each sample's true-class probability
    in its last K weight steps, each on the path the base algorithm drew for that step (uniform for
    RSPS and SETN), in training mode and at the weights of that moment. A sample with fewer than
    two steps recorded has no spread yet and counts as the mean of the others."""

    single_path_only = True
    needs_indices = True
    needs_class_logits = True

    def history_length(self, k: int) -> int:
        return k

    def step_values(self, outputs):
        return true_class_probability(outputs, self.name or 'disagreement-history')[0]

    @staticmethod
    def spread_of(history: 'LossHistory', indices: Optional[torch.Tensor] = None) -> torch.Tensor:
        values, valid = history.recorded(indices)
        counts = valid.sum(0).to(torch.float64)
        values = values.to(torch.float64) * valid
        mean = values.sum(0) / counts.clamp_min(1)
        variance = (((values - mean) * valid) ** 2).sum(0) / counts.clamp_min(1)
        spread = variance.clamp_min(0).sqrt()  # 0 where one value is recorded: all weights 1 while none has two
        enough = counts >= 2
        if bool(enough.any()) and not bool(enough.all()):
            spread = torch.where(enough, spread, spread[enough].mean())
        return spread

    def split(self, history, measure_split):
        return self.spread_of(history)

    def batch(self, history, batch, measure_batch):
        return self.spread_of(history, unpack(batch)[1].to(history.losses.device))


class Margin(Measure):
    """PA&DA's score (Lu et al., CVPR 2023): ``||softmax(z) - onehot(y)||_2`` of the trained path's
    own forward (the gradient of the cross-entropy with respect to the logits, whose norm bounds the
    sample's gradient), each sample's mean over the weight steps of the last epoch it was trained in;
    no extra pass. A sample not trained on yet counts as the mean of the others."""

    needs_indices = True
    needs_class_logits = True
    epoch_means = True

    def step_values(self, outputs):
        logits, targets = _class_outputs(outputs, self.name or 'margin')
        probs = torch.softmax(logits[0], dim=-1)
        return (probs - torch.nn.functional.one_hot(targets, probs.shape[-1]).to(probs.dtype)).norm(dim=-1)

    def split(self, history, measure_split):
        return history.means()

    def batch(self, history, batch, measure_batch):
        return history.means(unpack(batch)[1].to(history.sums.device))


class RandomDifficulty(Measure):
    """A difficulty drawn once per sample from U(0, 1), from the curriculum's seed: no information,
    no pass. With the self-paced weighting it admits a random subset of the data that grows to all
    of it (Wu, Dyer & Neyshabur, ICLR 2021: pacing alone, the control of a curriculum's order)."""

    needs_indices = True
    static = True

    def __init__(self, options=None):
        super().__init__(options)
        self.difficulty = torch.zeros(0, dtype=torch.float64)

    def attach(self, num_samples, seed):
        generator = torch.Generator().manual_seed(seed)
        self.difficulty = torch.rand(num_samples, generator=generator, dtype=torch.float64)

    def split(self, history, measure_split):
        return self.difficulty

    def batch(self, history, batch, measure_batch):
        index = unpack(batch)[1]
        return self.difficulty[index.cpu()].to(index.device)


class Amortised(Measure):
    """Eq. 10 over each sample's last K losses in the weight steps of a single-path search: no
    extra forward pass (see :class:`~nni_cnas.curriculum.state.LossHistory` for how it differs)."""

    single_path_only = True
    needs_indices = True

    def history_length(self, k: int) -> int:
        return k

    def split(self, history, measure_split):
        return sigma_from_sums(*history.loss_sums())

    def batch(self, history, batch, measure_batch):
        return sigma_from_sums(*history.loss_sums(unpack(batch)[1].to(history.losses.device)))


class TrainingLoss(Measure):
    """The loss the sample had in its last weight step (the trained path's, or the mixture's for
    DARTS): hard-example mining's measure, K-free. Not a square root, unlike sigma: with the
    proportional weighting, ``alpha=0.5`` puts it on sigma's scale. The ``batch`` schedule weighs a
    batch by the losses of the very step that trains on it."""

    from_step = True

    def history_length(self, k: int) -> int:
        return 1

    def split(self, history, measure_split):
        return mean_from_sums(*history.loss_sums())
