"""Lazy image sources: one image, lists, folders, videos and cameras, walked frame by frame."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from detectkit.errors import DetectkitError, InvalidInputError

if TYPE_CHECKING:
    pass

from detectkit.image.decode import array_to_bgr, display_name, load_image
from detectkit.image.extensions import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "FrameInfo",
    "count_images",
    "is_video_path",
    "iter_images",
    "list_images",
]

#: File extensions treated as images when walking folders (lower case, with the dot).


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameInfo:
    """Where one image of a source came from.

    Attributes:
        source: a display name (the file path, ``"video.mp4"``, ``"camera:0"``, ``"image (ndarray)"``).
        index: running index of the item in the whole walk (0-based, errors included).
        path: the file the image was read from, or None for in-memory images and cameras.
        frame_index: the frame number within a video or camera stream, else None.
        timestamp: seconds from the start of a video (``frame_index / fps``) or since a camera
            was opened, else None.
        image_size_wh: ``(width, height)`` of the loaded image, None when loading failed.
    """

    source: str
    index: int
    path: Path | None = None
    frame_index: int | None = None
    timestamp: float | None = None
    image_size_wh: tuple[int, int] | None = None


class Frame(NamedTuple):
    """One item of :func:`iter_images`: the image and where it came from, or the error.

    Exactly one of ``image`` and ``error`` is None.
    """

    info: FrameInfo
    image: np.ndarray | None
    error: DetectkitError | None = None


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """True when the file extension is a known video extension.

    >>> is_video_path("clip.MP4"), is_video_path("a.jpg")
    (True, False)
    """
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def list_images(folder: str | os.PathLike[str], *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` with an image extension, sorted by path.

    Hidden files (names starting with ``.``) are skipped. Only the names are listed; nothing is
    decoded.

    Raises:
        InvalidInputError: ``folder`` is not an existing folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"folder {os.fspath(folder)} does not exist or is not a folder")
    walker = root.rglob("*") if recursive else root.iterdir()
    found = [
        p
        for p in walker
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.name.startswith(".")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])
    ]
    return sorted(found)


def _video_frame_count(path: Path) -> int | None:
    import cv2

    cap = cv2.VideoCapture(os.fspath(path))
    try:
        if not cap.isOpened():
            return None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return n if n > 0 else None
    finally:
        cap.release()


def _expand(source: Any, recursive: bool) -> Iterator[Any]:
    """Flatten a source into items: Paths (image or video), ints (camera) or in-memory images."""
    if isinstance(source, (list, tuple)):
        for item in source:
            yield from _expand(item, recursive)
        return
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            yield from list_images(path, recursive=recursive)
            return
        yield path
        return
    yield source


def count_images(source: Any, *, recursive: bool = False, vid_stride: int = 1) -> int | None:
    """How many frames :func:`iter_images` will yield, or None when unknown (cameras, broken videos).

    Cheap: lists folders and reads video headers, decodes nothing.

    >>> import numpy as np
    >>> count_images([np.zeros((2, 2, 3), np.uint8)] * 3)
    3
    """
    total = 0
    for item in _expand(source, recursive):
        if isinstance(item, int):  # a camera (bool is an int too)
            return None
        if isinstance(item, Path) and is_video_path(item):
            n = _video_frame_count(item)
            if n is None:
                return None
            total += -(-n // max(vid_stride, 1))
        else:
            total += 1
    return total


def _iter_video(path: Path | int, start_index: int, vid_stride: int) -> Iterator[Frame]:
    import cv2

    is_camera = isinstance(path, int)
    file_path = None if isinstance(path, int) else Path(path)
    label = f"camera:{path}" if file_path is None else os.fspath(file_path)
    cap = cv2.VideoCapture(path if file_path is None else os.fspath(file_path))
    index = start_index
    if not cap.isOpened():
        cap.release()
        what = "camera" if is_camera else "video"
        err = InvalidInputError(f"{label}: the {what} could not be opened")
        yield Frame(FrameInfo(source=label, index=index, path=file_path), None, err)
        return
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        started = time.monotonic()
        frame_no = -1
        while True:
            frame_no += 1
            if frame_no % vid_stride:
                if not cap.grab():
                    break
                continue
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if is_camera:
                timestamp: float | None = time.monotonic() - started
            else:
                timestamp = frame_no / fps if fps > 0 else None
            image = array_to_bgr(frame, label)
            info = FrameInfo(
                source=label,
                index=index,
                path=file_path,
                frame_index=frame_no,
                timestamp=timestamp,
                image_size_wh=(image.shape[1], image.shape[0]),
            )
            index += 1
            yield Frame(info, image)
    finally:
        cap.release()


def iter_images(
    source: Any,
    *,
    recursive: bool = False,
    vid_stride: int = 1,
    on_error: Callable[[FrameInfo, DetectkitError], None] | None = None,
) -> Iterator[Frame]:
    """Walk a source lazily, yielding one :class:`Frame` per image.

    Args:
        source: one of

            * an image (path, bytes, numpy array, PIL image);
            * a folder: its image files sorted by path (``recursive`` descends into sub-folders);
            * a video file (by extension): every ``vid_stride``-th frame, with frame index and
              timestamp;
            * a camera index (``int``): frames until the camera stops;
            * a list/tuple of any of these, walked in order.

        recursive: descend into sub-folders of folders.
        vid_stride: keep every n-th video/camera frame (1 = all).
        on_error: called with ``(info, error)`` for an item that could not be loaded; such items
            are then skipped. Without it, they are yielded as ``Frame(info, None, error)``.

    Images are decoded one at a time, so a huge folder or a long video never sits in memory.

    Raises:
        InvalidInputError: ``vid_stride`` is not a positive int, or a folder does not exist.

    >>> import numpy as np
    >>> frames = list(iter_images([np.zeros((4, 6, 3), np.uint8), "missing.jpg"]))
    >>> [(f.info.index, f.info.image_size_wh, f.error is None) for f in frames]
    [(0, (6, 4), True), (1, None, False)]
    """
    if isinstance(vid_stride, bool) or not isinstance(vid_stride, int) or vid_stride < 1:
        raise InvalidInputError(f"vid_stride must be a positive int, got {vid_stride!r}")
    return _iter_images(source, recursive, vid_stride, on_error)


def _iter_images(
    source: Any,
    recursive: bool,
    vid_stride: int,
    on_error: Callable[[FrameInfo, DetectkitError], None] | None,
) -> Iterator[Frame]:
    index = 0
    for item in _expand(source, recursive):
        frames: Iterable[Frame]
        is_camera = isinstance(item, int) and not isinstance(item, bool)
        if is_camera or (isinstance(item, Path) and is_video_path(item) and item.is_file()):
            frames = _iter_video(item, index, vid_stride)
        else:
            path = item if isinstance(item, Path) else None
            label = display_name(item, None)
            try:
                image = load_image(item)
            except DetectkitError as exc:
                frames = [Frame(FrameInfo(source=label, index=index, path=path), None, exc)]
            else:
                size = (int(image.shape[1]), int(image.shape[0]))
                frames = [Frame(FrameInfo(source=label, index=index, path=path, image_size_wh=size), image)]
        for frame in frames:
            index = frame.info.index + 1
            if frame.error is not None and on_error is not None:
                on_error(frame.info, frame.error)
                continue
            yield frame
