"""Export + INT8 + accuracy guard, the OpenVINO backend, backend='auto', the user manifest."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.errors import InvalidInputError, ModelLoadError
from detectkit.models import backend_choice
from detectkit.models.detector import Detector
from detectkit.models.user_models import register_model, user_entry
from detectkit.models.weights import resolve

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "datasets" / "shapes"
IMAGES = sorted((SHAPES / "images" / "val").glob("*.jpg"))


def _subset(tmp_path: Path, n: int) -> Path:
    """The first ``n`` shapes val images as a YOLO dataset (with images)."""
    from detectkit.dataset import Dataset

    ds = Dataset.read(SHAPES)
    ds = ds.select([r.id for r in ds.images[:n]])
    ds.write(tmp_path / "val", format="yolo", copy_images=True)
    return tmp_path / "val"


@pytest.mark.slow
def test_openvino_backend_matches_torch() -> None:
    torch_det = Detector(conf=0.25)
    ov_det = Detector(conf=0.25, backend="openvino")
    assert ov_det.backend == "openvino"
    assert ov_det.names == torch_det.names
    for image in IMAGES[:3]:
        a, b = torch_det.detect(image), ov_det.detect(image)
        assert len(a) == len(b) > 0
        order_a, order_b = np.argsort(a.xyxy[:, 0]), np.argsort(b.xyxy[:, 0])
        np.testing.assert_allclose(a.xyxy[order_a], b.xyxy[order_b], atol=2.0)
        np.testing.assert_array_equal(a.class_id[order_a], b.class_id[order_b])


@pytest.mark.slow
def test_int8_openvino_export_guarded_loads_by_name(tmp_path: Path) -> None:
    from detectkit.train.export import export_model

    val = _subset(tmp_path, 12)
    result = export_model(
        "demo-shapes", format="openvino", int8=True, calibration=val, out=tmp_path / "out" / "q.xml", name="demo-q"
    )
    assert result.path.is_file()
    assert result.path.with_suffix(".bin").is_file()
    assert result.metric == "map50_95"
    assert result.drop_points is not None
    assert result.drop_points <= 1.0
    assert result.reference is not None
    assert result.reference > 0.5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["q.bin", "q.xml"]  # no temp leftovers
    entry, _ = user_entry("demo-q")
    assert entry is not None
    assert entry["quality"]["drop_points"] == pytest.approx(result.drop_points)
    assert entry["int8"] is True
    assert entry["classes"]["0"] == "circle"
    assert set(result.speed_ms) == {"int8", "fp32"}  # timed here against the FP32 model on OpenVINO
    assert all(v > 0 for v in result.speed_ms.values())
    faster = "INT8 is" if result.speed_ms["int8"] < result.speed_ms["fp32"] else "FP32 is faster"
    assert result.advice is not None
    assert faster in result.advice
    assert result.advice in str(result)
    assert entry["speed_ms"]["int8"] == pytest.approx(result.speed_ms["int8"])
    det = Detector("demo-q", conf=0.25)
    assert det.backend == "openvino"
    assert det.imgsz == 416
    assert det.names[4] == "cross"
    assert len(det.detect(IMAGES[0])) > 0
    assert Detector(result.path).backend == "openvino"  # the file path loads too


@pytest.mark.parametrize(
    ("int8_ms", "fp32_ms", "says"), [(10.0, 20.0, "INT8 is 2.00x faster"), (20.0, 10.0, "FP32 is faster")]
)
def test_speed_advice_names_the_faster_form(
    monkeypatch: pytest.MonkeyPatch, int8_ms: float, fp32_ms: float, says: str
) -> None:
    from detectkit.train import export as export_mod

    timed: list[tuple[str, str]] = []

    def fake(model: Path, backend: str, *, imgsz: int | None = None, runs: int = 5) -> float:
        timed.append((Path(model).name, backend))
        return int8_ms if Path(model).name == "q.xml" else fp32_ms

    monkeypatch.setattr(backend_choice, "measure_backend", fake)
    speed, advice = export_mod._speed_advice(Path("q.xml"), Path("m.onnx"), "openvino", 416)
    assert speed == {"int8": int8_ms, "fp32": fp32_ms}
    assert timed == [("q.xml", "openvino"), ("m.onnx", "openvino")]  # the same runtime for both
    assert advice is not None
    assert says in advice


@pytest.mark.slow
def test_guard_refuses_broken_calibration(tmp_path: Path) -> None:
    from detectkit.train.export import AccuracyGuardError, export_model

    black = tmp_path / "black"
    black.mkdir()
    for i in range(3):
        cv2.imwrite(str(black / f"{i}.jpg"), np.zeros((200, 200, 3), np.uint8))
    out = tmp_path / "out"
    with pytest.raises(AccuracyGuardError, match="refused") as info:
        export_model(
            "demo-shapes", format="onnx", int8=True, calibration=black, val=_subset(tmp_path, 8), out=out / "q.onnx"
        )
    assert info.value.drop_points > 1.0
    assert list(out.iterdir()) == []  # nothing written, no temp folder left
    assert user_entry("q")[0] is None


@pytest.mark.slow
def test_classifier_exports_load_in_classifier(tmp_path: Path) -> None:
    import skimage.data

    from detectkit.models.classifier import Classifier
    from detectkit.train.export import export_model

    coffee = Path(skimage.data.__file__).parent / "coffee.png"
    ref = Classifier().predict_proba([cv2.imread(str(coffee))])[0]
    for fmt, name in (("onnx", "m.onnx"), ("openvino", "m.xml")):
        result = export_model("mobilenet_v2-imagenet", format=fmt, out=tmp_path / name, register=False)
        clf = Classifier(result.path)
        assert clf.names[967] == "espresso"
        assert clf.preprocess.crop_size == 224
        probs = clf.predict_proba([cv2.imread(str(coffee))])[0]
        assert int(probs.argmax()) == int(ref.argmax()) == 967
        np.testing.assert_allclose(probs, ref, atol=2e-2)  # OpenVINO may run in bf16 on AMX CPUs


def test_export_rejects_bad_options(tmp_path: Path) -> None:
    from detectkit.train.export import export_model

    with pytest.raises(InvalidInputError, match="calibration"):
        export_model("demo-shapes", int8=True)
    with pytest.raises(InvalidInputError, match="format"):
        export_model("demo-shapes", format="tflite")
    with pytest.raises(InvalidInputError, match=r"out must end in \.xml"):
        export_model("demo-shapes", format="openvino", out=tmp_path / "x.onnx")
    with pytest.raises(InvalidInputError, match="max_drop"):
        export_model("demo-shapes", max_drop=-1)
    with pytest.raises(ModelLoadError, match="unknown model"):
        export_model("no-such-model")


def test_auto_backend_measures_once_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path))
    calls: list[str] = []
    fake = {"torch": 30.0, "onnx": 20.0, "openvino": 10.0}

    def measure(model: object, backend: str, *, imgsz: object = None, runs: int = 5) -> float:
        calls.append(backend)
        return fake[backend]

    monkeypatch.setattr(backend_choice, "measure_backend", measure)
    monkeypatch.setattr(
        backend_choice, "candidates", lambda w, device="cpu", onnxruntime=None: ["torch", "onnx", "openvino"]
    )
    weights = resolve("demo-shapes")
    assert backend_choice.choose_backend(weights) == "openvino"
    assert calls == ["torch", "onnx", "openvino"]
    assert backend_choice.choose_backend(weights) == "openvino"  # cached: no second measurement
    assert len(calls) == 3
    # another imgsz is another key; torch fastest -> torch (auto is never slower than torch)
    fake.update(torch=5.0)
    assert backend_choice.choose_backend(weights, imgsz=320) == "torch"
    assert (tmp_path / backend_choice.CACHE_FILE).is_file()


def test_auto_backend_candidates() -> None:
    weights = resolve("demo-shapes")
    names = backend_choice.candidates(weights)
    assert names[0] == "torch"
    assert set(names) <= {"torch", "onnx", "openvino"}
    assert backend_choice.candidates(weights, device="cuda:0") == ["torch"]


def test_user_manifest_refuses_shipped_names_and_verifies_hash(tmp_path: Path) -> None:
    file = tmp_path / "w.onnx"
    file.write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="shipped model"):
        register_model("demo-shapes", file, {"task": "detect"})
    register_model("mine", file, {"task": "detect"})
    assert resolve("mine").path == file.resolve()
    file.write_bytes(b"changed")
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        resolve("mine")
