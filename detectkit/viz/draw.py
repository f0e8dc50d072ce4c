"""Draw detections on an image: boxes, labels, masks, polygons, rotated boxes, heatmaps.

:func:`annotate` returns a new image and never writes into the caller's array (supervision's
annotators draw in place, so their users must remember ``image.copy()``). It draws with the
same OpenCV primitives supervision uses and adds what it lacks: one stable class palette,
line and text sizes that follow the image resolution, labels kept inside the frame and
de-overlapped, rotated boxes, tracker ids, the two-stage pipeline's crop labels, and the
classifier's CAM heatmap.

>>> import numpy as np
>>> from detectkit import Detections
>>> image = np.zeros((120, 160, 3), np.uint8)
>>> dets = Detections(xyxy=[[10, 30, 90, 100]], confidence=[0.9], names={0: "cat"})
>>> out = annotate(image, dets)
>>> out.shape, out is image, int(image.max())
((120, 160, 3), False, 0)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import cv2
import numpy as np

from detectkit.detections import Detections, mask_from_rle
from detectkit.errors import InvalidInputError
from detectkit.viz._common import FONT, Style, as_detections, ascii_text, canvas, ink, style_for, text_box
from detectkit.viz.palette import ColorLike, Palette, as_palette, text_color_for

__all__ = ["annotate", "draw_boxes", "label_texts", "layout_labels", "overlay_heatmap"]

LabelFormat: TypeAlias = "str | Callable[[dict[str, Any]], str]"
_CROP_NAME_KEYS = ("crop_label", "crop_class_name", "crop_name", "crop_labels", "crop_class_names")


# ---------------------------------------------------------------------------------------- labels
def _first_column(arr: np.ndarray) -> np.ndarray:
    return arr[:, 0] if arr.ndim >= 2 else arr


def label_texts(
    detections: Detections,
    *,
    confidence: bool = True,
    label_format: LabelFormat | None = None,
    crop_names: Mapping[int, str] | None = None,
) -> list[str]:
    """The label text of every box.

    The default reads ``"#7 car 0.91 | sedan 0.77"``: tracker id (when set), class name,
    confidence (predictions only, when ``confidence``), then the two-stage pipeline's crop
    label and score (``data["crop_class_id"]`` / ``data["crop_confidence"]``; for top-k
    arrays the first column; names from ``data["crop_label"]`` or ``crop_names``).

    ``label_format`` is a ``str.format`` template or a callable taking the fields dict:
    ``label``, ``class_id``, ``confidence`` (NaN for ground truth), ``tracker_id`` (None when
    unset), ``crop_label``, ``crop_confidence`` (NaN when absent).

    >>> d = Detections(xyxy=[[0, 0, 5, 5]], confidence=[0.5], tracker_id=[7], names={0: "car"},
    ...                data={"crop_class_id": [[3, 1]], "crop_confidence": [[0.75, 0.1]]})
    >>> label_texts(d, crop_names={3: "sedan"})
    ['#7 car 0.50 | sedan 0.75']
    >>> label_texts(d, label_format="{label}/{class_id}")
    ['car/0']
    """
    n = len(detections)
    names = detections.labels
    conf = detections.confidence.tolist() if detections.confidence is not None else [None] * n
    tracks = detections.tracker_id.tolist() if detections.tracker_id is not None else [None] * n
    data = detections.data
    crop_ids: list[Any] = [None] * n
    crop_conf: list[Any] = [None] * n
    crop_labels: list[Any] = [None] * n
    if "crop_class_id" in data:
        crop_ids = _first_column(np.asarray(data["crop_class_id"])).tolist()
        key = next((k for k in _CROP_NAME_KEYS if k in data), None)
        if key is not None:
            crop_labels = [str(v) for v in _first_column(np.asarray(data[key])).tolist()]
        else:
            lookup = crop_names or {}
            crop_labels = [None if c is None else lookup.get(int(c), str(int(c))) for c in crop_ids]
    if "crop_confidence" in data:
        crop_conf = [float(v) for v in _first_column(np.asarray(data["crop_confidence"])).tolist()]
    out: list[str] = []
    for i in range(n):
        if label_format is not None:
            fields: dict[str, Any] = {
                "label": names[i],
                "class_id": int(detections.class_id[i]),
                "confidence": float("nan") if conf[i] is None else conf[i],
                "tracker_id": tracks[i],
                "crop_label": crop_labels[i] or "",
                "crop_confidence": float("nan") if crop_conf[i] is None else crop_conf[i],
            }
            if callable(label_format):
                text = str(label_format(fields))
            elif isinstance(label_format, str):
                try:
                    text = label_format.format(**fields)
                except (KeyError, IndexError, ValueError) as exc:
                    raise InvalidInputError(
                        f"label_format must use the fields {sorted(fields)}, got {label_format!r}: {exc!r}"
                    ) from None
            else:
                raise InvalidInputError(
                    f"label_format must be a format string or a callable, got {type(label_format).__name__}"
                )
            out.append(text)
            continue
        parts = [] if tracks[i] is None else [f"#{tracks[i]}"]
        parts.append(names[i])
        if confidence and conf[i] is not None:
            parts.append(f"{conf[i]:.2f}")
        text = " ".join(parts)
        if crop_labels[i] is not None:
            text += f" | {crop_labels[i]}"
            if confidence and crop_conf[i] is not None:
                text += f" {crop_conf[i]:.2f}"
        out.append(text)
    return out


def layout_labels(
    anchors_xyxy: np.ndarray,
    sizes_wh: np.ndarray,
    image_size_wh: tuple[int, int],
    *,
    order: np.ndarray | None = None,
    gap: int = 0,
) -> np.ndarray:
    """Place one label per box: inside the frame, never hiding the box it names, and where
    possible overlapping no other label and hiding no other box.

    Candidates, in order of preference: above the box's top-left corner, inside it at the
    top-left, below the bottom-left corner, inside at the bottom-left, above the top-right
    corner, right of the box, left of it, then the first one shifted up and down by one to
    three label heights. Every candidate is clamped into the frame. A candidate *hides* a box
    when it covers more than a quarter of it, so labels go outside small boxes and only sit
    inside boxes much larger than themselves. Candidates are ranked by (hides its own box,
    overlaps a label already placed, hides another box, pixels shared with placed labels): a
    label over its own box hides what it names, a label over another label is unreadable, a
    label over another box only hides part of a neighbour. The first best candidate wins.
    Labels are placed in ``order`` (default: as given).

    Args:
        anchors_xyxy: int ``(N, 4)`` boxes (outer edge of the drawn line).
        sizes_wh: int ``(N, 2)`` label sizes.
        image_size_wh: ``(width, height)``.
        order: placement order (most important first).
        gap: extra pixels between a label and its box.

    Returns:
        int64 ``(N, 4)`` label rectangles ``x1, y1, x2, y2`` (``x2``/``y2`` exclusive), each
        inside ``[0, width] x [0, height]`` when the label fits in the image.

    >>> layout_labels(np.array([[0, 0, 50, 40], [0, 0, 50, 40]]), np.array([[30, 10], [30, 10]]), (100, 100)).tolist()
    [[0, 0, 30, 10], [0, 40, 30, 50]]

    A small box at the top edge: its label goes below it rather than on top of it.

    >>> layout_labels(np.array([[40, 0, 52, 12]]), np.array([[30, 10]]), (100, 100)).tolist()
    [[40, 12, 70, 22]]
    """
    boxes = np.asarray(anchors_xyxy, dtype=np.int64).reshape(-1, 4)
    sizes = np.asarray(sizes_wh, dtype=np.int64).reshape(-1, 2)
    n = len(boxes)
    w_img, h_img = image_size_wh
    lw, lh = sizes[:, 0:1], sizes[:, 1:2]
    x1, y1, x2, y2 = (boxes[:, k : k + 1] for k in range(4))
    above = y1 - gap - lh
    xs = np.concatenate([x1, x1, x1, x1, x2 - lw, x2 + gap, x1 - gap - lw] + [x1] * 6, axis=1)
    ys = np.concatenate(
        [above, y1, y2 + gap, y2 - lh, above, y1, y1]
        + [above - k * lh for k in (1, 2, 3)]
        + [above + k * lh for k in (1, 2, 3)],
        axis=1,
    )
    xs = np.minimum(np.maximum(xs, 0), np.maximum(w_img - lw, 0))
    ys = np.minimum(np.maximum(ys, 0), np.maximum(h_img - lh, 0))
    cands_arr = np.stack([xs, ys, xs + lw, ys + lh], axis=2)  # (N, K, 4)
    cands = cands_arr.tolist()
    result = np.empty((n, 4), dtype=np.int64)
    sequence = range(n) if order is None else np.asarray(order, dtype=np.int64).tolist()
    # occupancy of the labels placed so far; overlap = occupied pixels under a candidate
    occupied = np.zeros((max(1, h_img), max(1, w_img)), dtype=np.uint8)
    count = np.count_nonzero
    for i in sequence:
        options = cands[i]
        hides = _hidden_fractions(cands_arr[i], boxes) > 0.25  # (K, N): candidate k hides box j
        own = hides[:, i]
        other = hides.sum(axis=1) - own
        best: list[int] = options[0]
        best_cost: tuple[int, bool, int, int] | None = None
        for k, c in enumerate(options):
            shared = int(count(occupied[c[1] : c[3], c[0] : c[2]]))
            cost = (int(own[k]), shared > 0, int(other[k]), shared)
            if best_cost is None or cost < best_cost:
                best, best_cost = c, cost
            if cost == (0, False, 0, 0):
                break
        result[i] = best
        occupied[best[1] : best[3], best[0] : best[2]] = 1
    return result


def _hidden_fractions(rects: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(K, M)`` fraction of each box ``(M, 4)`` covered by each rectangle ``(K, 4)``."""
    r = rects[:, None, :].astype(np.float64)
    b = boxes[None, :, :].astype(np.float64)
    iw = np.clip(np.minimum(r[..., 2], b[..., 2]) - np.maximum(r[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(r[..., 3], b[..., 3]) - np.maximum(r[..., 1], b[..., 1]), 0, None)
    area = np.maximum((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]), 1.0)
    out: np.ndarray = iw * ih / area
    return out


def draw_labels(
    out: np.ndarray,
    anchors: np.ndarray,
    texts: Sequence[str],
    colors: Sequence[tuple[int, ...]],
    st: Style,
    order: np.ndarray | None,
) -> None:
    h_img, w_img = out.shape[:2]
    n = len(texts)
    sizes = np.empty((n, 2), dtype=np.int64)
    metrics = []
    for i, text in enumerate(texts):
        tw, th, base = text_box(text, st.text_scale, st.text_thickness)
        metrics.append((th, base))
        sizes[i] = (tw + 2 * st.pad, th + base + 2 * st.pad)
    rects = layout_labels(anchors, sizes, (w_img, h_img), order=order).tolist()
    nch = out.shape[2]
    for i, text in enumerate(texts):
        if not text:
            continue
        x1, y1, x2, y2 = rects[i]
        color = colors[i]
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, -1)
        th, base = metrics[i]
        fg = ink(text_color_for(color), nch)
        cv2.putText(out, text, (x1 + st.pad, y1 + st.pad + th), FONT, st.text_scale, fg, st.text_thickness, cv2.LINE_AA)


