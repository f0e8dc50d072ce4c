"""annotate(): input never modified, every image type, labels inside the frame, palette, golden images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectkit import Detections, InvalidInputError
from detectkit.viz import Palette, annotate, class_color, label_texts, layout_labels, overlay_heatmap
from detectkit.viz._common import style_for, text_box

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "viz"
REGEN = os.environ.get("DETECTKIT_REGEN_GOLDEN") == "1"
NAMES = {0: "cat", 1: "dog", 2: "bird"}


def _gradient(h: int = 90, w: int = 120) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([(x * 2) % 256, (y * 2) % 256, ((x + y) * 1) % 256]).astype(np.uint8)


def _dets(**extra: object) -> Detections:
    return Detections(
        xyxy=[[10, 20, 60, 70], [50, 15, 110, 60], [0, 60, 40, 90]],
        confidence=[0.9, 0.75, 0.5],
        class_id=[0, 1, 2],
        names=NAMES,
        **extra,  # type: ignore[arg-type]
    )


def _masks(h: int = 90, w: int = 120) -> np.ndarray:
    mask = np.zeros((3, h, w), bool)
    mask[0, 25:65, 15:55] = True
    cv2.circle(mask[1].view(np.uint8), (80, 38), 18, 1, -1)
    mask[2, 65:88, 2:38] = True
    return mask


IMAGE_TYPES = {
    "bgr": lambda: _gradient(),
    "rgb": lambda: _gradient()[:, :, ::-1].copy(),
    "gray": lambda: _gradient()[:, :, 0].copy(),
    "gray1": lambda: _gradient()[:, :, :1].copy(),
    "bgra": lambda: np.dstack([_gradient(), np.full((90, 120), 77, np.uint8)]),
    "noncontiguous": lambda: _gradient(180, 240)[::2, ::2],
}


@pytest.mark.parametrize("kind", sorted(IMAGE_TYPES))
def test_every_image_type_and_input_unchanged(kind: str) -> None:
    image = IMAGE_TYPES[kind]()
    before = image.copy()
    dets = _dets(mask=_masks(), tracker_id=[4, 5, 6])
    out = annotate(image, dets)
    np.testing.assert_array_equal(image, before)
    assert out is not image
    assert not np.shares_memory(out, image)
    assert out.dtype == np.uint8
    assert out.shape[:2] == (90, 120)
    assert out.shape[2] == (4 if kind == "bgra" else 3)
    if kind == "bgra":  # alpha kept where nothing was drawn, opaque where drawn
        assert out[0, 119, 3] == 77 or out[0, 119, 3] == 255
        assert (out[:, :, 3] == 255).any()
        assert (out[:, :, 3] == 77).any()
    assert (out[:, :, :3] != (before[..., None] if before.ndim == 2 else before[:, :, :3])).any()


def test_pil_input_returns_rgb_array() -> None:
    from PIL import Image

    pil = Image.fromarray(_gradient())
    out = annotate(pil, _dets(), labels=False)
    assert isinstance(out, np.ndarray)
    assert out.shape == (90, 120, 3)
    # boxes drawn in RGB order: class 0 red (230, 25, 75) at the box's left edge
    assert tuple(out[40, 10]) == class_color(0, channels="rgb")


def test_channels_rgb_flips_palette() -> None:
    black = np.zeros((90, 120, 3), np.uint8)
    bgr = annotate(black, _dets(), labels=False)
    rgb = annotate(black, _dets(), labels=False, channels="rgb")
    np.testing.assert_array_equal(bgr[:, :, ::-1], rgb)


def test_supervision_detections_accepted() -> None:
    out_a = annotate(_gradient(), _dets())
    out_b = annotate(_gradient(), _dets().to_supervision())
    np.testing.assert_array_equal(out_a, out_b)


def test_empty_detections_return_a_copy() -> None:
    image = _gradient()
    out = annotate(image, Detections.empty())
    np.testing.assert_array_equal(out, image)
    assert out is not image


@pytest.mark.parametrize(
    ("kwargs", "image", "error"),
    [
        ({}, np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        ({}, np.zeros((10, 10, 2), np.uint8), "shape"),
        ({}, np.zeros((0, 10, 3), np.uint8), "shape"),
        ({}, [[0, 1]], "numpy array"),
        ({"thickness": 0}, None, "thickness"),
        ({"text_scale": -1}, None, "text_scale"),
        ({"alpha": 2}, None, "alpha"),
        ({"channels": "hsv"}, None, "channels"),
        ({"labels": ["only one"]}, None, "one string per box"),
        ({"labels": "abc"}, None, "labels"),
        ({"label_format": "{nope}"}, None, "label_format"),
        ({"palette": 3}, None, "palette"),
        ({"palette": ["#12345"]}, None, "colors"),
    ],
)
def test_bad_input_raises(kwargs: dict[str, object], image: object, error: str) -> None:
    img = _gradient() if image is None else image
    with pytest.raises(InvalidInputError, match=error):
        annotate(img, _dets(), **kwargs)  # type: ignore[arg-type]


def test_mask_of_other_size_raises() -> None:
    dets = _dets(mask=np.zeros((3, 10, 10), bool))
    with pytest.raises(InvalidInputError, match="mask must match the image size"):
        annotate(_gradient(), dets)


def test_unknown_keyword_rejected() -> None:
    with pytest.raises(TypeError):
        annotate(_gradient(), _dets(), colour="red")  # type: ignore[call-arg]


# ------------------------------------------------------------------------------ style and palette
def test_style_scales_with_resolution() -> None:
    small, hd, uhd = style_for((320, 240)), style_for((1920, 1080)), style_for((3840, 2160))
    assert small.thickness < hd.thickness < uhd.thickness
    assert small.text_scale < hd.text_scale < uhd.text_scale


def test_palette_same_class_same_colour_across_images() -> None:
    a = annotate(np.zeros((100, 100, 3), np.uint8), Detections(xyxy=[[10, 10, 50, 50]], class_id=[7]), labels=False)
    b = annotate(
        np.full((300, 200, 3), 255, np.uint8),
        Detections(xyxy=[[0, 0, 5, 5], [100, 100, 150, 180]], class_id=[3, 7]),
        labels=False,
    )
    assert tuple(a[30, 10]) == tuple(b[140, 100]) == class_color(7)


def test_palette_stable_across_processes() -> None:
    here = [class_color(i) for i in range(200)]
    code = "from detectkit.viz import class_color; print([class_color(i) for i in range(200)])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == str(here)
    # and pinned, so a refactor cannot silently recolour users' pictures
    assert class_color(0, channels="rgb") == (230, 25, 75)
    assert class_color(1, channels="rgb") == (60, 180, 75)
    assert len(set(here[:20])) == 20
    assert len(set(here)) > 150  # generated hues stay distinct for many classes


def test_palette_overrides_and_custom_table() -> None:
    out = annotate(
        np.zeros((60, 60, 3), np.uint8),
        Detections(xyxy=[[10, 10, 40, 40]], class_id=[2]),
        labels=False,
        palette={2: "#00FF00"},
    )
    assert tuple(out[20, 10]) == (0, 255, 0)
    assert Palette(["#000001", "#000002"]).color(1, channels="rgb") == (0, 0, 2)


# ------------------------------------------------------------------------------ labels
def test_label_texts_tracker_crop_and_format() -> None:
    dets = Detections(
        xyxy=[[0, 0, 5, 5], [1, 1, 6, 6]],
        confidence=[0.91, 0.5],
        class_id=[0, 1],
        tracker_id=[7, 8],
        names=NAMES,
        data={"crop_class_id": [281, 285], "crop_confidence": [0.77, 0.4], "crop_label": ["tabby", "Egyptian cat"]},
    )
    assert label_texts(dets) == ["#7 cat 0.91 | tabby 0.77", "#8 dog 0.50 | Egyptian cat 0.40"]
    assert label_texts(dets, confidence=False) == ["#7 cat | tabby", "#8 dog | Egyptian cat"]
    assert label_texts(dets, label_format=lambda f: f"{f['label']}:{f['tracker_id']}") == ["cat:7", "dog:8"]
    gt = Detections(xyxy=[[0, 0, 5, 5]], names=NAMES)
    assert label_texts(gt) == ["cat"]


def test_custom_labels_and_non_ascii() -> None:
    dets = Detections(xyxy=[[10, 10, 60, 60]], confidence=[0.8], names={0: "chat é"})
    out = annotate(_gradient(), dets, labels=["hello"])
    assert out.shape == (90, 120, 3)
    annotate(_gradient(), dets)  # non-ASCII names draw as '?' instead of failing


W, H = 200, 150
POSITIONS = {
    "top-left": [0, 0, 40, 30],
    "top": [80, 0, 120, 30],
    "top-right": [160, 0, 200, 30],
    "right": [160, 60, 200, 90],
    "bottom-right": [160, 120, 200, 150],
    "bottom": [80, 120, 120, 150],
    "bottom-left": [0, 120, 40, 150],
    "left": [0, 60, 40, 90],
    "centre": [80, 60, 120, 90],
    "overhanging": [-30, -30, 230, 180],
    "tiny-corner": [198, 148, 200, 150],
}


@pytest.mark.parametrize("where", sorted(POSITIONS))
def test_label_fully_inside_frame_at_every_edge_and_corner(where: str) -> None:
    dets = Detections(xyxy=[POSITIONS[where]], confidence=[0.93], class_id=[3], names={3: "person"})
    out = annotate(np.zeros((H, W, 3), np.uint8), dets, boxes=False)
    colour = np.array(class_color(3), np.uint8)
    ys, xs = np.nonzero((out == colour).all(axis=2))
    st_ = style_for((W, H))
    tw, th, base = text_box("person 0.93", st_.text_scale, st_.text_thickness)
    # the label background is a full, uncut rectangle of the expected size inside the frame
    assert (xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (tw + 2 * st_.pad, th + base + 2 * st_.pad)
    assert xs.min() >= 0
    assert ys.min() >= 0
    assert xs.max() < W
    assert ys.max() < H


def test_labels_of_stacked_boxes_do_not_overlap() -> None:
    boxes = np.array([[50 + 2 * i, 60 + 2 * i, 120 + 2 * i, 120 + 2 * i] for i in range(5)])
    sizes = np.array([[60, 14]] * 5)
    rects = layout_labels(boxes, sizes, (W, H))
    for i in range(5):
        for j in range(i + 1, 5):
            a, b = rects[i], rects[j]
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.integers(-50, 250), st.integers(-50, 200), st.integers(1, 200), st.integers(1, 150)),
        min_size=1,
        max_size=25,
    ),
    label_w=st.integers(5, 150),
)
def test_layout_always_inside_frame(boxes: list[tuple[int, int, int, int]], label_w: int) -> None:
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes])
    sizes = np.array([[label_w, 16]] * len(boxes))
    rects = layout_labels(xyxy, sizes, (W, H))
    assert (rects[:, 0] >= 0).all()
    assert (rects[:, 1] >= 0).all()
    assert (rects[:, 2] <= W).all()
    assert (rects[:, 3] <= H).all()
    np.testing.assert_array_equal(rects[:, 2] - rects[:, 0], label_w)


def test_more_confident_label_gets_the_preferred_spot() -> None:
    dets = Detections(xyxy=[[50, 50, 150, 120], [50, 50, 150, 120]], confidence=[0.2, 0.9], class_id=[0, 1])
    out = annotate(np.zeros((H, W, 3), np.uint8), dets, boxes=False)
    above = out[40:49, 50:60]  # the spot just above the shared top-left corner
    assert (above == np.array(class_color(1), np.uint8)).all(axis=2).any()


# ------------------------------------------------------------------------------ shapes
def test_masks_blend_with_alpha_and_outline() -> None:
    image = np.zeros((90, 120, 3), np.uint8)
    dets = _dets(mask=_masks())
    out = annotate(image, dets, boxes=False, labels=False, alpha=0.5)
    inside = out[45, 35].astype(int)  # deep inside mask 0, away from its outline
    expected = np.array(class_color(0)) * 0.5
    assert np.abs(inside - expected).max() <= 1
    assert (out[5, 5] == 0).all()  # outside every mask untouched
    opaque = annotate(image, dets, boxes=False, labels=False, alpha=1.0)
    assert tuple(opaque[45, 35]) == class_color(0)


def test_polygons_and_rle_segmentation_drawn_without_mask() -> None:
    seg = np.empty(3, dtype=object)
    seg[0] = [[15, 25, 55, 25, 55, 65, 15, 65]]
    seg[1] = {"size": [90, 120], "counts": [90 * 60 + 20, 40, 90 * 60 - 20 - 40]}
    seg[2] = None
    out = annotate(np.zeros((90, 120, 3), np.uint8), _dets(data={"segmentation": seg}), boxes=False, labels=False)
    assert np.abs(out[45, 35].astype(int) - np.array(class_color(0)) * 0.45).max() <= 1
    assert out[40, 60].any()
    assert not out[10, 60].any()
    assert not out[80, 20].any()  # the third object has no segmentation


def test_rotated_boxes_replace_axis_aligned() -> None:
    poly = np.array([[[60, 10], [100, 45], [60, 80], [20, 45]]], np.float32)
    dets = Detections(xyxy=[[20, 10, 100, 80]], confidence=[0.8], data={"obb_polygon": poly})
    out = annotate(np.zeros((90, 120, 3), np.uint8), dets, labels=False)
    assert not out[12, 22].any()  # the hull's corner stays empty: no axis-aligned box
    assert out[10, 60].any()
    assert out[45, 20].any()
    with pytest.raises(InvalidInputError, match="obb_polygon"):
        annotate(
            np.zeros((90, 120, 3), np.uint8),
            Detections(xyxy=[[20, 10, 100, 80]], data={"obb_polygon": np.zeros((1, 3, 2))}),
        )


def test_heatmap_overlay_hot_where_the_map_is_high() -> None:
    heat = np.zeros((1, 9, 12), np.float32)
    heat[0, :, 8:] = 1.0
    dets = Detections(xyxy=[[60, 0, 120, 90]], confidence=[0.9], data={"heatmap": heat})
    grey = np.full((90, 120, 3), 128, np.uint8)
    out = annotate(grey, dets, boxes=False, labels=False)
    assert (out[45, 10] == 128).all()  # cold: untouched
    assert np.abs(out[45, 110].astype(int) - 128).max() > 60  # hot: coloured (JET's dark red)
    standalone = overlay_heatmap(grey, heat[0])
    np.testing.assert_array_equal(standalone, out)
    assert (grey == 128).all()


# ------------------------------------------------------------------------------ golden images
def _golden_cases() -> dict[str, np.ndarray]:
    seg = np.empty(3, dtype=object)
    seg[:] = [[[15, 25, 55, 25, 35, 65]], None, [[2, 66, 38, 66, 38, 88, 2, 88]]]
    poly = np.array([[[60, 10], [100, 45], [60, 80], [20, 45]]], np.float32)
    return {
        "boxes_labels": annotate(_gradient(), _dets(tracker_id=[1, 2, 3])),
        "masks": annotate(_gradient(), _dets(mask=_masks())),
        "polygons_gray": annotate(_gradient()[:, :, 1], _dets(data={"segmentation": seg})),
        "obb": annotate(
            _gradient(),
            Detections(xyxy=[[20, 10, 100, 80]], confidence=[0.8], class_id=[4], data={"obb_polygon": poly}),
        ),
    }


@pytest.mark.parametrize("name", ["boxes_labels", "masks", "polygons_gray", "obb"])
def test_golden_images(name: str) -> None:
    got = _golden_cases()[name]
    path = GOLDEN / f"annotate_{name}.png"
    if REGEN:
        cv2.imwrite(str(path), got)
    want = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert want is not None, f"missing golden file {path}; run with DETECTKIT_REGEN_GOLDEN=1"
    assert want.shape == got.shape
    diff = np.abs(want.astype(int) - got.astype(int))
    # small tolerance for anti-aliasing differences between OpenCV builds
    assert (diff.max(axis=2) > 40).mean() < 0.01, f"{name}: {(diff.max(axis=2) > 40).mean():.3%} pixels differ"
    assert diff.mean() < 1.5


def test_mask_fill_leaves_other_pixels_exact_and_handles_masks_outside_their_box() -> None:
    image = _gradient()
    mask = np.zeros((1, 90, 120), bool)
    mask[0, 5:15, 100:118] = True  # far outside its box
    dets = Detections(xyxy=[[10, 10, 30, 30]], mask=mask)
    out = annotate(image, dets, boxes=False, labels=False, alpha=0.5)
    changed = (out != image).any(axis=2)
    assert changed[5:15, 100:118].all()  # filled (and outlined) where the mask is
    grown = np.zeros_like(changed)
    grown[3:17, 98:120] = True  # outline anti-aliasing may touch a pixel around it
    assert not changed[~grown].any()  # every other pixel bit-exact


def test_boxes_wholly_outside_the_frame_are_not_drawn() -> None:
    black = np.zeros((90, 120, 3), np.uint8)
    outside = Detections(xyxy=[[130, 10, 160, 40], [10, -50, 40, -5]], confidence=[0.9, 0.8])
    np.testing.assert_array_equal(annotate(black, outside, labels=["a", "b"]), black)
    mixed = Detections(xyxy=[[130, 10, 160, 40], [10, 10, 40, 40]], confidence=[0.9, 0.8])
    out = annotate(black, mixed, labels=["hidden", "shown"])
    np.testing.assert_array_equal(out, annotate(black, mixed[1:], labels=["shown"]))


@settings(max_examples=40, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.floats(-80, 200), st.floats(-80, 150), st.floats(0, 120), st.floats(0, 90)),
        max_size=15,
    ),
    kind=st.sampled_from(sorted(IMAGE_TYPES)),
    with_conf=st.booleans(),
)
def test_any_boxes_any_image_never_touch_the_input(
    boxes: list[tuple[float, float, float, float]], kind: str, with_conf: bool
) -> None:
    image = IMAGE_TYPES[kind]()
    before = image.copy()
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes]).reshape(-1, 4)
    n = len(xyxy)
    dets = Detections(
        xyxy=xyxy,
        confidence=np.linspace(1, 0, n) if with_conf else None,
        class_id=np.arange(n) * 7,
        names={0: "zero"},
    )
    out = annotate(image, dets)
    np.testing.assert_array_equal(image, before)
    assert out.shape[:2] == image.shape[:2]
