"""The shared file-name guard: the one-pass batch check agrees with the per-name one."""

from __future__ import annotations

import random

import pytest

from detectkit.errors import InvalidInputError
from detectkit.formats._common import plain_relpaths, safe_relpath

# names that are fine as given, names safe_relpath rewrites, and names it rejects
_PLAIN = ["a.jpg", "train/b c.png", "x/y/z.JPG", "été/ü.png", "a..b.jpg", "a/.hidden", ".hidden", "d:x.jpg"]
_PLAIN += ["n\u00a0b.jpg", "tab\tin.jpg"]
_REWRITTEN = ["x\\y.jpg", "./a.jpg", "a//b.jpg", "a/./b.jpg", "c:d.jpg", "a/"]
_REJECTED = ["../a.jpg", "a/../b.jpg", "/abs.jpg", "C:\\x.jpg", "", " ", "\t\n", "a\x00b", "..", ".", "a/.."]


def _kept(name: str) -> bool:
    try:
        return safe_relpath(name) == name
    except InvalidInputError:
        return False


def _agrees(names: list[str]) -> None:
    """True only when safe_relpath keeps every name as is; and True for ordinary names.

    A False for an unusual name that safe_relpath still keeps (one starting with a dot, or
    with a colon) is allowed: the caller then checks name by name.
    """
    fast = plain_relpaths(names)
    if fast:
        assert all(map(_kept, names)), names
    ordinary = all(_kept(n) and not n.startswith(".") and ":" not in n and not n.endswith("\n") for n in names)
    if ordinary:
        assert fast, names


@pytest.mark.parametrize("name", _PLAIN + _REWRITTEN + _REJECTED)
def test_single_names_agree_with_safe_relpath(name: str) -> None:
    _agrees([name])
    _agrees(["ok.jpg", name, "ok2.jpg"])  # in the middle of a batch
    _agrees([name, "ok.jpg"])
    _agrees(["ok.jpg", name])


def test_plain_names_pass_and_one_bad_name_fails_the_batch() -> None:
    names = [f"dir{i % 7}/img_{i:05d}.jpg" for i in range(5000)]
    assert plain_relpaths(names)
    assert plain_relpaths([])
    assert not plain_relpaths([*names[:100], "../escape.jpg", *names[100:]])
    assert not plain_relpaths([*names, 3])  # not a string
    assert not plain_relpaths(["a.jpg", None])


def test_random_names_agree_with_safe_relpath() -> None:
    rng = random.Random(0)
    alphabet = ["a", "b", ".", "/", "\\", ":", " ", "\t", "\n", "\x00", "é"]
    for _ in range(3000):
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
        _agrees(names)


def test_pauses_gc_pauses_and_restores_the_collector() -> None:
    import gc

    from detectkit.formats._common import pauses_gc

    seen: list[bool] = []

    @pauses_gc
    def work(fail: bool) -> int:
        """Docs kept."""
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("boom")
        return 7

    assert work.__doc__ == "Docs kept."
    assert gc.isenabled()
    assert work(False) == 7
    with pytest.raises(ValueError, match="boom"):
        work(True)
    assert seen == [False, False]
    assert gc.isenabled()  # restored, also after the exception
    gc.disable()
    try:
        work(False)
        assert not gc.isenabled()  # left off when it was off
    finally:
        gc.enable()
