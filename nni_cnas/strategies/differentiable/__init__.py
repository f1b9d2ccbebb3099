"""Algorithms whose policy is a set of architecture parameters (alphas) trained by Adam, as NNI's
``differentiable.py``: DARTS-V1, DARTS-V2, Amended-DARTS (with :mod:`.hypergradient`), GDAS, SETN."""

# NNI 3.0 has an import cycle: importing nni.nas.oneshot.pytorch.strategy before nni.nas.strategy
# leaves nni.nas.strategy.DARTS (and the others) as ImportFailedStrategy. Import the public module
# first, whichever of our strategy modules is loaded first.
import nni.nas.strategy  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
