"""The dataset commands: convert, validate, stats, split, merge (exit codes, messages, outputs, start-up cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.cli import main
from detectkit.formats import coco, yolo

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
GOLDEN = DATA / "coco_golden.json"


def _images_for(json_path: Path, folder: Path) -> None:
    for rec in coco.read(json_path).images:
        p = folder / rec.file_name
        p.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(p.suffix, np.zeros((rec.height, rec.width, 3), np.uint8))
        assert ok
        p.write_bytes(buf.tobytes())


def test_convert_coco_to_yolo_without_images_and_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 images, 4 objects as yolo-detect" in out
    assert "1 crowd object(s)" in out
    assert "annotation id 102" in out
    assert main(["convert", str(tmp_path / "y"), str(tmp_path / "back.json"), "--to", "coco"]) == 0
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert [i["id"] for i in back["images"]] == [3, 8, 11]
    assert [c["id"] for c in back["categories"]] == [1, 18, 90]


def test_convert_links_images_so_the_result_converts_back_without_arguments(tmp_path: Path) -> None:
    images = tmp_path / "src_images"
    _images_for(GOLDEN, images)
    assert main(["convert", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo", "--images", str(images), "-q"]) == 0
    linked = tmp_path / "y" / "images" / "street" / "crème brûlée.jpg"
    assert linked.is_symlink()
    (tmp_path / "y" / yolo.META_FILE).unlink()  # even without our metadata, sizes come from the linked images
    assert main(["convert", str(tmp_path / "y"), str(tmp_path / "back.json"), "--to", "coco", "-q"]) == 0
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert sorted(i["file_name"] for i in back["images"]) == ["empty.png", "street/crème brûlée.jpg", "wide.jpg"]
    assert (
        main(
            [
                "convert",
                str(GOLDEN),
                str(tmp_path / "c"),
                "--to",
                "yolo",
                "--images",
                str(images),
                "--copy-images",
                "-q",
            ]
        )
        == 0
    )
    copied = tmp_path / "c" / "images" / "wide.jpg"
    assert copied.is_file()
    assert not copied.is_symlink()


def test_convert_json_summary_and_remap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "convert",
            str(GOLDEN),
            str(tmp_path / "o.json"),
            "--to",
            "coco",
            "--remap",
            "dog=animal",
            "--keep",
            "animal",
            "--json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["objects"] == 2
    out = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(18, "animal")]


def test_malformed_input_gives_one_line_error_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n{"id": 1,,}]}')
    proc = subprocess.run(
        [sys.executable, "-m", "detectkit", "convert", str(bad), str(tmp_path / "y"), "--to", "yolo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert f"{bad}:2: invalid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "y").exists()


def test_bad_record_warns_and_strict_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    doc["annotations"].append({"id": 999, "image_id": 3, "category_id": 1, "bbox": [1, 2]})
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    assert main(["convert", str(src), str(tmp_path / "y"), "--to", "yolo"]) == 0
    err = capsys.readouterr().err
    assert "annotations[5]" in err
    assert "bbox must have 4 numbers" in err
    assert main(["convert", str(src), str(tmp_path / "y2"), "--to", "yolo", "--strict"]) == 1
    assert "annotations[5]" in capsys.readouterr().err
    assert not (tmp_path / "y2").exists()


def test_convert_refuses_to_overwrite_and_never_touches_the_source(tmp_path: Path) -> None:
    before = GOLDEN.read_bytes()
    target = tmp_path / "o.json"
    target.write_text("keep")
    assert main(["convert", str(GOLDEN), str(target), "--to", "coco"]) == 1
    assert target.read_text() == "keep"
    assert main(["convert", str(GOLDEN), str(GOLDEN), "--to", "coco"]) == 1
    assert GOLDEN.read_bytes() == before
    assert main(["convert", str(GOLDEN), str(target), "--to", "coco", "--overwrite", "-q"]) == 0


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["convert", "a", "b", "--to", "pascal"])
    assert info.value.code == 2
    assert main(["convert", str(GOLDEN), "x", "--to", "coco", "--remap", "nonsense"]) == 2


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "imgs"
    _images_for(GOLDEN, images)
    assert main(["validate", str(GOLDEN), "--images", str(images)]) == 0
    assert "OK: 3 images, 5 objects, 0 error(s)" in capsys.readouterr().out
    # now break it: a label line, a box outside the image, a missing image
    main(["convert", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo", "--images", str(images), "-q"])
    label = tmp_path / "y" / "labels" / "wide.txt"
    label.write_text(label.read_text() + "0 0.5 0.5\n0 0.99 0.5 0.2 0.2\n")
    (images / "empty.png").unlink()
    assert main(["validate", str(tmp_path / "y")]) == 1
    out = capsys.readouterr().out
    assert f"{label}:3: error: expected 4 box numbers" in out
    assert f"{label}:4: error: box extends outside the 4000x3000 image" in out
    assert "empty.png: error: image file is missing" in out
    assert "FAILED" in out
    assert main(["validate", str(tmp_path / "y"), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errors"] == 3
    assert {p["line"] for p in payload["problems"]} >= {3, 4}


def test_stats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(GOLDEN)]) == 0
    out = capsys.readouterr().out
    assert "images        3" in out
    assert "empty images  1" in out
    assert "toothbrush" in out
    assert main(["stats", str(GOLDEN), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["classes"]["person"] == {"id": 1, "boxes": 2, "images": 1}
    assert payload["crowd"] == 1


def test_split_yolo_and_coco(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo", "--train", "0.67", "--val", "0.33"]) == 0
    assert "split: train=2, val=1" in capsys.readouterr().out
    ds = yolo.read(tmp_path / "y")
    assert sorted(r.split for r in ds.images) == ["train", "train", "val"]
    assert main(["split", str(GOLDEN), str(tmp_path / "c"), "--train", "0.67", "--val", "0.33", "--seed", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["train.json", "val.json"]
    n = sum(len(coco.read(tmp_path / "c" / f"{s}.json")) for s in ("train", "val"))
    assert n == 3


def test_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["convert", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo", "-q"])
    code = main(
        [
            "merge",
            str(GOLDEN),
            str(tmp_path / "y"),
            str(DATA / "cvat_sample.xml"),
            "-o",
            str(tmp_path / "m.json"),
            "--to",
            "coco",
        ]
    )
    assert code == 0
    merged = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert len(merged["images"]) == 3 + 3 + 2
    names = [c["name"] for c in merged["categories"]]
    assert len(names) == len(set(names))
    assert {"person", "dog", "toothbrush", "car", "road"} <= set(names)
    ids = [a["id"] for a in merged["annotations"]]
    assert len(ids) == len(set(ids))


def test_dataset_commands_start_without_heavy_imports(tmp_path: Path) -> None:
    code = (
        "import sys; from detectkit.cli import main; "
        f"rc = main(['convert', {str(GOLDEN)!r}, {str(tmp_path / 'y')!r}, '--to', 'yolo', '-q']); "
        "heavy = [m for m in ('torch', 'ultralytics', 'supervision', 'cv2', 'matplotlib') if m in sys.modules]; "
        "print(rc, heavy)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert proc.stdout.strip() == "0 []"


def test_images_beside_the_source_are_found_and_linked(tmp_path: Path) -> None:
    import shutil

    shutil.copy(GOLDEN, tmp_path / "instances.json")
    _images_for(GOLDEN, tmp_path / "images")
    assert main(["convert", str(tmp_path / "instances.json"), str(tmp_path / "y"), "--to", "yolo", "-q"]) == 0
    assert (tmp_path / "y" / "images" / "wide.jpg").is_symlink()
    assert main(["validate", str(tmp_path / "y")]) == 0  # every image found and its header matches


def test_roboflow_umbrella_class_is_noted_and_keep_drops_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Roboflow's COCO export lists its project as category 0, the super-category of the others,
    with no boxes: the YOLO convert says so and names the --keep that drops it."""
    import shutil

    from PIL import Image

    root = tmp_path / "export"
    shutil.copytree(GOLDEN.parent / "roboflow_coco", root)
    for split in ("train", "valid"):
        doc = json.loads((root / split / "_annotations.coco.json").read_text(encoding="utf-8"))
        for im in doc["images"]:
            Image.new("RGB", (im["width"], im["height"])).save(root / split / im["file_name"])
    assert main(["convert", str(root), str(tmp_path / "y"), "--to", "yolo"]) == 0
    out = capsys.readouterr().out
    assert "note: class 'pets' has no boxes and is the super-category of the others; drop it with --keep cat,dog" in out
    assert main(["convert", str(root), str(tmp_path / "k"), "--to", "yolo", "--keep", "cat,dog"]) == 0
    assert "super-category" not in capsys.readouterr().out
    assert (tmp_path / "k" / "classes.txt").read_text(encoding="utf-8").split() == ["cat", "dog"]
