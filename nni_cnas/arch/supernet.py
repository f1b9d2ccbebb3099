"""Run one fixed architecture inside a supernet, with the shared weights and no copies.

The curriculum measures each sample's loss under K subnets, and RSPS/ENAS/SETN pick their final
architecture by evaluating candidates; both need a subnet's forward on the supernet's own weights.

NNI 3.0 has that for path-sampling supernets (``PathSampling*``: set the sample with
``resample(memo=sample)``) but not for differentiable ones: ``freeze()`` deep-copies the model and
``DifferentiableMixed*`` always run every candidate. The ``Fixable*`` subclasses below add a
"fixed choice" switch to NNI's differentiable modules; our strategies install them through NNI's
mutation hooks, so NNI's algorithms see the classes they expect.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Mapping, Optional

import torch
import torch.nn as nn
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.oneshot.pytorch.supermodule.differentiable import (
    DifferentiableMixedCell, DifferentiableMixedInput, DifferentiableMixedLayer,
)
from nni.nas.oneshot.pytorch.supermodule.sampling import (
    PathSamplingCell, PathSamplingInput, PathSamplingLayer, PathSamplingRepeat,
)

__all__ = [
    'FixableMixedLayer', 'FixableMixedInput', 'FixableMixedCell',
    'fixed_architecture', 'apply_architecture', 'supernet_modules', 'active_value', 'runs_without_alphas',
    'ArchitectureMismatch',
]

_PATH_SAMPLING = (PathSamplingLayer, PathSamplingInput, PathSamplingCell, PathSamplingRepeat)


class ArchitectureMismatch(ValueError):
    """A sample that does not fit the supernet (missing label or unknown value)."""


def _labels(module: nn.Module) -> List[str]:
    """The module's choice labels. NNI's simplify() walks the module's mutables on every call;
    the curriculum fixes every module K times per batch, so the labels are read once."""
    labels = module.__dict__.get('_nni_cnas_labels')
    if labels is None:
        labels = module.__dict__['_nni_cnas_labels'] = list(module.simplify())
    return labels


def _required(module: nn.Module, sample: Mapping[str, Any]) -> Dict[str, Any]:
    """The part of ``sample`` this module needs; every one of its labels must be there."""
    labels = _labels(module)
    missing = [label for label in labels if label not in sample]
    if missing:
        raise ArchitectureMismatch(f'the architecture has no value for {", ".join(missing)}')
    return {label: sample[label] for label in labels}


class _Fixable:
    """A differentiable supernet module that can run a fixed choice instead of the mixture."""

    _fixed: Optional[Dict[str, Any]] = None

    def fix(self, sample: Mapping[str, Any]) -> None:
        fixed = _required(self, sample)
        self.check(fixed)
        self._fixed = fixed

    def check(self, fixed: Dict[str, Any]) -> None:
        """Raise :class:`ArchitectureMismatch` if a value is not one of this module's options."""

    def unfix(self) -> None:
        self._fixed = None


_HOST_ALPHAS: Dict[int, torch.Tensor] = {}


@contextlib.contextmanager
def alphas_on_host(alphas) -> Iterator[None]:
    """Inside the block, the mixed modules' ``export_probs`` read these architecture parameters
    from one host copy made with one transfer. NNI's ``export_probs`` reads each label's softmax
    back separately, a device sync per label (28 on the DARTS space)."""
    alphas = list(alphas)
    if not alphas:
        yield
        return
    flat = torch.cat([alpha.detach().reshape(-1) for alpha in alphas]).cpu()
    copies, position = {}, 0
    for alpha in alphas:
        copies[id(alpha)] = flat[position:position + alpha.numel()].view_as(alpha)
        position += alpha.numel()
    _HOST_ALPHAS.update(copies)
    try:
        yield
    finally:
        for key in copies:
            _HOST_ALPHAS.pop(key, None)


def _host_softmax(module) -> List[float]:
    alpha = _HOST_ALPHAS.get(id(module._arch_alpha))
    return module._softmax(alpha if alpha is not None else module._arch_alpha.detach().cpu()).tolist()


class FixableMixedLayer(_Fixable, DifferentiableMixedLayer):
    """DARTS mixed layer; when fixed, runs only the chosen candidate."""

    def check(self, fixed):
        if fixed[self.label] not in self.names:
            raise ArchitectureMismatch(f'{self.label}: {fixed[self.label]!r} is not one of {self.names}')

    def forward(self, *args, **kwargs):
        if self._fixed is not None:
            return self[self._fixed[self.label]](*args, **kwargs)
        return super().forward(*args, **kwargs)

    def active_value(self):
        return None if self._fixed is None else self._fixed[self.label]

    def export_probs(self, memo):
        return {} if self.label in memo else {self.label: dict(zip(self.names, _host_softmax(self)))}


