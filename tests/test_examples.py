"""The runnable examples: quickstart and the `make demo` script, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DETECTKIT_CACHE": str(cwd / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def test_quickstart(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    proc = _run("quickstart.py", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("val_00000.jpg: ")
    payload = json.loads((out / "val_00000.json").read_text())
    n = int(proc.stdout.split(":")[1].split()[0])
    assert len(payload["xyxy"]) == n
    assert n > 0
    assert (out / "val_00000.jpg").stat().st_size > 0


def test_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _run("demo.py", "--images", "3", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3
    assert summary["detections"] > 0
    assert sorted(p.name for p in out.glob("*.jpg")) == ["val_00000.jpg", "val_00001.jpg", "val_00002.jpg"]
    assert len(list(out.glob("val_*.json"))) == 3
    assert "labelled objects found (recall)" in proc.stdout
    assert "detections correct (precision)" in proc.stdout
    found, labelled = map(int, summary["labelled_objects_found"].split("/"))
    correct, detected = map(int, summary["detections_correct"].split("/"))
    assert correct == found
    assert detected == summary["detections"]
    assert summary["precision"] == round(found / detected, 4)
    assert summary["recall"] == round(found / labelled, 4)
    # make demo also classifies and localises a real photo (examples/classify_and_localize.py)
    assert (tmp_path / "classify" / "bus_cam.jpg").stat().st_size > 0
