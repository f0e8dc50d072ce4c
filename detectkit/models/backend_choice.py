"""``Detector(backend="auto")``: pick the fastest backend for this model on this machine.

Which runtime is fastest depends on the CPU (AVX-512, VNNI, AMX), the model and its input size,
so it is measured rather than guessed: every backend that can run the model here (torch for a
checkpoint, onnxruntime, OpenVINO) runs the same synthetic image end to end (pre-processing,
network, decoding, NMS) a few times, and the one with the lowest median wins. Each backend is
measured alone and released before the next, so idle thread pools do not slow the others.
For a checkpoint torch is always measured, so ``auto`` is never slower than torch.

The choice is cached in ``cache_dir()/backend_choice.json`` keyed by the model file's sha256,
the requested imgsz and a machine fingerprint (CPU model, core count, runtime versions), so the
measurement runs once per model and machine. Delete the file to measure again.

>>> fingerprint() == fingerprint()
True
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._atomic import atomic_file
from detectkit.errors import DetectkitError
from detectkit.models import cache_dir
from detectkit.models.weights import ResolvedWeights, sha256_file

__all__ = ["CACHE_FILE", "candidates", "choose_backend", "fingerprint", "measure_backend"]

CACHE_FILE = "backend_choice.json"
_WARMUP = 2
_RUNS = 5


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "-"


#: Bumped when what a measurement means changes, so older choices are measured again (2: a torch
#: ``Detector`` keeps the caller's thread count instead of Ultralytics' ``cpu_count - 1``).
MEASUREMENT = "2"


def fingerprint() -> str:
    """A short string naming this machine and the installed runtimes (part of the cache key).

    >>> fingerprint().split("|")[0]  # choices measured before MEASUREMENT 2 are measured again
    'm2'
    """
    parts = [f"m{MEASUREMENT}", _cpu_model(), str(os.cpu_count()), os.environ.get("DETECTKIT_ORT_THREADS", "")]
    parts.append(f"omp={os.environ.get('OMP_NUM_THREADS', '')}")
    parts += [f"{m}={_version(m)}" for m in ("torch", "onnxruntime", "openvino")]
    return "|".join(parts)


def candidates(weights: ResolvedWeights, *, device: str = "cpu", onnxruntime: bool | None = None) -> list[str]:
    """The backends that can run ``weights`` here, in the order they are measured.

    ``onnxruntime``: whether onnxruntime is usable (default: importable).
    """
    if device != "cpu" or weights.path is None:
        return ["torch"]
    suffix = weights.suffix
    ort = (_has("onnxruntime") if onnxruntime is None else onnxruntime) and _has("onnx")
    ov = _has("openvino")
    if suffix == ".xml":
        return ["openvino"]
    if suffix == ".onnx":
        found = [name for name, ok in (("onnx", ort), ("openvino", ov)) if ok]
        return found or ["torch"]
    if suffix == ".pt":  # OpenVINO runs our ONNX export, so it needs the onnx exporter too
        return ["torch"] + [name for name, ok in (("onnx", ort), ("openvino", ort and ov)) if ok]
    return ["torch"]


def _probe_image(imgsz: int | tuple[int, int] | None) -> np.ndarray:
    """A deterministic 4:3 BGR image with texture and filled shapes (not a constant frame)."""
    import cv2

    side = imgsz if isinstance(imgsz, int) else max(imgsz) if imgsz else 640
    w, h = int(side), int(side) * 3 // 4
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    for _ in range(12):
        x, y = (int(v) for v in rng.integers(0, (w, h)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(img, (x, y), int(rng.integers(8, side // 6)), colour, -1)
    return img


def measure_backend(
    model: str | os.PathLike[str], backend: str, *, imgsz: int | tuple[int, int] | None = None, runs: int = _RUNS
) -> float:
    """Median end-to-end milliseconds of ``Detector(model, backend=backend).detect_batch`` on one image."""
    from detectkit.models.detector import Detector

    detector = Detector(model, backend=backend, imgsz=imgsz)
    image = _probe_image(detector.imgsz)
    for _ in range(_WARMUP):
        detector.detect_batch([image])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect_batch([image])
        times.append(time.perf_counter() - start)
    del detector
    gc.collect()  # release the runtime's sessions and thread pools before the next backend
    return float(np.median(times) * 1000)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _store(path: Path, key: str, value: dict[str, Any]) -> None:
    doc = _load(path)
    doc[key] = value
    with atomic_file(path) as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)


def choose_backend(
    weights: ResolvedWeights,
    *,
    imgsz: int | tuple[int, int] | None = None,
    device: str = "cpu",
    onnxruntime: bool | None = None,
) -> str:
    """The fastest backend for ``weights`` at ``imgsz`` on this machine (measured once, cached).

    A backend that fails to load is skipped (and the choice is then not cached). With one
    candidate nothing is measured.
    """
    names = candidates(weights, device=device, onnxruntime=onnxruntime)
    if len(names) == 1 or weights.path is None:
        return names[0]
    digest = weights.sha256 or sha256_file(weights.path)
    key = f"{digest[:32]}|{imgsz}|{fingerprint()}"
    cache = cache_dir() / CACHE_FILE
    known = _load(cache).get(key)
    if isinstance(known, dict) and known.get("backend") in names:
        return str(known["backend"])
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            timings[name] = measure_backend(weights.path, name, imgsz=imgsz)
        except (DetectkitError, RuntimeError, OSError) as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    if not timings:
        return names[0]
    best = min(timings, key=lambda k: timings[k])
    if errors:  # a runtime that failed here may work next time: measure again then
        return best
    with contextlib.suppress(OSError):
        _store(cache, key, {"backend": best, "ms": timings, "errors": errors, "measured": time.strftime("%Y-%m-%d")})
    return best
