"""Detector training: COCO and VOC input, resume after an interrupt, load by name, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.errors import InvalidInputError
from detectkit.models.user_models import user_entry

TINY = {"epochs": 1, "imgsz": 64, "batch": 8, "mosaic": 0.0, "warmup_epochs": 0.0}


@pytest.mark.slow
def test_train_from_coco_registers_and_loads_by_name(tiny_coco: Path, tmp_path: Path) -> None:
    from detectkit.models.detector import Detector
    from detectkit.train.detector import train_detector

    result = train_detector(tiny_coco, out=tmp_path / "run", name="tiny-coco", val_split=0.25, **TINY)  # type: ignore[arg-type]
    assert result.weights.is_file()
    assert (result.report / "metrics.json").is_file()
    assert any(p.suffix == ".png" for p in result.report.iterdir())  # our plots
    assert 0.0 <= result.map50_95 <= result.map50 <= 1.0
    # the conversion into the cache is a small part of even a 1-epoch run
    assert result.convert_seconds <= 0.05 * result.train_seconds
    assert result.data_yaml.is_file()
    assert not result.data_yaml.is_relative_to(tiny_coco.parent)  # nothing next to the user's data
    entry, _ = user_entry("tiny-coco")
    assert entry is not None
    assert entry["classes"] == {"0": "circle", "1": "square", "2": "triangle", "3": "star", "4": "cross"}
    assert entry["imgsz"] == 64
    assert entry["quality"]["map50_95"] == pytest.approx(result.map50_95)
    assert len(entry["sha256"]) == 64
    det = Detector("tiny-coco")
    assert det.names == {0: "circle", 1: "square", 2: "triangle", 3: "star", 4: "cross"}
    assert det.imgsz == 64
    metrics = json.loads((result.report / "metrics.json").read_text())
    assert metrics["map"] == pytest.approx(result.map50_95)


@pytest.mark.slow
def test_train_from_voc_interrupted_then_resumed(
    tiny_coco: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detectkit.dataset import Dataset
    from detectkit.train import detector as train_mod

    voc = tmp_path / "voc"
    Dataset.read(tiny_coco).write(voc, format="voc", copy_images=True)
    out = tmp_path / "run"
    calls = {"n": 0}
    original = train_mod._EpochPrinter.__call__

    def interrupt_after_first_epoch(self: object, trainer: object) -> None:
        original(self, trainer)  # type: ignore[arg-type]
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod._EpochPrinter, "__call__", interrupt_after_first_epoch)
    args = {**TINY, "epochs": 2}
    with pytest.raises(KeyboardInterrupt):
        train_mod.train_detector(voc, out=out, name="tiny-voc", val_split=0.25, **args)  # type: ignore[arg-type]
    assert (out / "weights" / "last.pt").is_file()  # the resumable checkpoint
    assert user_entry("tiny-voc")[0] is None
    result = train_mod.train_detector(voc, out=out, name="tiny-voc", resume=True, val_split=0.25, **args)  # type: ignore[arg-type]
    assert calls["n"] >= 2  # epoch 2 ran after the resume
    assert user_entry("tiny-voc")[0] is not None
    assert result.weights.is_file()


def test_train_detector_rejects_bad_input(tmp_path: Path, tiny_coco: Path) -> None:
    from detectkit.train.detector import train_detector

    with pytest.raises(InvalidInputError, match="does not exist"):
        train_detector(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="epochs"):
        train_detector(tiny_coco, epochs=0)
    with pytest.raises(InvalidInputError, match="nothing to resume"):
        train_detector(tiny_coco, out=tmp_path / "fresh", resume=True)
