"""Installed as users install it: a wheel, in a fresh virtual environment, outside the checkout.

The wheel must carry the shipped weights and manifest (``setup.py`` copies them into
``detectkit/weights/``), stay a sensible size, and ``Detector()``/``Classifier()`` must work
from the installed package on a real photo. The venv reuses this interpreter's third-party
packages (torch, ultralytics, ...) through a ``.pth`` line, and the wheel is installed with
``--no-deps --no-index``: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
from pathlib import Path
import detectkit
from detectkit import Detector
from detectkit.models.classifier import Classifier
from detectkit.models.weights import weights_dir
photo, coffee = sys.argv[1], sys.argv[2]
dets = Detector().detect(photo)
top = Classifier().classify(coffee, top_k=1)
print(json.dumps({"file": detectkit.__file__, "weights": str(weights_dir()),
                  "names": sorted(Detector().names.values()), "boxes": len(dets), "size": dets.image_size_wh,
                  "top1": top.top1}))
"""


@pytest.mark.slow
def test_wheel_carries_weights_and_runs_from_a_fresh_venv(tmp_path: Path) -> None:
    # build from a copy of what the sdist holds, so the checkout gets no build/ or egg-info
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "detectkit", src / "detectkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "weights", src / "weights")
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-v", "-w",
         str(dist), str(src)],
        check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True, text=True,
    )  # fmt: skip
    # pyproject uses the SPDX license string: setuptools prints no deprecation block
    log = build.stdout + build.stderr
    assert "deprecat" not in log.lower(), log[-3000:]
    assert "BuildBackendWarning" not in log, log[-3000:]
    (wheel,) = dist.glob("detectkit-*.whl")
    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text())["models"]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "detectkit/weights/manifest.json" in names
    for entry in manifest.values():
        assert f"detectkit/weights/{entry['file']}" in names
    assert "detectkit/py.typed" in names
    assert not any(n.startswith(("tests/", "datasets/", "weights/")) for n in names)
    shipped = sum((ROOT / "weights" / e["file"]).stat().st_size for e in manifest.values())
    assert wheel.stat().st_size < shipped + 5_000_000  # the weights plus a few MB of code, no more

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # the third-party packages of this environment, without its editable detectkit (.pth files
    # in a directory added this way are not processed)
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)],
        check=True, env=env, timeout=300,
    )  # fmt: skip
    import skimage.data
    from ultralytics import ASSETS

    coffee = Path(skimage.data.__file__).parent / "coffee.png"
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    proc = subprocess.run(
        [str(python), "-c", SCRIPT, str(Path(ASSETS) / "bus.jpg"), str(coffee)],
        capture_output=True, text=True, env={**env, "DETECTKIT_CACHE": str(tmp_path / "cache")}, cwd=run_dir,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(purelib)), out
    assert out["weights"] == str(purelib / "detectkit" / "weights")
    assert out["names"] == sorted(manifest["demo-shapes"]["classes"].values())
    assert out["size"] == [810, 1080]
    assert out["top1"] == "espresso"
