"""Source resolution: folders, list files, globs, URIs; sorted and de-duplicated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detectkit.batch.sources import is_uri, resolve_sources
from detectkit.errors import InvalidInputError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("b.jpg", "a.png", "c.JPG", "notes.md", ".hidden.jpg", "sub/d.jpg"):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    return tmp_path


def test_folder_sorted_absolute(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    got = resolve_sources(["."])
    assert got == sorted(got)
    assert [Path(p).name for p in got] == ["a.png", "b.jpg", "c.JPG"]
    assert all(os.path.isabs(p) for p in got)
    assert [Path(p).name for p in resolve_sources([tree], recursive=True)][-1] == "d.jpg"


def test_list_file_relative_to_itself_and_uris(tree: Path) -> None:
    (tree / "sub" / "list.txt").write_text("# comment\n\nd.jpg\n../b.jpg\nhttps://example.com/z.jpg\nmissing.jpg\n")
    got = resolve_sources([tree / "sub" / "list.txt"])
    assert got == sorted(
        [
            str(tree / "sub" / "d.jpg"),
            str(tree / "b.jpg"),
            "https://example.com/z.jpg",
            str(tree / "sub" / "missing.jpg"),
        ]
    )


def test_glob_union_dedup_order_independent(tree: Path) -> None:
    one = resolve_sources([str(tree / "*.jpg"), tree / "b.jpg", tree])
    two = resolve_sources([tree, str(tree / "*.jpg")])
    assert one == two
    assert len(one) == len(set(one)) == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: [t / "nope"], "does not exist"),
        (lambda t: [str(t / "*.gif")], "matches no image"),
        (lambda t: [t / "empty"], "holds no images"),
        (lambda t: [t / "empty.txt"], "names no images"),
        (lambda t: [], "at least one"),
    ],
)
def test_bad_sources_name_the_source(tree: Path, make: object, message: str) -> None:
    (tree / "empty").mkdir()
    (tree / "empty.txt").write_text("# nothing\n")
    with pytest.raises(InvalidInputError, match=message):
        resolve_sources(make(tree))  # type: ignore[operator]


def test_is_uri() -> None:
    assert is_uri("gs://b/a.jpg")
    assert is_uri("file:///x.jpg")
    assert not is_uri("a/b.jpg")