# ---------------------------------------------------------------------------------------- shapes
def _anchors(xyxy: np.ndarray, w_img: int, h_img: int, thickness: int) -> np.ndarray:
    """Integer boxes clamped so a line of ``thickness`` stays fully visible inside the frame."""
    half = thickness // 2
    b: np.ndarray = np.rint(xyxy).astype(np.int64)
    np.clip(b[:, 0::2], half, max(half, w_img - 1 - half), out=b[:, 0::2])
    np.clip(b[:, 1::2], half, max(half, h_img - 1 - half), out=b[:, 1::2])
    return b


def draw_boxes(
    out: np.ndarray,
    xyxy: np.ndarray,
    colors: Sequence[tuple[int, ...]],
    thickness: int,
    *,
    dashed: bool = False,
) -> np.ndarray:
    """Draw rectangles **in place** on ``out`` (a canvas you own); returns the int anchors used."""
    h_img, w_img = out.shape[:2]
    b = _anchors(xyxy, w_img, h_img, thickness)
    for (x1, y1, x2, y2), color in zip(b.tolist(), colors, strict=True):
        if dashed:
            _dashed_rect(out, (x1, y1, x2, y2), color, thickness)
        else:
            cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
    half = thickness // 2
    grown: np.ndarray = b + np.array([-half, -half, half, half])
    return grown


