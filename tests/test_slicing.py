"""detectkit.slicing: tile geometry, SliceConfig, and the merge on constructed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from detectkit.errors import InvalidInputError
from detectkit.slicing import SliceConfig, cut_sides, merge_slices, slice_boxes

W, H = 576, 100  # two tiles of 320 with a 64 px overlap: [0, 320] and [256, 576]
T1 = [0, 0, 320, 100]
T2 = [256, 0, 576, 100]
FULL = [0, 0, W, H]


def _merge(boxes, scores, tiles, classes=None, *, size=(W, H), **options):
    cfg = SliceConfig(slice_wh=320, overlap=64, **options)
    cls = [0] * len(boxes) if classes is None else classes
    return merge_slices(np.array(boxes, float).reshape(-1, 4), scores, cls, tiles=tiles, image_size_wh=size, config=cfg)


# ------------------------------------------------------------------------------------- geometry
def _sahi_grid(w: int, h: int, sw: int, sh: int, ox: int, oy: int) -> list[list[int]]:
    """sahi 0.12's get_slice_bboxes loop, written out (the reference when sahi is absent)."""
    out, y_min, y_max = [], 0, 0
    while y_max < h:
        x_min = x_max = 0
        y_max = y_min + sh
        while x_max < w:
            x_max = x_min + sw
            if y_max > h or x_max > w:
                x_max, y_max = min(w, x_max), min(h, y_max)
                x_min, y_min = max(0, x_max - sw), max(0, y_max - sh)
            out.append([x_min, y_min, x_max, y_max])
            x_min = x_max - ox
        y_min = y_max - oy
    return out


@pytest.mark.parametrize(
    ("size_wh", "slice_wh", "overlap"),
    [
        ((640, 640), (320, 320), (64, 64)),  # exact multiple of the step... not quite: 3 tiles per axis
        ((1000, 700), (320, 320), (64, 64)),  # non-multiple sizes
        ((3840, 2160), (320, 320), (64, 64)),
        ((100, 50), (320, 320), (64, 64)),  # image smaller than a tile
        ((320, 320), (320, 320), (0, 0)),  # exactly one tile
        ((321, 100), (320, 64), (0, 10)),  # one pixel more than a tile
        ((777, 333), (200, 100), (199, 0)),  # overlap one less than the tile
    ],
)
def test_slice_boxes_equals_sahi_grid(size_wh, slice_wh, overlap) -> None:
    got = slice_boxes(size_wh, slice_wh, overlap)
    assert got.dtype == np.int64
    assert got.tolist() == _sahi_grid(*size_wh, *slice_wh, *overlap)


def test_slice_boxes_equals_sahi_itself() -> None:
    sahi_slicing = pytest.importorskip("sahi.slicing")
    rng = np.random.default_rng(0)
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 1500, 2))
        sw, sh = (int(v) for v in rng.integers(32, 500, 2))  # SliceConfig's smallest tile is 32 px
        ratio = float(rng.choice([0.0, 0.1, 0.2, 0.5, 0.9]))
        ref = sahi_slicing.get_slice_bboxes(h, w, sh, sw, False, ratio, ratio)
        cfg = SliceConfig(slice_wh=(sw, sh), overlap=ratio)
        assert slice_boxes((w, h), (sw, sh), cfg.overlap_px((sw, sh))).tolist() == ref


@pytest.mark.parametrize(("w", "h", "s", "o"), [(1000, 700, 320, 64), (97, 1203, 50, 7), (640, 480, 640, 0)])
def test_slice_boxes_cover_the_image_with_full_size_tiles(w, h, s, o) -> None:
    tiles = slice_boxes((w, h), s, o)
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] = True
        assert (x1 - x0, y1 - y0) == (min(s, w), min(s, h))
        assert x0 >= 0
        assert y0 >= 0
        assert x1 <= w
        assert y1 <= h
    assert covered.all()
    xs = sorted({int(t[0]) for t in tiles})
    assert all(b - a <= s - o for a, b in itertools.pairwise(xs))  # neighbours overlap by >= o


