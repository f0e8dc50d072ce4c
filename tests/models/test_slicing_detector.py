"""Sliced inference through the Detector (detectkit.models.slicing): backends, batching, sahi parity."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectkit.boxes import box_iou
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError
from detectkit.models.detector import Detector
from detectkit.models.slicing import detect_sliced, predict_tiles, tile_engine
from detectkit.slicing import SliceConfig, slice_boxes

ROOT = Path(__file__).resolve().parents[2]


sys.path.insert(0, str(ROOT / "tests"))  # the shared loader of the datasets/ scripts
from _scripts import load_script  # noqa: E402

large = load_script("detectkit_shapes_generate_large", "datasets/generate_large.py")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("dk-cache-slicing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DETECTKIT_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 960 x 640 image with many small shapes (7-40 px) and their boxes and class ids."""
    img, objects = large.generate_large_image(0, 0, size_wh=(960, 640), fill=0.6)
    boxes = np.array([b for _, b in objects], float).reshape(-1, 4)
    cls = np.array([c for c, _ in objects], np.int64)
    return img, boxes, cls


@pytest.fixture(scope="module")
def torch_det() -> Detector:
    return Detector("demo-shapes", backend="torch")


@pytest.fixture(scope="module")
def onnx_det(cache: Path) -> Detector:
    det = Detector("demo-shapes", backend="onnx")
    assert det.backend == "onnx"
    return det


@pytest.fixture(scope="module")
def ov_det(cache: Path) -> Detector:
    pytest.importorskip("openvino")
    return Detector("demo-shapes", backend="openvino")


def _recall(dets: Detections, boxes: np.ndarray, cls: np.ndarray, thr: float = 0.5) -> float:
    iou = box_iou(boxes, dets.xyxy).astype(float)
    iou[cls[:, None] != dets.class_id[None, :]] = 0
    return float((iou.max(axis=1, initial=0) >= thr).mean())


def _matched(a: Detections, b: Detections, atol: float) -> float:
    """Share of a's boxes with a same-class box in b within atol pixels on every side."""
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    err = np.abs(a.xyxy[:, None, :] - b.xyxy[None, :, :]).max(axis=2)
    err[a.class_id[:, None] != b.class_id[None, :]] = np.inf
    return float((err.min(axis=1, initial=np.inf) <= atol).mean())


CFG = SliceConfig(slice_wh=320, overlap=0.2)


def test_sliced_finds_the_small_objects_the_whole_image_misses(torch_det: Detector, scene) -> None:
    img, boxes, cls = scene
    whole = torch_det.detect(img)
    sliced = torch_det.detect(img, slicing=CFG)
    assert sliced.image_size_wh == (960, 640)
    assert sliced.names == torch_det.names
    assert len(boxes) > 50
    assert _recall(whole, boxes, cls) < 0.15
    assert _recall(sliced, boxes, cls) > 0.45
    assert np.all(np.diff(sliced.confidence) <= 0)  # by descending score


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_agree_with_torch(backend: str, torch_det: Detector, request, scene) -> None:
    """onnx (FP32) and openvino (BF16 on CPUs that have it) keep torch's boxes within 1 px."""
    other: Detector = request.getfixturevalue("onnx_det" if backend == "onnx" else "ov_det")
    img = scene[0]
    a = torch_det.detect(img, slicing=CFG)
    b = other.detect(img, slicing=CFG)
    assert abs(len(a) - len(b)) <= max(2, len(a) // 50)
    assert _matched(a, b, atol=1.0) > 0.95
    assert _matched(b, a, atol=1.0) > 0.95


def test_auto_backend_slices_like_its_backend(onnx_det: Detector, cache: Path, scene) -> None:
    """backend='auto' picks the fastest measured backend; sliced results equal that backend's."""
    auto = Detector("demo-shapes", backend="auto")
    assert auto.backend in ("onnx", "openvino", "torch")
    ref = onnx_det if auto.backend == "onnx" else Detector("demo-shapes", backend=auto.backend)
    img = scene[0][:400, :700]
    a = auto.detect(img, slicing=CFG)
    b = ref.detect(img, slicing=CFG)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)


