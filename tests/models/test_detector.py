"""Tests for detectkit.models.detector: parity with native Ultralytics predict, ONNX parity, API."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectkit import Detections
from detectkit.errors import InvalidInputError, MissingDependencyError, ModelLoadError
from detectkit.image import load_image
from detectkit.models import detector as detector_mod
from detectkit.models import weights
from detectkit.models.detector import Detector, onnx_export

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


def _assets() -> Path:
    from ultralytics import ASSETS

    return Path(ASSETS)


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dk-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTKIT_CACHE", str(cache))


def _build(cfg: str, folder: Path) -> Path:
    """An untrained checkpoint from an Ultralytics model yaml (offline), deterministic."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    path = folder / cfg.replace(".yaml", ".pt")
    YOLO(cfg).save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("yolov8n.yaml", tmp_path_factory.mktemp("tiny"))


def _native(model: str | Path, source: object, **kwargs: object) -> Detections:
    """``YOLO(model).predict`` at this thread's torch thread count, the one ``Detector`` runs at.

    Native Ultralytics sets ``cpu_count - 1`` threads when its predictor is set up (first call), and
    a different count may round the floats differently: set up on a blank image, then set it back.
    """
    import torch
    from ultralytics import YOLO

    threads = torch.get_num_threads()
    yolo = YOLO(str(model))
    yolo.predict(np.zeros((32, 32, 3), np.uint8), verbose=False, save=False, **kwargs)
    torch.set_num_threads(threads)
    result = yolo.predict(source, verbose=False, save=False, **kwargs)[0]
    assert torch.get_num_threads() == threads
    return Detections.from_ultralytics(result)


