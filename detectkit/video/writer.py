"""A video writer whose file survives a hard kill: H.264 in fragmented MP4, written in place.

A plain MP4 keeps its index (the ``moov`` atom) at the end, written when the file is closed: a
process killed with SIGKILL (or by the OOM killer) leaves an unplayable file.
:class:`StreamingVideoWriter` writes a *fragmented* MP4 instead (``movflags
frag_every_frame+empty_moov+default_base_moof``, ``flush_packets 1``): an empty index up front,
then one self-contained fragment per frame, handed to the OS as soon as the next frame is encoded.
At any moment the file on disk plays up to its last complete fragment (a SIGKILL loses the last
encoded frame and those still queued), so it is written directly at its final path (a temporary
name would be lost with the process); ``close`` writes the last fragment. Matroska was tried too:
its muxer holds about a second per cluster, which a kill loses.

Video is H.264 (``libx264``, preset ``ultrafast``, ``tune zerolatency``, CRF 23, 4:2:0), which
browsers, VLC, QuickTime, Windows' players and ffmpeg all play. The BGR -> I420 conversion is
OpenCV's (faster and closer than swscale's default). Measured on the 2-core machine at 1280x720:
about as fast as OpenCV's ``mp4v`` writer, at a similar size (see ``benchmarks/bench_video.py``).
Needs PyAV (``av``, in the ``video`` extra;
:func:`open_video_writer` falls back to :class:`detectkit.viz.VideoWriter` without it).

>>> import numpy as np, tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "clip.mp4"
>>> with StreamingVideoWriter(target, fps=10, size_wh=(64, 48)) as writer:
...     for i in range(12):
...         writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
>>> writer.frames, count_frames(target)
(12, 12)
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from detectkit.errors import InvalidInputError, MissingDependencyError

__all__ = ["STREAMING_SUFFIXES", "StreamingVideoWriter", "count_frames", "has_pyav", "open_video_writer"]

#: Extensions :class:`StreamingVideoWriter` writes (container format for PyAV).
STREAMING_SUFFIXES: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
# an empty index up front, then one fragment (moof + mdat) per frame, each flushed to the OS at once
_FRAGMENTED = "frag_every_frame+empty_moov+default_base_moof"


def has_pyav() -> bool:
    """True when PyAV (``av``) is importable (checked without importing it).

    >>> isinstance(has_pyav(), bool)
    True
    """
    import importlib.util

    return importlib.util.find_spec("av") is not None


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", extra="video", purpose="StreamingVideoWriter") from None
    return av


class StreamingVideoWriter:
    """Write BGR frames as H.264 in a fragmented MP4 that a hard kill leaves playable.

    Args:
        path: target file, ``.mp4``/``.m4v``/``.mov`` (fragmented). Written in place.
        fps: frames per second (keep the source's).
        size_wh: ``(width, height)``; every frame must have it. H.264 4:2:0 stores even sizes
            only: an odd width or height loses its last column/row (``encoded_size_wh``).
        crf: x264 constant rate factor (0-51, lower is better and bigger; 23 is x264's default).
        preset: x264 preset (``"ultrafast"`` keeps encoding cheap beside inference).
        keyframe_seconds: a keyframe this often (seeking granularity; more costs size).
        threads: encoder threads (1 leaves the other core to inference; 0 = x264's choice).

    Raises:
        InvalidInputError: an unsupported extension or a bad ``fps``/``size_wh``/option.
        MissingDependencyError: PyAV is missing (``pip install 'detectkit[video]'``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        size_wh: tuple[int, int],
        crf: int = 23,
        preset: str = "ultrafast",
        keyframe_seconds: float = 2.0,
        threads: int = 1,
    ) -> None:
        self.path = Path(path)
        container_format = STREAMING_SUFFIXES.get(self.path.suffix.lower())
        if container_format is None:
            raise InvalidInputError(
                f"path must end in one of {sorted(STREAMING_SUFFIXES)} for a streaming video, got {str(path)!r}"
            )
        try:
            fps_value = float(fps)
        except (TypeError, ValueError):
            raise InvalidInputError(f"fps must be a positive number, got {fps!r}") from None
        if not 0 < fps_value < 1000:
            raise InvalidInputError(f"fps must be a positive number below 1000, got {fps!r}")
        try:
            w, h = (int(v) for v in size_wh)
        except (TypeError, ValueError):
            raise InvalidInputError(f"size_wh must be two positive integers, got {size_wh!r}") from None
        if w < 2 or h < 2:
            raise InvalidInputError(f"size_wh must be two integers >= 2, got {size_wh!r}")
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise InvalidInputError(f"crf must be an int in 0..51, got {crf!r}")
        if not keyframe_seconds > 0:
            raise InvalidInputError(f"keyframe_seconds must be positive, got {keyframe_seconds!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise InvalidInputError(f"threads must be an int >= 0, got {threads!r}")
        av = _import_av()
        self.fps, self.size_wh, self.frames = fps_value, (w, h), 0
        self.encoded_size_wh = (w - w % 2, h - h % 2)
        rate = Fraction(fps_value).limit_denominator(1001)
        options = {"movflags": _FRAGMENTED, "flush_packets": "1"}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._container: Any = av.open(str(self.path), mode="w", format=container_format, options=options)
        except (OSError, av.FFmpegError) as exc:
            raise InvalidInputError(f"cannot write the video {str(path)!r}: {exc}") from None
        try:
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height = self.encoded_size_wh
            stream.pix_fmt = "yuv420p"
            stream.time_base = 1 / rate
            stream.codec_context.gop_size = max(1, round(fps_value * float(keyframe_seconds)))
            stream.codec_context.thread_count = threads
            stream.options = {"preset": str(preset), "tune": "zerolatency", "crf": str(crf)}
            # cv2's BGR->I420 is BT.601 limited range: say so, so players convert back alike
            stream.codec_context.color_range = 1  # MPEG (limited)
            stream.codec_context.colorspace = 6  # SMPTE 170M (BT.601)
            stream.codec_context.color_primaries = 6
            stream.codec_context.color_trc = 6
        except Exception as exc:
            self._container.close()
            self.path.unlink(missing_ok=True)
            raise InvalidInputError(f"cannot set up H.264 encoding for {str(path)!r}: {exc}") from None
        self._stream = stream
        self._av = av

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 BGR frame (grayscale/BGRA are converted) of the writer's size."""
        import cv2

        if self._container is None:
            raise InvalidInputError("write() after close()")
        arr = np.asarray(frame)
        if arr.dtype != np.uint8:
            raise InvalidInputError(f"frame must have dtype uint8, got {arr.dtype}")
        if arr.ndim == 2:
            arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
        elif arr.ndim == 3 and arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InvalidInputError(f"frame must be (H, W, 3) BGR, got shape {arr.shape}")
        if (arr.shape[1], arr.shape[0]) != self.size_wh:
            raise InvalidInputError(f"frame must have size_wh {self.size_wh}, got {(arr.shape[1], arr.shape[0])}")
        ew, eh = self.encoded_size_wh
        yuv = cv2.cvtColor(np.ascontiguousarray(arr[:eh, :ew]), cv2.COLOR_BGR2YUV_I420)
        picture = self._av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        picture.pts = self.frames
        self._container.mux(self._stream.encode(picture))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder and the last fragment; returns the path (idempotent)."""
        if self._container is not None:
            try:
                self._container.mux(self._stream.encode(None))
            finally:
                self._container.close()
                self._container = None
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the file."""
        if self._container is not None:
            with contextlib.suppress(Exception):  # the file is deleted anyway
                self._container.close()
            self._container = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StreamingVideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()


def open_video_writer(path: str | os.PathLike[str], *, fps: float, size_wh: tuple[int, int]) -> Any:
    """The writer for annotated videos: :class:`StreamingVideoWriter` when PyAV is installed and
    the extension allows it, else :class:`detectkit.viz.VideoWriter` (OpenCV, atomic on close: a
    hard kill leaves no video).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> writer = open_video_writer(folder / "a.avi", fps=5, size_wh=(32, 24))
    >>> type(writer).__name__
    'VideoWriter'
    >>> writer.abort()
    """
    if Path(path).suffix.lower() in STREAMING_SUFFIXES and has_pyav():
        return StreamingVideoWriter(path, fps=fps, size_wh=size_wh)
    from detectkit.viz import VideoWriter

    return VideoWriter(path, fps=fps, size_wh=size_wh)


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames decodable from a video file (0 when it cannot be opened); decodes every frame.

    Works on fragmented MP4, whose header has no frame count.
    """
    import cv2

    cap = cv2.VideoCapture(os.fspath(path))
    try:
        if not cap.isOpened():
            return 0
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()
