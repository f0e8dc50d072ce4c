"""Set-up shared by the benchmark scripts (``python benchmarks/bench_*.py`` puts this folder on
``sys.path``, so they ``import _common``).

>>> ROOT.joinpath("detectkit").is_dir()
True
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "child_env", "median_pair", "offline"]

ROOT = Path(__file__).resolve().parents[1]


def offline() -> None:
    """Keep Ultralytics offline and quiet (unless the caller set these already); import this checkout."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
    sys.path.insert(0, str(ROOT))


def child_env(pycache: str | os.PathLike[str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child process that should run like an installed package.

    Ultralytics offline and quiet; this checkout first on ``PYTHONPATH``; and bytecode caches:
    this environment sets ``PYTHONDONTWRITEBYTECODE``, which would make every fresh
    ``python -m detectkit`` compile its modules from source (an installed wheel has them
    compiled), so the variable is dropped and the caches go to ``pycache`` (a temporary folder;
    warm it with one run before timing). ``extra``: more variables.

    >>> env = child_env("/tmp/pyc", RAY_AUTH_MODE="disabled")
    >>> "PYTHONDONTWRITEBYTECODE" in env, env["PYTHONPYCACHEPREFIX"], env["YOLO_OFFLINE"]
    (False, '/tmp/pyc', '1')
    """
    env = dict(
        os.environ,
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="false",
        YOLO_VERBOSE="false",
        YOLO_CONFIG_DIR=str(ROOT / ".cache" / "ultralytics"),
        **extra,
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = os.fspath(pycache)
    return env


def median_pair(a: Callable[[], Any], b: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, interleaved after one warm-up each; who goes first alternates.

    >>> fast, slow = median_pair(lambda: None, lambda: time.sleep(0.002), 3)
    >>> fast < slow
    True
    """
    a()
    b()
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeat):
        order = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
        for key, fn in order:
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])
