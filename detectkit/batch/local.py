"""The local engine: a process pool on this machine (the default engine).

Each worker process (started with ``spawn``, so no torch state is forked) loads the model
once and runs whole shards. The driver keeps at most ``2 * workers`` shards in flight and
writes each finished shard file as it arrives, so its memory does not grow with the job.
A worker that dies (killed, out of memory, a crash in native code) breaks the pool: the
driver starts a new pool and resubmits the unfinished shards, up to ``retries`` times per
shard; a shard that still cannot finish is reported as lost (the job then exits with a
failure and a rerun resumes it). Nothing waits forever on a dead process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from detectkit.batch._job import Shard, ShardResult
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
    """Run ``shards`` on a pool of ``workers`` processes; returns the shards lost, with the reason.

    ``on_result`` is called in the driver, in completion order, with each finished shard.
    ``stall_timeout``: seconds without any finished shard before the job fails with a
    :class:`~detectkit.errors.DetectkitError` (None: no limit).
    """
    ctx = multiprocessing.get_context("spawn")
    todo = list(shards)
    todo.reverse()  # pop() from the end takes shards in order
    attempts: dict[int, int] = {}
    lost: list[tuple[Shard, str]] = []
    while todo:
        size = min(workers, len(todo))  # no idle workers loading a model for nothing
        # pin workers to their own cores only when there are several (a lone worker pinned to
        # core 0 ran 13 % slower here than one the OS may move: docs/scale-out.md)
        pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx, initializer=_init, initargs=(dict(spec), size > 1))
        in_flight: dict[Future[ShardResult], Shard] = {}
        died: list[Shard] = []
        broken = False
        try:
            while (todo or in_flight) and not broken:
                while todo and len(in_flight) < 2 * workers:
                    shard = todo.pop()
                    in_flight[pool.submit(_run, shard)] = shard
                done, _ = wait(in_flight, timeout=stall_timeout, return_when=FIRST_COMPLETED)
                if not done:
                    raise DetectkitError(
                        f"no shard finished in {stall_timeout:.0f} s (workers stuck?); rerun the same command to resume"
                    )
                for fut in done:
                    shard = in_flight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        died.append(shard)
                        continue
                    on_result(result)
            if broken:
                # Every shard still in flight died with the pool: retry it (or give up on it).
                for shard in [*died, *in_flight.values()]:
                    attempts[shard.index] = attempts.get(shard.index, 0) + 1
                    if attempts[shard.index] > retries:
                        lost.append((shard, f"a worker process died {attempts[shard.index]} times while running it"))
                    else:
                        todo.append(shard)
                todo.sort(key=lambda s: s.index, reverse=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return sorted(lost, key=lambda item: item[0].index)
