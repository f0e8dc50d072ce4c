"""Tests for detectkit.image: loading, sources, letterbox and pre-processing."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from detectkit.errors import InvalidInputError
from detectkit.image import (
    Frame,
    adjust_brightness_contrast,
    clahe,
    count_images,
    image_size_wh,
    is_video_path,
    iter_images,
    letterbox,
    list_images,
    load_image,
    normalize,
    resize,
    scale_boxes_from_letterbox,
    standardize_intensity,
)


def _rgb_pattern(h: int = 20, w: int = 40) -> np.ndarray:
    """An RGB image whose left quarter is red, so orientation and channel order are checkable."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 4] = (255, 0, 0)
    return a


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rgb = _rgb_pattern()
    out = {}
    out["png"] = tmp_path / "a.png"
    Image.fromarray(rgb).save(out["png"])
    out["jpg"] = tmp_path / "b.jpg"
    Image.fromarray(rgb).save(out["jpg"], quality=95)
    exif_img = Image.fromarray(rgb)
    ex = exif_img.getexif()
    ex[0x0112] = 6  # rotate 90 CW on display
    out["exif"] = tmp_path / "c_exif.jpg"
    exif_img.save(out["exif"], exif=ex.tobytes(), quality=95)
    out["gray"] = tmp_path / "d_gray.png"
    Image.fromarray(np.full((10, 12), 77, np.uint8)).save(out["gray"])
    out["rgba"] = tmp_path / "e_rgba.png"
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(out["rgba"])
    out["u16"] = tmp_path / "f_16bit.png"
    cv2.imwrite(str(out["u16"]), np.full((8, 9), 65535 // 2, np.uint16))
    out["empty"] = tmp_path / "g_empty.jpg"
    out["empty"].write_bytes(b"")
    out["corrupt"] = tmp_path / "h_corrupt.png"
    out["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    out["text"] = tmp_path / "notes.txt"
    out["text"].write_text("hello")
    return out


# ------------------------------------------------------------------ load_image
def test_load_png_is_bgr(files: dict[str, Path]) -> None:
    img = load_image(files["png"])
    assert img.shape == (20, 40, 3)
    assert img.dtype == np.uint8
    assert img[0, 0].tolist() == [0, 0, 255]  # red in BGR
    assert img.flags.c_contiguous


def test_load_str_path_and_bytes_agree(files: dict[str, Path]) -> None:
    a = load_image(str(files["jpg"]))
    b = load_image(files["jpg"].read_bytes())
    np.testing.assert_array_equal(a, b)


def test_exif_orientation_is_honoured(files: dict[str, Path]) -> None:
    img = load_image(files["exif"])
    assert img.shape[:2] == (40, 20)  # rotated 90 degrees
    # rotate 90 CW: the left (red) quarter ends up at the top
    assert img[0, 10, 2] > 200
    assert img[-1, 10, 2] < 50
    assert image_size_wh(files["exif"]) == (20, 40)
    # PIL input with the same EXIF is rotated the same way
    with Image.open(files["exif"]) as pil:
        assert load_image(pil).shape[:2] == (40, 20)


@pytest.mark.parametrize(
    ("key", "shape", "value"),
    [("gray", (10, 12, 3), [77, 77, 77]), ("u16", (8, 9, 3), [127, 127, 127])],
)
def test_gray_and_16bit_become_8bit_bgr(
    files: dict[str, Path], key: str, shape: tuple[int, ...], value: list[int]
) -> None:
    img = load_image(files[key])
    assert img.shape == shape
    assert img.dtype == np.uint8
    assert img[0, 0].tolist() == value


def test_rgba_file_drops_alpha(files: dict[str, Path]) -> None:
    img = load_image(files["rgba"])
    assert img.shape == (20, 40, 3)
    assert img[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("empty", "g_empty.jpg is empty"),
        ("corrupt", "h_corrupt.png is not a readable image"),
        ("text", "notes.txt is not a readable image"),
    ],
)
def test_bad_files_raise_naming_the_file(files: dict[str, Path], key: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_image(files[key])


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nope.jpg does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidInputError, match="is a folder"):
        load_image(tmp_path)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((3, 4), 9, np.uint8), [9, 9, 9]),
        (np.full((3, 4, 1), 9, np.uint8), [9, 9, 9]),
        (np.tile(np.array([1, 2, 3], np.uint8), (3, 4, 1)), [1, 2, 3]),
        (np.tile(np.array([1, 2, 3, 200], np.uint8), (3, 4, 1)), [1, 2, 3]),
        (np.full((3, 4, 3), 256 * 10, np.uint16), [10, 10, 10]),
        (np.full((3, 4, 3), 1.0, np.float32), [255, 255, 255]),
        (np.full((3, 4, 3), 5, np.int64), [5, 5, 5]),
    ],
)
def test_array_inputs(array: np.ndarray, expected: list[int]) -> None:
    before = array.copy()
    img = load_image(array)
    assert img.shape == (3, 4, 3)
    assert img.dtype == np.uint8
    assert img[0, 0].tolist() == expected
    np.testing.assert_array_equal(array, before)
    assert not np.shares_memory(img, array)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((3, 4, 2), np.uint8), r"shape \(H, W\)"),
        (np.zeros((0, 4, 3), np.uint8), "non-empty"),
        (np.full((2, 2, 3), 2.0), r"\[0, 1\]"),
        (np.full((2, 2, 3), 300, np.int32), r"\[0, 255\]"),
        (12345, "got int"),
        (b"", "empty"),
        (b"garbage", "not a readable image"),
    ],
)
def test_bad_inputs(value: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        load_image(value)  # type: ignore[arg-type]


def test_pil_modes() -> None:
    rgb = _rgb_pattern()
    bgr = load_image(Image.fromarray(rgb))
    assert bgr[0, 0].tolist() == [0, 0, 255]
    assert load_image(Image.fromarray(rgb).convert("L")).shape == (20, 40, 3)
    assert load_image(Image.fromarray(rgb).convert("P")).shape == (20, 40, 3)
    pil16 = Image.fromarray(np.full((4, 5), 512, np.uint16))
    assert load_image(pil16)[0, 0].tolist() == [2, 2, 2]


def test_name_is_used_in_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"upload.jpg"):
        load_image(b"nope", name="upload.jpg")


