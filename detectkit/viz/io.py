"""Save and show images, write videos — files appear whole or not at all.

:func:`save` encodes in memory and writes through a temporary file in the target folder that
is renamed into place (``os.replace``), so a crash never leaves a truncated picture.
:class:`VideoWriter` writes to a temporary file beside the target and renames it on a clean
``close()``; on an error the partial file is removed.

>>> import numpy as np, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> save(np.zeros((8, 8, 3), np.uint8), folder / "black.png").name
'black.png'
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import cv2
import numpy as np

from detectkit._atomic import temp_beside, write_atomic
from detectkit.errors import InvalidInputError
from detectkit.viz._common import canvas

__all__ = ["VideoWriter", "save", "show"]

_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
_VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def save(
    image: Any,
    path: str | os.PathLike[str],
    *,
    channels: Literal["bgr", "rgb"] = "bgr",
    quality: int = 95,
) -> Path:
    """Write ``image`` to ``path`` (format from the extension: PNG, JPEG, BMP, WebP, TIFF).

    Args:
        image: uint8 ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (alpha kept for PNG/WebP/TIFF).
        path: the target file; missing folders are created.
        channels: channel order of ``image`` (``"rgb"`` arrays are converted for OpenCV).
        quality: JPEG/WebP quality 1-100.

    Returns:
        ``path`` as a ``Path``.
    """
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in _IMAGE_EXTS:
        raise InvalidInputError(f"path must end in one of {sorted(_IMAGE_EXTS)}, got {str(path)!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InvalidInputError(f"quality must be an integer in [1, 100], got {quality!r}")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2:
        arr, order = image, "bgr"
    else:
        arr, order = canvas(image, channels=channels)
    if order == "rgb" and arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    if arr.ndim == 3 and arr.shape[2] == 4 and ext in {".jpg", ".jpeg", ".bmp"}:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    params: list[int] = []
    if ext in {".jpg", ".jpeg"}:
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:
        raise InvalidInputError(f"could not encode image of shape {arr.shape} as {ext}")
    write_atomic(target, buf.tobytes())
    return target


def show(image: Any, *, channels: Literal["bgr", "rgb"] = "bgr", title: str | None = None) -> None:
    """Display ``image`` with matplotlib (inline in notebooks; a no-op window under Agg)."""
    import matplotlib.pyplot as plt

    arr, order = canvas(image, channels=channels)
    if order == "bgr":
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    h, w = arr.shape[:2]
    fig = plt.figure(figsize=(min(16.0, w / 100), min(16.0, w / 100) * h / w))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(arr)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    plt.show()


class VideoWriter:
    """Write BGR frames to a video file atomically (same frame rate and size throughout).

    Args:
        path: target file; ``.mp4``/``.mov``/``.m4v`` use ``mp4v``, ``.avi``/``.mkv`` ``MJPG``.
        fps: frames per second (keep the source's).
        size_wh: ``(width, height)``; every frame must have it.
        codec: a FourCC overriding the default for the extension.

    The codecs store even sizes only: an odd width or height loses its last column/row
    (``encoded_size_wh``), as OpenCV's encoders would do anyway — here explicitly.

    >>> import numpy as np, tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "clip.avi"
    >>> with VideoWriter(target, fps=5, size_wh=(32, 24)) as writer:
    ...     for _ in range(3):
    ...         writer.write(np.zeros((24, 32, 3), np.uint8))
    >>> target.exists(), writer.frames
    (True, 3)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        size_wh: tuple[int, int],
        codec: str | None = None,
    ) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        fourcc = codec or _VIDEO_CODECS.get(ext)
        if fourcc is None or len(fourcc) != 4:
            raise InvalidInputError(
                f"path must end in one of {sorted(_VIDEO_CODECS)} (or pass a 4-letter codec), got {str(path)!r}"
            )
        try:
            fps_value = float(fps)
        except (TypeError, ValueError):
            raise InvalidInputError(f"fps must be a positive number, got {fps!r}") from None
        if not fps_value > 0:
            raise InvalidInputError(f"fps must be a positive number, got {fps!r}")
        w, h = (int(v) for v in size_wh)
        if w <= 0 or h <= 0:
            raise InvalidInputError(f"size_wh must be two positive integers, got {size_wh!r}")
        self.fps, self.size_wh, self.frames = fps_value, (w, h), 0
        self.encoded_size_wh = (w - w % 2, h - h % 2)
        self._tmp = temp_beside(self.path, keep_suffix=True)  # the container comes from the suffix
        code = cv2.VideoWriter_fourcc(*fourcc)  # type: ignore[attr-defined]
        self._writer: Any = cv2.VideoWriter(str(self._tmp), code, fps_value, self.encoded_size_wh)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise InvalidInputError(f"could not open a {fourcc} video writer for {str(path)!r}")

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 BGR frame of the writer's size (grayscale/BGRA are converted)."""
        if self._writer is None:
            raise InvalidInputError("write() after close()")
        arr, _ = canvas(frame, "frame") if frame.ndim != 3 or frame.shape[2] != 3 else (frame, "bgr")
        if arr.dtype != np.uint8:
            raise InvalidInputError(f"frame must have dtype uint8, got {arr.dtype}")
        if arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
        if (arr.shape[1], arr.shape[0]) != self.size_wh:
            raise InvalidInputError(f"frame must have size_wh {self.size_wh}, got {(arr.shape[1], arr.shape[0])}")
        ew, eh = self.encoded_size_wh
        self._writer.write(np.ascontiguousarray(arr[:eh, :ew]))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns the path."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
