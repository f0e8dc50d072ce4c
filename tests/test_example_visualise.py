"""examples/visualise.py (the script behind docs/images/) runs as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_visualise_example_writes_every_picture(tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DETECTKIT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "visualise.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = ["cam_heatmap.jpg", "compare.jpg", "crops_gallery.jpg", "dataset_grid.jpg", "privacy.jpg"]
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        picture = cv2.imread(str(out / name))
        assert picture is not None
        assert picture.shape[1] <= 900
    assert "cam_heatmap.jpg: minibus" in proc.stdout  # the classifier finds the bus
    # the README shows docs/images/: they must be what this script makes today (regenerate with
    # `python examples/visualise.py --out docs/images` when drawing or the shipped models change)
    for name in names:
        shipped = cv2.imread(str(ROOT / "docs" / "images" / name)).astype(int)
        fresh = cv2.imread(str(out / name)).astype(int)
        assert shipped.shape == fresh.shape, name
        assert abs(shipped - fresh).mean() < 2.0, f"docs/images/{name} is stale: run examples/visualise.py"
