"""Classifier: real ImageNet predictions, torchvision parity, batching, loading rules, CAM localisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torchvision
import ultralytics
from PIL import Image

from detectkit import Classification, Classifier, Detections, InvalidInputError, ModelLoadError
from detectkit.image import load_image
from detectkit.models.classifier import Preprocess, resize_heatmap

SKIMAGE = Path(skimage.data.__file__).parent
CHELSEA = SKIMAGE / "chelsea.png"
COFFEE = SKIMAGE / "coffee.png"
BUS = Path(ultralytics.ASSETS) / "bus.jpg"
BUS_BOX = [17.0, 230.0, 801.0, 768.0]
MOBILENET_FILE = Path(__file__).resolve().parents[2] / "weights" / "mobilenet_v2-b0353104.pth"
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
BUS_CLASSES = {"minibus", "school bus", "trolleybus"}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


# ---------------------------------------------------------------------------- default model
def test_default_is_shipped_imagenet_mobilenet(clf: Classifier) -> None:
    assert clf.source == "mobilenet_v2-imagenet"
    assert clf.architecture == "mobilenet_v2"
    assert clf.framework == "torchvision"
    assert clf.num_classes == 1000
    assert clf.names[281] == "tabby"
    assert clf.names[654] == "minibus"
    assert clf.preprocess == Preprocess(256, 224)
    assert "mobilenet_v2-imagenet" in repr(clf)


@pytest.mark.parametrize(
    ("image", "expected", "within"),
    [(CHELSEA, CAT_CLASSES, 1), (COFFEE, {"espresso"}, 1), (BUS, BUS_CLASSES, 3)],
    ids=["chelsea-cat", "coffee-espresso", "bus-top3"],
)
def test_real_photos(clf: Classifier, image: Path, expected: set[str], within: int) -> None:
    result = clf.classify(image, top_k=5)
    assert isinstance(result, Classification)
    assert len(result) == 5
    assert set(result.labels[:within]) & expected, result
    assert np.all(np.diff(result.confidence) <= 0)
    assert 0 < float(result.confidence.sum()) <= 1.0 + 1e-5


def test_matches_torchvision_directly(clf: Classifier) -> None:
    """Same weights + torchvision's own preset transform on the tensor -> the same probabilities."""
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    ref = torchvision.models.mobilenet_v2()
    ref.load_state_dict(torch.load(MOBILENET_FILE, weights_only=True))
    ref.eval()
    preset = weights.transforms()
    bgr = load_image(BUS)
    tensor = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)
    with torch.inference_mode():
        expected = ref(preset(tensor)[None]).softmax(1)[0].numpy()
        # torchvision's preset on a PIL image (PIL resize) agrees closely too
        pil_probs = ref(preset(Image.open(BUS).convert("RGB"))[None]).softmax(1)[0].numpy()
    got = clf.predict_proba([bgr])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.abs(got - pil_probs).max() < 0.05
    assert set(np.argsort(-got)[:3].tolist()) == set(np.argsort(-pil_probs)[:3].tolist())
    assert clf.classify(bgr, top_k=1).class_id[0] == int(np.argmax(expected))


def test_input_sources_agree_and_are_not_mutated(clf: Classifier) -> None:
    bgr = load_image(CHELSEA)
    before = bgr.copy()
    by_array = clf.classify(bgr, top_k=3)
    by_path = clf.classify(CHELSEA, top_k=3)
    by_bytes = clf.classify(CHELSEA.read_bytes(), top_k=3)
    by_pil = clf.classify(Image.open(CHELSEA), top_k=3)
    np.testing.assert_array_equal(bgr, before)
    for other in (by_path, by_bytes, by_pil):
        assert other.class_id.tolist() == by_array.class_id.tolist()
        np.testing.assert_allclose(other.confidence, by_array.confidence, atol=1e-6)


def test_classify_many_equals_single_and_batches(clf: Classifier) -> None:
    images = [CHELSEA, COFFEE, load_image(BUS)]
    singles = [clf.classify(im, top_k=3) for im in images]
    for batch_size in (2, 32):
        many = clf.classify_many(iter(images), top_k=3, batch_size=batch_size)
        assert len(many) == len(images)
        for a, b in zip(many, singles, strict=True):
            assert a.class_id.tolist() == b.class_id.tolist()
            np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
    assert clf.classify_many([], top_k=2) == []


