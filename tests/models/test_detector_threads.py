"""A torch ``Detector`` runs on the caller's torch thread count, not the one Ultralytics sets.

Ultralytics' ``select_device`` calls ``torch.set_num_threads(NUM_THREADS)`` (``cpu_count - 1``, at
least 1) whenever a predictor or exporter is set up. These tests patch that ``NUM_THREADS`` to 1
(what a 1- or 2-core machine gets) so they fail on the old code on any machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectkit.models import weights
from detectkit.models.detector import Detector, onnx_export

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


@pytest.fixture(autouse=True)
def _threads_restored() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def ultralytics_resets_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ultralytics' reset target as on a machine reporting one or two cores."""
    from ultralytics.utils import torch_utils

    monkeypatch.setattr(torch_utils, "NUM_THREADS", 1)


def _watch(detector: Detector) -> list[int]:
    """Torch's thread count at the start of every batch Ultralytics' predictor runs."""
    import torch

    seen: list[int] = []
    detector._yolo.add_callback("on_predict_batch_start", lambda _predictor: seen.append(torch.get_num_threads()))
    return seen


def _images() -> list[np.ndarray]:
    from detectkit.image import load_image

    return [load_image(p) for p in SAMPLES[:3]]


CALLS: dict[str, Callable[[Detector, list[np.ndarray]], Any]] = {
    "detect": lambda d, imgs: d.detect(imgs[0]),
    "detect_list": lambda d, imgs: d.detect(imgs),
    "detect_batch": lambda d, imgs: d.detect_batch(imgs),
    "detect_stream": lambda d, imgs: list(d.detect_stream(imgs, batch_size=2)),
    "sliced": lambda d, imgs: d.detect(imgs[0], slicing=160),
    "track": lambda d, imgs: list(d.track(imgs, "bytetrack", frame_rate=30)),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_first_call_runs_and_leaves_the_callers_threads(call: str, ultralytics_resets_to_one: None) -> None:
    """Set 2 threads, then the first call (the one that sets Ultralytics' predictor up) runs its
    forward passes on 2 threads and leaves 2 (the old code ran and left 1)."""
    import torch

    torch.set_num_threads(2)
    det = Detector("demo-shapes")  # a fresh predictor: this call sets it up
    seen = _watch(det)
    CALLS[call](det, _images())
    assert seen, "no forward pass ran"
    assert set(seen) == {2}
    assert torch.get_num_threads() == 2


def test_count_set_after_creating_is_honoured(ultralytics_resets_to_one: None) -> None:
    import torch

    det = Detector("demo-shapes")
    seen = _watch(det)
    image = _images()[0]
    for threads in (2, 1, 2):
        torch.set_num_threads(threads)
        det.detect(image)
        assert seen[-1] == threads
        assert torch.get_num_threads() == threads


def test_unpatched_ultralytics_count_is_not_forced() -> None:
    """Without the patch: a count Ultralytics would never pick here (its ``NUM_THREADS + 1``)."""
    import torch
    from ultralytics.utils import NUM_THREADS

    torch.set_num_threads(NUM_THREADS + 1)
    det = Detector("demo-shapes")
    seen = _watch(det)
    det.detect(_images()[0])
    assert seen == [NUM_THREADS + 1]
    assert torch.get_num_threads() == NUM_THREADS + 1


def test_answers_equal_at_the_same_count_and_barely_differ_across_counts(ultralytics_resets_to_one: None) -> None:
    """The first (set-up) call answers exactly like a later one at the same count."""
    import torch

    torch.set_num_threads(2)
    image = _images()[1]
    first = Detector("demo-shapes", conf=0.05).detect(image)
    det = Detector("demo-shapes", conf=0.05)
    det.detect(image)
    again = det.detect(image)
    assert first == again
    torch.set_num_threads(1)
    one = det.detect(image)
    assert len(one) == len(again)
    np.testing.assert_allclose(one.xyxy, again.xyxy, atol=1e-3, rtol=0)


@pytest.mark.slow
def test_onnx_export_keeps_the_threads(ultralytics_resets_to_one: None, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(2)
    path = weights.resolve("demo-shapes").path
    assert path is not None
    out = onnx_export(path, imgsz=320, cache=tmp_path)
    assert out.is_file()
    assert torch.get_num_threads() == 2


@pytest.mark.slow
def test_preparing_ultralytics_keeps_torchs_default_count() -> None:
    """Importing Ultralytics sets ``OMP_NUM_THREADS=1``; torch imported after that, and every child
    process, would start on one thread. ``prepare_ultralytics`` imports torch first and takes the
    variable back out (needs 2+ cores to tell the counts apart: torch's default is one per core)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    count = "import torch; print(torch.get_num_threads())"

    def run(code: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        return out.stdout.split()

    plain = run(count)
    prepared = run(
        "import os, subprocess, sys\n"
        "from detectkit.models import prepare_ultralytics\n"
        "prepare_ultralytics()\n"
        "import torch\n"
        "print(torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS', '-'))\n"
        f"print(subprocess.run([sys.executable, '-c', {count!r}], capture_output=True, text=True).stdout)"
    )
    assert prepared == [*plain, "-", *plain]  # here, the environment, a child process
    env["OMP_NUM_THREADS"] = "1"  # the user's own setting stays
    assert run("from detectkit.models import prepare_ultralytics; prepare_ultralytics(); " + count) == ["1"]
