"""The merged dataset of a finished detect job (``save_dataset``): auto-labelling at scale."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detectkit.batch._job import RESULT_FILES, write_atomic
from detectkit.batch.sources import is_uri
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError

__all__ = ["save_dataset"]

_MARKER = "dataset.json"


def _pairs(results: Path) -> Iterator[tuple[Path, Detections]]:
    with results.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            source = str(record["source"])
            if is_uri(source):
                if not source.startswith("file://"):
                    raise InvalidInputError(
                        f"--save-dataset needs local image files, got {source}; "
                        "copy the images locally, or use the JSONL results"
                    )
                source = source[len("file://") :]
            dets = Detections.from_dict(record["detections"])
            if dets.image_size_wh is None and record.get("image_size_wh"):
                w, h = record["image_size_wh"]
                dets = dataclasses.replace(dets, image_size_wh=(int(w), int(h)))
            yield Path(source), dets


def save_dataset(out: Path, target: Path, *, format: str, overwrite: bool = False) -> Any:
    """Write the merged predictions of the detect job in ``out`` as a dataset in ``target``.

    Rerunning a finished job rewrites the dataset it wrote before (recorded in
    ``out/dataset.json``); any other non-empty ``target`` needs ``overwrite``.
    """
    from detectkit.batch._job import Job
    from detectkit.formats.autolabel import save_predictions

    marker = out / _MARKER
    mine = {"path": os.path.abspath(target), "format": format}
    ours = marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == mine
    names = Job(out=out, spec={"task": "detect"}, items=(), shard_size=1).names()
    summary = save_predictions(
        _pairs(out / RESULT_FILES["detect"]),
        target,
        format=format,
        names=names or None,
        overwrite=overwrite or ours,
    )
    write_atomic(marker, json.dumps(mine) + "\n")
    return summary