class FixableMixedInput(_Fixable, DifferentiableMixedInput):
    """DARTS mixed input; when fixed, reduces only the chosen inputs."""

    def export_probs(self, memo):
        return {} if self.label in memo else {self.label: dict(enumerate(_host_softmax(self)))}

    def forward(self, inputs):
        if self._fixed is None:
            return super().forward(inputs)
        chosen = self._fixed[self.label]
        chosen = chosen if isinstance(chosen, list) else [chosen]
        selected = [inputs[i] for i in chosen]
        total = sum(selected)
        return total / len(selected) if self.reduction == 'mean' else total


class FixableMixedCell(_Fixable, DifferentiableMixedCell):
    """DARTS mixed cell; when fixed, runs the chosen op on the chosen input of each node.

    ``DifferentiableMixedCell`` derives from ``PathSamplingCell``, whose forward already runs one
    sampled path from ``_sampled``: the fixed forward is that forward with the fixed sample.
    """

    def forward(self, *inputs):
        if self._fixed is None:
            return super().forward(*inputs)
        saved = self._sampled
        self._sampled = self._fixed
        try:
            return PathSamplingCell.forward(self, *inputs)
        finally:
            self._sampled = saved


def active_value(choice: nn.Module) -> Optional[Any]:
    """The value a (supernet) layer choice runs now, when it runs one: a fixed subnet, a sampled
    path, a GDAS draw, a frozen choice that knows its value; None while it runs a mixture."""
    own = getattr(choice, 'active_value', None)
    if callable(own):
        return own()
    if isinstance(choice, PathSamplingLayer):
        sampled = choice._sampled
        if isinstance(sampled, list):
            return sampled[0] if len(sampled) == 1 else None
        return sampled
    return None


def runs_without_alphas(choice: nn.Module, value: Any) -> bool:
    """Whether ``choice`` runs ``value`` now and no architecture gradient passes through it, so a
    caller may skip the work of that value (a ``none`` edge). A GDAS draw of ``value`` still feeds
    the alphas' gradient while training, so it is not skipped then."""
    if active_value(choice) != value:
        return False
    if getattr(choice, '_fixed', None) is not None or not torch.is_grad_enabled():
        return True
    return not any(True for _ in getattr(choice, 'arch_parameters', lambda: ())())


def supernet_modules(model: nn.Module) -> Iterator[BaseSuperNetModule]:
    for module in model.modules():
        if isinstance(module, BaseSuperNetModule):
            yield module


def _check_supported(module: nn.Module) -> None:
    if not isinstance(module, (_Fixable,) + _PATH_SAMPLING):
        raise TypeError(
            f'{type(module).__name__} has no fixed-architecture forward; nni_cnas supports layer, input and cell '
            'choices (LayerChoice, InputChoice, Cell, Repeat), not mixed operations with value choices'
        )


def apply_architecture(model: nn.Module, sample: Mapping[str, Any]) -> None:
    """Set a path-sampling supernet to ``sample`` until the next resample (RSPS, ENAS, SETN)."""
    memo = dict(sample)
    for module in supernet_modules(model):
        if not isinstance(module, _PATH_SAMPLING):
            raise TypeError(f'apply_architecture needs a path-sampling supernet, found {type(module).__name__}')
        _required(module, memo)
        module.resample(memo=memo)


@contextlib.contextmanager
def fixed_architecture(model: nn.Module, sample: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, ``model(x)`` computes the subnet ``sample`` with the supernet's weights.

    Works for differentiable (``Fixable*``) and path-sampling supernets; the supernet's own state
    (a sampled path, the mixture) is restored afterwards.
    """
    modules: List[nn.Module] = list(supernet_modules(model))
    for module in modules:
        _check_supported(module)
    restore: List[tuple] = []
    try:
        for module in modules:
            if isinstance(module, _Fixable):
                restore.append((module, None))
                module.fix(sample)
            else:
                restore.append((module, module._sampled))
                module.resample(memo=_required(module, sample))
        yield
    finally:
        for module, saved in restore:
            if isinstance(module, _Fixable):
                module.unfix()
            else:
                module._sampled = saved
