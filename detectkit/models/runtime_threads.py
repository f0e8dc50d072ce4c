"""``$DETECTKIT_ORT_THREADS``: the intra-op thread count of detectkit's onnxruntime and OpenVINO sessions.

Read when a session is created (the detector's onnx/openvino backends, exported classifiers,
the face model, the sliced-inference tile engine); unset or not a positive integer means the
runtime's own default. Callers that load models for a narrower share of the CPU (batch workers,
serve lanes, the video pipeline) set it for the duration of the load with :func:`threads_while`.

>>> with threads_while(3):
...     runtime_threads()
3
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["ENV", "runtime_threads", "set_torch_threads", "threads_while"]

#: The environment variable.
ENV = "DETECTKIT_ORT_THREADS"


def runtime_threads() -> int:
    """The thread count of ``$DETECTKIT_ORT_THREADS``, or 0 (the runtime's default) when unset or invalid."""
    env = os.environ.get(ENV, "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else 0


@contextlib.contextmanager
def threads_while(threads: int) -> Iterator[None]:
    """Set ``$DETECTKIT_ORT_THREADS`` to ``threads`` inside the block; the previous value (or its
    absence) is restored afterwards."""
    before = os.environ.get(ENV)
    os.environ[ENV] = str(threads)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count on the calling thread to ``threads`` when torch is
    already imported and runs another count (None or 0: leave it). Never imports torch.

    Ultralytics resets the count when a predictor is set up, and torch keeps one count per
    thread, so the detector, serve lanes and batch workers put theirs back with this.

    >>> set_torch_threads(None)  # nothing to set
    """
    torch = sys.modules.get("torch")
    if threads and torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
