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
            if "ShardActor" in " ".join(proc.info["cmdline"] or []):
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


@pytest.mark.filterwarnings("ignore:.*skipped 1 bad record")
def test_convert_on_ray_parses_shards_and_matches_the_plain_conversion(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from detectkit.dataset import Dataset
    from detectkit.formats import convert as plain_convert
    from detectkit.formats import write

    ds = Dataset.read(COCO)
    src = tmp_path / "voc"
    write(ds.select([r.id for r in ds.images[:12]]), src, format="voc", link_images=False)
    (src / "Annotations" / "zz_bad.xml").write_text("<foo/>")  # a skipped file, named in the notes
    plain = plain_convert(src, tmp_path / "plain.json", to="coco")
    summary = convert(src, tmp_path / "api.json", to="coco", engine="ray", workers=2, shard_size=4, min_files=0)
    assert (tmp_path / "api.json").read_bytes() == (tmp_path / "plain.json").read_bytes()
    assert summary.notes[:-1] == plain.notes
    assert any("zz_bad.xml" in n for n in plain.notes)
    assert "read 13 voc files in 4 shard(s) of up to 4 on 2 Ray task slot(s)" in summary.notes[-1]
    assert main(["convert", str(src), str(tmp_path / "local"), "--to", "yolo"]) == 0
    argv = ["convert", str(src), str(tmp_path / "cli"), "--to", "yolo", "--engine", "ray", "--min-files", "0"]
    assert main([*argv, "--shard-size", "5"]) == 0
    assert "3 shard(s) of up to 5" in capsys.readouterr().out
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert len(local) > 10
    for rel in local:
        assert (tmp_path / "cli" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes()


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
