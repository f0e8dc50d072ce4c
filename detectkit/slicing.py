"""Sliced (tiled) inference, the model-free part: tile geometry and the merge of tile detections.

Small objects in a large image vanish when the whole image is shrunk to the network's input
size. Sliced inference cuts the image into overlapping tiles, detects in every tile at full
resolution, shifts the tile boxes back into image coordinates and merges the duplicates that
the overlaps create. This module holds the pure parts (no model imports):

* :class:`SliceConfig` — every option in one validated, frozen object.
* :func:`slice_boxes` — the tile grid, the same grid as sahi's ``get_slice_bboxes``.
* :func:`cut_sides` — which sides of a tile detection lie on an *inner* tile border.
* :func:`merge_slices` — the merge: optional edge-aware stitching, then NMS / NMM / WBF from
  :mod:`detectkit.nms` (no second copy of the merging code).

The model-running part (batched tiles through the Detector's backends) is
:mod:`detectkit.models.slicing`; users call ``Detector.detect(image, slicing=...)``.

Edge-aware merging
    A tile border that is not an image border cuts every object that crosses it; the tile
    then reports a *cut* box whose side lies on that border (within ``edge_margin`` pixels).
    Plain NMS / NMM treat a cut box like any other box, which gives the three classic failures
    of sliced inference: a fragment survives next to the full box (a duplicate), an object
    larger than a tile comes out as two boxes, and a union merge glues two neighbours into one
    box. With ``edge_aware=True`` (the default) two rules run before the NMS / NMM / WBF step:

    1. **Stitch.** Two cut boxes of the same class (any class with ``class_agnostic``) from two
       overlapping tiles are pieces of one object, and are replaced by their enclosing box, when
       one is cut at its tile's right (bottom) border, the other at its tile's left (top) border
       inside the first tile, both cover the whole overlap strip between those two borders (an
       object cut on both sides of the strip must span it), and their extents along the border
       agree: the 1-D intersection over the shorter extent is at least ``0.5``. Stitching is
       transitive, so an object spread over many tiles becomes one box (score: the best
       piece's). Pieces of two different objects cannot meet these conditions unless the model
       itself boxed them together.
    2. **Drop fragments.** A box that is still cut after stitching and whose area lies for more
       than ``match_threshold`` inside an uncut box of its class (a tile or the full-image pass
       saw the whole object) is a fragment of that object and is dropped, whatever its score.

    Uncut boxes are never changed by these rules. With ``edge_aware=False`` the boxes go
    straight to the merge step, which reproduces sahi's ``get_sliced_prediction``.

>>> tiles = slice_boxes((1000, 500), (400, 400), (80, 80))
>>> tiles[:3].tolist()    # first row; the last tile is moved back to end on the image border
[[0, 0, 400, 400], [320, 0, 720, 400], [600, 0, 1000, 400]]
>>> len(tiles)
6
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from detectkit._checks import as_boxes, as_vector, check_choice, check_fraction, check_image_size_wh
from detectkit.errors import InvalidInputError

__all__ = [
    "MERGE_METHODS",
    "MergedSlices",
    "SliceConfig",
    "cut_sides",
    "merge_slices",
    "slice_boxes",
]

MergeMethod = Literal["nms", "nmm", "wbf"]
MERGE_METHODS: tuple[str, ...] = ("nms", "nmm", "wbf")
MIN_TILE = 32  # px: the smallest tile side SliceConfig accepts
_STITCH_ALIGN = 0.5  # minimum 1-D intersection over the shorter extent along the cut border


def _positive_pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair: tuple[Any, Any] = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        raise InvalidInputError(f"{name} must be a positive int or a (width, height) pair of ints, got {value!r}")
    out = []
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInputError(f"{name} must be a positive int or a (width, height) pair of ints, got {value!r}")
        out.append(int(v))
    return out[0], out[1]


def _overlap_value(v: Any, name: str) -> float | int:
    """A ratio in ``[0, 1)`` (float) or pixels (int >= 0)."""
    if isinstance(v, bool):
        raise InvalidInputError(f"{name} must be a ratio in [0, 1) or a number of pixels (int), got {v!r}")
    if isinstance(v, (int, np.integer)):
        if v < 0:
            raise InvalidInputError(f"{name} in pixels must be >= 0, got {v!r}")
        return int(v)
    if isinstance(v, (float, np.floating)):
        if not (0.0 <= float(v) < 1.0):
            raise InvalidInputError(
                f"{name} must be a ratio in [0, 1) (a float) or pixels (an int), got {v!r}; "
                "write 64 (int) for 64 pixels"
            )
        return float(v)
    raise InvalidInputError(f"{name} must be a ratio in [0, 1) or a number of pixels (int), got {v!r}")


@dataclass(frozen=True, kw_only=True)
class SliceConfig:
    """Options of sliced inference (all keyword-only, validated on construction).

    Args:
        slice_wh: tile size ``(width, height)`` or one int for square tiles; ``None`` (auto) uses
            the detector's network input size, so tiles are seen at their native resolution.
        overlap: overlap of neighbouring tiles: a float ratio in ``[0, 1)`` of the tile size
            (sahi's ``overlap_*_ratio``; ``int(ratio * size)`` pixels), an int number of pixels
            (supervision's ``overlap_wh``), or a ``(width, height)`` pair of either.
        merge: ``"nmm"`` (greedy non-maximum merging, sahi's ``GREEDYNMM``: a group's box is the
            enclosing box of its members), ``"nms"`` (suppress) or ``"wbf"`` (weighted boxes
            fusion, score: the best member's).
        match_metric: ``"ios"`` (intersection over the smaller box; suits tiles) or ``"iou"``.
            ``None``: ``"ios"`` for nms/nmm, ``"iou"`` for wbf (which supports only IoU).
        match_threshold: boxes merge when the metric is greater than this.
        class_agnostic: merge across classes (not with ``"wbf"``).
        full_image: also run the detector once on the whole image and merge its boxes in
            (sahi's ``perform_standard_pred``; large objects). Skipped when there is one tile.
        edge_aware: apply the stitch and fragment rules of the module docs before merging.
            ``False`` reproduces sahi.
        edge_margin: a box side within this many pixels of an inner tile border is cut.
        max_det: at most this many boxes after the merge (``None``: no cap beyond the detector's
            ``max_det`` per tile, like sahi; large images hold more objects than one tile).
        batch_size: tiles per forward pass.

    Raises:
        InvalidInputError: a bad option (the message names it).

    >>> SliceConfig(slice_wh=320, overlap=0.25).overlap_px((320, 320))
    (80, 80)
    >>> SliceConfig(slice_wh=(640, 320), overlap=64).overlap_px((640, 320))
    (64, 64)
    """

    slice_wh: int | tuple[int, int] | None = None
    overlap: float | int | tuple[float | int, float | int] = 0.2
    merge: MergeMethod | str = "nmm"
    match_metric: Literal["iou", "ios"] | str | None = None
    match_threshold: float = 0.5
    class_agnostic: bool = False
    full_image: bool = True
    edge_aware: bool = True
    edge_margin: float = 3.0
    max_det: int | None = None
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.slice_wh is not None:
            pair = _positive_pair(self.slice_wh, "slice_wh")
            if min(pair) < MIN_TILE:  # e.g. a typo (5 for 512): tens of thousands of forward passes per image
                raise InvalidInputError(
                    f"slice_wh must be at least {MIN_TILE} px per side (the detector's coarsest stride; "
                    f"tiles are usually 320-1024 px), got {self.slice_wh!r}"
                )
            object.__setattr__(self, "slice_wh", pair)
        ov = self.overlap
        if isinstance(ov, (tuple, list)):
            if len(ov) != 2:
                raise InvalidInputError(f"overlap must be a ratio, pixels or a (width, height) pair, got {ov!r}")
            object.__setattr__(self, "overlap", (_overlap_value(ov[0], "overlap"), _overlap_value(ov[1], "overlap")))
        else:
            _overlap_value(ov, "overlap")
        check_choice(self.merge, "merge", MERGE_METHODS)
        metric = self.match_metric
        if metric is None:
            metric = "iou" if self.merge == "wbf" else "ios"
            object.__setattr__(self, "match_metric", metric)
        check_choice(metric, "match_metric", ("iou", "ios"))
        if self.merge == "wbf" and metric != "iou":
            raise InvalidInputError("merge='wbf' supports only match_metric='iou', got 'ios'")
        object.__setattr__(self, "match_threshold", check_fraction(self.match_threshold, "match_threshold"))
        for name in ("class_agnostic", "full_image", "edge_aware"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.merge == "wbf" and self.class_agnostic:
            raise InvalidInputError("merge='wbf' fuses per class; class_agnostic=True needs merge='nms' or merge='nmm'")
        try:
            margin = float(self.edge_margin)
        except (TypeError, ValueError):
            margin = -1.0
        if isinstance(self.edge_margin, bool) or not margin >= 0:
            raise InvalidInputError(f"edge_margin must be a number of pixels >= 0, got {self.edge_margin!r}")
        object.__setattr__(self, "edge_margin", margin)
        for name, value in (("max_det", self.max_det), ("batch_size", self.batch_size)):
            if value is None and name == "max_det":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if self.slice_wh is not None:
            self.overlap_px(self.slice_wh)  # type: ignore[arg-type]  # overlap smaller than the tile

    @classmethod
    def coerce(cls, value: Any) -> SliceConfig | None:
        """``None`` -> ``None``; a :class:`SliceConfig` as is; an int or ``(w, h)`` -> that tile size
        with the defaults; ``"auto"`` or ``True`` -> the defaults (auto tile size).

        >>> SliceConfig.coerce(512).slice_wh
        (512, 512)
        >>> SliceConfig.coerce("auto").slice_wh is None
        True
        """
        if value is None or value is False:
            return None
        if isinstance(value, SliceConfig):
            return value
        if value is True or value == "auto":
            return cls()
        if isinstance(value, (int, np.integer, tuple, list)) and not isinstance(value, bool):
            return cls(slice_wh=value)  # type: ignore[arg-type]
        raise InvalidInputError(
            f"slicing must be a SliceConfig, a tile size (int or (width, height)), 'auto' or None, got {value!r}"
        )

    def resolve_slice_wh(self, model_imgsz: int | tuple[int, int]) -> tuple[int, int]:
        """The tile size: ``slice_wh``, or (auto) the model input size ``imgsz`` (int or ``(h, w)``)."""
        if self.slice_wh is not None:
            return self.slice_wh  # type: ignore[return-value]
        if isinstance(model_imgsz, int):
            return model_imgsz, model_imgsz
        return int(model_imgsz[1]), int(model_imgsz[0])

    def overlap_px(self, slice_wh: tuple[int, int]) -> tuple[int, int]:
        """Overlap in pixels ``(x, y)`` for tiles of ``slice_wh`` (ratios: ``int(ratio * size)`` like sahi)."""
        ov = self.overlap if isinstance(self.overlap, tuple) else (self.overlap, self.overlap)
        out = []
        for v, size in zip(ov, slice_wh, strict=True):
            px = int(v * size) if isinstance(v, float) else int(v)
            if px >= size:
                raise InvalidInputError(f"overlap must be smaller than the tile size, got {px} px for a {size} px tile")
            out.append(px)
        return out[0], out[1]


def _starts(length: int, size: int, overlap: int) -> list[int]:
    """Tile starts along one axis: step ``size - overlap``; the last tile is moved back inside."""
    if size >= length:
        return [0]
    starts = []
    start = 0
    while True:
        if start + size >= length:
            starts.append(length - size)
            return starts
        starts.append(start)
        start += size - overlap


def slice_boxes(
    image_size_wh: tuple[int, int], slice_wh: tuple[int, int] | int, overlap_wh: tuple[int, int] | int
) -> np.ndarray:
    """The tile grid of an image: int64 ``(T, 4)`` xyxy tiles, row by row (top to bottom, left to right).

    Tiles step by ``slice - overlap``; the last tile of a row (column) is moved back so that it
    ends on the image border, so every tile has the full size unless the image is smaller than
    a tile (then the tile is the image on that axis). The grid equals sahi's
    ``get_slice_bboxes`` for the same sizes in pixels.

    Args:
        image_size_wh: ``(width, height)`` of the image.
        slice_wh: tile ``(width, height)`` or one int.
        overlap_wh: overlap in pixels ``(x, y)`` or one int, smaller than the tile.

    Raises:
        InvalidInputError: non-positive sizes or an overlap not smaller than the tile.

    >>> slice_boxes((100, 50), 64, 16).tolist()
    [[0, 0, 64, 50], [36, 0, 100, 50]]
    >>> slice_boxes((30, 20), 64, 16).tolist()   # image smaller than a tile: one tile, the image
    [[0, 0, 30, 20]]
    """
    w, h = check_image_size_wh(image_size_wh)
    sw, sh = _positive_pair(slice_wh, "slice_wh")
    if isinstance(overlap_wh, (int, np.integer)) and not isinstance(overlap_wh, bool):
        ox = oy = int(overlap_wh)
    else:
        try:
            ox, oy = (int(v) for v in overlap_wh)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise InvalidInputError(f"overlap_wh must be pixels (int) or an (x, y) pair, got {overlap_wh!r}") from None
    if not (0 <= ox < sw and 0 <= oy < sh):
        raise InvalidInputError(f"overlap_wh {(ox, oy)} must be >= 0 and smaller than slice_wh {(sw, sh)}")
    xs = _starts(w, sw, ox)
    ys = _starts(h, sh, oy)
    tiles = [(x, y, min(x + sw, w), min(y + sh, h)) for y in ys for x in xs]
    return np.array(tiles, dtype=np.int64).reshape(-1, 4)


def cut_sides(boxes: Any, tiles: Any, image_size_wh: tuple[int, int], *, margin: float = 3.0) -> np.ndarray:
    """Which sides of each box lie on an inner tile border: bool ``(N, 4)`` (left, top, right, bottom).

    ``tiles[i]`` is the xyxy tile that box ``i`` was detected in (image coordinates). A side is
    cut when it lies within ``margin`` pixels of its tile's border on that side and that border
    is not the image border. A full-image detection (its tile is the whole image) is never cut.

    >>> cut_sides([[90, 10, 100, 20], [0, 10, 5, 20]], [[0, 0, 100, 100], [0, 0, 100, 100]], (300, 100)).tolist()
    [[False, False, True, False], [False, False, False, False]]
    """
    b = as_boxes(boxes, "boxes")
    t = as_boxes(tiles, "tiles")
    if len(t) != len(b):
        raise InvalidInputError(f"tiles must have one row per box ({len(b)}), got {len(t)}")
    w, h = check_image_size_wh(image_size_wh)
    inner = np.stack([t[:, 0] > 0, t[:, 1] > 0, t[:, 2] < w, t[:, 3] < h], axis=1)
    near = np.abs(b - t) <= margin
    out: np.ndarray = inner & near
    return out


class MergedSlices(NamedTuple):
    """Output of :func:`merge_slices`: float32 ``(K, 4)`` boxes, float32 ``(K,)`` scores and int64
    ``(K,)`` class ids, by descending score; ``source``: int64 ``(N,)``, the output row each input
    box went into (-1: suppressed or dropped), so per-box data such as masks can be merged the same
    way (``None`` for ``merge="wbf"``, whose fusion does not report it)."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    source: np.ndarray | None = None


def _components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected-component label (the smallest member index) of each of ``n`` nodes."""
    label = np.arange(n)
    if len(u) == 0:
        return label
    while True:
        m = np.minimum(label[u], label[v])
        before = label.copy()
        np.minimum.at(label, u, m)
        np.minimum.at(label, v, m)
        label = label[label]
        if np.array_equal(label, before):
            return label


def _stitch_pairs(
    b: np.ndarray, t: np.ndarray, cls: np.ndarray, cut: np.ndarray, axis: int, agnostic: bool, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j): i cut at its tile's far border (right/bottom), j at its near border (left/top)."""
    lo, hi = axis, axis + 2  # x: columns 0/2, y: 1/3
    olo, ohi = 1 - axis, 3 - axis  # the other axis
    a_idx = np.flatnonzero(cut[:, hi])
    b_idx = np.flatnonzero(cut[:, lo])
    if not len(a_idx) or not len(b_idx):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    A, B = b[a_idx], b[b_idx]
    ra = t[a_idx, hi][:, None]  # the border that cuts A
    lb = t[b_idx, lo][None, :]  # the border that cuts B
    ok = (lb < ra) & (t[b_idx, lo][None, :] > t[a_idx, lo][:, None])  # B's tile starts inside A's tile
    ok &= (A[:, lo][:, None] <= lb + margin) & (B[:, hi][None, :] >= ra - margin)  # both span the strip
    inter = np.minimum(A[:, ohi][:, None], B[:, ohi][None, :]) - np.maximum(A[:, olo][:, None], B[:, olo][None, :])
    shorter = np.minimum((A[:, ohi] - A[:, olo])[:, None], (B[:, ohi] - B[:, olo])[None, :])
    ok &= inter >= _STITCH_ALIGN * np.maximum(shorter, 1e-9)
    if not agnostic:
        ok &= cls[a_idx][:, None] == cls[b_idx][None, :]
    i, j = np.nonzero(ok)
    return a_idx[i], b_idx[j]


def _edge_aware(
    b: np.ndarray, s: np.ndarray, c: np.ndarray, t: np.ndarray, size_wh: tuple[int, int], config: SliceConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stitch and fragment rules (module docs); returns the surviving boxes, scores, classes
    and the row of the survivors each input box went into (-1: dropped)."""
    from detectkit.boxes import box_ioa

    margin = float(config.edge_margin)
    cut = cut_sides(b, t, size_wh, margin=margin)
    pu, pv = [], []
    for axis in (0, 1):
        u, v = _stitch_pairs(b, t, c, cut, axis, config.class_agnostic, margin)
        pu.append(u)
        pv.append(v)
    label = _components(len(b), np.concatenate(pu), np.concatenate(pv))
    heads, group = np.unique(label, return_inverse=True)
    source = group.reshape(-1).astype(np.int64)
    if len(heads) < len(b):  # some pieces were stitched: one enclosing box per group
        k = len(heads)
        out = np.empty((k, 4))
        out[:, :2] = np.inf
        out[:, 2:] = -np.inf
        for col, fn in ((0, np.minimum), (1, np.minimum), (2, np.maximum), (3, np.maximum)):
            fn.at(out[:, col], group, b[:, col])
        order = np.lexsort((np.arange(len(b)), -s))  # best piece of each group first
        best = np.full(k, -1)
        first = order[np.unique(group[order], return_index=True)[1]]
        best[group[first]] = first
        # a group side is cut when a member that reaches that side is cut there
        reach = np.abs(b - out[group]) <= margin
        gcut = np.zeros((k, 4), bool)
        np.logical_or.at(gcut, group, cut & reach)
        b, s, c, cut = out, s[best], c[best], gcut
    is_cut = cut.any(axis=1)
    if is_cut.any() and (~is_cut).any():
        whole = np.flatnonzero(~is_cut)
        part = np.flatnonzero(is_cut)
        cover = box_ioa(b[whole], b[part]).astype(np.float64)  # (whole, part): fraction of part inside
        if not config.class_agnostic:
            cover[c[whole][:, None] != c[part][None, :]] = 0.0
        drop = part[(cover > config.match_threshold).any(axis=0)]
        keep = np.ones(len(b), bool)
        keep[drop] = False
        b, s, c = b[keep], s[keep], c[keep]
        source = np.where(keep, np.cumsum(keep) - 1, -1)[source]
    return b, s, c, source


def merge_slices(
    boxes: Any,
    scores: Any,
    class_ids: Any,
    *,
    tiles: Any,
    image_size_wh: tuple[int, int],
    config: SliceConfig | None = None,
) -> MergedSlices:
    """Merge the detections of all tiles (and the optional full-image pass) of one image.

    Args:
        boxes: ``(N, 4)`` xyxy boxes in image coordinates (tile boxes already shifted).
        scores: ``(N,)`` scores.
        class_ids: ``(N,)`` class ids.
        tiles: ``(N, 4)`` xyxy tile each box was detected in; the whole image
            ``[0, 0, W, H]`` for full-image detections.
        image_size_wh: ``(width, height)`` of the image.
        config: merge options (``merge``, ``match_metric``, ``match_threshold``,
            ``class_agnostic``, ``edge_aware``, ``edge_margin``, ``max_det``); default ``SliceConfig()``.

    Returns:
        :class:`MergedSlices` by descending score (ties: lower input index first), at most
        ``config.max_det`` rows.

    >>> cfg = SliceConfig(slice_wh=100, overlap=20)
    >>> tiles = [[0, 0, 100, 100], [80, 0, 180, 100], [80, 0, 180, 100]]
    >>> # an object at x 70..130 is cut by both tiles; a second object lies inside tile 2 only
    >>> m = merge_slices([[70, 10, 100, 40], [80, 12, 130, 41], [150, 50, 170, 70]], [0.9, 0.8, 0.7],
    ...                  [0, 0, 0], tiles=tiles, image_size_wh=(180, 100), config=cfg)
    >>> m.xyxy.tolist(), m.confidence.astype(float).round(2).tolist()
    ([[70.0, 10.0, 130.0, 41.0], [150.0, 50.0, 170.0, 70.0]], [0.9, 0.7])
    """
    from detectkit import nms as nms_mod

    cfg = config if config is not None else SliceConfig()
    b = as_boxes(boxes, "boxes")
    s = as_vector(scores, "scores", length=len(b))
    c = as_vector(class_ids, "class_ids", length=len(b), dtype=np.int64)
    t = as_boxes(tiles, "tiles")
    if len(t) != len(b):
        raise InvalidInputError(f"tiles must have one row per box ({len(b)}), got {len(t)}")
    size = check_image_size_wh(image_size_wh)
    cap = int(cfg.max_det) if cfg.max_det is not None else None
    source = np.arange(len(b))
    if len(b) and cfg.edge_aware:
        b, s, c, source = _edge_aware(b, s, c, t, size, cfg)
    if len(b) == 0:
        empty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        return MergedSlices(*empty, np.full(len(source), -1, np.int64))
    thr = float(cfg.match_threshold)
    step: np.ndarray | None = None  # row of the merge output each row of b went into
    if cfg.merge == "wbf":
        b, s, c = nms_mod.weighted_boxes_fusion(b, s, c, iou_threshold=thr, conf_type="max")
    else:
        r = nms_mod.non_max_merge(
            b,
            s,
            c,
            iou_threshold=thr,
            match_metric=str(cfg.match_metric),
            merge="union",
            class_agnostic=cfg.class_agnostic,
        )
        b = r.boxes if cfg.merge == "nmm" else b[r.keep]
        s, c = r.scores, c[r.keep]
        if cfg.merge == "nmm":
            step = np.asarray(r.group, np.int64)
        else:  # nms: only the leaders carry on
            step = np.full(len(r.group), -1, np.int64)
            step[r.keep] = np.arange(len(r.keep))
    order = np.argsort(-s, kind="stable")[:cap]
    out_src = None
    if step is not None:
        rank = np.full(len(s) + 1, -1, np.int64)  # the last slot maps -1 to -1
        rank[order] = np.arange(len(order))
        via = np.where(source >= 0, step[np.maximum(source, 0)], -1)
        out_src = rank[via]
    return MergedSlices(b[order].astype(np.float32), s[order].astype(np.float32), c[order].astype(np.int64), out_src)