def _assert_same(ours: Detections, ref: Detections, *, atol: float) -> None:
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.class_id, ref.class_id)
    np.testing.assert_allclose(ours.xyxy, ref.xyxy, atol=atol, rtol=0)
    assert ours.confidence is not None
    assert ref.confidence is not None
    np.testing.assert_allclose(ours.confidence, ref.confidence, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ the shipped demo detector
def _demo_path() -> Path:
    path = weights.resolve("demo-shapes").path
    assert path is not None
    return path


def test_default_model_is_the_demo_detector() -> None:
    det = Detector()
    assert det.weights.name == "demo-shapes"
    assert det.task == "detect"
    assert set(det.names.values()) == {"circle", "square", "triangle", "star", "cross"}
    assert det.imgsz == weights.resolve("demo-shapes").imgsz


@pytest.mark.parametrize("conf", [0.25, 0.05])
def test_demo_parity_with_native_predict(conf: float) -> None:
    """Same boxes (1e-2 px), classes and scores as YOLO(model).predict(path) with the same args."""
    det = Detector("demo-shapes", conf=conf)
    images = [*SAMPLES[:6], _assets() / "bus.jpg"]
    total = 0
    for path in images:
        ours = det.detect(path)
        ref = _native(_demo_path(), path, conf=conf, imgsz=det.imgsz)
        _assert_same(ours, ref, atol=1e-2)
        assert ours.names == det.names
        assert ours.image_size_wh == Image.open(path).size
        total += len(ours)
    assert total > 10  # the demo detector finds the shapes


def test_demo_finds_the_labelled_shapes() -> None:
    """On its own val images the demo detector recovers most labelled objects (IoU >= 0.5).

    A sanity floor, not the quality measurement (that is ``quality`` in the manifest): an
    untrained or mismatched checkpoint finds ~0 %."""
    from detectkit.boxes import convert

    det = Detector("demo-shapes")
    hits = n_gt = 0
    for path in SAMPLES[:20]:
        label = path.parents[2] / "labels" / "val" / (path.stem + ".txt")
        rows = np.loadtxt(label, ndmin=2)
        size = Image.open(path).size
        gt = convert(rows[:, 1:], "cxcywhn", "xyxy", image_size_wh=size) if len(rows) else np.zeros((0, 4))
        dets = det.detect(path)
        for box, cls in zip(gt, rows[:, 0].astype(int)):
            same = dets[dets.class_id == cls]
            if len(same):
                x1 = np.maximum(same.xyxy[:, 0], box[0])
                y1 = np.maximum(same.xyxy[:, 1], box[1])
                x2 = np.minimum(same.xyxy[:, 2], box[2])
                y2 = np.minimum(same.xyxy[:, 3], box[3])
                inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
                union = same.area + (box[2] - box[0]) * (box[3] - box[1]) - inter
                hits += bool((inter / union >= 0.5).any())
        n_gt += len(gt)
    assert n_gt > 0
    assert hits / n_gt >= 0.8, f"{hits}/{n_gt}"  # 0.92 (80/87) measured with the shipped weights


def test_agnostic_nms_matches_native_and_keeps_one_box_per_object(cache: Path) -> None:
    """``agnostic_nms=True`` equals Ultralytics' ``agnostic_nms=True`` (torch and ONNX backends) and
    leaves no pair of boxes of different classes above the IoU threshold."""
    from detectkit.boxes import box_iou

    kwargs = {"conf": 0.05, "iou": 0.5}
    torch_det = Detector("demo-shapes", agnostic_nms=True, **kwargs)  # type: ignore[arg-type]
    onnx_det = Detector("demo-shapes", agnostic_nms=True, backend="onnx", **kwargs)  # type: ignore[arg-type]
    plain = Detector("demo-shapes", **kwargs)  # type: ignore[arg-type]
    fewer = 0
    for path in SAMPLES[:8]:
        ours = torch_det.detect(path)
        _assert_same(ours, _native(_demo_path(), path, agnostic_nms=True, imgsz=torch_det.imgsz, **kwargs), atol=1e-2)
        _assert_same(onnx_det.detect(path), ours, atol=1.0)
        overlap = box_iou(ours.xyxy, ours.xyxy)
        np.fill_diagonal(overlap, 0)
        assert (overlap <= kwargs["iou"] + 0.01).all()  # NMS runs before the boxes are clipped to the image
        fewer += len(plain.detect(path)) - len(ours)
    assert fewer > 0  # at a low threshold some objects get boxes of two classes without it


def test_agnostic_nms_must_be_a_bool() -> None:
    with pytest.raises(InvalidInputError, match="agnostic_nms"):
        Detector("demo-shapes", agnostic_nms="yes")  # type: ignore[arg-type]


@pytest.mark.slow
def test_demo_onnx_parity_with_torch(cache: Path) -> None:
    torch_det = Detector("demo-shapes", conf=0.1)
    onnx_det = Detector("demo-shapes", conf=0.1, backend="onnx")
    assert onnx_det.backend == "onnx"
    assert onnx_det.onnx_path is not None
    assert onnx_det.onnx_path.parent == cache / "onnx"
    assert onnx_det.names == torch_det.names
    for path in [*SAMPLES[:6], _assets() / "bus.jpg", _assets() / "zidane.jpg"]:
        _assert_same(onnx_det.detect(path), torch_det.detect(path), atol=1.0)


# ------------------------------------------------------------------ parity on a yolov8n-sized model
@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_torch_parity_yolov8n(tiny: Path, image: str) -> None:
    path = _assets() / image
    ours = Detector(tiny, conf=1e-4).detect(path)
    ref = _native(tiny, path, conf=1e-4)
    assert len(ref) > 5
    _assert_same(ours, ref, atol=1e-2)


def test_input_types_agree(tiny: Path) -> None:
    det = Detector(tiny, conf=1e-4, imgsz=320)
    path = _assets() / "bus.jpg"
    by_path = det.detect(path)
    for source in (str(path), path.read_bytes(), load_image(path), Image.open(path)):
        _assert_same(det.detect(source), by_path, atol=1e-4)
    many = det.detect([path, load_image(_assets() / "zidane.jpg")])
    assert isinstance(many, list)
    assert len(many) == 2
    _assert_same(many[0], by_path, atol=1e-4)
    assert det(path) == by_path


def test_input_array_not_modified(tiny: Path) -> None:
    det = Detector(tiny, conf=1e-4, imgsz=320)
    img = load_image(_assets() / "bus.jpg")
    before = img.copy()
    det.detect(img)
    det.detect_batch([img])
    np.testing.assert_array_equal(img, before)


def test_detect_stream_folder_with_bad_files(tiny: Path, tmp_path: Path) -> None:
    import shutil

    for p in SAMPLES[:3]:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "zz_empty.jpg").write_bytes(b"")
    (tmp_path / "aa_corrupt.png").write_bytes(b"\x89PNG garbage")
    det = Detector(tiny, conf=1e-4, imgsz=320)
    failed: list[str] = []
    out = list(det.detect_stream(tmp_path, on_error=lambda info, exc: failed.append(Path(info.source).name)))
    assert [Path(info.source).name for info, _ in out] == [p.name for p in SAMPLES[:3]]
    assert sorted(failed) == ["aa_corrupt.png", "zz_empty.jpg"]
    for info, dets in out:
        _assert_same(dets, det.detect(info.path), atol=1e-4)
        assert dets.image_size_wh == info.image_size_wh
    with pytest.raises(InvalidInputError, match=r"aa_corrupt.png"):
        list(det.detect_stream(tmp_path))
    batched = list(det.detect_stream([SAMPLES[0]] * 3, batch_size=2))
    assert len(batched) == 3
    _assert_same(batched[2][1], out[0][1], atol=1e-4)


