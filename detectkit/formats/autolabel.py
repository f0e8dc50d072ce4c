"""Auto-labelling: write a dataset from a model's predictions, plus a COCO results file with the scores.

``detectkit detect FOLDER --model M --save-dataset OUT --format coco|yolo`` uses
:func:`save_predictions`. The dataset is written as ground truth (no score column, so it
trains and loads as is) and the scores go to ``OUT/results.json`` in the COCO results
format, with image and category ids matching the dataset written beside it.

>>> import tempfile, pathlib
>>> from detectkit import Detections
>>> from detectkit.dataset import ImageRecord
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> d = Detections(xyxy=[[1, 2, 30, 40]], confidence=[0.9], class_id=[0], names={0: "cat"})
>>> summary = save_predictions([(ImageRecord(1, "a.jpg", 64, 48), d)], tmp / "out", format="coco")
>>> sorted(p.name for p in (tmp / "out").iterdir())
['annotations.json', 'results.json']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from detectkit._checks import check_choice
from detectkit.dataset import Dataset, ImageRecord
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.formats._common import ConvertSummary, atomic_dir
from detectkit.formats.api import FORMATS

__all__ = ["save_predictions"]

RESULTS_FILE = "results.json"


def _common_root(paths: Sequence[Path]) -> Path | None:
    if not paths:
        return None
    try:
        return Path(os.path.commonpath([os.path.abspath(p.parent) for p in paths]))
    except ValueError:  # different drives
        return None


def save_predictions(
    items: Iterable[tuple[ImageRecord | str | os.PathLike[str], Detections]],
    out: str | os.PathLike[str],
    *,
    format: str = "coco",
    names: Mapping[int, str] | Sequence[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    copy_images: bool = False,
    overwrite: bool = False,
) -> ConvertSummary:
    """Write predictions as a dataset in ``format`` under the folder ``out``, plus ``out/results.json``.

    Args:
        items: ``(image path or ImageRecord, Detections)`` per image (images without boxes
            included, so they stay in the dataset as empty images).
        out: output folder (absent or empty unless ``overwrite``); written atomically.
        format: ``"coco"`` (``out/annotations.json``), ``"yolo"`` (``out/`` is the YOLO
            dataset with the images linked in), ``"voc"``, ``"labelme"`` or ``"cvat"``
            (``out/annotations.xml``).
        names: class id -> name (default: from the ``Detections``).
        root: image file names are stored relative to this folder (default: the common
            folder of all images).
        copy_images: copy image files into folder formats instead of linking them.
        overwrite: replace an existing non-empty ``out``.

    Returns:
        The summary of the dataset write.
    """
    from detectkit.formats import coco, write

    check_choice(format, "format", FORMATS)
    pairs = list(items)
    paths = [Path(p) for p, _ in pairs if not isinstance(p, ImageRecord)]
    base = Path(root) if root is not None else _common_root(paths)
    preds = Dataset.from_predictions(pairs, names=names, root=base)
    if not preds.is_predictions and preds.num_objects:
        raise InvalidInputError("items must hold predictions (Detections with confidence)")
    truth = preds.as_ground_truth()
    target = Path(out)
    with atomic_dir(target, overwrite=overwrite) as tmp:
        if format == "coco":
            summary = coco.write(truth, tmp / "annotations.json")
        elif format == "cvat":
            summary = write(truth, tmp / "annotations.xml", format="cvat")
        else:
            # folder formats write their own temp folder: build inside ours, then move up
            inner = tmp / "dataset"
            summary = write(truth, inner, format=format, copy_images=copy_images)
            for child in inner.iterdir():
                os.replace(child, tmp / child.name)
            inner.rmdir()
        results = preds
        results.source_format = truth.source_format
        coco.write_results(results, tmp / RESULTS_FILE)
    summary.path = target
    summary.notes.append(f"scores written to {target / RESULTS_FILE} (COCO results format)")
    return summary
