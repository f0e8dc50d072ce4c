"""``detectkit detect --slice ...``: the sliced-inference flags reach the Detector; bad values exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.cli import main
from detectkit.detections import Detections

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 x 2 mosaic of sample images, so there are objects on several tiles."""
    imgs = [cv2.resize(cv2.imread(str(p)), (320, 320)) for p in SAMPLES[:4]]
    big = np.vstack([np.hstack(imgs[:2]), np.hstack(imgs[2:])])
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.png"
    cv2.imwrite(str(path), big)
    return path


def test_slice_flags_equal_the_library_call(mosaic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from detectkit import Detector
    from detectkit.slicing import SliceConfig

    argv = ["detect", str(mosaic), "--slice", "256x224", "--overlap", "32", "--merge", "nms", "--match", "iou"]
    assert main([*argv, "--backend", "torch", "--no-full-image", "--json", "--quiet"]) == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    got = Detections.from_dict(record["detections"])
    cfg = SliceConfig(slice_wh=(256, 224), overlap=32, merge="nms", match_metric="iou", full_image=False)
    ref = Detector().detect(mosaic, slicing=cfg)
    assert len(ref) > 3
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=1e-3)


def test_slice_defaults_to_the_auto_backend(
    mosaic: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--slice`` without ``--backend`` runs backend='auto' (here told to pick onnx); without
    ``--slice`` the default stays torch."""
    import detectkit.models.backend_choice as choice

    asked = []
    monkeypatch.setattr(choice, "choose_backend", lambda *a, **k: asked.append(1) or "onnx")
    assert main(["detect", str(mosaic), "--slice", "320", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["backend"] == "onnx"
    assert main(["detect", str(mosaic), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["backend"] == "torch"
    assert asked == [1]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--slice", "12x"], "--slice must be a tile size"),
        (["--slice", "320", "--overlap", "1.5"], "--overlap"),
        (["--slice", "320", "--overlap", "a"], "--overlap"),
        (["--slice", "320", "--overlap", "320"], "--overlap"),
        (["--slice", "320", "--merge", "wbf", "--match", "ios"], "--merge wbf"),
        (["--slice", "320", "--slice-batch", "0"], "--slice-batch"),
    ],
)
def test_bad_slice_flags_exit_2(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(SAMPLES[0]), *flags, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
