"""Worker set-up: the job's thread count holds, and workers take disjoint cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detectkit.batch._worker import ShardRunner
from detectkit.batch.api import detect_spec

ROOT = Path(__file__).resolve().parents[2]

_CLAIM = textwrap.dedent(
    """
    import sys, time
    from detectkit.batch._worker import claim_cores
    print(claim_cores(1), flush=True)
    sys.stdin.read()  # hold the slot until the test closes stdin
    """
)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_two_workers_claim_different_cores(tmp_path: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["TMPDIR"] = str(tmp_path)  # the slot lock files of this test only (other tests' workers hold slots too)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    try:
        got = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
    finally:
        for p in procs:
            p.communicate("")
    if len(cores) < 2:  # one core: nothing to split, nothing pinned
        assert got == ["None", "None"]
    else:
        assert got[0] != got[1]
        assert {got[0], got[1]} <= {f"({c},)" for c in cores}


def test_torch_threads_survive_ultralytics_predictor_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import ultralytics.utils.torch_utils as torch_utils

    before = torch.get_num_threads()
    monkeypatch.setattr(torch_utils, "NUM_THREADS", 3)  # what a 4-core node would reset torch to
    try:
        runner = ShardRunner(detect_spec(threads=1))
        assert torch.get_num_threads() == 1  # the predictor was set up (and reset) at load, then fixed
        import numpy as np

        runner._infer([np.zeros((32, 32, 3), dtype=np.uint8)])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_openvino_output_does_not_depend_on_what_the_worker_ran_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which worker runs a shard, and after which others, must not change its lines: a shard run
    first and the same shard run last (its shapes already seen) give the same text. With
    DETECTKIT_OPENVINO_CACHE_DIR the compiled models are kept there (and the second worker's
    come from it, with the same results)."""
    pytest.importorskip("openvino")
    from detectkit.batch._job import Job
    from detectkit.batch.sources import resolve_sources

    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", str(tmp_path / "cache" / "openvino"))
    spec = detect_spec(backend="openvino", batch_size=4)
    items = resolve_sources([ROOT / "datasets" / "shapes" / "images" / "val"])[:12]
    shards = list(Job(out=tmp_path, spec=spec, items=items, shard_size=4).shards())
    forward = ShardRunner(spec)
    first = {s.index: forward.run(s).text for s in shards}
    backward = ShardRunner(spec)
    last = {s.index: backward.run(s).text for s in reversed(shards)}
    assert first == last
    assert list((tmp_path / "cache" / "openvino").glob("*.blob"))  # OpenVINO's model cache


def test_openvino_worker_compiles_per_shape_only_and_model_errors_stop_the_shard(tmp_path: Path) -> None:
    """A worker's OpenVINO session runs every shape on its own static model from the first image
    (``compile_after`` 1, set while loading, so no dynamic model is compiled for nothing), and its
    output equals a session switched to that mode after a normal load. A model error while running
    a shard is the job's error, not one failure line per image; other errors stay per-image."""
    pytest.importorskip("openvino")
    from detectkit.batch._job import Job
    from detectkit.batch.sources import resolve_sources
    from detectkit.errors import ModelLoadError
    from detectkit.image import load_image
    from detectkit.models.detector import Detector

    spec = detect_spec(backend="openvino", batch_size=4)
    items = resolve_sources([ROOT / "datasets" / "shapes" / "images" / "val"])[:6]
    (shard,) = Job(out=tmp_path, spec=spec, items=items, shard_size=6).shards()
    runner = ShardRunner(spec)
    assert runner.model._onnx.session.compile_after == 1
    plain = Detector(spec["model"], **spec["options"])  # after the runner's load: the usual session again
    assert plain._onnx.session.compile_after == 2
    plain._onnx.session.compile_after = 1
    expected = [json.loads(json.dumps(plain.detect_batch([load_image(p)])[0].to_dict())) for p in items]
    lines = runner.run(shard).text.splitlines()
    assert [json.loads(line)["detections"] for line in lines] == expected

    def broken(images: list[object]) -> list[object]:
        raise ModelLoadError("OpenVINO cannot compile the model")

    runner.model.detect_batch = broken
    with pytest.raises(ModelLoadError, match="cannot compile"):
        runner.run(shard)

    def bad_image(images: list[object]) -> list[object]:
        raise ValueError("not this one")

    runner.model.detect_batch = bad_image
    text = runner.run(shard).text
    assert text.count('"error": "ValueError: not this one"') == len(items)


_TORCH_WORKER = textwrap.dedent(
    """
    import json, sys
    from detectkit.batch._job import Shard
    from detectkit.batch._worker import ShardRunner
    from detectkit.batch.api import detect_spec
    runner = ShardRunner(detect_spec(threads=1, batch_size=2))
    text = runner.run(Shard(0, 0, tuple(sys.argv[1:]))).text
    loaded = sorted(m for m in ("torchvision", "torch._dynamo") if m in sys.modules)
    print(json.dumps({"loaded": loaded, "text": text}))
    """
)


@pytest.mark.slow
def test_torch_worker_never_imports_torchvision_and_writes_the_same_lines(tmp_path: Path) -> None:
    """A torch detection worker runs Ultralytics' NMS on torchvision's kernel without importing the
    torchvision package (which imports torch._dynamo: ~1.3 s of every worker's start), and its shard
    equals the one this process writes (torchvision imported, as native Ultralytics has it)."""
    import torchvision  # noqa: F401

    from detectkit.batch._job import Shard

    paths = [str(p) for p in sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[:5]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["DETECTKIT_PIN_CORES"] = "0"
    proc = subprocess.run(
        [sys.executable, "-c", _TORCH_WORKER, *paths], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child["loaded"] == []
    import torch

    before = torch.get_num_threads()
    try:
        here = ShardRunner(detect_spec(threads=1, batch_size=2)).run(Shard(0, 0, tuple(paths))).text
    finally:
        torch.set_num_threads(before)
    assert child["text"] == here
    assert here.count('"class_id"') >= 1
