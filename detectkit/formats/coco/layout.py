"""COCO record keys: what the typed decoders, the readers and the writer know by name."""

from __future__ import annotations

__all__ = ["ANN_FIELDS", "ANN_KEYS", "CAT_KEYS", "IMG_KEYS", "IMG_OPTIONAL"]


ANN_KEYS = frozenset({"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"})


IMG_KEYS = frozenset({"id", "file_name", "width", "height"})


CAT_KEYS = frozenset({"id", "name", "supercategory"})


# Image keys of the COCO release besides the required ones; they decode on the typed fast path.
IMG_OPTIONAL = ("license", "coco_url", "date_captured", "flickr_url")


ANN_FIELDS = ("image_id", "category_id", "bbox", "id", "iscrowd", "area", "segmentation")
