"""YOLO read/write: COCO round trips, ids, polygons, bad lines, interop (Ultralytics training, supervision)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectkit import AnnotationParseError, Detections, InvalidInputError
from detectkit.dataset import Category, Dataset, ImageRecord
from detectkit.formats import coco, convert, yolo

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
GOLDEN = DATA / "coco_golden.json"
YOLO_GOLDEN = DATA / "yolo_golden"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    return a[np.lexsort(a.T[::-1])]


def _make_images(ds: Dataset, folder: Path) -> None:
    rng = np.random.default_rng(0)
    for rec in ds.images:
        path = folder / rec.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (rec.height, rec.width, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(path.suffix, img)
        assert ok
        path.write_bytes(buf.tobytes())


def test_coco_to_yolo_matches_the_golden_folder(tmp_path: Path) -> None:
    summary = convert(GOLDEN, tmp_path / "y", to="yolo")
    assert _files(tmp_path / "y") == _files(YOLO_GOLDEN)
    assert (tmp_path / "y" / "images").is_dir()
    assert summary.objects == 4


def test_coco_to_yolo_to_coco_keeps_images_boxes_names_and_ids(tmp_path: Path) -> None:
    src = coco.read(GOLDEN)
    summary = convert(GOLDEN, tmp_path / "y", to="yolo")
    # the crowd object cannot be held by YOLO: reported with where it is, never silently dropped
    assert summary.dropped == {"crowd": 1}
    assert summary.dropped_where["crowd"] == ["street/crème brûlée.jpg (annotation id 102)"]
    assert "crowd" in str(summary)
    convert(tmp_path / "y", tmp_path / "back.json", to="coco")
    back = coco.read(tmp_path / "back.json")
    assert [(r.id, r.file_name, r.width, r.height) for r in back.images] == [
        (r.id, r.file_name, r.width, r.height) for r in src.images
    ]  # every image, the empty one included, with its original id
    assert back.categories == [Category(c.id, c.name, c.supercategory) for c in src.categories]
    for rec, dets in src:
        keep = dets.data["iscrowd"] == 0
        got = back.boxes(rec.id)
        want = src.boxes(rec.id)[keep]
        np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)
        assert back.annotations[rec.id].class_id.tolist() == dets.class_id[keep].tolist()


def test_round_trip_without_recorded_ids_keeps_names_and_starts_at_one(tmp_path: Path) -> None:
    convert(GOLDEN, tmp_path / "y", to="yolo")
    (tmp_path / "y" / yolo.META_FILE).unlink()
    _make_images(coco.read(GOLDEN), tmp_path / "y" / "images")
    convert(tmp_path / "y", tmp_path / "back.json", to="coco")
    out = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(1, "person"), (2, "dog"), (3, "toothbrush")]
    assert len(out["images"]) == 3  # the empty image has a label file and an image file
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in out["images"]}
    assert sizes["wide.jpg"] == (4000, 3000)  # read from the image header


def test_non_contiguous_ids_map_to_contiguous_indices_in_id_order(tmp_path: Path) -> None:
    ds = Dataset(
        categories=[Category(90, "z"), Category(3, "a"), Category(17, "m")],
        images=[ImageRecord(1, "a.jpg", 100, 100)],
        annotations={1: Detections(xyxy=[[0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 30, 30]], class_id=[90, 3, 17])},
    )
    ds.to_yolo(tmp_path / "y")
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    assert [int(line.split()[0]) for line in lines] == [2, 0, 1]
    assert '0: "a"\n  1: "m"\n  2: "z"' in (tmp_path / "y" / "data.yaml").read_text()
    back = yolo.read(tmp_path / "y")
    assert back.names == {3: "a", 17: "m", 90: "z"}
    assert back.annotations[1].class_id.tolist() == [90, 3, 17]


def test_polygons_are_rounded_not_truncated(tmp_path: Path) -> None:
    # 10.99999999 / 100 = 0.1099999999 -> rounds to 0.110000 (truncation would give 0.109999)
    poly = [[10.99999999, 20.0, 50.0, 20.0, 50.0, 60.9999999]]
    ds = Dataset(
        categories=[Category(0, "a")],
        images=[ImageRecord(1, "a.jpg", 100, 100)],
        annotations={1: Detections(xyxy=[[10.99999999, 20, 50, 60.9999999]], data={"segmentation": [poly]})},
    )
    ds.to_yolo(tmp_path / "y", task="segment")
    line = (tmp_path / "y" / "labels" / "a.txt").read_text().split()
    assert line[1] == "0.110000"
    assert line[-1] == "0.610000"
    ds.to_yolo(tmp_path / "d", task="detect")
    assert (tmp_path / "d" / "labels" / "a.txt").read_text().split()[3] == "0.390000"


def test_multi_part_polygons_survive_yolo(tmp_path: Path) -> None:
    src = coco.read(GOLDEN)
    summary = src.to_yolo(tmp_path / "y", task="segment")
    assert any("multi-part" in n for n in summary.notes)
    assert summary.dropped == {"crowd": 1, "RLE-mask": 1}  # RLE cannot be a YOLO polygon: reported
    assert len((tmp_path / "y" / "labels" / "wide.txt").read_text().splitlines()) == 2  # one line per object
    back = yolo.read(tmp_path / "y")
    got = back.annotations[11].data["segmentation"][0]
    want = src.annotations[11].data["segmentation"][0]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-3)


def test_predictions_keep_their_confidence_column(tmp_path: Path) -> None:
    dets = Detections(xyxy=[[0, 0, 10, 10], [5, 5, 20, 20]], confidence=[0.9, 0.25], class_id=[0, 1])
    ds = Dataset.from_predictions([(ImageRecord(1, "a.jpg", 40, 40), dets)], names={0: "a", 1: "b"})
    ds.to_yolo(tmp_path / "y")
    assert len((tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()[0].split()) == 6
    back = yolo.read(tmp_path / "y")
    np.testing.assert_allclose(back.annotations[1].confidence, [0.9, 0.25])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "expected 4 box numbers"),
        ("x 0.5 0.5 0.2 0.2", "expected 'class x y"),
        ("7 0.5 0.5 0.2 0.2", "class 7 is not in names"),
        ("0 0.5 0.5 -0.2 0.2", "negative width"),
        ("0 0.5 nan 0.2 0.2", "finite"),
        ("0 0.1 0.1 0.2 0.1 0.3 0.3 0.4", "even number >= 6"),
    ],
)
def test_bad_label_line_is_skipped_or_raises_when_strict(tmp_path: Path, line: str, message: str) -> None:
    root = tmp_path / "y"
    Dataset(categories=[Category(0, "a")], images=[ImageRecord(1, "a.jpg", 10, 10)]).to_yolo(root)
    label = root / "labels" / "a.txt"
    label.write_text(f"0 0.5 0.5 0.5 0.5\n{line}\n0 0.2 0.2 0.1 0.1\n")
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        ds = yolo.read(root)
    assert ds.num_objects == 2
    issue = ds.issues[0]
    assert (issue.path, issue.line) == (str(label), 2)
    assert message in issue.message
    with pytest.raises(AnnotationParseError, match=message) as info:
        yolo.read(root, strict=True)
    assert info.value.line == 2
    assert info.value.path == label


def test_malformed_data_yaml_is_a_parse_error(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: [a, b\ntrain: images\n")
    with pytest.raises(AnnotationParseError, match="invalid YAML") as info:
        yolo.read(tmp_path)
    assert info.value.line is not None


def test_classes_txt_fallback_and_list_names(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / "images").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "images" / name), np.zeros((20, 40, 3), np.uint8))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    ds = yolo.read(tmp_path)
    assert ds.names == {0: "cat", 1: "dog"}
    assert len(ds) == 2  # b.png has no label file: an empty image, kept
    np.testing.assert_allclose(ds.boxes(ds.images[0].id), [[10, 5, 30, 15]])
    (tmp_path / "data.yaml").write_text("train: images\nval: images\nnames: [x, y]\n")
    assert yolo.read(tmp_path / "data.yaml").names == {0: "x", 1: "y"}


def test_splits_are_written_and_read(tmp_path: Path) -> None:
    src = coco.read(GOLDEN)
    parts = src.split(train=0.5, val=0.5, seed=3)
    records = [r for p in parts.values() for r in p.images]
    merged = Dataset(
        categories=src.categories,
        images=records,
        annotations={r.id: src.annotations[r.id] for r in records},
    )
    merged.to_yolo(tmp_path / "y")
    text = (tmp_path / "y" / "data.yaml").read_text()
    assert "train: images/train" in text
    assert "val: images/val" in text
    back = yolo.read(tmp_path / "y")
    assert {r.id: r.split for r in back.images} == {r.id: r.split for r in records}


def test_obb_lines_are_read_as_rotated_boxes(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.3 0.1 0.3\n")
    cv2.imwrite(str(tmp_path / "labels" / "a.png"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "data.yaml").write_text("names: {0: plane}\ntask: obb\n")
    ds = yolo.read(tmp_path, images=tmp_path / "labels")
    np.testing.assert_allclose(ds.boxes(ds.images[0].id), [[20, 10, 100, 30]])
    assert ds.annotations[ds.images[0].id].data["obb_polygon"].shape == (1, 4, 2)


def test_output_is_atomic_and_refuses_to_clobber(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = coco.read(GOLDEN)
    images = tmp_path / "imgs"
    _make_images(src, images)
    calls = {"n": 0}
    from detectkit.formats import _common

    real = _common.place_file

    def failing(a: str, b: str, *, copy: bool) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(a, b, copy=copy)

    monkeypatch.setattr(_common, "place_file", failing)
    with pytest.raises(OSError, match="disk full"):
        src.to_yolo(tmp_path / "out", images=images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]  # nothing half-written, no temp folder
    monkeypatch.undo()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not empty"):
        src.to_yolo(tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"
    src.to_yolo(tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "keep.txt").exists()


def test_label_file_collisions_are_refused(tmp_path: Path) -> None:
    ds = Dataset(categories=[], images=[ImageRecord(1, "a.jpg", 4, 4), ImageRecord(2, "a.png", 4, 4)])
    with pytest.raises(InvalidInputError, match="share the label file"):
        ds.to_yolo(tmp_path / "y")
    assert not (tmp_path / "y").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
    raw=st.lists(st.tuples(*[st.floats(0, 1, allow_nan=False)] * 4, st.integers(0, 2)), max_size=12),
)
def test_write_read_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, size: tuple[int, int], raw: list
) -> None:
    w, h = size
    boxes = np.array([[min(a, b) * w, min(c, d) * h, max(a, b) * w, max(c, d) * h] for a, b, c, d, _ in raw]).reshape(
        -1, 4
    )
    ds = Dataset(
        categories=[Category(i, f"c{i}") for i in range(3)],
        images=[ImageRecord(1, "a.jpg", w, h)],
        annotations={1: Detections(xyxy=boxes, class_id=[k for *_, k in raw])},
    )
    out = tmp_path_factory.mktemp("y") / "y"
    ds.to_yolo(out)
    back = yolo.read(out)
    np.testing.assert_allclose(back.boxes(1), ds.boxes(1), atol=1e-3, rtol=0)
    assert back.annotations[1].class_id.tolist() == ds.annotations[1].class_id.tolist()


def test_supervision_loads_our_yolo_with_the_same_boxes(tmp_path: Path) -> None:

    import supervision as sv

    src = coco.read(GOLDEN)
    # supervision lists one flat image folder: use flat file names
    src = src.with_images([r._replace(file_name=Path(r.file_name).name) for r in src.images])
    _make_images(src, tmp_path / "imgs")
    src.to_yolo(tmp_path / "y", images=tmp_path / "imgs")
    sds = sv.DetectionDataset.from_yolo(
        images_directory_path=str(tmp_path / "y" / "images"),
        annotations_directory_path=str(tmp_path / "y" / "labels"),
        data_yaml_path=str(tmp_path / "y" / "data.yaml"),
    )
    assert len(sds) == 3
    by_name = {Path(p).name: d for p, _, d in sds}
    for rec, dets in src:
        keep = dets.data["iscrowd"] == 0
        np.testing.assert_allclose(_rows(by_name[Path(rec.file_name).name].xyxy), _rows(dets.xyxy[keep]), atol=1e-2)
    assert sds.classes == ["person", "dog", "toothbrush"]


@pytest.mark.slow
def test_ultralytics_trains_one_epoch_on_a_dataset_we_wrote(tmp_path: Path) -> None:
    from ultralytics import YOLO

    rng = np.random.default_rng(0)
    images = tmp_path / "imgs"
    records, annotations = [], {}
    for i in range(1, 7):
        img = np.full((64, 64, 3), 40, np.uint8)
        x, y = (int(v) for v in rng.integers(4, 36, 2))
        cv2.rectangle(img, (x, y), (x + 20, y + 20), (0, 200, 255), -1)
        images.mkdir(exist_ok=True)
        cv2.imwrite(str(images / f"im{i}.jpg"), img)
        records.append(ImageRecord(i, f"im{i}.jpg", 64, 64))
        annotations[i] = Detections(xyxy=[[x, y, x + 20, y + 20]], class_id=[5])
    records.append(ImageRecord(7, "im7.jpg", 64, 64))  # an empty image
    cv2.imwrite(str(images / "im7.jpg"), np.full((64, 64, 3), 40, np.uint8))
    ds = Dataset(categories=[Category(5, "box")], images=records, annotations=annotations)
    ds.to_yolo(tmp_path / "y", images=images)
    model = YOLO("yolov8n.yaml")
    model.train(
        data=str(tmp_path / "y" / "data.yaml"),
        epochs=1,
        imgsz=64,
        batch=4,
        workers=0,
        device="cpu",
        plots=False,
        val=True,
        project=str(tmp_path / "runs"),
        name="smoke",
        verbose=False,
        amp=False,
    )
    assert (tmp_path / "runs" / "smoke" / "weights" / "last.pt").is_file()
    # Ultralytics found every label file: none missing or corrupt, the empty image counted as empty
    cache = tmp_path / "y" / "labels.cache"
    assert cache.is_file()
    info = np.load(str(cache), allow_pickle=True).item()
    found, missing, empty, corrupt = info["results"][:4]
    assert (found, missing, empty, corrupt) == (7, 0, 1, 0)
    assert os.environ.get("YOLO_OFFLINE") == "1"


def test_obb_round_trip(tmp_path: Path) -> None:
    corners = np.array([[[20, 10], [100, 30], [90, 70], [10, 50]]], dtype=np.float64)
    ds = Dataset(
        categories=[Category(0, "plane")],
        images=[ImageRecord(1, "a.jpg", 200, 100)],
        annotations={1: Detections(xyxy=[[10, 10, 100, 70]], data={"obb_polygon": corners})},
    )
    ds.to_yolo(tmp_path / "y", task="obb")
    assert "task: obb" in (tmp_path / "y" / "data.yaml").read_text()
    assert len((tmp_path / "y" / "labels" / "a.txt").read_text().split()) == 9
    back = yolo.read(tmp_path / "y")
    np.testing.assert_allclose(back.annotations[1].data["obb_polygon"], corners, atol=1e-3)
    np.testing.assert_allclose(back.boxes(1), [[10, 10, 100, 70]], atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 999), *[st.floats(-50, 50, allow_nan=False, allow_infinity=False)] * 4),
        min_size=1,
        max_size=30,
    ),
    decimals=st.integers(6, 9),
    with_conf=st.booleans(),
)
def test_vectorised_label_lines_equal_printf(rows: list, decimals: int, with_conf: bool) -> None:
    cls = np.array([r[0] for r in rows])
    vals = np.array([r[1:] for r in rows], dtype=np.float64)
    fmt = "%d" + f" %.{decimals}f" * (3 if with_conf else 4) + (" %.6f" if with_conf else "") + "\n"
    expected = "".join(fmt % (c, *v) for c, v in zip(cls.tolist(), vals.tolist()))
    text, lengths = yolo.render_rows(cls, vals, decimals, last_decimals=6 if with_conf else None)
    got_lines = text.decode().splitlines()
    assert lengths.tolist() == [len(line) + 1 for line in got_lines]
    assert text.decode().endswith("\n")
    for got, want in zip(got_lines, expected.splitlines(), strict=True):
        if got == want:
            continue
        # printf rounds the exact binary value; a product that is not exact in float may land on
        # the other side of a tie: at most one unit in the last place, never a truncation
        g, w = got.split(), want.split()
        assert g[0] == w[0]
        np.testing.assert_allclose([float(x) for x in g[1:]], [float(x) for x in w[1:]], rtol=0, atol=1.01 * 10**-6)


def test_vectorised_and_line_by_line_label_parsing_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    convert(GOLDEN, tmp_path / "y", to="yolo")
    fast = yolo.read(tmp_path / "y")

    def reject_all(rows: list, files: list, records: list, id_of: dict) -> tuple[None, set]:
        return None, {(pos, label) for pos, label, _ in files}

    monkeypatch.setattr(yolo._fast_read, "labels_table", reject_all)  # the fast path declines every file
    slow = yolo.read(tmp_path / "y")
    for rec in fast.images:
        np.testing.assert_array_equal(fast.boxes(rec.id), slow.boxes(rec.id))
        assert fast.annotations[rec.id].class_id.tolist() == slow.annotations[rec.id].class_id.tolist()
    assert fast.table.provenance.line.tolist() == slow.table.provenance.line.tolist()
    assert fast.table.provenance.file.tolist() == slow.table.provenance.file.tolist()


def test_chunked_rendering_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    cls = rng.integers(0, 120, 1000)
    vals = rng.uniform(0, 1, (1000, 5))
    vals[::7, 0] = 123.456  # wider integer part in some rows only
    whole = yolo.render_rows(cls, vals, 6, last_decimals=3)
    monkeypatch.setattr(yolo._fast_write, "RENDER_CHUNK", 97)
    chunked = yolo.render_rows(cls, vals, 6, last_decimals=3)
    assert chunked[0] == whole[0]
    np.testing.assert_array_equal(chunked[1], whole[1])


@pytest.mark.parametrize("with_confidence", [False, True])
def test_label_files_rendered_block_by_block_equal_one_pass_and_printf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_confidence: bool
) -> None:
    """Detect labels are rendered a block of images at a time (bounded memory); any block
    size writes the same files, each line equal to printf formatting of the box."""
    rng = np.random.default_rng(5)
    cats = [Category(3, "a"), Category(10, "b"), Category(11, "c")]
    images = [
        ImageRecord(i + 1, f"im{i}.jpg", int(rng.integers(20, 900)), int(rng.integers(20, 900))) for i in range(60)
    ]
    annotations: dict[int, Detections] = {}
    for rec in images:
        k = int(rng.choice([0, 0, 1, 3, 12]))
        xy = rng.uniform(0, 0.5, (k, 2)) * [rec.width, rec.height]
        wh = rng.uniform(0.01, 0.5, (k, 2)) * [rec.width, rec.height]
        annotations[rec.id] = Detections(
            xyxy=np.hstack([xy, xy + wh]),
            class_id=rng.choice([3, 10, 11, 99], k),  # 99: not a category, reported
            confidence=rng.uniform(0, 1, k).astype(np.float32) if with_confidence else None,
            data={"iscrowd": (rng.uniform(size=k) < 0.1).astype(np.int64)},
        )
    ds = Dataset(categories=cats, images=images, annotations=annotations)
    whole = yolo.write(ds, tmp_path / "whole")
    expected = _files(tmp_path / "whole")
    for block_rows in (1, 4, 7):
        monkeypatch.setattr(yolo._fast_write, "RENDER_CHUNK", block_rows)
        summary = yolo.write(ds, tmp_path / f"b{block_rows}")
        assert _files(tmp_path / f"b{block_rows}") == expected
        assert (summary.objects, summary.dropped) == (whole.objects, whole.dropped)
    assert whole.dropped["crowd"] > 0
    assert whole.dropped["unknown-class"] > 0
    index = {3: 0, 10: 1, 11: 2}
    for rec in images:
        d = annotations[rec.id]
        keep = (d.data["iscrowd"] == 0) & np.isin(d.class_id, list(index))
        lines = []
        for (x1, y1, x2, y2), c, *conf in zip(
            d.xyxy[keep].tolist(),
            d.class_id[keep].tolist(),
            *([d.confidence[keep].tolist()] if with_confidence else []),
        ):
            w, h = rec.width, rec.height
            line = f"{index[c]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            lines.append(line + (f" {conf[0]:.6f}" if conf else ""))
        assert expected[f"labels/im{images.index(rec)}.txt"].decode() == "".join(x + "\n" for x in lines)


def test_label_text_parsed_in_one_pass_equals_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Label files that the one-pass parse takes (CRLF, blank lines, exponents) and those it
    leaves to the line-by-line parse (a bad token, 4 numbers, nan, a lone CR, a dangling
    exponent) read the same either way, with the same line numbers and issues; a class written
    ``1.0`` is class 1 on both paths (as in Ultralytics), ``0.5`` a bad line on both."""
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [a, b]\ntrain: images\nval: images\n")
    labels = {
        "plain": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n",
        "crlf": "0 0.5 0.5 0.2 0.2\r\n1 0.25 0.25 0.1 0.1\r\n",
        "blank lines": "\n0 0.5 0.5 0.2 0.2\n\n   \n1 2.5e-1 0.25 1E-1 .1",
        "tabs": "1\t0.5\t0.5\t0.2\t0.2\n",
        "bad token": "0 0.5 0.5 0.2 0.2\n1 0.5 x 0.2 0.2\n",
        "four numbers": "0 0.5 0.5 0.2\n1 0.5 0.5 0.2 0.2\n",
        "nan": "0 nan 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n",
        "lone CR": "0 0.5 0.5 0.2 0.2\r1 0.5 0.5 0.2 0.2\n",
        "unknown class": "7 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n",
        "dangling exponent": "0 0.5 0.5 0.2 1e\n",
        "class written as a float": "1.0 0.5 0.5 0.2 0.2\n",  # Ultralytics reads it as class 1
        "fractional class": "0.5 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n",
    }
    for i, text in enumerate(labels.values()):
        cv2.imwrite(str(root / "images" / f"{i}.png"), np.zeros((40, 60, 3), np.uint8))
        (root / "labels" / f"{i}.txt").write_bytes(text.encode())

    def snapshot() -> tuple:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bad lines, named in ds.issues
            ds = yolo.read(root)
        t = ds.table
        return (
            t.xyxy.tolist(),
            t.class_id.tolist(),
            t.image_index.tolist(),
            t.provenance.line.tolist(),
            [os.path.basename(s) for s in t.provenance.file.tolist()],
            sorted(str(i) for i in ds.issues),
        )

    fast = snapshot()
    calls: list[int] = []
    original = yolo._fast_read.numeric_rows

    def line_by_line(texts: list) -> tuple:
        calls.append(len(texts))
        return None, [], list(texts)

    monkeypatch.setattr(yolo._fast_read, "numeric_rows", line_by_line)
    slow = snapshot()
    assert calls == [len(labels)]
    assert fast == slow
    taken = original([(i, f"{i}.txt", t) for i, t in enumerate(labels.values())])[1]
    assert [pos for pos, _, _ in taken] == [0, 1, 2, 3, 8, 10, 11]  # the plain ones, by position
    assert taken[2][2].tolist() == [2, 5]  # line numbers past the blank lines
