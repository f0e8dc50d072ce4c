"""The core result types: :class:`Detections` (boxes) and :class:`Classification` (whole image).

``Detections`` is a frozen dataclass of parallel numpy arrays, one row per box, with the
field names supervision uses (``xyxy``, ``confidence``, ``class_id``, ``mask``,
``tracker_id``, ``data``) so users of that ecosystem feel at home. Arrays are validated
on construction and made read-only: no caller's array is ever changed through a
``Detections``, and no ``Detections`` changes under its holder.

>>> import numpy as np
>>> dets = Detections(
...     xyxy=[[10, 10, 50, 50], [12, 12, 48, 52], [100, 100, 150, 140]],
...     confidence=[0.9, 0.8, 0.7],
...     class_id=[0, 0, 1],
...     names={0: "cat", 1: "dog"},
... )
>>> len(dets), dets.labels
(3, ['cat', 'cat', 'dog'])
>>> dets[dets.confidence > 0.75].labels
['cat', 'cat']
>>> dets.with_nms(iou_threshold=0.5).confidence.tolist()
[0.8999999761581421, 0.699999988079071]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from detectkit._checks import as_boxes, as_vector, check_image_size_wh
from detectkit.errors import InvalidInputError

if TYPE_CHECKING:
    import supervision

__all__ = ["Box", "Classification", "Detections", "mask_from_rle", "mask_to_rle"]


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _names_map(names: Mapping[int, str] | Sequence[str] | None, argument: str = "names") -> Mapping[int, str]:
    if names is None:
        return MappingProxyType({})
    if isinstance(names, Mapping):
        items = names.items()
    elif isinstance(names, Sequence) and not isinstance(names, str):
        items = enumerate(names)  # type: ignore[assignment]
    else:
        raise InvalidInputError(
            f"{argument} must be a mapping class_id -> name or a list of names, got {type(names).__name__}"
        )
    out: dict[int, str] = {}
    for key, value in items:
        try:
            k = int(key)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{argument} keys must be integer class ids, got {key!r}") from None
        out[k] = str(value)
    return MappingProxyType(out)


class Box(NamedTuple):
    """One detection, as yielded by iterating over :class:`Detections`."""

    xyxy: tuple[float, float, float, float]
    confidence: float | None
    class_id: int
    label: str | None
    tracker_id: int | None


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes with their scores, classes and optional masks, as parallel arrays.

    Attributes:
        xyxy: float32 ``(N, 4)`` absolute-pixel boxes ``x1, y1, x2, y2`` with ``x2 >= x1``.
        confidence: float32 ``(N,)`` scores, or ``None`` for ground truth.
        class_id: int64 ``(N,)``; defaults to zeros.
        mask: bool ``(N, H, W)`` instance masks at the image size, or ``None``.
        tracker_id: int64 ``(N,)`` track ids, or ``None``.
        data: extra per-box arrays, each with first dimension ``N`` (e.g. ``"obb"``,
            ``"crop_class_id"``, ``"iscrowd"``).
        names: class_id -> label map (read-only).
        image_size_wh: ``(width, height)`` of the image the boxes refer to, when known.

    Construction copies and validates; every array is read-only afterwards.

    >>> Detections(xyxy=[[0, 0, 10, 10]], class_id=[1.5])
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: class_id must hold integers, got 1.5
    """

    xyxy: np.ndarray
    confidence: np.ndarray | None = None
    class_id: np.ndarray = field(default=None)  # type: ignore[arg-type]
    mask: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    data: Mapping[str, np.ndarray] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)
    image_size_wh: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        xyxy = _readonly(as_boxes(self.xyxy, "xyxy", dtype=np.float32))
        n = len(xyxy)
        s = object.__setattr__
        s(self, "xyxy", xyxy)
        if self.confidence is not None:
            s(self, "confidence", _readonly(as_vector(self.confidence, "confidence", length=n, dtype=np.float32)))
        if self.class_id is None:
            s(self, "class_id", _readonly(np.zeros(n, dtype=np.int64)))
        else:
            s(self, "class_id", _readonly(as_vector(self.class_id, "class_id", length=n, dtype=np.int64)))
        if self.tracker_id is not None:
            s(self, "tracker_id", _readonly(as_vector(self.tracker_id, "tracker_id", length=n, dtype=np.int64)))
        if self.mask is not None:
            mask = np.array(self.mask, copy=True)
            if mask.ndim != 3 or mask.shape[0] != n:
                raise InvalidInputError(f"mask must have shape (N, H, W) with N={n}, got {mask.shape}")
            if mask.dtype != bool:
                if mask.dtype.kind not in "biu" or not np.isin(mask, (0, 1)).all():
                    raise InvalidInputError(f"mask must be boolean (or 0/1), got dtype {mask.dtype}")
                mask = mask.astype(bool)
            s(self, "mask", _readonly(mask))
        if not isinstance(self.data, Mapping):
            raise InvalidInputError(f"data must be a mapping of name -> per-box array, got {type(self.data).__name__}")
        data: dict[str, np.ndarray] = {}
        for key, value in self.data.items():
            arr = np.array(value, copy=True)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InvalidInputError(
                    f"data[{key!r}] must have first dimension {n} (one per box), got shape {arr.shape}"
                )
            data[str(key)] = _readonly(arr)
        s(self, "data", MappingProxyType(data))
        s(self, "names", _names_map(self.names))
        if self.image_size_wh is not None:
            s(self, "image_size_wh", check_image_size_wh(self.image_size_wh))

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(
        cls,
        *,
        names: Mapping[int, str] | Sequence[str] | None = None,
        with_confidence: bool = True,
        image_size_wh: tuple[int, int] | None = None,
    ) -> Detections:
        """No boxes. ``confidence`` is an empty array (predictions) unless ``with_confidence=False``.

        >>> len(Detections.empty())
        0
        """
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32) if with_confidence else None,
            names=_names_map(names),
            image_size_wh=image_size_wh,
        )

    @classmethod
    def merge(cls, items: Iterable[Detections]) -> Detections:
        """Concatenate several ``Detections`` (e.g. from tiles or models) into one.

        Optional fields are kept only if every non-empty part has them; ``data`` keys
        must agree among non-empty parts. Names maps are unified (conflicts raise).

        >>> a = Detections(xyxy=[[0, 0, 1, 1]], confidence=[0.5], names={0: "a"})
        >>> b = Detections(xyxy=[[2, 2, 3, 3]], confidence=[0.6], class_id=[1], names={1: "b"})
        >>> m = Detections.merge([a, b])
        >>> len(m), m.labels
        (2, ['a', 'b'])
        """
        parts = list(items)
        for i, part in enumerate(parts):
            if not isinstance(part, Detections):
                raise InvalidInputError(f"items[{i}] must be Detections, got {type(part).__name__}")
        names: dict[int, str] = {}
        for part in parts:
            for k, v in part.names.items():
                if names.setdefault(k, v) != v:
                    raise InvalidInputError(f"cannot merge: class_id {k} is named {names[k]!r} and {v!r}")
        sizes = {p.image_size_wh for p in parts if p.image_size_wh is not None}
        image_size = sizes.pop() if len(sizes) == 1 else None
        full = [p for p in parts if len(p)]
        if not full:
            has_conf = any(p.confidence is not None for p in parts) or not parts
            return cls.empty(names=names, with_confidence=has_conf, image_size_wh=image_size)

        def cat(attr: str) -> np.ndarray | None:
            values = [getattr(p, attr) for p in full]
            if any(v is None for v in values):
                if not all(v is None for v in values):
                    raise InvalidInputError(f"cannot merge: {attr} is set on some Detections and None on others")
                return None
            if attr == "mask" and len({v.shape[1:] for v in values}) > 1:
                raise InvalidInputError(f"cannot merge: masks have different sizes {[v.shape[1:] for v in values]}")
            return np.concatenate(values)

        keys = [set(p.data) for p in full]
        if any(k != keys[0] for k in keys):
            raise InvalidInputError(f"cannot merge: data keys differ: {[sorted(k) for k in keys]}")
        data = {k: np.concatenate([p.data[k] for p in full]) for k in keys[0]}
        return cls(
            xyxy=np.concatenate([p.xyxy for p in full]),
            confidence=cat("confidence"),
            class_id=np.concatenate([p.class_id for p in full]),
            mask=cat("mask"),
            tracker_id=cat("tracker_id"),
            data=data,
            names=names,
            image_size_wh=image_size,
        )

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | Sequence[bool] | np.ndarray) -> Detections:
        """Select boxes by integer, slice, integer array or boolean mask; returns ``Detections``.

        >>> d = Detections(xyxy=[[0, 0, 1, 1], [0, 0, 2, 2]], confidence=[0.1, 0.9])
        >>> d[1].confidence.tolist(), len(d[[True, False]]), len(d[::-1])
        ([0.8999999761581421], 1, 2)
        """
        n = len(self)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for Detections of length {n}")
            sel: Any = [i]
        elif isinstance(index, slice):
            sel = index
        else:
            arr = np.asarray(index)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise InvalidInputError(f"boolean index must have shape ({n},), got {arr.shape}")
            elif arr.size == 0:
                arr = arr.astype(np.int64)
            elif arr.dtype.kind not in "iu" or arr.ndim != 1:
                raise InvalidInputError(
                    f"index must be an int, slice, 1-D int array or boolean mask, got {arr.dtype} {arr.shape}"
                )
            sel = arr

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[sel]

        return Detections(
            xyxy=self.xyxy[sel],
            confidence=pick(self.confidence),
            class_id=self.class_id[sel],
            mask=pick(self.mask),
            tracker_id=pick(self.tracker_id),
            data={k: v[sel] for k, v in self.data.items()},
            names=self.names,
            image_size_wh=self.image_size_wh,
        )

    def __iter__(self) -> Iterator[Box]:
        """Yield one :class:`Box` per detection (plain Python numbers)."""
        conf = self.confidence.tolist() if self.confidence is not None else [None] * len(self)
        track = self.tracker_id.tolist() if self.tracker_id is not None else [None] * len(self)
        for xyxy, c, k, t in zip(self.xyxy.tolist(), conf, self.class_id.tolist(), track, strict=True):
            yield Box(tuple(xyxy), c, k, self.names.get(k), t)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        return (
            same(self.xyxy, other.xyxy)
            and same(self.confidence, other.confidence)
            and same(self.class_id, other.class_id)
            and same(self.mask, other.mask)
            and same(self.tracker_id, other.tracker_id)
            and self.data.keys() == other.data.keys()
            and all(same(v, other.data[k]) for k, v in self.data.items())
            and dict(self.names) == dict(other.names)
            and self.image_size_wh == other.image_size_wh
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = [k for k in ("mask", "tracker_id") if getattr(self, k) is not None] + list(self.data)
        kind = "predictions" if self.confidence is not None else "ground truth"
        more = f", with {', '.join(extra)}" if extra else ""
        return f"Detections({len(self)} boxes, {kind}, classes={sorted(set(self.class_id.tolist()))}{more})"

    # ------------------------------------------------------------------ derived values
    @property
    def labels(self) -> list[str]:
        """Class names per box (the class id as text where ``names`` has no entry)."""
        return [self.names.get(k, str(k)) for k in self.class_id.tolist()]

    @property
    def area(self) -> np.ndarray:
        """Box areas in pixels, float32 ``(N,)`` (mask areas are in ``mask.sum((1, 2))``)."""
        out: np.ndarray = (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])
        return out

    # ------------------------------------------------------------------ filtering
    def filter(
        self,
        *,
        classes: Iterable[int | str] | None = None,
        min_confidence: float | None = None,
        min_area: float | None = None,
        max_area: float | None = None,
    ) -> Detections:
        """Keep boxes matching every given criterion.

        ``classes`` takes class ids or names. Ground truth (no confidence) passes the
        confidence test.

        >>> d = Detections(xyxy=[[0, 0, 2, 2], [0, 0, 9, 9]], confidence=[0.2, 0.8],
        ...                class_id=[0, 1], names={0: "a", 1: "b"})
        >>> d.filter(classes=["b"]).labels, len(d.filter(min_confidence=0.5, max_area=10))
        (['b'], 0)
        """
        keep = np.ones(len(self), dtype=bool)
        if classes is not None:
            by_name = {v: k for k, v in self.names.items()}
            ids = []
            for c in classes:
                if isinstance(c, str):
                    if c not in by_name:
                        raise InvalidInputError(f"classes: unknown class name {c!r}; known: {sorted(by_name)}")
                    ids.append(by_name[c])
                else:
                    ids.append(int(c))
            keep &= np.isin(self.class_id, ids)
        if min_confidence is not None and self.confidence is not None:
            keep &= self.confidence >= min_confidence
        if min_area is not None:
            keep &= self.area >= min_area
        if max_area is not None:
            keep &= self.area <= max_area
        return self[keep]

    def with_nms(
        self,
        iou_threshold: float = 0.5,
        *,
        class_agnostic: bool = False,
    ) -> Detections:
        """Non-maximum suppression; returns the kept boxes sorted by descending confidence.

        Uses :func:`detectkit.nms.batched_nms` (per class) or :func:`detectkit.nms.nms`
        (``class_agnostic=True``).

        Raises:
            InvalidInputError: the detections have no confidence (ground truth).
        """
        from detectkit.nms import batched_nms, nms

        if self.confidence is None:
            raise InvalidInputError("with_nms needs confidence scores, got ground truth (confidence=None)")
        if class_agnostic:
            keep = nms(self.xyxy, self.confidence, iou_threshold)
        else:
            keep = batched_nms(self.xyxy, self.confidence, self.class_id, iou_threshold)
        return self[keep]

    def with_soft_nms(
        self,
        *,
        iou_threshold: float = 0.5,
        sigma: float = 0.5,
        score_threshold: float = 0.001,
        method: str = "gaussian",
        class_agnostic: bool = False,
    ) -> Detections:
        """Soft-NMS (:func:`detectkit.nms.soft_nms`): kept boxes with their *decayed* confidence, best first.

        >>> d = Detections(xyxy=[[0, 0, 10, 10], [0, 0, 10, 8]], confidence=[0.9, 0.8])
        >>> d.with_soft_nms().confidence.astype(float).round(3).tolist()
        [0.9, 0.222]
        """
        from detectkit.nms import soft_nms

        conf = self._scores("with_soft_nms")
        keep, new = soft_nms(
            self.xyxy,
            conf,
            None if class_agnostic else self.class_id,
            iou_threshold=iou_threshold,
            sigma=sigma,
            score_threshold=score_threshold,
            method=method,
        )
        kept = self[keep]
        return Detections(
            xyxy=kept.xyxy,
            confidence=new,
            class_id=kept.class_id,
            mask=kept.mask,
            tracker_id=kept.tracker_id,
            data=kept.data,
            names=self.names,
            image_size_wh=self.image_size_wh,
        )

    def with_wbf(self, *, iou_threshold: float = 0.55, skip_box_threshold: float = 0.0) -> Detections:
        """Weighted boxes fusion (:func:`detectkit.nms.weighted_boxes_fusion`) per class.

        Fused boxes are new objects: ``mask``, ``tracker_id`` and ``data`` are dropped.

        >>> d = Detections(xyxy=[[0, 0, 10, 10], [1, 1, 11, 11]], confidence=[0.9, 0.6])
        >>> d.with_wbf().xyxy.astype(float).round(2).tolist()
        [[0.4, 0.4, 10.4, 10.4]]
        """
        from detectkit.nms import weighted_boxes_fusion

        conf = self._scores("with_wbf")
        boxes, scores, class_id = weighted_boxes_fusion(
            self.xyxy, conf, self.class_id, iou_threshold=iou_threshold, skip_box_threshold=skip_box_threshold
        )
        return Detections(
            xyxy=boxes,
            confidence=scores,
            class_id=class_id,
            names=self.names,
            image_size_wh=self.image_size_wh,
        )

    def with_nmm(
        self,
        *,
        iou_threshold: float = 0.5,
        match_metric: str = "iou",
        merge: str = "union",
        class_agnostic: bool = False,
    ) -> Detections:
        """Non-maximum merging (:func:`detectkit.nms.non_max_merge`), e.g. to stitch tiled detections.

        Each group keeps its leader's confidence, class, tracker id and ``data``; masks
        of a group are OR-ed together.

        >>> d = Detections(xyxy=[[0, 0, 10, 10], [5, 0, 20, 10]], confidence=[0.9, 0.8])
        >>> d.with_nmm(iou_threshold=0.3, match_metric="ios").xyxy.tolist()
        [[0.0, 0.0, 20.0, 10.0]]
        """
        from detectkit.nms import non_max_merge

        conf = self._scores("with_nmm")
        res = non_max_merge(
            self.xyxy,
            conf,
            self.class_id,
            iou_threshold=iou_threshold,
            match_metric=match_metric,
            merge=merge,
            class_agnostic=class_agnostic,
        )
        kept = self[res.keep]
        mask = None
        if self.mask is not None:
            mask = np.zeros((len(res.keep), *self.mask.shape[1:]), dtype=bool)
            np.logical_or.at(mask, res.group, self.mask)
        return Detections(
            xyxy=res.boxes,
            confidence=kept.confidence,
            class_id=kept.class_id,
            mask=mask,
            tracker_id=kept.tracker_id,
            data=kept.data,
            names=self.names,
            image_size_wh=self.image_size_wh,
        )

    def _scores(self, method: str) -> np.ndarray:
        if self.confidence is None:
            raise InvalidInputError(f"{method} needs confidence scores, got ground truth (confidence=None)")
        return self.confidence

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain lists, masks as COCO-style uncompressed RLE).

        Per-box extras come out as plain JSON values under ``"data"``; their numpy dtypes travel
        beside them in ``"data_dtypes"`` so :meth:`from_dict` restores them exactly.

        >>> d = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.5], names={0: "cat"}, data={"crop_label": ["tabby"]})
        >>> d.to_dict()["data"]
        {'crop_label': ['tabby']}
        >>> Detections.from_dict(d.to_dict()) == d
        True
        """
        out: dict[str, Any] = {
            "xyxy": self.xyxy.tolist(),
            "confidence": None if self.confidence is None else self.confidence.tolist(),
            "class_id": self.class_id.tolist(),
            "labels": self.labels,
            "names": {str(k): v for k, v in sorted(self.names.items())},
        }
        if self.tracker_id is not None:
            out["tracker_id"] = self.tracker_id.tolist()
        if self.mask is not None:
            out["mask"] = [mask_to_rle(m) for m in self.mask]
            out["mask_size_hw"] = list(self.mask.shape[1:])
        if self.data:
            out["data"] = {k: v.tolist() for k, v in self.data.items()}
            out["data_dtypes"] = {k: v.dtype.str for k, v in self.data.items()}
        if self.image_size_wh is not None:
            out["image_size_wh"] = list(self.image_size_wh)
        return out

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Detections:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(payload, Mapping) or "xyxy" not in payload:
            raise InvalidInputError("payload must be a mapping with at least an 'xyxy' key")
        mask = None
        if payload.get("mask") is not None:
            h, w = payload["mask_size_hw"]
            masks = [mask_from_rle(r) for r in payload["mask"]]
            mask = np.stack(masks) if masks else np.zeros((0, h, w), bool)
        dtypes = payload.get("data_dtypes") or {}
        data: dict[str, np.ndarray] = {}
        for k, v in (payload.get("data") or {}).items():
            if isinstance(v, Mapping) and set(v) == {"dtype", "values"}:  # the form written before 0.1.1
                data[k] = np.array(v["values"], dtype=np.dtype(v["dtype"]))
            else:
                data[k] = np.array(v, dtype=np.dtype(dtypes[k]) if k in dtypes else None)
        size = payload.get("image_size_wh")
        return cls(
            xyxy=np.array(payload["xyxy"], dtype=np.float32).reshape(-1, 4),
            confidence=payload.get("confidence"),
            class_id=payload.get("class_id"),  # type: ignore[arg-type]
            mask=mask,
            tracker_id=payload.get("tracker_id"),
            data=data,
            names={int(k): v for k, v in payload.get("names", {}).items()},
            image_size_wh=tuple(size) if size is not None else None,
        )

    def to_json(self, **kwargs: Any) -> str:
        """``json.dumps(self.to_dict(), **kwargs)``."""
        return json.dumps(self.to_dict(), **kwargs)

    # ------------------------------------------------------------------ interop
    def to_supervision(self) -> supervision.Detections:
        """A ``supervision.Detections`` sharing this object's (read-only) arrays.

        No array is copied; supervision code that tries to write into them raises.
        ``names`` travel as ``data["class_name"]`` as supervision's own converters do.
        """
        import supervision as sv

        data: dict[str, Any] = dict(self.data)
        data["class_name"] = np.array(self.labels)
        return sv.Detections(
            xyxy=self.xyxy,
            mask=self.mask,
            confidence=self.confidence,
            class_id=self.class_id,
            tracker_id=self.tracker_id,
            data=data,
        )

    @classmethod
    def from_supervision(
        cls,
        detections: supervision.Detections,
        *,
        names: Mapping[int, str] | Sequence[str] | None = None,
    ) -> Detections:
        """Build from a ``supervision.Detections`` (its ``class_name`` data fills ``names``)."""
        data = {k: np.asarray(v) for k, v in detections.data.items() if k != "class_name"}
        mask = detections.mask
        if mask is not None and not isinstance(mask, np.ndarray):  # supervision's CompactMask
            mask = mask.to_dense()
        name_map = dict(_names_map(names))
        class_id = detections.class_id
        if class_id is None:
            class_id = np.zeros(len(detections.xyxy), np.int64)
        if "class_name" in detections.data:
            for k, v in zip(
                np.asarray(class_id).tolist(), np.asarray(detections.data["class_name"]).tolist(), strict=True
            ):
                name_map.setdefault(int(k), str(v))
        return cls(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=class_id,
            mask=mask,
            tracker_id=detections.tracker_id,
            data=data,
            names=name_map,
        )

    @classmethod
    def from_ultralytics(cls, result: Any) -> Detections:
        """Build from one Ultralytics ``Results`` (detect, segment or OBB).

        Detect: boxes, scores, classes. Segment: ``mask`` at the original image size.
        OBB: ``xyxy`` holds the axis-aligned hull and ``data["obb"]`` the rotated boxes as
        ``(cx, cy, w, h, angle_radians)`` with ``data["obb_polygon"]`` the four corners.
        """
        names = {int(k): str(v) for k, v in getattr(result, "names", {}).items()}
        h, w = (int(x) for x in result.orig_shape[:2])
        data: dict[str, np.ndarray] = {}
        mask = None
        obb = getattr(result, "obb", None)
        if obb is not None:
            xyxy = obb.xyxy.cpu().numpy()
            conf = obb.conf.cpu().numpy()
            cls_ = obb.cls.cpu().numpy()
            data["obb"] = obb.xywhr.cpu().numpy().astype(np.float32)
            data["obb_polygon"] = obb.xyxyxyxy.cpu().numpy().astype(np.float32)
        elif result.boxes is not None:
            xyxy = result.boxes.xyxy.cpu().numpy()
            conf = result.boxes.conf.cpu().numpy()
            cls_ = result.boxes.cls.cpu().numpy()
            if getattr(result, "masks", None) is not None and len(xyxy):
                mask = _ultralytics_masks(result, (h, w))
        else:
            xyxy, conf, cls_ = np.zeros((0, 4)), np.zeros(0), np.zeros(0)
        return cls(
            xyxy=xyxy,
            confidence=conf,
            class_id=cls_,
            mask=mask,
            data=data,
            names=names,
            image_size_wh=(w, h),
        )


def _ultralytics_masks(result: Any, orig_hw: tuple[int, int]) -> np.ndarray:
    """Masks of an Ultralytics segment result, resized from the letterboxed input to the image."""
    from ultralytics.utils import ops

    data = result.masks.data  # (N, h, w) torch tensor, at the network input size unless retina masks
    if tuple(data.shape[1:]) != orig_hw:
        data = ops.scale_masks(data[None].float(), orig_hw)[0]
    out: np.ndarray = data.cpu().numpy() > 0.5
    return out


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode a 2-D boolean mask as COCO-style *uncompressed* RLE (column-major runs).

    >>> mask_to_rle(np.array([[0, 1], [1, 1]], bool))
    {'size': [2, 2], 'counts': [1, 3]}
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise InvalidInputError(f"mask must be 2-D (H, W), got shape {m.shape}")
    flat = m.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": counts}


def mask_from_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode COCO-style uncompressed RLE (``counts`` a list) into a boolean ``(H, W)`` mask.

    >>> mask_from_rle({"size": [2, 2], "counts": [1, 3]}).astype(int).tolist()
    [[0, 1], [1, 1]]
    """
    try:
        h, w = (int(v) for v in rle["size"])
        counts = np.asarray(rle["counts"], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(f"rle must have 'size' [h, w] and list 'counts', got {rle!r:.80}") from None
    if counts.sum() != h * w or (counts < 0).any():
        raise InvalidInputError(f"rle counts sum to {int(counts.sum())}, expected h*w = {h * w}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    out: np.ndarray = flat.reshape((w, h)).T.copy()
    return out


@dataclass(frozen=True, eq=False)
class Classification:
    """Whole-image classification: the top-k classes by descending confidence.

    Attributes:
        class_id: int64 ``(K,)``.
        confidence: float32 ``(K,)``, non-increasing.
        names: class_id -> label.

    >>> c = Classification(class_id=[281, 285], confidence=[0.7, 0.2], names={281: "tabby", 285: "Egyptian cat"})
    >>> c.top1, c.labels
    ('tabby', ['tabby', 'Egyptian cat'])
    """

    class_id: np.ndarray
    confidence: np.ndarray
    names: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        class_id = as_vector(self.class_id, "class_id", dtype=np.int64)
        conf = as_vector(self.confidence, "confidence", length=len(class_id), dtype=np.float32)
        if len(conf) > 1 and (np.diff(conf) > 0).any():
            raise InvalidInputError(f"confidence must be sorted in descending order, got {conf.tolist()}")
        object.__setattr__(self, "class_id", _readonly(class_id))
        object.__setattr__(self, "confidence", _readonly(conf))
        object.__setattr__(self, "names", _names_map(self.names))

    def __len__(self) -> int:
        return int(self.class_id.shape[0])

    @property
    def labels(self) -> list[str]:
        """Names of the top-k classes, in order."""
        return [self.names.get(k, str(k)) for k in self.class_id.tolist()]

    @property
    def top1(self) -> str | None:
        """The best label, or ``None`` when empty."""
        return self.labels[0] if len(self) else None

    def __repr__(self) -> str:
        pairs = ", ".join(f"{lab}: {c:.3f}" for lab, c in zip(self.labels, self.confidence.tolist(), strict=True))
        return f"Classification({pairs})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "class_id": self.class_id.tolist(),
            "confidence": self.confidence.tolist(),
            "labels": self.labels,
        }
