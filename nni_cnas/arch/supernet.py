"""Run one fixed architecture inside a supernet, with the shared weights and no copies.

The curriculum measures each sample's loss under K subnets, and RSPS/ENAS/SETN pick their final
architecture by evaluating candidates; both need a subnet's forward on the supernet's own weights.

NNI 3.0 has that for path-sampling supernets (``PathSampling*`` and mixed operations with the
path-sampling policy: set the sample with ``resample(memo=sample)``) but not for differentiable
ones: ``freeze()`` deep-copies the model, and ``DifferentiableMixed*``, Proxyless' modules and
mixed operations with the differentiable policy always run their mixture. The ``Fixable*``
subclasses below add a "fixed choice" switch to NNI's differentiable and Proxyless modules, and
:class:`FixableDifferentiablePolicy` to NNI's differentiable policy of mixed operations (a fixed
``MixedConv2d`` runs its weight sliced to the fixed sizes, as path sampling does); our strategies
install them through NNI's mutation hooks, so NNI's algorithms see the classes they expect.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Mapping, Optional

import torch
import torch.nn as nn
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.oneshot.pytorch.supermodule.differentiable import (
    DifferentiableMixedCell, DifferentiableMixedInput, DifferentiableMixedLayer, DifferentiableMixedRepeat,
    MixedOpDifferentiablePolicy,
)
from nni.nas.oneshot.pytorch.supermodule.operation import MixedOperation
from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedInput, ProxylessMixedLayer
from nni.nas.oneshot.pytorch.supermodule.sampling import (
    MixedOpPathSamplingPolicy, PathSamplingCell, PathSamplingInput, PathSamplingLayer, PathSamplingRepeat,
)

__all__ = [
    'FixableMixedLayer', 'FixableMixedInput', 'FixableMixedCell', 'FixableMixedRepeat',
    'FixableProxylessLayer', 'FixableProxylessInput', 'FixableDifferentiablePolicy',
    'adapt_supernet_module', 'fixed_architecture', 'apply_architecture', 'supernet_modules', 'active_value', 'runs_without_alphas',
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
        # Back to the class's None, not an instance attribute of None: the module's __dict__ is then
        # as it was before the fix, which torch.compile's guards on the mixed forward check.
        self.__dict__.pop('_fixed', None)


#: The attribute under which :func:`alphas_on_host` leaves an architecture parameter's host copy
#: for the duration of its block (NNI's ``export_probs`` takes no argument to pass it in).
_HOST_COPY = '_nni_cnas_host_copy'


def _host_values(tensor: torch.Tensor) -> list:
    """A host tensor's values as Python numbers (no device sync: the tensor is on the host)."""
    return tensor.tolist()


@contextlib.contextmanager
def alphas_on_host(alphas, also: Optional[torch.Tensor] = None) -> Iterator[Optional[list]]:
    """Inside the block, the mixed modules' ``export_probs`` read these architecture parameters
    from one host copy made with one transfer. NNI's ``export_probs`` reads each label's softmax
    back separately, a device sync per label (28 on the DARTS space). ``also`` (a 1-D tensor of
    small integers, e.g. GDAS' drawn indices) travels in the same transfer; the block gets its values."""
    alphas = list(alphas)
    if not alphas:
        yield None if also is None else _host_values(also.cpu())
        return
    parts = [alpha.detach().reshape(-1) for alpha in alphas]
    flat = torch.cat(parts + ([also.to(parts[0].dtype)] if also is not None else [])).cpu()
    position = 0
    for alpha in alphas:
        setattr(alpha, _HOST_COPY, flat[position:position + alpha.numel()].view_as(alpha))
        position += alpha.numel()
    try:
        yield None if also is None else [int(value) for value in _host_values(flat[position:])]
    finally:
        for alpha in alphas:
            if hasattr(alpha, _HOST_COPY):
                delattr(alpha, _HOST_COPY)


def _policy_probs(module, alpha: torch.Tensor) -> List[float]:
    """The policy's probabilities of one architecture parameter, read on the host (from the copy of
    :func:`alphas_on_host` when there is one). A module whose softmax draws samples (GDAS') names
    the policy's own softmax ``policy_softmax``."""
    host = getattr(alpha, _HOST_COPY, None)
    softmax = getattr(module._softmax, 'policy_softmax', module._softmax)
    return softmax(host if host is not None else alpha.detach().cpu()).tolist()


def _host_softmax(module) -> List[float]:
    return _policy_probs(module, module._arch_alpha)


