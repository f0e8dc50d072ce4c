"""Fixtures shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo detector's ONNX export (dynamic shapes) at 416, in a private cache (made once)."""
    from detectkit.models import weights
    from detectkit.models.detector import onnx_export

    pt = weights.resolve("demo-shapes")
    assert pt.path is not None
    return onnx_export(pt.path, imgsz=416, sha256=pt.sha256, cache=tmp_path_factory.mktemp("onnx-cache"))
