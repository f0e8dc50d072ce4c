"""Progress bars for long dataset work that stay out of the way of quick jobs.

Readers and writers wrap their per-file loops in :func:`track`. Nothing is shown unless
the caller turned progress on with :func:`progress_enabled` (the CLI does, unless
``--quiet``; :func:`detectkit.convert` takes ``progress=True``), and even then a bar (tqdm,
on stderr) appears only once the loop has run longer than :data:`DELAY` seconds, so a
conversion that takes a fraction of a second prints nothing and does not pay tqdm's
import.

>>> list(track(range(3), total=3, desc="labels"))  # progress off: a plain pass-through
[0, 1, 2]
>>> with progress_enabled():
...     sum(track(range(1000), total=1000, desc="labels"))  # quick: no bar appears
499500
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["DELAY", "progress_enabled", "track"]

T = TypeVar("T")

#: Seconds a loop runs before its bar appears.
DELAY = 0.5

_ENABLED: ContextVar[bool] = ContextVar("detectkit_progress", default=False)
_CHECK_EVERY = 32  # items between clock reads before the bar exists


@contextmanager
def progress_enabled(on: bool = True) -> Iterator[None]:
    """Show progress bars for the dataset work done inside this block (when ``on``)."""
    token = _ENABLED.set(on)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def track(items: Iterable[T], *, total: int | None, desc: str, unit: str = "file") -> Iterator[T]:
    """Yield ``items``; with progress on, show a bar once this has taken longer than :data:`DELAY`."""
    if not _ENABLED.get():
        yield from items
        return
    start = time.monotonic()
    bar: Any = None
    done = 0
    try:
        for item in items:
            yield item
            done += 1
            if bar is not None:
                bar.update(1)
            elif done % _CHECK_EVERY == 0 and time.monotonic() - start > DELAY:
                from tqdm import tqdm

                bar = tqdm(
                    total=total,
                    initial=done,
                    desc=desc,
                    unit=unit,
                    file=sys.stderr,
                    leave=False,
                    dynamic_ncols=True,
                )
    finally:
        if bar is not None:
            bar.close()
