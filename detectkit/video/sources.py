"""Frame sources for video runs: live streams read by a thread that keeps only the newest frame,
files read frame by frame (optionally prefetched in a thread), and a background video encoder.

Live sources (camera indices, ``rtsp://``, ``rtmp://``, ``http(s)://`` URLs) produce frames at
their own pace. If the consumer (detection) is slower, :class:`LatestFrameReader` drops the older
frames and hands out the newest, so output never falls minutes behind the scene (the Ultralytics
reports 4211 and 3908); the dropped frames are counted. Files are never dropped from: every
frame is decoded in order (:func:`prefetch` only overlaps the decoding with the work).

>>> import numpy as np
>>> frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
>>> [int(f.image[0, 0, 0]) for f in open_stream(frames)]
[0, 1, 2]
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from detectkit.errors import DetectkitError, InvalidInputError
from detectkit.image import Frame, FrameInfo, iter_images

__all__ = [
    "BackgroundWriter",
    "LatestFrameReader",
    "StreamError",
    "is_live_source",
    "open_stream",
    "prefetch",
]

T = TypeVar("T")
_LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class StreamError(DetectkitError):
    """A live stream could not be opened or died (and reconnecting was off or failed)."""


def is_live_source(source: Any) -> bool:
    """True for camera indices and stream URLs (frames come in real time; we may drop some).

    >>> is_live_source(0), is_live_source("rtsp://cam/1"), is_live_source("clip.mp4")
    (True, True, False)
    """
    if isinstance(source, bool):
        return False
    if isinstance(source, (int, np.integer)):
        return True
    return isinstance(source, str) and source.lower().startswith(_LIVE_SCHEMES)


def _label(source: Any) -> str:
    if isinstance(source, (int, np.integer)):
        return f"camera:{int(source)}"
    text = str(source)
    if "@" in text and "://" in text:  # hide credentials in rtsp://user:pass@host
        scheme, rest = text.split("://", 1)
        text = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return text


class LatestFrameReader:
    """Read a live source in a thread, keeping only the newest ``buffer`` frames.

    Args:
        source: a camera index or a stream URL (anything ``cv2.VideoCapture`` opens).
        buffer: frames kept (1 = only the newest). Older ones are dropped and counted.
        reconnect: attempts to reopen a stream that fails or ends (-1: forever, 0: never).
        reconnect_delay: seconds between attempts.
        on_end: when the stream ends for good: ``"raise"`` :class:`StreamError` from the iterator
            (default: a live source is not supposed to end), or ``"stop"`` the iteration.
        opener: a callable ``source -> capture`` (an object with ``isOpened()``, ``read()``,
            ``release()`` like ``cv2.VideoCapture``); the default opens ``cv2.VideoCapture``.

    Attributes:
        read: frames read from the source; ``dropped``: frames discarded unseen;
        ``delivered``: frames handed out; ``reconnects``: successful reopenings.

    Iterate to get :class:`~detectkit.image.Frame`\\ s (``frame_index`` counts every frame read,
    dropped ones included; ``timestamp`` is seconds since the reader started). Use as a
    context manager or call :meth:`close`.
    """

    def __init__(
        self,
        source: Any,
        *,
        buffer: int = 1,
        reconnect: int = 0,
        reconnect_delay: float = 1.0,
        on_end: Literal["raise", "stop"] = "raise",
        opener: Callable[[Any], Any] | None = None,
    ) -> None:
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise InvalidInputError(f"buffer must be a positive int, got {buffer!r}")
        if isinstance(reconnect, bool) or not isinstance(reconnect, int) or reconnect < -1:
            raise InvalidInputError(f"reconnect must be an int >= -1 (-1 = forever), got {reconnect!r}")
        if on_end not in ("raise", "stop"):
            raise InvalidInputError(f"on_end must be 'raise' or 'stop', got {on_end!r}")
        self.source = source
        self.label = _label(source)
        self.buffer = buffer
        self.reconnect = reconnect
        self.reconnect_delay = float(reconnect_delay)
        self.on_end = on_end
        self._opener = opener or _open_cv2
        self._frames: deque[tuple[int, float, np.ndarray]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._done = False
        self._error: StreamError | None = None
        self.read = self.dropped = self.delivered = self.reconnects = 0
        self._started = time.monotonic()
        cap = self._opener(source)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise StreamError(f"{self.label}: the stream could not be opened")
        self._cap = cap
        self._thread = threading.Thread(target=self._run, name=f"detectkit-reader-{self.label}", daemon=True)
        self._thread.start()

    def _reopen(self) -> bool:
        attempts = 0
        while not self._stop.is_set() and (self.reconnect < 0 or attempts < self.reconnect):
            attempts += 1
            if self._stop.wait(self.reconnect_delay):
                return False
            cap = self._opener(self.source)
            if cap is not None and cap.isOpened():
                self._cap = cap
                self.reconnects += 1
                return True
            if cap is not None:
                cap.release()
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, image = self._cap.read()
                if not ok or image is None:
                    self._cap.release()
                    if self._reopen():
                        continue
                    if self.on_end == "raise" and not self._stop.is_set():
                        self._error = StreamError(
                            f"{self.label}: the stream ended or failed after {self.read} frames"
                            + (f" and {self.reconnect} reconnect attempt(s)" if self.reconnect else "")
                            + "; pass reconnect=N (CLI --reconnect N) to retry"
                        )
                    break
                with self._cond:
                    if len(self._frames) >= self.buffer:
                        self._frames.popleft()
                        self.dropped += 1
                    self._frames.append((self.read, time.monotonic() - self._started, image))
                    self.read += 1
                    self._cond.notify()
        finally:
            self._cap.release()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            with self._cond:
                while not self._frames and not self._done:
                    self._cond.wait(0.1)
                if self._frames:
                    frame_no, stamp, image = self._frames.popleft()
                else:
                    break
            self.delivered += 1
            info = FrameInfo(
                source=self.label,
                index=index,
                frame_index=frame_no,
                timestamp=round(stamp, 6),
                image_size_wh=(int(image.shape[1]), int(image.shape[0])),
            )
            index += 1
            yield Frame(info, image)
        if self._error is not None and not self._stop.is_set():
            raise self._error

    def stats(self) -> dict[str, int]:
        """``{"read", "delivered", "dropped", "reconnects"}``."""
        return {"read": self.read, "delivered": self.delivered, "dropped": self.dropped, "reconnects": self.reconnects}

    def close(self) -> None:
        """Stop the thread and release the source (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> LatestFrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_cv2(source: Any) -> Any:
    import cv2

    return cv2.VideoCapture(int(source) if isinstance(source, (int, np.integer)) else str(source))


_END = object()


def prefetch(items: Iterable[T], *, size: int = 4) -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``size`` items ahead; nothing is dropped.

    Overlaps decoding with the consumer's work. Exceptions of the producer are re-raised in
    the consumer; stopping early (``break``, Ctrl-C) stops the thread.

    >>> list(prefetch(range(5), size=2))
    [0, 1, 2, 3, 4]
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"size must be a positive int, got {size!r}")
    q: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="detectkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def open_stream(
    source: Any,
    *,
    live: bool | None = None,
    vid_stride: int = 1,
    recursive: bool = False,
    **reader_options: Any,
) -> Iterator[Frame]:
    """Frames of a source: a live reader for cameras/URLs, else :func:`detectkit.image.iter_images`.

    Args:
        source: a camera index, a stream URL, a video file, an image folder, an image, or a list.
        live: force (True) or forbid (False) the newest-frame reader; default: cameras and URLs.
        vid_stride: keep every n-th frame of files (live sources drop by themselves).
        recursive: descend into sub-folders of folders.
        **reader_options: :class:`LatestFrameReader` options (``buffer``, ``reconnect``, ...).

    Yields:
        :class:`~detectkit.image.Frame` items (files: every frame, errors as ``Frame.error``).
    """
    if live is None:
        live = is_live_source(source)
    if live:
        with LatestFrameReader(source, **reader_options) as reader:
            yield from reader
        return
    if reader_options:
        raise InvalidInputError(f"{sorted(reader_options)} apply to live sources only")
    if isinstance(source, str) and not os.path.exists(source) and source.isdigit():
        source = int(source)
    yield from iter_images(
        Path(source) if isinstance(source, str) else source, recursive=recursive, vid_stride=vid_stride
    )


