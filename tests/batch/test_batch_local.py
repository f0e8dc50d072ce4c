"""The local engine end to end with the demo detector: same bytes as one process, resumable.

The reference is the worker code run in this process, shard by shard (no pool); the
engine must reproduce it byte for byte whatever the worker count, after a worker is
killed, and after the driver is killed and the job rerun.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detectkit.batch import classify, detect
from detectkit.batch._job import Job
from detectkit.batch._schedule import input_shape_groups
from detectkit.batch._worker import ShardRunner
from detectkit.batch.api import detect_spec
from detectkit.batch.sources import resolve_sources

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"
SPEC = detect_spec(batch_size=4)
FILES = ("detections.jsonl", "failures.jsonl", "summary.json")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for p in sorted(VAL.glob("*.jpg"))[:16]:
        shutil.copy(p, folder / p.name)
    (folder / "val_00003b_corrupt.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return folder


def _reference(images: Path, out: Path, shard_size: int) -> Path:
    """The job run shard by shard in this process: the single-process truth."""
    job = Job(out=out, spec=SPEC, items=resolve_sources([images]), shard_size=shard_size)
    job.prepare()
    runner = ShardRunner(SPEC)
    for shard in job.shards():
        job.save_shard(runner.run(shard))
    job.merge()
    return out


def _same(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert sorted(p.name for p in (a / "shards").iterdir()) == sorted(p.name for p in (b / "shards").iterdir())


@pytest.fixture(scope="module")
def reference(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _reference(images, tmp_path_factory.mktemp("ref") / "out", shard_size=3)


def test_two_workers_match_single_process_and_rerun_skips(images: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = detect(images, out, workers=2, batch_size=4, shard_size=3, save_dataset=tmp_path / "ds")
    assert (result.images, result.succeeded, result.failed, result.shards) == (17, 16, 1, 6)
    assert not result.ok
    assert result.complete
    _same(out, reference)
    failure = json.loads((out / "failures.jsonl").read_text())
    assert failure["source"].endswith("val_00003b_corrupt.jpg")
    assert "not a readable image" in failure["error"]
    records = [json.loads(x) for x in (out / "detections.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == sorted(r["source"] for r in records)
    assert sum(len(r["detections"]["xyxy"]) for r in records) > 16  # the detector found the shapes
    coco = json.loads((tmp_path / "ds" / "annotations.json").read_text())
    assert len(coco["images"]) == 16
    assert len(coco["annotations"]) == sum(len(r["detections"]["xyxy"]) for r in records)
    again = detect(images, out, workers=2, batch_size=4, shard_size=3, save_dataset=tmp_path / "ds")
    assert (again.shards_run, again.shards_skipped) == (0, 6)
    _same(out, reference)


def _children(pid: int) -> list[int]:
    import psutil

    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k.pid for k in kids if "resource_tracker" not in " ".join(k.cmdline())]


def _wait_shards(out: Path, at_least: int, proc: subprocess.Popen[bytes], timeout: float = 240) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        n = len(list((out / "shards").glob("*.jsonl"))) if (out / "shards").is_dir() else 0
        if n >= at_least or proc.poll() is not None:
            return n
        time.sleep(0.05)
    raise AssertionError("no progress")


@pytest.mark.slow
def test_killed_worker_and_killed_driver_then_rerun_is_byte_identical(
    images: Path, reference: Path, tmp_path: Path
) -> None:
    # one item per shard: 17 shards, so the job is still running when the kills come (workers
    # start in about a second and a 3-item shard job could end before the first kill)
    reference = _reference(images, tmp_path / "ref", shard_size=1)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "detectkit", "detect", str(images), "--engine", "local", "--workers", "2"]
    cmd += ["--batch-size", "4", "--shard-size", "1", "--out", str(out), "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        _wait_shards(out, 1, proc)
        workers = _children(proc.pid)
        assert workers, f"no worker processes found (driver exit code {proc.poll()})"
        os.kill(workers[0], signal.SIGKILL)  # a worker dies mid-job: its shards are retried
        _wait_shards(out, 3, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # then the driver (and its pool) dies
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = len(list((out / "shards").glob("*.jsonl")))
    assert 1 <= done < 17, f"the kill came too late to test a resume ({done} of 17 shards)"
    assert not (out / "detections.jsonl").exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 1, rerun.stderr  # one corrupt image: exit code 1
    _same(out, reference)
    assert not [p for p in (out / "shards").iterdir() if p.suffix != ".jsonl"]


@pytest.mark.slow
def test_classify_matches_in_process_classifier(images: Path, tmp_path: Path) -> None:
    from detectkit.models.classifier import Classifier

    subset = tmp_path / "imgs"
    subset.mkdir()
    for p in sorted(images.iterdir())[:5]:
        shutil.copy(p, subset / p.name)
    result = classify(subset, tmp_path / "out", workers=1, batch_size=2, shard_size=3, top_k=3)
    assert (result.succeeded, result.failed) == (4, 1)
    lines = [json.loads(x) for x in (tmp_path / "out" / "classifications.jsonl").read_text().splitlines()]
    import torch

    torch.set_num_threads(1)
    good = [Path(r["source"]) for r in lines]
    expected = Classifier().classify_many([str(p) for p in good], top_k=3, batch_size=2)
    for record, exp in zip(lines, expected, strict=True):
        assert record["classification"]["labels"] == exp.labels
        assert record["classification"]["confidence"] == pytest.approx(exp.confidence.tolist(), abs=1e-5)


@pytest.mark.slow
def test_worker_that_always_dies_is_reported_not_awaited(
    images: Path, tmp_path: Path, die_hook: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, flag = die_hook  # every worker process ends itself when it loads the model
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("DETECTKIT_TEST_DIE_FLAG", str(flag))
    flag.touch()
    model = "demo-shapes"
    subset = tmp_path / "imgs"
    subset.mkdir()
    shutil.copy(sorted(images.iterdir())[0], subset / "a.jpg")
    result = detect(subset, tmp_path / "out", model=model, workers=1, retries=1, stall_timeout=300)
    assert result.lost == [(0, "a worker process died 2 times while running it")]
    assert not result.complete
    assert result.results is None
    assert not (tmp_path / "out" / "detections.jsonl").exists()
    assert not list((tmp_path / "out" / "shards").glob("*.jsonl"))  # rerun will retry it
    flag.unlink()


@pytest.mark.slow
def test_openvino_workers_share_compiled_models_with_identical_output(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two OpenVINO workers on an empty compiled-model cache compile each input shape once between
    them, and (shards grouped by input shape) load fewer shapes than every worker loading every
    shape; a second job compiles nothing; both write the bytes of the job run in one process
    without any cache."""
    pytest.importorskip("openvino")
    spec = detect_spec(batch_size=4, backend="openvino")
    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", "off")
    ref = tmp_path / "ref"
    items = resolve_sources([images])
    groups = input_shape_groups(items, spec)
    assert groups is not None
    assert len(set(groups) - {""}) >= 3
    job = Job(out=ref, spec=spec, items=items, shard_size=3, groups=groups)
    job.prepare()
    runner = ShardRunner(spec)
    assert runner.model._onnx.session.cache is None
    for shard in job.shards():
        job.save_shard(runner.run(shard))
    job.merge()
    cache = tmp_path / "compiled"
    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", str(cache))
    kw = {"workers": 2, "batch_size": 4, "shard_size": 3, "backend": "openvino"}
    cold = detect(images, tmp_path / "cold", **kw)  # type: ignore[arg-type]
    blobs = len(list(cache.glob("*.blob")))
    assert blobs == len(set(groups) - {""})  # the groups are the shapes the workers compiled
    assert cold.engine_stats["workers_seen"] == 2
    assert cold.engine_stats["shard_groups"] == len(set(groups))
    assert cold.engine_stats["models_compiled"] == blobs  # once each, whichever worker needed it first
    # each worker loads the shapes of its own groups (plus any it joins at the end), not all of them
    assert cold.engine_stats["models_compiled"] + cold.engine_stats["models_imported"] < 2 * blobs
    warm = detect(images, tmp_path / "warm", **kw)  # type: ignore[arg-type]
    assert warm.engine_stats["models_compiled"] == 0
    assert blobs <= warm.engine_stats["models_imported"] < 2 * blobs
    for out in (tmp_path / "cold", tmp_path / "warm"):
        _same(out, ref)


