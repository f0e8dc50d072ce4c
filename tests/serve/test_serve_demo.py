"""``examples/serve_demo.py`` runs end to end (the ``make demo`` piece)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.serve.helpers import ROOT, SHAPES


@pytest.mark.slow
def test_serve_demo_prints_the_answer() -> None:
    from detectkit import Detector

    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "serve_demo.py"), str(SHAPES[0])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout
    n = len(Detector().detect(SHAPES[0]))
    assert f"{SHAPES[0].name}: {n} objects" in out
    assert "/v1/classify:" in out
    assert "/health: ok" in out
