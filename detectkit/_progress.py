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

__all__ = ["DELAY", "Progress", "bar_interval", "progress_enabled", "stderr_bar", "track"]

T = TypeVar("T")

#: Seconds a loop runs before its bar appears.
DELAY = 0.5

_ENABLED: ContextVar[bool] = ContextVar("detectkit_progress", default=False)


#: Seconds between two redraws of a bar on a stream that is not a terminal (a CI log, a file):
#: each redraw there is one more line of the log, not an update in place.
LOG_INTERVAL = 30.0


def bar_interval(stream: Any = None) -> float:
    """tqdm's ``mininterval`` for a bar on ``stream`` (default stderr): tqdm's own 0.1 s on a
    terminal, :data:`LOG_INTERVAL` elsewhere.

    >>> import io
    >>> bar_interval(io.StringIO())
    30.0
    """
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return 0.1 if tty else LOG_INTERVAL


def stderr_bar(iterable: Any = None, **options: Any) -> Any:
    """A tqdm bar on stderr that redraws every :func:`bar_interval` (the one way detectkit makes
    its bars); ``options`` go to tqdm.

    >>> with stderr_bar(total=3, disable=True) as bar:
    ...     bar.update(3)
    """
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, mininterval=bar_interval(sys.stderr), **options)


@contextmanager
def progress_enabled(on: bool = True) -> Iterator[None]:
    """Show progress bars for the dataset work done inside this block (when ``on``)."""
    token = _ENABLED.set(on)
    try:
        yield
    finally:
        _ENABLED.reset(token)


class Progress:
    """A counter whose bar appears once the work has run longer than :data:`DELAY` (progress on).

    >>> with Progress(total=10, desc="chunks") as bar:
    ...     bar.update(10)
    """

    def __init__(self, *, total: int | None, desc: str, unit: str = "file") -> None:
        self.enabled = _ENABLED.get()
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self._start = time.monotonic()
        self._bar: Any = None

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and time.monotonic() - self._start > DELAY:
            self._bar = stderr_bar(
                total=self.total, initial=self.done, desc=self.desc, unit=self.unit, leave=False, dynamic_ncols=True
            )

    def close(self) -> None:
        """Remove the bar (if it appeared)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], *, total: int | None, desc: str, unit: str = "file") -> Iterator[T]:
    """Yield ``items``; with progress on, show a bar once this has taken longer than :data:`DELAY`."""
    if not _ENABLED.get():
        yield from items
        return
    with Progress(total=total, desc=desc, unit=unit) as bar:
        for item in items:
            yield item
            bar.update()
