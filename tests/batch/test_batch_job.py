"""The on-disk job: manifest checks, atomic shards, streaming merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectkit.batch._job import Job, ShardResult
from detectkit.errors import InvalidInputError

SPEC = {"task": "detect", "model": "demo-shapes", "options": {}, "batch_size": 4, "threads": 1}


def _job(out: Path, items: tuple[str, ...] = ("a", "b", "c", "d", "e"), spec: dict | None = None) -> Job:
    return Job(out=out, spec=spec or SPEC, items=items, shard_size=2)


def _finish(job: Job, index: int) -> None:
    shard = list(job.shards())[index]
    lines = []
    for k, src in enumerate(shard.sources):
        i = shard.first + k
        if src == "c":
            lines.append(json.dumps({"error": "bad", "index": i, "source": src}, sort_keys=True))
        else:
            lines.append(json.dumps({"index": i, "source": src, "detections": {}}))
    job.save_shard(ShardResult(index, "".join(x + "\n" for x in lines), 0, 0, {0: "circle"}))


def test_pending_resume_and_merge(tmp_path: Path) -> None:
    job = _job(tmp_path / "out")
    job.prepare()
    assert [s.index for s in job.pending()] == [0, 1, 2]
    _finish(job, 1)
    again = _job(tmp_path / "out")
    again.prepare()  # same job: accepted, finished shard kept
    assert [s.index for s in again.pending()] == [0, 2]
    _finish(again, 2)
    _finish(again, 0)
    summary = again.merge()
    assert summary == {"task": "detect", "images": 5, "succeeded": 4, "failed": 1, "shards": 3}
    results = (tmp_path / "out" / "detections.jsonl").read_text().splitlines()
    assert [json.loads(x)["source"] for x in results] == ["a", "b", "d", "e"]
    failures = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in failures] == [{"error": "bad", "index": 2, "source": "c"}]
    assert again.names() == {0: "circle"}
    assert not list((tmp_path / "out").rglob("*.tmp"))


@pytest.mark.parametrize(
    ("items", "spec"),
    [(("a", "b", "x"), None), (("a", "b", "c", "d", "e"), {**SPEC, "batch_size": 8})],
)
def test_other_job_in_out_is_refused_unless_overwrite(tmp_path: Path, items: tuple[str, ...], spec: dict) -> None:
    first = _job(tmp_path / "out")
    first.prepare()
    _finish(first, 0)
    other = _job(tmp_path / "out", items, spec)
    with pytest.raises(InvalidInputError, match="holds a different job"):
        other.prepare()
    other.prepare(overwrite=True)
    assert len(other.pending()) == other.num_shards


def test_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match="not empty"):
        _job(tmp_path / "out").prepare()
