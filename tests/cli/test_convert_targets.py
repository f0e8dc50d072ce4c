"""convert's destination: a folder (trailing slash or existing) gets the file inside it, said so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.cli import main
from detectkit.formats import convert, read, write

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "formats" / "coco_golden.json"


def test_cli_trailing_slash_means_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "outdir"
    assert main(["convert", str(GOLDEN), f"{dst}/", "--to", "coco"]) == 0
    assert dst.is_dir()
    assert json.loads((dst / "instances.json").read_text(encoding="utf-8"))["images"]
    assert "instances.json" in capsys.readouterr().out
    # an existing folder without the slash: same, and --overwrite replaces the file inside it
    assert main(["convert", str(GOLDEN), str(dst), "--to", "coco"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(GOLDEN), str(dst), "--to", "coco", "--overwrite", "--json"]) == 0
    assert any("instances.json" in n for n in json.loads(capsys.readouterr().out)["notes"])


def test_api_write_and_convert_into_a_folder(tmp_path: Path) -> None:
    ds = read(GOLDEN)
    summary = write(ds, f"{tmp_path / 'w'}/", format="coco")
    assert (tmp_path / "w" / "instances.json").is_file()
    assert "instances.json" in str(summary)
    (tmp_path / "c").mkdir()
    convert(GOLDEN, tmp_path / "c", to="coco")
    assert (tmp_path / "c" / "instances.json").is_file()
