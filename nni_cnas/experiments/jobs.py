"""Several searches at once (``--jobs N``) and a protocol split over machines (``--shard I/N``).

With ``jobs > 1`` each search runs in a process of its own (``spawn``: a fresh interpreter, so torch
starts with the environment set here), with its share of this machine's cores as torch threads
(:func:`nni_cnas.threads.default_threads`), or, when there are CUDA GPUs, its own GPU
(``CUDA_VISIBLE_DEVICES``, round robin). Each search writes its lines to ``search.log`` in its run
folder; this process prints one line per search started and finished, and is the only writer of
a protocol's results file. Several such processes (a cluster array job, an nnictl experiment) may
share one results file: appends are locked (:func:`nni_cnas.files.append_json_line`), and
``--shard I/N`` gives process I every N-th search.

SIGTERM (with workers, Ctrl+C too) stops the running searches with a checkpoint and starts no other
(:mod:`nni_cnas.run.stop`); the workers get it passed on, and stop too when this process dies.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import SearchInterrupted, UserError

_logger = logging.getLogger(__name__)

__all__ = ['Shard', 'parse_shard', 'run_searches']


class Shard:
    """Process ``index`` (1-based) of ``count``: every ``count``-th item, starting at ``index``."""

    def __init__(self, index: int = 1, count: int = 1):
        self.index, self.count = index, count

    def take(self, items: Sequence) -> List:
        return [item for position, item in enumerate(items) if position % self.count == self.index - 1]

    def __str__(self) -> str:
        return f'{self.index}/{self.count}'


def parse_shard(text: Optional[str]) -> Shard:
    if not text:
        return Shard()
    index, sep, count = text.partition('/')
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise UserError(f'--shard takes I/N (this process is shard I of N), such as 2/4; not {text!r}') from None
    if not sep or not 1 <= index <= count:
        raise UserError(f'--shard {text}: I/N needs 1 <= I <= N')
    return Shard(index, count)


def check_jobs(jobs: int) -> int:
    if jobs < 1:
        raise UserError(f'--jobs must be 1 or more, not {jobs}')
    return jobs


#: One search: (what to call it in progress lines, the resolved SearchConfig).
Task = Tuple[str, Any]


def run_searches(tasks: Sequence[Task], jobs: int, on_result: Callable[[Task, Dict[str, Any]], None],
                 stop_at: Optional[float] = None) -> None:
    """Run ``tasks`` (``search_or_resume`` each: finished ones are read, interrupted ones resumed),
    ``jobs`` at a time; ``on_result`` gets each result in this process, as it arrives. With
    ``stop_at`` (a ``time.time()`` value) the searches running then stop with a checkpoint, none
    starts after it, and :class:`~nni_cnas.errors.SearchInterrupted` says how many are left: the
    same call again continues them (a protocol advanced in runs of a fixed length)."""
    import signal
    from pathlib import Path

    from ..run.search import finished_before, search_or_resume
    from ..run.stop import stop_on_signals, stop_requested

    check_jobs(jobs)
    pending = [task for task in tasks if not finished_before(Path(task[1].out))]
    left = []
    if jobs == 1 or len(pending) <= 1:
        with stop_on_signals([signal.SIGTERM]):  # Ctrl+C: SearchCheckpoint's graceful stop, or KeyboardInterrupt
            for task in tasks:
                try:
                    on_result(task, _search_until(task[0], task[1], stop_at))
                except SearchInterrupted:
                    left.append(task[0])
        _report_left(left)
        return
    for task in tasks:
        if task not in pending:  # read here: no process to start for a finished search
            on_result(task, search_or_resume(task[1], task[0]))
    tasks = pending
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context('spawn')
    slots, pids = context.Queue(), context.Queue()
    for slot in range(jobs):
        slots.put(slot)
    workers: List[int] = []

    def pass_on() -> None:  # in the signal handler: the workers stop as this process does
        while True:
            try:
                workers.append(pids.get_nowait())
            except queue.Empty:
                break
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    with stop_on_signals([signal.SIGTERM, signal.SIGINT], pass_on), \
            concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker,
                                                   initargs=(slots, pids, os.getpid(), jobs, _gpu_count())) as pool:
        futures = {}
        for task in tasks:
            futures[pool.submit(_search_in_worker, task[0], task[1], stop_at)] = task
            _logger.info('%s: queued (%s/search.log)', task[0], task[1].out)
        try:
            for future in concurrent.futures.as_completed(futures):
                task = futures[future]
                if stop_requested():
                    pass_on()  # to workers whose pid came after the signal
                try:
                    result = future.result()
                except SearchInterrupted:
                    left.append(task[0])
                    continue
                on_result(task, result)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    _report_left(left)


def _search_until(prefix: str, config, stop_at: Optional[float]) -> Dict[str, Any]:
    """One search that stops at ``stop_at`` or when a stop is requested; one that would start
    after either does not start."""
    from ..run.search import search_or_resume
    from ..run.stop import stop_requested

    if stop_at is not None and time.time() >= stop_at:
        raise SearchInterrupted(f'{prefix}: not started, the time limit had passed')
    if stop_requested():
        raise SearchInterrupted(f'{prefix}: not started, a stop was asked for')
    return search_or_resume(config, prefix, stop_at=stop_at)


def _report_left(left: Sequence[str]) -> None:
    from ..run.stop import stop_requested

    if left:
        why = 'at a signal' if stop_requested() else 'at the time limit'
        raise SearchInterrupted(f'{len(left)} search(es) stopped {why} with a checkpoint, or not started '
                                f'({", ".join(sorted(left))}); run the same command again to continue')


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001  (no usable CUDA: run on the CPU)
        return 0


def _start_worker(slots, pids, runner: int, jobs: int, gpus: int) -> None:
    """Before torch is imported in the worker: its GPU, or its share of the cores; its stop
    requests come from the runner (its pid goes there for that)."""
    from ..run.stop import watch_in_worker
    from ..threads import default_threads

    watch_in_worker(runner)
    pids.put(os.getpid())
    try:
        slot = slots.get(timeout=60)
    except queue.Empty:
        slot = os.getpid()

    if gpus:
        os.environ['CUDA_VISIBLE_DEVICES'] = str(slot % gpus)
    os.environ.setdefault('OMP_NUM_THREADS', str(default_threads(jobs)))


def _search_in_worker(prefix: str, config, stop_at: Optional[float] = None) -> Dict[str, Any]:
    import dataclasses
    from pathlib import Path

    from ..logs import to_file
    from ..quiet import quiet_libraries
    from ..run.stop import searching_in_worker

    quiet_libraries()
    if config.threads is None:
        config = dataclasses.replace(config, threads=int(os.environ['OMP_NUM_THREADS']))
    folder = Path(config.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / 'search.log').open('a', encoding='utf-8').close()
    except OSError as error:
        raise UserError(f'cannot write the run folder {folder}: {error.strerror}') from None
    with to_file(folder / 'search.log'), searching_in_worker():
        return _search_until(prefix, config, stop_at)
