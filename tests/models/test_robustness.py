"""Tests for detectkit.models.robustness (FGSM / PGD in pixel space) and ``detectkit robustness``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import ultralytics

from detectkit.cli import main
from detectkit.errors import InvalidInputError
from detectkit.models.robustness import attack_image, fgsm, jpeg_defence, pgd

ROOT = Path(__file__).resolve().parents[2]
SKIMAGE = Path(skimage.data.__file__).parent
PHOTOS = {  # the shipped MobileNetV2's clean top-1 (weights/manifest.json, sample_photos_top1)
    SKIMAGE / "chelsea.png": "Egyptian cat",
    SKIMAGE / "coffee.png": "espresso",
    Path(ultralytics.ASSETS) / "bus.jpg": "minibus",
}


def test_fgsm_matches_the_closed_form_on_a_linear_loss() -> None:
    """For loss = <w, x> the FGSM image is clip(x + eps * sign(w), 0, 1)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 5, 7, generator=gen)
    w = torch.randn(2, 3, 5, 7, generator=gen)
    adv = fgsm(lambda t: (t * w).sum(), x, 4 / 255)
    assert torch.equal(adv, (x + 4 / 255 * w.sign()).clamp(0, 1))


@pytest.mark.parametrize("eps", [0.0, 1 / 255, 8 / 255, 0.5])
def test_pgd_stays_in_the_ball_and_in_pixel_range(eps: float) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 6, 6, generator=gen)
    w = torch.randn(1, 3, 6, 6, generator=gen)
    adv = pgd(lambda t: (t * w).sum() + (t**2).sum(), x, eps, steps=5)
    assert float((adv - x).abs().max()) <= eps + 1e-6
    assert float(adv.min()) >= 0.0
    assert float(adv.max()) <= 1.0
    if eps == 0:
        assert torch.equal(adv, x)


def test_attack_image_round_trip_and_bad_arguments() -> None:
    img = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    same = attack_image(lambda t: t.sum(), img, attack="pgd", eps=0.0)
    assert np.array_equal(same, img)
    up = attack_image(lambda t: t.sum(), img, attack="fgsm", eps=2 / 255)
    assert np.array_equal(up.astype(int), np.minimum(img.astype(int) + 2, 255))
    with pytest.raises(InvalidInputError, match="attack"):
        attack_image(lambda t: t.sum(), img, attack="cw", eps=0.1)
    with pytest.raises(InvalidInputError, match="eps"):
        pgd(lambda t: t.sum(), torch.zeros(1, 3, 2, 2), eps=2.0)
    with pytest.raises(InvalidInputError, match="steps"):
        pgd(lambda t: t.sum(), torch.zeros(1, 3, 2, 2), eps=0.1, steps=0)
    assert jpeg_defence(img).shape == img.shape


@pytest.mark.slow
def test_pgd_drops_mobilenet_top1_and_eps0_is_clean() -> None:
    from detectkit.models.classifier import Classifier
    from detectkit.models.robustness import classifier_robustness

    clf = Classifier()
    by_name = {v: k for k, v in clf.names.items()}
    images = [cv2.imread(str(p)) for p in PHOTOS]
    labels = [by_name[v] for v in PHOTOS.values()]
    clean = [int(c.class_id[0]) for c in clf.classify_many(images, top_k=1)]
    report, kept = classifier_robustness(clf, images, labels, attack="pgd", eps=(0.0, 8 / 255), steps=3, keep_images=1)
    assert report.values[0] == float(np.mean([c == y for c, y in zip(clean, labels)])) == 1.0
    assert [row["0/255"] for row in report.examples] == [clf.names[c] for c in clean]
    assert report.values[1] < report.values[0]
    assert report.values[1] <= 1 / 3
    assert np.array_equal(kept[0][0], images[0])
    assert np.abs(kept[0][1].astype(int) - images[0].astype(int)).max() <= 8


@pytest.mark.slow
def test_detector_eps0_equals_clean_map50_and_pgd_lowers_it() -> None:
    from detectkit.formats import read
    from detectkit.models.detector import Detector
    from detectkit.models.robustness import detector_robustness

    ds = read(ROOT / "datasets" / "shapes")
    ds = ds.select([r.id for r in ds.images[:2]])
    det = Detector("demo-shapes", conf=0.001)
    clean = det.evaluate(ds).map50
    report, firsts = detector_robustness(det, ds, attack="pgd", eps=(0.0, 8 / 255), steps=2)
    assert report.values[0] == clean
    assert report.values[1] < clean
    assert len(firsts) == 2


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["robustness", "mobilenet_v2-imagenet", str(tmp_path), "--out", str(tmp_path / "o"), "--eps", "x"]) == 2
    assert "--eps" in capsys.readouterr().err
    assert main(["robustness", "mobilenet_v2-imagenet", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_cli_classifier_writes_json_and_plot(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    path = next(iter(PHOTOS))
    (src / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    args = ["robustness", "mobilenet_v2-imagenet", str(src), "--out", str(out), "--eps", "0,8/255", "--steps", "2"]
    code = main([*args, "--defence", "jpeg", "-q"])
    assert code == 0
    doc = json.loads((out / "robustness.json").read_text())
    assert doc["metric"] == "top1"
    assert doc["eps_255"] == [0.0, 8.0]
    assert doc["values"][0] == 1.0
    assert len(doc["defended"]) == 2
    assert cv2.imread(str(out / "robustness.png")) is not None