def _dashed_rect(out: np.ndarray, rect: tuple[int, int, int, int], color: tuple[int, ...], thickness: int) -> None:
    x1, y1, x2, y2 = rect
    dash = max(4, 4 * thickness)
    for a, b, fixed, horizontal in ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False)):
        for start in range(a, b + 1, 2 * dash):
            end = min(start + dash, b)
            p1, p2 = ((start, fixed), (end, fixed)) if horizontal else ((fixed, start), (fixed, end))
            cv2.line(out, p1, p2, color, thickness)


def _blend(out: np.ndarray, overlay: np.ndarray, alpha: float) -> None:
    """``out = alpha * overlay + (1 - alpha) * out`` in place.

    ``overlay`` is a copy of ``out`` painted only inside the shapes, and the weighted sum of
    two equal values rounds back to that value exactly, so pixels outside stay unchanged.
    """
    cv2.addWeighted(overlay, alpha, out, 1.0 - alpha, 0.0, dst=out)


def _mask_window(mask: np.ndarray, area: int, xyxy: Sequence[float], w_img: int, h_img: int) -> tuple[slice, slice]:
    """The box (plus a pixel) when the whole mask lies inside it, else the full image."""
    x1, y1 = max(0, int(xyxy[0]) - 1), max(0, int(xyxy[1]) - 1)
    x2, y2 = min(w_img, int(np.ceil(xyxy[2])) + 2), min(h_img, int(np.ceil(xyxy[3])) + 2)
    window = (slice(y1, max(y1, y2)), slice(x1, max(x1, x2)))
    if np.count_nonzero(mask[window]) == area:
        return window
    return (slice(0, h_img), slice(0, w_img))


