"""What the libraries print: Lightning and NNI announce devices, tips and deprecations on every run,
and a few lines a search raises itself would read as trouble in a run that went well."""

from __future__ import annotations

import logging
import warnings

__all__ = ['quiet_libraries', 'silence_known_noise', 'NO_VALIDATION_LOADER']

#: The class name of the empty validation loader a one-shot module gives Lightning
#: (:class:`nni_cnas.strategies.loaders.NoValidationBatches`); Lightning's warning of an empty loader
#: names it, so the filter below hides that warning for our loader and for no user's.
NO_VALIDATION_LOADER = 'NoValidationBatches'


class _ShownAtMost(logging.Filter):
    """Lets a message through at most ``times`` times in a process (0: never); other messages pass."""

    def __init__(self, message: str, times: int):
        super().__init__()
        self.message, self.left = message, times

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != self.message:
            return True
        self.left -= 1
        return self.left >= 0


def silence_known_noise() -> None:
    """For the command line and the drop-in strategies alike (idempotent; again inside a caller's
    ``warnings.catch_warnings``, it installs its filter there too):

    - Lightning's "Total length of `NoValidationBatches` across ranks is zero": our own empty
      validation loader, given so that Lightning runs no validation loop (a user's empty loader still warns);
    - tensorboardX's "NaN or Inf found in input tensor.", logged for each non-finite scalar before the
      search stops on a non-finite loss with its own one-line error;
    - NNI's "`training_service` will be ignored for sequential execution engine.", which NNI logs each
      time it re-reads a one-shot experiment's config: shown once.
    """
    empty_loader = rf'Total length of `{NO_VALIDATION_LOADER}` across ranks is zero'
    if not any(f[0] == 'ignore' and f[1] is not None and f[1].pattern == empty_loader for f in warnings.filters):
        warnings.filterwarnings('ignore', message=empty_loader)
    for name, message, times in (('tensorboardX.x2num', 'NaN or Inf found in input tensor.', 0),
                                 ('nni.nas.experiment.config.experiment',
                                  '`training_service` will be ignored for sequential execution engine.', 1)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ShownAtMost) and f.message == message for f in logger.filters):
            logger.addFilter(_ShownAtMost(message, times))


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
    silence_known_noise()