class _FixableLayer(_Fixable):
    """A layer choice (DARTS' or Proxyless'); when fixed, runs only the chosen candidate."""

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


class _FixableInput(_Fixable):
    """An input choice (DARTS' or Proxyless'); when fixed, reduces only the chosen inputs."""

    def export_probs(self, memo):
        return {} if self.label in memo else {self.label: dict(enumerate(_host_softmax(self)))}

    def forward(self, inputs):
        if self._fixed is None:
            return super().forward(inputs)
        chosen = self._fixed[self.label]
        chosen = chosen if isinstance(chosen, (list, tuple)) else [chosen]
        selected = [inputs[i] for i in chosen]
        total = sum(selected)
        return total / len(selected) if self.reduction == 'mean' else total


class FixableMixedLayer(_FixableLayer, DifferentiableMixedLayer):
    """DARTS mixed layer; when fixed, runs only the chosen candidate."""


class FixableMixedInput(_FixableInput, DifferentiableMixedInput):
    """DARTS mixed input; when fixed, reduces only the chosen inputs."""


class FixableProxylessLayer(_FixableLayer, ProxylessMixedLayer):
    """Proxyless' layer (one sampled path, binary-gate gradient); when fixed, the chosen candidate."""

    def active_value(self):
        return self._sampled if self._fixed is None else self._fixed[self.label]


class FixableProxylessInput(_FixableInput, ProxylessMixedInput):
    """Proxyless' input choice; when fixed, reduces only the chosen inputs."""


class _FixableCell(_Fixable):
    """An NNI cell in a differentiable supernet; when fixed, runs the chosen op on the chosen input
    of each node.

    ``DifferentiableMixedCell`` derives from ``PathSamplingCell``, whose forward already runs one
    sampled path from ``_sampled``: the fixed forward is that forward with the fixed sample.
    """

    def export_probs(self, memo):
        return {name: dict(zip(self.op_names, _policy_probs(self, alpha)))
                for name, alpha in self._arch_alpha.items() if name not in memo}

    def forward(self, *inputs):
        if self._fixed is None:
            return super().forward(*inputs)
        saved = self._sampled
        self._sampled = self._fixed
        try:
            return PathSamplingCell.forward(self, *inputs)
        finally:
            self._sampled = saved


class _FixableRepeat(_Fixable):
    """DARTS' mixture over a ``Repeat``'s depths; when fixed, runs the first ``depth`` blocks and
    the module's own reduction of that one depth (NNI's NAS spaces align shapes there)."""

    def export_probs(self, memo):
        return {name: dict(zip(spec.values, _policy_probs(self, self._arch_alpha[name])))
                for name, spec in self.depth_choice.simplify().items() if name not in memo}

    def forward(self, x):
        if self._fixed is None:
            return super().forward(x)
        depth = self.depth_choice.freeze(self._fixed)
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i == depth:
                return self._reduction([x], [1.0], [i])
        raise ArchitectureMismatch(f'depth {depth} is more than the {len(self.blocks)} blocks of the Repeat')


class FixableMixedCell(_FixableCell, DifferentiableMixedCell):
    """DARTS' cell with the fixed-architecture switch."""


class FixableMixedRepeat(_FixableRepeat, DifferentiableMixedRepeat):
    """DARTS' Repeat with the fixed-architecture switch."""


# Differentiable modules and the switch each gets; subclasses first (Proxyless' layers are DARTS layers).
_SWITCHES = (
    (DifferentiableMixedCell, _FixableCell),
    (DifferentiableMixedRepeat, _FixableRepeat),
    (DifferentiableMixedInput, _FixableInput),
    (DifferentiableMixedLayer, _FixableLayer),
)
_SUBCLASSES: Dict[tuple, type] = {}


class _ExportableOperation:
    """A mixed operation whose export works: NNI 3.0's ``MixedConv2d.freeze_weight`` returns
    ``'bias': None`` for a convolution without bias, which ``load_state_dict`` then refuses, so
    ``export_top_models(formatter='instance')`` fails on spaces such as ShuffleNet and
    ProxylessNAS (with NNI's own strategies too)."""

    def freeze_weight(self, *args, **kwargs):
        return {key: value for key, value in super().freeze_weight(*args, **kwargs).items() if value is not None}


def _subclass(module: nn.Module, mixin: type) -> None:
    """``module``'s class becomes a subclass of its own class with ``mixin`` first, in place, as
    ``torch.nn.utils.parametrize`` does (one subclass per class)."""
    cls = type(module)
    key = (cls, mixin)
    if key not in _SUBCLASSES:
        _SUBCLASSES[key] = type(f'{mixin.__name__.strip("_")}{cls.__name__}', (mixin, cls), {'__module__': cls.__module__})
    module.__class__ = _SUBCLASSES[key]


