"""Where the server runs its models: inference lanes (one thread each, one model copy each), a
bounded admission count, and optional micro-batching.

Why not any thread: an Ultralytics model object keeps per-call state in its predictor. Threads
sharing one model have returned each other's boxes (ultralytics issues 6174 and 5302); current
versions lock the forward pass, but ``Model.predict`` still writes a call's options (conf, imgsz,
...) into the shared predictor before taking that lock, so concurrent calls with different options
run with each other's settings (``benchmarks/bench_serve.py`` counts such wrong answers). Every
model call of a server process therefore runs on a *lane*: a thread that owns its own copy of the
models, so no model object is ever used by two threads at once.

Lanes (``lanes > 1``): one lane leaves cores idle while it decodes, letterboxes and runs NMS (one
thread of Python); two lanes, each a model copy with ``cpu_count // lanes`` intra-op threads,
overlap two requests, including one request's pre- and post-processing with the other's forward
pass (``benchmarks/bench_serve.py`` measures the throughput against one lane, which runs its
forward passes on all cores). Lanes take jobs from one queue in arrival order.

Micro-batching (``batch_window_ms > 0``): when a lane takes a detection job and other requests
are still on their way (admitted but neither queued nor running, e.g. being decoded), it waits up
to the window for jobs with the same *key* — same model, same options and same image size, so
that Ultralytics letterboxes the batch exactly as it would each image alone — and runs them in one
forward pass. Jobs with another key wait their turn in arrival order.

One hop per request: a detection job may carry its image still encoded (a function returning the
decoded array, :meth:`InferenceEngine.submit_detect` with ``decode=``); the lane decodes it right
before the forward pass, so a request crosses threads once (event loop -> lane -> event loop)
instead of twice (a decode thread, then the lane). Jobs are grouped by the decoded image's shape
before their forward pass, so a key given from the file header (which EXIF orientation may
contradict) never mixes shapes in one batch.

>>> engine = InferenceEngine(max_queue=2)
>>> with engine.admit():
...     engine.submit_call(sum, [1, 2, 3]).result()
6
>>> engine.close()
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectkit.errors import DetectkitError

__all__ = ["EngineStats", "InferenceEngine", "OverloadedError"]


class OverloadedError(DetectkitError):
    """More requests than ``max_queue`` are in the server: answered with 503 and ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: What a detection job runs on: a model (``detect_batch``), or a function ``lane -> model`` for
#: per-lane model copies.
ModelOrFactory = Any


@dataclass
class _Job:
    future: Future[Any]
    call: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    key: Hashable = None
    model: ModelOrFactory = None
    image: np.ndarray | None = None
    decode: Callable[[], np.ndarray] | None = None
    seconds: dict[str, float] | None = None


@dataclass
class EngineStats:
    """Counters read by ``/metrics`` (updated by the lanes under ``lock``)."""

    batches: int = 0
    images: int = 0
    busy_seconds: float = 0.0
    batch_sizes: collections.Counter[int] = field(default_factory=collections.Counter)
    lane_images: collections.Counter[int] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def _model_for(model: ModelOrFactory, lane: int) -> Any:
    return model if hasattr(model, "detect_batch") else model(lane)


