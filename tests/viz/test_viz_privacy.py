"""blur() / pixelate(): only the regions change, masks restrict, classes filter, input unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit import Detections, InvalidInputError
from detectkit.viz import blur, pixelate


def _noise(h: int = 80, w: int = 100) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)


DETS = Detections(xyxy=[[10, 10, 50, 40], [60, 30, 95, 75]], class_id=[0, 1], names={0: "face", 1: "plate"})


@pytest.mark.parametrize("fn", [blur, pixelate])
def test_only_regions_change_and_input_unchanged(fn: object) -> None:
    image = _noise()
    before = image.copy()
    out = fn(image, DETS)  # type: ignore[operator]
    np.testing.assert_array_equal(image, before)
    inside = np.zeros(image.shape[:2], bool)
    inside[10:40, 10:50] = True
    inside[30:75, 60:95] = True
    np.testing.assert_array_equal(out[~inside], image[~inside])
    # the hidden regions lose most of their detail (noise variance drops a lot)
    assert out[10:40, 10:50].std() < 0.5 * image[10:40, 10:50].std()
    assert out[30:75, 60:95].std() < 0.5 * image[30:75, 60:95].std()


@pytest.mark.parametrize("fn", [blur, pixelate])
def test_classes_filter_by_name_or_id(fn: object) -> None:
    image = _noise()
    out = fn(image, DETS, classes=["plate"])  # type: ignore[operator]
    np.testing.assert_array_equal(out[10:40, 10:50], image[10:40, 10:50])
    assert (out[30:75, 60:95] != image[30:75, 60:95]).any()
    np.testing.assert_array_equal(fn(image, DETS, classes=[1]), out)  # type: ignore[operator]


@pytest.mark.parametrize("fn", [blur, pixelate])
def test_masks_restrict_to_object_pixels(fn: object) -> None:
    image = _noise()
    mask = np.zeros((1, 80, 100), bool)
    mask[0, 20:30, 20:40] = True
    dets = Detections(xyxy=[[10, 10, 50, 40]], mask=mask)
    out = fn(image, dets)  # type: ignore[operator]
    np.testing.assert_array_equal(out[~mask[0]], image[~mask[0]])
    assert (out[mask[0]] != image[mask[0]]).any()
    whole = fn(image, dets, masks=False)  # type: ignore[operator]
    assert (whole[10:20, 10:50] != image[10:20, 10:50]).any()


def test_padding_grows_region_and_clips_at_frame() -> None:
    image = _noise()
    dets = Detections(xyxy=[[0, 0, 20, 20]])
    out = pixelate(image, dets, padding=0.5)
    assert (out[20:29, 0:29] != image[20:29, 0:29]).any()
    np.testing.assert_array_equal(out[31:, 31:], image[31:, 31:])


def test_explicit_strength_and_grayscale_input() -> None:
    gray = _noise()[:, :, 0]
    out = pixelate(gray, DETS, pixel_size=5)
    assert out.shape == (80, 100, 3)
    block = out[10:15, 10:15]
    assert (block == block[0, 0]).all()
    assert blur(gray, DETS, kernel_size=9).shape == (80, 100, 3)


@pytest.mark.parametrize(
    ("fn", "kwargs", "error"),
    [
        (blur, {"kernel_size": 0}, "kernel_size"),
        (blur, {"padding": -1}, "padding"),
        (pixelate, {"pixel_size": 1.5}, "pixel_size"),
        (pixelate, {"classes": ["car"]}, "unknown class name"),
    ],
)
def test_bad_options(fn: object, kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidInputError, match=error):
        fn(_noise(), DETS, **kwargs)  # type: ignore[operator]


def test_degenerate_and_outside_boxes_are_skipped() -> None:
    image = _noise()
    dets = Detections(xyxy=[[200, 200, 300, 300], [5, 5, 5, 30]])
    np.testing.assert_array_equal(blur(image, dets), image)
