"""URIs as batch sources: file:// and http:// (a local ``http.server`` on 127.0.0.1), and clear
errors for schemes this machine cannot read."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from detectkit.batch import detect
from detectkit.batch._worker import load_location
from detectkit.batch.sources import check_uri, resolve_sources
from detectkit.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """``(folder, base URL)``: three shapes images served over HTTP on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("served")
    for p in sorted(VAL.glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_http_and_file_uris_in_a_list_file_give_the_local_results(served: tuple[Path, str], tmp_path: Path) -> None:
    folder, base = served
    names = sorted(p.name for p in folder.glob("*.jpg"))
    listing = tmp_path / "list.txt"
    lines = [f"{base}/{n}" for n in names] + [f"{base}/missing.jpg"]
    lines += [(folder / n).as_uri() for n in names] + [str(folder / n) for n in names]
    listing.write_text("\n".join(lines) + "\n")
    result = detect(listing, tmp_path / "out", engine="local", workers=1, batch_size=4, shard_size=4)
    assert (result.images, result.succeeded, result.failed) == (10, 9, 1)
    by_source = {r["source"]: r for r in _records(tmp_path / "out" / "detections.jsonl")}
    for name in names:  # the same image by path, file:// and http:// gives the same detections
        rec = by_source[str(folder / name)]
        assert rec["detections"]["xyxy"], name  # the shapes images hold objects
        for uri in (f"{base}/{name}", (folder / name).as_uri()):
            assert by_source[uri]["detections"] == rec["detections"], uri
            assert by_source[uri]["image_size_wh"] == rec["image_size_wh"]
    (failure,) = _records(tmp_path / "out" / "failures.jsonl")
    assert failure["source"] == f"{base}/missing.jpg"
    assert "404" in str(failure["error"])


def test_unreadable_schemes_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"ftp2://h/a\.jpg: unsupported URI scheme 'ftp2'"):
        resolve_sources(["ftp2://h/a.jpg"])
    listing = tmp_path / "list.txt"
    listing.write_text("a.jpg\nnosuch://bucket/b.jpg\n")
    with pytest.raises(InvalidInputError, match=r"nosuch://bucket/b\.jpg \(in list file .*list\.txt\)"):
        resolve_sources([listing])
    assert check_uri("file:///x.jpg") == "file"
    try:
        import s3fs  # noqa: F401
    except ImportError:  # without s3fs: s3:// is refused with the package named
        with pytest.raises(InvalidInputError, match="s3fs"):
            resolve_sources(["s3://bucket/a.jpg"])
    else:  # pragma: no cover - depends on the environment
        assert resolve_sources(["s3://bucket/a.jpg"]) == ["s3://bucket/a.jpg"]


def test_file_uri_with_a_host_is_an_item_error() -> None:
    with pytest.raises(InvalidInputError, match="file:///path"):
        load_location("file://otherhost/data/a.jpg")
