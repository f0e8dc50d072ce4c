"""A batch job on disk: its manifest, its shards, and the merge of finished shards.

Layout of the output folder ``OUT``::

    OUT/job.json              what the job is (task, options, item count and digest, shard size)
    OUT/shards/00000.jsonl    one file per shard, written atomically when the shard is done
    OUT/names.json            the model's class names (written once, by the first finished shard)
    OUT/<results>.jsonl       merged results, one line per image, sorted by source
    OUT/failures.jsonl        merged failures ({"error", "index", "source"} per bad image)
    OUT/summary.json          counts

A shard file holds one JSON line per item of the shard, in item order: a result line, or
a failure line that starts with ``{"error":``. Nothing in these files depends on timing,
worker count or engine, so a resumed job is byte-identical to an uninterrupted one.

A job may group its items (``Job.groups``: one key per item, e.g. the input shape an OpenVINO
detector compiles a model for): each shard then holds items of one group only, in item order,
and the merge interleaves the groups back into item order. Without groups a shard is a
contiguous slice of the items.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from detectkit._atomic import write_atomic as _write_atomic
from detectkit.errors import InvalidInputError

__all__ = ["FAILURE_PREFIX", "JOB_VERSION", "Job", "Shard", "ShardResult", "write_atomic"]

JOB_VERSION = 1
#: Every failure line of a shard file starts with this (keys are written sorted).
FAILURE_PREFIX = '{"error": '
RESULT_FILES = {"detect": "detections.jsonl", "classify": "classifications.jsonl"}


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically and flushed to the disk (a resumed job trusts every
    file it finds): :func:`detectkit._atomic.write_atomic` with ``fsync``."""
    _write_atomic(path, data, fsync=True)


@dataclass(frozen=True)
class Shard:
    """Items of a job run (and written) together.

    Without ``positions`` a contiguous slice of the sorted items, ``items[first:first + len(sources)]``;
    with ``positions`` (a grouped job) the k-th source is item ``positions[k]`` (ascending).
    ``group``: the group key its items share ("" when the job is not grouped).

    >>> Shard(0, 4, ("e", "f")).position(1), Shard(1, 2, ("c", "h"), (2, 7), "416x352").position(1)
    (5, 7)
    """

    index: int
    first: int
    sources: tuple[str, ...]
    positions: tuple[int, ...] = ()
    group: str = ""

    def position(self, k: int) -> int:
        """The item index of this shard's ``k``-th source."""
        return self.positions[k] if self.positions else self.first + k