def test_onnx_batched_tiles_equal_one_run_per_tile(onnx_det: Detector, scene) -> None:
    """The batched ONNX fast path (one session.run per batch) decides exactly like the plain path."""
    img = scene[0]
    tiles = slice_boxes((960, 640), 320, 64)[:6]
    crops = [img[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles.tolist()]
    fast = predict_tiles(onnx_det, crops)
    plain = predict_tiles(onnx_det, crops, fast=False)
    assert sum(len(d) for d in plain) > 5
    for f, p in zip(fast, plain, strict=True):
        np.testing.assert_array_equal(f.class_id, p.class_id)
        np.testing.assert_allclose(f.xyxy, p.xyxy, atol=1e-3, rtol=0)
        np.testing.assert_allclose(f.confidence, p.confidence, atol=1e-5, rtol=0)


def test_openvino_tile_engine_equals_one_run_per_tile(ov_det: Detector, scene) -> None:
    """The static-shape uint8 OpenVINO engine (here 6 tiles in batches of 4: a partial last batch,
    and a 320 px tile letterboxed up to 416) keeps the plain path's boxes."""
    from detectkit.models.slicing import _OpenVinoTiles

    img = scene[0]
    tiles = slice_boxes((960, 640), 320, 64)[:6]
    crops = [img[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles.tolist()]
    assert isinstance(tile_engine(ov_det, (320, 320), 4), _OpenVinoTiles)  # the fast path, not a fallback
    fast = predict_tiles(ov_det, crops, batch=4)
    plain = predict_tiles(ov_det, crops, fast=False)
    assert sum(len(d) for d in plain) > 5
    for f, p in zip(fast, plain, strict=True):
        assert abs(len(f) - len(p)) <= 1
        assert _matched(p, f, atol=1.0) >= 0.9


def test_fast_paths_decline_for_torch_and_batch_size_is_free(torch_det: Detector, onnx_det: Detector, scene) -> None:
    assert tile_engine(torch_det, (320, 320), 8) is None
    img = scene[0]
    crops = [img[y0:y1, x0:x1] for x0, y0, x1, y1 in slice_boxes((960, 640), 320, 64).tolist()]
    one = predict_tiles(onnx_det, crops, batch=1)
    for a, b in zip(one, predict_tiles(onnx_det, crops, batch=5), strict=True):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    with pytest.raises(InvalidInputError, match="equally sized"):
        predict_tiles(onnx_det, [crops[0], crops[0][:10]])


def test_torch_batch_size_does_not_change_results(torch_det: Detector, scene) -> None:
    img = scene[0][:500, :900]
    one = torch_det.detect(img, slicing=SliceConfig(slice_wh=320, batch_size=1))
    many = torch_det.detect(img, slicing=SliceConfig(slice_wh=320, batch_size=16))
    assert len(one) == len(many)
    np.testing.assert_allclose(one.xyxy, many.xyxy, atol=1e-2)


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_image_smaller_than_a_tile_is_plain_detection(backend: str, request) -> None:
    det: Detector = request.getfixturevalue({"torch": "torch_det", "onnx": "onnx_det"}.get(backend, "ov_det"))
    img = large.generate_large_image(0, 5, size_wh=(400, 320), scale=0.7, fill=1.0)[0]
    cfg = SliceConfig(slice_wh=416, merge="nms", match_metric="iou", match_threshold=det.iou)
    plain = det.detect(img)
    sliced = det.detect(img, slicing=cfg)
    assert len(plain) > 0
    if backend == "openvino":  # a static-shape BF16 copy of the model: equal to within a pixel
        assert abs(len(sliced) - len(plain)) <= 1
        assert _matched(plain, sliced, atol=1.0) >= 0.95
        return
    np.testing.assert_allclose(sliced.xyxy, plain.xyxy, atol=1e-4)
    np.testing.assert_array_equal(sliced.class_id, plain.class_id)


def test_empty_tiles_give_no_boxes(onnx_det: Detector) -> None:
    img = np.full((700, 1000, 3), 127, np.uint8)
    out = onnx_det.detect(img, slicing=CFG)
    assert len(out) == 0
    assert out.image_size_wh == (1000, 700)


def test_detect_batch_stream_and_lists_accept_slicing(onnx_det: Detector, scene, tmp_path: Path) -> None:
    import cv2

    img = scene[0][:320, :560]
    ref = onnx_det.detect(img, slicing=CFG)
    assert len(ref) > 0
    assert [len(d) for d in onnx_det.detect([img, img], slicing=CFG)] == [len(ref)] * 2
    np.testing.assert_array_equal(onnx_det.detect_batch([img], slicing=CFG)[0].xyxy, ref.xyxy)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), img)
    streamed = list(onnx_det.detect_stream(tmp_path, slicing=CFG))
    assert len(streamed) == 1
    np.testing.assert_array_equal(streamed[0][1].xyxy, ref.xyxy)
    # the int shorthand is a SliceConfig with that tile size
    np.testing.assert_array_equal(onnx_det.detect(img, slicing=320).xyxy, ref.xyxy)
    with pytest.raises(InvalidInputError, match="slicing"):
        onnx_det.detect(img, slicing="huge")
    with pytest.raises(InvalidInputError, match="overlap"):
        onnx_det.detect(img, slicing=SliceConfig(slice_wh=64, overlap=64))


def test_auto_slice_size_is_the_model_input(onnx_det: Detector, scene) -> None:
    img = scene[0][:416, :800]
    a = onnx_det.detect(img, slicing="auto")
    b = onnx_det.detect(img, slicing=SliceConfig(slice_wh=onnx_det.imgsz))  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.xyxy, b.xyxy)


