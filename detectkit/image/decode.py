"""Decoding: any image source -> ``(H, W, 3)`` uint8 BGR, and image sizes from file headers."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from detectkit._limits import check_encoded, check_pixels, pil_open
from detectkit.errors import InvalidInputError
from detectkit.image import _header

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ImageSource", "image_size_wh", "load_image"]
#: Anything :func:`load_image` accepts.
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | PILImage.Image"


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def array_to_bgr(arr: np.ndarray, name: str, *, rgb: bool = False) -> np.ndarray:
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

    try:
        with pil_open(io.BytesIO(buf.tobytes())) as pil:
            return _pil_to_bgr(pil, name)
    except Exception as exc:  # PIL raises many kinds
        # PIL names its stream ("cannot identify image file <_io.BytesIO object at 0x...>"): drop it
        text = re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", str(exc)).strip()
        detail = f": {text}" if text and not isinstance(exc, ImportError) else ""
        raise InvalidInputError(f"{name} is not a readable image (corrupt or unsupported format){detail}") from None


def _pil_to_bgr(pil: PILImage.Image, name: str) -> np.ndarray:
    from PIL import ImageOps

    pil = ImageOps.exif_transpose(pil) or pil
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return array_to_bgr(np.asarray(pil, dtype=np.uint16), name)
    if pil.mode in ("I", "F"):
        arr = np.asarray(pil)
        if arr.dtype.kind == "f":
            return array_to_bgr(np.clip(arr, 0.0, 1.0) if arr.max() <= 1.0 else np.clip(arr, 0, 255) / 255.0, name)
        return array_to_bgr((np.clip(arr, 0, 65535).astype(np.uint16)), name)
    if pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    return array_to_bgr(np.asarray(pil), name, rgb=pil.mode == "RGB")


def display_name(source: Any, name: str | None) -> str:
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
    label = display_name(source, name)
    if isinstance(source, np.ndarray):
        return array_to_bgr(source, label if name is not None else "image")
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


def jpeg_header_size_wh(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a JPEG from its first bytes (EXIF orientation applied), or None where
    the direct header parse declines (not a JPEG, an unusual header, too few bytes): then ask PIL.

    For callers holding encoded bytes (an upload) rather than a file; ``image_size_wh`` is the
    file-path version with the PIL fallback built in.

    >>> jpeg_header_size_wh(b"not a jpeg") is None
    True
    """
    return _header.jpeg_size_wh(head)


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
            size, head = _header.read_size_wh(fh)  # the fast path: JPEG headers; None = ask PIL
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