def test_a_tile_under_32_px_is_refused() -> None:  # --slice 5 for 512 would run ~10^5 forwards per image
    with pytest.raises(InvalidInputError, match="at least 32 px per side"):
        SliceConfig(slice_wh=(5, 640))
    assert SliceConfig(slice_wh=32).slice_wh == (32, 32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((100, 100), 0, 0), "slice_wh"),
        (((100, 100), 64, 64), "overlap_wh"),
        (((100, 100), 64, -1), "overlap_wh"),
        (((0, 100), 64, 0), "image_size_wh"),
        (((100, 100), (64, 1.5), 0), "slice_wh"),
    ],
)
def test_slice_boxes_rejects_bad_input(args, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        slice_boxes(*args)


# ------------------------------------------------------------------------------------- SliceConfig
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, None),
        ({"slice_wh": 640, "overlap": 0.25}, None),
        ({"slice_wh": (640, 320), "overlap": (32, 0.1)}, None),
        ({"merge": "wbf"}, None),
        ({"slice_wh": 0}, "slice_wh"),
        ({"slice_wh": (640,)}, "slice_wh"),
        ({"overlap": 1.0}, "overlap"),
        ({"overlap": -3}, "overlap"),
        ({"overlap": True}, "overlap"),
        ({"merge": "soft"}, "merge"),
        ({"match_metric": "giou"}, "match_metric"),
        ({"merge": "wbf", "match_metric": "ios"}, "wbf"),
        ({"merge": "wbf", "class_agnostic": True}, "wbf"),
        ({"match_threshold": 1.5}, "match_threshold"),
        ({"edge_aware": 1}, "edge_aware"),
        ({"edge_margin": -1}, "edge_margin"),
        ({"max_det": 0}, "max_det"),
        ({"batch_size": 2.5}, "batch_size"),
    ],
)
def test_slice_config_validation(options, error) -> None:
    if error is None:
        cfg = SliceConfig(**options)
        assert cfg.match_metric in ("iou", "ios")
    else:
        with pytest.raises(InvalidInputError, match=error):
            SliceConfig(**options)


def test_slice_config_defaults_and_coerce() -> None:
    cfg = SliceConfig()
    assert (cfg.merge, cfg.match_metric, cfg.match_threshold) == ("nmm", "ios", 0.5)  # sahi's defaults
    assert SliceConfig(merge="wbf").match_metric == "iou"
    assert cfg.resolve_slice_wh(416) == (416, 416)  # auto: the model's input size
    assert cfg.resolve_slice_wh((320, 640)) == (640, 320)  # imgsz is (h, w)
    assert SliceConfig.coerce(None) is None
    assert SliceConfig.coerce(cfg) is cfg
    assert SliceConfig.coerce((640, 480)).slice_wh == (640, 480)
    with pytest.raises(InvalidInputError, match="slicing"):
        SliceConfig.coerce("big")
    with pytest.raises(InvalidInputError, match="smaller than the tile"):
        SliceConfig(overlap=64).overlap_px((64, 64))
    with pytest.raises(TypeError):
        SliceConfig(640)  # type: ignore[misc]  # keyword-only


# ------------------------------------------------------------------------------------- cut sides
def test_cut_sides_only_inner_borders() -> None:
    boxes = [[300, 10, 320, 30], [0, 0, 10, 10], [256, 90, 270, 100], [100, 10, 200, 30]]
    tiles = [T1, T1, T2, FULL]
    got = cut_sides(boxes, tiles, (W, H))
    assert got.tolist() == [
        [False, False, True, False],  # right side on T1's inner border x=320
        [False, False, False, False],  # image borders are not cuts
        [True, False, False, False],  # left on T2's inner border x=256; bottom is the image border
        [False, False, False, False],  # full-image detections are never cut
    ]


# ------------------------------------------------------------------------------------- merge rules
def test_object_on_a_tile_border_becomes_one_box() -> None:
    # an object at x 200..400 is cut by both tiles: T1 sees 200..320, T2 sees 256..400
    boxes = [[200, 20, 320, 60], [256, 21, 400, 61]]
    m = _merge(boxes, [0.6, 0.9], [T1, T2], full_image=False)
    assert m.xyxy.tolist() == [[200, 20, 400, 61]]
    assert m.confidence.tolist() == pytest.approx([0.9])
    # plain NMS keeps the best piece only: a cut box
    plain = _merge(boxes, [0.6, 0.9], [T1, T2], merge="nms", edge_aware=False)
    assert plain.xyxy.tolist() == [[256, 21, 400, 61]]


def test_fragment_is_dropped_when_a_tile_saw_the_whole_object() -> None:
    # the object is at x 200..300: whole in T1, cut at T2's left border; the fragment scores higher
    boxes = [[200, 20, 300, 60], [256, 20, 301, 60]]
    for merge in ("nms", "nmm", "wbf"):
        m = _merge(boxes, [0.5, 0.9], [T1, T2], merge=merge)
        assert m.xyxy.tolist() == [[200, 20, 300, 60]], merge  # the complete box, unchanged
        assert m.confidence.tolist() == pytest.approx([0.5])
    plain = _merge(boxes, [0.5, 0.9], [T1, T2], merge="nms", edge_aware=False)
    assert plain.xyxy.tolist() == [[256, 20, 301, 60]]  # plain NMS keeps the fragment