def test_input_image_not_modified(onnx_det: Detector, scene) -> None:
    img = scene[0][:400, :700].copy()
    before = img.copy()
    detect_sliced(onnx_det, img, CFG)
    np.testing.assert_array_equal(img, before)


class _WhiteSegmenter:
    """A stand-in segment model: in every image it is shown, one box with the mask of the white pixels
    (score grows with the area)."""

    task, imgsz, names, backend, _onnx = "segment", 320, {0: "white"}, "torch", None

    def _predict_boxes(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            m = img[..., 0] > 127
            ys, xs = np.nonzero(m)
            box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]] if len(xs) else np.zeros((0, 4))
            n = len(box)
            out.append(
                Detections(
                    xyxy=np.array(box, np.float32).reshape(-1, 4),
                    confidence=np.full(n, 0.5 + m.sum() / m.size / 2, np.float32),
                    class_id=np.zeros(n, np.int64),
                    mask=m[None] if n else np.zeros((0, *m.shape), bool),
                )
            )
        return out


def test_segment_masks_follow_the_merge() -> None:
    """Tiles [0, 320] and [256, 576]; a white object at x 200..400 is cut by both tiles."""
    img = np.zeros((100, 576, 3), np.uint8)
    img[20:60, 200:400] = 255
    seg: Any = _WhiteSegmenter()
    stitched = detect_sliced(seg, img, SliceConfig(slice_wh=320, overlap=64, full_image=False))
    assert stitched.xyxy.tolist() == [[200, 20, 400, 60]]
    assert stitched.mask is not None
    np.testing.assert_array_equal(stitched.mask[0], img[..., 0] > 0)  # the union of the two pieces
    cfg = SliceConfig(slice_wh=320, overlap=64, full_image=False, edge_aware=False, merge="nms")
    kept = detect_sliced(seg, img, cfg)  # plain NMS keeps the bigger piece and its mask only
    assert kept.xyxy.tolist() == [[256, 20, 400, 60]]
    assert kept.mask is not None
    assert kept.mask[0].sum() == 40 * 144
    assert kept.mask[0, 20:60, 256:400].all()
    with pytest.raises(InvalidInputError, match="wbf"):
        detect_sliced(seg, img, SliceConfig(slice_wh=320, merge="wbf"))


def test_segment_model_masks_come_back_at_the_image_size() -> None:
    """A real (untrained) Ultralytics segment model: tile masks are pasted into image-sized masks."""
    det = Detector("yolov8n-seg.yaml", conf=0.0, max_det=4, imgsz=128)
    img = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    out = det.detect(img, slicing=SliceConfig(slice_wh=128, overlap=0.2))
    assert len(out) > 0
    assert out.mask is not None
    assert out.mask.shape == (len(out), 200, 300)


def test_obb_models_are_refused_clearly() -> None:
    det = Detector("yolov8n-obb.yaml")
    with pytest.raises(InvalidInputError, match="supports detect and segment models"):
        det.detect(np.zeros((64, 64, 3), np.uint8), slicing=32)


# ------------------------------------------------------------------ parity with sahi
@pytest.mark.slow
@pytest.mark.parametrize(("postprocess", "metric"), [("GREEDYNMM", "IOS"), ("NMS", "IOU")])
def test_parity_with_sahi_get_sliced_prediction(torch_det: Detector, postprocess: str, metric: str) -> None:
    """Same model, image and settings, edge-aware merge off: every box sahi keeps, within 1 px."""
    pytest.importorskip("sahi")
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    img = large.generate_large_image(0, 1, size_wh=(900, 600), fill=0.6)[0]
    model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics",
        model_path=str(ROOT / "weights" / "demo-shapes.pt"),
        confidence_threshold=torch_det.conf,
        device="cpu",
        image_size=torch_det.imgsz,
    )
    ref = get_sliced_prediction(
        np.ascontiguousarray(img[..., ::-1]),  # sahi takes RGB
        model,
        slice_height=320,
        slice_width=320,
        overlap_height_ratio=0.2,
        overlap_width_ratio=0.2,
        postprocess_type=postprocess,
        postprocess_match_metric=metric,
        postprocess_match_threshold=0.5,
        verbose=0,
    ).object_prediction_list
    theirs = Detections(
        xyxy=np.array([p.bbox.to_xyxy() for p in ref], np.float32).reshape(-1, 4),
        confidence=np.array([p.score.value for p in ref], np.float32),
        class_id=np.array([p.category.id for p in ref], np.int64),
    )
    cfg = SliceConfig(
        slice_wh=320,
        overlap=0.2,
        merge="nmm" if postprocess == "GREEDYNMM" else "nms",
        match_metric=metric.lower(),
        match_threshold=0.5,
        edge_aware=False,
    )
    ours = torch_det.detect(img, slicing=cfg)
    assert len(theirs) > 20
    assert len(ours) == len(theirs)
    assert _matched(theirs, ours, atol=1.0) == 1.0
