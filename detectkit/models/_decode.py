"""Decoding a raw YOLO detect head (``(4 + nc, anchors)``, as an ONNX/OpenVINO export outputs it).

Shared by the exported-model path of :class:`~detectkit.models.detector.Detector` and the batched
tiles of :mod:`detectkit.models.slicing`, so both give the same boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_NMS", "decode_yolo_head"]

MAX_NMS = 30000  # most candidate boxes handed to NMS (the highest scoring ones), as Ultralytics


def decode_yolo_head(
    pred: np.ndarray,
    nc: int,
    *,
    conf: float,
    iou: float,
    classes: Sequence[int] | None,
    max_det: int,
    agnostic: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xyxy, scores, class ids)`` in letterbox pixels from one image's ``(4 + nc, A)`` head output.

    Each anchor keeps its best class if that score is above ``conf`` (and the class is in
    ``classes``); at most :data:`MAX_NMS` candidates go to NMS (per class, or across classes when
    ``agnostic``), then the ``max_det`` best are kept.

    >>> pred = np.zeros((6, 3), np.float32)  # 2 classes, 3 anchors: (cx, cy, w, h, score0, score1)
    >>> pred[:4] = [[10, 11, 50], [10, 10, 50], [4, 4, 4], [4, 4, 4]]
    >>> pred[4:] = [[0.9, 0.8, 0.1], [0.0, 0.0, 0.7]]
    >>> xyxy, scores, cls = decode_yolo_head(pred, 2, conf=0.25, iou=0.5, classes=None, max_det=100)
    >>> xyxy.tolist(), [round(float(s), 2) for s in scores], cls.tolist()
    ([[8.0, 8.0, 12.0, 12.0], [48.0, 48.0, 52.0, 52.0]], [0.9, 0.7], [0, 1])
    """
    from detectkit.nms import batched_nms, nms

    p = pred[:, pred[4 : 4 + nc].max(0) > conf].T if len(pred) > 4 else pred.T
    cls_scores = p[:, 4 : 4 + nc]
    cls = cls_scores.argmax(1)
    scores = cls_scores[np.arange(len(p)), cls]
    keep = scores > conf
    if classes is not None:
        keep &= np.isin(cls, classes)
    p, scores, cls = p[keep], scores[keep], cls[keep]
    if len(p) > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        p, scores, cls = p[top], scores[top], cls[top]
    xy, wh = p[:, :2], p[:, 2:4] / 2
    xyxy = np.concatenate([xy - wh, xy + wh], axis=1)
    if len(xyxy):
        if agnostic:
            order = nms(xyxy, scores, iou, backend="numpy")
        else:
            order = batched_nms(xyxy, scores, cls, iou, backend="numpy")
        order = order[:max_det]
        xyxy, scores, cls = xyxy[order], scores[order], cls[order]
    return xyxy, scores, cls
