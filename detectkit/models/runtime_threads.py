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
from collections.abc import Iterator

__all__ = ["ENV", "runtime_threads", "threads_while"]

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
