"""The batch API: :func:`detect` and :func:`classify` over many images, on a local pool or Ray.

Both return a :class:`BatchResult`; the results are files in ``out`` (see
:mod:`detectkit.batch._job` for the layout), never lists held in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from detectkit._checks import check_choice
from detectkit.batch._job import RESULT_FILES, Job, Shard, ShardResult
from detectkit.batch._schedule import input_shape_groups
from detectkit.batch.sources import resolve_sources
from detectkit.errors import InvalidInputError

__all__ = ["BatchResult", "classify", "detect", "detect_spec", "run_job"]

Engine = Literal["local", "ray"]
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchResult:
    """What a batch job did.

    Attributes:
        out: the output folder.
        results: merged results file (one JSON line per image, sorted by source), or None
            when shards are unfinished.
        failures: merged failures file (``{"error", "index", "source"}`` lines), or None.
        images: items in the job. succeeded / failed: images with a result / an error.
        shards: shards in the job; shards_run: run now; shards_skipped: finished earlier.
        lost: ``(shard index, reason)`` for shards that could not finish (rerun to resume).
        seconds: wall time of this call. engine_stats: figures of the run: ``startup_seconds``
            (Ray start or connect), ``first_shard_seconds`` (until the first shard finished:
            workers started, model loaded), ``steady_images_per_second`` (after that), and from
            the workers themselves ``workers_seen``, ``worker_up_seconds`` / ``worker_ready_seconds``
            (median seconds from the job's start until a worker was up / its model loaded),
            ``model_load_seconds`` and, for OpenVINO with its compiled-model cache,
            ``models_compiled`` / ``models_imported`` (summed over the workers); for an OpenVINO
            detection job ``shard_groups``, the input shapes its shards are grouped by.
        dataset: summary of the ``save_dataset`` write, when asked for.

    >>> r = BatchResult(Path("out"), None, None, images=10, succeeded=9, failed=1, shards=3,
    ...                 shards_run=1, shards_skipped=2, seconds=1.5)
    >>> print(r); r.complete, r.ok
    10 image(s): 9 done, 1 failed; 1 shard(s) run, 2 already done; 1.50 s
    (True, False)
    """

    out: Path
    results: Path | None
    failures: Path | None
    images: int
    succeeded: int
    failed: int
    shards: int
    shards_run: int
    shards_skipped: int
    lost: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    engine_stats: dict[str, float] = field(default_factory=dict)
    dataset: Any = None

    @property
    def complete(self) -> bool:
        """Every shard finished (failed images may still be listed in ``failures``)."""
        return not self.lost

    @property
    def ok(self) -> bool:
        """Every shard finished and every image succeeded."""
        return self.complete and self.failed == 0

    def __str__(self) -> str:
        text = (
            f"{self.images} image(s): {self.succeeded} done, {self.failed} failed; "
            f"{self.shards_run} shard(s) run, {self.shards_skipped} already done; {self.seconds:.2f} s"
        )
        if self.lost:
            text += f"; {len(self.lost)} shard(s) unfinished (rerun the same command to resume)"
        return text


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _model_location(model: str | os.PathLike[str]) -> str:
    """Absolute path for model files (workers may run elsewhere); manifest names unchanged."""
    text = os.fspath(model)
    return os.path.abspath(text) if Path(text).exists() else text


def _worker_stats(stats: dict[str, float], figures: list[dict[str, float]], start_wall: float) -> None:
    """Add the workers' figures to ``stats``: ``workers_seen``; the median seconds from the job's
    start until a worker process was up (``worker_up_seconds``) and its model loaded
    (``worker_ready_seconds``); the model load itself (``model_load_seconds``); and OpenVINO's
    ``models_compiled`` / ``models_imported`` summed over the workers. Times are wall-clock
    across processes (approximate on a cluster whose clocks differ).

    >>> stats = {}
    >>> _worker_stats(stats, [{"pid": 1, "imported": 10.5, "started": 10.6, "ready": 11.0, "compiled": 5}], 10.0)
    >>> stats["worker_ready_seconds"], stats["models_compiled"], stats["workers_seen"]
    (1.0, 5.0, 1.0)
    """
    import statistics

    if not figures:
        return
    stats["workers_seen"] = float(len(figures))
    stats["worker_up_seconds"] = statistics.median(f["imported"] - start_wall for f in figures)
    stats["worker_ready_seconds"] = statistics.median(f["ready"] - start_wall for f in figures)
    stats["model_load_seconds"] = statistics.median(f["ready"] - f["started"] for f in figures)
    if any("compiled" in f for f in figures):
        stats["models_compiled"] = float(sum(f.get("compiled", 0.0) for f in figures))
        stats["models_imported"] = float(sum(f.get("imported_models", 0.0) for f in figures))


def run_job(
    spec: Mapping[str, Any],
    sources: Iterable[str | os.PathLike[str]] | Sequence[str],
    out: str | os.PathLike[str],
    *,
    engine: Engine | str = "local",
    workers: int | None = None,
    shard_size: int = 64,
    recursive: bool = False,
    retries: int = 2,
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    object_store_bytes: int | None = None,
    stall_timeout: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> BatchResult:
    """Run (or resume) the job ``spec`` over ``sources`` into ``out``; see :func:`detect`."""
    check_choice(engine, "engine", ENGINES)
    shard_size = _check_int(shard_size, "shard_size")
    retries = _check_int(retries, "retries", 0)
    if workers is None:  # one worker per `threads` cores
        workers = max(1, (os.cpu_count() or 1) // max(1, int(spec.get("threads", 1))))
    workers = _check_int(workers, "workers")
    started = time.perf_counter()
    items = resolve_sources(sources, recursive=recursive)
    # an OpenVINO detection job: shards of one input shape each, so a worker loads fewer shapes
    groups = input_shape_groups(items, spec)
    job = Job(out=Path(out), spec=dict(spec), items=items, shard_size=shard_size, groups=groups)
    job.prepare(overwrite=overwrite)
    pending = job.pending()
    skipped = job.num_shards - len(pending)
    bar: Any = None
    if progress and pending:
        from detectkit._progress import stderr_bar

        done_before = len(items) - sum(len(s.sources) for s in pending)
        bar = stderr_bar(total=len(items), initial=done_before, unit="img", leave=False)

    stats: dict[str, float] = {}
    if groups is not None:
        stats["shard_groups"] = float(len(set(groups)))
    done_images = [0]
    start_wall = time.time()
    workers_seen: dict[float, dict[str, float]] = {}  # pid -> its latest figures

    def on_result(result: ShardResult) -> None:
        job.save_shard(result)
        if "pid" in result.worker:
            workers_seen[result.worker["pid"]] = result.worker
        if "first_shard_seconds" not in stats:  # start-up ends with the first finished shard
            stats["first_shard_seconds"] = time.perf_counter() - started
            stats["first_shard_images"] = result.succeeded + result.failed
        done_images[0] += result.succeeded + result.failed
        if bar is not None:
            bar.update(result.succeeded + result.failed)

    lost: list[tuple[Shard, str]] = []
    try:
        if pending and engine == "local":
            from detectkit.batch.local import run_local

            lost = run_local(
                job.spec, pending, workers=workers, on_result=on_result, retries=retries, stall_timeout=stall_timeout
            )
        elif pending:
            from detectkit.batch.ray_engine import run_ray

            lost = run_ray(
                job.spec,
                pending,
                workers=workers,
                on_result=on_result,
                retries=retries,
                address=address,
                runtime_env=runtime_env,
                object_store_bytes=object_store_bytes,
                stall_timeout=stall_timeout,
                stats=stats,
            )
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    _worker_stats(stats, list(workers_seen.values()), start_wall)
    if "first_shard_seconds" in stats and seconds > stats["first_shard_seconds"]:
        # images/s once the first shard is in (workers up): the job's rate without its start-up
        after = done_images[0] - stats["first_shard_images"]
        stats["steady_images_per_second"] = after / (seconds - stats["first_shard_seconds"])
    base = BatchResult(
        out=job.out,
        results=None,
        failures=None,
        images=len(items),
        succeeded=0,
        failed=0,
        shards=job.num_shards,
        shards_run=len(pending) - len(lost),
        shards_skipped=skipped,
        lost=[(s.index, reason) for s, reason in lost],
        seconds=seconds,
        engine_stats=stats,
    )
    if lost:
        return base
    summary = job.merge()
    return replace(
        base,
        results=job.out / RESULT_FILES[job.task],
        failures=job.out / "failures.jsonl",
        succeeded=int(summary["succeeded"]),
        failed=int(summary["failed"]),
        seconds=time.perf_counter() - started,
    )


def detect_spec(
    model: str | os.PathLike[str] = "demo-shapes",
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
    classes: Sequence[int | str] | None = None,
    backend: str = "torch",
    device: str = "cpu",
    agnostic_nms: bool = False,
    batch_size: int = 8,
    threads: int = 1,
) -> dict[str, Any]:
    """The job spec that :func:`detect` hands to :func:`run_job` (arguments as :func:`detect`).

    >>> spec = detect_spec(batch_size=4)
    >>> spec["task"], spec["model"], spec["batch_size"], spec["threads"]
    ('detect', 'demo-shapes', 4, 1)
    >>> spec["options"]  # doctest: +NORMALIZE_WHITESPACE
    {'conf': 0.25, 'iou': 0.7, 'imgsz': None, 'classes': None, 'backend': 'torch', 'device': 'cpu',
     'agnostic_nms': False}
    """
    options: dict[str, Any] = {
        "conf": conf,
        "iou": iou,
        "imgsz": imgsz,
        "classes": None if classes is None else list(classes),
        "backend": backend,
        "device": device,
        "agnostic_nms": agnostic_nms,
    }
    return {
        "task": "detect",
        "model": _model_location(model),
        "options": options,
        "batch_size": _check_int(batch_size, "batch_size"),
        "threads": _check_int(threads, "threads"),
    }


def detect(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] = "demo-shapes",
    engine: Engine | str = "local",
    workers: int | None = None,
    batch_size: int = 8,
    shard_size: int = 64,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
    classes: Sequence[int | str] | None = None,
    backend: str = "torch",
    device: str = "cpu",
    agnostic_nms: bool = False,
    threads: int = 1,
    recursive: bool = False,
    save_dataset: str | os.PathLike[str] | None = None,
    format: str = "coco",
    retries: int = 2,
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    object_store_bytes: int | None = None,
    stall_timeout: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> BatchResult:
    """Detect objects in many images, sharded over a local process pool or a Ray cluster.

    Writes ``out/shards/*.jsonl`` (one file per finished shard), then
    ``out/detections.jsonl`` (``{"index", "source", "image_size_wh", "detections"}`` per
    image, sorted by source), ``out/failures.jsonl`` and ``out/summary.json``. Rerunning
    the same call after a crash skips finished shards and gives byte-identical files.

    Args:
        sources: folders, list files (one path or URI per line), globs, URIs or image files.
        out: output folder (created; must be empty or hold this same job).
        model: detector (manifest name or model path), loaded once per worker.
        engine: ``"local"`` (process pool, default) or ``"ray"`` (``detectkit[ray]``).
        workers: worker processes or Ray actors (default: CPU count // ``threads``).
        batch_size: images per forward pass inside a worker.
        shard_size: images per shard (the unit of output, retry and resume). With
            ``backend="openvino"`` a shard holds images of one input shape (read from the image
            headers), so each worker compiles or imports only the shapes it runs.
        conf, iou, imgsz, classes, backend, device, agnostic_nms: as :class:`~detectkit.Detector`.
        threads: threads per worker for every runtime (torch, onnxruntime, OpenVINO, OpenCV);
            each local worker (and each Ray actor, as its CPU request) takes that many cores.
            Part of the job: results depend on it (torch sums in another order), not on ``workers``.
        recursive: descend into sub-folders.
        save_dataset: also write the predictions as a dataset in this folder (auto-labelling).
        format: dataset format for ``save_dataset`` (``coco``, ``yolo``, ``voc``, ``labelme``, ``cvat``).
        retries: retries of a shard whose worker died.
        address: Ray cluster to join (``"auto"``, ``"ray://host:10001"``); None starts a local Ray.
        runtime_env: Ray runtime environment (e.g. ``{"pip": ["detectkit[ray]"]}``).
        object_store_bytes: object store size of a local Ray.
        stall_timeout: seconds without a finished shard before the job gives up (None: no limit).
        overwrite: start over when ``out`` holds another job.
        progress: a progress bar on stderr.

    Returns:
        A :class:`BatchResult`; ``result.ok`` is False when an image failed or a shard could
        not finish.

    Raises:
        InvalidInputError: bad sources or options, or ``out`` holds another job.

    Example (two worker processes; ``tests/batch/test_batch_local.py`` runs the same)::

        result = detect("photos/", "runs/batch", workers=2, save_dataset="runs/labels", format="yolo")
        print(result)  # 500 image(s): 499 done, 1 failed; 8 shard(s) run, 0 already done; 61.20 s
        result.ok, result.results, result.failures
    """
    if save_dataset is not None:
        from detectkit.formats import FORMATS

        check_choice(format, "format", FORMATS)
    spec = detect_spec(
        model,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        classes=classes,
        backend=backend,
        device=device,
        agnostic_nms=agnostic_nms,
        batch_size=batch_size,
        threads=threads,
    )
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    result = run_job(
        spec,
        sources,
        out,
        engine=engine,
        workers=workers,
        shard_size=shard_size,
        recursive=recursive,
        retries=retries,
        address=address,
        runtime_env=runtime_env,
        object_store_bytes=object_store_bytes,
        stall_timeout=stall_timeout,
        overwrite=overwrite,
        progress=progress,
    )
    if save_dataset is not None and result.complete:
        from detectkit.batch._merge import save_dataset as _save

        summary = _save(Path(out), Path(save_dataset), format=format, overwrite=overwrite)
        result = replace(result, dataset=summary)
    return result


def classify(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    engine: Engine | str = "local",
    workers: int | None = None,
    batch_size: int = 16,
    shard_size: int = 64,
    top_k: int = 5,
    device: str = "cpu",
    threads: int = 1,
    recursive: bool = False,
    retries: int = 2,
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    object_store_bytes: int | None = None,
    stall_timeout: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> BatchResult:
    """Classify many images, sharded like :func:`detect`; writes ``out/classifications.jsonl``.

    Each line is ``{"index", "source", "image_size_wh", "classification"}`` (top-k labels
    and scores). ``model``/``weights`` as :class:`~detectkit.models.classifier.Classifier`
    (default: the shipped MobileNetV2 ImageNet weights). Other arguments as :func:`detect`.
    """
    options: dict[str, Any] = {"top_k": _check_int(top_k, "top_k"), "device": device}
    if weights is not None:
        options["weights"] = os.path.abspath(os.fspath(weights))
    spec = {
        "task": "classify",
        "model": None if model is None else _model_location(model),
        "options": options,
        "batch_size": _check_int(batch_size, "batch_size"),
        "threads": _check_int(threads, "threads"),
    }
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    return run_job(
        spec,
        sources,
        out,
        engine=engine,
        workers=workers,
        shard_size=shard_size,
        recursive=recursive,
        retries=retries,
        address=address,
        runtime_env=runtime_env,
        object_store_bytes=object_store_bytes,
        stall_timeout=stall_timeout,
        overwrite=overwrite,
        progress=progress,
    )
