"""Worker set-up: the job's thread count holds, and workers take disjoint cores."""

from __future__ import annotations

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