def test_object_bigger_than_a_tile_is_not_split() -> None:
    # three tiles in a row (0..320, 256..576, 512..832); the object spans x 100..700
    size = (832, 100)
    tiles = [[0, 0, 320, 100], [256, 0, 576, 100], [512, 0, 832, 100]]
    boxes = [[100, 10, 320, 90], [256, 12, 576, 88], [512, 10, 700, 90]]
    m = _merge(boxes, [0.7, 0.4, 0.8], tiles, size=size)
    assert m.xyxy.tolist() == [[100, 10, 700, 90]]
    assert m.confidence.tolist() == pytest.approx([0.8])
    plain = _merge(boxes, [0.7, 0.4, 0.8], tiles, size=size, merge="nms", match_metric="iou", edge_aware=False)
    assert len(plain.xyxy) == 3  # sahi issue 274: one object, several boxes


def test_object_bigger_than_a_tile_in_both_directions() -> None:
    size = (576, 576)
    tl, tr, bl, br = [0, 0, 320, 320], [256, 0, 576, 320], [0, 256, 320, 576], [256, 256, 576, 576]
    obj = [150, 140, 450, 430]
    boxes, tiles = [], []
    for t in (tl, tr, bl, br):
        boxes.append([max(obj[0], t[0]), max(obj[1], t[1]), min(obj[2], t[2]), min(obj[3], t[3])])
        tiles.append(t)
    m = _merge(boxes, [0.5, 0.6, 0.7, 0.8], tiles, size=size, merge="nms")
    assert m.xyxy.tolist() == [obj]


def test_two_neighbours_never_share_one_box() -> None:
    # sahi issue 106: obj1 at x 200..300, obj2 at x 270..380 overlap by 30 px. T1 sees obj1 whole and a
    # fragment of obj2 (270..320, cut at x=320) that lies 60 % inside obj1: plain NMM (IOS 0.5) glues it on.
    boxes = [[200, 20, 300, 60], [270, 20, 320, 60], [270, 20, 380, 60], [256, 20, 300, 60]]
    scores = [0.9, 0.6, 0.8, 0.5]
    tiles = [T1, T1, T2, T2]
    m = _merge(boxes, scores, tiles)
    assert sorted(m.xyxy.tolist()) == [[200, 20, 300, 60], [270, 20, 380, 60]]
    plain = _merge(boxes, scores, tiles, edge_aware=False)
    assert [200, 20, 320, 60] in plain.xyxy.tolist()  # obj1's box grew over obj2


def test_stitch_needs_aligned_pieces_that_span_the_overlap() -> None:
    # two objects stacked vertically, each cut at x=320 / x=256, but at different heights: no stitch
    boxes = [[200, 0, 320, 40], [256, 55, 400, 95]]
    m = _merge(boxes, [0.9, 0.8], [T1, T2], merge="nms", match_metric="iou")
    assert len(m.xyxy) == 2
    # a piece that does not reach back over the strip (starts right of T2's border) is not a partner
    boxes = [[200, 20, 320, 60], [280, 20, 400, 60]]
    m = _merge(boxes, [0.9, 0.8], [T1, T2], merge="nms", match_metric="iou")
    assert sorted(m.xyxy.tolist()) == [[200, 20, 320, 60], [280, 20, 400, 60]]
    # different classes are not stitched unless class_agnostic
    boxes = [[200, 20, 320, 60], [256, 20, 400, 60]]
    m = _merge(boxes, [0.9, 0.8], [T1, T2], [0, 1], merge="nms")
    assert len(m.xyxy) == 2
    m = _merge(boxes, [0.9, 0.8], [T1, T2], [0, 1], merge="nms", class_agnostic=True)
    assert m.xyxy.tolist() == [[200, 20, 400, 60]]
    assert m.class_id.tolist() == [0]


@pytest.mark.parametrize("merge", ["nms", "nmm", "wbf"])
@pytest.mark.parametrize("edge_aware", [True, False])
def test_near_identical_duplicates_cannot_survive(merge, edge_aware) -> None:
    # supervision issue 1814: 720 boxes with 6 distinct scores for a handful of objects
    rng = np.random.default_rng(0)
    centres = np.array([[50, 50], [150, 50], [400, 60]], float)
    boxes, scores, tiles = [], [], []
    for i in range(720):
        c = centres[i % 3] + rng.uniform(-0.5, 0.5, 2)
        boxes.append([c[0] - 10, c[1] - 10, c[0] + 10, c[1] + 10])
        scores.append([0.9, 0.8, 0.7, 0.6, 0.5, 0.4][i % 6])
        tiles.append(FULL if i % 2 else (T1 if c[0] < 300 else T2))
    m = _merge(
        boxes, scores, tiles, merge=merge, match_metric="iou" if merge == "wbf" else "ios", edge_aware=edge_aware
    )
    assert len(m.xyxy) == 3
    assert np.allclose(np.sort(m.xyxy[:, 0]), np.sort(centres[:, 0] - 10), atol=1.0)


