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


def _finish_all(job: Job) -> None:
    for shard in job.shards():
        lines = [json.dumps({"index": shard.position(k), "source": src}) for k, src in enumerate(shard.sources)]
        job.save_shard(ShardResult(shard.index, "".join(x + "\n" for x in lines), len(lines), 0))


def test_grouped_job_shards_hold_one_group_and_merge_in_item_order(tmp_path: Path) -> None:
    items = tuple(f"img{i:02d}" for i in range(9))
    groups = ("b", "a", "b", "b", "c", "a", "b", "b", "a")
    job = Job(out=tmp_path / "out", spec=SPEC, items=items, shard_size=2, groups=groups)
    shards = list(job.shards())
    assert [(s.group, s.positions) for s in shards] == [
        ("a", (1, 5)),
        ("a", (8,)),
        ("b", (0, 2)),
        ("b", (3, 6)),
        ("b", (7,)),
        ("c", (4,)),
    ]
    assert job.num_shards == len(shards) == 6
    assert all(s.sources == tuple(items[p] for p in s.positions) for s in shards)
    job.prepare()
    _finish_all(job)
    assert job.merge()["images"] == 9
    merged = [json.loads(x) for x in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    assert [r["index"] for r in merged] == list(range(9))
    assert [r["source"] for r in merged] == list(items)


def test_grouping_is_part_of_the_job(tmp_path: Path) -> None:
    items = ("a", "b", "c")
    plain = Job(out=tmp_path / "out", spec=SPEC, items=items, shard_size=2)
    grouped = Job(out=tmp_path / "out", spec=SPEC, items=items, shard_size=2, groups=("x", "y", "x"))
    assert "groups_sha256" not in plain.manifest()  # ungrouped manifests are unchanged
    grouped.prepare()
    _finish_all(grouped)
    regrouped = Job(out=tmp_path / "out", spec=SPEC, items=items, shard_size=2, groups=("x", "x", "y"))
    with pytest.raises(InvalidInputError, match="holds a different job"):
        regrouped.prepare()  # other shards: the finished shard files would not fit
    with pytest.raises(InvalidInputError, match="holds a different job"):
        plain.prepare()
    same = Job(out=tmp_path / "out", spec=SPEC, items=items, shard_size=2, groups=("x", "y", "x"))
    same.prepare()
    assert same.pending() == []
    with pytest.raises(ValueError, match="2 keys for 3 items"):
        Job(out=tmp_path / "o2", spec=SPEC, items=items, shard_size=2, groups=("x", "y"))