@pytest.mark.slow
def test_openvino_grouped_job_resumes_byte_identical(images: Path, tmp_path: Path) -> None:
    """A grouped (OpenVINO) job with some shards finished earlier, in any order, resumes to the
    bytes of an uninterrupted run; the merged files are in source order."""
    pytest.importorskip("openvino")
    kw = {"workers": 2, "batch_size": 4, "shard_size": 2, "backend": "openvino"}
    full = detect(images, tmp_path / "full", **kw)  # type: ignore[arg-type]
    assert full.engine_stats["shard_groups"] >= 3
    spec = detect_spec(batch_size=4, backend="openvino")
    items = resolve_sources([images])
    job = Job(out=tmp_path / "part", spec=spec, items=items, shard_size=2, groups=input_shape_groups(items, spec))
    job.prepare()
    runner = ShardRunner(spec)
    shards = list(job.shards())
    assert len({s.group for s in shards}) >= 3
    for shard in shards[::-2]:  # every other shard, last first: a crash leaves any subset
        job.save_shard(runner.run(shard))
    resumed = detect(images, tmp_path / "part", **kw)  # type: ignore[arg-type]
    assert resumed.shards_skipped == len(shards[::-2])
    assert resumed.shards_run == len(shards) - len(shards[::-2])
    _same(tmp_path / "part", tmp_path / "full")
    records = [json.loads(x) for x in (tmp_path / "full" / "detections.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == sorted(r["source"] for r in records)
    assert [r["index"] for r in records] == sorted(r["index"] for r in records)
