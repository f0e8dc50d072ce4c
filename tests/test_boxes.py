"""Box geometry: conversion, IoU family (against torchvision), polygons/OBB (shapely), masks, letterbox."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.ops as tv_ops
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from detectkit import boxes as B  # noqa: N812
from detectkit.errors import InvalidInputError

RNG = np.random.default_rng(1234)


def random_boxes(n: int, *, zero_frac: float = 0.0, size: float = 100.0, rng: np.random.Generator = RNG) -> np.ndarray:
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0, size / 2, (n, 2))
    wh[rng.random((n, 2)) < zero_frac] = 0
    return np.concatenate([xy, xy + wh], axis=1)


# ---------------------------------------------------------------------------- bad input table
GOOD = [[0, 0, 10, 10]]
BAD_INPUT = [
    # (callable, expected message fragment)
    (lambda: B.convert([[0, 0, 1]], "xyxy", "xywh"), "boxes must have shape (N, 4)"),
    (lambda: B.convert(GOOD, "xyxyz", "xywh"), "src must be one of"),
    (lambda: B.convert(GOOD, "xyxy", "yolo"), "dst must be one of"),
    (lambda: B.convert([[0, 0, np.nan, 1]], "xyxy", "xywh"), "boxes must be finite"),
    (lambda: B.convert([[0, 0, np.inf, 1]], "xyxy", "xywh"), "boxes must be finite"),
    (lambda: B.convert([[5, 0, 1, 1]], "xyxy", "xywh"), "x2 >= x1"),
    (lambda: B.convert([[5, 0, -1, 1]], "xywh", "xyxy"), "non-negative width and height"),
    (lambda: B.convert([["a", "b", "c", "d"]], "xyxy", "xywh"), "boxes must be numeric"),
    (lambda: B.convert([[True, False, True, True]], "xyxy", "xywh"), "boxes must be numeric"),
    (lambda: B.convert(GOOD, "xyxy", "xyxyn"), "image_size_wh is required"),
    (lambda: B.convert(GOOD, "xyxy", "xyxyn", image_size_wh=(0, 10)), "image_size_wh must hold two positive"),
    (lambda: B.area([[1, 2, 3]]), "boxes must have shape (N, 4)"),
    (lambda: B.clip(GOOD, (10,)), "image_size_wh must be a (width, height) pair"),
    (lambda: B.box_iou([[0, 0, 1]], GOOD), "boxes1 must have shape (N, 4)"),
    (lambda: B.box_iou(GOOD, [[0, 0, 1, np.nan]]), "boxes2 must be finite"),
    (lambda: B.box_giou(GOOD, [[3, 3, 1, 1]]), "boxes2 must be xyxy with x2 >= x1"),
    (lambda: B.box_diou(np.zeros((2, 4, 1)), GOOD), "boxes1 must have shape (N, 4)"),
    (lambda: B.box_ciou(GOOD, "abc"), "boxes2 must"),
    (lambda: B.box_ioa(None, GOOD), "boxes1 must be an array, got None"),
    (lambda: B.scale(GOOD, (0, 1)), "factor_wh must be positive"),
    (lambda: B.scale(GOOD, "x"), "factor_wh must be a number or an (x, y) pair"),
    (lambda: B.translate(GOOD, (np.nan, 0)), "offset_xy must be finite"),
    (lambda: B.pad(GOOD, pixels=(1, 2, 3)), "pixels must be a number or an (x, y) pair"),
    (lambda: B.crop(GOOD, [[0, 0, 5, 5], [1, 1, 2, 2]]), "crop_xyxy must be one box"),
    (lambda: B.crop(GOOD, [5, 5, 0, 0]), "crop_xyxy must be xyxy"),
    (lambda: B.crop_image(np.zeros((4, 4, 3, 1)), GOOD[0]), "image must have shape"),
    (lambda: B.letterbox_params((0, 10), (640, 640)), "src_size_wh must hold two positive"),
    (lambda: B.letterbox_params((10, 10), (640,)), "dst_size_wh must be a (width, height) pair"),
    (lambda: B.unletterbox(GOOD, ratio=0, pad_wh=(0, 0)), "ratio must be positive"),
    (lambda: B.letterbox(GOOD, ratio=1, pad_wh=None), "pad_wh must be a number or an (x, y) pair"),
    (lambda: B.obb_to_polygon([[0, 0, 1, 1]]), "obb must have shape (N, 5)"),
    (lambda: B.obb_to_polygon([[0, 0, -1, 1, 0]]), "obb must have non-negative width and height"),
    (lambda: B.obb_iou([[0, 0, 1, 1, np.nan]], [[0, 0, 1, 1, 0]]), "obb1 must be finite"),
    (lambda: B.polygon_to_xyxy([[[0, 0], [1, 1]]]), "polygons[0] must have shape (K, 2) with K >= 3"),
    (lambda: B.polygon_to_xyxy(np.zeros((2, 3, 3))), "polygons must have shape (N, K, 2)"),
    (lambda: B.polygon_to_xyxy(5), "polygons must be an (N, K, 2) array or a list"),
    (lambda: B.polygon_iou([[[0, 0], [1, 0], [np.inf, 1]]], []), "polygons1[0] must be finite"),
    (lambda: B.polygons_to_mask([[[0, 0], [1, 0], [1, 1]]], (0, 5)), "image_size_wh must hold two positive"),
    (lambda: B.mask_to_polygons(np.zeros((2, 2, 2), bool)), "mask must be 2-D"),
    (lambda: B.mask_to_polygons(np.full((2, 2), 0.5)), "mask must be boolean"),
    (lambda: B.masks_to_xyxy(np.zeros((2, 2), bool)), "masks must have shape (N, H, W)"),
    (lambda: B.masks_to_xyxy(np.full((1, 2, 2), 3)), "masks must be boolean"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_raises_invalid_input_naming_the_argument(call, message):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------- empty in, empty out
@pytest.mark.parametrize(
    ("call", "shape"),
    [
        (lambda e: B.convert(e, "xyxy", "cxcywhn", image_size_wh=(10, 10)), (0, 4)),
        (lambda e: B.area(e), (0,)),
        (lambda e: B.clip(e, (5, 5)), (0, 4)),
        (lambda e: B.translate(e, (1, 1)), (0, 4)),
        (lambda e: B.scale(e, 2), (0, 4)),
        (lambda e: B.pad(e, pixels=1), (0, 4)),
        (lambda e: B.crop(e, [0, 0, 1, 1]), (0, 4)),
        (lambda e: B.unletterbox(e, ratio=0.5, pad_wh=(1, 2)), (0, 4)),
        (lambda e: B.box_iou(e, GOOD), (0, 1)),
        (lambda e: B.box_giou(GOOD, e), (1, 0)),
        (lambda e: B.box_ciou(e, e), (0, 0)),
        (lambda e: B.polygon_to_xyxy([]), (0, 4)),
        (lambda e: B.polygon_iou([], [[[0, 0], [1, 0], [1, 1]]]), (0, 1)),
        (lambda e: B.obb_iou(np.zeros((0, 5)), [[0, 0, 1, 1, 0]]), (0, 1)),
        (lambda e: B.obb_to_polygon(np.zeros((0, 5))), (0, 4, 2)),
        (lambda e: B.masks_to_xyxy(np.zeros((0, 3, 3), bool)), (0, 4)),
    ],
)
@pytest.mark.parametrize("empty", [[], np.zeros((0, 4)), np.zeros((0, 4), np.float32)])
def test_empty_in_empty_out(call, shape, empty):
    assert call(empty).shape == shape


# ---------------------------------------------------------------------------- conversion
FORMATS = ["xyxy", "xywh", "cxcywh", "xyxyn", "xywhn", "cxcywhn"]

box_arrays = st.integers(0, 8).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, 2), elements=st.floats(0, 500, allow_nan=False)),
        arrays(np.float64, (n, 2), elements=st.floats(0, 300, allow_nan=False)),
    )
)


@settings(max_examples=60, deadline=None)
@given(data=box_arrays, src=st.sampled_from(FORMATS), dst=st.sampled_from(FORMATS))
def test_every_conversion_round_trips(data, src, dst):
    xy, wh = data
    xyxy = np.concatenate([xy, xy + wh], axis=1)
    size = (640, 480)
    boxes_src = B.convert(xyxy, "xyxy", src, image_size_wh=size)
    there = B.convert(boxes_src, src, dst, image_size_wh=size)
    back = B.convert(there, dst, src, image_size_wh=size)
    np.testing.assert_allclose(back, boxes_src, atol=1e-6)
    np.testing.assert_allclose(B.convert(there, dst, "xyxy", image_size_wh=size), xyxy, atol=1e-6)


def test_convert_matches_torchvision_box_convert():
    b = random_boxes(50)
    for fmt in ("xywh", "cxcywh"):
        ref = tv_ops.box_convert(torch.from_numpy(b), "xyxy", fmt).numpy()
        np.testing.assert_allclose(B.convert(b, "xyxy", fmt), ref, atol=1e-9)


# ---------------------------------------------------------------------------- IoU family vs torchvision
TV_PAIRS = [
    (B.box_iou, tv_ops.box_iou),
    (B.box_giou, tv_ops.generalized_box_iou),
    (B.box_diou, tv_ops.distance_box_iou),
    (B.box_ciou, tv_ops.complete_box_iou),
]


@pytest.mark.parametrize(("mine", "ref"), TV_PAIRS, ids=["iou", "giou", "diou", "ciou"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iou_family_equals_torchvision(mine, ref, dtype):
    a = random_boxes(80, zero_frac=0.1).astype(dtype)
    b = random_boxes(60, zero_frac=0.1).astype(dtype)
    a_before, b_before = a.copy(), b.copy()
    got = mine(a, b)
    expected = ref(torch.from_numpy(a.astype(np.float64)), torch.from_numpy(b.astype(np.float64))).numpy()
    assert got.shape == (80, 60)
    assert got.dtype == np.float32
    assert np.isfinite(got).all()  # never NaN, even where torchvision gives NaN
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], atol=1e-4)
    np.testing.assert_array_equal(a, a_before)  # inputs untouched
    np.testing.assert_array_equal(b, b_before)


def test_zero_area_boxes_give_zero_iou_not_nan():
    point = [[5, 5, 5, 5]]
    line = [[0, 5, 10, 5]]
    assert B.box_iou(point, point).tolist() == [[0.0]]
    assert B.box_iou(line, point).tolist() == [[0.0]]
    assert B.box_iou(GOOD, point).tolist() == [[0.0]]
    assert B.box_ioa(GOOD, point).tolist() == [[0.0]]
    for fn in (B.box_giou, B.box_diou, B.box_ciou):
        assert np.isfinite(fn(point + line, point + line)).all()


def test_ioa_is_intersection_over_second_area():
    a = random_boxes(30)
    b = random_boxes(20)
    inter = B.box_iou(a, b)  # use the definition: inter = iou * union
    ref = np.zeros((30, 20))
    for i in range(30):
        for j in range(20):
            iw = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            ih = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            area_b = (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1])
            ref[i, j] = iw * ih / area_b if area_b > 0 else 0.0
    np.testing.assert_allclose(B.box_ioa(a, b), ref, atol=1e-5)
    assert inter.shape == (30, 20)


def test_pairwise_chunking_gives_the_same_matrix(monkeypatch):
    a = random_boxes(97)
    b = random_boxes(53)
    whole = {fn.__name__: fn(a, b) for fn, _ in TV_PAIRS}
    monkeypatch.setattr(B, "_CHUNK_ELEMENTS", 100)  # 1 row per chunk
    for fn, _ in TV_PAIRS:
        np.testing.assert_array_equal(fn(a, b), whole[fn.__name__])


positive_boxes = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, 2), elements=st.floats(0, 100, allow_nan=False)),
        arrays(np.float64, (n, 2), elements=st.floats(0.5, 50, allow_nan=False)),
    ).map(lambda t: np.concatenate([t[0], t[0] + t[1]], axis=1))
)


@settings(max_examples=60, deadline=None)
@given(a=positive_boxes, b=positive_boxes)
def test_iou_properties(a, b):
    ab = B.box_iou(a, b)
    ba = B.box_iou(b, a)
    np.testing.assert_allclose(ab, ba.T, atol=1e-6)  # symmetric
    assert ((ab >= 0) & (ab <= 1)).all()  # in [0, 1]
    np.testing.assert_allclose(np.diag(B.box_iou(a, a)), 1.0, atol=1e-6)  # IoU(a, a) = 1
    g = B.box_giou(a, b)
    assert ((g >= -1 - 1e-6) & (g <= ab + 1e-6)).all()  # GIoU <= IoU, >= -1
    np.testing.assert_allclose(np.diag(B.box_diou(a, a)), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.diag(B.box_ciou(a, a)), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------- OBB and polygons
def random_obb(n: int, rng: np.random.Generator = RNG) -> np.ndarray:
    return np.concatenate(
        [rng.uniform(0, 60, (n, 2)), rng.uniform(1, 30, (n, 2)), rng.uniform(-np.pi, np.pi, (n, 1))], axis=1
    )


def test_obb_to_polygon_matches_ultralytics():
    from ultralytics.utils.ops import xywhr2xyxyxyxy

    o = random_obb(40)
    np.testing.assert_allclose(B.obb_to_polygon(o), xywhr2xyxyxyxy(o.copy()), atol=1e-9)


def test_obb_iou_matches_torchvision_rotated_iou():
    o1, o2 = random_obb(30), random_obb(40)
    t1, t2 = torch.from_numpy(o1.copy()), torch.from_numpy(o2.copy())
    t1[:, 4] = -torch.rad2deg(t1[:, 4])  # torchvision: degrees, counter-clockwise in a y-up frame
    t2[:, 4] = -torch.rad2deg(t2[:, 4])
    expected = tv_ops.box_iou(t1, t2, fmt="cxcywhr").numpy()
    got = B.obb_iou(o1, o2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(np.diag(B.obb_iou(o1, o1)), 1.0, atol=1e-6)


def test_obb_with_zero_angle_equals_axis_aligned_iou():
    xyxy = random_boxes(20, size=50) + np.array([0, 0, 1, 1])
    cxcywh = B.convert(xyxy, "xyxy", "cxcywh")
    obb = np.concatenate([cxcywh, np.zeros((20, 1))], axis=1)
    np.testing.assert_allclose(B.obb_iou(obb, obb), B.box_iou(xyxy, xyxy), atol=1e-5)


def test_polygon_iou_matches_shapely_pair_by_pair():
    import shapely

    polys_a = [*B.obb_to_polygon(random_obb(12)), np.array([[0, 0], [30, 0], [0, 30]], float)]
    polys_b = [*B.obb_to_polygon(random_obb(9)), [0, 0, 20, 0, 20, 20, 0, 20]]  # COCO flat
    got = B.polygon_iou(polys_a, polys_b)
    for i, pa in enumerate(polys_a):
        for j, pb in enumerate(polys_b):
            ga, gb = shapely.Polygon(pa), shapely.Polygon(np.reshape(pb, (-1, 2)))
            inter = ga.intersection(gb).area
            assert got[i, j] == pytest.approx(inter / (ga.area + gb.area - inter), abs=1e-5)


def test_polygon_iou_repairs_self_intersecting_and_handles_zero_area():
    bowtie = [[0, 0], [2, 2], [2, 0], [0, 2]]
    square = [[0, 0], [2, 0], [2, 2], [0, 2]]
    flat = [[0, 0], [1, 0], [2, 0]]
    iou = B.polygon_iou([bowtie, flat], [square])
    assert np.isfinite(iou).all()
    assert iou[0, 0] == pytest.approx(0.5, abs=1e-6)  # two triangles of area 1 each inside the square
    assert iou[1, 0] == 0.0


def test_polygon_to_xyxy():
    polys = B.obb_to_polygon([[10, 10, 4, 2, np.pi / 2]])
    np.testing.assert_allclose(B.polygon_to_xyxy(polys), [[9, 8, 11, 12]], atol=1e-9)


# ---------------------------------------------------------------------------- masks
def test_masks_to_xyxy_matches_pycocotools_bbox():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(5)
    masks = np.zeros((6, 40, 50), bool)
    for k in range(5):
        x0, y0 = rng.integers(0, 30, 2)
        masks[k, y0 : y0 + rng.integers(1, 10), x0 : x0 + rng.integers(1, 15)] = True
    before = masks.copy()
    got = B.masks_to_xyxy(masks)
    for k in range(5):
        rle = mask_utils.encode(np.asfortranarray(masks[k].astype(np.uint8)))
        x, y, w, h = mask_utils.toBbox(rle)
        np.testing.assert_allclose(got[k], [x, y, x + w, y + h])
    assert got[5].tolist() == [0, 0, 0, 0]  # empty mask
    np.testing.assert_array_equal(masks, before)


def test_mask_polygon_round_trip():
    mask = np.zeros((40, 60), bool)
    mask[5:15, 10:30] = True
    mask[20:35, 40:55] = True
    polys = B.mask_to_polygons(mask)
    assert len(polys) == 2
    back = B.polygons_to_mask(polys, (60, 40))
    np.testing.assert_array_equal(back, mask)
    assert B.mask_to_polygons(np.zeros((5, 5), bool)) == []
    assert len(B.mask_to_polygons(mask, min_area=180)) == 1  # contour areas 19*9=171 (dropped), 14*14=196


# ---------------------------------------------------------------------------- letterbox and helpers
@pytest.mark.parametrize(("src", "dst"), [((1280, 720), (640, 640)), ((810, 1080), (640, 480)), ((33, 17), (64, 64))])
def test_unletterbox_matches_ultralytics_scale_boxes(src, dst):
    from ultralytics.utils.ops import scale_boxes

    p = B.letterbox_params(src, dst)
    boxes_net = random_boxes(25, size=min(dst))
    ours = B.unletterbox(boxes_net, ratio=p.ratio, pad_wh=p.pad_wh, image_size_wh=src)
    ref = scale_boxes((dst[1], dst[0]), torch.from_numpy(boxes_net.copy()), (src[1], src[0])).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize(
    ("src", "dst"), [((1280, 720), (640, 640)), ((810, 1080), (640, 480)), ((500, 375), (320, 320))]
)
def test_letterbox_params_match_ultralytics_letterbox(src, dst):
    from ultralytics.data.augment import LetterBox

    img = np.zeros((src[1], src[0], 3), np.uint8)
    img[:, :] = 255
    out = LetterBox(new_shape=(dst[1], dst[0]), auto=False)(image=img)
    p = B.letterbox_params(src, dst)
    rows = np.flatnonzero(out[:, :, 0].max(axis=1) > 128)
    cols = np.flatnonzero(out[:, :, 0].max(axis=0) > 128)
    assert (cols[0], rows[0]) == (int(p.pad_wh[0]), int(p.pad_wh[1]))
    assert (cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1) == p.new_unpad_wh


def test_letterbox_then_unletterbox_is_identity():
    p = B.letterbox_params((1000, 500), (640, 640), center=False)
    assert p.pad_wh == (0.0, 0.0)
    b = random_boxes(10)
    np.testing.assert_allclose(
        B.unletterbox(B.letterbox(b, ratio=p.ratio, pad_wh=p.pad_wh), ratio=p.ratio, pad_wh=p.pad_wh), b
    )


def test_helpers_return_new_arrays_and_do_not_mutate():
    b = np.array([[10.0, 10.0, 20.0, 30.0], [0, 0, 5, 5]])
    before = b.copy()
    for out in (
        B.translate(b, (1, 2)),
        B.scale(b, 2),
        B.pad(b, pixels=2),
        B.crop(b, [5, 5, 15, 15]),
        B.clip(b, (12, 12)),
        B.convert(b, "xyxy", "xyxy"),
        B.unletterbox(b, ratio=1, pad_wh=(0, 0)),
    ):
        assert out is not b
        assert not np.shares_memory(out, b)
    np.testing.assert_array_equal(b, before)


def test_pad_shrinks_no_further_than_the_centre_and_clips():
    out = B.pad([[10, 10, 20, 20]], pixels=-100)
    assert out.tolist() == [[15, 15, 15, 15]]
    assert B.pad([[1, 1, 5, 5]], pixels=3, image_size_wh=(6, 6)).tolist() == [[0, 0, 6, 6]]


def test_crop_image_copies_and_clips():
    img = np.arange(1, 5 * 6 * 3 + 1, dtype=np.uint8).reshape(5, 6, 3)
    before = img.copy()
    part = B.crop_image(img, [4.5, 3.2, 9, 9])
    np.testing.assert_array_equal(part, img[3:5, 4:6])
    part[:] = 0
    np.testing.assert_array_equal(img, before)
    assert B.crop_image(img, [1, 1, 2, 2], margin=1).shape == (3, 3, 3)