def test_class_agnostic_and_max_det() -> None:
    boxes = [[10, 10, 50, 50], [11, 11, 50, 50], [100, 10, 150, 50]]
    per_class = _merge(boxes, [0.9, 0.8, 0.7], [FULL] * 3, [0, 1, 0], merge="nms")
    assert per_class.class_id.tolist() == [0, 1, 0]
    agnostic = _merge(boxes, [0.9, 0.8, 0.7], [FULL] * 3, [0, 1, 0], merge="nms", class_agnostic=True)
    assert agnostic.class_id.tolist() == [0, 0]
    assert agnostic.confidence.tolist() == pytest.approx([0.9, 0.7])
    capped = _merge(boxes, [0.9, 0.8, 0.7], [FULL] * 3, [0, 1, 0], merge="nms", max_det=1)
    assert capped.confidence.tolist() == pytest.approx([0.9])


def test_wbf_fuses_and_nmm_unions() -> None:
    boxes = [[10, 10, 50, 50], [14, 14, 54, 54]]
    wbf = _merge(boxes, [0.9, 0.3], [FULL, FULL], merge="wbf", match_threshold=0.5)
    assert wbf.xyxy.tolist() == [pytest.approx([11, 11, 51, 51])]
    assert wbf.confidence.tolist() == pytest.approx([0.9])  # the best member's score
    nmm = _merge(boxes, [0.9, 0.3], [FULL, FULL], merge="nmm")
    assert nmm.xyxy.tolist() == [[10, 10, 54, 54]]


def test_empty_input_and_inputs_unchanged() -> None:
    m = _merge(np.zeros((0, 4)), [], np.zeros((0, 4)))
    assert m.xyxy.shape == (0, 4)
    assert m.confidence.dtype == np.float32
    assert m.class_id.dtype == np.int64
    boxes = np.array([[200, 20, 320, 60], [256, 21, 400, 61]], float)
    scores = np.array([0.6, 0.9])
    tiles = np.array([T1, T2])
    before = (boxes.copy(), scores.copy(), tiles.copy())
    _merge(boxes, scores, tiles)
    assert np.array_equal(boxes, before[0])
    assert np.array_equal(scores, before[1])
    assert np.array_equal(tiles, before[2])
    with pytest.raises(InvalidInputError, match="tiles"):
        _merge(boxes, scores, tiles[:1])


def test_plain_merge_matches_nms_module() -> None:
    """edge_aware=False is exactly detectkit.nms (no second copy of the merging code)."""
    from detectkit.nms import non_max_merge

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 500, (200, 2))
    wh = rng.uniform(5, 60, (200, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0.3, 1, 200)
    cls = rng.integers(0, 3, 200)
    m = _merge(boxes, scores, [FULL] * 200, cls.tolist(), size=(600, 600), edge_aware=False)
    ref = non_max_merge(boxes, scores, cls, iou_threshold=0.5, match_metric="ios")
    order = np.argsort(-ref.scores, kind="stable")
    assert np.allclose(m.xyxy, ref.boxes[order], atol=1e-4)
    assert m.class_id.tolist() == cls[ref.keep][order].tolist()


def test_source_says_where_every_input_box_went() -> None:
    """``MergedSlices.source`` (what segment masks are merged with): stitched pieces and NMM groups
    share their output row; NMS-suppressed boxes and dropped fragments are -1."""
    # stitched: the two pieces of one object, plus a separate object at x 450..500 in T2
    m = _merge([[200, 20, 320, 60], [256, 21, 400, 61], [450, 20, 500, 60]], [0.6, 0.9, 0.95], [T1, T2, T2])
    assert m.source.tolist() == [1, 1, 0]  # by descending score: the lone object first
    # fragment dropped (the complete box is row 0)
    m = _merge([[200, 20, 300, 60], [256, 20, 301, 60]], [0.5, 0.9], [T1, T2])
    assert m.source.tolist() == [0, -1]
    # plain merge: NMM groups share a row, NMS keeps only the leader
    boxes, scores = [[10, 10, 50, 50], [12, 10, 52, 50], [100, 10, 140, 50]], [0.8, 0.9, 0.7]
    assert _merge(boxes, scores, [T1] * 3, edge_aware=False).source.tolist() == [0, 0, 1]
    assert _merge(boxes, scores, [T1] * 3, merge="nms", edge_aware=False).source.tolist() == [-1, 0, 1]
    assert _merge(boxes, scores, [T1] * 3, merge="wbf").source is None
    # max_det cuts the output: boxes of the cut rows go nowhere
    assert _merge(boxes, scores, [T1] * 3, edge_aware=False, max_det=1).source.tolist() == [0, 0, -1]
