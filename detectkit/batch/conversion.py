"""``convert`` on an engine: the per-file parse of a many-file dataset spread over workers.

For the formats of one file per image (YOLO label folders, VOC XML, LabelMe JSON) the reader
lists its files on the driver (sorted), cuts the list into shards of ``shard_size`` files, and
a :class:`FileMapper` runs the format's per-file parser over the shards: a process pool
(``engine="local"``) or Ray tasks (``engine="ray"``). The driver takes the results back in
shard order and assembles them with the same code as the plain read
(``detectkit.formats._per_file``), then writes with the normal writer: the output is
byte-identical to the in-process conversion whatever the worker count, bad files are reported
the same way (counted and named; ``strict`` stops at the first, in file order).

Sharding is used only where it can pay: it costs about 1.5 s (a local pool) to 8 s (a local
Ray) on top of the parse, and the driver still lists the files, assembles and writes. Unless
``min_files`` says otherwise, a read is sharded when the time two or more workers could save
(from the measured in-process rate of the format, ``_RATES``) exceeds the engine's start-up
(``_STARTUP``); otherwise the files are parsed in this process and the summary says so. COCO
and CVAT sources are one file: always read here.

>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> summary = convert("datasets/shapes/annotations/instances_val.json", tmp / "yolo", to="yolo", engine="local")
>>> (tmp / "yolo" / "data.yaml").exists()
True
>>> summary.notes[-1]
'read in this process: coco is a single file'
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from detectkit._checks import check_choice
from detectkit.errors import DetectkitError, InvalidInputError
from detectkit.formats import ConvertSummary

__all__ = ["ShardMapper", "convert", "run_convert_args"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: Formats whose reader takes ``map_shards`` (one annotation file per image).
SHARDED_FORMATS = ("yolo", "voc", "labelme")

#: In-process read rate, files per second, of 20,000 per-image files on this 2-core machine,
#: idle (``benchmarks/bench_convert_sharded.py --files 20000``, image files absent).
_RATES = {"yolo": 19_700.0, "voc": 5_300.0, "labelme": 7_800.0}
#: What sharding costs on top of the parse, seconds, from the same run: the measured sharded
#: read minus half the in-process read, with 2 workers (spawning and importing in the workers,
#: pickling shards, assembling on the driver): 0.9-1.7 s for a local pool, about 8 s for a
#: local Ray (``ray.init``, worker processes); joining a running cluster is not measured.
_STARTUP = {"local": 1.5, "ray": 8.0, "ray-address": 3.0}


def _pool_worker_init() -> None:
    """Workers ignore Ctrl-C (the driver handles it and shuts the pool down)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ShardMapper:
    """A :class:`~detectkit.formats._per_file.FileMapper` on a process pool or Ray.

    Args:
        engine: ``"local"`` (a process pool, ``spawn``) or ``"ray"`` (Ray tasks).
        fmt: the source format (picks the measured in-process rate for the auto rule).
        workers: processes / concurrent Ray tasks (default: CPU count).
        shard_size: files per shard (the last one may be smaller).
        min_files: shard reads of at least this many files; None: when the measured saving
            exceeds the engine's start-up (see the module docs); 0: always.
        address: Ray cluster to join (None: a local Ray, started and shut down here).
        runtime_env: Ray runtime environment.
        retries: Ray retries of a shard whose worker died.
        stall_timeout: fail when a shard takes longer than this many seconds.
    """

    def __init__(
        self,
        engine: str,
        fmt: str,
        *,
        workers: int | None = None,
        shard_size: int = 2000,
        min_files: int | None = None,
        address: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        retries: int = 2,
        stall_timeout: float | None = None,
    ) -> None:
        check_choice(engine, "engine", ("local", "ray"))
        for name, value in (("workers", workers), ("shard_size", shard_size), ("min_files", min_files)):
            if value is not None and value < (0 if name == "min_files" else 1):
                raise InvalidInputError(f"{name} must be >= {0 if name == 'min_files' else 1}, got {value}")
        self.engine = engine
        self.fmt = fmt
        self.workers = workers or os.cpu_count() or 1
        self.size = shard_size
        self.min_files = min_files
        self.address = address
        self.runtime_env = runtime_env
        self.retries = retries
        self.stall_timeout = stall_timeout
        self.files = 0
        self.shards = 0
        self.seconds = 0.0
        self.declined: str | None = None

    def _worth_it(self, files: int) -> tuple[bool, str]:
        if self.min_files is not None:
            return files >= self.min_files, f"min_files={self.min_files}"
        rate = _RATES.get(self.fmt)
        startup = _STARTUP["ray-address" if self.engine == "ray" and self.address else self.engine]
        if rate is None or self.workers < 2:
            return False, "one worker cannot beat this process"
        saving = files / rate * (1 - 1 / self.workers)
        return saving > startup, (
            f"{self.workers} workers could save {saving:.1f} s against {startup:.1f} s to start them; "
            f"min_files=0 forces sharding"
        )

    def shard_size(self, files: int) -> int | None:
        """Files per shard for a read of ``files`` files, or None to parse them in this process."""
        self.files = files
        take, why = self._worth_it(files)
        if not take:
            self.declined = f"read {files} {self.fmt} files in this process ({why})"
            return None
        self.declined = None
        self.shards = -(-files // self.size)
        return self.size

    def map(self, func: Callable[[_T], _R], tasks: Sequence[_T]) -> Iterator[_R]:
        """``func(task)`` of every task on the engine, yielded in task order."""
        started = time.perf_counter()
        try:
            if self.engine == "local":
                yield from self._map_pool(func, tasks)
            else:
                yield from self._map_ray(func, tasks)
        finally:
            self.seconds = time.perf_counter() - started

    def _map_pool(self, func: Callable[[_T], _R], tasks: Sequence[_T]) -> Iterator[_R]:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(tasks))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_worker_init)
        try:
            # at most 2 x workers shards in flight: the driver never holds more parsed shards
            pending = {i: pool.submit(func, t) for i, t in enumerate(tasks[: 2 * workers])}
            next_task = len(pending)
            for i in range(len(tasks)):
                try:
                    result = pending.pop(i).result(timeout=self.stall_timeout)
                except FutureTimeout:
                    raise DetectkitError(
                        f"shard {i} of the conversion did not finish in {self.stall_timeout:.0f} s (--stall-timeout)"
                    ) from None
                except BrokenProcessPool:
                    raise DetectkitError(
                        f"a conversion worker process died while parsing shard {i} (files {i * self.size}..); "
                        "rerun, or run without --engine"
                    ) from None
                if next_task < len(tasks):
                    pending[next_task] = pool.submit(func, tasks[next_task])
                    next_task += 1
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _map_ray(self, func: Callable[[_T], _R], tasks: Sequence[_T]) -> Iterator[_R]:
        with _RaySession(self.address, self.runtime_env, self.workers) as ray:
            remote = ray.remote(num_cpus=1, max_retries=self.retries)(func)
            refs = [remote.remote(t) for t in tasks]
            try:
                for i, ref in enumerate(refs):
                    try:
                        result = ray.get(ref, timeout=self.stall_timeout)
                    except ray.exceptions.GetTimeoutError:
                        raise DetectkitError(
                            f"shard {i} of the conversion did not finish in {self.stall_timeout:.0f} s on the Ray "
                            "cluster (--stall-timeout)"
                        ) from None
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.as_instanceof_cause()
                        if isinstance(cause, DetectkitError):
                            raise cause from None
                        raise DetectkitError(f"parsing shard {i} failed on the Ray cluster: {exc}") from None
                    except ray.exceptions.RayError as exc:  # a worker died past its retries, ...
                        raise DetectkitError(f"parsing shard {i} failed on the Ray cluster: {exc}") from None
                    refs[i] = None  # release the parsed shard in the object store
                    yield result
            finally:
                for ref in refs:
                    if ref is not None:
                        ray.cancel(ref, force=True)

    def describe(self) -> str | None:
        """What happened, for the conversion summary (None before any read asked)."""
        if self.declined is not None:
            return self.declined
        if not self.shards:
            return None
        where = "local worker process(es)" if self.engine == "local" else "Ray task slot(s)"
        return (
            f"read {self.files} {self.fmt} files in {self.shards} shard(s) of up to {self.size} "
            f"on {self.workers} {where} ({self.seconds:.1f} s, start-up included)"
        )


