"""Tests for detectkit.models.weights: manifest resolution and sha256 verification."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from detectkit.errors import ModelLoadError
from detectkit.models import cache_dir
from detectkit.models import weights as w

ROOT = Path(__file__).resolve().parents[2]


def _manifest(folder: Path, models: dict[str, dict[str, object]]) -> None:
    (folder / "manifest.json").write_text(json.dumps({"schema": 1, "models": models}))


@pytest.fixture
def wdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    data = b"pretend checkpoint"
    (tmp_path / "tiny.pt").write_bytes(data)
    _manifest(
        tmp_path,
        {
            "tiny": {
                "file": "tiny.pt",
                "sha256": hashlib.sha256(data).hexdigest(),
                "task": "detect",
                "framework": "ultralytics",
                "architecture": "yolov8n",
                "classes": {"0": "circle", "1": "square"},
                "imgsz": 320,
                "default": True,
            },
            "broken": {"file": "tiny.pt", "sha256": "0" * 64, "task": "detect"},
            "gone": {"file": "gone.pt", "sha256": "0" * 64, "task": "classify"},
        },
    )
    return tmp_path


def test_resolve_manifest_name_verifies_hash(wdir: Path) -> None:
    r = w.resolve("tiny")
    assert r.path == wdir / "tiny.pt"
    assert r.name == "tiny"
    assert r.sha256 == hashlib.sha256(b"pretend checkpoint").hexdigest()
    assert r.task == "detect"
    assert r.imgsz == 320
    assert dict(r.classes or {}) == {0: "circle", 1: "square"}
    assert r.suffix == ".pt"


def test_hash_mismatch_refuses(wdir: Path) -> None:
    with pytest.raises(ModelLoadError, match="sha256 mismatch for model 'broken'"):
        w.resolve("broken")


def test_tampered_file_is_detected(wdir: Path) -> None:
    w.resolve("tiny")  # hash now cached
    (wdir / "tiny.pt").write_bytes(b"tampered checkpoint!")  # other size -> cache miss
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        w.resolve("tiny")


def test_missing_file_and_unknown_names_list_known_names(wdir: Path) -> None:
    with pytest.raises(ModelLoadError, match="weights file for model 'gone' is missing"):
        w.resolve("gone")
    with pytest.raises(ModelLoadError) as info:
        w.resolve("tiny-typo")
    message = str(info.value)
    assert "unknown model 'tiny-typo'" in message
    assert "broken, gone, tiny" in message
    assert "yolo11n.pt" in message
    with pytest.raises(ModelLoadError, match="no such file"):
        w.resolve("some/dir/model.pt")


def test_paths_and_ultralytics_names(wdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = w.resolve(wdir / "tiny.pt")
    assert r.path == wdir / "tiny.pt"
    assert r.name is None
    assert r.sha256 is None
    bare = w.resolve("yolov8n.yaml")
    assert bare.path is None
    assert bare.suffix == ".yaml"
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    assert w.resolve("yolo11n.pt").path is None  # Ultralytics resolves it (downloads when online)


def test_offline_bare_checkpoint_fails_before_ultralytics(
    wdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, a bare ``.pt`` name that is neither here nor in Ultralytics' weights folder is an
    error at once (Ultralytics would first ask GitHub for it); online it is left to Ultralytics."""
    from ultralytics.utils import SETTINGS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"no such file for model 'missing-net\.pt' \(YOLO_OFFLINE is set"):
        w.resolve("missing-net.pt")
    assert w.resolve("yolov8n.yaml").path is None  # configs build offline
    monkeypatch.setattr(w, "_in_ultralytics_weights", lambda name: name == "cached-net.pt")
    assert w.resolve("cached-net.pt").path is None  # Ultralytics finds it in its weights folder
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    assert w.resolve("missing-net.pt").path is None  # online: Ultralytics downloads it
    assert Path(SETTINGS["weights_dir"]).name  # the folder the real check looks in


def test_known_and_default(wdir: Path) -> None:
    assert w.known_models() == ["broken", "gone", "tiny"]
    assert w.known_models("classify") == ["gone"]
    assert w.default_model("detect") == "tiny"
    assert w.default_model("segment") is None


def test_bad_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    assert w.load_manifest() == {}
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        w.load_manifest()
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 2, "models": {}}))
    with pytest.raises(ModelLoadError, match="schema"):
        w.load_manifest()


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"x" * 3_000_000)
    assert w.sha256_file(p) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DETECTKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "detectkit"


def test_shipped_manifest_is_consistent() -> None:
    """Every shipped entry has the contract's fields and its file matches its sha256."""
    models = w.load_manifest(ROOT / "weights" / "manifest.json")
    assert "demo-shapes" in models
    for name, entry in models.items():
        for key in ("file", "sha256", "task", "framework", "architecture", "classes", "source", "licence"):
            assert key in entry, f"{name} lacks {key}"
        path = ROOT / "weights" / entry["file"]
        assert path.is_file(), f"{name}: {path} missing"
        assert w.sha256_file(path) == entry["sha256"], f"{name}: sha256 mismatch"
    assert w.default_model("detect") == "demo-shapes"
    demo = w.resolve("demo-shapes")
    assert demo.task == "detect"
    assert demo.path is not None
    assert demo.path.stat().st_size <= 7 * 1024 * 1024


def test_prepare_ultralytics_sets_offline_defaults(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env["DETECTKIT_CACHE"] = str(tmp_path)
    code = (
        "import os; from detectkit.models import prepare_ultralytics; prepare_ultralytics(); "
        "print(os.environ['YOLO_OFFLINE'], os.environ['YOLO_AUTOINSTALL'], os.environ['YOLO_CONFIG_DIR'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    offline, autoinstall, config = out.stdout.split()[-3:]
    assert (offline, autoinstall) == ("1", "false")
    assert Path(config) == tmp_path / "ultralytics"
    assert (tmp_path / "ultralytics" / "Ultralytics" / "Arial.ttf").is_file()
    env["YOLO_OFFLINE"] = "0"  # the user's choice wins
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    assert out.stdout.split()[-3] == "0"
