"""Inputs the fuzzer found that crashed a reader, kept as plain regression tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _harness import run_target

CASES = {
    # voc.py: int(float("inf")) raised OverflowError while reading <size>
    "voc-inf-width": (
        "voc",
        b"<annotation>\n  <filename>000002.jpg</filename>\n"
        b"  <size><width>inf</width><height>500</height><depth>3</depth></size>\n</annotation>\n",
    ),
    # voc.py: int(float("inf")) raised OverflowError while reading <difficult>
    "voc-inf-flag": (
        "voc",
        b"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
        b"<object><name>dog</name><difficult>inf</difficult>"
        b"<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>",
    ),
    # cvat.py (via _xml.py): an unknown encoding in the XML declaration raised LookupError
    "cvat-unknown-encoding": ("cvat", b'<?xml version="1.0" encoding="utfE8"?>\n<annotations></annotations>\n'),
    "cvat-utf7": ("cvat", b'<?xml version="1.0" encoding="utf-7"?>\n<annotations></annotations>\n'),  # atheris
    "voc-unknown-encoding": ("voc", b'<?xml version="1.0" encoding="x"?>\n<annotation></annotation>\n'),
    # coco.py: a JSON scalar document ("6") was taken for the typed struct: AttributeError (atheris)
    "coco-scalar-int": ("coco", b"6\n"),
    "coco-scalar-null": ("coco", b"null"),
    "coco-scalar-string": ("coco", b'"x"'),
    # yolo.py: a 26-digit class index in data.yaml overflowed int64 in the label parser
    "yolo-huge-names-key": (
        "yolo_detect_yaml",
        b"path: .\ntrain: images\nval: images\ntask: detect\nnames:\n  99999999999999999999999999: a\n",
    ),
    # yolo.py: nc: 10000000000 built a dict of 1e10 class names (memory blow-up)
    "yolo-huge-nc": ("yolo_detect_yaml", b"path: .\ntrain: images\nval: images\nnc: 10000000000\n"),
    "yolo-float-nc": ("yolo_detect_yaml", b"path: .\ntrain: images\nval: images\nnc: 1e12\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_found_by_fuzzing(tmp_path: Path, case: str) -> None:
    target, data = CASES[case]
    assert run_target(target, tmp_path / "ds", data) in ("ok", "typed")


CRASHES = sorted((Path(__file__).resolve().parent / "crashes").glob("*.bin"))


@pytest.mark.parametrize("path", CRASHES, ids=lambda p: p.stem)
def test_saved_crash_inputs(tmp_path: Path, path: Path) -> None:
    """Inputs saved by run_long.py (``<target>-<n>.bin``) that once crashed a reader."""
    target = path.stem.rsplit("-", 1)[0]
    assert run_target(target, tmp_path / "ds", path.read_bytes()) in ("ok", "typed")
