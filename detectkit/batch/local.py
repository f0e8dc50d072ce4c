"""The local engine: a process pool on this machine (the default engine).

Each worker process (started with ``spawn``, so no torch state is forked) loads the model
once and runs whole shards; the driver chooses which worker runs which shard
(:class:`~detectkit.batch._schedule.ShardQueue`: in a grouped job a worker stays on the shard
groups it has run, e.g. the input shapes its OpenVINO models are compiled for). The driver
hands a worker its next shard when it finishes one and writes each finished shard file as it
arrives, so its memory does not grow with the job. A worker that dies (killed, out of memory,
a crash in native code) is replaced by a new process and its unfinished shards are run
again, up to ``retries`` times per shard; a shard that still cannot finish is reported as
lost (the job then exits with a failure and a rerun resumes it). Nothing waits forever on a
dead process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from detectkit.batch._job import Shard, ShardResult
from detectkit.batch._schedule import ShardQueue
from detectkit.batch._worker import ShardRunner
from detectkit.errors import DetectkitError

__all__ = ["run_local"]

_RUNNER: ShardRunner | None = None
_INIT_ERROR: BaseException | None = None


def _init(spec: Mapping[str, Any], pin: bool) -> None:
    global _RUNNER, _INIT_ERROR
    try:
        _RUNNER = ShardRunner(spec, pin=pin)
    except Exception as exc:  # re-raised by _run, so the driver sees the real error
        _INIT_ERROR = exc


def _run(shard: Shard) -> ShardResult:
    if _INIT_ERROR is not None:
        raise _INIT_ERROR
    if _RUNNER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return _RUNNER.run(shard)


def run_local(
    spec: Mapping[str, Any],
    shards: Sequence[Shard],
    *,
    workers: int,
    on_result: Callable[[ShardResult], None],
    retries: int = 2,
    stall_timeout: float | None = None,
) -> list[tuple[Shard, str]]:
    """Run ``shards`` on ``workers`` processes; returns the shards lost, with the reason.

    Each worker is a pool of one process, so the driver decides which worker runs which shard
    (:class:`~detectkit.batch._schedule.ShardQueue`: a worker stays on the shard groups it has
    run) and a dead process costs only its own shards, which go back to the queue.
    ``on_result`` is called in the driver, in completion order, with each finished shard.
    ``stall_timeout``: seconds without any finished shard before the job fails with a
    :class:`~detectkit.errors.DetectkitError` (None: no limit).
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ShardQueue(shards)
    size = min(workers, len(shards))  # no idle workers loading a model for nothing
    # pin workers to their own cores only when there are several (a lone worker pinned to
    # core 0 ran 13 % slower here than one the OS may move: docs/scale-out.md)
    pin = size > 1
    attempts: dict[int, int] = {}
    lost: list[tuple[Shard, str]] = []
    pools: dict[int, ProcessPoolExecutor] = {}
    generation = [0] * size  # a restarted worker is a new worker to the queue
    # One shard per worker at a time, handed out when it finishes one. With a second one queued
    # per worker, the last shards waited behind a busy worker while the other idled: a torch job
    # with 2 workers ran 16.6 s against 15.3 s (500 images, shards of 25). The round trip is ms.
    running: dict[int, tuple[Future[ShardResult], Shard]] = {}  # worker slot -> its shard

    def start(slot: int) -> None:
        pools[slot] = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init, initargs=(dict(spec), pin))

    def replace(slot: int, shard: Shard) -> None:
        """The worker in ``slot`` died with ``shard``: retry the shard (or give up on it), new worker."""
        attempts[shard.index] = attempts.get(shard.index, 0) + 1
        if attempts[shard.index] > retries:
            lost.append((shard, f"a worker process died {attempts[shard.index]} times while running it"))
        else:
            queue.put_back(shard)
        pools.pop(slot).shutdown(wait=True, cancel_futures=True)
        queue.forget((slot, generation[slot]))
        generation[slot] += 1
        if len(queue):  # no new worker loading a model for nothing
            start(slot)

    def fill() -> None:
        for slot, pool in pools.items():
            if slot not in running and (shard := queue.take((slot, generation[slot]))) is not None:
                running[slot] = (pool.submit(_run, shard), shard)

    try:
        for slot in range(size):
            start(slot)
        fill()
        while running:
            done, _ = wait([fut for fut, _ in running.values()], timeout=stall_timeout, return_when=FIRST_COMPLETED)
            if not done:
                raise DetectkitError(
                    f"no shard finished in {stall_timeout:.0f} s (workers stuck?); rerun the same command to resume"
                )
            finished: list[ShardResult] = []
            for slot, (fut, shard) in list(running.items()):
                if fut not in done:
                    continue
                del running[slot]
                try:
                    finished.append(fut.result())
                except BrokenProcessPool:
                    replace(slot, shard)
            fill()  # the idle workers' next shards first, then the writing
            for result in finished:
                on_result(result)
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
    return sorted(lost, key=lambda item: item[0].index)
