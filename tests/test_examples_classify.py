"""The classifier examples (classify-and-localise, two-stage pipeline), run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUS_BOX = [17.0, 230.0, 801.0, 768.0]


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


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_classify_and_localize(tmp_path: Path) -> None:
    out = tmp_path / "classify"
    proc = _run("classify_and_localize.py", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("bus.jpg: ")
    summary = json.loads((out / "bus_classify.json").read_text())
    labels = [t["label"] for t in summary["top_k"]]
    assert len(labels) == 5
    assert {"minibus", "school bus", "trolleybus"} & set(labels[:3])
    assert _iou(summary["localized"]["xyxy"], BUS_BOX) >= 0.5
    assert (out / "bus_cam.jpg").stat().st_size > 0
    assert not list(tmp_path.glob("*.jpg"))  # nothing written to the working directory


def test_two_stage_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "two_stage"
    proc = _run("two_stage_pipeline.py", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "two_stage.json").read_text())
    top1 = [row["labels"][0] for row in summary["collage"]]
    assert top1[0] in {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
    assert top1[1] == "espresso"
    assert top1[2] in {"minibus", "school bus", "trolleybus"}
    assert (out / "two_stage.jpg").stat().st_size > 0
