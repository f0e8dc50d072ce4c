"""merge reports image file names present in more than one source, and renames them on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.cli import main
from detectkit.formats import read

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "formats" / "coco_golden.json"


def _two_copies(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(GOLDEN.read_bytes())
    b.write_bytes(GOLDEN.read_bytes())
    return a, b


def test_duplicate_names_are_reported_never_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _two_copies(tmp_path)
    n = len(read(GOLDEN).images)
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m.json"), "--to", "coco", "--json"]) == 0
    out, err = capsys.readouterr()
    assert f"{n} image file name(s) appear in more than one SRC" in err
    assert "--rename-duplicates" in err
    assert len(json.loads(out)["duplicate_file_names"]) == n
    # a folder target cannot hold both label files: an error naming the flag
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "y"), "--to", "yolo"]) == 1
    assert "--rename-duplicates" in capsys.readouterr().err


def test_rename_duplicates_prefixes_the_later_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _two_copies(tmp_path)
    out_path = tmp_path / "m.json"
    assert main(["merge", str(a), str(b), "-o", str(out_path), "--to", "coco", "--rename-duplicates"]) == 0
    out, err = capsys.readouterr()
    assert "appear in more than one" not in err
    assert "renamed" in out
    names = [i["file_name"] for i in json.loads(out_path.read_text(encoding="utf-8"))["images"]]
    assert len(set(names)) == len(names) == 2 * len(read(GOLDEN).images)
    assert any(Path(nm).name.startswith("b_") for nm in names)
