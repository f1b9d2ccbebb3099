"""Algorithms that draw whole paths themselves with their own seeded generators, as NNI's
``sampling.py``: RSPS and ENAS (with its REINFORCE :mod:`.controller`) over :mod:`.path`."""

# NNI 3.0 has an import cycle: importing nni.nas.oneshot.pytorch.strategy before nni.nas.strategy
# leaves nni.nas.strategy.DARTS (and the others) as ImportFailedStrategy. Import the public module
# first, whichever of our strategy modules is loaded first.
import nni.nas.strategy  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