def test_batches_really_go_through_the_network_together(clf: Classifier) -> None:
    calls: list[int] = []
    handle = clf.model.register_forward_hook(lambda m, i, o: calls.append(int(i[0].shape[0])))
    try:
        clf.classify_many([COFFEE] * 3, batch_size=2)
    finally:
        handle.remove()
    assert calls == [2, 1]


def test_top_k_clipped_and_names_limited(clf: Classifier) -> None:
    result = clf.classify(COFFEE, top_k=2000)
    assert len(result) == 1000
    small = clf.classify(COFFEE, top_k=2)
    assert set(small.names) == set(small.class_id.tolist())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k must be a positive int, got 0"),
        ({"top_k": 1.5}, "top_k must be a positive int"),
        ({"top_k": True}, "top_k must be a positive int"),
    ],
)
def test_classify_bad_arguments(clf: Classifier, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        clf.classify(COFFEE, **kwargs)  # type: ignore[arg-type]


def test_classify_many_bad_arguments(clf: Classifier) -> None:
    with pytest.raises(InvalidInputError, match="batch_size must be a positive int, got 0"):
        clf.classify_many([COFFEE], batch_size=0)
    with pytest.raises(InvalidInputError, match="images must be an iterable of images"):
        clf.classify_many(str(COFFEE))
    with pytest.raises(InvalidInputError, match="does not exist"):
        clf.classify("no/such/image.jpg")


# ---------------------------------------------------------------------------- localisation
def test_localize_bus_overlaps_the_bus(clf: Classifier) -> None:
    dets = clf.localize(BUS)
    assert isinstance(dets, Detections)
    assert len(dets) == 1
    assert dets.image_size_wh == (810, 1080)
    top1 = clf.classify(BUS, top_k=1)
    assert dets.class_id.tolist() == top1.class_id.tolist()
    np.testing.assert_allclose(dets.confidence, top1.confidence, atol=1e-6)
    assert _iou(dets.xyxy[0].tolist(), BUS_BOX) >= 0.5
    heat = dets.data["heatmap"]
    assert heat.dtype == np.float32
    assert heat.shape == (1, 341, 256)
    assert float(heat.max()) == pytest.approx(1.0)
    assert float(heat.min()) >= 0.0
    full = resize_heatmap(heat[0], dets.image_size_wh)
    assert full.shape == (1080, 810)


def test_localize_several_classes_and_by_name(clf: Classifier) -> None:
    dets = clf.localize(CHELSEA, top_k=3)
    assert len(dets) == 3
    assert dets.labels == clf.classify(CHELSEA, top_k=3).labels
    assert dets.data["heatmap"].shape[0] == 3
    w, h = dets.image_size_wh  # type: ignore[misc]
    assert (dets.xyxy[:, [0, 1]] >= 0).all()
    assert (dets.xyxy[:, 2] <= w).all()
    assert (dets.xyxy[:, 3] <= h).all()
    named = clf.localize(CHELSEA, class_id=["espresso", 281])
    assert named.class_id.tolist() == [967, 281]
    assert named.labels == ["espresso", "tabby"]
    assert named.confidence[1] > named.confidence[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_id": 1000}, r"class_id must be in \[0, 999\]"),
        ({"class_id": "not a class"}, "unknown class name 'not a class'"),
        ({"class_id": []}, "at least one class"),
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 1.5}, "threshold must be in"),
        ({"top_k": 0}, "top_k must be a positive int"),
    ],
)
def test_localize_bad_arguments(clf: Classifier, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        clf.localize(COFFEE, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- other architectures
def test_resnet50_loads_a_weights_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torchvision.models.resnet50(num_classes=10)
    path = tmp_path / "my-resnet.pth"
    torch.save({"state_dict": net.state_dict()}, path)  # wrapped checkpoints are accepted too
    clf = Classifier("resnet50", weights=path, names=[f"class{i}" for i in range(10)])
    assert clf.architecture == "resnet50"
    assert clf.num_classes == 10
    loaded = clf.model.state_dict()
    assert loaded.keys() == net.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
    result = clf.classify(COFFEE, top_k=3)
    assert len(result) == 3
    assert all(label.startswith("class") for label in result.labels)


def test_architecture_from_torchvision_style_file_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=5)
    path = tmp_path / "mobilenet_v3_small-0123abcd.pth"
    torch.save(net.state_dict(), path)
    clf = Classifier(path)
    assert clf.architecture == "mobilenet_v3_small"
    assert clf.num_classes == 5
    assert clf.names == {}
    assert clf.classify(COFFEE, top_k=2).labels[0] in {str(i) for i in range(5)}
    dets = clf.localize(COFFEE)  # the CAM layer is found for other architectures too
    assert len(dets) == 1
    assert dets.data["heatmap"].shape == (1, 256, 384)


def test_plain_module_is_accepted() -> None:
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=3)
    clf = Classifier(net, names={0: "a", 1: "b", 2: "c"})
    assert clf.framework == "torch"
    assert clf.num_classes == 3
    assert set(clf.classify(COFFEE).labels) == {"a", "b", "c"}