class InferenceEngine:
    """Runs model calls on ``lanes`` threads, in arrival order, with admission control and optional
    micro-batching.

    Args:
        max_queue: most requests admitted at once; :meth:`admit` raises :class:`OverloadedError` beyond.
        batch_window_ms: micro-batching window (0: every detection runs alone).
        max_batch: most images in one micro-batch.
        lanes: inference threads. With more than one, give :meth:`submit_detect` a function
            ``lane -> model`` returning a model copy per lane (a model object given directly is
            then used from several threads at once).
    """

    def __init__(
        self, *, max_queue: int = 64, batch_window_ms: float = 0.0, max_batch: int = 8, lanes: int = 1
    ) -> None:
        self.max_queue = max_queue
        self.window = float(batch_window_ms) / 1000.0
        self.max_batch = max_batch
        self.lanes = lanes
        self.stats = EngineStats()
        self._admitted = 0
        self._running = 0  # detection jobs being run by a lane
        self._count_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._deferred: collections.deque[_Job] = collections.deque()
        self._deferred_lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(i,),
                name="detectkit-inference" if lanes == 1 else f"detectkit-inference-{i}",
                daemon=True,
            )
            for i in range(lanes)
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ admission
    @property
    def admitted(self) -> int:
        """Requests currently admitted (decoding, queued or running)."""
        return self._admitted

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of ``max_queue`` request slots for the duration of the block.

        Raises:
            OverloadedError: every slot is taken.
        """
        with self._count_lock:
            if self._admitted >= self.max_queue:
                raise OverloadedError(f"the server is busy ({self._admitted} requests in progress); retry shortly")
            self._admitted += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._admitted -= 1

    # ------------------------------------------------------------------ jobs
    def submit_call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on a lane (never batched)."""
        job = _Job(future=Future(), call=fn, args=args)
        self._queue.put(job)
        return job.future

    def submit_detect(
        self,
        model: ModelOrFactory,
        image: np.ndarray | None = None,
        *,
        key: Hashable,
        decode: Callable[[], np.ndarray] | None = None,
        seconds: dict[str, float] | None = None,
    ) -> Future[Any]:
        """Detect in one image with ``model.detect_batch`` (``model``: a model, or ``lane -> model``);
        batched with other jobs of equal ``key`` (which must pin the model and its options, and
        should pin the image size).

        Args:
            model: a model, or ``lane -> model``.
            image: the decoded image; or None with ``decode``, a function the lane calls to decode
                it (its exceptions become the future's).
            key: micro-batching key.
            decode: see ``image``.
            seconds: when given, the lane stores ``"decode"`` and ``"forward"`` seconds in it.
        """
        if (image is None) == (decode is None):
            raise ValueError("give exactly one of image and decode")
        job = _Job(future=Future(), key=key, model=model, image=image, decode=decode, seconds=seconds)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Stop the lanes after the jobs already queued."""
        self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)

    # ------------------------------------------------------------------ the lanes
    def _next(self) -> _Job | None:
        with self._deferred_lock:
            if self._deferred:
                return self._deferred.popleft()
        return self._queue.get()

    def _loop(self, lane: int) -> None:
        while True:
            job = self._next()
            if job is None:
                self._queue.put(None)  # the other lanes stop too
                return
            if job.call is not None:
                self._run_call(job)
            else:
                self._run_batch(self._collect(job), lane)

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        if self.window <= 0:
            return batch
        deadline = time.perf_counter() + self.window
        skipped: list[_Job] = []
        stop = False
        while len(batch) < self.max_batch and not stop:
            # wait only while other admitted requests (not queued, not running) could still join
            if self._admitted <= len(batch) + len(skipped) + self._queue.qsize() + self._running:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
            else:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    nxt = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if nxt is None:
                self._queue.put(None)  # stop after this batch
                stop = True
            elif nxt.call is None and nxt.key == first.key:
                batch.append(nxt)
            else:
                skipped.append(nxt)
        with self._deferred_lock:
            self._deferred.extend(skipped)
        return batch

    def _run_call(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        start = time.perf_counter()
        try:
            job.future.set_result(job.call(*job.args))  # type: ignore[misc]
        except BaseException as exc:
            job.future.set_exception(exc)
        finally:
            with self.stats.lock:
                self.stats.busy_seconds += time.perf_counter() - start

    def _run_batch(self, jobs: Sequence[_Job], lane: int) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        with self._count_lock:
            self._running += len(jobs)
        groups: dict[tuple[int, ...], list[_Job]] = {}
        for j in jobs:
            if j.decode is not None:
                t = time.perf_counter()
                try:
                    j.image = j.decode()
                except BaseException as exc:
                    with self._count_lock:
                        self._running -= 1
                    j.future.set_exception(exc)
                    continue
                if j.seconds is not None:
                    j.seconds["decode"] = time.perf_counter() - t
            assert j.image is not None
            groups.setdefault(tuple(j.image.shape), []).append(j)
        for group in groups.values():
            self._forward(group, lane)

    def _forward(self, jobs: Sequence[_Job], lane: int) -> None:
        start = time.perf_counter()
        try:
            results = _model_for(jobs[0].model, lane).detect_batch([j.image for j in jobs])
        except BaseException as exc:
            self._count(jobs, start, lane)
            for j in jobs:
                j.image = None
                j.future.set_exception(exc)
        else:
            self._count(jobs, start, lane)  # before the answers, so /metrics never lags a finished request
            forward = time.perf_counter() - start
            for j, r in zip(jobs, results, strict=True):
                j.image = None  # the job object may outlive the answer (in a deque); the pixels need not
                if j.seconds is not None:
                    j.seconds["forward"] = forward
                j.future.set_result(r)

    def _count(self, jobs: Sequence[_Job], start: float, lane: int) -> None:
        with self._count_lock:
            self._running -= len(jobs)
        with self.stats.lock:
            self.stats.busy_seconds += time.perf_counter() - start
            self.stats.batches += 1
            self.stats.images += len(jobs)
            self.stats.batch_sizes[len(jobs)] += 1
            self.stats.lane_images[lane] += len(jobs)
