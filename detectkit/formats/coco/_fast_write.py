"""The COCO writer's fast path: annotation rows as msgspec structs built by ``map``.

Encoding structs built column-wise is about 2x faster than building a dict per object.
:func:`annotation_rows` is the writer's one call into it and may only decline (``None``); the
writer's dict per object (``write.py``) defines the output, and ``tests/formats/test_coco.py``
writes edge-case datasets both ways and requires the same bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["annotation_rows"]


@functools.cache
def _annotation_struct() -> Any:
    """A msgspec struct for one written annotation, keys in the order the writer's dicts have;
    ``UNSET`` fields (a segmentation or score the object does not have) are left out."""
    import msgspec

    unset: Any = msgspec.UNSET
    fields: list[Any] = [("id", Any), ("image_id", Any), ("category_id", Any), ("bbox", Any)]
    fields += [(k, Any, unset) for k in ("segmentation", "area", "iscrowd", "score")]
    return msgspec.defstruct("AnnotationOut", fields, gc=False)


def annotation_rows(columns: Sequence[Sequence[Any]], *, per_object_keys: bool) -> Iterable[Any] | None:
    """Structs for the columns ``id, image_id, category_id, bbox, segmentation, area, iscrowd,
    score`` (``msgspec.UNSET``: key left out), or ``None`` when objects carry keys of their own
    (``per_object_keys``: COCO extras, VOC/CVAT/LabelMe attributes), which only the writer's
    dicts hold.
    """
    if per_object_keys:
        return None
    return map(_annotation_struct(), *columns)
