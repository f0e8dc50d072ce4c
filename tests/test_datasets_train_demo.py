"""datasets/train_demo.py helpers that run without training: the targeted manifest edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


td = load_script("detectkit_train_demo", "datasets/train_demo.py")

OTHER = '{\n  "schema": 1,\n  "models": {\n    "other": {"file": "x.pth", "classes": {"0": "a", "1": "b"}}\n  }\n}\n'


def test_update_manifest_inserts_without_touching_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(OTHER)
    td.update_manifest(path, "demo-shapes", {"file": "demo-shapes.pt", "quality": {"map50": 0.5}})
    text = path.read_text()
    assert '    "other": {"file": "x.pth", "classes": {"0": "a", "1": "b"}}\n' in text  # kept verbatim
    data = json.loads(text)
    assert list(data["models"]) == ["demo-shapes", "other"]
    assert data["models"]["demo-shapes"]["quality"] == {"map50": 0.5}


def test_update_manifest_replaces_own_entry(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(OTHER)
    td.update_manifest(path, "demo-shapes", {"file": "a.pt"})
    td.update_manifest(path, "demo-shapes", {"file": "b.pt", "default": True})
    data = json.loads(path.read_text())
    assert data["models"]["demo-shapes"] == {"file": "b.pt", "default": True}
    assert data["models"]["other"] == {"file": "x.pth", "classes": {"0": "a", "1": "b"}}
    assert path.read_text().count('"demo-shapes"') == 1


@pytest.mark.parametrize("initial", [None, '{"schema": 1, "models": {}}\n'])
def test_update_manifest_new_or_empty_file(tmp_path: Path, initial: str | None) -> None:
    path = tmp_path / "weights" / "manifest.json"
    if initial is not None:
        path.parent.mkdir()
        path.write_text(initial)
    td.update_manifest(path, "demo-shapes", {"file": "demo-shapes.pt"})
    assert json.loads(path.read_text()) == {"schema": 1, "models": {"demo-shapes": {"file": "demo-shapes.pt"}}}
    assert not [p for p in path.parent.iterdir() if p.name != "manifest.json"]  # no temp files left


def test_shipped_manifest_entry_matches_file_and_generator() -> None:
    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text())
    entry = manifest["models"]["demo-shapes"]
    weights = ROOT / "weights" / entry["file"]
    assert weights.stat().st_size <= 7_000_000
    assert td._sha256(weights) == entry["sha256"]
    assert entry["classes"] == {str(i): n for i, n in enumerate(td.generate.CLASSES)}
    assert entry["task"] == "detect"
    assert entry["default"] is True
    assert 0.0 < entry["quality"]["map50_95"] <= entry["quality"]["map50"] <= 1.0
