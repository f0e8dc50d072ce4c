"""COCO JSON: ground truth (``images`` / ``annotations`` / ``categories``) and results lists.

Read and write keep what COCO carries: ``bbox`` exactly as given, polygon and RLE
segmentation (compressed or not) as given, ``iscrowd``, ``area``, annotation / image /
category ids (non-contiguous allowed), ``info``, ``licenses`` and any extra keys of images,
categories and annotations. Images without annotations stay. A dataset whose category ids
are 0-based (YOLO, VOC, LabelMe, CVAT sources) is written with ids starting at 1.

>>> import json, tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "gt.json").write_text(json.dumps({
...     "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
...     "categories": [{"id": 3, "name": "cat"}],
...     "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1.5, 2, 10, 20],
...                      "area": 200, "iscrowd": 0}]}))
>>> ds = read(tmp / "gt.json")
>>> ds.detections(7).xyxy.tolist(), ds.names
([[1.5, 2.0, 11.5, 22.0]], {3: 'cat'})
>>> summary = write(ds, tmp / "out.json")
>>> json.loads((tmp / "out.json").read_text())["annotations"][0]["bbox"]
[1.5, 2, 10, 20]
"""

from __future__ import annotations

from detectkit.formats.coco.read import from_dict, read
from detectkit.formats.coco.results import Results, read_results, results_table, write_results
from detectkit.formats.coco.write import write

__all__ = ["Results", "from_dict", "read", "read_results", "results_table", "write", "write_results"]
