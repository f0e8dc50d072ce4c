"""Every ```python block of README.md runs, so the README cannot drift from the code.

Blocks run in document order, each in a fresh namespace, from a scratch folder in which
``datasets/`` is the project's (so outputs such as ``out/`` and ``yolo_out/`` land there).
A block whose first line is ``# not run: <why>`` (it downloads, or needs the reader's own
files) is only compiled. Sections added later run the same way without touching this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_SKIP = re.compile(r"^#\s*not run:\s*\S")


def readme_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every python block of a markdown text.

    >>> readme_blocks("x\\n```python\\nprint(1)\\n```\\n")
    [(3, 'print(1)\\n')]
    """
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_runnable_blocks() -> None:
    runnable = [code for _, code in BLOCKS if not _SKIP.match(code)]
    assert len(runnable) >= 5
    assert any(_SKIP.match(code) for _, code in BLOCKS)  # the marker is in use, so it is documented


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "datasets").symlink_to(ROOT / "datasets", target_is_directory=True)
    (folder / "tests" / "data").parent.mkdir()
    (folder / "tests" / "data").symlink_to(ROOT / "tests" / "data", target_is_directory=True)  # real-export fixtures
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(
    line: int, code: str, scratch: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compiled = compile(code, f"README.md:{line}", "exec")  # every block is valid Python
    if _SKIP.match(code):
        return
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path / "cache"))
    exec(compiled, {"__name__": "__readme__"})
