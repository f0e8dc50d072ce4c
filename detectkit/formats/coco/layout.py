"""COCO record keys (what the typed decoders, the readers and the writer know by name) and the
shape of a decoded ground-truth file that the reader's rules take from either path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from detectkit.table import ObjectTable

__all__ = ["ANN_FIELDS", "ANN_KEYS", "CAT_KEYS", "IMG_KEYS", "IMG_OPTIONAL", "Document", "ImageEntry"]

#: ``(id, file_name, width, height, extra)`` of one image record, as given (unchecked).
ImageEntry = tuple[Any, Any, Any, Any, Mapping[str, Any]]


class Document(NamedTuple):
    """A decoded COCO ground-truth file, as :func:`detectkit.formats.coco.read` applies its rules to it.

    The plain path builds it from ``json``'s dicts; the fast path (``_fast.read``) from typed
    structs. ``columns(position, known_category_ids)`` is the fast path's column pass over its
    own records (``None``: there is none, or it declines); the rules then check ``records()``
    one by one (dicts, or typed structs when ``typed``).
    """

    categories: Any
    images: list[ImageEntry | None]
    info: Any
    licenses: Any
    records: Callable[[], list[Any]]
    columns: Callable[[Mapping[int, int], set[int]], ObjectTable | None] | None = None
    typed: bool = False


ANN_KEYS = frozenset({"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"})


IMG_KEYS = frozenset({"id", "file_name", "width", "height"})


CAT_KEYS = frozenset({"id", "name", "supercategory"})


# Image keys of the COCO release besides the required ones; they decode on the typed fast path.
IMG_OPTIONAL = ("license", "coco_url", "date_captured", "flickr_url")


ANN_FIELDS = ("image_id", "category_id", "bbox", "id", "iscrowd", "area", "segmentation")
