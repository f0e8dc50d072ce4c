"""Models that cannot load fail with detectkit's typed errors, never a third-party exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectkit.errors import InvalidInputError, ModelLoadError
from detectkit.models.classifier import Classifier
from detectkit.models.detector import Detector

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "annotations" / "instances_val.json"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    (root / "fake.jpg").write_text("not an image")
    (root / "x.pth").write_bytes(b"not a state dict")
    (root / "bad.onnx").write_bytes(b"not a protobuf")
    (root / "bad.pt").write_bytes(b"not a pickle")
    (root / "noext").write_bytes(b"?")
    return root


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("mobilenet_v2-imagenet", "not a detector"),  # a classifier from the manifest
        ("x.pth", "x.pth"),
        ("fake.jpg", "fake.jpg"),
        ("bad.onnx", "bad.onnx"),
        ("bad.pt", "bad.pt"),
        ("noext", "noext"),
        ("missing.pt", "missing.pt"),
    ],
)
def test_detector_bad_models_raise_model_load_error(files: Path, model: str, needle: str) -> None:
    source = model if model == "mobilenet_v2-imagenet" else str(files / model)
    with pytest.raises(ModelLoadError, match=needle) as info:
        Detector(source)
    assert "\n" not in str(info.value)


def test_detector_bad_onnx_with_onnx_backend(files: Path) -> None:
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelLoadError, match=r"bad\.onnx"):
        Detector(str(files / "bad.onnx"), backend="onnx")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "potato", "mps"])
def test_detector_unavailable_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(InvalidInputError, match="device"):
        Detector(device=device)


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("demo-shapes", "not a classifier"),
        ("x.pth", "x.pth"),
        ("fake.jpg", "fake.jpg"),
        ("bad.onnx", "bad.onnx"),
        ("bad.pt", "bad.pt"),
    ],
)
def test_classifier_bad_models_raise_model_load_error(files: Path, model: str, needle: str) -> None:
    source = model if model == "demo-shapes" else str(files / model)
    with pytest.raises(ModelLoadError, match=needle) as info:
        Classifier(source)
    assert "is an Ultralytics 'detect' checkpoint" not in str(info.value)  # a guess, not a read


def test_pipeline_with_a_detector_as_classifier() -> None:
    with pytest.raises(ModelLoadError, match="not a classifier"):
        Detector(classifier="demo-shapes")


def test_evaluate_takes_a_dataset_path(tmp_path: Path) -> None:
    payload = json.loads(VAL.read_text())
    keep = payload["images"][:2]
    ids = {im["id"] for im in keep}
    payload["images"] = keep
    payload["annotations"] = [a for a in payload["annotations"] if a["image_id"] in ids]
    for im in keep:
        shutil.copy(ROOT / "datasets" / "shapes" / "images" / "val" / im["file_name"], tmp_path / im["file_name"])
    (tmp_path / "instances.json").write_text(json.dumps(payload))
    metrics = Detector(conf=0.001).evaluate(tmp_path / "instances.json")
    assert metrics.to_dict()["map50"] > 0.5
    with pytest.raises(InvalidInputError, match="dataset must be"):
        Detector().evaluate(42)


@pytest.mark.parametrize(("classifier", "needle"), [("x.pth", "x.pth"), ("bad.pt", "bad.pt")])
def test_pipeline_bad_classifier_files(files: Path, classifier: str, needle: str) -> None:
    from detectkit.models.pipeline import Pipeline

    class Fixed:
        def detect(self, image: object) -> object:  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(ModelLoadError, match=needle):
        Pipeline(Fixed(), str(files / classifier))
    with pytest.raises(InvalidInputError, match=r"Pipeline\(Detector\('demo-shapes'\)"):
        Pipeline("demo-shapes")  # type: ignore[arg-type]