def test_detect_stream_video(tiny: Path, tmp_path: Path) -> None:
    import cv2

    video = tmp_path / "clip.avi"
    frame = cv2.resize(load_image(_assets() / "bus.jpg"), (320, 384))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (320, 384))
    for _ in range(4):
        writer.write(frame)
    writer.release()
    det = Detector(tiny, conf=1e-4, imgsz=320)
    out = list(det.detect_stream(video, vid_stride=2))
    assert [info.frame_index for info, _ in out] == [0, 2]
    assert out[1][0].timestamp == pytest.approx(0.4)
    assert len(out[0][1]) == len(out[1][1])


def test_classes_filter_and_names(tiny: Path) -> None:
    det = Detector(tiny, conf=1e-4, classes=[0, "5"])
    assert det.classes == [0, 5]
    dets = det.detect(_assets() / "bus.jpg")
    assert set(dets.class_id.tolist()) <= {0, 5}
    ref = _native(tiny, _assets() / "bus.jpg", conf=1e-4, classes=[0, 5])
    _assert_same(dets, ref, atol=1e-2)
    with pytest.raises(InvalidInputError, match="unknown class name 'unicorn'"):
        Detector(tiny, classes=["unicorn"])
    with pytest.raises(InvalidInputError, match="unknown class id 80"):
        Detector(tiny, classes=[80])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conf": 1.5}, "conf must be in"),
        ({"iou": -0.1}, "iou must be in"),
        ({"imgsz": 0}, "imgsz must be"),
        ({"imgsz": (320,)}, "imgsz must be"),
        ({"backend": "tensorrt"}, "backend must be one of"),
        ({"classes": 3}, "classes must be a list"),
        ({"max_det": 0}, "max_det must be"),
        ({"device": ""}, "device must be"),
    ],
)
def test_bad_options(tiny: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Detector(tiny, **kwargs)  # type: ignore[arg-type]


def test_unknown_keyword_rejected(tiny: Path) -> None:
    with pytest.raises(TypeError):
        Detector(tiny, confidence=0.5)  # type: ignore[call-arg]


def test_bad_sources(tiny: Path, tmp_path: Path) -> None:
    det = Detector(tiny, imgsz=320)
    with pytest.raises(InvalidInputError, match=r"missing.jpg does not exist"):
        det.detect(tmp_path / "missing.jpg")
    with pytest.raises(InvalidInputError, match="detect_stream"):
        det.detect(tmp_path)
    with pytest.raises(InvalidInputError, match="batch_size"):
        det.detect_stream(tmp_path, batch_size=0)
    with pytest.raises(InvalidInputError, match=r"images\[0\] must be"):
        det.detect_batch([np.zeros((4, 4), np.uint8)])


def test_unknown_model_lists_names() -> None:
    with pytest.raises(ModelLoadError, match=r"known names: .*demo-shapes.*yolo11n\.pt"):
        Detector("demo-shape")


def test_offline_ultralytics_name_fails_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"yolo11n.pt"):
        Detector("yolo11n.pt")
    assert list(tmp_path.iterdir()) == []  # nothing written to the cwd


