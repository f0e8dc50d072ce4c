"""Checks on what a request sends, before anything is decoded: bytes, header size, format, paths.

Each failure is a :class:`RequestError` carrying the HTTP status the server answers with:

* 413 — more bytes than ``max_bytes``, or more pixels than ``max_pixels`` according to the
  file header (so a 100k x 100k PNG or a JPEG "decompression bomb" is refused without its
  pixels ever being allocated);
* 415 — not an image format the server accepts (text, PDF, ...);
* 422 — empty, truncated or corrupt image data, a bad base64 string, a bad path;
* 403 — a path while no root folder is enabled, or one that leaves the root.

>>> check_image_bytes(b"", name="upload", max_bytes=100, max_pixels=100)
Traceback (most recent call last):
...
detectkit.serve.uploads.RequestError: upload is empty (0 bytes), expected an image
>>> check_image_bytes(b"hello world", name="notes.txt", max_bytes=100, max_pixels=100)
Traceback (most recent call last):
...
detectkit.serve.uploads.RequestError: notes.txt is not an image in a supported format (JPEG, PNG, BMP, WEBP, TIFF, GIF)
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectkit.errors import InvalidInputError

__all__ = [
    "ACCEPTED_FORMATS",
    "CheckedImage",
    "RequestError",
    "check_image_bytes",
    "decode_base64",
    "decode_image",
    "read_under_root",
    "single_file_part",
    "sniff_format",
]

# What the server decodes. PIL identifies the format from the header; other PIL plugins (EPS
# runs Ghostscript, PDF, ...) are never even tried.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")


class RequestError(InvalidInputError):
    """Bad request content, with the HTTP status to answer (413, 415, 422, 403, ...).

    >>> RequestError(413, "too big").status
    413
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CheckedImage:
    """Image bytes that passed :func:`check_image_bytes`: format and ``(width, height)`` from the header."""

    data: bytes
    name: str
    format: str
    size_wh: tuple[int, int]  # JPEG: EXIF-oriented (as decoded); other formats: as stored


def sniff_format(head: bytes) -> str | None:
    """The accepted format a file starts like (its magic bytes), else None.

    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"hello")
    ('PNG', None)
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def _jpeg_complete(data: bytes) -> bool:
    # Entropy-coded data never holds 0xFFD9 or 0xFFDA (0xFF is stuffed with 0x00), so a JPEG
    # whose last start-of-scan marker has no end-of-image marker after it was cut short.
    # (OpenCV decodes such a file without an error, filling the missing rows with grey.)
    # Searched from the end: the last end-of-image marker, then any start of scan after it
    # (rfind of the start of scan would walk back over the whole scan data).
    end = data.rfind(b"\xff\xd9")
    return end >= 0 and data.find(b"\xff\xda", end) < 0


def _png_complete(data: bytes) -> bool:
    return data.rfind(b"IEND") > data.find(b"IDAT") >= 0


def check_image_bytes(data: bytes, *, name: str, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Check one encoded image without decoding its pixels.

    Args:
        data: the file's bytes.
        name: how messages refer to it (the upload's file name).
        max_bytes: most bytes accepted.
        max_pixels: most ``width * height`` accepted, read from the header.

    Returns:
        A :class:`CheckedImage`.

    Raises:
        RequestError: 413 too large, 415 unsupported, 422 empty/truncated/corrupt.
    """
    if len(data) == 0:
        raise RequestError(422, f"{name} is empty (0 bytes), expected an image")
    if len(data) > max_bytes:
        raise RequestError(413, f"{name} has {len(data)} bytes, more than the limit of {max_bytes} (--max-bytes)")
    sniffed = sniff_format(data[:16])
    if sniffed is None:  # decided on the magic bytes: no decoder ever sees other files
        supported = ", ".join(ACCEPTED_FORMATS)
        raise RequestError(415, f"{name} is not an image in a supported format ({supported})")
    if sniffed == "JPEG":  # the direct header parse (it only declines, never disagrees with PIL)
        from detectkit.image.decode import jpeg_header_size_wh

        size = jpeg_header_size_wh(data[:65536])
        if size is not None:
            return _checked(data, name, "JPEG", size, max_pixels)
    from PIL import Image, UnidentifiedImageError

    from detectkit._limits import pil_open

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with pil_open(io.BytesIO(data), formats=[sniffed]) as im:  # reads the header only
                fmt = str(im.format)
                width, height = (int(v) for v in im.size)
    except Image.DecompressionBombError as exc:
        raise RequestError(413, f"{name} is refused before decoding: {exc} (--max-pixels is {max_pixels})") from None
    except (UnidentifiedImageError, ImportError):
        raise RequestError(422, f"{name} starts like a {sniffed} file but its header is corrupt") from None
    except Exception as exc:  # a header PIL cannot parse
        raise RequestError(422, f"{name} has a corrupt image header: {exc}") from None
    return _checked(data, name, fmt, (width, height), max_pixels)


def _checked(data: bytes, name: str, fmt: str, size_wh: tuple[int, int], max_pixels: int) -> CheckedImage:
    width, height = size_wh
    if width * height > max_pixels:
        raise RequestError(
            413,
            f"{name} is {width} x {height} = {width * height} pixels, more than the limit of {max_pixels} "
            "(--max-pixels); refused before decoding",
        )
    if (fmt == "JPEG" and not _jpeg_complete(data)) or (fmt == "PNG" and not _png_complete(data)):
        raise RequestError(422, f"{name} is a truncated {fmt} file (its end is missing)")
    return CheckedImage(data=data, name=name, format=fmt, size_wh=(width, height))


