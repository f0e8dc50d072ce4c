"""Two-stage detection: a detector finds the boxes, a classifier labels every crop.

:class:`Pipeline` runs any object with a ``detect(image) -> Detections`` method (normally a
:class:`~detectkit.models.detector.Detector`), cuts each box out of the image (with
configurable padding), classifies all crops of an image in batches through a
:class:`~detectkit.models.classifier.Classifier`, and attaches the crop labels per box:

* ``data["crop_class_id"]``: int64 ``(N, k)`` classifier class ids, best first,
* ``data["crop_confidence"]``: float32 ``(N, k)`` their probabilities,
* ``data["crop_label"]``: str ``(N, k)`` their names.

The detector's own ``class_id``/``confidence``/``names`` are left as they are.
:meth:`Pipeline.classify_boxes` does the second stage alone for boxes you already have.

>>> import numpy as np
>>> from detectkit import Detections
>>> from detectkit.models.pipeline import crop_boxes
>>> image = np.zeros((100, 200, 3), np.uint8)
>>> [c.shape for c in crop_boxes(image, [[10, 20, 50, 60]], padding=0.25)]
[(60, 60, 3)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from detectkit._checks import as_boxes, check_choice, check_positive_int
from detectkit.detections import Detections
from detectkit.errors import DetectkitError, InvalidInputError
from detectkit.models.classifier import Classifier

if TYPE_CHECKING:
    from detectkit.image import FrameInfo

__all__ = ["Pipeline", "SupportsDetect", "crop_boxes"]

# ImageNet mean in BGR, so padded pixels become 0 after normalisation
_PAD_VALUE_BGR = (104, 116, 124)


class SupportsDetect(Protocol):
    """Anything with ``detect(image) -> Detections`` (e.g. :class:`~detectkit.models.detector.Detector`)."""

    def detect(self, source: Any, /) -> Any: ...


def _check_padding(padding: Any) -> float:
    try:
        value = float(padding)
    except (TypeError, ValueError):
        raise InvalidInputError(f"padding must be a number >= 0 (fraction of the box size), got {padding!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"padding must be a number >= 0 (fraction of the box size), got {padding!r}")
    return value


def crop_boxes(
    image: np.ndarray,
    xyxy: Any,
    *,
    padding: float = 0.0,
    fit: Literal["crop", "pad"] = "crop",
) -> list[np.ndarray]:
    """Cut boxes out of an image.

    Args:
        image: ``(H, W, 3)`` uint8 array.
        xyxy: ``(N, 4)`` absolute boxes.
        padding: extra margin on every side as a fraction of the box width/height
            (``0.1`` adds 10 % of the width left and right), clipped to the image.
        fit: ``"crop"`` returns the padded box as is; ``"pad"`` then pads it to a square with
            the ImageNet mean colour, so a classifier's centre crop keeps the whole object.

    Returns:
        ``N`` arrays, views of ``image`` for ``fit="crop"`` (each at least 1 x 1 pixel), new
        square arrays for ``fit="pad"``.

    >>> img = np.zeros((10, 10, 3), np.uint8)
    >>> [c.shape[:2] for c in crop_boxes(img, [[0, 0, 4, 2], [8, 8, 30, 30]], fit="pad")]
    [(4, 4), (2, 2)]
    """
    import cv2

    if not isinstance(image, np.ndarray) or image.ndim != 3:
        raise InvalidInputError(
            f"image must be an (H, W, C) array, got {getattr(image, 'shape', type(image).__name__)}"
        )
    boxes = as_boxes(xyxy, "xyxy")
    padding = _check_padding(padding)
    check_choice(fit, "fit", ("crop", "pad"))
    height, width = image.shape[:2]
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    x1 = np.clip(np.floor(boxes[:, 0] - padding * bw), 0, width - 1).astype(np.int64)
    y1 = np.clip(np.floor(boxes[:, 1] - padding * bh), 0, height - 1).astype(np.int64)
    x2 = np.clip(np.ceil(boxes[:, 2] + padding * bw), 0, width).astype(np.int64)
    y2 = np.clip(np.ceil(boxes[:, 3] + padding * bh), 0, height).astype(np.int64)
    x2 = np.maximum(x2, x1 + 1)
    y2 = np.maximum(y2, y1 + 1)
    crops = []
    for a, b, c, d in zip(x1.tolist(), y1.tolist(), x2.tolist(), y2.tolist(), strict=True):
        crop = image[b:d, a:c]
        if fit == "pad":
            h, w = crop.shape[:2]
            side = max(h, w)
            top, left = (side - h) // 2, (side - w) // 2
            crop = cv2.copyMakeBorder(
                crop, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=_PAD_VALUE_BGR
            )
        crops.append(crop)
    return crops


class Pipeline:
    """Detect, then classify every detected box with a whole-image classifier.

    Args:
        detector: an object with ``detect(image) -> Detections`` (a ``Detector``).
        classifier: a :class:`Classifier`, a model name/path for one, or ``None`` for the default
            ImageNet classifier.
        padding: margin around each box before classifying, as a fraction of the box size.
        top_k: crop labels kept per box.
        batch_size: crops per forward pass of the classifier.
        fit: ``"pad"`` (default) pads each crop to a square so the classifier's centre crop keeps
            the whole object; ``"crop"`` feeds the padded box as is.

    >>> import numpy as np
    >>> from detectkit import Detections
    >>> class Fixed:  # any object with detect(image) -> Detections
    ...     def detect(self, image):
    ...         return Detections(xyxy=[[0, 0, 32, 32]], confidence=[0.9], names={0: "thing"})
    >>> pipe = Pipeline(Fixed(), top_k=2)
    >>> pipe.detect(np.zeros((64, 64, 3), np.uint8)).data["crop_label"].shape
    (1, 2)
    """

    def __init__(
        self,
        detector: SupportsDetect,
        classifier: Classifier | str | None = None,
        *,
        padding: float = 0.1,
        top_k: int = 1,
        batch_size: int = 32,
        fit: Literal["crop", "pad"] = "pad",
    ) -> None:
        if not callable(getattr(detector, "detect", None)):
            hint = f" (build one first: Pipeline(Detector({detector!r}), ...))" if isinstance(detector, str) else ""
            raise InvalidInputError(
                f"detector must have a detect(image) -> Detections method, got {type(detector).__name__}{hint}"
            )
        self.detector = detector
        self.classifier = classifier if isinstance(classifier, Classifier) else Classifier(classifier)
        self.padding = _check_padding(padding)
        self.top_k = check_positive_int(top_k, "top_k")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.fit: Literal["crop", "pad"] = check_choice(fit, "fit", ("crop", "pad"))  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Pipeline(detector={type(self.detector).__name__}, classifier={self.classifier!r}, "
            f"padding={self.padding}, top_k={self.top_k}, fit={self.fit!r})"
        )

    def detect(self, source: Any) -> Any:
        """Run both stages on one image (-> ``Detections``) or a list/tuple of images (-> a list).

        The image is loaded once; the detector gets the array.
        """
        if isinstance(source, (list, tuple)):
            return [self.detect(item) for item in source]
        from detectkit.image import load_image

        image = load_image(source)
        detections = self.detector.detect(image)
        if not isinstance(detections, Detections):
            raise InvalidInputError(f"detector.detect must return Detections, got {type(detections).__name__}")
        return self.classify_boxes(image, detections)

    __call__ = detect

    def classify_boxes(self, image: Any, detections: Detections) -> Detections:
        """The second stage alone: classify the crops of ``detections`` in ``image``.

        Args:
            image: any image source (loaded once) or an ``(H, W, 3)`` BGR array.
            detections: boxes in ``image``'s pixel coordinates.

        Returns:
            A new ``Detections`` equal to ``detections`` plus ``data["crop_class_id"]`` int64
            ``(N, k)``, ``data["crop_confidence"]`` float32 ``(N, k)`` and ``data["crop_label"]``
            str ``(N, k)``, with ``k = min(top_k, classifier.num_classes)``. All crops go through
            the classifier in batches of ``batch_size``.
        """
        from detectkit.image import load_image

        if not isinstance(detections, Detections):
            raise InvalidInputError(f"detections must be Detections, got {type(detections).__name__}")
        array = load_image(image)
        k = min(self.top_k, self.classifier.num_classes)
        n = len(detections)
        class_ids = np.zeros((n, k), np.int64)
        confidences = np.zeros((n, k), np.float32)
        crops = crop_boxes(array, detections.xyxy, padding=self.padding, fit=self.fit) if n else []
        for start in range(0, n, self.batch_size):
            probs = self.classifier.predict_proba(crops[start : start + self.batch_size])
            top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
            class_ids[start : start + len(top)] = top
            confidences[start : start + len(top)] = np.take_along_axis(probs, top, axis=1)
        names = self.classifier.names
        labels = np.array([[names.get(c, str(c)) for c in row] for row in class_ids.tolist()], dtype=str)
        data = dict(detections.data)
        data["crop_class_id"] = class_ids
        data["crop_confidence"] = confidences
        data["crop_label"] = labels.reshape(n, k)
        return Detections(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=detections.class_id,
            mask=detections.mask,
            tracker_id=detections.tracker_id,
            data=data,
            names=detections.names,
            image_size_wh=detections.image_size_wh or (array.shape[1], array.shape[0]),
        )

    def detect_many(self, sources: Iterable[Any]) -> list[Detections]:
        """``detect`` for every image of an iterable, in order."""
        return [self.detect(s) for s in sources]

    def detect_stream(
        self,
        source: Any,
        *,
        recursive: bool = False,
        vid_stride: int = 1,
        on_error: Callable[[FrameInfo, DetectkitError], None] | None = None,
    ) -> Iterator[tuple[FrameInfo, Detections]]:
        """Both stages lazily over a folder, video, camera index, list or single image.

        Args:
            source: anything :func:`detectkit.image.iter_images` accepts.
            recursive: descend into sub-folders.
            vid_stride: keep every n-th video frame.
            on_error: called with ``(info, error)`` for an input that fails to load, which is
                then skipped. Without it the first failure raises.

        Yields:
            ``(FrameInfo, Detections)`` per image, in source order, with the crop labels attached.
        """
        from detectkit.image import iter_images

        frames = iter_images(source, recursive=recursive, vid_stride=vid_stride)
        return self._stream(frames, on_error)

    def _stream(
        self, frames: Iterator[Any], on_error: Callable[[FrameInfo, DetectkitError], None] | None
    ) -> Iterator[tuple[FrameInfo, Detections]]:
        for frame in frames:
            if frame.error is not None:
                if on_error is None:
                    raise frame.error
                on_error(frame.info, frame.error)
                continue
            detections = self.detector.detect(frame.image)
            if not isinstance(detections, Detections):
                raise InvalidInputError(f"detector.detect must return Detections, got {type(detections).__name__}")
            yield frame.info, self.classify_boxes(frame.image, detections)