def adapt_supernet_module(module: nn.Module) -> nn.Module:
    """What our strategies do to each module a mutation hook makes, NNI's own hooks and a model
    space's included (such as NNI's ``NDSStageDifferentiable``): a differentiable module gets the
    fixed-architecture switch, a mixed operation a working export. Other modules are returned as
    they are."""
    if isinstance(module, MixedOperation):
        if not isinstance(module, _ExportableOperation):
            _subclass(module, _ExportableOperation)
        return module
    if isinstance(module, _Fixable):
        return module
    for base, switch in _SWITCHES:
        if isinstance(module, base):
            _subclass(module, switch)
            break
    return module


class FixableDifferentiablePolicy(MixedOpDifferentiablePolicy):
    """NNI's differentiable policy of mixed operations (``MixedConv2d``...), which can also give the
    operation the sizes of a fixed architecture: the operation then runs its weights sliced to
    them, exactly as a path-sampling supernet does, instead of the weighted mixture."""

    def export_probs(self, operation: MixedOperation, memo):
        return {name: dict(zip(spec.values, _policy_probs(operation, operation._arch_alpha[name])))
                for name, spec in operation.simplify().items() if name not in memo}

    def forward_argument(self, operation: MixedOperation, name: str):
        fixed = operation.__dict__.get('_nni_cnas_fixed')
        if fixed is not None and name in operation.mutable_arguments:
            return operation.mutable_arguments[name].freeze(fixed)
        return super().forward_argument(operation, name)


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


class _State:
    """How :func:`fixed_architecture` fixes one supernet module and restores it afterwards."""

    def __init__(self, module: nn.Module):
        self.module = module
        policy = getattr(module, 'sampling_policy', None)
        if isinstance(module, _Fixable):
            self.kind = 'fixable'
        elif isinstance(module, MixedOperation) and isinstance(policy, FixableDifferentiablePolicy):
            self.kind = 'operation'
        elif isinstance(module, _PATH_SAMPLING):
            self.kind, self.holder = 'path', module
        elif isinstance(module, MixedOperation) and isinstance(policy, MixedOpPathSamplingPolicy):
            self.kind, self.holder = 'path', policy
        else:
            raise TypeError(
                f'{type(module).__name__} has no fixed-architecture forward; nni_cnas runs fixed architectures in '
                "the supernets of its own strategies (DARTS', Proxyless' and path-sampling modules of NNI's "
                'LayerChoice, InputChoice, Cell, Repeat and mixed operations)')

    def fix(self, sample: Mapping[str, Any]) -> None:
        if self.kind == 'fixable':
            self.module.fix(sample)
        elif self.kind == 'operation':
            self.module.__dict__['_nni_cnas_fixed'] = _required(self.module, sample)
        else:
            self.saved = self.holder._sampled
            self.module.resample(memo=_required(self.module, sample))

    def restore(self) -> None:
        if self.kind == 'fixable':
            self.module.unfix()
        elif self.kind == 'operation':
            self.module.__dict__.pop('_nni_cnas_fixed', None)
        elif hasattr(self, 'saved'):
            self.holder._sampled = self.saved


def _is_path_sampling(module: nn.Module) -> bool:
    return isinstance(module, _PATH_SAMPLING) or (
        isinstance(module, MixedOperation) and isinstance(getattr(module, 'sampling_policy', None), MixedOpPathSamplingPolicy))


def apply_architecture(model: nn.Module, sample: Mapping[str, Any]) -> None:
    """Set a path-sampling supernet to ``sample`` until the next resample (RSPS, ENAS)."""
    memo = dict(sample)
    for module in supernet_modules(model):
        if not _is_path_sampling(module):
            raise TypeError(f'apply_architecture needs a path-sampling supernet, found {type(module).__name__}')
        module.resample(memo=_required(module, memo))


@contextlib.contextmanager
def fixed_architecture(model: nn.Module, sample: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, ``model(x)`` computes the subnet ``sample`` with the supernet's weights.

    Works for differentiable, Proxyless and path-sampling supernets; the supernet's own state (a
    sampled path, the mixture) is restored afterwards.
    """
    states = [_State(module) for module in supernet_modules(model)]
    fixed: List[_State] = []
    try:
        for state in states:
            fixed.append(state)
            state.fix(sample)
        yield
    finally:
        for state in fixed:
            state.restore()
