"""Progress bars with an ETA for the long phases outside Lightning's own bar (the uncertainty pass,
ranking cells, ENAS' controller, retraining, sweeps and the quality protocol), on stderr. Off
when stderr is not a terminal (logs, CI, nnictl trials) and with ``--no-progress-bar``."""

from __future__ import annotations

import sys
from typing import Iterable, Optional, TypeVar

__all__ = ['progress', 'bars_enabled', 'Countdown']

Item = TypeVar('Item')


def bars_enabled(setting: Optional[bool]) -> bool:
    """``setting``, or (None) whether stderr is a terminal."""
    return sys.stderr.isatty() if setting is None else bool(setting)


def progress(items: Iterable[Item], setting: Optional[bool], description: str, total: Optional[int] = None,
             unit: str = 'it') -> Iterable[Item]:
    """``items``, counted by a tqdm bar (elapsed, rate, ETA) when bars are enabled."""
    if not bars_enabled(setting):
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, total=total, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True)


class Countdown:
    """Progress of a series of long searches (a sweep, a quality protocol) as text for each run's
    line, ``[3/12, 2 done in 14.0 min, about 56 min left]``: it works in logs as on a terminal, and
    leaves the searches' own lines alone. Skipped runs count as done but not in the time; with
    ``jobs`` searches at once, the time left is divided among them."""

    def __init__(self, total: int, jobs: int = 1):
        import time

        self.total, self.done, self.timed, self.seconds, self.jobs = total, 0, 0, 0.0, max(1, jobs)
        self._clock = time.monotonic
        self._started: Optional[float] = None

    def start(self) -> None:
        self._started = self._clock()

    def finish(self, timed: bool = True, seconds: Optional[float] = None) -> None:
        """One more run done; ``seconds`` its own time when another process ran it."""
        self.done += 1
        if timed and (seconds is not None or self._started is not None):
            self.timed += 1
            self.seconds += seconds if seconds is not None else self._clock() - self._started
        self._started = None

    def prefix(self, done: bool = False) -> str:
        """The next run's position, or with ``done`` the last finished one's."""
        text = f'[{self.done if done else self.done + 1}/{self.total}'
        if self.timed:
            left = self.seconds / self.timed * (self.total - self.done) / self.jobs
            text += f', {self.timed} searched in {self.seconds / 60:.1f} min, about {left / 60:.0f} min left'
        return text + ']'
