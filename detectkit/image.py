"""Image input and pre-processing: loading, lazy sources, letterbox, normalisation, contrast.

Everything here works on numpy arrays in OpenCV's convention: ``(H, W, 3)`` ``uint8`` **BGR**.

* :func:`load_image` turns a path, bytes, a numpy array or a PIL image into that array; EXIF
  orientation is honoured; grayscale, alpha and 16-bit inputs become 8-bit BGR; a missing,
  empty, corrupt or non-image file raises :class:`~detectkit.errors.InvalidInputError` naming it.
* :func:`image_size_wh` reads ``(width, height)`` from the file header only (orientation applied).
* :func:`iter_images` walks a source lazily — one image, a list, a folder (sorted, optional
  recursion), a video file (frame index and timestamp) or a camera index — and yields one
  :class:`Frame` per image. A bad item yields a ``Frame`` carrying the error instead of stopping
  the walk, so a folder with a corrupt file is processed to the end.
* Pre-processing as small pure functions: :func:`letterbox` (Ultralytics-compatible),
  :func:`resize`, :func:`normalize`, :func:`clahe`, :func:`adjust_brightness_contrast` and
  :func:`standardize_intensity`. None of them changes its input.

>>> import numpy as np
>>> image = load_image(np.zeros((48, 64), dtype=np.uint8))   # grayscale -> BGR
>>> image.shape, image.dtype
((48, 64, 3), dtype('uint8'))
>>> boxed = letterbox(image, 32)
>>> boxed.image.shape, boxed.ratio_wh, boxed.pad_wh
((32, 32, 3), (0.5, 0.5), (0, 4))
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

import numpy as np

from detectkit._checks import check_image_size_wh
from detectkit._limits import check_encoded, check_pixels
from detectkit.errors import DetectkitError, InvalidInputError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "FrameInfo",
    "ImageSource",
    "Letterboxed",
    "adjust_brightness_contrast",
    "clahe",
    "count_images",
    "image_size_wh",
    "is_video_path",
    "iter_images",
    "letterbox",
    "list_images",
    "load_image",
    "normalize",
    "resize",
    "scale_boxes_from_letterbox",
    "standardize_intensity",
]

#: File extensions treated as images when walking folders (lower case, with the dot).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm", ".jp2", ".pbm", ".pgm", ".ppm"}
)
#: File extensions treated as videos.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".asf", ".gif", ".ts"}
)

#: Anything :func:`load_image` accepts.
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | PILImage.Image"


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _array_to_bgr(arr: np.ndarray, name: str, *, rgb: bool = False) -> np.ndarray:
    """Turn a decoded array into a fresh contiguous ``(H, W, 3)`` uint8 BGR array."""
    import cv2

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidInputError(
            f"{name} must be an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{name} must be a non-empty image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = (arr >> 8).astype(np.uint8)  # the same mapping OpenCV uses for 16-bit files
    elif arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() > 255:
            raise InvalidInputError(f"{name} with integer dtype {arr.dtype} must hold values in [0, 255]")
        out = arr.astype(np.uint8)
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
            raise InvalidInputError(f"{name} with float dtype {arr.dtype} must hold finite values in [0, 1]")
        out = np.rint(arr * 255.0).astype(np.uint8)
    elif arr.dtype == bool:
        out = arr.astype(np.uint8) * 255
    else:
        raise InvalidInputError(f"{name} must have a numeric dtype, got {arr.dtype}")
    if out.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(out, cv2.COLOR_GRAY2BGR))
    if out.shape[2] == 4:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
        return np.ascontiguousarray(out)
    if rgb:
        return np.ascontiguousarray(out[:, :, ::-1])
    return np.array(out, dtype=np.uint8, order="C", copy=True)


def _decode_bytes(data: bytes | bytearray | memoryview | np.ndarray, name: str) -> np.ndarray:
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    if buf.size == 0:
        raise InvalidInputError(f"{name} is empty (0 bytes), expected an image")
    check_encoded(buf, name)  # decompression-bomb guard, from the header
    image = None
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is not None and image.size:
        return np.ascontiguousarray(image)
    # OpenCV cannot read some formats (e.g. GIF, some TIFF flavours): try Pillow.
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(buf.tobytes())) as pil:
            return _pil_to_bgr(pil, name)
    except Exception as exc:  # PIL (and patches of it, e.g. Ultralytics' HEIF hook) raise many kinds
        detail = f": {exc}" if not isinstance(exc, ImportError) else ""
        raise InvalidInputError(f"{name} is not a readable image (corrupt or unsupported format){detail}") from None


def _pil_to_bgr(pil: PILImage.Image, name: str) -> np.ndarray:
    from PIL import ImageOps

    pil = ImageOps.exif_transpose(pil) or pil
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _array_to_bgr(np.asarray(pil, dtype=np.uint16), name)
    if pil.mode in ("I", "F"):
        arr = np.asarray(pil)
        if arr.dtype.kind == "f":
            return _array_to_bgr(np.clip(arr, 0.0, 1.0) if arr.max() <= 1.0 else np.clip(arr, 0, 255) / 255.0, name)
        return _array_to_bgr((np.clip(arr, 0, 65535).astype(np.uint16)), name)
    if pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    return _array_to_bgr(np.asarray(pil), name, rgb=pil.mode == "RGB")


def _display_name(source: Any, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"image ({type(source).__name__})"


def load_image(source: ImageSource, *, name: str | None = None) -> np.ndarray:
    """Load one image as a fresh ``(H, W, 3)`` ``uint8`` BGR array.

    Args:
        source: a file path (``str``/``Path``), encoded file bytes, a numpy array or a PIL image.
            Arrays follow OpenCV's convention: ``(H, W)`` grayscale, ``(H, W, 3)`` BGR or
            ``(H, W, 4)`` BGRA; ``uint8``, ``uint16`` (scaled down like OpenCV does), or float in
            ``[0, 1]``. PIL images are RGB(A)/L/16-bit and are converted to BGR.
        name: how errors refer to the image (defaults to the path or the type).

    Returns:
        A new contiguous ``(H, W, 3)`` uint8 BGR array (never a view of ``source``). EXIF
        orientation of files and PIL images is applied.

    Raises:
        InvalidInputError: the file is missing, empty, corrupt or not an image, or the array has
            an unsupported shape/dtype. The message names the file.

    >>> import numpy as np
    >>> rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    >>> load_image(rgba).shape
    (2, 3, 3)
    >>> load_image("no/such/file.jpg")
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: no/such/file.jpg does not exist
    """
    label = _display_name(source, name)
    if isinstance(source, np.ndarray):
        return _array_to_bgr(source, label if name is not None else "image")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_bytes(source, label if name is not None else "image bytes")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InvalidInputError(f"{label} does not exist")
        if path.is_dir():
            raise InvalidInputError(f"{label} is a folder, expected an image file")
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise InvalidInputError(f"{label} could not be read: {exc}") from None
        return _decode_bytes(data, label)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(source, Image.Image):
        return _pil_to_bgr(source, label if name is not None else "PIL image")
    if hasattr(source, "detach") and hasattr(source, "cpu"):
        raise InvalidInputError(
            "image must be a path, bytes, numpy array or PIL image, got a tensor; "
            "convert it with tensor.permute(1, 2, 0).cpu().numpy() (HWC, BGR)"
        )
    raise InvalidInputError(f"image must be a path, bytes, numpy array or PIL image, got {type(source).__name__}")


def image_size_wh(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read ``(width, height)`` from the file header only (the pixels are not decoded).

    EXIF orientation is applied, so the result matches ``load_image(path).shape[1::-1]``.
    JPEG headers are parsed directly (about 10x faster than opening the file with PIL);
    other formats, and anything unusual in a JPEG header, go through PIL.

    Raises:
        InvalidInputError: the file is missing, empty or not an image.

    >>> image_size_wh("missing.png")
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: missing.png does not exist
    """
    label = os.fspath(path)
    try:
        info = os.stat(label)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidInputError(f"{label} does not exist") from None
    if not stat.S_ISREG(info.st_mode):  # a folder, a pipe, a device: never opened
        raise InvalidInputError(f"{label} is not a file")
    if info.st_size == 0:
        raise InvalidInputError(f"{label} is empty (0 bytes), expected an image")
    try:
        with open(label, "rb") as fh:
            head = fh.read(4096)  # most JPEG headers; EXIF or ICC data can need up to 64 KB
            size = _header_size_wh(head)
            if size is None and len(head) == 4096 and head.startswith(b"\xff\xd8"):
                head += fh.read(_HEADER_BYTES - 4096)
                size = _header_size_wh(head)
    except OSError as exc:
        raise InvalidInputError(f"{label} is not a readable image: {exc}") from None
    if size is not None:
        return check_pixels(size, label)
    check_encoded(head, label)  # PNG/GIF/BMP/WebP sizes from the header, before Pillow opens it
    from PIL import Image

    try:
        with Image.open(label) as im:
            width, height = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # broken EXIF blocks are ignored, like the decoders do
                orientation = 1
    except Exception as exc:  # PIL (and patches of it, e.g. Ultralytics' HEIF hook) raise many kinds
        raise InvalidInputError(f"{label} is not a readable image: {exc}") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return check_pixels((int(width), int(height)), label)