def test_image_size_wh_reads_header_only(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert image_size_wh(files["png"]) == (40, 20)
    calls = []
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append(1))
    monkeypatch.setattr(Image.Image, "load", lambda self: calls.append(1))
    assert image_size_wh(files["jpg"]) == (40, 20)
    assert calls == []
    with pytest.raises(InvalidInputError, match=r"g_empty.jpg is empty"):
        image_size_wh(files["empty"])
    with pytest.raises(InvalidInputError, match=r"h_corrupt.png"):
        image_size_wh(files["corrupt"])


# ------------------------------------------------------------------ sources
def test_list_images_sorted_and_recursive(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b.jpg", "a.PNG", "c.txt", ".x.jpg", "sub/z.jpg", ".hidden/y.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.jpg"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] == [
        "a.PNG",
        "b.jpg",
        "sub/z.jpg",
    ]
    with pytest.raises(InvalidInputError, match="folder"):
        list_images(tmp_path / "b.jpg")


def test_folder_with_bad_files_yields_errors_and_continues(files: dict[str, Path], tmp_path: Path) -> None:
    frames = list(iter_images(tmp_path))
    names = [f.info.path.name for f in frames if f.info.path is not None]
    assert names == sorted(names)
    assert "notes.txt" not in names  # not an image extension
    bad = {f.info.path.name: f.error for f in frames if f.error is not None}
    assert set(bad) == {"g_empty.jpg", "h_corrupt.png"}
    good = [f for f in frames if f.error is None]
    assert len(good) == 6
    assert all(f.image is not None and f.info.image_size_wh == (f.image.shape[1], f.image.shape[0]) for f in good)
    assert [f.info.index for f in frames] == list(range(len(frames)))


