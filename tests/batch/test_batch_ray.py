"""The Ray engine on a real local Ray (2 CPUs, small object store): detect and convert end to end.

One Ray start for the module (about 1.5 GB of RAM while it runs); the engines reuse a Ray
that is already initialised and leave it running, the fixture shuts it down.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs the extra: pip install 'detectkit[ray]'")

from detectkit.batch import convert, detect  # noqa: E402
from detectkit.batch._job import Job  # noqa: E402
from detectkit.batch._worker import ShardRunner  # noqa: E402
from detectkit.batch.api import detect_spec  # noqa: E402
from detectkit.batch.sources import resolve_sources  # noqa: E402
from detectkit.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"
COCO = ROOT / "datasets" / "shapes" / "annotations" / "instances_val.json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray(die_hook: tuple[Path, Path]) -> Iterator[None]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    hook, flag = die_hook  # actors end themselves loading a model while the flag file exists
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), str(hook)]), "DETECTKIT_TEST_DIE_FLAG": str(flag)}
        },
    )
    yield
    ray.shutdown()


def test_detect_on_ray_matches_single_process(local_ray: None, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(VAL.glob("*.jpg"))[:8]:
        shutil.copy(p, images / p.name)
    (images / "val_00002b_corrupt.jpg").write_bytes(b"\x89PNG broken")
    killed: list[int] = []

    def kill_one_actor() -> None:  # once the first shard is written, an actor process dies
        import psutil

        end = time.monotonic() + 300
        while time.monotonic() < end and not list((tmp_path / "out" / "shards").glob("*.jsonl")):
            time.sleep(0.05)
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if "MapWorker" in " ".join(proc.info["cmdline"] or []):
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return

    killer = threading.Thread(target=kill_one_actor, daemon=True)
    killer.start()
    result = detect(images, tmp_path / "out", engine="ray", workers=2, batch_size=4, shard_size=2, threads=1)
    killer.join(timeout=10)
    assert killed, "no Ray actor process was found to kill"
    assert (result.images, result.succeeded, result.failed, result.shards_run) == (9, 8, 1, 5)
    assert result.lost == []  # the dead actor was restarted and its shard retried
    # the same job, shard by shard in this process
    spec = detect_spec(batch_size=4)
    job = Job(out=tmp_path / "ref", spec=spec, items=resolve_sources([images]), shard_size=2)
    job.prepare()
    runner = ShardRunner(spec)
    for shard in job.shards():
        job.save_shard(runner.run(shard))
    job.merge()
    for name in ("detections.jsonl", "failures.jsonl", "summary.json"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


def test_convert_on_ray_is_the_local_conversion(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    convert(COCO, tmp_path / "local", to="yolo", engine="local", images=VAL)
    convert(COCO, tmp_path / "api", to="yolo", engine="ray", images=VAL)
    code = main(["convert", str(COCO), str(tmp_path / "cli"), "--to", "yolo", "--images", str(VAL), "--engine", "ray"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.txt"))
    assert len(local) > 10
    for other in ("api", "cli"):
        got = sorted(p.relative_to(tmp_path / other) for p in (tmp_path / other).rglob("*.txt"))
        assert got == local
        for rel in local:
            assert (tmp_path / other / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes()


def test_actor_that_always_dies_is_reported_not_awaited(
    local_ray: None, tmp_path: Path, die_hook: tuple[Path, Path]
) -> None:
    flag = die_hook[1]
    flag.touch()
    model = "demo-shapes"
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(sorted(VAL.glob("*.jpg"))[0], images / "a.jpg")
    result = detect(images, tmp_path / "out", model=model, engine="ray", workers=1, retries=1, stall_timeout=300)
    assert len(result.lost) == 1
    assert "ActorDiedError" in result.lost[0][1]
    assert result.results is None
    assert not list((tmp_path / "out" / "shards").glob("*.jsonl"))
    flag.unlink()
