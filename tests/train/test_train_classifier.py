"""Classifier fine-tuning, labelled folders/CSVs, reports, augmentation presets and previews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectkit.errors import InvalidInputError
from detectkit.train.augment import classifier_transform, detection_transform
from detectkit.train.classifier import classification_report
from detectkit.train.data import read_labelled


def test_read_labelled_folder_and_csv(colour_folder: Path, tmp_path: Path) -> None:
    data = read_labelled(colour_folder)
    assert data.classes == ("blue", "green", "red")  # sorted, as torchvision's ImageFolder
    assert data.counts().tolist() == [12, 12, 12]
    train, val = data.split(0.25, seed=1)
    assert val.counts().tolist() == [3, 3, 3]
    assert not set(train.paths) & set(val.paths)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n" + "".join(f"{p},{data.classes[c]}\n" for p, c in zip(data.paths, data.labels)))
    again = read_labelled(csv)
    assert again.classes == data.classes
    assert again.labels.tolist() == data.labels.tolist()
    (tmp_path / "bad.csv").write_text("only-one-column\n")
    with pytest.raises(InvalidInputError, match=r"bad.csv:1: expected 'path,label'"):
        read_labelled(tmp_path / "bad.csv")
    with pytest.raises(InvalidInputError, match="no class sub-folders"):
        read_labelled(tmp_path)


def test_classification_report_matches_sklearn() -> None:
    from sklearn.metrics import confusion_matrix, recall_score, top_k_accuracy_score

    rng = np.random.default_rng(0)
    true = rng.integers(0, 6, 200)
    scores = rng.random((200, 6))
    scores[np.arange(200), true] += rng.random(200)  # better than chance
    report = classification_report(true, scores, tuple("abcdef"))
    assert report["confusion"] == confusion_matrix(true, scores.argmax(1)).tolist()
    assert report["top1"] == pytest.approx(float(np.mean(scores.argmax(1) == true)))
    assert report["top5"] == pytest.approx(top_k_accuracy_score(true, scores, k=5))
    recall = recall_score(true, scores.argmax(1), average=None)
    assert list(report["per_class_recall"].values()) == pytest.approx(recall.tolist())


def test_eval_transform_is_the_classifier_preprocessing() -> None:
    import torch

    from detectkit.models.classifier import Classifier, Preprocess

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)
    clf = Classifier(
        torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2)),
        preprocess=Preprocess(73, 64),
    )
    expected = clf._to_tensor(bgr)
    rgb = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)
    got = classifier_transform("none", crop_size=64, resize_size=73)(rgb)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_detection_transform_moves_boxes_with_the_image() -> None:
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    image = tv_tensors.Image(torch.zeros(3, 50, 100, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[10.0, 5.0, 30.0, 25.0]]), format="XYXY", canvas_size=(50, 100))
    flipped = v2.RandomHorizontalFlip(p=1.0)(image, boxes)[1]
    assert flipped.tolist() == [[70.0, 5.0, 90.0, 25.0]]
    torch.manual_seed(0)
    out_image, out_boxes = detection_transform("strong")(image, boxes)
    assert out_image.shape == image.shape
    assert out_boxes.shape[1] == 4
    with pytest.raises(InvalidInputError, match="augment"):
        detection_transform("extreme")


def test_preview_grid_with_boxes(tmp_path: Path) -> None:
    from detectkit.train.preview import preview_grid, save_grid

    img = np.full((80, 120, 3), 90, np.uint8)
    grid = preview_grid(
        [img, img], "light", boxes=[np.array([[10, 10, 50, 40]]), np.zeros((0, 4))], size=48, variants=2
    )
    assert grid.shape == (96, 144, 3)
    assert (grid[:48, :48] == (0, 255, 255)).all(axis=2).any()  # the box is drawn on the original tile
    assert save_grid(grid, tmp_path / "g.jpg").is_file()


@pytest.mark.slow
def test_fine_tune_tiny_folder_reaches_accuracy_and_loads_by_name(colour_folder: Path, tmp_path: Path) -> None:
    from detectkit.image import load_image
    from detectkit.models.classifier import Classifier
    from detectkit.models.user_models import user_entry
    from detectkit.train.classifier import train_classifier

    result = train_classifier(
        colour_folder,
        epochs=4,
        freeze_backbone=3,
        imgsz=64,
        batch=12,
        lr=3e-3,
        val_split=0.25,
        out=tmp_path / "run",
        name="colours",
        threads=1,
    )
    # stated accuracy: ImageNet features separate three colour classes after 3 head-only epochs
    assert result.top1 >= 0.8
    assert result.history[0]["phase"] == "head"
    assert result.history[-1]["phase"] == "all"
    assert result.confusion.sum() == 9
    assert (result.out / "report.json").is_file()
    assert (result.out / "confusion_matrix.png").is_file()
    assert (result.out / "augment_preview.jpg").is_file()
    entry, _ = user_entry("colours")
    assert entry is not None
    assert entry["architecture"] == "mobilenet_v2"
    clf = Classifier("colours")
    assert dict(clf.names) == {0: "blue", 1: "green", 2: "red"}
    assert clf.preprocess.crop_size == 64
    top = clf.classify(load_image(colour_folder / "red" / "00.jpg"), top_k=1)
    assert top.labels == ["red"]


def test_train_classifier_rejects_bad_options(colour_folder: Path) -> None:
    from detectkit.errors import ModelLoadError
    from detectkit.train.classifier import train_classifier

    with pytest.raises(InvalidInputError, match="freeze_backbone"):
        train_classifier(colour_folder, epochs=2, freeze_backbone=3)
    with pytest.raises(InvalidInputError, match="augment"):
        train_classifier(colour_folder, augment="wild")
    with pytest.raises(ModelLoadError, match="no ImageNet weights"):
        train_classifier(colour_folder, arch="resnet18", epochs=1)
