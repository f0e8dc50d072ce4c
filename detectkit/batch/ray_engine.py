"""The Ray engine: the same shards, run by a pool of Ray actors (``pip install 'detectkit[ray]'``).

``workers`` Ray actors (:class:`ShardActor`, ``spec["threads"]`` CPUs each) each load the model
once (:class:`~detectkit.batch._worker.ShardRunner`) and run one shard per call, returning the
shard file's text. The driver keeps at most two shards in flight per actor (back-pressure: the
object store and the driver hold only those), hands the next pending shard to whichever actor
has room (:class:`~detectkit.batch._schedule.ShardQueue`: in a grouped job, one of the groups
the actor has run), and writes each finished shard file itself, so workers need no access to the output
folder: on a cluster only the inputs must be readable by the workers (a shared file system or URIs).

Why Ray core actors and not Ray Data's ``map_batches`` with an ``ActorPoolStrategy`` (which
earlier versions used): the shards are already the unit of work, retry and output, so Ray Data's
blocks, planning and streaming executor added nothing but start-up: its actors import Ray Data
(pandas, pyarrow) before loading the model, and the first shard came 1.5-2 s later than with
these actors on a running 2-CPU cluster (``benchmarks/bench_scale.py``, docs/scale-out.md).

A dead actor is restarted by Ray and its shard retried (``max_restarts`` / ``max_task_retries``
= ``retries``); when retries run out its shards are reported as lost (a rerun resumes them) and
the other actors carry on. No shard finishing for ``stall_timeout`` seconds (e.g. actors that
cannot be scheduled) is an error, so a wedged cluster never means a silent hang.

Ray is imported only here, only when this engine runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detectkit.batch._job import Shard, ShardResult
from detectkit.batch._schedule import ShardQueue
from detectkit.errors import DetectkitError, MissingDependencyError

__all__ = ["ShardActor", "import_ray", "run_ray"]


def import_ray() -> Any:
    """``import ray``, or a :class:`MissingDependencyError` naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", extra="ray", purpose="the Ray engine (--engine ray)") from None
    return ray


class ShardActor:
    """The Ray actor class (made remote in :func:`run_ray`): one model per actor, one shard per call."""

    def __init__(self, spec: Mapping[str, Any], pin: bool = True) -> None:
        from detectkit.batch._worker import ShardRunner

        self.runner = ShardRunner(spec, pin=pin)

    def run(self, shard: Shard) -> ShardResult:
        """The shard's result (bad items are failure lines, never exceptions)."""
        return self.runner.run(shard)


def _init_ray(
    ray: Any,
    *,
    cpus: int,
    address: str | None,
    object_store_bytes: int | None,
    runtime_env: Mapping[str, Any] | None,
) -> bool:
    """Join ``address`` or start a local Ray with ``cpus`` CPUs; False when Ray was already up."""
    if ray.is_initialized():
        return False
    init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if runtime_env:
        init["runtime_env"] = dict(runtime_env)
    if address is None:
        init["num_cpus"] = cpus
        if object_store_bytes is not None:
            init["object_store_memory"] = int(object_store_bytes)
    else:
        init["address"] = address
    ray.init(**init)
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


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
    """Run ``shards`` on ``workers`` Ray actors; returns the shards lost, with the reason.

    Args:
        spec: the job's task spec (what :class:`ShardRunner` loads).
        shards: shards to run (handed out in this order).
        workers: actors (``spec["threads"]`` CPUs each).
        on_result: called in the driver with each finished shard, in completion order.
        retries: restarts of a dead actor, and retries of the shards it was running.
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
    started_here = _init_ray(
        ray, cpus=workers * threads, address=address, object_store_bytes=object_store_bytes, runtime_env=runtime_env
    )
    if stats is not None:
        stats["startup_seconds"] = time.perf_counter() - started
    lost: list[tuple[Shard, str]] = []
    try:
        remote = ray.remote(ShardActor).options(num_cpus=threads, max_restarts=retries, max_task_retries=retries)
        size = min(workers, len(shards))
        actors = [remote.remote(dict(spec), size > 1) for _ in range(size)]  # pinned when several
        queue = ShardQueue(shards)  # an actor stays on the shard groups it has run
        load = [0] * len(actors)
        alive = [True] * len(actors)
        in_flight: dict[Any, tuple[Shard, int]] = {}
        dead_reason = ""
        while len(queue) or in_flight:
            for a, actor in enumerate(actors):  # at most two shards queued per actor
                while alive[a] and load[a] < 2:
                    shard = queue.take(a)
                    if shard is None:
                        break
                    in_flight[actor.run.remote(shard)] = (shard, a)
                    load[a] += 1
            if not in_flight:  # every actor is dead
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=stall_timeout)
            if not ready:
                raise DetectkitError(
                    f"no shard finished in {stall_timeout:.0f} s: the Ray cluster looks stuck (dead or pending "
                    "actors); check `ray status`, then rerun the same command to resume"
                )
            for ref in ready:
                shard, a = in_flight.pop(ref)
                load[a] -= 1
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # died past its restarts: its shards are lost
                    alive[a] = False
                    dead_reason = f"a Ray actor died past its {retries} restart(s): {_first_line(exc)}"
                    lost.append((shard, dead_reason))
                    continue
                except Exception as exc:  # an error in the shard itself (the actor lives on)
                    lost.append((shard, f"the shard failed on Ray: {_first_line(exc)}"))
                    continue
                on_result(result)
        lost.extend((shard, dead_reason or "no Ray actor left") for shard in queue.drain())
    finally:
        if started_here:
            ray.shutdown()
    return sorted(lost, key=lambda item: item[0].index)
