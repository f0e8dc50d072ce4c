"""Atomic file writes: a temporary file beside the target, renamed over it only once complete.

Every writer of a finished file in detectkit goes through these, so a crash, a full disk or
Ctrl-C never leaves a truncated file under the target's name: readers see the old file or
the new one. The temporary file sits in the target's folder (``os.replace`` is atomic only
within one file system), has a hidden name that starts with ``.<target name>.`` and ends with
``.tmp`` (plus, with ``keep_suffix``, the target's suffix, for writers that pick the format
from it), is created exclusively with the umask's permissions (not ``mkstemp``'s 0600), and
is removed when the write fails.

>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "out.json"
>>> write_atomic(target, '{"ok": true}\\n').read_text()
'{"ok": true}\\n'
>>> with atomic_file(target) as fh:
...     _ = fh.write("partial")
...     raise ValueError("stopped half-way")
Traceback (most recent call last):
...
ValueError: stopped half-way
>>> target.read_text(), sorted(p.name for p in target.parent.iterdir())  # untouched, no leftovers
('{"ok": true}\\n', ['out.json'])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_file", "atomic_path", "temp_beside", "write_atomic"]


def temp_beside(target: str | os.PathLike[str], *, keep_suffix: bool = False) -> Path:
    """Create (empty, exclusively) and return a fresh temporary file next to ``target``.

    The target's folder is created when missing. Its name is ``.<name>.<random>.tmp``, with
    ``keep_suffix`` ``.<name>.<random>.tmp<suffix>`` (e.g. ``.png``, for encoders that read it).
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = ".tmp" + (path.suffix if keep_suffix else "")
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}{tail}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
        return tmp
    raise OSError(f"could not create a temporary file beside {path}")  # pragma: no cover


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write to; on success it replaces ``target``.

    For writers that take a path (``cv2.imwrite``, ``fig.savefig``, ``torch.save``). On an
    exception the temporary file is removed and ``target`` is untouched.
    """
    tmp = temp_beside(target, keep_suffix=keep_suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` (text: UTF-8 with ``\\n`` newlines); on success it
    replaces ``target``. ``fsync``: flush it to the disk first (for files a resumed job trusts)."""
    kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


def write_atomic(target: str | os.PathLike[str], data: str | bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``target`` atomically; returns ``target`` as a Path."""
    with atomic_file(target, "wb", fsync=fsync) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(target)
