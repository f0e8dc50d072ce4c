"""The --engine flags: usage errors are one line with exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detectkit.batch.ray_engine import import_ray
from detectkit.cli import main
from detectkit.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["detect", str(VAL), "--engine", "local"], 2, "--engine needs --out DIR"),
        (
            ["detect", str(VAL), "--engine", "local", "--out", "o", "--address", "auto"],
            2,
            "--address needs --engine ray",
        ),
        (["detect", str(VAL), "--engine", "local", "--out", "o", "--save-images"], 2, "--save-images is not supported"),
        (["detect", str(VAL), "--engine", "local", "--out", "o", "--workers", "0"], 2, "--workers must be >= 1"),
        (["detect", str(VAL), "--engine", "local", "--out", "o", "--slice", "320"], 2, "--slice is not supported"),
        (["detect", str(VAL), "--engine", "local", "--out", "o", "--track"], 2, "--track is not supported"),
        (["detect", str(VAL), "--engine", "local", "--out", "o", "--threads", "0"], 2, "--threads must be >= 1"),
        (["detect", "ftp2://h/a.jpg", "--engine", "local", "--out", "o"], 1, "unsupported URI scheme 'ftp2'"),
        (["classify", str(VAL), "--engine", "local", "--out", "o", "--localize"], 2, "--localize is not supported"),
        (["detect", "no/such/dir", "--engine", "local", "--out", "o"], 1, "source no/such/dir does not exist"),
        (["detect", str(VAL / "*.gif"), "--engine", "ray", "--out", "o"], 1, "matches no image files"),
    ],
)
def test_usage_errors(
    argv: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written before the arguments are checked


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"detectkit\[ray\]"):
        import_ray()


def test_out_holding_another_job_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    assert main(["detect", str(VAL), "--engine", "local", "--out", str(tmp_path / "o")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "o" / "keep.txt").read_text() == "mine"
