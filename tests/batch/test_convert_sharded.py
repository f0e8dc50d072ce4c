"""Sharded conversion (``batch.convert`` / ``convert --engine local``): byte-identical to the plain one.

Each many-file format (YOLO labels, VOC XML, LabelMe JSON) gets a folder with bad records and
bad files; the sharded read (shards of 3 files on a process pool of 1 and 2 workers) must
write the same bytes, report the same issues, and stop at the same first error with
``strict``. The plain reader is itself the per-file parser + assembler, so the reference is
also checked against the committed golden / real-export fixtures in ``tests/formats``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from detectkit.batch import convert
from detectkit.batch.conversion import ShardMapper
from detectkit.cli import main
from detectkit.dataset import Dataset
from detectkit.errors import AnnotationParseError
from detectkit.formats import convert as plain_convert
from detectkit.formats import read, write
from detectkit.formats._common import find_image
from detectkit.formats._per_file import ImageFinder

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"
COCO = ROOT / "datasets" / "shapes" / "annotations" / "instances_val.json"

pytestmark = pytest.mark.slow  # process pools: about 1 s each


def _base(n: int = 14) -> Dataset:
    ds = Dataset.read(COCO)
    return ds.select([r.id for r in ds.images[:n]])


def _voc(tmp: Path) -> Path:
    root = tmp / "voc"
    write(_base(), root, format="voc", link_images=False)
    ann = root / "Annotations"
    files = sorted(ann.glob("*.xml"))
    for p in files[:3]:  # 3 images present, the others absent (looked up by stem)
        shutil.copy(VAL / p.with_suffix(".jpg").name, root / "JPEGImages" / p.with_suffix(".jpg").name)
    text = files[4].read_text()
    files[4].write_text(text.replace("<xmin>", "<xmin>9999", 1))  # xmin > xmax: a skipped object
    text = files[5].read_text().replace("<difficult>0</difficult>", "<difficult>abc</difficult>", 1)
    text = text.replace(
        "</object>",
        "<part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></part>"
        "<actions><jumping>1</jumping></actions><occluded>1</occluded></object>",
        1,
    )
    files[5].write_text(text)
    (ann / "wrong_root.xml").write_text("<foo><bar/></foo>")
    (ann / "no_size.xml").write_text("<annotation><filename>gone.jpg</filename></annotation>")
    (ann / "sub").mkdir()
    (ann / "sub" / "deep.xml").write_text(
        "<annotation><filename>deep.jpg</filename><size><width>9</width><height>9</height></size>"
        "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox>"
        "</object><object><bndbox/></object></annotation>"
    )
    sets = root / "ImageSets" / "Main"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "train.txt").write_text("".join(p.stem + "\n" for p in files[:6]) + "not_there\n")
    return root


def _labelme(tmp: Path) -> Path:
    root = tmp / "labelme"
    write(_base(), root, format="labelme", link_images=False)
    files = sorted(root.glob("*.json"))
    doc = json.loads(files[2].read_text())
    square = [[1, 1], [9, 1], [9, 9]]
    doc["shapes"] += [
        {"label": "blob", "points": square, "shape_type": "polygon", "group_id": 7, "flags": {"x": True}},
        {"label": "blob", "points": [[20, 20], [30, 20], [30, 30]], "shape_type": "polygon", "group_id": 7},
        {"label": "dot", "points": [[1, 1]], "shape_type": "point"},
        {"label": "bad", "points": [[1, 1]], "shape_type": "rectangle"},
        {"points": []},
    ]
    files[2].write_text(json.dumps(doc))
    doc = json.loads(files[3].read_text())
    del doc["imageWidth"]
    files[3].write_text(json.dumps(doc))  # no size and no image file: skipped
    (root / "other.json").write_text('{"not": "labelme"}')  # ignored with a warning
    return root


def _yolo(tmp: Path) -> Path:
    root = tmp / "yolo"
    write(_base(), root, format="yolo", link_images=False)
    labels = sorted((root / "labels").rglob("*.txt"))
    with labels[1].open("a") as fh:
        fh.write("7 0.5 0.5 0.1 0.1\n")  # class not in names
    with labels[2].open("a") as fh:
        fh.write("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n")  # a polygon: the line-by-line parse
    with labels[4].open("a") as fh:
        fh.write("1 0.5 0.5 0.2 0.2 0.9\n")  # a confidence column in one file only
    with labels[6].open("a") as fh:
        fh.write("0 x 0.5 0.1 0.1\n")
    labels[7].write_bytes(b"\xff\xfe\x00bad")  # unreadable as UTF-8
    return root


MAKERS = {"voc": _voc, "labelme": _labelme, "yolo": _yolo}


def _quiet_convert(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = fn(*args, **kwargs)
    return summary, [str(w.message) for w in caught]


@pytest.mark.parametrize("fmt", ["voc", "labelme", "yolo"])
def test_sharded_read_writes_the_same_bytes_for_1_and_2_workers(fmt: str, tmp_path: Path) -> None:
    src = MAKERS[fmt](tmp_path)
    ref, ref_warnings = _quiet_convert(plain_convert, src, tmp_path / "plain.json", to="coco")
    errors = [n for n in ref.notes if ": error: " in n]
    assert len(errors) >= 2, ref.notes  # the fixtures hold skipped records
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read(src, format=fmt)
        mapper = ShardMapper("local", fmt, workers=2, shard_size=3, min_files=0)
        assert read(src, format=fmt, map_shards=mapper).issues == ds.issues
    assert any(i.severity == "warning" for i in ds.issues)
    for workers in (1, 2):
        out = tmp_path / f"sharded{workers}.json"
        got, got_warnings = _quiet_convert(
            convert, src, out, to="coco", engine="local", workers=workers, shard_size=3, min_files=0
        )
        assert out.read_bytes() == (tmp_path / "plain.json").read_bytes()
        assert got.notes[:-1] == ref.notes  # the same skipped records, named alike
        assert got_warnings == ref_warnings
        assert "shard(s) of up to 3" in got.notes[-1], got.notes[-1]
        assert f"on {workers} local worker" in got.notes[-1]


@pytest.mark.parametrize("fmt", ["voc", "labelme", "yolo"])
def test_strict_stops_at_the_same_first_error(fmt: str, tmp_path: Path) -> None:
    src = MAKERS[fmt](tmp_path)
    with pytest.raises(AnnotationParseError) as plain:
        plain_convert(src, tmp_path / "a.json", to="coco", strict=True)
    with pytest.raises(AnnotationParseError) as sharded:
        convert(src, tmp_path / "b.json", to="coco", strict=True, workers=2, shard_size=3, min_files=0)
    assert str(sharded.value) == str(plain.value)
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize(("fmt", "name", "text"), [("voc", "m.xml", "<annotation><size>"), ("labelme", "m.json", "{")])
def test_an_unparseable_file_is_skipped_and_reported_sharded_too(
    fmt: str, name: str, text: str, tmp_path: Path
) -> None:
    src = MAKERS[fmt](tmp_path)
    folder = src / "Annotations" if fmt == "voc" else src
    (folder / name).write_text(text)
    with pytest.warns(UserWarning, match="skipped") as plain:
        plain_convert(src, tmp_path / "a.json", to="coco")
    with pytest.warns(UserWarning, match="skipped") as sharded:
        convert(src, tmp_path / "b.json", to="coco", workers=2, shard_size=3, min_files=0)
    assert [str(w.message) for w in sharded] == [str(w.message) for w in plain]
    assert any(name in str(w.message) for w in plain)
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "a.json").read_bytes()
    with pytest.raises(AnnotationParseError) as plain_strict:
        plain_convert(src, tmp_path / "c.json", to="coco", strict=True)
    with pytest.raises(AnnotationParseError) as sharded_strict:
        convert(src, tmp_path / "d.json", to="coco", strict=True, workers=2, shard_size=3, min_files=0)
    assert str(sharded_strict.value) == str(plain_strict.value)


def test_cli_engine_local_matches_the_plain_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _voc(tmp_path)
    assert main(["convert", str(src), str(tmp_path / "plain"), "--to", "yolo"]) == 0
    plain = capsys.readouterr()
    argv = ["convert", str(src), str(tmp_path / "eng"), "--to", "yolo", "--engine", "local", "--workers", "2"]
    assert main([*argv, "--min-files", "0", "--shard-size", "4"]) == 0
    engine = capsys.readouterr()

    def warned(err: str) -> list[str]:  # (a progress bar may show when a read takes over 0.5 s)
        return [line for line in err.splitlines() if line.startswith("warning")]

    assert warned(engine.err) == warned(plain.err)  # the same skipped records, as warnings
    assert len(warned(plain.err)) >= 3
    assert "note: read 17 voc files in 5 shard(s) of up to 4 on 2 local worker process(es)" in engine.out
    files = sorted(p.relative_to(tmp_path / "plain") for p in (tmp_path / "plain").rglob("*") if p.is_file())
    assert len(files) > 10
    for rel in files:
        assert (tmp_path / "eng" / rel).read_bytes() == (tmp_path / "plain" / rel).read_bytes(), rel


def test_small_reads_stay_in_this_process_and_say_so(tmp_path: Path) -> None:
    src = _labelme(tmp_path)
    summary, _ = _quiet_convert(convert, src, tmp_path / "o.json", to="coco", engine="ray", workers=2)
    assert summary.notes[-1].startswith("read 15 labelme files in this process (2 workers could save")
    mapper = ShardMapper("local", "voc", workers=2)
    assert mapper.shard_size(100) is None
    assert mapper.shard_size(1_000_000) == 2000
    assert ShardMapper("local", "voc", workers=1).shard_size(1_000_000) is None
    assert ShardMapper("local", "voc", workers=1, min_files=10).shard_size(10) == 2000


def test_image_finder_finds_what_find_image_finds(tmp_path: Path) -> None:
    (tmp_path / "a.JPG").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "c.jpg").mkdir()  # a folder named like an image is no image
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jpeg").write_bytes(b"x")
    (tmp_path / "ü.jpg").write_bytes(b"x")
    for list_after in (1, 4):
        finder = ImageFinder(list_after=list_after)
        for _ in range(2):  # before and after the folder is listed
            for stem in ("a", "b", "c", "sub/d", "sub/e", "ü", "zz", "A", "b.png"):
                assert finder.find(tmp_path, stem) == find_image(tmp_path, stem), stem
            for name in ("a.JPG", "a.jpg", "c.jpg", "b.png", "nope.png"):
                assert finder.is_file(str(tmp_path / name)) == (tmp_path / name).is_file(), name
