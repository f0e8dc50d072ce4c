"""Pascal VOC, LabelMe and CVAT 1.1: golden samples, round trips, what each format cannot hold, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from detectkit import AnnotationParseError, Detections, InvalidInputError
from detectkit.dataset import Category, Dataset, ImageRecord
from detectkit.formats import coco, convert, cvat, detect_format, labelme, read, voc

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


# ------------------------------------------------------------------------------------------ VOC
def test_voc_sample_reads_boxes_flags_and_splits() -> None:
    ds = voc.read(DATA / "voc_sample")
    assert ds.names == {0: "dog", 1: "person"}
    assert [(r.file_name, r.width, r.height, r.split) for r in ds.images] == [
        ("000001.jpg", 353, 500, "train"),
        ("000002.jpg", 335, 500, "val"),
    ]
    dets = ds.annotations[1]
    np.testing.assert_allclose(ds.boxes(1), [[48, 240, 195, 371], [8.5, 12, 352, 498.25]])
    assert dets.labels == ["dog", "person"]
    assert dets.data["difficult"].tolist() == [0, 1]
    assert dets.data["truncated"].tolist() == [1, 0]
    assert dets.data["occluded"].tolist() == [0, 1]
    assert dets.data["pose"].tolist() == ["Left", "Unspecified"]
    assert len(ds.annotations[2]) == 0


def test_voc_round_trip_is_lossless(tmp_path: Path) -> None:
    ds = voc.read(DATA / "voc_sample")
    voc.write(ds, tmp_path / "out")
    back = voc.read(tmp_path / "out")
    assert back.names == ds.names
    assert [(r.file_name, r.width, r.height, r.split) for r in back.images] == [
        (r.file_name, r.width, r.height, r.split) for r in ds.images
    ]
    for rec in ds.images:
        np.testing.assert_array_equal(back.boxes(rec.id), ds.boxes(rec.id))  # exact: no rounding, no truncation
        for key in ("difficult", "truncated", "occluded", "pose"):
            assert back.annotations[rec.id].data[key].tolist() == ds.annotations[rec.id].data[key].tolist()
    text = (tmp_path / "out" / "Annotations" / "000001.xml").read_text()
    assert "<xmin>8.5</xmin>" in text
    assert "<ymax>498.25</ymax>" in text


def test_voc_reports_crowd_and_masks(tmp_path: Path) -> None:
    summary = convert(DATA / "coco_golden.json", tmp_path / "voc", to="voc")
    assert summary.dropped == {"crowd": 1}
    assert any("segmentation" in n for n in summary.notes)
    back = voc.read(tmp_path / "voc")
    assert back.num_objects == 4
    assert len(back) == 3


def test_voc_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<annotation>\n  <filename>a.jpg</filename>\n  <object>\n</annotation>\n")
    with pytest.raises(AnnotationParseError) as info:
        voc.read(tmp_path)
    assert info.value.path == tmp_path / "a.xml"
    assert info.value.line == 4
    assert "none of the 1 VOC annotation files could be read" in str(info.value)
    with pytest.raises(AnnotationParseError) as info:
        voc.read(tmp_path / "a.xml")  # one file given: its own error
    assert info.value.path == tmp_path / "a.xml"
    assert info.value.line == 4


_GOOD_XML = (
    "<annotation><filename>{0}.jpg</filename><size><width>10</width><height>10</height></size>"
    "<object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object>"
    "</annotation>"
)


def test_voc_folder_with_unreadable_files_reads_the_rest_and_reports_them(tmp_path: Path) -> None:
    for stem in ("a", "c"):
        (tmp_path / f"{stem}.xml").write_text(_GOOD_XML.format(stem))
    (tmp_path / "b.xml").write_text("not XML at all\n")
    (tmp_path / "d.xml").write_text("<annotation>\n<object>\n</annotation>")
    with pytest.warns(UserWarning, match="skipped 2 bad record"):
        ds = voc.read(tmp_path)
    assert [r.file_name for r in ds.images] == ["a.jpg", "c.jpg"]
    assert ds.num_objects == 2
    errors = [(Path(i.path).name, i.line) for i in ds.issues if i.severity == "error"]
    assert errors == [("b.xml", 1), ("d.xml", 3)]
    with pytest.raises(AnnotationParseError) as info:
        voc.read(tmp_path, strict=True)
    assert info.value.path == tmp_path / "b.xml"
    assert info.value.line == 1


def test_voc_bad_object_is_skipped_or_strict(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
        "<object><name>x</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object>"
        "<object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object>"
        "</annotation>"
    )
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        ds = voc.read(tmp_path)
    assert ds.num_objects == 1
    assert ds.issues[0].record == "object[0]"
    with pytest.raises(AnnotationParseError, match="xmin <= xmax"):
        voc.read(tmp_path, strict=True)


def test_voc_file_names_cannot_escape(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(
        "<annotation><filename>../../x.jpg</filename><size><width>10</width><height>10</height></size></annotation>"
    )
    with pytest.raises(AnnotationParseError, match="inside the dataset folder"):
        voc.read(tmp_path, strict=True)


# ------------------------------------------------------------------------------------------ LabelMe
def test_labelme_sample_reads_rectangles_grouped_polygons_and_skips_lines() -> None:
    ds = labelme.read(DATA / "labelme_sample")
    assert ds.names == {0: "cat", 1: "leaf"}
    assert ds.images[0].file_name == "cat.jpg"
    assert ds.images[0].image_size_wh == (160, 120)
    dets = ds.annotations[1]
    assert dets.labels == ["cat", "leaf"]
    np.testing.assert_allclose(ds.boxes(1), [[10.5, 20, 110.25, 90], [1, 1, 30, 30]])
    assert dets.data["segmentation"][1] == [[1, 1, 9, 1, 9, 9], [20, 20, 30, 20, 30, 30, 20, 30]]  # one object
    assert dets.data["attributes"][0] == {"flags": {"blurry": True}, "description": "sleeping"}
    assert [i.severity for i in ds.issues] == ["warning"]  # the line shape, reported
    assert "line" in ds.issues[0].message


def test_labelme_round_trip(tmp_path: Path) -> None:
    ds = labelme.read(DATA / "labelme_sample")
    labelme.write(ds, tmp_path / "out")
    back = labelme.read(tmp_path / "out")
    np.testing.assert_array_equal(back.boxes(1), ds.boxes(1))
    assert back.annotations[1].data["segmentation"].tolist() == ds.annotations[1].data["segmentation"].tolist()
    assert back.annotations[1].data["attributes"].tolist() == ds.annotations[1].data["attributes"].tolist()


def test_labelme_from_coco_reports_crowd_and_rle(tmp_path: Path) -> None:
    summary = convert(DATA / "coco_golden.json", tmp_path / "lm", to="labelme")
    assert summary.dropped == {"crowd": 1, "RLE-mask": 1}
    back = labelme.read(tmp_path / "lm")
    assert len(back) == 3
    assert back.num_objects == 3
    assert {r.file_name for r in back.images} == {"street/crème brûlée.jpg", "empty.png", "wide.jpg"}


def test_labelme_malformed_json(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"shapes": [\n{"label": }]}')
    with pytest.raises(AnnotationParseError) as info:
        labelme.read(tmp_path / "a.json")
    assert info.value.line == 2


def test_labelme_folder_with_an_unreadable_file_reads_the_rest(tmp_path: Path) -> None:
    good = {"shapes": [{"label": "x", "points": [[1, 1], [4, 5]], "shape_type": "rectangle"}], "imagePath": "g.jpg"}
    (tmp_path / "g.json").write_text(json.dumps({**good, "imageHeight": 10, "imageWidth": 10}))
    (tmp_path / "a.json").write_text('{"shapes": [\n{"label": }]}')
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        ds = labelme.read(tmp_path)
    assert [r.file_name for r in ds.images] == ["g.jpg"]
    assert ds.num_objects == 1
    assert [(Path(i.path).name, i.line) for i in ds.issues if i.severity == "error"] == [("a.json", 2)]
    with pytest.raises(AnnotationParseError, match="invalid JSON") as info:
        labelme.read(tmp_path, strict=True)
    assert info.value.path == tmp_path / "a.json"
    (tmp_path / "g.json").unlink()
    with pytest.raises(AnnotationParseError, match="none of the 1 LabelMe annotation files") as info:
        labelme.read(tmp_path)
    assert info.value.line == 2


# ------------------------------------------------------------------------------------------ CVAT
def test_cvat_sample_reads_boxes_polygons_and_attributes() -> None:
    ds = cvat.read(DATA / "cvat_sample.xml")
    assert ds.names == {0: "car", 1: "road", 2: "unused"}
    assert [(r.id, r.file_name) for r in ds.images] == [(0, "frames/f0.png"), (5, "frames/f1.png")]
    dets = ds.annotations[0]
    np.testing.assert_allclose(ds.boxes(0), [[10.5, 20, 110, 90.75], [0, 300, 640, 360]])
    assert dets.data["attributes"][0] == {"color": "red & white"}
    assert dets.data["occluded"].tolist() == [1, 0]
    assert dets.data["segmentation"][1] == [[0, 300, 640, 300, 640, 360, 0, 360]]
    assert any("polyline" in i.message for i in ds.issues)


def test_cvat_round_trip(tmp_path: Path) -> None:
    ds = cvat.read(DATA / "cvat_sample.xml")
    cvat.write(ds, tmp_path / "a.xml")
    back = cvat.read(tmp_path / "a.xml")
    assert back.names == ds.names
    assert [(r.id, r.file_name, r.width, r.height) for r in back.images] == [
        (r.id, r.file_name, r.width, r.height) for r in ds.images
    ]
    np.testing.assert_array_equal(back.boxes(0), ds.boxes(0))
    for key in ("attributes", "occluded", "segmentation"):
        assert back.annotations[0].data[key].tolist() == ds.annotations[0].data[key].tolist()


def test_cvat_multi_part_polygons_survive(tmp_path: Path) -> None:
    src = coco.read(DATA / "coco_golden.json")
    summary = cvat.write(src, tmp_path / "a.xml")
    assert summary.dropped == {"crowd": 1, "RLE-mask": 1}
    back = cvat.read(tmp_path / "a.xml")
    assert back.annotations[11].data["segmentation"][0] == src.annotations[11].data["segmentation"][0]


def test_cvat_malformed(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text('<annotations>\n<image id="0" name="a.png" width="4" height="4">\n</annotations>')
    with pytest.raises(AnnotationParseError) as info:
        cvat.read(tmp_path / "a.xml")
    assert info.value.line == 3
    (tmp_path / "b.xml").write_text(
        '<annotations><image id="0" name="a.png" width="4" height="4">'
        '<box label="x" xtl="3" ytl="0" xbr="1" ybr="2"/></image></annotations>'
    )
    with pytest.raises(AnnotationParseError, match="xtl <= xbr") as info:
        cvat.read(tmp_path / "b.xml", strict=True)
    assert info.value.record == "image[0]/box[0]"


# ------------------------------------------------------------------------------------------ detection
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (DATA / "coco_golden.json", "coco"),
        (DATA / "yolo_golden", "yolo"),
        (DATA / "yolo_golden" / "data.yaml", "yolo"),
        (DATA / "voc_sample", "voc"),
        (DATA / "voc_sample" / "Annotations" / "000001.xml", "voc"),
        (DATA / "labelme_sample", "labelme"),
        (DATA / "labelme_sample" / "cat.json", "labelme"),
        (DATA / "cvat_sample.xml", "cvat"),
    ],
)
def test_detect_format(path: Path, expected: str) -> None:
    assert detect_format(path) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(read(path), Dataset)


def test_detect_format_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        detect_format(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(InvalidInputError, match="cannot tell"):
        detect_format(tmp_path / "x.bin")


@pytest.mark.parametrize("target", ["coco", "yolo", "voc", "labelme", "cvat"])
def test_every_format_pair_keeps_boxes_and_names(tmp_path: Path, target: str) -> None:
    src = Dataset(
        categories=[Category(0, "a"), Category(1, "b")],
        images=[ImageRecord(1, "x.jpg", 200, 100), ImageRecord(2, "y.jpg", 50, 50)],
        annotations={1: Detections(xyxy=[[1.5, 2, 30, 40], [100, 50, 199, 99]], class_id=[1, 0])},
    )
    out = tmp_path / ("out.json" if target == "coco" else "out.xml" if target == "cvat" else "out")
    src.write(out, format=target)
    back = read(out)
    assert len(back) == 2
    assert sorted(back.names.values()) == ["a", "b"]
    got = back.annotations[back.images[0].id]
    assert got.labels == ["b", "a"]
    np.testing.assert_allclose(back.boxes(back.images[0].id), src.boxes(1), atol=1e-3)


def test_labelme_writes_json_beside_images(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((10, 20, 3), np.uint8))
    ds = Dataset(
        categories=[Category(0, "a")],
        images=[ImageRecord(1, "x.jpg", 20, 10, path=tmp_path / "x.jpg")],
        annotations={1: Detections(xyxy=[[1, 1, 5, 5]])},
    )
    summary = labelme.write(ds, tmp_path / "lm", copy_images=True)
    assert summary.images_linked == 1
    assert (tmp_path / "lm" / "x.jpg").is_file()
    assert json.loads((tmp_path / "lm" / "x.json").read_text())["imagePath"] == "x.jpg"
    assert labelme.read(tmp_path / "lm").images[0].path is not None


def test_roboflow_voc_export_layout_is_voc_with_folder_splits(tmp_path: Path) -> None:
    """Roboflow's "Pascal VOC" export: README .txt files beside train/ valid/ test/, each with
    its images and XML side by side, no ImageSets. It was detected as YOLO (by the README .txt)
    and read as empty images."""
    from PIL import Image

    from detectkit.formats import convert, detect_format
    from detectkit.formats import read as read_any

    root = tmp_path / "export"
    for split in ("train", "valid", "test"):
        (root / split).mkdir(parents=True)
        stem = f"img_{split}_jpg.rf.0123abcd"
        Image.new("RGB", (64, 48)).save(root / split / f"{stem}.jpg")
        (root / split / f"{stem}.xml").write_text(
            f"<annotation><folder></folder><filename>{stem}.jpg</filename><path>{stem}.jpg</path>"
            "<source><database>roboflow.com</database></source><size><width>64</width><height>48</height>"
            "<depth>3</depth></size><segmented>0</segmented><object><name>cat</name><pose>Unspecified</pose>"
            "<truncated>0</truncated><difficult>0</difficult><occluded>0</occluded>"
            "<bndbox><xmin>4</xmin><xmax>24</xmax><ymin>5</ymin><ymax>15</ymax></bndbox></object></annotation>"
        )
    (root / "README.roboflow.txt").write_text("exported via roboflow.com\n")
    assert detect_format(root) == "voc"
    ds = read_any(root)
    assert [(r.split, r.file_name) for r in ds.images] == [
        ("test", "img_test_jpg.rf.0123abcd.jpg"),
        ("train", "img_train_jpg.rf.0123abcd.jpg"),
        ("val", "img_valid_jpg.rf.0123abcd.jpg"),
    ]
    assert all(r.path is not None and r.path.is_file() for r in ds.images)
    assert ds.num_objects == 3
    convert(root, tmp_path / "yolo", to="yolo")
    labels = sorted(p.relative_to(tmp_path / "yolo").as_posix() for p in (tmp_path / "yolo").rglob("*.txt"))
    assert labels == [
        "classes.txt",
        "labels/test/img_test_jpg.rf.0123abcd.txt",
        "labels/train/img_train_jpg.rf.0123abcd.txt",
        "labels/val/img_valid_jpg.rf.0123abcd.txt",
    ]


def test_voc_images_folder_beside_annotations(tmp_path: Path) -> None:
    """Label Studio's "Pascal VOC" export puts the pictures in images/ beside Annotations/."""
    from PIL import Image

    (tmp_path / "Annotations").mkdir()
    (tmp_path / "images").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "images" / "a.jpg")
    (tmp_path / "Annotations" / "a.xml").write_text(_GOOD_XML.format("a"))
    ds = voc.read(tmp_path)
    assert ds.images[0].path == tmp_path / "images" / "a.jpg"
