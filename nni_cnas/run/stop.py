"""A stop asked for by a signal while several searches run (a protocol, a sweep; ``--jobs`` or not).

Lightning stops a fit gracefully on SIGTERM, but only the fit that is running: a runner of many
searches would start the next one, and its worker processes would run on, orphaned, when the runner
is killed. So while searches run, SIGTERM (and, in a runner with workers, Ctrl+C) only *requests* a
stop, process-wide: the search running stops at its next batch end with a checkpoint
(:class:`~nni_cnas.run.checkpoint.StopAt` reads the request; Lightning's own handler, which calls
the one installed here, does too), and none starts after it. A runner passes the signal on to its
workers as SIGTERM; a worker also gets SIGTERM when its runner dies, however it dies (Linux).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator, Optional, Sequence

__all__ = ['stop_requested', 'request_stop', 'watching', 'stop_on_signals', 'watch_in_worker', 'searching_in_worker']

_state = {'requested': False, 'watching': False}


def stop_requested() -> bool:
    return _state['requested']


def request_stop(signum=None, frame=None) -> None:
    _state['requested'] = True


def watching() -> bool:
    """Whether this process runs searches for a runner that watches for stop requests."""
    return _state['watching']


@contextlib.contextmanager
def stop_on_signals(signals: Sequence[int], forward: Optional[Callable[[], None]] = None) -> Iterator[None]:
    """While the block runs, each of ``signals`` requests a stop (then calls ``forward``); a second
    SIGINT raises KeyboardInterrupt as usual (Ctrl+C again stops now)."""
    if threading.current_thread() is not threading.main_thread() or sys.platform == 'win32':
        yield
        return

    def handler(signum, frame):
        if not stop_requested():  # a plain write: logging takes locks a signal handler must not wait on
            print('stopping: the running searches save a checkpoint at the end of their batch and no other '
                  'starts; the same command continues them', file=sys.stderr, flush=True)
        request_stop()
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if forward is not None:
            forward()

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    _state.update(requested=False, watching=True)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _state['watching'] = False


def watch_in_worker(runner_pid: int) -> None:
    """In a worker process of a runner: SIGTERM requests a stop (Lightning's handler, during a fit,
    also stops the fit); SIGINT is the runner's to handle; SIGTERM comes when the runner dies."""
    _state.update(requested=False, watching=True, runner=runner_pid, busy=False)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith('linux'):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no prctl: a killed runner leaves its workers to finish
            pass
    if _orphaned():  # the runner died before prctl took effect
        request_stop()


@contextlib.contextmanager
def searching_in_worker() -> Iterator[None]:
    """Around a worker's search. An orphaned worker leaves after it: no one sends it more work or
    reads its result (the search's folder has it), and its pool's queues would hold it forever."""
    _state['busy'] = True
    try:
        yield
    finally:
        _state['busy'] = False
        if _orphaned():
            os._exit(128 + signal.SIGTERM)


def _orphaned() -> bool:
    return os.getppid() != _state.get('runner', os.getppid())


def _worker_sigterm(signum, frame) -> None:
    request_stop()
    if not _state['busy'] and _orphaned():
        os._exit(128 + signal.SIGTERM)
