"""The fast path of :func:`detectkit.image.image_size_wh`: a JPEG header parsed directly.

It may only decline (return ``None``), never decide differently: every file it does not fully
understand goes to PIL, the plain path, and ``tests/test_image.py`` compares the two on 23
makes of JPEG. Opening a file with PIL costs about ten times the direct parse, which is what
a YOLO -> COCO conversion without recorded sizes spends its time on (``bench_convert.py``).
"""

from __future__ import annotations

from typing import BinaryIO, Literal

__all__ = ["jpeg_size_wh", "read_size_wh"]

_HEADER_BYTES = 1 << 16  # a JPEG's EXIF segment is at most 64 KB; a longer header goes to PIL
# JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic)
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_size_wh(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` (EXIF-oriented) from the first bytes of a JPEG, or ``None`` when
    the file is of another kind or anything is unusual (then PIL decides).

    Only JPEG: its EXIF block, like everything PIL reads when opening one, comes before the
    scan data. A PNG's eXIf chunk may follow the image data, where only a full read finds it.

    >>> sof = b"\\xff\\xc0\\x00\\x11\\x08" + (480).to_bytes(2, "big") + (640).to_bytes(2, "big") + bytes(10)
    >>> jpeg_size_wh(b"\\xff\\xd8" + sof + b"\\xff\\xda")
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


def read_size_wh(fh: BinaryIO) -> tuple[tuple[int, int] | None, bytes]:
    """``((width, height), head)`` of the JPEG open in ``fh`` (at its start), or ``(None, head)``:
    not a JPEG or anything unusual (the caller then asks PIL). ``head`` is what was read (at
    most 64 KB)."""
    head = fh.read(4096)  # most JPEG headers; EXIF or ICC data can need up to 64 KB
    size = jpeg_size_wh(head)
    if size is None and len(head) == 4096 and head.startswith(b"\xff\xd8"):
        head += fh.read(_HEADER_BYTES - 4096)
        size = jpeg_size_wh(head)
    return size, head
