"""Sliced inference through a :class:`~detectkit.models.detector.Detector` (every backend).

Users call ``Detector.detect(image, slicing=SliceConfig(...))`` (or ``slicing=640``); this
module does the work: cut the tiles (:func:`detectkit.slicing.slice_boxes`), run them through
the detector **in batches** (one forward pass per ``batch_size`` tiles; all tiles of an image
have the same size, so one letterbox geometry), optionally run the whole image once, shift the
tile boxes into image coordinates and merge them (:func:`detectkit.slicing.merge_slices`).

Backends (each fast path can only decline, never change what the plain path decides)
    * openvino: the tiles go **uint8 BGR, straight from the image** into the input tensors
      of a copy of the model compiled once per tile geometry with a static ``(batch, H, W)``
      shape and OpenVINO's ``THROUGHPUT`` hint (one stream per core); OpenVINO converts
      them to float RGB inside the graph. Two or more infer requests are kept in flight: while
      OpenVINO runs one batch, Python fills the next one and decodes the previous one. The
      compiled copy is cached on the detector (first sliced call per tile size: + ~0.3 s).
    * onnx (detect exports with dynamic shapes): the tiles of a batch are letterboxed into
      one preallocated ``(B, 3, H, W)`` float32 array and run by one ``session.run``; a second
      thread runs the session while the main thread prepares the next batch.
    * both: the conf filter runs over the whole batch at once (one vectorised step), then
      each tile with candidates is decoded exactly as the Detector's one-image path
      (:func:`~detectkit.models._decode.decode_yolo_head`, our NMS).
    * torch: a batch of tiles is one Ultralytics ``predict`` call on a list, i.e. one forward
      pass (Ultralytics letterboxes same-sized images to one shape) — the plain path, and the
      path whose boxes equal sahi's.

    The fast paths decline (plain path: one detector call per batch) for fixed-shape or
    end-to-end exports, and the OpenVINO one also when the static model cannot be built.

>>> from detectkit import Detector
>>> from detectkit.slicing import SliceConfig
>>> detector = Detector(backend="auto")                                    # doctest: +SKIP
>>> dets = detector.detect("aerial.jpg", slicing=SliceConfig(slice_wh=640))  # doctest: +SKIP

Tasks: ``detect``; ``segment`` with ``merge="nmm"`` (a merged box's mask is the union of its
members' masks, as sahi's GREEDYNMM; stitched pieces likewise) or ``"nms"`` (the kept box's
mask); masks come back at the image size, ``(K, H, W)`` bool, like every ``Detections.mask``
(mind the memory on very large images). ``merge="wbf"`` with a segment model and OBB models
raise :class:`~detectkit.errors.InvalidInputError` (no rotated-box tile merge).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.models._decode import decode_yolo_head
from detectkit.slicing import SliceConfig, merge_slices, slice_boxes

if TYPE_CHECKING:
    from detectkit.models.detector import Detector

__all__ = ["detect_sliced", "merge_masks", "predict_tiles", "tile_engine"]

_PAD = 114  # letterbox padding value (Ultralytics')
Boxes = tuple[np.ndarray, np.ndarray, np.ndarray]  # xyxy float32 (n, 4), scores (n,), class ids (n,)

# compiled tile models per detector: {(kind, batch, canvas_h, canvas_w): engine or None (declined)}
_ENGINES: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def _check_task(detector: Detector, cfg: SliceConfig) -> None:
    if detector.task == "segment" and cfg.merge == "wbf":
        raise InvalidInputError(
            "sliced inference of a segment model merges masks with merge='nmm' (union of the merged boxes' "
            "masks) or 'nms' (the kept box's mask); merge='wbf' fuses boxes only: use nmm or nms"
        )
    if detector.task not in ("detect", "segment"):
        raise InvalidInputError(
            f"sliced inference (slicing=...) supports detect and segment models; {detector.weights.source!r} is "
            f"a {detector.task!r} model (rotated boxes have no tile merge yet): run it without slicing"
        )


def merge_masks(
    source: np.ndarray,
    masks: Sequence[np.ndarray],
    offsets_xy: Sequence[tuple[int, int]],
    n_out: int,
    image_hw: tuple[int, int],
) -> np.ndarray:
    """Full-image masks of the merged boxes: output row ``k`` is the union of the masks of every
    input box ``i`` with ``source[i] == k`` (see :class:`~detectkit.slicing.MergedSlices`),
    each pasted at its tile's offset.

    Args:
        source: int ``(N,)`` output row of each input box, -1 for boxes that were dropped.
        masks: ``N`` bool masks, each the size of its tile (the full image for the full-image pass).
        offsets_xy: ``(x0, y0)`` of each mask in the image.
        n_out: number of output rows.
        image_hw: ``(height, width)`` of the image.

    >>> m = np.ones((2, 2), bool)
    >>> out = merge_masks(np.array([0, 0, -1]), [m, m, m], [(0, 0), (1, 1), (2, 0)], 1, (3, 4))
    >>> out.astype(int)[0].tolist()
    [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0]]
    """
    out = np.zeros((n_out, *image_hw), bool)
    for i, k in enumerate(np.asarray(source).tolist()):
        if k < 0:
            continue
        (x0, y0), m = offsets_xy[i], masks[i]
        out[k, y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]] |= m
    return out


class _Geometry(NamedTuple):
    """The one letterbox of every tile of an image (all tiles have the same size)."""

    tile_wh: tuple[int, int]
    canvas_hw: tuple[int, int]
    unpad_wh: tuple[int, int]
    pad_wh: tuple[int, int]
    ratio_wh: tuple[float, float]

    @property
    def identity(self) -> bool:
        return self.unpad_wh == self.tile_wh and self.pad_wh == (0, 0) and self.canvas_hw == self.tile_wh[::-1]


def _geometry(detector: Detector, stride: int, tile_wh: tuple[int, int]) -> _Geometry:
    """Ultralytics' rectangular letterbox (``auto=True``) of a ``tile_wh`` tile at the detector's imgsz,
    the same arithmetic as :func:`detectkit.image.letterbox` (:func:`detectkit.boxes.letterbox_params`)."""
    from detectkit.boxes import letterbox_canvas_wh, letterbox_params

    hw = (detector.imgsz, detector.imgsz) if isinstance(detector.imgsz, int) else detector.imgsz
    th, tw = (max(-(-v // stride) * stride, stride) for v in hw)
    p = letterbox_params(tile_wh, (tw, th), auto=True, stride=stride)
    cw, ch = letterbox_canvas_wh(p.new_unpad_wh, (tw, th), auto=True, stride=stride)
    return _Geometry(tile_wh, (ch, cw), p.new_unpad_wh, (int(p.pad_wh[0]), int(p.pad_wh[1])), p.ratio)


def _fill(dst: np.ndarray, crops: Sequence[np.ndarray], geo: _Geometry, layout: str) -> None:
    """Letterbox ``crops`` into ``dst[:len(crops)]``: uint8 BGR ``(B, H, W, 3)`` (``layout="nhwc"``)
    or float32 RGB ``(B, 3, H, W)`` scaled to [0, 1] (``"nchw"``, bit-identical to
    :func:`detectkit.image.normalize`). The padding of ``dst`` must already hold the pad value."""
    import cv2

    (left, top), (nw, nh) = geo.pad_wh, geo.unpad_wh
    for i, crop in enumerate(crops):
        src = crop if geo.unpad_wh == geo.tile_wh else cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)
        if layout == "nhwc":
            dst[i, top : top + nh, left : left + nw] = src
        else:
            dst[i, :, top : top + nh, left : left + nw] = src[:, :, ::-1].transpose(2, 0, 1)
    if layout == "nchw":
        dst[: len(crops), :, top : top + nh, left : left + nw] /= np.float32(255.0)


def _decode_batch(detector: Detector, nc: int, pred: np.ndarray, n: int, geo: _Geometry) -> list[Boxes]:
    """Boxes in tile pixels of the first ``n`` rows of a ``(B, 4 + nc, A)`` head output."""
    from detectkit.image import scale_boxes_from_letterbox

    pred = pred[:n]
    candidates = pred[:, 4 : 4 + nc].max(axis=1) > detector.conf  # (n, A): one vectorised conf filter
    any_box = candidates.any(axis=1)
    out: list[Boxes] = []
    sizes = []
    for k in range(n):
        if not any_box[k]:
            xyxy, scores, cls = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        else:
            xyxy, scores, cls = decode_yolo_head(
                pred[k][:, candidates[k]],
                nc,
                conf=detector.conf,
                iou=detector.iou,
                classes=detector.classes,
                max_det=detector.max_det,
                agnostic=detector.agnostic_nms,
            )
        out.append((xyxy, scores.astype(np.float32), cls.astype(np.int64)))
        sizes.append(len(xyxy))
    if sum(sizes):  # one unletterbox for the whole batch (same geometry, same clip size)
        every = scale_boxes_from_letterbox(np.concatenate([o[0] for o in out]), geo.ratio_wh, geo.pad_wh, geo.tile_wh)
        parts = np.split(every, np.cumsum(sizes)[:-1])
        out = [(p, s, c) for p, (_, s, c) in zip(parts, out, strict=True)]
    else:
        out = [(o[0].astype(np.float32).reshape(-1, 4), o[1], o[2]) for o in out]
    return out


class _OpenVinoTiles:
    """A static-shape OpenVINO copy of the model for one tile geometry (uint8 BGR NHWC in).

    ``THROUGHPUT`` hint (one stream per core, or ``$DETECTKIT_ORT_THREADS`` threads), the
    detector session's precision, a few infer requests used round robin so that filling/decoding overlaps inference.
    """

    def __init__(self, path: Any, batch: int, geo: _Geometry, nc: int, precision: str | None = None) -> None:
        from detectkit.models.openvino_runtime import bgr_input, compile_config, import_openvino

        core = import_openvino().Core()
        model = core.read_model(str(path))
        if len(model.inputs) != 1:
            raise ValueError("one input expected")
        model.reshape([batch, 3, *geo.canvas_hw])
        model = bgr_input(model)
        self.compiled = core.compile_model(model, "CPU", compile_config("THROUGHPUT", precision))
        n_req = max(2, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.requests = [self.compiled.create_infer_request() for _ in range(n_req)]
        for r in self.requests:  # the padding region is never written again
            r.get_input_tensor(0).data[...] = _PAD
        self.batch, self.geo, self.nc = batch, geo, nc

    def run(self, detector: Detector, crops: Sequence[np.ndarray]) -> list[Boxes]:
        out: list[Boxes] = []
        busy: list[tuple[Any, int]] = []  # (request, tiles in it), in submission order
        n_req = len(self.requests)
        for k, start in enumerate(range(0, len(crops), self.batch)):
            req = self.requests[k % n_req]
            if len(busy) == n_req:  # reuse the oldest request: wait for it, decode it
                done, n = busy.pop(0)
                done.wait()
                out += _decode_batch(detector, self.nc, done.get_output_tensor(0).data, n, self.geo)
            chunk = crops[start : start + self.batch]
            _fill(req.get_input_tensor(0).data, chunk, self.geo, "nhwc")
            req.start_async()
            busy.append((req, len(chunk)))
        for done, n in busy:
            done.wait()
            out += _decode_batch(detector, self.nc, done.get_output_tensor(0).data, n, self.geo)
        return out


class _OnnxTiles:
    """One ``session.run`` per batch of tiles (dynamic-shape exports), letterboxed into a
    preallocated float32 batch. (Running the session in a second thread while the next batch is
    prepared was measured slower here: onnxruntime already keeps every core busy.)"""

    def __init__(self, runner: Any, batch: int, geo: _Geometry) -> None:
        self.runner, self.batch, self.geo = runner, batch, geo
        pad = np.float32(_PAD) / np.float32(255.0)  # the padding as normalize() makes it
        self.buffer = np.full((batch, 3, *geo.canvas_hw), pad, np.float32)

    def run(self, detector: Detector, crops: Sequence[np.ndarray]) -> list[Boxes]:
        runner, x = self.runner, self.buffer
        out: list[Boxes] = []
        for start in range(0, len(crops), self.batch):
            chunk = crops[start : start + self.batch]
            _fill(x, chunk, self.geo, "nchw")
            pred = runner.session.run(None, {runner.input_name: x[: len(chunk)]})[0]
            out += _decode_batch(detector, runner.nc, pred, len(chunk), self.geo)
        return out


def tile_engine(detector: Detector, tile_wh: tuple[int, int], batch: int) -> Any:
    """The batched fast path for tiles of ``tile_wh`` on this detector (cached), or None (plain path).

    The engine's ``run(detector, crops)`` returns ``(xyxy, scores, class ids)`` per crop in
    tile pixels. ``kind`` of the engine: ``_OpenVinoTiles`` (openvino backend),
    ``_OnnxTiles`` (onnx, and openvino when the static model cannot be built).
    """
    runner = getattr(detector, "_onnx", None)
    if runner is None or runner.end2end or not runner.dynamic:
        return None
    geo = _geometry(detector, runner.stride, tile_wh)
    cache = _ENGINES.setdefault(detector, {})
    key = (detector.backend, batch, geo, detector.imgsz)
    if key not in cache:
        engine: Any = None
        if detector.backend == "openvino":
            try:
                engine = _OpenVinoTiles(runner.session.path, batch, geo, runner.nc, runner.session.precision)
            except Exception:  # a fast path may only decline
                engine = None
        cache[key] = engine if engine is not None else _OnnxTiles(runner, batch, geo)
    return cache[key]


def _as_detections(detector: Detector, boxes: Boxes, tile_wh: tuple[int, int]) -> Detections:
    return Detections(
        xyxy=boxes[0], confidence=boxes[1], class_id=boxes[2], names=detector.names, image_size_wh=tile_wh
    )


def predict_tiles(
    detector: Detector, tiles: Sequence[np.ndarray], *, fast: bool = True, batch: int = 8
) -> list[Detections]:
    """Detect in equally sized tiles, ``batch`` per forward pass (boxes only, no crop classifier).

    Args:
        detector: the detector.
        tiles: ``(h, w, 3)`` uint8 BGR arrays, all the same size.
        fast: allow the batched fast paths; ``False`` runs the plain path (for onnx/openvino:
            the detector's one-image path per tile), which the fast ones must equal.
        batch: tiles per forward pass.

    Returns:
        One :class:`Detections` per tile, in tile coordinates.
    """
    if not tiles:
        return []
    shape = tiles[0].shape
    if any(t.shape != shape for t in tiles):
        raise InvalidInputError(f"predict_tiles needs equally sized tiles, got {sorted({t.shape for t in tiles})}")
    wh = (int(shape[1]), int(shape[0]))
    engine = tile_engine(detector, wh, batch) if fast else None
    if engine is not None:
        return [_as_detections(detector, b, wh) for b in engine.run(detector, tiles)]
    out: list[Detections] = []
    for start in range(0, len(tiles), batch):
        out += detector._predict_boxes([np.ascontiguousarray(t) for t in tiles[start : start + batch]])
    return out


def detect_sliced(detector: Detector, image: np.ndarray, config: SliceConfig | Any, *, fast: bool = True) -> Detections:
    """Sliced detection in one ``(H, W, 3)`` uint8 BGR image; see the module docs.

    Args:
        detector: any :class:`~detectkit.models.detector.Detector` with a detect model.
        image: the image (not modified).
        config: a :class:`~detectkit.slicing.SliceConfig` or what :meth:`SliceConfig.coerce` accepts.
        fast: allow the batched fast paths (``False``: the plain path, for comparisons).

    Returns:
        :class:`Detections` in image coordinates (``names`` and ``image_size_wh`` set), by
        descending score, at most ``config.max_det`` boxes (when set).

    Raises:
        InvalidInputError: a segment/OBB model, or bad slicing options.
    """
    cfg = SliceConfig.coerce(config)
    if cfg is None:
        raise InvalidInputError("detect_sliced needs a SliceConfig or a tile size, got None")
    _check_task(detector, cfg)
    h, w = image.shape[:2]
    slice_wh = cfg.resolve_slice_wh(detector.imgsz)
    tiles = slice_boxes((w, h), slice_wh, cfg.overlap_px(slice_wh))
    crops = [image[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles.tolist()]  # views, no copies
    per_tile = predict_tiles(detector, crops, fast=fast, batch=int(cfg.batch_size))
    counts = np.array([len(d) for d in per_tile])
    parts = [d for d in per_tile if len(d)]
    if cfg.full_image and len(tiles) > 1:
        full = detector._predict_boxes([image])[0]
        if len(full):
            parts.append(full)
            tiles = np.concatenate([tiles, [[0, 0, w, h]]])
            counts = np.append(counts, len(full))
    if parts:
        tile_of = np.repeat(tiles, counts, axis=0)
        boxes = np.concatenate([d.xyxy for d in parts]).astype(np.float64)
        boxes += np.tile(np.repeat(tiles[:, :2], counts, axis=0), 2)  # tile -> image pixels
        scores = np.concatenate([d.confidence for d in parts]).astype(np.float64)
        cls = np.concatenate([d.class_id for d in parts])
    else:
        boxes, scores, cls, tile_of = np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 4))
    merged = merge_slices(boxes, scores, cls, tiles=tile_of, image_size_wh=(w, h), config=cfg)
    mask = None
    if detector.task == "segment":  # every box of a segment model has a mask (tile-sized)
        masks = [m for d in parts for m in (d.mask if d.mask is not None else np.zeros((len(d), 1, 1), bool))]
        offsets = [(int(x), int(y)) for x, y in tile_of[:, :2].tolist()] if parts else []
        src = merged.source if merged.source is not None else np.full(len(masks), -1)
        mask = merge_masks(src, masks, offsets, len(merged.xyxy), (h, w))
    return Detections(
        xyxy=merged.xyxy,
        confidence=merged.confidence,
        class_id=merged.class_id,
        mask=mask,
        names=detector.names,
        image_size_wh=(w, h),
    )
