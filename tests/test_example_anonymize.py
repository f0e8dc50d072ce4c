"""examples/anonymize_photos.py, run as a user would: every face in the four photos is covered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_anonymize_photos_example(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "anonymize_photos.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("7 faces covered in 4 photos")
    for name in ("anonymize_faces.jpg", "faces_detected.jpg"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None
        assert image.shape[1] > image.shape[0]