def _draw_masks(
    out: np.ndarray,
    mask: np.ndarray,
    xyxy: np.ndarray,
    colors: Sequence[tuple[int, ...]],
    alpha: float,
    line: int,
) -> None:
    h_img, w_img = out.shape[:2]
    if mask.shape[1:] != (h_img, w_img):
        raise InvalidInputError(
            f"detections.mask must match the image size (N, {h_img}, {w_img}), got {tuple(mask.shape)}"
        )
    areas = [int(np.count_nonzero(m)) for m in mask]
    boxes = xyxy.tolist()
    windows = [_mask_window(mask[i], areas[i], boxes[i], w_img, h_img) for i in range(len(mask))]
    overlay = out.copy()
    for i in sorted(range(len(mask)), key=lambda k: -areas[k]):  # large first, small ones stay on top
        ys, xs = windows[i]
        overlay[ys, xs][mask[i, ys, xs]] = colors[i]
    _blend(out, overlay, alpha)
    for i in range(len(mask)):
        if not areas[i]:
            continue
        ys, xs = windows[i]
        contours, _ = cv2.findContours(
            np.ascontiguousarray(mask[i, ys, xs]).view(np.uint8),
            cv2.RETR_EXTERNAL,
            cv2.CHAIN_APPROX_SIMPLE,
            offset=(xs.start, ys.start),
        )
        cv2.drawContours(out, contours, -1, colors[i], line, cv2.LINE_AA)


def _segmentation_polygons(seg: Any, h_img: int, w_img: int) -> tuple[list[np.ndarray], np.ndarray | None]:
    """COCO-style segmentation -> (polygons as int32 (K, 1, 2) arrays, or an RLE-decoded mask)."""
    if seg is None:
        return [], None
    if isinstance(seg, Mapping):
        counts = seg.get("counts")
        if isinstance(counts, (list, tuple, np.ndarray)):
            m = mask_from_rle(seg)
        else:
            try:
                from pycocotools import mask as mask_utils
            except ImportError:  # compressed RLE needs pycocotools; draw the box only
                return [], None
            rle = dict(seg)
            if isinstance(rle.get("counts"), str):
                rle["counts"] = rle["counts"].encode("ascii")
            m = mask_utils.decode(rle).astype(bool)
        if m.shape != (h_img, w_img):
            m = cv2.resize(m.view(np.uint8), (w_img, h_img), interpolation=cv2.INTER_NEAREST).astype(bool)
        return [], m
    polys = []
    for part in seg:
        pts = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        if len(pts) >= 3:
            polys.append(np.rint(pts).astype(np.int32).reshape(-1, 1, 2))
    return polys, None


