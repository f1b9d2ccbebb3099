"""What the libraries print: Lightning and NNI announce devices, tips and deprecations on every run."""

from __future__ import annotations

import logging
import warnings

__all__ = ['quiet_libraries']


def quiet_libraries() -> None:
    """Lightning and NNI announce devices, tips and deprecations on every run; keep warnings only."""
    # Importing them sets their loggers' levels; ours are set after.
    import nni.nas.evaluator.pytorch  # noqa: F401  pylint: disable=unused-import
    import pytorch_lightning  # noqa: F401  pylint: disable=unused-import

    for name in ('pytorch_lightning', 'lightning_fabric', 'nni'):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "Validation dataloaders are missing": expected, one-shot strategies run no validation loop.
    logging.getLogger('nni.nas.evaluator.pytorch.lightning').setLevel(logging.ERROR)
    warnings.filterwarnings('ignore', message=r'.*LeafSpec.*')
    warnings.filterwarnings('ignore', message=r'.*does not have many workers.*')