class BackgroundWriter:
    """Encode frames in a thread: ``write`` queues (bounded, blocks when full), ``close`` drains.

    Wraps a writer with ``write(frame)`` and ``close()`` (e.g. :class:`detectkit.viz.VideoWriter`).
    ``close`` always finishes the file, so a run stopped by Ctrl-C keeps a playable video of
    the frames written so far.
    """

    def __init__(self, writer: Any, *, size: int = 8, on_time: Callable[[float], None] | None = None) -> None:
        self.writer = writer
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(size)))
        self._error: BaseException | None = None
        self._on_time = on_time
        self._thread = threading.Thread(target=self._run, name="detectkit-encoder", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Any:
        return getattr(self.writer, "path", None)

    def _run(self) -> None:
        while True:
            frame = self._q.get()
            if frame is _END:
                return
            if self._error is not None:
                continue
            t0 = time.perf_counter()
            try:
                self.writer.write(frame)
            except BaseException as exc:
                self._error = exc
            if self._on_time is not None:
                self._on_time(time.perf_counter() - t0)

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame (the array must not be modified afterwards)."""
        if self._error is not None:
            raise self._error
        self._q.put(frame)

    def close(self) -> Any:
        """Encode what is queued, finish the file and return the writer's ``close()`` result."""
        if self._thread.is_alive():
            self._q.put(_END)
            self._thread.join()
        result = self.writer.close()
        if self._error is not None:
            raise self._error
        return result