def decode_image(checked: CheckedImage) -> np.ndarray:
    """Decode a checked image into a ``(H, W, 3)`` uint8 BGR array, exactly as
    :func:`detectkit.image.load_image` decodes the same file.

    Raises:
        RequestError: 422 when the pixel data is corrupt.
    """
    from detectkit.image import load_image

    try:
        return load_image(checked.data, name=checked.name)
    except InvalidInputError as exc:
        raise RequestError(422, str(exc)) from None


def decode_base64(text: object, *, name: str, max_bytes: int) -> bytes:
    """Decode a base64 string (an optional ``data:...;base64,`` prefix is dropped), refusing
    strings that would decode to more than ``max_bytes`` before decoding them.

    >>> decode_base64("aGk=", name="image_base64", max_bytes=10)
    b'hi'
    """
    if not isinstance(text, str) or not text:
        raise RequestError(422, f"{name} must be a non-empty base64 string")
    if text.startswith("data:") and "," in text[:200]:
        text = text.split(",", 1)[1]
    if len(text) > (max_bytes + 2) // 3 * 4 + 4:
        raise RequestError(413, f"{name} decodes to more than the limit of {max_bytes} bytes (--max-bytes)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(422, f"{name} is not valid base64: {exc}") from None


def read_under_root(text: object, *, root: Path | None, max_bytes: int) -> tuple[bytes, str]:
    """Read the file a request names, only below the operator's root folder.

    Args:
        text: the path from the request, relative to ``root``.
        root: the folder enabled with ``--path-root``; ``None`` refuses every path.
        max_bytes: most bytes accepted (checked on the file size before reading).

    Returns:
        ``(data, name)`` with ``name`` the path as given.

    Raises:
        RequestError: 403 no root enabled, or the path leaves it (``..``, absolute, or a symlink
            pointing out); 422 not a file; 413 too large.

    >>> read_under_root("a.jpg", root=None, max_bytes=10)
    Traceback (most recent call last):
    ...
    detectkit.serve.uploads.RequestError: paths are disabled on this server (the operator enables them with --path-root)
    """
    if root is None:
        raise RequestError(403, "paths are disabled on this server (the operator enables them with --path-root)")
    if not isinstance(text, str) or not text or "\x00" in text:
        raise RequestError(422, "path must be a non-empty string relative to the server's root folder")
    rel = Path(text)
    if rel.is_absolute() or ".." in rel.parts:
        raise RequestError(403, f"path {text!r} must be relative to the server's root folder, without '..'")
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise RequestError(403, f"path {text!r} leaves the server's root folder")
    if not target.is_file():
        raise RequestError(422, f"path {text!r} is not a file under the server's root folder")
    size = os.stat(target).st_size
    if size > max_bytes:
        raise RequestError(413, f"{text} has {size} bytes, more than the limit of {max_bytes} (--max-bytes)")
    with open(target, "rb") as fh:
        return fh.read(max_bytes + 1), text


_FILE_FIELDS = (b"file", b"image")
CRLF = b"\r\n"


def single_file_part(body: bytes, content_type: str) -> tuple[bytes, str] | None:
    """``(file bytes, file name)`` of a ``multipart/form-data`` body holding exactly one part, a
    file in field ``file`` (or ``image``); None for anything else (several parts, other fields,
    unusual headers), which then goes to the general multipart parser. One scan of the body,
    one copy of the file.

    >>> part = b'Content-Disposition: form-data; name="file"; filename="a.jpg"'
    >>> body = b"--XY" + CRLF + part + CRLF + CRLF + b"DATA" + CRLF + b"--XY--" + CRLF
    >>> single_file_part(body, "multipart/form-data; boundary=XY")
    (b'DATA', 'a.jpg')
    >>> single_file_part(body.replace(b'name="file"', b'name="other"'), "multipart/form-data; boundary=XY") is None
    True
    """
    from python_multipart.multipart import parse_options_header

    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        return None
    delim = b"--" + boundary
    if not body.startswith(delim + b"\r\n"):
        return None
    head_end = body.find(b"\r\n\r\n", len(delim) + 2)
    closing = b"\r\n" + delim + b"--"
    end = body.rfind(closing)
    if head_end < 0 or end < head_end or body[end + len(closing) :].strip(b"\r\n") != b"":
        return None
    headers = body[len(delim) + 2 : head_end].split(b"\r\n")
    disposition = None
    for line in headers:
        name, sep, value = line.partition(b":")
        if not sep:
            return None
        key = name.strip().lower()
        if key == b"content-disposition":
            disposition = value.strip()
        elif key not in (b"content-type", b"content-length"):
            return None  # e.g. Content-Transfer-Encoding: the general parser decides
    if disposition is None:
        return None
    kind, options = parse_options_header(disposition)
    filename = options.get(b"filename")
    if kind != b"form-data" or options.get(b"name") not in _FILE_FIELDS or filename is None:
        return None
    start = head_end + 4
    if body.find(b"\r\n" + delim, start, end) >= 0:  # a second part
        return None
    return body[start:end], filename.decode("utf-8", "replace") or "file"
