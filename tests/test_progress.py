"""Progress bars: off by default, silent for quick work, shown on stderr for long conversions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit import _progress
from detectkit._progress import progress_enabled, track


def test_track_is_a_pass_through_when_progress_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(track(iter(range(100)), total=100, desc="x")) == list(range(100))
    assert capsys.readouterr().err == ""


def test_quick_work_shows_no_bar_even_when_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_enabled():
        assert sum(track(range(500), total=500, desc="quick")) == sum(range(500))
    assert capsys.readouterr().err == ""


def test_long_work_shows_a_bar_on_stderr(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    with progress_enabled():
        out = list(track(range(200), total=200, desc="write yolo", unit="img"))
    assert out == list(range(200))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "write yolo" in captured.err
    assert "/200" in captured.err


def test_enabled_is_scoped_to_the_block(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    with progress_enabled(), progress_enabled(False):
        list(track(range(100), total=100, desc="inner"))
    list(track(range(100), total=100, desc="after"))
    assert capsys.readouterr().err == ""


def _coco(path: Path, n: int) -> Path:
    doc = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, n + 1)],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}
            for i in range(1, n + 1)
        ],
    }
    path.write_text(json.dumps(doc))
    return path


def test_convert_shows_progress_for_read_and_write_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from detectkit.formats import convert

    monkeypatch.setattr(_progress, "DELAY", 0.0)
    src = _coco(tmp_path / "in.json", 300)
    convert(src, tmp_path / "quiet", to="yolo")
    assert capsys.readouterr().err == ""
    summary = convert(src, tmp_path / "loud", to="yolo", progress=True)
    err = capsys.readouterr().err
    assert "read coco images" in err
    assert "write yolo" in err
    assert "/300" in err
    assert (summary.images, summary.objects) == (300, 300)
    assert len(list((tmp_path / "loud" / "labels").glob("*.txt"))) == 300


def test_cli_convert_quiet_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from detectkit.cli import main

    monkeypatch.setattr(_progress, "DELAY", 0.0)
    src = _coco(tmp_path / "in.json", 100)
    assert main(["convert", str(src), str(tmp_path / "a"), "--to", "voc", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == ("", "")
    assert main(["convert", str(src), str(tmp_path / "b"), "--to", "voc"]) == 0
    captured = capsys.readouterr()
    assert "write voc" in captured.err
    assert "/100" in captured.err
    assert "wrote 100 images" in captured.out


def test_coco_writer_counts_objects_in_chunks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from detectkit.formats import convert

    monkeypatch.setattr(_progress, "DELAY", 0.0)
    src = _coco(tmp_path / "in.json", 50)
    convert(src, tmp_path / "out.json", to="coco", progress=True)
    err = capsys.readouterr().err
    assert "write coco" in err
    assert "/50" in err
    out, source = json.loads((tmp_path / "out.json").read_text()), json.loads(src.read_text())
    assert {k: out[k] for k in source} == source


def test_bars_redraw_rarely_when_stderr_is_not_a_terminal() -> None:
    """On a terminal tqdm redraws in place every 0.1 s; in a CI log or a file every redraw is a new
    line, so bars there redraw at most every 30 s."""
    import io
    import os

    from detectkit._progress import LOG_INTERVAL, bar_interval

    assert bar_interval(io.StringIO()) == LOG_INTERVAL == 30.0
    primary, secondary = os.openpty()
    try:
        with os.fdopen(secondary, "w") as tty:
            assert bar_interval(tty) == 0.1
    finally:
        os.close(primary)
    closed = io.StringIO()
    closed.close()
    assert bar_interval(closed) == LOG_INTERVAL  # isatty() on a closed stream raises ValueError
