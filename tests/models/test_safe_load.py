"""A checkpoint whose pickle runs code is refused, not run (Ultralytics' weights_only loading)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys, pathlib, torch
marker = pathlib.Path(sys.argv[1])
class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))
torch.save({"model": Evil(), "train_args": {}}, sys.argv[2])
from detectkit.errors import ModelLoadError
from detectkit.models.{module} import {cls}
try:
    {cls}(sys.argv[2])
except ModelLoadError as exc:
    print("refused:", str(exc)[:80])
print("ran" if marker.exists() else "not run")
"""


@pytest.mark.slow
@pytest.mark.parametrize(("module", "cls"), [("detector", "Detector"), ("classifier", "Classifier")])
def test_malicious_checkpoint_is_not_executed(tmp_path: Path, module: str, cls: str) -> None:
    marker, ckpt = tmp_path / "pwned", tmp_path / "evil.pt"
    env = {k: v for k, v in os.environ.items() if k != "ULTRALYTICS_SAFE_LOAD"}
    env["PYTHONPATH"] = str(ROOT)
    code = SCRIPT.replace("{module}", module).replace("{cls}", cls)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(marker), str(ckpt)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
    assert proc.stdout.strip().endswith("not run")
    assert not marker.exists()
