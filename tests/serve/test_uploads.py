"""Checks on request content before decoding: sizes, header pixels, formats, base64, paths."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectkit.image import load_image
from detectkit.serve.uploads import (
    RequestError,
    check_image_bytes,
    decode_base64,
    decode_image,
    read_under_root,
)
from tests.serve.helpers import SHAPES, bus_path, jpeg_with_size, png_header_only

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 40_000_000}


def _encoded(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF"])
def test_accepted_formats_read_size_from_header(fmt: str) -> None:
    checked = check_image_bytes(_encoded(fmt), name=f"a.{fmt.lower()}", **LIMITS)
    assert (checked.format, checked.size_wh) == (fmt, (64, 48))
    assert decode_image(checked).shape == (48, 64, 3)


def test_decode_equals_load_image_on_the_file() -> None:
    path = bus_path()
    checked = check_image_bytes(path.read_bytes(), name="bus.jpg", **LIMITS)
    assert np.array_equal(decode_image(checked), load_image(path))


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty (0 bytes)"),
        (b"just some text\n" * 10, 415, "not an image in a supported format"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 415, "not an image"),
        (png_header_only(100_000, 100_000), 413, "refused before decoding"),  # PIL's own bomb guard
        (png_header_only(7000, 7000), 413, "7000 x 7000 = 49000000 pixels"),  # our limit, below PIL's
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00", 422, "corrupt image header"),
    ],
    ids=["zero-bytes", "text", "pdf", "png-bomb-100k", "png-over-limit", "png-broken-header"],
)
def test_bad_bytes_get_the_right_status(data: bytes, status: int, words: str) -> None:
    with pytest.raises(RequestError) as info:
        check_image_bytes(data, name="upload", **LIMITS)
    assert info.value.status == status
    assert words in str(info.value)


def test_jpeg_bomb_refused_from_header() -> None:
    bomb = jpeg_with_size(_encoded("JPEG"), 65000, 65000)  # 4.2 gigapixels declared in 1 KB
    with pytest.raises(RequestError) as info:
        check_image_bytes(bomb, name="bomb.jpg", **LIMITS)
    assert info.value.status == 413
    assert "4225000000 pixels" in str(info.value)
    # below PIL's own bomb guard, our --max-pixels decides, still from the header alone
    with pytest.raises(RequestError, match="8000 x 8000 = 64000000 pixels") as info:
        check_image_bytes(jpeg_with_size(_encoded("JPEG"), 8000, 8000), name="big.jpg", **LIMITS)
    assert info.value.status == 413


def test_truncated_files_are_422() -> None:
    jpeg = bus_path().read_bytes()
    with pytest.raises(RequestError) as info:
        check_image_bytes(jpeg[: len(jpeg) // 2], name="half.jpg", **LIMITS)
    assert (info.value.status, "truncated JPEG" in str(info.value)) == (422, True)
    png = _encoded("PNG")
    with pytest.raises(RequestError) as info:
        check_image_bytes(png[:-12], name="cut.png", **LIMITS)
    assert info.value.status == 422
    # a JPEG with bytes after its end (some cameras append data) is complete
    check_image_bytes(jpeg + b"\x00trailer", name="trailer.jpg", **LIMITS)


def test_byte_limit() -> None:
    with pytest.raises(RequestError) as info:
        check_image_bytes(_encoded("PNG"), name="a.png", max_bytes=100, max_pixels=10**6)
    assert info.value.status == 413
    assert "--max-bytes" in str(info.value)


def test_every_shapes_image_passes() -> None:
    for p in SHAPES[:10]:
        assert check_image_bytes(p.read_bytes(), name=p.name, **LIMITS).format == "JPEG"


def test_base64() -> None:
    png = _encoded("PNG")
    text = base64.b64encode(png).decode()
    assert decode_base64(text, name="b", max_bytes=10_000) == png
    assert decode_base64("data:image/png;base64," + text, name="b", max_bytes=10_000) == png
    with pytest.raises(RequestError, match="not valid base64") as info:
        decode_base64("not base64!!", name="b", max_bytes=10_000)
    assert info.value.status == 422
    with pytest.raises(RequestError) as info:
        decode_base64(text, name="b", max_bytes=100)
    assert info.value.status == 413
    with pytest.raises(RequestError):
        decode_base64(None, name="b", max_bytes=100)


def test_paths_stay_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(_encoded("PNG"))
    secret = tmp_path / "secret.png"
    secret.write_bytes(_encoded("PNG"))
    os.symlink(secret, root / "link.png")
    os.symlink(tmp_path, root / "up")
    data, name = read_under_root("sub/a.png", root=root.resolve(), max_bytes=10**6)
    assert data == (root / "sub" / "a.png").read_bytes()
    assert name == "sub/a.png"
    for bad in ["../secret.png", "sub/../../secret.png", str(secret), "link.png", "up/secret.png"]:
        with pytest.raises(RequestError) as info:
            read_under_root(bad, root=root.resolve(), max_bytes=10**6)
        assert info.value.status == 403, bad
    with pytest.raises(RequestError) as info:
        read_under_root("sub", root=root.resolve(), max_bytes=10**6)
    assert info.value.status == 422
    with pytest.raises(RequestError) as info:
        read_under_root("sub/a.png", root=root.resolve(), max_bytes=10)
    assert info.value.status == 413
    with pytest.raises(RequestError) as info:
        read_under_root("sub/a.png", root=None, max_bytes=10**6)
    assert info.value.status == 403


def test_single_file_part_cuts_what_the_general_parser_reads() -> None:
    import asyncio

    import httpx
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    from detectkit.serve.uploads import single_file_part

    async def general(body: bytes, ctype: str) -> tuple[bytes, str]:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "method": "POST", "headers": [(b"content-type", ctype.encode())]}
        form = await Request(scope, receive).form()
        upload = form.get("file") or form.get("image")
        assert isinstance(upload, UploadFile)
        return await upload.read(), upload.filename or "file"

    cases = [
        {"files": {"file": ("a b.jpg", b"\xff\xd8 data \r\n--not-the-boundary", "image/jpeg")}},
        {"files": {"image": ("\u00e9t\u00e9.png", b"", "image/png")}},
        {"files": {"file": ("x.jpg", bytes(range(256)) * 40)}},
    ]
    for kwargs in cases:
        req = httpx.Request("POST", "http://x/v1/detect", **kwargs)  # type: ignore[arg-type]
        body, ctype = req.read(), req.headers["content-type"]
        assert single_file_part(body, ctype) == asyncio.run(general(body, ctype))
    # anything else is left to the general parser
    two = httpx.Request("POST", "http://x", files={"file": ("a.jpg", b"1")}, data={"conf": "0.5"})
    assert single_file_part(two.read(), two.headers["content-type"]) is None
    three = httpx.Request("POST", "http://x", files=[("file", ("a.jpg", b"1")), ("file", ("b.jpg", b"2"))])
    assert single_file_part(three.read(), three.headers["content-type"]) is None
    one = httpx.Request("POST", "http://x", files={"file": ("a.jpg", b"1")})
    assert single_file_part(one.read()[:-10], one.headers["content-type"]) is None  # truncated
    assert single_file_part(one.read(), "multipart/form-data") is None  # no boundary
    assert single_file_part(one.read(), "application/json") is None


def test_jpeg_end_check_equals_the_whole_file_scan() -> None:
    from detectkit.serve.uploads import _jpeg_complete

    jpeg = bus_path().read_bytes()
    cuts = [len(jpeg), len(jpeg) - 1, len(jpeg) - 2, len(jpeg) // 2, 700, 3]
    odd = [jpeg + b"\x00\x00", jpeg + b"\xff\xda\x00", jpeg[:-2] + b"\xff\xd9\xff\xda"]
    for data in [jpeg[:n] for n in cuts] + odd:
        # the old rule: the last end-of-image marker comes after the last start-of-scan marker
        assert _jpeg_complete(data) == (data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda")), len(data)
    assert _jpeg_complete(jpeg)
    assert not _jpeg_complete(jpeg[: len(jpeg) // 2])