def test_unknown_architecture_names_both(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"resnet51.*mobilenet_v2-b0353104\.pth"):
        Classifier("resnet51", weights=MOBILENET_FILE)


def test_weights_that_do_not_fit_name_both() -> None:
    with pytest.raises(ModelLoadError) as info:
        Classifier("resnet50", weights=MOBILENET_FILE)
    message = str(info.value)
    assert "resnet50" in message
    assert "mobilenet_v2-b0353104.pth" in message
    assert "does not fit" in message


@pytest.mark.parametrize(
    ("model", "weights", "match"),
    [
        ("no-such-classifier", None, "unknown classifier 'no-such-classifier'.*mobilenet_v2-imagenet"),
        ("resnet50", None, "architecture 'resnet50' needs a weights file"),
        ("resnet50", "missing.pth", "weights file 'missing.pth' for architecture 'resnet50' does not exist"),
    ],
)
def test_bad_model_references(model: str, weights: str | None, match: str) -> None:
    with pytest.raises(ModelLoadError, match=match):
        Classifier(model, weights=weights)


def test_garbage_weights_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match=r"resnet18.*garbage\.pth|garbage\.pth.*resnet18"):
        Classifier("resnet18", weights=bad)
    with pytest.raises(ModelLoadError, match=r"garbage\.pth"):
        Classifier(bad)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(InvalidInputError, match="device must be a torch device"):
        Classifier(device="warp-drive")
    with pytest.raises(InvalidInputError, match=r"model must be None, a name, a path or a torch\.nn\.Module"):
        Classifier(3.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="resize_size must be a positive int"):
        Preprocess(0, 224)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="device 'cuda' is not available here"):
            Classifier(device="cuda")


# ---------------------------------------------------------------------------- Ultralytics -cls
@pytest.fixture(scope="module")
def yolo_cls_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cls") / "tiny-cls.pt"
    YOLO("yolov8n-cls.yaml").save(path)
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["train_args"] = {"task": "classify", "imgsz": 160}  # as a trained -cls.pt records it
    torch.save(checkpoint, path)
    return path


def test_ultralytics_cls_checkpoint_matches_native_predict(yolo_cls_checkpoint: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    clf = Classifier(yolo_cls_checkpoint)
    assert clf.framework == "ultralytics"
    assert clf.num_classes == 1000
    assert clf.preprocess == Preprocess(160, 160, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    native = YOLO(str(yolo_cls_checkpoint)).predict(str(BUS), imgsz=160, verbose=False, project=str(tmp_path))[0]
    expected = native.probs.data.cpu().numpy()
    got = clf.predict_proba([load_image(BUS)])[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    dets = clf.localize(BUS)
    assert len(dets) == 1
    assert dets.data["heatmap"].shape[1:] == (213, 160)


def test_detection_checkpoint_is_refused(tmp_path: Path) -> None:
    from ultralytics import YOLO

    path = tmp_path / "det.pt"
    YOLO("yolov8n.yaml").save(path)
    with pytest.raises(ModelLoadError, match="'detect' checkpoint, not a classifier"):
        Classifier(path)
