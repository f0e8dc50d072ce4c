"""``detect --classifier``: crop labels in the human summary, plain JSON values in --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectkit import Detections
from detectkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "datasets" / "shapes" / "images" / "val" / "val_00000.jpg"


def test_crop_labels_in_the_summary_and_plain_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(IMAGE), "--classifier", "mobilenet_v2-imagenet"]) == 0
    out = capsys.readouterr().out
    assert "crop labels (top-1 of mobilenet_v2-imagenet):" in out
    assert main(["detect", str(IMAGE), "--classifier", "mobilenet_v2-imagenet", "--json", "-q"]) == 0
    payload = json.loads(capsys.readouterr().out)
    dets = payload["results"][0]["detections"]
    n = len(dets["xyxy"])
    assert n > 0
    labels = dets["data"]["crop_label"]
    assert isinstance(labels, list)
    assert all(isinstance(row, list) and isinstance(row[0], str) for row in labels)
    assert all(isinstance(row[0], float) for row in dets["data"]["crop_confidence"])
    assert sum(payload["summary"]["crop_labels"].values()) == n
    assert Detections.from_dict(dets).data["crop_label"].shape == (n, 1)


def test_to_dict_extras_are_plain_and_round_trip() -> None:
    d = Detections(
        xyxy=[[1, 2, 3, 4], [5, 6, 7, 8]],
        confidence=[0.5, 0.6],
        data={"crop_label": np.array([["cat"], ["dog"]]), "score": np.array([1, 2], np.int16)},
    )
    payload = json.loads(json.dumps(d.to_dict()))
    assert payload["data"] == {"crop_label": [["cat"], ["dog"]], "score": [1, 2]}
    back = Detections.from_dict(payload)
    assert back == d
    assert back.data["score"].dtype == np.int16
    # the form written before (dtype + values) still reads
    old = {**payload, "data": {"score": {"dtype": "<i2", "values": [1, 2]}}}
    old.pop("data_dtypes")
    assert Detections.from_dict(old).data["score"].dtype == np.int16
