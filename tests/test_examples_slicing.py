"""examples/sliced_inference.py, run as a user would (it makes docs/images/sliced_vs_whole.jpg)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sliced_inference_example(tmp_path: Path) -> None:
    env = {**os.environ, "DETECTKIT_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sliced_inference.py"), "--out", str(tmp_path), "--size", "960x640"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    whole = int(lines["whole image"].split(", ")[1].split("/")[0])
    sliced = int(lines["sliced 320 px, overlap 0.2"].split(", ")[1].split("/")[0])
    assert sliced > whole + 10
    assert (tmp_path / "sliced_vs_whole.jpg").stat().st_size > 10_000
