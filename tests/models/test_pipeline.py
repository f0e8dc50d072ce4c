"""Two-stage pipeline: crop labels attached to the right boxes, batched crops, padding, Detector hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data

from detectkit import Classifier, Detections, InvalidInputError, Pipeline
from detectkit.image import load_image
from detectkit.models.pipeline import crop_boxes

SKIMAGE = Path(skimage.data.__file__).parent
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, Detections]:
    """A 1100 x 520 canvas holding the cat photo (left) and the coffee photo (right), and their boxes."""
    cat = load_image(SKIMAGE / "chelsea.png")  # 451 x 300
    coffee = load_image(SKIMAGE / "coffee.png")  # 600 x 400
    canvas = np.full((520, 1100, 3), 255, np.uint8)
    canvas[100:400, 20:471] = cat
    canvas[60:460, 490:1090] = coffee
    boxes = Detections(
        xyxy=[[490, 60, 1090, 460], [20, 100, 471, 400]],  # coffee first, cat second
        confidence=[0.9, 0.8],
        class_id=[7, 3],
        names={3: "animal", 7: "cup"},
        data={"note": np.array([10, 20])},
    )
    return canvas, boxes


class FixedDetector:
    """A stand-in detector returning fixed boxes (and counting calls)."""

    def __init__(self, detections: Detections) -> None:
        self.detections = detections
        self.calls = 0

    def detect(self, image: Any) -> Detections:
        self.calls += 1
        assert isinstance(image, np.ndarray)
        return self.detections


def test_crop_labels_attached_to_the_right_boxes(clf: Classifier, scene: tuple[np.ndarray, Detections]) -> None:
    image, boxes = scene
    before = image.copy()
    pipe = Pipeline(FixedDetector(boxes), clf, top_k=3, padding=0.0)
    out = pipe.detect(image)
    np.testing.assert_array_equal(image, before)
    assert len(out) == 2
    assert out.data["crop_class_id"].shape == (2, 3)
    assert out.data["crop_class_id"].dtype == np.int64
    assert out.data["crop_confidence"].shape == (2, 3)
    assert out.data["crop_confidence"].dtype == np.float32
    assert out.data["crop_label"].shape == (2, 3)
    assert out.data["crop_label"][0, 0] == "espresso"
    assert out.data["crop_label"][1, 0] in CAT_CLASSES
    assert clf.names[int(out.data["crop_class_id"][0, 0])] == "espresso"
    assert (np.diff(out.data["crop_confidence"], axis=1) <= 0).all()
    # the detector's own fields and extra data are kept
    np.testing.assert_array_equal(out.xyxy, boxes.xyxy)
    np.testing.assert_array_equal(out.confidence, boxes.confidence)
    assert out.labels == ["cup", "animal"]
    assert out.data["note"].tolist() == [10, 20]
    assert out.image_size_wh == (1100, 520)
    # reversed order -> reversed labels
    flipped = pipe.classify_boxes(image, boxes[[1, 0]])
    assert flipped.data["crop_label"][:, 0].tolist() == out.data["crop_label"][::-1, 0].tolist()


def test_crop_classification_equals_classifying_the_crop(clf: Classifier, scene: tuple[np.ndarray, Detections]) -> None:
    image, boxes = scene
    pipe = Pipeline(FixedDetector(boxes), clf, top_k=2, padding=0.0, fit="crop")
    out = pipe.classify_boxes(image, boxes)
    for i, (x1, y1, x2, y2) in enumerate(boxes.xyxy.astype(int).tolist()):
        direct = clf.classify(image[y1:y2, x1:x2], top_k=2)
        assert out.data["crop_class_id"][i].tolist() == direct.class_id.tolist()
        np.testing.assert_allclose(out.data["crop_confidence"][i], direct.confidence, atol=1e-5)


def test_crops_are_batched(clf: Classifier) -> None:
    rng = np.random.default_rng(0)
    image = load_image(SKIMAGE / "coffee.png")
    xy = rng.uniform(0, 300, size=(20, 2))
    wh = rng.uniform(20, 250, size=(20, 2))
    boxes = Detections(xyxy=np.hstack([xy, np.minimum(xy + wh, [600, 400])]), confidence=np.full(20, 0.5))
    calls: list[int] = []
    handle = clf.model.register_forward_hook(lambda m, i, o: calls.append(int(i[0].shape[0])))
    try:
        out = Pipeline(FixedDetector(boxes), clf, batch_size=8).detect(image)
    finally:
        handle.remove()
    assert calls == [8, 8, 4]  # 3 forward passes for 20 boxes, not 20
    assert out.data["crop_class_id"].shape == (20, 1)


def test_empty_detections_and_lists(clf: Classifier) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    pipe = Pipeline(FixedDetector(Detections.empty(names={0: "x"})), clf, top_k=4)
    out = pipe.detect(image)
    assert len(out) == 0
    assert out.data["crop_class_id"].shape == (0, 4)
    assert out.data["crop_confidence"].shape == (0, 4)
    assert out.data["crop_label"].shape == (0, 4)
    many = pipe.detect([image, image])
    assert isinstance(many, list)
    assert len(many) == 2


def test_detect_stream_over_a_folder(clf: Classifier, tmp_path: Path) -> None:
    import shutil

    shutil.copy(SKIMAGE / "coffee.png", tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    shutil.copy(SKIMAGE / "chelsea.png", tmp_path / "c.png")
    boxes = Detections(xyxy=[[0, 0, 300, 300]], confidence=[0.5])
    pipe = Pipeline(FixedDetector(boxes), clf)
    errors: list[str] = []
    results = list(pipe.detect_stream(tmp_path, on_error=lambda info, exc: errors.append(Path(info.source).name)))
    assert [Path(info.source).name for info, _ in results] == ["a.png", "c.png"]
    assert errors == ["b.png"]
    assert all(d.data["crop_label"].shape == (1, 1) for _, d in results)
    with pytest.raises(InvalidInputError):
        list(pipe.detect_stream(tmp_path))


def test_results_serialise(clf: Classifier, scene: tuple[np.ndarray, Detections]) -> None:
    image, boxes = scene
    out = Pipeline(FixedDetector(boxes), clf, top_k=2).classify_boxes(image, boxes)
    back = Detections.from_dict(out.to_dict())
    assert back.data["crop_label"].tolist() == out.data["crop_label"].tolist()
    np.testing.assert_array_equal(back.data["crop_class_id"], out.data["crop_class_id"])


def test_crop_boxes_padding_clipping_and_square() -> None:
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    (crop,) = crop_boxes(image, [[10, 20, 50, 60]], padding=0.25)
    assert crop.shape == (60, 60, 3)
    np.testing.assert_array_equal(crop, image[10:70, 0:60])
    (edge,) = crop_boxes(image, [[180, 90, 200, 100]], padding=1.0)  # clipped at the border
    assert edge.shape == (20, 40, 3)
    (tiny,) = crop_boxes(image, [[5, 5, 5, 5]])  # zero-area -> at least one pixel
    assert tiny.shape == (1, 1, 3)
    (square,) = crop_boxes(image, [[0, 0, 40, 10]], fit="pad")
    assert square.shape == (40, 40, 3)
    np.testing.assert_array_equal(square[15:25], image[0:10, 0:40])
    assert square[0, 0].tolist() == [104, 116, 124]
    assert crop_boxes(image, np.zeros((0, 4))) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"padding": -0.1}, "padding must be a number >= 0"),
        ({"padding": "wide"}, "padding must be a number >= 0"),
        ({"top_k": 0}, "top_k must be a positive int"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"fit": "stretch"}, "fit must be one of"),
    ],
)
def test_bad_pipeline_options(clf: Classifier, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Pipeline(FixedDetector(Detections.empty()), clf, **kwargs)


def test_bad_detector_and_inputs(clf: Classifier) -> None:
    with pytest.raises(InvalidInputError, match="detector must have a detect"):
        Pipeline(object(), clf)  # type: ignore[arg-type]
    pipe = Pipeline(FixedDetector(Detections.empty()), clf)
    with pytest.raises(InvalidInputError, match="detections must be Detections"):
        pipe.classify_boxes(np.zeros((8, 8, 3), np.uint8), [[0, 0, 1, 1]])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="does not exist"):
        pipe.detect("no/such/image.png")


def test_detector_classifier_hook(clf: Classifier, tmp_path: Path) -> None:
    """``Detector(..., classifier=...)`` gives the same crop labels as the Pipeline around it."""
    from detectkit.models.detector import Detector

    image = load_image(SKIMAGE / "coffee.png")
    two_stage = Detector("yolov8n.yaml", conf=0.0, max_det=5, imgsz=160, classifier=clf)  # random weights
    assert two_stage.classifier is clf
    out = two_stage.detect(image)
    assert len(out) > 0
    assert out.data["crop_label"].shape == (len(out), 1)
    expected = Pipeline(two_stage, clf).classify_boxes(image, out)
    np.testing.assert_array_equal(out.data["crop_class_id"], expected.data["crop_class_id"])
    streamed = [d for _, d in two_stage.detect_stream([image])]
    np.testing.assert_array_equal(streamed[0].data["crop_class_id"], out.data["crop_class_id"])
