"""Decompression-bomb guard: refuse images with too many pixels before anything decodes them.

A 50 KB PNG or JPEG can declare 50,000 x 50,000 pixels; decoding it would allocate 7.5 GB. Every
image file and byte string that :func:`detectkit.image.load_image` decodes, and every size that
:func:`detectkit.image.image_size_wh` reads, is first checked against a pixel limit read from the
file header alone:

* ``$DETECTKIT_MAX_PIXELS`` (an integer; ``0`` turns the check off), default
  :data:`DEFAULT_MAX_PIXELS` = 178,956,970 pixels, Pillow's error level
  (``2 * PIL.Image.MAX_IMAGE_PIXELS``), e.g. 16,000 x 11,000;
* the header is read by a small parser per format (PNG, JPEG, GIF, BMP, WebP) and, for other
  formats, by Pillow's lazy ``Image.open`` (it reads the header, not the pixels). A header that
  no parser understands is left to the decoders, which then fail with their own error.

Over the limit, :class:`~detectkit.errors.ImageTooLargeError` names the file, its size and how to
raise the limit.

>>> import struct, zlib
>>> ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
>>> crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
>>> png = b"\\x89PNG\\r\\n\\x1a\\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc
>>> sniff_size_wh(png)
(50000, 50000)
>>> try:
...     check_pixels((50_000, 50_000), "bomb.png")
... except ImageTooLargeError as exc:
...     print(str(exc)[:72])
bomb.png is 50000x50000 = 2,500,000,000 pixels, over the limit of 178,95
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any

from detectkit.errors import ImageTooLargeError, InvalidInputError

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "check_encoded", "check_pixels", "max_pixels", "sniff_size_wh"]

MAX_PIXELS_ENV = "DETECTKIT_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 178_956_970  # 2 * PIL.Image.MAX_IMAGE_PIXELS: Pillow raises DecompressionBombError above it


def max_pixels() -> int | None:
    """The current limit: ``$DETECTKIT_MAX_PIXELS`` or the default; None when set to 0 (no limit).

    >>> max_pixels()
    178956970
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    if not raw.isdigit():
        raise InvalidInputError(f"{MAX_PIXELS_ENV} must be a non-negative integer (0 = no limit), got {raw!r}")
    value = int(raw)
    return value or None


def check_pixels(size_wh: tuple[int, int], name: str) -> tuple[int, int]:
    """Return ``size_wh`` unchanged, or raise :class:`ImageTooLargeError` when it is over the limit."""
    limit = max_pixels()
    w, h = size_wh
    if limit is not None and w * h > limit:
        raise ImageTooLargeError(
            f"{name} is {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} (set {MAX_PIXELS_ENV} "
            "to a larger number, or 0 for no limit, if you trust this file)"
        )
    return size_wh


def _png(buf: bytes) -> tuple[int, int] | None:
    if buf[:8] == b"\x89PNG\r\n\x1a\n" and buf[12:16] == b"IHDR" and len(buf) >= 24:
        w, h = struct.unpack(">II", buf[16:24])
        return int(w), int(h)
    return None


def _gif(buf: bytes) -> tuple[int, int] | None:
    if buf[:6] in (b"GIF87a", b"GIF89a") and len(buf) >= 10:
        w, h = struct.unpack("<HH", buf[6:10])
        return int(w), int(h)  # frames may be larger than the logical screen: Pillow checks those
    return None


def _bmp(buf: bytes) -> tuple[int, int] | None:
    if buf[:2] == b"BM" and len(buf) >= 26:
        header = struct.unpack("<I", buf[14:18])[0]
        if header == 12:
            w, h = struct.unpack("<HH", buf[18:22])
        else:
            w, h = struct.unpack("<ii", buf[18:26])
        return abs(int(w)), abs(int(h))
    return None


def _webp(buf: bytes) -> tuple[int, int] | None:
    if buf[:4] != b"RIFF" or buf[8:12] != b"WEBP" or len(buf) < 30:
        return None
    chunk = buf[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(buf[24:27], "little") + 1
        h = int.from_bytes(buf[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and buf[20] == 0x2F:
        bits = int.from_bytes(buf[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", buf[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    return None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(buf: bytes) -> tuple[int, int] | None:
    """The first start-of-frame size of a JPEG, walking the marker segments (no EXIF rotation:
    the pixel count is the same)."""
    if buf[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(buf)
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        length = int.from_bytes(buf[i + 2 : i + 4], "big")
        if marker in _SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", buf[i + 5 : i + 9])
            return int(w), int(h)
        if length < 2:
            return None
        i += 2 + length
    return None


def pil_open(fp: Any, formats: list[str] | tuple[str, ...] | None = None) -> Any:
    """``PIL.Image.open`` without the hooks other libraries install in it.

    Importing Ultralytics replaces ``PIL.Image.open`` with a wrapper that, for a file Pillow
    cannot identify (any corrupt upload), calls its ``check_requirements("pi-heif")``: a warning
    offline, and with Ultralytics' default auto-install a ``pip install`` at run time. A corrupt
    image must just be refused, so detectkit opens files with the original function.

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (3, 2)).save(buf, format="PNG")
    >>> with pil_open(io.BytesIO(buf.getvalue())) as im:
    ...     im.size
    (3, 2)
    """
    import sys

    from PIL import Image

    opener = Image.open
    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    if callable(original) and opener is getattr(patches, "image_open", None):
        opener = original
    return opener(fp, formats=formats)


def _pillow(buf: bytes) -> tuple[int, int] | None:
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we decide below
            with pil_open(io.BytesIO(buf)) as im:  # lazy: reads the header only
                w, h = im.size
                return int(w), int(h)
    except Image.DecompressionBombError as exc:
        return _size_from_message(str(exc))
    except Exception:  # not an image Pillow knows, or a broken header: the decoders decide
        return None


def _size_from_message(message: str) -> tuple[int, int] | None:
    """Pillow's bomb error states the pixel count only; report it as an N x 1 image."""
    digits = "".join(c for c in message.split("(")[1].split(" ")[0] if c.isdigit()) if "(" in message else ""
    return (int(digits), 1) if digits else (2**31, 1)


def sniff_size_wh(data: Any) -> tuple[int, int] | None:
    """``(width, height)`` declared by an encoded image's header, or None if not recognised.

    Args:
        data: the file's bytes (or a numpy uint8 buffer / memoryview of them).
    """
    buf = bytes(memoryview(data)[:65536]) if not isinstance(data, bytes) else data[:65536]
    for parse in (_png, _jpeg, _gif, _bmp, _webp):
        try:
            size = parse(buf)
        except (struct.error, IndexError):
            size = None
        if size is not None:
            return size
    whole = data if isinstance(data, bytes) else bytes(memoryview(data))
    return _pillow(whole)


def check_encoded(data: Any, name: str) -> None:
    """Raise :class:`ImageTooLargeError` when the encoded image ``data`` declares too many pixels.

    Does nothing when the limit is off or the header is not recognised.
    """
    if max_pixels() is None:
        return
    size = sniff_size_wh(data)
    if size is not None:
        check_pixels(size, name)
