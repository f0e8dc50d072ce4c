"""The Ray engine: the same shards, run by a Ray Data actor pool (``pip install 'detectkit[ray]'``).

The job's pending shards become a Ray dataset (``ray.data.from_items``, one row per shard:
its index, first item and sources); ``map_batches`` runs them on a pool of actors
(``ActorPoolStrategy``), each loading the model once (:class:`~detectkit.batch._worker.ShardRunner`)
and returning the shard file's text. The driver streams the finished rows
(``iter_rows``: Ray Data's streaming executor bounds what is in flight) and writes each
shard file itself, so workers need no access to the output folder: on a cluster only the
inputs must be readable by the workers (a shared file system or URIs).

A dead actor is restarted and its shard retried (``max_restarts``/``max_task_retries``);
when retries run out Ray raises, and the driver reports the unfinished shards (a rerun
resumes them). A watchdog turns "no shard finished for ``stall_timeout`` seconds" into an
error, so a wedged cluster never means a silent hang.

Ray is imported only here, only when this engine runs.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from detectkit.batch._job import Shard, ShardResult
from detectkit.errors import DetectkitError, MissingDependencyError

__all__ = ["import_ray", "run_ray"]


def import_ray() -> Any:
    """``import ray`` (with Ray Data), or a :class:`MissingDependencyError` naming the extra."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError("ray[data]", extra="ray", purpose="the Ray engine (--engine ray)") from None
    return ray


class _RayShardActor:
    """The map_batches callable class: one model per actor, one shard per call."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        from detectkit.batch._worker import ShardRunner

        self.runner = ShardRunner(spec, pin=True)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import json

        import numpy as np

        out: dict[str, list[Any]] = {"shard": [], "text": [], "succeeded": [], "failed": [], "names": []}
        for index, first, sources in zip(batch["shard"], batch["first"], batch["sources"], strict=True):
            shard = Shard(int(index), int(first), tuple(str(sources).split("\n")))
            result = self.runner.run(shard)
            out["shard"].append(result.index)
            out["text"].append(result.text)
            out["succeeded"].append(result.succeeded)
            out["failed"].append(result.failed)
            out["names"].append(json.dumps({str(k): v for k, v in result.names.items()}))
        return {
            "shard": np.asarray(out["shard"], dtype=np.int64),
            "text": np.asarray(out["text"], dtype=object),
            "succeeded": np.asarray(out["succeeded"], dtype=np.int64),
            "failed": np.asarray(out["failed"], dtype=np.int64),
            "names": np.asarray(out["names"], dtype=object),
        }


def _rows_with_watchdog(rows: Iterator[Any], stall_timeout: float | None) -> Iterator[Any]:
    """Yield ``rows`` (consumed in a thread); raise when none arrives for ``stall_timeout`` s."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=4)

    def pump() -> None:
        try:
            for row in rows:
                q.put(("row", row))
            q.put(("end", None))
        except BaseException as exc:  # handed to the driver thread
            q.put(("error", exc))

    threading.Thread(target=pump, name="detectkit-ray-rows", daemon=True).start()
    while True:
        try:
            kind, value = q.get(timeout=stall_timeout)
        except queue.Empty:
            raise DetectkitError(
                f"no shard finished in {stall_timeout:.0f} s: the Ray cluster looks stuck (dead or pending actors); "
                "check `ray status`, then rerun the same command to resume"
            ) from None
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


def run_ray(
    spec: Mapping[str, Any],
    shards: Sequence[Shard],
    *,
    workers: int,
    on_result: Callable[[ShardResult], None],
    retries: int = 2,
    address: str | None = None,
    object_store_bytes: int | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    stall_timeout: float | None = None,
    stats: dict[str, float] | None = None,
) -> list[tuple[Shard, str]]:
    """Run ``shards`` on a Ray Data actor pool of ``workers`` actors; returns the shards lost.

    Args:
        spec: the job's task spec (what :class:`ShardRunner` loads).
        shards: shards to run.
        workers: actors in the pool (``spec["threads"]`` CPUs each).
        on_result: called in the driver with each finished shard, in completion order.
        retries: restarts of a dead actor, and retries of its shard.
        address: ``"auto"``, ``"ray://host:10001"`` or a GCS address to join an existing
            cluster; None starts a local Ray with ``workers * threads`` CPUs (shut down at the end).
        object_store_bytes: object store size of a local Ray (None: Ray's default).
        runtime_env: Ray runtime environment for the job (e.g. ``{"pip": [...]}``).
        stall_timeout: seconds without a finished shard before giving up (None: wait).
        stats: filled with ``startup_seconds`` (Ray start or connect).
    """
    ray = import_ray()
    threads = int(spec.get("threads", 1))
    started = time.perf_counter()
    started_here = False
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if runtime_env:
            init["runtime_env"] = dict(runtime_env)
        if address is None:
            init["num_cpus"] = workers * threads
            if object_store_bytes is not None:
                init["object_store_memory"] = int(object_store_bytes)
        else:
            init["address"] = address
        ray.init(**init)
        started_here = True
    if stats is not None:
        stats["startup_seconds"] = time.perf_counter() - started
    lost: list[tuple[Shard, str]] = []
    done: set[int] = set()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the job's own summary says it all
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.verbose_stats_logs = False
        rows = [{"shard": s.index, "first": s.first, "sources": "\n".join(s.sources)} for s in shards]
        # one block per shard up to a cap (a block is Ray's unit of task and retry)
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 4096)))
        with warnings.catch_warnings():
            # max_restarts/max_task_retries have no named parameter yet (Ray 2.60 deprecates
            # the keyword form without a replacement); they must stay bounded: Ray Data's
            # default restarts a dead actor forever, so a shard that always kills its worker
            # would be a silent hang.
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(
                _RayShardActor,
                fn_constructor_kwargs={"spec": dict(spec)},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=threads,
                max_restarts=retries,
                max_task_retries=retries,
            )
        try:
            for row in _rows_with_watchdog(ds.iter_rows(), stall_timeout):
                names = {int(k): v for k, v in json.loads(row["names"]).items()}
                index, text = int(row["shard"]), str(row["text"])
                result = ShardResult(index, text, int(row["succeeded"]), int(row["failed"]), names)
                on_result(result)
                done.add(result.index)
        except DetectkitError:
            raise
        except Exception as exc:  # Ray gave up (actor died past its retries, ...)
            reason = f"the Ray job failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            lost = [(s, reason) for s in shards if s.index not in done]
    finally:
        if started_here:
            ray.shutdown()
    return lost