def _draw_polygons(
    out: np.ndarray, segs: np.ndarray, colors: Sequence[tuple[int, ...]], alpha: float, line: int
) -> None:
    h_img, w_img = out.shape[:2]
    overlay = out.copy()
    outlines: list[tuple[list[np.ndarray], tuple[int, ...]]] = []
    drew = False
    for seg, color in zip(segs.tolist(), colors, strict=True):
        polys, m = _segmentation_polygons(seg, h_img, w_img)
        if m is not None:
            overlay[m] = color
            contours, _ = cv2.findContours(m.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            outlines.append((list(contours), color))
            drew = True
        elif polys:
            cv2.fillPoly(overlay, polys, color)
            outlines.append((polys, color))
            drew = True
    if not drew:
        return
    _blend(out, overlay, alpha)
    for polys, color in outlines:
        cv2.polylines(out, polys, True, color, line, cv2.LINE_AA)


def overlay_heatmap(
    image: Any,
    heatmap: Any,
    *,
    alpha: float = 0.6,
    colormap: int = cv2.COLORMAP_JET,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Blend a 2-D heatmap (any resolution, resized to the image) over a copy of ``image``.

    The map is scaled to ``[0, 1]`` (min-max) and blended with per-pixel weight
    ``alpha * value``, so cold areas keep the photo and hot areas show the colour map.

    >>> out = overlay_heatmap(np.zeros((40, 60, 3), np.uint8), np.eye(4))
    >>> out.shape, out.dtype.name
    ((40, 60, 3), 'uint8')
    """
    out, channels = canvas(image, channels=channels)
    _apply_heatmaps(out, [heatmap], alpha, colormap, channels)
    return out


def _normalised_heat(hm: Any, w_img: int, h_img: int) -> np.ndarray:
    arr = np.asarray(hm, dtype=np.float32)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(f"heatmap must be a 2-D array, got shape {arr.shape}")
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    return cv2.resize(arr, (w_img, h_img), interpolation=cv2.INTER_LINEAR)


def _apply_heatmaps(out: np.ndarray, maps: Sequence[Any], alpha: float, colormap: int, channels: str) -> None:
    h_img, w_img = out.shape[:2]
    heat = np.zeros((h_img, w_img), dtype=np.float32)
    for hm in maps:
        np.maximum(heat, _normalised_heat(hm, w_img, h_img), out=heat)
    colored = cv2.applyColorMap(np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8), colormap)
    if channels == "rgb":
        colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    weight = (heat * float(alpha))[:, :, None]
    rgb = out[:, :, :3].astype(np.float32)
    out[:, :, :3] = np.clip(rgb + (colored.astype(np.float32) - rgb) * weight + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------- main
def annotate(
    image: Any,
    detections: Detections,
    *,
    boxes: bool = True,
    labels: bool | Sequence[str] = True,
    confidence: bool = True,
    masks: bool = True,
    heatmaps: bool = True,
    thickness: int | None = None,
    text_scale: float | None = None,
    palette: Palette | Sequence[ColorLike] | Mapping[int, ColorLike] | None = None,
    label_format: LabelFormat | None = None,
    alpha: float = 0.45,
    channels: Literal["bgr", "rgb"] = "bgr",
    crop_names: Mapping[int, str] | None = None,
) -> np.ndarray:
    """Draw ``detections`` on a copy of ``image`` and return it.

    Colours come from one stable class palette (same class, same colour everywhere). Line
    thickness and text size follow the image resolution unless given. Labels stay inside the
    frame and avoid each other. Drawn, when present: ``mask`` (filled with ``alpha``, outlined),
    COCO polygons/RLE in ``data["segmentation"]`` (when there is no ``mask``), rotated boxes
    ``data["obb_polygon"]`` ``(N, 4, 2)`` instead of the axis-aligned box, CAM heatmaps
    ``data["heatmap"]`` (one 2-D map over the whole image per box), tracker ids and the
    two-stage pipeline's crop labels (see :func:`label_texts`).

    Args:
        image: uint8 ``(H, W, 3)`` BGR (or RGB with ``channels="rgb"``), ``(H, W, 4)`` with
            alpha (kept), ``(H, W)`` / ``(H, W, 1)`` grayscale (returned as 3-channel), or a
            PIL image (returned as an RGB array).
        detections: the boxes to draw (``supervision.Detections`` are accepted too).
        boxes: draw boxes (or rotated boxes).
        labels: draw labels; or a list of ``N`` custom label strings.
        confidence: include scores in the default labels.
        masks: draw masks / polygons.
        heatmaps: overlay ``data["heatmap"]``.
        thickness: line thickness in pixels (default from the image size, 2 at 1080p).
        text_scale: OpenCV font scale (default from the image size, 0.65 at 1080p).
        palette: a :class:`Palette`, a list of colours, or ``{class_id: colour}`` overrides.
        label_format: template or callable for label text (see :func:`label_texts`).
        alpha: opacity of mask and polygon fills, in ``[0, 1]``.
        channels: channel order of ``image`` (so palette colours come out right).
        crop_names: class_id -> name for the crop classifier's labels.

    Returns:
        A new uint8 array; the input is never modified.

    Raises:
        InvalidInputError: wrong image type/shape/dtype, masks of another size, bad options.

    >>> img = np.full((50, 80), 128, np.uint8)
    >>> annotate(img, Detections(xyxy=[[5, 5, 40, 40]])).shape
    (50, 80, 3)
    """
    out, channels = canvas(image, channels=channels)
    dets = as_detections(detections)
    if isinstance(alpha, bool) or not (isinstance(alpha, numbers.Real) and 0.0 <= float(alpha) <= 1.0):
        raise InvalidInputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    custom: list[str] | None = None
    if not isinstance(labels, bool):
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise InvalidInputError(f"labels must be True/False or a list of strings, got {type(labels).__name__}")
        custom = [str(t) for t in labels]
        if len(custom) != len(dets):
            raise InvalidInputError(f"labels must have one string per box ({len(dets)}), got {len(custom)}")
    h_img, w_img = out.shape[:2]
    st = style_for((w_img, h_img), thickness=thickness, text_scale=text_scale)
    box = dets.xyxy
    visible = (box[:, 2] >= 0) & (box[:, 3] >= 0) & (box[:, 0] < w_img) & (box[:, 1] < h_img)
    if not visible.all():  # boxes wholly outside the frame are not drawn (nor their labels)
        dets = dets[visible]
        if custom is not None:
            custom = [t for t, keep in zip(custom, visible.tolist(), strict=True) if keep]
    n = len(dets)
    if n == 0:
        return out
    pal = as_palette(palette)
    nch = out.shape[2]
    colors = [ink(pal.color(k, channels=channels), nch) for k in dets.class_id.tolist()]
    data = dets.data
    line = max(1, st.thickness // 2) if boxes else st.thickness
    if heatmaps and "heatmap" in data:
        _apply_heatmaps(out, list(data["heatmap"]), 0.6, cv2.COLORMAP_JET, channels)
    if masks:
        if dets.mask is not None:
            _draw_masks(out, dets.mask, dets.xyxy, colors, float(alpha), line)
        elif "segmentation" in data:
            _draw_polygons(out, data["segmentation"], colors, float(alpha), line)
    half = st.thickness // 2
    if boxes and "obb_polygon" in data:
        polys = np.asarray(data["obb_polygon"], dtype=np.float64)
        if polys.shape != (n, 4, 2):
            raise InvalidInputError(f"data['obb_polygon'] must have shape ({n}, 4, 2), got {polys.shape}")
        for poly, color in zip(polys, colors, strict=True):
            pts = np.rint(poly).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], True, color, st.thickness, cv2.LINE_AA)
        anchors = _anchors(dets.xyxy, w_img, h_img, st.thickness) + np.array([-half, -half, half, half])
    elif boxes:
        anchors = draw_boxes(out, dets.xyxy, colors, st.thickness)
    else:
        anchors = _anchors(dets.xyxy, w_img, h_img, st.thickness) + np.array([-half, -half, half, half])
    if labels is not False:
        if custom is not None:
            texts = custom
        else:
            texts = label_texts(dets, confidence=confidence, label_format=label_format, crop_names=crop_names)
        texts = [ascii_text(t) for t in texts]
        order = None
        if dets.confidence is not None:
            order = np.argsort(-dets.confidence, kind="stable")
        draw_labels(out, anchors, texts, colors, st, order)
    return out
