"""Sliced inference through a :class:`~detectkit.models.detector.Detector` (every backend).

Users call ``Detector.detect(image, slicing=SliceConfig(...))`` (or ``slicing=640``); this
module does the work: cut the tiles (:func:`detectkit.slicing.slice_boxes`), run them through
the detector **in batches** (one forward pass per ``batch_size`` tiles, all tiles the same size,
so one letterbox geometry), optionally run the whole image once, shift the tile boxes into
image coordinates and merge them (:func:`detectkit.slicing.merge_slices`).

Backends
    * torch: a batch of tiles is one Ultralytics ``predict`` call on a list, i.e. one forward
      pass (Ultralytics letterboxes same-sized images to one shape).
    * onnx (detect exports with dynamic shapes): the tiles of a batch are letterboxed, stacked
      into one ``(B, 3, H, W)`` tensor and run by one ``session.run``, then decoded exactly as
      the Detector's one-image path (our NMS). This fast path declines (falls back to one
      run per tile) for fixed-shape or end-to-end exports; a test checks that both paths give
      the same boxes.

>>> from detectkit import Detector
>>> from detectkit.slicing import SliceConfig
>>> detector = Detector(backend="auto")                                    # doctest: +SKIP
>>> dets = detector.detect("aerial.jpg", slicing=SliceConfig(slice_wh=640))  # doctest: +SKIP

Tasks: ``detect`` only. Segmentation masks and OBB would need a mask/polygon merge; they raise
:class:`~detectkit.errors.InvalidInputError` instead of silently dropping the masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.models._decode import decode_yolo_head
from detectkit.slicing import SliceConfig, merge_slices, slice_boxes

if TYPE_CHECKING:
    from detectkit.models.detector import Detector

__all__ = ["detect_sliced", "predict_tiles"]


def _check_task(detector: Detector) -> None:
    if detector.task != "detect":
        raise InvalidInputError(
            f"sliced inference (slicing=...) supports detect models; {detector.weights.source!r} is a "
            f"{detector.task!r} model (masks/OBB have no tile merge yet): run it without slicing"
        )


def _onnx_tiles(detector: Detector, tiles: Sequence[np.ndarray]) -> list[Detections] | None:
    """One ``session.run`` for a batch of equally sized tiles; ``None`` declines (use the plain path)."""
    from detectkit.image import letterbox, normalize, scale_boxes_from_letterbox

    runner = getattr(detector, "_onnx", None)
    if runner is None or runner.end2end or not runner.dynamic:
        return None
    shape = tiles[0].shape
    if any(t.shape != shape for t in tiles):
        return None
    h0, w0 = shape[:2]
    hw = (detector.imgsz, detector.imgsz) if isinstance(detector.imgsz, int) else detector.imgsz
    target = tuple(max(-(-v // runner.stride) * runner.stride, runner.stride) for v in hw)
    boxed = [letterbox(t, target, auto=True, stride=runner.stride) for t in tiles]
    x = np.stack([normalize(bx.image) for bx in boxed])
    preds = runner.session.run(None, {runner.input_name: x})[0]  # (B, 4 + nc, A)
    nc = runner.nc
    classes = detector.classes
    out = []
    for pred, bx in zip(preds, boxed, strict=True):
        xyxy, scores, cls = decode_yolo_head(
            pred,
            nc,
            conf=detector.conf,
            iou=detector.iou,
            classes=classes,
            max_det=detector.max_det,
            agnostic=detector.agnostic_nms,
        )
        xyxy = scale_boxes_from_letterbox(xyxy, bx.ratio_wh, bx.pad_wh, (w0, h0))
        out.append(
            Detections(
                xyxy=xyxy,
                confidence=scores.astype(np.float32),
                class_id=cls.astype(np.int64),
                names=detector.names,
                image_size_wh=(w0, h0),
            )
        )
    return out


def predict_tiles(detector: Detector, tiles: Sequence[np.ndarray], *, fast: bool = True) -> list[Detections]:
    """Detect in a batch of tiles with one forward pass (boxes only, no crop classifier).

    Args:
        detector: the detector.
        tiles: ``(h, w, 3)`` uint8 BGR arrays (equally sized for the batched ONNX path).
        fast: allow the batched ONNX path; ``False`` runs the ONNX model once per tile (the
            plain path the fast one must equal). The torch backend batches either way.

    Returns:
        One :class:`Detections` per tile, in tile coordinates.
    """
    tiles = [np.ascontiguousarray(t) for t in tiles]
    if not tiles:
        return []
    if fast:
        out = _onnx_tiles(detector, tiles)
        if out is not None:
            return out
    return list(detector._predict_boxes(tiles))


def detect_sliced(detector: Detector, image: np.ndarray, config: SliceConfig | Any) -> Detections:
    """Sliced detection in one ``(H, W, 3)`` uint8 BGR image; see the module docs.

    Args:
        detector: any :class:`~detectkit.models.detector.Detector` with a detect model.
        image: the image (not modified).
        config: a :class:`~detectkit.slicing.SliceConfig` or what :meth:`SliceConfig.coerce` accepts.

    Returns:
        :class:`Detections` in image coordinates (``names`` and ``image_size_wh`` set), by
        descending score, at most ``config.max_det`` boxes (when set).

    Raises:
        InvalidInputError: a segment/OBB model, or bad slicing options.
    """
    cfg = SliceConfig.coerce(config)
    if cfg is None:
        raise InvalidInputError("detect_sliced needs a SliceConfig or a tile size, got None")
    _check_task(detector)
    h, w = image.shape[:2]
    slice_wh = cfg.resolve_slice_wh(detector.imgsz)
    tiles = slice_boxes((w, h), slice_wh, cfg.overlap_px(slice_wh))
    parts_b: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    parts_c: list[np.ndarray] = []
    parts_t: list[np.ndarray] = []
    bs = int(cfg.batch_size)
    for start in range(0, len(tiles), bs):
        chunk = tiles[start : start + bs]
        crops = [image[y0:y1, x0:x1] for x0, y0, x1, y1 in chunk.tolist()]
        for tile, dets in zip(chunk, predict_tiles(detector, crops), strict=True):
            if not len(dets):
                continue
            parts_b.append(dets.xyxy.astype(np.float64) + np.array([tile[0], tile[1], tile[0], tile[1]]))
            parts_s.append(np.asarray(dets.confidence, np.float64))
            parts_c.append(dets.class_id)
            parts_t.append(np.broadcast_to(tile, (len(dets), 4)))
    if cfg.full_image and len(tiles) > 1:
        full = detector._predict_boxes([image])[0]
        if len(full):
            parts_b.append(full.xyxy.astype(np.float64))
            parts_s.append(np.asarray(full.confidence, np.float64))
            parts_c.append(full.class_id)
            parts_t.append(np.broadcast_to(np.array([0, 0, w, h]), (len(full), 4)))
    if parts_b:
        boxes = np.concatenate(parts_b)
        scores = np.concatenate(parts_s)
        cls = np.concatenate(parts_c)
        tile_of = np.concatenate(parts_t)
    else:
        boxes, scores, cls, tile_of = np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 4))
    merged = merge_slices(boxes, scores, cls, tiles=tile_of, image_size_wh=(w, h), config=cfg)
    return Detections(
        xyxy=merged.xyxy,
        confidence=merged.confidence,
        class_id=merged.class_id,
        names=detector.names,
        image_size_wh=(w, h),
    )
