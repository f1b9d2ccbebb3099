"""The configurations of NNI 3.0's hub test (``test/algo/nas/oneshot/test_hub.py``): its 28 space
aliases, its data per space, and its skips, each applied to the nni_cnas strategy whose NNI
counterpart NNI skipped (``NNI_COUNTERPART``)."""

from __future__ import annotations

from typing import Optional, Tuple

import nni.nas.hub.pytorch as hub

#: NNI's list, in its order (nasbench101 is commented out there).
SPACES = (
    'nasbench201', 'mobilenetv3', 'mobilenetv3_small', 'proxylessnas', 'shufflenet', 'autoformer',
    'nasnet', 'enas', 'amoeba', 'pnas', 'darts',
    'darts_smalldepth', 'darts_depth', 'darts_width', 'darts_width_smalldepth', 'darts_width_depth', 'darts_imagenet',
    'darts_width_smalldepth_imagenet',
    'enas_smalldepth', 'enas_depth', 'enas_width', 'enas_width_smalldepth', 'enas_width_depth', 'enas_imagenet',
    'enas_width_smalldepth_imagenet',
    'pnas_width_smalldepth', 'amoeba_width_smalldepth',
)
#: The nni_cnas strategies, and the strategy of NNI's test each one stands in for. ENAS: NNI's
#: ENAS runs on none of these here (it needs tianshou, and breaks on Lightning 2.x batches), so
#: its counterpart's coverage is RandomOneShot's.
NNI_COUNTERPART = {
    'DARTS': 'darts', 'DARTSV2': 'darts', 'AmendedDARTS': 'darts', 'SETN': 'darts', 'GDAS': 'gumbel',
    'Proxyless': 'proxyless', 'RSPS': 'random', 'ENAS': 'random',
}
STRATEGIES = tuple(NNI_COUNTERPART)
CURRICULA = ('none', 'epoch')
_NDS_SPACES = ('amoeba', 'darts', 'pnas', 'enas', 'nasnet')
_IMAGENET_SPACES = ('mobilenetv3', 'mobilenetv3_small', 'proxylessnas', 'shufflenet', 'autoformer')


def build_space(alias: str):
    """The model space of one of NNI's aliases, built as NNI's ``_hub_factory`` builds it."""
    fixed = {'nasbench201': hub.NasBench201, 'mobilenetv3': hub.MobileNetV3Space, 'proxylessnas': hub.ProxylessNAS,
             'shufflenet': hub.ShuffleNetSpace, 'autoformer': hub.AutoformerSpace}
    if alias in fixed:
        return fixed[alias]()
    if alias == 'mobilenetv3_small':
        return hub.MobileNetV3Space(width_multipliers=(0.75, 1, 1.5), expand_ratios=(4, 6))
    num_cells = (4, 8) if '_smalldepth' in alias else (8, 12) if '_depth' in alias else 8
    width = (8, 16) if '_width' in alias else 16
    dataset = 'imagenet' if '_imagenet' in alias else 'cifar'
    family = {'nasnet': hub.NASNet, 'enas': hub.ENAS, 'amoeba': hub.AmoebaNet, 'pnas': hub.PNAS, 'darts': hub.DARTS}
    return family[alias.split('_')[0]](width=width, num_cells=num_cells, dataset=dataset)


def dataset_of(alias: str, strategy: str) -> Tuple[int, int, int]:
    """``(image size, classes, samples per split)`` as NNI's test: CIFAR-10 (32 px) or ImageNet
    (224 px, 1000 classes), 4 samples, 2 for the mixture strategies on the NDS variants."""
    imagenet = 'imagenet' in alias or alias in _IMAGENET_SPACES
    mixture = NNI_COUNTERPART[strategy] in ('darts', 'gumbel')
    samples = 2 if mixture and alias.startswith(_NDS_SPACES) and '_' in alias else 4
    return (224, 1000, samples) if imagenet else (32, 10, samples)


def skip_reason(alias: str, strategy: str) -> Optional[str]:
    """NNI's skip of the counterpart on this configuration, with NNI's reason (Windows skips aside)."""
    counterpart = NNI_COUNTERPART[strategy]
    if counterpart == 'proxyless' and ('width' in alias or 'depth' in alias or alias.startswith(
            _NDS_SPACES + ('proxylessnas', 'mobilenetv3', 'autoformer'))):
        return 'NNI skips Proxyless here: "The space has used unsupported APIs."'
    if counterpart in ('darts', 'gumbel') and alias == 'mobilenetv3':
        return 'NNI skips DARTS and GumbelDARTS here: "Skip as it consumes too much memory."'
    return None
