"""The NNI strategy side every curriculum strategy shares: :class:`CurriculumStrategy`, the mixin
placed before an NNI one-shot strategy, with the curriculum's options and the search's loaders
(:func:`~nni_cnas.strategies.loaders.search_loaders`). Its one-shot module is a
:class:`~nni_cnas.strategies.module.SearchModule`, importable from here too.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Union

import torch
from nni.mutable import Sample
from pytorch_lightning.utilities.model_helpers import is_overridden

from ..arch.supernet import adapt_supernet_module
from ..curriculum.config import CurriculumConfig, measure_of_estimator
from ..curriculum.parts import MEASURES
from ..quiet import silence_known_noise
from . import registry
from .loaders import NoValidationBatches, search_loaders
from .losses import check_classifier, check_sample_losses
from .module import SUPERNET_PATHS, SearchModule

__all__ = ['SearchModule', 'CurriculumStrategy', 'Sample', 'SUPERNET_PATHS']

#: The curriculum's defaults (the paper's method), which the strategies' signatures show.
_CURRICULUM = CurriculumConfig()


def compiled_backend(spec: Optional[registry.StrategySpec], name: str, compile: bool, backend: str) -> Optional[str]:
    """The backend the strategy compiles its static steps with, or None (off); refuses what cannot take effect."""
    if not compile:
        if backend != registry.COMPILE_BACKEND:
            raise ValueError(f'compile_backend={backend!r} applies with compile=True; add it, or drop compile_backend')
        return None
    problem = spec.compile_problem() if spec else (f'compile=True compiles the steps a registered strategy declares '
                                                   f'static (StrategySpec static_steps), and {name} is not registered')
    if problem:
        raise ValueError(problem)
    from .compiled import check_backend

    check_backend(backend)
    return backend


class CurriculumStrategy:
    """Mixin for NNI one-shot strategies: the curriculum's options and its data plumbing.

    Parameters
    ----------
    curriculum
        ``'epoch'`` (default; the authors' released code), ``'batch'`` (the paper's Algorithm 1),
        ``'sample'`` (the weights draw the next epoch's samples, the loss unweighted; nni_cnas' tensor
        loaders), or ``None``/``'none'`` for the plain base algorithm.
    k
        Number of subnets whose losses measure each sample's uncertainty; ``0`` is the plain algorithm.
    measure
        How hard each sample is: ``'uncertainty'`` (default; K extra forward passes of the K best subnets,
        the paper), ``'amortised'`` (single-path strategies only: each sample's last K training losses, no
        extra pass; see :class:`~nni_cnas.curriculum.LossHistory`) or ``'loss'`` (the trained path's own
        loss, K-free). A researcher's own: :func:`~nni_cnas.curriculum.register_measure`.
    weighting
        Difficulty to weights: ``'proportional'`` (default; ``v ~ d^alpha``, Eq. 11 at ``alpha=1``),
        ``'inverse'`` (``v ~ d^-alpha``, easy first), ``'self-paced'`` (the easiest share of the samples,
        growing from half to all) or ``'permuted'`` (the control: proportional weights shuffled across samples).
    alpha
        Power of the proportional, inverse and permuted weightings; ``0`` is the plain algorithm.
    curriculum_start
        First epoch with data weights: a share of the epochs below 1 (``0.5``: the second half), an
        epoch number from 1 up; before it, the plain algorithm. Default 0 (the paper).
    estimator
        The former name of ``measure``, still accepted: ``'exact'`` is ``'uncertainty'``, ``'amortised'``
        is ``'amortised'``.
    measure_options, weighting_options
        The measure's and the weighting's own options, as a dict or ``KEY=VALUE`` items: for example
        ``measure_options={'subnets': 'uniform'}`` (the K subnets drawn uniformly, not the policy's) or
        ``weighting_options='initial_share=0.2'`` (self-paced). ``nni-cnas parts`` lists every option.
    uncertainty_precision
        Arithmetic of the uncertainty measure's passes: ``'auto'`` (bf16 autocast on a CUDA GPU with bf16,
        else fp32), ``'fp32'`` or ``'bf16'``. The weight and architecture steps are not affected.
    compile
        ``torch.compile`` the steps whose forward is the whole mixed supernet (DARTS' weight and
        architecture steps, DARTS-V2's and Amended-DARTS' weight step, SETN's architecture step), the
        same graph at every step; the first steps wait for the compile. Refused for strategies whose
        steps each run one path (RSPS, ENAS, GDAS, Proxyless). Default off.
    compile_backend
        torch.compile's backend with ``compile=True``: ``'inductor'`` (default; on the CPU it needs a
        C++ compiler) or another, such as ``'aot_eager'`` (no generated code).
    num_candidates
        Candidates scored on one validation batch for the final choice (where the algorithm selects).
    selection_size
        Samples in that validation batch.
    seed
        Seed of the strategy's own random choices; default: derived from ``torch.initial_seed()``.
    """

    #: The architecture step of differentiable algorithms needs a validation batch with each training batch.
    needs_validation_batches = True

    def __init__(self, *, curriculum: Optional[str] = _CURRICULUM.schedule, k: int = _CURRICULUM.k,
                 measure: str = _CURRICULUM.measure, weighting: str = _CURRICULUM.weighting,
                 alpha: float = _CURRICULUM.alpha, curriculum_start: float = _CURRICULUM.start,
                 estimator: Optional[str] = None, uncertainty_precision: str = _CURRICULUM.uncertainty_precision,
                 measure_options: Union[Mapping[str, Any], str, None] = None,
                 weighting_options: Union[Mapping[str, Any], str, None] = None,
                 compile: bool = False, compile_backend: str = registry.COMPILE_BACKEND,
                 num_candidates: int = registry.NUM_CANDIDATES, selection_size: int = registry.SELECTION_SIZE,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        silence_known_noise()
        measure = measure_of_estimator(estimator, measure)
        self.curriculum_config = CurriculumConfig('none' if curriculum is None else curriculum, k, measure,
                                                  uncertainty_precision, weighting, alpha, curriculum_start,
                                                  measure_options or {}, weighting_options or {})
        spec = registry.spec_of(type(self))
        registry.check_measure(spec.name if spec else type(self).__name__,
                               spec.single_path if spec else self.module_class.single_path, measure)
        if num_candidates < 1 or selection_size < 1:
            raise ValueError('num_candidates and selection_size must be positive')
        self.static_steps = spec.static_steps if spec else ()
        self.compile_backend = compiled_backend(spec, type(self).__name__, compile, compile_backend)
        self.num_candidates = num_candidates
        self.selection_size = selection_size
        self.seed = seed
        self._search_module: Optional[SearchModule] = None
        self._fits_a_datamodule = False

    #: The one-shot module class of the algorithm (a :class:`SearchModule`).
    module_class: type

    def module_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :attr:`module_class`; algorithms add their own."""
        return dict(curriculum=self.curriculum_config, num_candidates=self.num_candidates,
                    selection_size=self.selection_size, seed=self.seed, compile_backend=self.compile_backend,
                    static_steps=self.static_steps)

    def mutate_evaluator(self, evaluator):
        # What val_dataloader may return depends on how NNI passes the loaders to the fit.
        self._fits_a_datamodule = getattr(evaluator, 'datamodule', None) is not None
        return super().mutate_evaluator(evaluator)

    def configure_oneshot_module(self, training_module) -> SearchModule:
        if self.compile_backend is not None and not hasattr(training_module, 'criterion'):
            raise TypeError(f'compile=True compiles the evaluator module\'s forward of the mixed supernet, and '
                            f'{type(training_module).__name__} has no criterion (its own training_step makes the loss): '
                            'leave compile off')
        if self.curriculum_config.enabled:
            check_sample_losses(training_module)  # before any training, not at the first weighted step
            if MEASURES.get(self.curriculum_config.measure).load().needs_class_logits:
                check_classifier(training_module, self.curriculum_config.measure)
        self._search_module = self.module_class(training_module, **self.module_kwargs())
        return self._search_module

    @property
    def search_module(self) -> SearchModule:
        """The one-shot module of the search (available once the evaluator is mutated)."""
        if self._search_module is None:
            raise RuntimeError('the strategy has not built its one-shot module yet')
        return self._search_module

    def run_hook(self, hook, name, module, memo):
        # Every module a mutation hook makes (NNI's, a model space's own, a user's) gets what our
        # modules need: the fixed-architecture switch, a working export (nni_cnas.arch.supernet).
        def adapted(module, name, memo, kwargs):
            made = hook(module, name, memo, kwargs)
            if isinstance(made, tuple):
                return (adapt_supernet_module(made[0]),) + tuple(made[1:])
            return adapt_supernet_module(made) if isinstance(made, torch.nn.Module) else made

        return super().run_hook(adapted, name, module, memo)

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        if self._search_module is None:
            raise RuntimeError('configure_oneshot_module must run before train_dataloader')
        return search_loaders(self._search_module, train_dataloader_fn(), val_dataloader_fn(),
                              selection_size=self.selection_size, validation_batches=self.needs_validation_batches,
                              name=type(self).__name__)

    def val_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        # No validation loop: the module scores subnets itself, on the loaders train_dataloader
        # attached. Said to Lightning without a warning: no loader where the module has no
        # validation_step (as NNI's DARTS returns), a loader without batches where it has one (NNI's
        # RandomOneShot's). A LightningDataModule's val_dataloader may not return None (NNI's own
        # strategies fail there): an empty loader, whose warning names our class and is filtered.
        if self._fits_a_datamodule or is_overridden('validation_step', self.search_module):
            return NoValidationBatches()
        return None
