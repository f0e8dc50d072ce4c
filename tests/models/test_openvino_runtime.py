"""Tests for detectkit.models.openvino_runtime: the folded pre-processing, static-shape models, precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

from detectkit.errors import InvalidInputError
from detectkit.image import letterbox, load_image, normalize
from detectkit.models import openvino_runtime
from detectkit.models.openvino_runtime import OpenVinoSession

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


def _boxed(i: int) -> np.ndarray:
    image: np.ndarray = letterbox(load_image(SAMPLES[i]), (416, 416), auto=True, stride=32).image
    return image


def test_run_bgr_equals_run_on_normalized_input(demo_onnx: Path) -> None:
    session = OpenVinoSession(demo_onnx, precision="f32")
    name = session.get_inputs()[0].name
    shapes = set()
    for i in range(4):
        img = _boxed(i)
        shapes.add(img.shape)
        ref = session.run(None, {name: normalize(img)[None]})[0]
        got = session.run_bgr(img[None])[0]
        assert got.shape == ref.shape == (1, 9, ref.shape[2])
        np.testing.assert_allclose(got[0, 4:], ref[0, 4:], atol=1e-5, rtol=0)  # class scores
        np.testing.assert_allclose(got[0, :4], ref[0, :4], atol=1e-2, rtol=0)  # boxes, letterbox pixels
    assert len(shapes) > 1  # differently shaped inputs, one dynamic model


def test_run_bgr_refuses_float_input(demo_onnx: Path) -> None:
    from detectkit.errors import ModelLoadError

    session = OpenVinoSession(demo_onnx, precision="f32")
    with pytest.raises(ModelLoadError, match=r"uint8"):
        session.run_bgr(np.zeros((1, 64, 64, 3), np.float32))


def test_recurring_shape_gets_a_static_model_lru_bounded(demo_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_runtime, "_MAX_STATIC", 2)
    session = OpenVinoSession(demo_onnx, precision="f32")
    name = session.get_inputs()[0].name
    x = normalize(_boxed(0))[None]
    first = session.run(None, {name: x})[0]  # seen once: the dynamic model
    assert not session._shaped
    second = session.run(None, {name: x})[0]  # seen again: compiled for this shape
    assert list(session._shaped) == [("nchw", x.shape)]
    np.testing.assert_allclose(second, first, atol=1e-3, rtol=1e-5)  # the same network, f32
    sizes = [(1, 3, 320, 320), (1, 3, 256, 416), (1, 3, 416, 416)]
    for shape in sizes:
        for _ in range(2):
            session.run(None, {name: np.full(shape, 0.5, np.float32)})
    assert len(session._shaped) == 2  # least recently used shapes were dropped
    assert [key[1] for key in session._shaped] == sizes[1:]


def test_precision_is_checked(demo_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInputError, match=r"precision"):
        OpenVinoSession(demo_onnx, precision="f64")
    monkeypatch.setenv("DETECTKIT_OPENVINO_PRECISION", "F32")
    assert OpenVinoSession(demo_onnx).precision == "f32"
    monkeypatch.delenv("DETECTKIT_OPENVINO_PRECISION")
    assert OpenVinoSession(demo_onnx).precision == "default"
    with pytest.raises(InvalidInputError, match=r"kind"):
        OpenVinoSession(demo_onnx, kind="rgb")
    session = OpenVinoSession(demo_onnx, kind="bgr")  # the detector's input is compiled at load
    assert list(session._dynamic) == ["bgr"]


@pytest.mark.slow
def test_openvino_f32_detector_gives_torch_boxes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With f32 precision the OpenVINO detector (folded pre-processing, our decoding) gives torch's boxes."""
    from detectkit.models.detector import Detector

    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path))
    monkeypatch.setenv("DETECTKIT_OPENVINO_PRECISION", "f32")
    torch_det = Detector(conf=0.25)
    ov_det = Detector(conf=0.25, backend="openvino")
    for path in SAMPLES[:4] * 2:  # twice: the second call of a shape runs its static model
        a, b = torch_det.detect(path), ov_det.detect(path)
        assert len(a) == len(b) > 0
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(b.xyxy, a.xyxy, atol=1.0, rtol=0)
        assert a.confidence is not None
        assert b.confidence is not None
        np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-3, rtol=0)


def test_run_bgr_many_equals_run_bgr_on_the_static_model(demo_onnx: Path) -> None:
    # the default precision (BF16 on this CPU): the throughput compile must give the very outputs
    # of the latency compile of the same static-shape model, image by image
    session = OpenVinoSession(demo_onnx, kind="bgr")
    images = [_boxed(i) for i in range(6)]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(img.shape, []).append(i)
    assert any(len(v) > 1 for v in by_shape.values())
    for img in images:  # twice: every shape now runs on its static model
        session.run_bgr(img[None])
        session.run_bgr(img[None])
    want = [session.run_bgr(img[None])[0] for img in images]
    got = session.run_bgr_many([img[None] for img in images])
    assert len(got) == len(images)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g[0], w)
    # shapes with several images ran on a throughput compile; the others ran alone
    assert set(session._queues) >= {(1, *s) for s, idx in by_shape.items() if len(idx) > 1}


def test_run_bgr_many_runs_a_one_off_shape_without_compiling(demo_onnx: Path) -> None:
    session = OpenVinoSession(demo_onnx, kind="bgr")
    x = np.zeros((1, 96, 128, 3), np.uint8)
    (out,) = session.run_bgr_many([x])
    assert not session._queues  # the dynamic model answered
    assert not session._shaped
    fresh = OpenVinoSession(demo_onnx, kind="bgr")  # its first run of this shape: the dynamic model too
    np.testing.assert_array_equal(out[0], fresh.run_bgr(x)[0])