class _RaySession:
    """``ray.init`` unless Ray is already initialised (then it is left running); shut down after."""

    def __init__(self, address: str | None, runtime_env: Mapping[str, Any] | None, cpus: int) -> None:
        self.address = address
        self.runtime_env = runtime_env
        self.cpus = cpus
        self.started_here = False

    def __enter__(self) -> Any:
        from detectkit.batch.ray_engine import import_ray

        ray = import_ray()
        if not ray.is_initialized():
            init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address is None:
                init["num_cpus"] = self.cpus
            else:
                init["address"] = self.address
            if self.runtime_env:
                init["runtime_env"] = dict(self.runtime_env)
            ray.init(**init)
            self.started_here = True
        self.ray = ray
        return ray

    def __exit__(self, *exc: object) -> None:
        if self.started_here:
            self.ray.shutdown()


def _source_format(src: str | os.PathLike[str], from_: str | None) -> str:
    from detectkit.formats import detect_format

    return from_ or detect_format(src)


def _engine_note(mapper: ShardMapper | None, fmt: str) -> str:
    if mapper is None:
        return f"read in this process: {fmt} is a single file"
    return mapper.describe() or f"read in this process: no {fmt} files"


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str,
    engine: str = "local",
    workers: int | None = None,
    shard_size: int = 2000,
    min_files: int | None = None,
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    retries: int = 2,
    stall_timeout: float | None = None,
    **options: Any,
) -> ConvertSummary:
    """Convert a dataset like :func:`detectkit.formats.convert`, its per-file parse spread over workers.

    The output is byte-identical to :func:`detectkit.formats.convert`'s; the summary's last
    note says how the source was read (in shards, or here and why).

    Args:
        src, dst, to: as :func:`detectkit.formats.convert` (``options`` too: ``from_``,
            ``images``, ``copy_images``, ``strict``, ``overwrite``, ...).
        engine: ``"local"`` (a process pool) or ``"ray"`` (Ray tasks; paths must be valid
            on the workers, e.g. a shared mount).
        workers: worker processes / concurrent tasks (default: CPU count).
        shard_size: files per shard.
        min_files: shard reads of at least this many files (None: when the measured saving
            exceeds the engine's start-up; 0: always).
        address: Ray cluster to join (None starts a local Ray).
        runtime_env: Ray runtime environment.
        retries: Ray retries of a shard whose worker died.
        stall_timeout: give up when a shard takes longer than this many seconds (None: no limit).
    """
    from detectkit.formats import convert as convert_formats

    check_choice(engine, "engine", ("local", "ray"))
    fmt = _source_format(src, options.get("from_"))
    mapper = None
    if fmt in SHARDED_FORMATS:
        mapper = ShardMapper(
            engine,
            fmt,
            workers=workers,
            shard_size=shard_size,
            min_files=min_files,
            address=address,
            runtime_env=runtime_env,
            retries=retries,
            stall_timeout=stall_timeout,
        )
    summary = convert_formats(src, dst, to=to, map_shards=mapper, **options)
    summary.notes.append(_engine_note(mapper, fmt))
    return summary


def run_convert_args(args: argparse.Namespace) -> int:
    """``detectkit convert ... --engine local|ray``: the conversion with its per-file parse on the engine."""
    from detectkit.cli import convert as cli_convert

    plain = argparse.Namespace(**{**vars(args), "engine": None})
    fmt = _source_format(args.src, getattr(args, "from_", None))
    mapper = None
    if fmt in SHARDED_FORMATS:
        mapper = ShardMapper(
            args.engine,
            fmt,
            workers=args.workers,
            shard_size=args.shard_size,
            min_files=getattr(args, "min_files", None),
            address=args.address,
            retries=args.retries,
            stall_timeout=args.stall_timeout,
        )
    return int(cli_convert.run(plain, map_shards=mapper, engine_note=lambda: _engine_note(mapper, fmt)))
