"""VOC / CVAT / LabelMe readers on fixtures modelled on real exports (tests/data/formats/real/)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from detectkit.formats import cvat

REAL = Path(__file__).resolve().parents[1] / "data" / "formats" / "real"


def _read_quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------ CVAT for video
def test_cvat_video_tracks_become_per_frame_boxes_with_track_ids() -> None:
    ds = _read_quiet(cvat.read, REAL / "cvat_video.xml")
    # start 10, stop 19, step 3: frames 10, 13, 16, 19 (ids are frame numbers)
    assert [r.id for r in ds.images] == [10, 13, 16, 19]
    assert all((r.width, r.height) == (25, 20) for r in ds.images)
    assert ds.names == {0: "klhg", 1: "II"}
    d10 = ds.detections(10)
    order = np.argsort(d10.tracker_id)
    assert d10.tracker_id[order].tolist() == [0, 1]
    np.testing.assert_allclose(d10.xyxy[order], [[3, 4, 10, 5], [1, 1, 5, 5]])
    assert [d10.data["occluded"][i] for i in order] == [1, 0]
    assert d10.data["attributes"][order[1]] == {"hgl": "hgkf"}
    # frame 13: track 0 is outside; track 1 is interpolated between its keyframes 10 and 16
    d13 = ds.detections(13)
    assert d13.tracker_id.tolist() == [1]
    np.testing.assert_allclose(d13.xyxy, [[4, 1, 8, 5]])
    d16 = ds.detections(16)
    assert d16.tracker_id.tolist() == [1]
    np.testing.assert_allclose(d16.xyxy, [[7, 1, 11, 5]])
    assert len(ds.detections(19)) == 0
    # the polyline track cannot be held: reported, not silently dropped
    assert any("polyline" in i.message for i in ds.issues)


def test_cvat_video_round_trip_keeps_tracks(tmp_path: Path) -> None:
    ds = _read_quiet(cvat.read, REAL / "cvat_video.xml")
    cvat.write(ds, tmp_path / "v.xml")
    text = (tmp_path / "v.xml").read_text()
    assert "<track " in text
    assert "<image " not in text
    back = cvat.read(tmp_path / "v.xml")
    assert [r.id for r in back.images] == [10, 13, 16, 19]
    for fid in (10, 13, 16, 19):
        a, b = ds.detections(fid), back.detections(fid)
        oa, ob = np.argsort(a.tracker_id), np.argsort(b.tracker_id)
        assert a.tracker_id[oa].tolist() == b.tracker_id[ob].tolist()
        np.testing.assert_allclose(a.xyxy[oa], b.xyxy[ob])
        assert [a.labels[i] for i in oa] == [b.labels[i] for i in ob]


# ------------------------------------------------------------------------- CVAT project export
def test_cvat_project_subsets_are_splits_with_per_subset_ids(tmp_path: Path) -> None:
    ds = _read_quiet(cvat.read, REAL / "cvat_project.xml")
    assert [(r.file_name, r.split) for r in ds.images] == [
        ("img0.jpg", "test"),
        ("img1.jpg", "test"),
        ("img0.jpg", "train"),
        ("img1.jpg", "train"),
    ]
    assert len({r.id for r in ds.images}) == 4
    assert not [i for i in ds.issues if "duplicate" in i.message]
    test0, train0 = ds.images[0], ds.images[2]
    assert ds.detections(test0.id).labels == ["label1"]
    assert ds.detections(test0.id).data["attributes"][0] == {"a1": "true", "a2": "v3"}
    assert ds.detections(train0.id).labels == ["label2"]
    np.testing.assert_allclose(ds.boxes(train0.id), [[1, 2, 5, 6]])
    # written back: one image per subset entry, ids again per subset, subset names as given
    cvat.write(ds, tmp_path / "p.xml")
    text = (tmp_path / "p.xml").read_text()
    assert 'subset="Train"' in text
    assert 'subset="Test"' in text
    back = cvat.read(tmp_path / "p.xml")
    assert [(r.file_name, r.split) for r in back.images] == [(r.file_name, r.split) for r in ds.images]
    assert [len(d) for _, d in back] == [len(d) for _, d in ds]


def test_cvat_duplicate_id_within_one_subset_is_still_reported(tmp_path: Path) -> None:
    text = (
        (REAL / "cvat_project.xml")
        .read_text()
        .replace('id="1" name="img1.jpg" subset="Train"', 'id="0" name="img1.jpg" subset="Train"')
    )
    (tmp_path / "a.xml").write_text(text)
    ds = _read_quiet(cvat.read, tmp_path / "a.xml")
    assert len(ds.images) == 3
    assert any("duplicate image id 0" in i.message for i in ds.issues)


def test_cvat_project_same_file_name_in_two_subsets_validates(tmp_path: Path) -> None:
    from PIL import Image

    for sub, name, size in (
        ("Test", "img0.jpg", 8),
        ("Test", "img1.jpg", 10),
        ("Train", "img0.jpg", 8),
        ("Train", "img1.jpg", 10),
    ):
        (tmp_path / "images" / sub).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size)).save(tmp_path / "images" / sub / name)
    (tmp_path / "annotations.xml").write_text((REAL / "cvat_project.xml").read_text())
    ds = _read_quiet(cvat.read, tmp_path)
    assert all(
        r.path is not None and r.path.parent.name == {"test": "Test", "train": "Train"}[str(r.split)] for r in ds.images
    )
    assert [i for i in ds.validate() if i.severity == "error"] == []


# ------------------------------------------------------------------------------------- VOC 2012
def test_voc_parts_and_actions_are_carried_and_written_back(tmp_path: Path) -> None:
    from detectkit.formats import voc

    ds = _read_quiet(voc.read, REAL / "voc2012")
    assert [r.file_name for r in ds.images] == ["2007_000001.jpg"]
    d = ds.detections(ds.images[0].id)
    assert d.labels == ["cat", "person"]
    assert d.data["parts"][0] is None
    assert d.data["parts"][1] == [{"name": "head", "bndbox": [5.5, 1.0, 8.0, 3.0]}]
    assert d.data["actions"][1] == {"jumping": 1, "phoning": 0, "other": 1}
    voc.write(ds, tmp_path / "out")
    back = voc.read(tmp_path / "out")
    b = back.detections(back.images[0].id)
    assert b.data["parts"][1] == d.data["parts"][1]
    assert b.data["actions"][1] == d.data["actions"][1]
    assert b.data["occluded"].tolist() == [1, 0]


def test_voc_missing_size_and_missing_xml_are_reported() -> None:
    from detectkit.formats import voc

    ds = _read_quiet(voc.read, REAL / "voc2012")
    messages = [i.message for i in ds.issues]
    assert any("no <size>" in m for m in messages)
    assert any("2007_000003" in m and "no annotation file" in m for m in messages)


def test_voc_where_every_file_fails_is_an_error_not_an_empty_dataset(tmp_path: Path) -> None:
    from detectkit.errors import AnnotationParseError
    from detectkit.formats import voc

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.xml").write_text((REAL / "voc2012" / "Annotations" / "2007_000002.xml").read_text())
    with pytest.raises(AnnotationParseError, match="no <size>"):
        _read_quiet(voc.read, tmp_path / "a")


def test_cli_convert_voc_without_sizes_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from detectkit.cli import main

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.xml").write_text((REAL / "voc2012" / "Annotations" / "2007_000002.xml").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["convert", str(tmp_path / "a"), str(tmp_path / "o.json"), "--to", "coco"])
    assert rc != 0
    assert not (tmp_path / "o.json").exists()
    assert "Traceback" not in capsys.readouterr().err


# --------------------------------------------------------------------------- LabelMe embedded
def test_labelme_embedded_image_is_decoded(tmp_path: Path) -> None:
    from detectkit.formats import labelme

    ds = _read_quiet(labelme.read, REAL / "labelme_embedded")
    (rec,) = ds.images
    assert rec.file_name == "embedded.png"
    assert (rec.width, rec.height) == (8, 6)
    img = ds.load_image(rec.id)
    assert img.shape == (6, 8, 3)
    assert img[0, 0].tolist() == [30, 30, 200]  # BGR of the embedded red PNG
    assert ds.detections(rec.id).labels == ["square", "shape"]


def test_labelme_to_labelme_never_overwrites_its_own_annotation(tmp_path: Path) -> None:
    import json

    from detectkit.formats import labelme

    ds = _read_quiet(labelme.read, REAL / "labelme_embedded")
    for copy in (False, True):
        out = tmp_path / f"out{copy}"
        labelme.write(ds, out, copy_images=copy)
        jsons = sorted(j for j in out.rglob("*.json") if not j.name.startswith("."))  # not the class-order sidecar
        assert [j.name for j in jsons] == ["embedded.json"]
        doc = json.loads(jsons[0].read_text())
        assert [s["label"] for s in doc["shapes"]] == ["square", "shape"]
        assert doc["imagePath"] == "embedded.png"
        assert (out / "embedded.png").is_file() or doc["imageData"]
        back = labelme.read(out)
        assert back.load_image(back.images[0].id).shape == (6, 8, 3)


def test_labelme_image_named_like_an_output_json_is_not_placed(tmp_path: Path) -> None:
    from detectkit.dataset import Category, Dataset, ImageRecord
    from detectkit.formats import labelme

    src = tmp_path / "a.json"
    src.write_text("not an image")
    ds = Dataset(categories=[Category(0, "x")], images=[ImageRecord(1, "a.json", 8, 6, path=src)])
    summary = labelme.write(ds, tmp_path / "out")
    assert (tmp_path / "out" / "a.json").read_text().startswith("{")
    assert any("a.json" in n for n in summary.notes)


def test_labelme_json_imagepath_without_imagedata_is_skipped_with_a_message(tmp_path: Path) -> None:
    import json

    from detectkit.formats import labelme

    doc = json.loads((REAL / "labelme_embedded" / "embedded.json").read_text())
    doc["imageData"] = None
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "embedded.json").write_text(json.dumps(doc))
    (tmp_path / "lm" / "ok.json").write_text(json.dumps({**doc, "imagePath": "ok.jpg"}))
    ds = _read_quiet(labelme.read, tmp_path / "lm")
    assert [r.file_name for r in ds.images] == ["ok.jpg"]
    assert any("imageData" in i.message for i in ds.issues)


# ------------------------------------------------------- flags and attributes across formats
def test_voc_flags_reach_cvat_attributes_and_back(tmp_path: Path) -> None:
    from detectkit.formats import convert

    summary = _read_quiet(convert, REAL / "voc2012", tmp_path / "c.xml", to="cvat")
    back = cvat.read(tmp_path / "c.xml")
    d = back.detections(back.images[0].id)
    assert d.data["occluded"].tolist() == [1, 0]
    assert d.data["attributes"][0] == {"pose": "Unspecified", "truncated": "1", "difficult": "0"}
    assert d.data["attributes"][1]["pose"] == "Frontal"
    # parts and actions have no place in CVAT: counted, not silently lost
    assert summary.lost == {"parts": 1, "actions": 1}
    assert "parts" in str(summary)


def test_convert_counts_what_the_target_cannot_hold(tmp_path: Path) -> None:
    from detectkit.formats import convert

    s = _read_quiet(convert, REAL / "voc2012", tmp_path / "y", to="yolo")
    assert "difficult" not in s.lost  # all 0: nothing lost
    assert s.lost["truncated"] == 1
    assert s.lost["occluded"] == 1
    assert s.lost["pose"] == 2
    assert s.to_dict()["lost"] == s.lost
    s = _read_quiet(convert, REAL / "voc2012", tmp_path / "c.json", to="coco")
    assert s.lost == {"parts": 1, "actions": 1}
    s = _read_quiet(convert, REAL / "cvat_video.xml", tmp_path / "v.json", to="coco")
    assert s.lost == {"tracker_id": 4}


def test_labelme_image_flags_are_carried_or_counted(tmp_path: Path) -> None:
    import json

    from detectkit.formats import convert, labelme

    ds = _read_quiet(labelme.read, REAL / "labelme_embedded")
    assert ds.images[0].extra["flags"] == {"blurry": True, "night": False}
    labelme.write(ds, tmp_path / "lm")
    assert json.loads((tmp_path / "lm" / "embedded.json").read_text())["flags"] == {"blurry": True, "night": False}
    s = _read_quiet(convert, REAL / "labelme_embedded", tmp_path / "c.json", to="coco")
    assert json.loads((tmp_path / "c.json").read_text())["images"][0]["flags"] == {"blurry": True, "night": False}
    assert "image flags" not in s.lost
    s = _read_quiet(convert, REAL / "labelme_embedded", tmp_path / "voc", to="voc")
    assert s.lost["image flags"] == 1
    # the shape flag {"occluded": true} survives into CVAT as an attribute
    _read_quiet(convert, REAL / "labelme_embedded", tmp_path / "c.xml", to="cvat")
    back = cvat.read(tmp_path / "c.xml")
    assert back.detections(back.images[0].id).data["attributes"][1] == {"occluded": "True"}


def test_cli_convert_prints_what_the_target_cannot_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from detectkit.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["convert", str(REAL / "voc2012"), str(tmp_path / "y"), "--to", "yolo", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["lost"]["pose"] == 2


def test_cvat_attributes_named_like_voc_fields_fill_them(tmp_path: Path) -> None:
    from detectkit.formats import convert, voc

    _read_quiet(convert, REAL / "voc2012", tmp_path / "c.xml", to="cvat")
    s = _read_quiet(convert, tmp_path / "c.xml", tmp_path / "voc", to="voc")
    assert "attributes" not in s.lost
    back = voc.read(tmp_path / "voc")
    d = back.detections(back.images[0].id)
    assert d.data["truncated"].tolist() == [1, 0]
    assert d.data["occluded"].tolist() == [1, 0]
    assert d.data["pose"].tolist() == ["Unspecified", "Frontal"]
    s = _read_quiet(convert, REAL / "cvat_project.xml", tmp_path / "voc2", to="voc")
    assert s.lost["attributes"] == 1  # a1/a2 of the label1 box have no VOC field
    # the same file names in two subsets: one folder per split, read back with their splits
    back = voc.read(tmp_path / "voc2")
    assert sorted((r.file_name, r.split) for r in back.images) == [
        ("test/img0.jpg", "test"),
        ("test/img1.jpg", "test"),
        ("train/img0.jpg", "train"),
        ("train/img1.jpg", "train"),
    ]


def test_voc_without_size_takes_it_from_the_image_file(tmp_path: Path) -> None:
    import shutil

    from PIL import Image

    from detectkit.formats import voc

    shutil.copytree(REAL / "voc2012", tmp_path / "voc")
    (tmp_path / "voc" / "JPEGImages").mkdir()
    Image.new("RGB", (12, 7)).save(tmp_path / "voc" / "JPEGImages" / "2007_000002.jpg")
    ds = _read_quiet(voc.read, tmp_path / "voc")
    rec = next(r for r in ds.images if r.file_name == "2007_000002.jpg")
    assert (rec.width, rec.height) == (12, 7)
    assert ds.detections(rec.id).labels == ["dog"]


def test_labelme_same_file_name_in_two_splits_gets_a_folder_per_split(tmp_path: Path) -> None:
    from detectkit.formats import convert, labelme

    _read_quiet(convert, REAL / "cvat_project.xml", tmp_path / "lm", to="labelme")
    back = labelme.read(tmp_path / "lm")
    assert sorted(r.file_name for r in back.images) == [
        "test/img0.jpg",
        "test/img1.jpg",
        "train/img0.jpg",
        "train/img1.jpg",
    ]


def test_labelme_folder_where_no_file_can_be_read_is_an_error(tmp_path: Path) -> None:
    import json

    from detectkit.errors import AnnotationParseError
    from detectkit.formats import labelme

    doc = json.loads((REAL / "labelme_embedded" / "embedded.json").read_text())
    doc["imageData"] = None
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "embedded.json").write_text(json.dumps(doc))
    with pytest.raises(AnnotationParseError, match="imageData"):
        _read_quiet(labelme.read, tmp_path / "lm")
