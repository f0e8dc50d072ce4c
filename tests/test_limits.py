"""Tests for the decompression-bomb guard (detectkit._limits) through load_image / image_size_wh."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from detectkit._limits import DEFAULT_MAX_PIXELS, check_encoded, max_pixels, sniff_size_wh
from detectkit.errors import ImageTooLargeError, InvalidInputError
from detectkit.image import image_size_wh, load_image


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose IHDR declares w x h, followed by a tiny IDAT of zeros (a bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")
    )


def test_default_limit_is_pillows_error_level() -> None:
    # Pillow's default MAX_IMAGE_PIXELS (other libraries, e.g. sahi, set the global to None)
    assert DEFAULT_MAX_PIXELS == 2 * (1024 * 1024 * 1024 // 4 // 3)
    assert max_pixels() == DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("size_wh", [(50_000, 50_000), (200_000, 1000), (65_535, 65_535)])
def test_png_bomb_refused_before_decoding(tmp_path: Path, size_wh: tuple[int, int]) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(*size_wh))
    t = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png is \d+x\d+"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match="DETECTKIT_MAX_PIXELS"):
        image_size_wh(path)
    with pytest.raises(ImageTooLargeError):
        load_image(path.read_bytes())
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp", ".tiff", ".gif"])
def test_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str) -> None:
    path = tmp_path / f"img{ext}"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    monkeypatch.setenv("DETECTKIT_MAX_PIXELS", "1199")
    with pytest.raises(ImageTooLargeError, match="40x30 = 1,200 pixels"):
        load_image(path)
    with pytest.raises(ImageTooLargeError):
        image_size_wh(path)
    monkeypatch.setenv("DETECTKIT_MAX_PIXELS", "1200")
    assert load_image(path).shape == (30, 40, 3)
    assert image_size_wh(path) == (40, 30)
    monkeypatch.setenv("DETECTKIT_MAX_PIXELS", "0")  # off
    assert max_pixels() is None
    assert load_image(path).shape == (30, 40, 3)
    monkeypatch.setenv("DETECTKIT_MAX_PIXELS", "lots")
    with pytest.raises(InvalidInputError, match="DETECTKIT_MAX_PIXELS"):
        load_image(path)


def test_error_is_typed_and_a_value_error() -> None:
    assert issubclass(ImageTooLargeError, InvalidInputError)
    assert issubclass(ImageTooLargeError, ValueError)


_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(1, 700),
    h=st.integers(1, 700),
    fmt=st.sampled_from(sorted(_FORMATS)),
    lossless=st.booleans(),
)
def test_sniffed_size_matches_pillow(w: int, h: int, fmt: str, lossless: bool) -> None:
    """The header parsers agree with Pillow's own reading for every size and format."""
    buf = io.BytesIO()
    kwargs = {"lossless": lossless} if fmt == "WEBP" else {}
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, format=fmt, **kwargs)
    data = buf.getvalue()
    assert sniff_size_wh(data) == Image.open(io.BytesIO(data)).size
    assert sniff_size_wh(np.frombuffer(data, np.uint8)) == (w, h)


def test_opencv_encoded_jpeg_and_unknown_bytes() -> None:
    ok, enc = cv2.imencode(".jpg", np.zeros((17, 23, 3), np.uint8))
    assert ok
    assert sniff_size_wh(enc) == (23, 17)
    assert sniff_size_wh(b"not an image at all") is None
    check_encoded(b"not an image at all", "x")  # unknown: left to the decoders
    with pytest.raises(InvalidInputError, match="not a readable image"):
        load_image(b"not an image at all")