def test_imgsz_defaults_to_checkpoint_training_size(tiny: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    model = YOLO(str(tiny))
    model.ckpt["train_args"] = {**(model.ckpt.get("train_args") or {}), "imgsz": 416}  # as training stores it
    custom = tmp_path / "trained416.pt"
    model.save(str(custom))
    assert Detector(custom).imgsz == 416
    assert Detector(tiny).imgsz == 640
    assert Detector(custom, imgsz=320).imgsz == 320


def test_yaml_builds_offline() -> None:
    det = Detector("yolov8n.yaml", imgsz=320)
    assert det.task == "detect"
    assert len(det.names) == 80
    assert isinstance(det.detect(np.zeros((64, 96, 3), np.uint8)), Detections)


def test_segment_fills_masks(tmp_path_factory: pytest.TempPathFactory) -> None:
    ckpt = _build("yolov8n-seg.yaml", tmp_path_factory.mktemp("seg"))
    det = Detector(ckpt, conf=1e-5, imgsz=320)
    assert det.task == "segment"
    path = _assets() / "bus.jpg"
    dets = det.detect(path)
    ref = _native(ckpt, path, conf=1e-5, imgsz=320)
    assert len(dets) > 0
    _assert_same(dets, ref, atol=1e-2)
    assert dets.mask is not None
    assert dets.mask.shape == (len(dets), 1080, 810)
    assert ref.mask is not None
    np.testing.assert_array_equal(dets.mask, ref.mask)


def test_obb_keeps_rotated_boxes(tmp_path_factory: pytest.TempPathFactory) -> None:
    ckpt = _build("yolov8n-obb.yaml", tmp_path_factory.mktemp("obb"))
    det = Detector(ckpt, conf=1e-5, imgsz=320)
    assert det.task == "obb"
    dets = det.detect(_assets() / "bus.jpg")
    assert len(dets) > 0
    assert dets.data["obb"].shape == (len(dets), 5)
    assert dets.data["obb_polygon"].shape == (len(dets), 4, 2)
    ref = _native(ckpt, _assets() / "bus.jpg", conf=1e-5, imgsz=320)
    np.testing.assert_allclose(dets.data["obb"], ref.data["obb"], atol=1e-2)


# ------------------------------------------------------------------ ONNX backend
@pytest.mark.slow
def test_onnx_export_cached_and_parity(tiny: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    det = Detector(tiny, conf=1e-4, backend="onnx")
    assert det.onnx_path is not None
    digest = weights.sha256_file(tiny)
    assert det.onnx_path == cache / "onnx" / f"{digest[:32]}-640.onnx"
    assert not (tiny.parent / "tiny.onnx").exists()
    assert [p.name for p in (cache / "onnx").iterdir() if p.name.startswith(".")] == []
    torch_det = Detector(tiny, conf=1e-4)
    for image in ("bus.jpg", "zidane.jpg"):
        ours, ref = det.detect(_assets() / image), torch_det.detect(_assets() / image)
        assert len(ref) > 5
        _assert_same(ours, ref, atol=1.0)
    # a second Detector reuses the cached export
    monkeypatch.setattr("ultralytics.YOLO.export", lambda *a, **k: pytest.fail("exported twice"))
    again = Detector(tiny, conf=1e-4, backend="onnx")
    assert again.onnx_path == det.onnx_path
    # the .onnx file itself is accepted, torch-free
    direct = Detector(det.onnx_path, conf=1e-4)
    assert direct.names == torch_det.names
    _assert_same(direct.detect(_assets() / "bus.jpg"), torch_det.detect(_assets() / "bus.jpg"), atol=1.0)
    auto = Detector(tiny, conf=1e-4, backend="auto")  # measured: the fastest runtime here
    assert auto.backend in ("torch", "onnx", "openvino")
    # classes and max_det are honoured by our own decoding
    few = Detector(det.onnx_path, conf=1e-4, classes=[0], max_det=3).detect(_assets() / "bus.jpg")
    assert len(few) <= 3
    assert set(few.class_id.tolist()) <= {0}


def test_onnx_missing_dependency(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(detector_mod, "_has_onnxruntime", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'detectkit\[onnx\]'"):
        Detector(tiny, backend="onnx")
    empty = tiny.parent / "empty-cache"
    with pytest.raises(MissingDependencyError):  # an export is needed: it needs the onnx extra
        onnx_export(tiny, cache=empty)
    cached = empty / "onnx" / f"{detector_mod.weights_mod.sha256_file(tiny)[:32]}-640.onnx"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"an earlier export")
    assert onnx_export(tiny, cache=empty) == cached  # cached: onnxruntime is not needed (OpenVINO)
    assert Detector(tiny, backend="auto").backend == "torch"


def test_onnx_backend_rejects_yaml() -> None:
    with pytest.raises(ModelLoadError, match="backend='onnx' needs"):
        Detector("yolov8n.yaml", backend="onnx")


def test_import_detectkit_does_not_load_ultralytics() -> None:
    import subprocess
    import sys

    code = (
        "import sys, detectkit, detectkit.models.detector; print('ultralytics' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_onnx_segment_runs_through_ultralytics_onnx_backend(tmp_path_factory: pytest.TempPathFactory) -> None:
    ckpt = _build("yolov8n-seg.yaml", tmp_path_factory.mktemp("seg-onnx"))
    torch_det = Detector(ckpt, conf=1e-5, imgsz=320)
    onnx_det = Detector(ckpt, conf=1e-5, imgsz=320, backend="onnx")
    assert onnx_det.task == "segment"
    assert onnx_det.names == torch_det.names
    path = _assets() / "bus.jpg"
    ours, ref = onnx_det.detect(path), torch_det.detect(path)
    _assert_same(ours, ref, atol=1.0)
    assert ours.mask is not None
    assert ours.mask.shape == (len(ours), 1080, 810)


def test_runner_input_hw_is_the_letterbox_shape_without_pixels(demo_onnx: Path) -> None:
    """``_OnnxRunner.input_hw`` (arithmetic only; batch workers compile shapes ahead with it) gives
    the shape ``_letterbox`` makes of real pixels, for any image size and imgsz."""
    from detectkit.models.detector import _OnnxRunner

    runner = _OnnxRunner(demo_onnx)
    rng = np.random.default_rng(0)
    sizes = [(1, 1), (1, 900), (900, 1), (416, 416), (417, 415), *map(tuple, rng.integers(1, 1600, (150, 2)).tolist())]
    for imgsz in (416, (320, 480), 300):
        for w, h in sizes:
            boxed = runner._letterbox(np.zeros((h, w, 3), np.uint8), imgsz).image
            assert runner.input_hw((w, h), imgsz) == boxed.shape[:2], (w, h, imgsz)