_HEADER_BYTES = 1 << 16  # a JPEG's EXIF segment is at most 64 KB; a longer header goes to PIL
# JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic)
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _header_size_wh(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` (EXIF-oriented) from the first bytes of a JPEG, or ``None`` when
    the file is of another kind or anything is unusual (then PIL decides).

    Only JPEG: its EXIF block, like everything PIL reads when opening one, comes before the
    scan data. A PNG's eXIf chunk may follow the image data, where only a full read finds it.

    >>> sof = b"\\xff\\xc0\\x00\\x11\\x08" + (480).to_bytes(2, "big") + (640).to_bytes(2, "big") + bytes(10)
    >>> _header_size_wh(b"\\xff\\xd8" + sof + b"\\xff\\xda")
    (640, 480)
    """
    if not head.startswith(b"\xff\xd8"):
        return None
    i, size, orientation, exif_segments = 2, None, 1, 0
    n = len(head)
    while i + 2 <= n:  # the markers up to the start of scan
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker == 0xDA:  # start of scan: every header marker has been seen
            if size is None:
                return None
            width, height = size
            return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if i + 4 > n or length < 2 or i + 2 + length > n:
            return None
        segment = head[i + 4 : i + 2 + length]
        if marker in _SOF_MARKERS:
            if size is not None or len(segment) < 5:
                return None
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            if not (width and height):  # height 0 (DNL) and other oddities: PIL
                return None
            size = (width, height)
        elif marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            exif_segments += 1
            found = _exif_orientation(segment[6:])
            if found is None or exif_segments > 1:
                return None
            orientation = found
        i += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation tag (0x0112) of an EXIF block's first IFD (1 when absent), or ``None``
    when the block is not plain enough to read here."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"
    if int.from_bytes(tiff[2:4], order) != 42:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[ifd : ifd + 2], order)
    if ifd + 2 + 12 * count > len(tiff):
        return None
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        if int.from_bytes(entry[0:2], order) == 0x0112:
            if int.from_bytes(entry[2:4], order) != 3 or int.from_bytes(entry[4:8], order) != 1:
                return None  # not one SHORT
            return int.from_bytes(entry[8:10], order)
    return 1


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
            image = _array_to_bgr(frame, label)
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
            label = _display_name(item, None)
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


# --------------------------------------------------------------------------------------------
# pre-processing
# --------------------------------------------------------------------------------------------
class Letterboxed(NamedTuple):
    """Result of :func:`letterbox`.

    Attributes:
        image: the resized and padded ``(H', W', C)`` image (a new array).
        ratio_wh: scale factors ``(new_w / w, new_h / h)`` of the resized content.
        pad_wh: pixels added on the left and on the top ``(left, top)``.
    """

    image: np.ndarray
    ratio_wh: tuple[float, float]
    pad_wh: tuple[int, int]


def _size_hw(new_shape: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(new_shape, (int, np.integer)) and not isinstance(new_shape, bool):
        if new_shape <= 0:
            raise InvalidInputError(f"{name} must be positive, got {new_shape}")
        return int(new_shape), int(new_shape)
    try:
        h, w = new_shape  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be an int or an (height, width) pair, got {new_shape!r}") from None
    w_, h_ = check_image_size_wh((w, h), name)
    return h_, w_


def _check_image(image: Any, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array (H, W[, C]), got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"{name} must have shape (H, W) or (H, W, C) with H, W > 0, got {image.shape}")
    return image


def letterbox(
    image: np.ndarray,
    new_shape: int | tuple[int, int] = 640,
    *,
    auto: bool = False,
    stride: int = 32,
    scaleup: bool = True,
    center: bool = True,
    color: int = 114,
) -> Letterboxed:
    """Resize keeping the aspect ratio, then pad — exactly like Ultralytics' ``LetterBox``.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array (not modified).
        new_shape: target size, an int (square) or ``(height, width)``.
        auto: pad only up to the next multiple of ``stride`` (the "minimum rectangle" that
            Ultralytics' PyTorch predict uses) instead of up to ``new_shape``.
        stride: the model stride, used with ``auto``.
        scaleup: allow enlarging small images (False only shrinks).
        center: split the padding on both sides (False pads right/bottom only).
        color: the padding value.

    Returns:
        :class:`Letterboxed` ``(image, ratio_wh, pad_wh)``; map boxes back with
        :func:`scale_boxes_from_letterbox`.

    >>> import numpy as np
    >>> out = letterbox(np.zeros((1080, 810, 3), np.uint8), 640, auto=True)
    >>> out.image.shape, out.pad_wh
    ((640, 480, 3), (0, 0))
    """
    import cv2

    img = _check_image(image)
    new_h, new_w = _size_hw(new_shape, "new_shape")
    h, w = img.shape[:2]
    r = min(new_h / h, new_w / w)
    if not scaleup:
        r = min(r, 1.0)
    unpad_w, unpad_h = max(round(w * r), 1), max(round(h * r), 1)
    dw: float = new_w - unpad_w
    dh: float = new_h - unpad_h
    if auto:
        dw, dh = float(np.mod(dw, stride)), float(np.mod(dh, stride))
    if center:
        dw /= 2
        dh /= 2
    top, bottom = (round(dh - 0.1) if center else 0), round(dh + 0.1)
    left, right = (round(dw - 0.1) if center else 0), round(dw + 0.1)
    out = img
    if (w, h) != (unpad_w, unpad_h):
        out = cv2.resize(img, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2:
        out = out[:, :, None]
    channels = out.shape[2]
    if channels in (1, 3, 4) and out.dtype == np.uint8:
        padded = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 4)
        if padded.ndim == 2:
            padded = padded[:, :, None]
    else:
        padded = np.full((unpad_h + top + bottom, unpad_w + left + right, channels), color, dtype=out.dtype)
        padded[top : top + unpad_h, left : left + unpad_w] = out
    if image.ndim == 2:
        padded = padded[:, :, 0]
    if padded is image:
        padded = padded.copy()
    return Letterboxed(padded, (unpad_w / w, unpad_h / h), (int(left), int(top)))


def scale_boxes_from_letterbox(
    xyxy: np.ndarray,
    ratio_wh: tuple[float, float],
    pad_wh: tuple[int, int],
    image_size_wh: tuple[int, int],
) -> np.ndarray:
    """Map ``(N, 4)`` xyxy boxes from letterboxed coordinates back to the original image, clipped.

    >>> import numpy as np
    >>> scale_boxes_from_letterbox(np.array([[10.0, 14.0, 20.0, 24.0]]), (0.5, 0.5), (0, 4), (64, 48)).tolist()
    [[20.0, 20.0, 40.0, 40.0]]
    """
    boxes = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 4)
    w, h = image_size_wh
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_wh[0]) / ratio_wh[0]
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_wh[1]) / ratio_wh[1]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes


_INTERPOLATIONS = ("nearest", "linear", "area", "cubic", "lanczos")


def resize(
    image: np.ndarray,
    size_wh: tuple[int, int],
    *,
    keep_aspect: bool = False,
    interpolation: str = "linear",
) -> np.ndarray:
    """Resize to ``size_wh = (width, height)``; with ``keep_aspect`` fit inside it instead.

    >>> import numpy as np
    >>> resize(np.zeros((100, 200, 3), np.uint8), (50, 50)).shape
    (50, 50, 3)
    >>> resize(np.zeros((100, 200, 3), np.uint8), (50, 50), keep_aspect=True).shape
    (25, 50, 3)
    """
    import cv2

    from detectkit._checks import check_choice

    img = _check_image(image)
    w, h = check_image_size_wh(size_wh, "size_wh")
    check_choice(interpolation, "interpolation", _INTERPOLATIONS)
    flag = {
        "nearest": cv2.INTER_NEAREST,
        "linear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "cubic": cv2.INTER_CUBIC,
        "lanczos": cv2.INTER_LANCZOS4,
    }[interpolation]
    if keep_aspect:
        r = min(w / img.shape[1], h / img.shape[0])
        w, h = max(round(img.shape[1] * r), 1), max(round(img.shape[0] * r), 1)
    if (w, h) == (img.shape[1], img.shape[0]):
        return img.copy()
    out: np.ndarray = cv2.resize(img, (w, h), interpolation=flag)
    return out


def normalize(
    image: np.ndarray,
    *,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    scale: float = 1.0 / 255.0,
    to_rgb: bool = True,
    layout: str = "chw",
) -> np.ndarray:
    """Turn a uint8 BGR image into a float32 model input: ``(x * scale - mean) / std``.

    Args:
        image: ``(H, W, 3)`` array (BGR).
        mean, std: per-channel statistics, in the output channel order (RGB when ``to_rgb``).
        scale: applied first (1/255 maps uint8 to [0, 1]).
        to_rgb: reorder BGR -> RGB.
        layout: ``"chw"`` (PyTorch/ONNX) or ``"hwc"``.

    Returns:
        A new contiguous float32 array, ``(3, H, W)`` or ``(H, W, 3)``.

    >>> import numpy as np
    >>> x = normalize(np.full((2, 2, 3), 255, np.uint8), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> x.shape, float(x.max())
    ((3, 2, 2), 1.0)
    """
    from detectkit._checks import as_vector, check_choice

    img = _check_image(image)
    check_choice(layout, "layout", ("chw", "hwc"))
    if img.ndim != 3 or img.shape[2] != 3:
        raise InvalidInputError(f"image must have shape (H, W, 3), got {img.shape}")
    m = as_vector(mean, "mean", length=3).astype(np.float32)
    s = as_vector(std, "std", length=3).astype(np.float32)
    if (s == 0).any():
        raise InvalidInputError(f"std must be non-zero, got {s.tolist()}")
    x = img[:, :, ::-1] if to_rgb else img
    if layout == "chw":  # reorder the (small) uint8 data first, then convert in place
        out = np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)
        m, s = m[:, None, None], s[:, None, None]
    else:
        out = np.ascontiguousarray(x).astype(np.float32)
    if scale == 1.0 / 255.0:
        out /= np.float32(255.0)  # bit-identical to Ultralytics' ``im / 255``
    elif scale != 1.0:
        out *= np.float32(scale)
    if m.any():
        out -= m
    if (s != 1).any():
        out /= s
    return out


def clahe(
    image: np.ndarray,
    *,
    clip_limit: float = 2.0,
    tile_grid_size: tuple[int, int] = (8, 8),
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation on the lightness channel (LAB).

    Standardises local contrast without shifting colours. ``image`` is uint8 ``(H, W)`` or
    ``(H, W, 3)`` BGR; returns a new array of the same shape.

    >>> import numpy as np
    >>> clahe(np.zeros((16, 16, 3), np.uint8)).shape
    (16, 16, 3)
    """
    import cv2

    img = _check_image(image)
    if img.dtype != np.uint8:
        raise InvalidInputError(f"image must be uint8, got {img.dtype}")
    if clip_limit <= 0:
        raise InvalidInputError(f"clip_limit must be > 0, got {clip_limit}")
    tiles = check_image_size_wh(tile_grid_size, "tile_grid_size")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tiles)
    if img.ndim == 2:
        out: np.ndarray = op.apply(img)
        return out
    if img.shape[2] != 3:
        raise InvalidInputError(f"image must have shape (H, W) or (H, W, 3), got {img.shape}")
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = op.apply(np.ascontiguousarray(lab[:, :, 0]))
    result: np.ndarray = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return result


def adjust_brightness_contrast(image: np.ndarray, *, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """``clip(image * contrast + brightness, 0, 255)`` as a new uint8 array.

    >>> import numpy as np
    >>> adjust_brightness_contrast(np.full((1, 1, 3), 100, np.uint8), brightness=10, contrast=2)[0, 0].tolist()
    [210, 210, 210]
    """
    img = _check_image(image)
    if contrast < 0:
        raise InvalidInputError(f"contrast must be >= 0, got {contrast}")
    out: np.ndarray = np.clip(img.astype(np.float32) * np.float32(contrast) + np.float32(brightness), 0, 255)
    return out.round().astype(np.uint8)


def standardize_intensity(image: np.ndarray, *, target_mean: float = 127.5, target_std: float = 50.0) -> np.ndarray:
    """Global brightness/contrast standardisation: shift and scale so the grey level has the target mean and std.

    The same gain and offset apply to every channel, so colours keep their balance. A flat
    image (std 0) is only shifted.

    >>> import numpy as np
    >>> out = standardize_intensity(np.array([[[0, 0, 0], [100, 100, 100]]], np.uint8), target_std=25)
    >>> out[:, :, 0].tolist()
    [[102, 152]]
    """
    img = _check_image(image)
    if target_std < 0:
        raise InvalidInputError(f"target_std must be >= 0, got {target_std}")
    data = img.astype(np.float32)
    grey = data.mean(axis=2) if data.ndim == 3 else data
    mean, std = float(grey.mean()), float(grey.std())
    gain = target_std / std if std > 1e-6 else 1.0
    return adjust_brightness_contrast(img, brightness=target_mean - mean * gain, contrast=gain)