def test_on_error_callback_skips_bad_items(files: dict[str, Path], tmp_path: Path) -> None:
    seen: list[str] = []
    frames = list(iter_images(tmp_path, on_error=lambda info, exc: seen.append(info.source)))
    assert len(frames) == 6
    assert all(f.error is None for f in frames)
    assert sorted(Path(s).name for s in seen) == ["g_empty.jpg", "h_corrupt.png"]


def test_iter_is_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((4, 4, 3), np.uint8))
    loads: list[object] = []
    import detectkit.image.sources as image_mod  # where iter_images finds load_image

    real = image_mod.load_image
    monkeypatch.setattr(image_mod, "load_image", lambda src, **kw: loads.append(src) or real(src, **kw))
    it = iter_images(tmp_path)
    assert loads == []
    first = next(it)
    assert isinstance(first, Frame)
    assert len(loads) == 1


def _write_video(path: Path, n: int = 7, fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 24))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((24, 32, 3), i * 30, np.uint8))
    writer.release()


def test_video_frames_with_index_and_timestamp(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    _write_video(video)
    frames = list(iter_images(video))
    assert len(frames) == 7
    assert [f.info.frame_index for f in frames] == list(range(7))
    assert frames[3].info.timestamp == pytest.approx(0.3)
    assert frames[0].info.image_size_wh == (32, 24)
    assert count_images(video) == 7
    strided = list(iter_images(video, vid_stride=3))
    assert [f.info.frame_index for f in strided] == [0, 3, 6]
    assert count_images(video, vid_stride=3) == 3


def test_list_mixes_sources_and_indexes_run_on(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    _write_video(video, n=3)
    arr = np.zeros((5, 6, 3), np.uint8)
    frames = list(iter_images([arr, video, tmp_path / "missing.png"]))
    assert [f.info.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[0].info.source == "image (ndarray)"
    assert frames[-1].error is not None
    assert "missing.png" in str(frames[-1].error)
    assert count_images([arr, video]) == 4


def test_broken_video_and_camera_yield_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    (frame,) = list(iter_images(broken))
    assert frame.error is not None
    assert "broken.mp4" in str(frame.error)
    (cam,) = list(iter_images(987))  # no such camera
    assert cam.error is not None
    assert "camera:987" in str(cam.error)
    assert count_images(3) is None
    with pytest.raises(InvalidInputError, match="vid_stride"):
        iter_images(broken, vid_stride=0)


def test_is_video_path() -> None:
    assert is_video_path("x.MKV")
    assert not is_video_path("x.png")


# ------------------------------------------------------------------ letterbox & co
@pytest.mark.parametrize("shape_hw", [(1080, 810), (480, 640), (333, 517), (20, 3000), (64, 64)])
@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("new_shape", [640, (320, 480)])
def test_letterbox_matches_ultralytics(shape_hw: tuple[int, int], auto: bool, new_shape: int | tuple[int, int]) -> None:
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (*shape_hw, 3), dtype=np.uint8)
    before = img.copy()
    ours = letterbox(img, new_shape, auto=auto)
    theirs = LetterBox(new_shape, auto=auto, stride=32)(image=img)
    np.testing.assert_array_equal(ours.image, theirs)
    np.testing.assert_array_equal(img, before)


def test_scale_boxes_matches_ultralytics() -> None:
    import torch
    from ultralytics.utils.ops import scale_boxes

    img = np.zeros((1080, 810, 3), np.uint8)
    lb = letterbox(img, 640, auto=True)
    boxes = np.array([[10.0, 20.0, 300.0, 400.0], [0.0, 0.0, 480.0, 640.0]], np.float32)
    theirs = scale_boxes(lb.image.shape[:2], torch.tensor(boxes), img.shape[:2]).numpy()
    ours = scale_boxes_from_letterbox(boxes, lb.ratio_wh, lb.pad_wh, (810, 1080))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_letterbox_gray_and_bad_shape() -> None:
    out = letterbox(np.zeros((10, 20), np.uint8), 40)
    assert out.image.shape == (40, 40)
    assert out.pad_wh == (0, 10)
    with pytest.raises(InvalidInputError, match="new_shape"):
        letterbox(np.zeros((10, 20), np.uint8), (0, 4))
    with pytest.raises(InvalidInputError, match="image must be a numpy array"):
        letterbox([[1]], 4)  # type: ignore[arg-type]


def test_resize_and_normalize() -> None:
    img = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    before = img.copy()
    assert resize(img, (8, 4)).shape == (4, 8, 3)
    same = resize(img, (4, 2))
    assert not np.shares_memory(same, img)
    with pytest.raises(InvalidInputError, match="interpolation"):
        resize(img, (4, 4), interpolation="fancy")
    x = normalize(img)
    assert x.shape == (3, 2, 4)
    assert x.dtype == np.float32
    assert x[0, 0, 0] == pytest.approx(img[0, 0, 2] / 255)  # RGB first
    y = normalize(img, to_rgb=False, layout="hwc", mean=(1, 1, 1), std=(2, 2, 2), scale=1.0)
    np.testing.assert_allclose(y, (img.astype(np.float32) - 1) / 2)
    with pytest.raises(InvalidInputError, match="std"):
        normalize(img, std=(1, 0, 1))
    np.testing.assert_array_equal(img, before)


def test_contrast_functions_are_pure_and_standardise() -> None:
    rng = np.random.default_rng(1)
    dark = (rng.random((64, 64, 3)) * 40 + 10).astype(np.uint8)
    before = dark.copy()
    eq = clahe(dark)
    assert eq.shape == dark.shape
    assert eq.dtype == np.uint8
    assert eq.std() > dark.std()
    std = standardize_intensity(dark, target_mean=128, target_std=40)
    assert abs(float(std.mean()) - 128) < 3
    assert abs(float(std.mean(axis=2).std()) - 40) < 3
    assert adjust_brightness_contrast(dark, brightness=300).max() == 255
    np.testing.assert_array_equal(dark, before)
    assert clahe(dark[:, :, 0]).shape == (64, 64)
    with pytest.raises(InvalidInputError, match="uint8"):
        clahe(dark.astype(np.float32))


def test_bytes_from_pil_buffer() -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb_pattern()).save(buf, format="PNG")
    assert load_image(buf.getvalue())[0, 0].tolist() == [0, 0, 255]
    assert load_image(bytearray(buf.getvalue())).shape == (20, 40, 3)


def _jpeg_variants(folder: Path) -> dict[str, Path]:
    """JPEGs of many makes: encoders, modes, EXIF orientations and byte orders, big headers."""
    import matplotlib.cbook
    import ultralytics

    rgb = _rgb_pattern()
    out: dict[str, Path] = {}

    def save(name: str, image: Image.Image, **kwargs: Any) -> None:
        out[name] = folder / f"{name}.jpg"
        image.save(out[name], "JPEG", **kwargs)

    base = Image.fromarray(rgb)
    save("baseline", base, quality=90)
    save("progressive", base, progressive=True, optimize=True)
    save("gray", base.convert("L"))
    save("cmyk", base.convert("CMYK"))
    save("subsampled-444", base, subsampling=0)
    save("restart-markers", base, restart_marker_blocks=1)
    save("icc-100k", base, icc_profile=bytes(100_000))  # APP2 segments past the bytes read at once
    for orientation in range(1, 9):
        exif = base.getexif()
        exif[0x0112] = orientation
        exif[0x010F] = "detectkit"  # another tag before / after it
        save(f"exif-{orientation}", base, exif=exif.tobytes())
    exif = base.getexif()
    exif[0x010F] = "no orientation"
    save("exif-without-orientation", base, exif=exif.tobytes())
    # big-endian EXIF with orientation 6, written by hand: b"MM", 42, IFD at 8, one SHORT entry
    tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
    save("exif-big-endian-6", base, exif=b"Exif\x00\x00" + tiff)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    out["opencv"] = folder / "opencv.jpg"
    out["opencv"].write_bytes(buf.tobytes())
    out["truncated"] = folder / "truncated.jpg"
    out["truncated"].write_bytes(out["baseline"].read_bytes()[:60])
    # two EXIF blocks: left to PIL, which picks one
    data = out["exif-6"].read_bytes()
    app1 = data.index(b"\xff\xe1")
    length = int.from_bytes(data[app1 + 2 : app1 + 4], "big")
    out["two-exif"] = folder / "two-exif.jpg"
    out["two-exif"].write_bytes(data[: app1 + 2 + length] + data[app1 : app1 + 2 + length] + data[app1 + 2 + length :])
    out["bus"] = Path(ultralytics.ASSETS) / "bus.jpg"
    out["zidane"] = Path(ultralytics.ASSETS) / "zidane.jpg"
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        out["grace_hopper"] = folder / "grace_hopper.jpg"
        out["grace_hopper"].write_bytes(io.BytesIO(fh.read()).getvalue())
    return out


def test_jpeg_header_sizes_equal_pil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct JPEG header parse gives PIL's (EXIF-oriented) size for every make of JPEG, and
    takes the common ones itself; unusual ones go to PIL."""
    from detectkit.image import _header as image_module  # the fast path's own module

    files = _jpeg_variants(tmp_path)

    def size_or_error(path: Path) -> object:
        try:
            return image_size_wh(path)
        except InvalidInputError as exc:
            return type(exc).__name__

    fast = {name: size_or_error(p) for name, p in files.items()}
    taken = {name for name, p in files.items() if image_module.jpeg_size_wh(p.read_bytes()[: 1 << 16])}
    monkeypatch.setattr(image_module, "jpeg_size_wh", lambda head: None)
    via_pil = {name: size_or_error(p) for name, p in files.items()}
    assert fast == via_pil
    assert fast["exif-6"] == fast["exif-big-endian-6"] == (20, 40)  # rotated
    assert fast["exif-1"] == fast["baseline"] == (40, 20)
    assert fast["truncated"] == "InvalidInputError"
    assert taken == set(files) - {"icc-100k", "two-exif", "truncated"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_image_size_of_a_folder_or_pipe_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block
    with pytest.raises(InvalidInputError, match=r"pipe.jpg is not a file"):
        image_size_wh(fifo)
    with pytest.raises(InvalidInputError, match=r"is not a file"):
        image_size_wh(tmp_path)


def test_unreadable_image_error_names_the_file_not_a_python_object(tmp_path: Path) -> None:
    """Pillow names its stream (<_io.BytesIO object at 0x...>); the message names the file only."""
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello, not a picture")
    with pytest.raises(InvalidInputError, match=r"fake\.jpg is not a readable image") as info:
        load_image(fake)
    assert "object at 0x" not in str(info.value)


def test_a_corrupt_image_never_reaches_ultralytics_pil_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing Ultralytics wraps ``PIL.Image.open``: an unidentified file makes it call
    ``check_requirements("pi-heif")`` (a warning offline, a pip install with its default
    auto-install). detectkit opens images with the original function, so nothing is installed."""
    import ultralytics.utils.checks
    import ultralytics.utils.patches  # installs the hook
    from PIL import Image

    from detectkit._limits import check_encoded

    assert Image.open.__module__ == "ultralytics.utils.patches"
    calls: list[object] = []
    monkeypatch.setattr(ultralytics.utils.checks, "check_requirements", lambda *a, **k: calls.append(a))
    with pytest.raises(InvalidInputError, match="not a readable image"):
        load_image(b"plain text, not an image at all")
    check_encoded(np.frombuffer(b"\x00garbage" * 8, np.uint8), "x")
    assert calls == []
