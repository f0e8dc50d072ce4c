"""detectkit.models.ultralytics_nms: Ultralytics' NMS on torchvision's kernel, no torchvision import.

The process-wide switch is only ever turned on in child processes here (it patches an Ultralytics
class attribute); the test process keeps native Ultralytics, which the answers are compared with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from detectkit.models import ultralytics_nms as lean
from detectkit.models import weights

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))

# A fresh process as a batch worker runs it: switch on, build the detector, detect; report the
# answers' bytes and which heavy modules got imported.
_LEAN_CHILD = r"""
import json, sys
import torch
torch.set_num_threads(1)
from detectkit.models import ultralytics_nms as lean
from detectkit.models.detector import Detector
from detectkit.image import load_image
switched = lean.use_torchvision_kernel()
args = json.loads(sys.argv[1])
det = Detector("demo-shapes", conf=args["conf"])
images = [load_image(p) for p in args["paths"]]
answers = [det.detect_batch([im])[0] for im in images] + det.detect_batch(images[:4])
out = {
    "switched": switched,
    "again": lean.use_torchvision_kernel(),
    "active": lean.active(),
    "threads": torch.get_num_threads(),
    "loaded": sorted(m for m in ("torchvision", "torch._dynamo", "sympy") if m in sys.modules),
    "answers": [[d.xyxy.tobytes().hex(), d.confidence.tobytes().hex(), d.class_id.tobytes().hex()] for d in answers],
}
# Ultralytics' NMS entry as the switch left it, on random boxes with tied scores, against
# torchvision.ops.nms (imported only now)
from ultralytics.utils.nms import TorchNMS
g = torch.Generator().manual_seed(0)
cases = []
for trial in range(100):
    n = int(torch.randint(2, 200, (1,), generator=g))
    xy = torch.rand(n, 2, generator=g) * 300
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 60 + 1], 1)
    scores = (torch.rand(n, generator=g) * 10).round() / 10
    cases.append((boxes, scores, TorchNMS.nms(boxes, scores, 0.7)))
import torchvision
out["tie_cases_differing"] = sum(not torch.equal(keep, torchvision.ops.nms(b, s, 0.7)) for b, s, keep in cases)
print(json.dumps(out))
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


@pytest.fixture
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _native_answers(paths: list[Path], conf: float) -> list[list[str]]:
    """Native ``YOLO.predict`` on one thread (set back after its predictor set-up reset it), with
    torchvision imported as Ultralytics' warm-up does: each image alone, then the first 4 at once."""
    import torch
    import torchvision  # noqa: F401  (native Ultralytics imports it in its warm-up)
    from ultralytics import YOLO

    from detectkit import Detections
    from detectkit.image import load_image

    demo = weights.resolve("demo-shapes")
    yolo = YOLO(str(demo.path))
    kwargs: dict[str, Any] = {"conf": conf, "imgsz": demo.imgsz, "verbose": False, "save": False}
    yolo.predict(np.zeros((32, 32, 3), np.uint8), **kwargs)
    torch.set_num_threads(1)
    images = [load_image(p) for p in paths]
    results = [yolo.predict(im, **kwargs)[0] for im in images] + list(yolo.predict(images[:4], **kwargs))
    assert torch.get_num_threads() == 1
    out = []
    for r in results:
        d = Detections.from_ultralytics(r)
        assert d.confidence is not None
        out.append([d.xyxy.tobytes().hex(), d.confidence.tobytes().hex(), d.class_id.tobytes().hex()])
    return out


@pytest.mark.slow
@pytest.mark.usefixtures("_one_thread")
@pytest.mark.parametrize("conf", [0.25, 0.01])
def test_worker_mode_detects_the_native_bits_without_importing_torchvision(conf: float) -> None:
    """A fresh process with the switch on never imports torchvision (nor torch._dynamo, sympy) and
    its boxes, scores and classes are byte-identical to native Ultralytics at the same thread count
    (conf=0.01 gives NMS hundreds of overlapping candidates per image); its NMS equals
    ``torchvision.ops.nms`` on tied scores too, where Ultralytics' own fallback does not."""
    from ultralytics import ASSETS

    paths = [*SAMPLES[:5], Path(ASSETS) / "bus.jpg"]
    args = json.dumps({"conf": conf, "paths": [str(p) for p in paths]})
    proc = subprocess.run(
        [sys.executable, "-c", _LEAN_CHILD, args], capture_output=True, text=True, env=_child_env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child["switched"]
    assert child["again"]
    assert child["active"]
    assert child["threads"] == 1
    assert child["loaded"] == []
    assert child["tie_cases_differing"] == 0  # Ultralytics' own TorchNMS.nms: most of them differ
    native = _native_answers(paths, conf)
    assert len(child["answers"]) == len(native) == len(paths) + 4
    assert child["answers"] == native
    assert sum(len(a[2]) // 16 for a in native) > 20  # int64 class ids: there are boxes to compare


def test_kernel_is_the_one_torchvision_ops_nms_calls() -> None:
    """torchvision's library loaded by path gives ``torchvision.ops.nms``'s answers (ties too)."""
    import torch
    import torchvision

    library = lean.torchvision_extension()
    assert library is not None
    assert library.parent == Path(torchvision.__file__).parent
    torch.ops.load_library(str(library))  # already loaded by the package: a no-op
    g = torch.Generator().manual_seed(0)
    for trial in range(200):
        n = int(torch.randint(1, 200, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 300
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 60 + 1], 1)
        scores = torch.rand(n, generator=g)
        if trial % 2:
            scores = (scores * 10).round() / 10  # tied scores
        for iou in (0.7, 0.45, 0.6):
            assert torch.equal(torch.ops.torchvision.nms(boxes, scores, iou), torchvision.ops.nms(boxes, scores, iou))


def test_nothing_changes_once_torchvision_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision  # noqa: F401
    from ultralytics.utils.nms import TorchNMS

    # a batch worker built in this process earlier (tests/batch) may have switched it on already
    monkeypatch.setattr(lean, "_ACTIVE", False)
    before = TorchNMS.__dict__["nms"]
    assert lean.use_torchvision_kernel() is False
    assert lean.active() is False
    assert TorchNMS.__dict__["nms"] is before


def _predictor(device: str = "cpu", fmt: str = "pt", done: bool = False) -> Any:
    import torch

    return SimpleNamespace(done_warmup=done, model=SimpleNamespace(device=torch.device(device), format=fmt))


def test_warmup_skipped_only_where_it_would_only_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ultralytics' warm-up runs a forward pass off CPU and for TorchScript/Triton: those keep it."""
    monkeypatch.setattr(lean, "_ACTIVE", False)
    off = _predictor()
    lean.skip_import_only_warmup(off)
    assert off.done_warmup is False  # switch off: native behaviour
    monkeypatch.setattr(lean, "_ACTIVE", True)
    for kind, skipped in [(("cpu", "pt"), True), (("cpu", "onnx"), True), (("cpu", "torchscript"), False)]:
        p = _predictor(*kind)
        lean.skip_import_only_warmup(p)
        assert p.done_warmup is skipped, kind
    meta = _predictor("meta")
    lean.skip_import_only_warmup(meta)
    assert meta.done_warmup is False
    lean.skip_import_only_warmup(None)  # no predictor: nothing to do
