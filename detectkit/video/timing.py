"""Frames per second and per-stage latency (decode, detect, track, draw, encode) of a video run.

>>> timer = StageTimer()
>>> with timer.stage("detect"):
...     pass
>>> timer.tick()
>>> sorted(timer.summary()["ms"])
['detect']
>>> sorted(timer.summary())
['fps', 'frames', 'ms', 'seconds', 'steady_fps']
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

__all__ = ["STAGES", "StageTimer"]

#: The stages of the video pipeline, in order.
STAGES: tuple[str, ...] = ("decode", "detect", "track", "draw", "encode")


class StageTimer:
    """Accumulate per-stage durations (thread-safe) and the frame rate.

    Args:
        window: the rolling window (frames) behind :meth:`postfix`'s recent FPS.
    """

    def __init__(self, *, window: int = 60) -> None:
        self._lock = threading.Lock()
        self._total: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._ticks: deque[float] = deque(maxlen=max(2, int(window)))
        self._first_tick: float | None = None
        self.frames = 0
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as one sample of stage ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        """Record one sample of ``seconds`` for stage ``name``."""
        with self._lock:
            self._total[name] = self._total.get(name, 0.0) + seconds
            self._count[name] = self._count.get(name, 0) + 1

    def tick(self) -> None:
        """One frame finished."""
        now = time.perf_counter()
        with self._lock:
            self.frames += 1
            self._ticks.append(now)
            if self._first_tick is None:
                self._first_tick = now

    def fps(self) -> float:
        """Frames per second since the start."""
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def steady_fps(self) -> float:
        """Frames per second after the first frame (leaves out warm-up: first inference, opening
        the writer), from the first to the last finished frame; :meth:`fps` with under 2 frames."""
        with self._lock:
            first, last, n = self._first_tick, (self._ticks[-1] if self._ticks else None), self.frames
        if first is None or last is None or n < 2 or last <= first:
            return self.fps()
        return (n - 1) / (last - first)

    def recent_fps(self) -> float:
        """Frames per second over the last ``window`` frames."""
        with self._lock:
            ticks = list(self._ticks)
        if len(ticks) < 2 or ticks[-1] <= ticks[0]:
            return self.fps()
        return (len(ticks) - 1) / (ticks[-1] - ticks[0])

    def mean_ms(self) -> dict[str, float]:
        """Mean milliseconds per sample, per stage, in pipeline order."""
        with self._lock:
            names = sorted(self._total, key=lambda n: (STAGES.index(n) if n in STAGES else len(STAGES), n))
            return {n: 1000.0 * self._total[n] / max(self._count[n], 1) for n in names}

    def summary(self) -> dict[str, Any]:
        """``{"frames", "seconds", "fps", "steady_fps", "ms": {stage: mean ms}}`` (JSON-safe, rounded)."""
        elapsed = time.perf_counter() - self.started
        return {
            "frames": self.frames,
            "seconds": round(elapsed, 3),
            "fps": round(self.fps(), 2),
            "steady_fps": round(self.steady_fps(), 2),
            "ms": {k: round(v, 2) for k, v in self.mean_ms().items()},
        }

    def postfix(self) -> str:
        """A short progress-bar text: ``"12.3 fps | decode 2.1 detect 60.2 ... ms"``."""
        stages = " ".join(f"{k} {v:.1f}" for k, v in self.mean_ms().items())
        return f"{self.recent_fps():.1f} fps | {stages} ms" if stages else f"{self.recent_fps():.1f} fps"
