"""Annotation formats: read, write, auto-detect and convert datasets.

One module per format, each with ``read(path, ...) -> Dataset`` and
``write(dataset, path, ...) -> ConvertSummary``: :mod:`~detectkit.formats.coco`,
:mod:`~detectkit.formats.yolo`, :mod:`~detectkit.formats.voc`,
:mod:`~detectkit.formats.labelme`, :mod:`~detectkit.formats.cvat`.

>>> import json, tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "gt.json").write_text(json.dumps({
...     "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
...                {"id": 2, "file_name": "empty.jpg", "width": 100, "height": 50}],
...     "categories": [{"id": 5, "name": "cat"}],
...     "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 10, 20, 20],
...                      "area": 400, "iscrowd": 0}]}))
>>> detect_format(tmp / "gt.json")
'coco'
>>> print(convert(tmp / "gt.json", tmp / "yolo", to="yolo"))  # doctest: +ELLIPSIS
wrote 2 images, 1 objects as yolo-detect to .../yolo
>>> back = read(tmp / "yolo")
>>> len(back), back.names, back.detections(1).xyxy.tolist()
(2, {5: 'cat'}, [[10.0, 10.0, 30.0, 30.0]])
"""

from __future__ import annotations

from detectkit.formats._common import ConvertSummary, atomic_dir, parse_json
from detectkit.formats._per_file import FileMapper
from detectkit.formats.api import FORMATS, convert, detect_format, read, write
from detectkit.registry import provide, register_format

__all__ = [
    "FORMATS",
    "ConvertSummary",
    "FileMapper",
    "atomic_dir",
    "convert",
    "detect_format",
    "parse_json",
    "read",
    "write",
]

for _name in FORMATS:
    register_format(_name, f"detectkit.formats.{_name}")
provide(read=read, write=write)
