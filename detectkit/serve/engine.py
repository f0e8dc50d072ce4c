"""Where the server runs its models: one inference thread per process, a bounded admission count,
and optional micro-batching.

Why one thread: an Ultralytics model object keeps per-call state in its predictor. Threads sharing
one model have returned each other's boxes (ultralytics issues 6174 and 5302); current versions lock
the forward pass, but ``Model.predict`` still writes a call's options (conf, imgsz, ...) into the
shared predictor before taking that lock, so concurrent calls with different options run with
each other's settings (``benchmarks/bench_serve.py`` counts such wrong answers). Every model call
of a server process therefore goes through this one thread, which is a lock with a queue in front
of it; more throughput comes from more processes (``--workers``, each loading its own models).

Micro-batching (``batch_window_ms > 0``): when the thread takes a detection job and other requests
are still on their way (admitted but not queued yet, e.g. being decoded), it waits up to the window
for jobs with the same *key* — same model, same options and same image size, so that Ultralytics
letterboxes the batch exactly as it would each image alone — and runs them in one forward pass.
Jobs with another key wait their turn in arrival order.

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


@dataclass
class _Job:
    future: Future[Any]
    call: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    key: Hashable = None
    model: Any = None
    image: np.ndarray | None = None


@dataclass
class EngineStats:
    """Counters read by ``/metrics`` (updated by the inference thread)."""

    batches: int = 0
    images: int = 0
    busy_seconds: float = 0.0
    batch_sizes: collections.Counter[int] = field(default_factory=collections.Counter)


class InferenceEngine:
    """Runs model calls on one thread, in order, with admission control and optional micro-batching.

    Args:
        max_queue: most requests admitted at once; :meth:`admit` raises :class:`OverloadedError` beyond.
        batch_window_ms: micro-batching window (0: every detection runs alone).
        max_batch: most images in one micro-batch.
    """

    def __init__(self, *, max_queue: int = 64, batch_window_ms: float = 0.0, max_batch: int = 8) -> None:
        self.max_queue = max_queue
        self.window = float(batch_window_ms) / 1000.0
        self.max_batch = max_batch
        self.stats = EngineStats()
        self._admitted = 0
        self._count_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._deferred: collections.deque[_Job] = collections.deque()
        self._thread = threading.Thread(target=self._loop, name="detectkit-inference", daemon=True)
        self._thread.start()

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
        """Run ``fn(*args)`` on the inference thread (never batched)."""
        job = _Job(future=Future(), call=fn, args=args)
        self._queue.put(job)
        return job.future

    def submit_detect(self, model: Any, image: np.ndarray, *, key: Hashable) -> Future[Any]:
        """Detect in one image with ``model.detect_batch``; batched with other jobs of equal ``key``
        (which must pin the model, its options and the image shape)."""
        job = _Job(future=Future(), key=key, model=model, image=image)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Stop the thread after the jobs already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        while True:
            job = self._deferred.popleft() if self._deferred else self._queue.get()
            if job is None:
                return
            if job.call is not None:
                self._run_call(job)
            else:
                self._run_batch(self._collect(job))

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        if self.window <= 0:
            return batch
        deadline = time.perf_counter() + self.window
        skipped: list[_Job] = []
        stop = False
        while len(batch) < self.max_batch and not stop:
            # wait only while other admitted requests could still join
            if self._admitted <= len(batch) + len(skipped) + self._queue.qsize():
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
            self.stats.busy_seconds += time.perf_counter() - start

    def _run_batch(self, jobs: Sequence[_Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        start = time.perf_counter()
        try:
            results = jobs[0].model.detect_batch([j.image for j in jobs])
        except BaseException as exc:
            self._count(jobs, start)
            for j in jobs:
                j.future.set_exception(exc)
        else:
            self._count(jobs, start)  # before the answers, so /metrics never lags a finished request
            for j, r in zip(jobs, results, strict=True):
                j.future.set_result(r)

    def _count(self, jobs: Sequence[_Job], start: float) -> None:
        self.stats.busy_seconds += time.perf_counter() - start
        self.stats.batches += 1
        self.stats.images += len(jobs)
        self.stats.batch_sizes[len(jobs)] += 1
