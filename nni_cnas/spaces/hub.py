"""NNI 3.0's hub spaces (``nni.nas.hub.pytorch``) for the CLI, sweeps and the quality protocol:
``--space nni:darts`` and the like, with the hub's constructor options in ``--space-options``.

The search options map to the hub's arguments where the hub has them (``--channels`` is the cell
spaces' ``width`` and NAS-Bench-201's ``stem_out_channels``, ``--cells`` their ``num_cells`` and
``num_modules_per_stack``, ``--stem`` their ``dataset``, the data's classes ``num_labels``);
``--space-options`` gives any constructor argument, a choice as a tuple::

    nni-cnas search --space nni:darts --space-options "width=(8,16) num_cells=(4,8)" ...

NNI's cell spaces (DARTS, NASNet, ENAS, AmoebaNet, PNAS) fix their classes by their stem (10 for
``cifar``, 1000 for ``imagenet``), and every hub space takes RGB images.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

from ..errors import UserError
from ..items import parse_items

__all__ = ['HUB_SPACES', 'parse_space_options', 'build_hub_space']

#: The cell spaces' classes by stem (NNI's NDS spaces).
NDS_CLASSES = {'cifar': 10, 'imagenet': 1000}


def _nds(config, data) -> Dict[str, Any]:
    return dict(width=config.channels, num_cells=config.cells, dataset=config.stem)


def _nb201(config, data) -> Dict[str, Any]:
    return dict(stem_out_channels=config.channels, num_modules_per_stack=config.cells, num_labels=data.num_classes)


def _labels_only(config, data) -> Dict[str, Any]:
    return dict(num_labels=data.num_classes)


#: ``nni:<name>``: (hub class, its arguments from the search config and data, summary).
HUB_SPACES: Dict[str, tuple] = {
    'nasbench201': ('NasBench201', _nb201, "NNI's NAS-Bench-201 space (ops conv_3x3, conv_1x1...), looked up in the benchmark"),
    'darts': ('DARTS', _nds, "NNI's DARTS space (nn.Cell, 4 nodes)"),
    'nasnet': ('NASNet', _nds, "NNI's NASNet space"),
    'enas': ('ENAS', _nds, "NNI's ENAS macro-cell space"),
    'amoeba': ('AmoebaNet', _nds, "NNI's AmoebaNet space"),
    'pnas': ('PNAS', _nds, "NNI's PNAS space"),
    'proxylessnas': ('ProxylessNAS', _labels_only, "NNI's ProxylessNAS space (ImageNet blocks)"),
    'mobilenetv3': ('MobileNetV3Space', _labels_only, "NNI's MobileNetV3 space"),
    'shufflenet': ('ShuffleNetSpace', _labels_only, "NNI's ShuffleNet space"),
    'autoformer': ('AutoformerSpace', _labels_only, "NNI's Autoformer space (vision transformer)"),
}


def parse_space_options(text: Optional[str]) -> Dict[str, Any]:
    """``"width=(8,16) num_cells=4"``: constructor arguments, each value a Python literal (a bare
    word is a string); a :class:`UserError` for anything else."""
    return parse_items(text, '--space-options')


def _attach(space, name: str, hook: Callable) -> Any:
    """Give a hub space one of the space contract's hooks (:mod:`nni_cnas.spaces.contract`)."""
    space.__dict__[name] = hook
    return space


def takes_cells(name: str) -> bool:
    """Whether ``--cells`` (and ``--stem``) mean something to the hub space ``name``."""
    return HUB_SPACES[name][1] in (_nds, _nb201)


def build_hub_space(name: str, config, data, overrides: Optional[Mapping[str, Any]] = None):
    """The hub space ``name`` built with the arguments the search config maps to, then ``overrides``
    (default: the config's ``--space-options``)."""
    import nni.nas.hub.pytorch as hub

    overrides = parse_space_options(config.space_options) if overrides is None else overrides
    class_name, arguments, _ = HUB_SPACES[name]
    if getattr(data, 'in_channels', 3) != 3:
        raise UserError(f'nni:{name} takes RGB images; {data.name} has {data.in_channels} channel(s): '
                        'use RGB images (cifar10, cifar100, imagenet16-120, a folder), or grey ones, which a '
                        'search repeats to three channels')
    kwargs = dict(arguments(config, data), **overrides)
    if arguments is _nds:
        classes = NDS_CLASSES.get(kwargs.get('dataset'))
        if classes is not None and classes != data.num_classes:
            raise UserError(f'nni:{name} with --stem {kwargs["dataset"]} has {classes} classes, the data {data.num_classes}: '
                            f'use --stem {next((s for s, n in NDS_CLASSES.items() if n == data.num_classes), "cifar")} '
                            'or data with as many classes')
    try:
        space = getattr(hub, class_name)(**kwargs)
    except (TypeError, ValueError, AssertionError) as error:
        raise UserError(f'nni:{name}: {error} (constructor arguments {kwargs})') from None
    if name == 'nasbench201':
        from .nb201_arch import sample_to_arch

        _attach(space, 'describe', sample_to_arch)
    return space