@dataclass(frozen=True)
class ShardResult:
    """What a worker sends back for one shard: the shard file's text and its counts.

    ``worker``: figures of the worker that ran it (:meth:`~detectkit.batch._worker.ShardRunner.figures`:
    process id, wall-clock times of its start and of its model being ready, compiled/imported
    OpenVINO models so far); they go into the job's ``engine_stats``, never into its files.
    """

    index: int
    text: str
    succeeded: int
    failed: int
    names: dict[int, str] = field(default_factory=dict)
    worker: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """A batch job: the task spec (what every worker runs) and the sorted items, cut into shards.

    >>> job = Job(out=Path("out"), spec={"task": "detect"}, items=("a.jpg", "b.jpg", "c.jpg"), shard_size=2)
    >>> [(s.index, s.sources) for s in job.shards()]
    [(0, ('a.jpg', 'b.jpg')), (1, ('c.jpg',))]
    >>> job.shard_path(1).name
    '00001.jsonl'

    Grouped (``groups``: one key per item), each shard holds one group's items:

    >>> job = Job(Path("out"), {"task": "detect"}, ("a", "b", "c", "d"), 2, groups=("w", "t", "w", "w"))
    >>> [(s.index, s.group, s.sources, s.positions) for s in job.shards()]
    [(0, 't', ('b',), (1,)), (1, 'w', ('a', 'c'), (0, 2)), (2, 'w', ('d',), (3,))]
    """

    out: Path
    spec: Mapping[str, Any]
    items: Sequence[str]
    shard_size: int
    groups: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.groups is not None and len(self.groups) != len(self.items):
            raise ValueError(f"groups has {len(self.groups)} keys for {len(self.items)} items")

    @property
    def task(self) -> str:
        return str(self.spec["task"])

    @cached_property
    def _members(self) -> dict[str, list[int]]:
        """A grouped job's group key -> its item indices (ascending), keys sorted."""
        members: dict[str, list[int]] = {}
        for i, key in enumerate(self.groups or ()):
            members.setdefault(key, []).append(i)
        return dict(sorted(members.items()))

    @property
    def num_shards(self) -> int:
        if self.groups is None:  # arithmetic: no list of every item's index
            return -(-len(self.items) // self.shard_size)
        return sum(-(-len(m) // self.shard_size) for m in self._members.values())

    def shards(self) -> Iterator[Shard]:
        if self.groups is None:
            for k in range(self.num_shards):
                first = k * self.shard_size
                yield Shard(k, first, tuple(self.items[first : first + self.shard_size]))
            return
        k = 0
        for key, members in self._members.items():
            for start in range(0, len(members), self.shard_size):
                chunk = tuple(members[start : start + self.shard_size])
                yield Shard(k, chunk[0], tuple(self.items[i] for i in chunk), chunk, key)
                k += 1

    def shard_path(self, index: int) -> Path:
        return self.out / "shards" / f"{index:05d}.jsonl"

    def manifest(self) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join(self.items).encode("utf-8")).hexdigest()
        manifest: dict[str, Any] = {
            "version": JOB_VERSION,
            "spec": dict(self.spec),
            "items": len(self.items),
            "items_sha256": digest,
            "shard_size": self.shard_size,
        }
        if self.groups is not None:  # the shards depend on the grouping: a rerun must group alike
            manifest["groups"] = len(self._members)
            manifest["groups_sha256"] = hashlib.sha256("\n".join(self.groups).encode("utf-8")).hexdigest()
        return manifest

    # ------------------------------------------------------------------ state on disk
    def prepare(self, *, overwrite: bool = False) -> None:
        """Create ``OUT`` and its manifest, or check that ``OUT`` holds this very job.

        Raises:
            InvalidInputError: ``OUT`` holds another job (other inputs or options) and not
                ``overwrite``.
        """
        manifest = self.manifest()
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        path = self.out / "job.json"
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old != json.loads(text):
                if not overwrite:
                    raise InvalidInputError(
                        f"output folder {self.out} holds a different job (other inputs or options); "
                        "use another --out, or --overwrite to start it again"
                    )
                self.clear()
        elif self.out.exists() and any(self.out.iterdir()) and not overwrite:
            raise InvalidInputError(
                f"output folder {self.out} is not empty and holds no detectkit batch job; "
                "use another --out, or --overwrite"
            )
        elif overwrite:
            self.clear()
        shards = self.out / "shards"
        shards.mkdir(parents=True, exist_ok=True)
        for stale in shards.glob(".*.tmp"):  # left by a driver killed mid-write
            stale.unlink(missing_ok=True)
        write_atomic(path, text)

    def clear(self) -> None:
        """Remove this job's files from ``OUT`` (shards, merged outputs, manifest); nothing else."""
        shards = self.out / "shards"
        if shards.is_dir():
            for p in shards.iterdir():
                if p.suffix in (".jsonl", ".tmp"):  # shard files and temporary files only
                    p.unlink()
        for name in ("job.json", "names.json", "failures.jsonl", "summary.json", *RESULT_FILES.values()):
            (self.out / name).unlink(missing_ok=True)

    def pending(self) -> list[Shard]:
        """Shards without a finished shard file (what a rerun still has to do)."""
        return [s for s in self.shards() if not self.shard_path(s.index).exists()]

    def save_shard(self, result: ShardResult) -> None:
        """Record a finished shard (atomically); the first one also records the class names."""
        write_atomic(self.shard_path(result.index), result.text)
        names_path = self.out / "names.json"
        if result.names and not names_path.exists():
            names = {str(k): v for k, v in sorted(result.names.items())}
            write_atomic(names_path, json.dumps(names, sort_keys=False) + "\n")

    def names(self) -> dict[int, str]:
        path = self.out / "names.json"
        if not path.exists():
            return {}
        return {int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}

    def _lines(self, shards: Iterable[Shard]) -> Iterator[tuple[int, str]]:
        """``(item index, line)`` of these shards' files, in order."""
        for shard in shards:
            with self.shard_path(shard.index).open(encoding="utf-8") as fh:
                for k, line in enumerate(fh):
                    yield shard.position(k), line

    def _ordered_lines(self) -> Iterator[str]:
        """Every shard file's lines in item order: the shards one after another, or (grouped) the
        groups' streams interleaved by item index (one open file per group)."""
        if self.groups is None:
            for _, line in self._lines(self.shards()):
                yield line
            return
        by_group: dict[str, list[Shard]] = {}
        for shard in self.shards():
            by_group.setdefault(shard.group, []).append(shard)
        for _, line in heapq.merge(*(self._lines(g) for g in by_group.values()), key=lambda pair: pair[0]):
            yield line

    def merge(self) -> dict[str, Any]:
        """Merge the shard files, in item order, into the merged results and failures.

        Streams line by line: memory does not grow with the job. Returns the summary.
        """
        results = self.out / RESULT_FILES[self.task]
        failures = self.out / "failures.jsonl"
        tmp_r = results.with_name(f".{results.name}.tmp")
        tmp_f = failures.with_name(f".{failures.name}.tmp")
        ok = bad = 0
        with tmp_r.open("w", encoding="utf-8") as fr, tmp_f.open("w", encoding="utf-8") as ff:
            for line in self._ordered_lines():
                if line.startswith(FAILURE_PREFIX):
                    ff.write(line)
                    bad += 1
                else:
                    fr.write(line)
                    ok += 1
        os.replace(tmp_r, results)
        os.replace(tmp_f, failures)
        summary = {"task": self.task, "images": ok + bad, "succeeded": ok, "failed": bad, "shards": self.num_shards}
        write_atomic(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def iter_results(self) -> Iterator[dict[str, Any]]:
        """The merged result records, one at a time."""
        with (self.out / RESULT_FILES[self.task]).open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)
