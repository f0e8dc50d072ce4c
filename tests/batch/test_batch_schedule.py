"""Shard scheduling: group affinity, and the input-shape groups of an OpenVINO job."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detectkit.batch._job import Job, Shard
from detectkit.batch._schedule import ShardQueue, input_shape_groups
from detectkit.image import image_size_wh

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "datasets" / "shapes" / "images" / "val"
OV_SPEC = {"task": "detect", "model": "demo-shapes", "options": {"backend": "openvino", "imgsz": None}}


def _shards(groups: dict[str, int]) -> list[Shard]:
    out: list[Shard] = []
    for key, count in groups.items():
        for _ in range(count):
            k = len(out)
            out.append(Shard(k, k, (f"s{k}",), (k,), key))
    return out


def _drain(queue: ShardQueue, workers: list[str]) -> dict[str, list[int]]:
    taken: dict[str, list[int]] = {w: [] for w in workers}
    while len(queue):
        for w in workers:
            shard = queue.take(w)
            if shard is not None:
                taken[w].append(shard.index)
    return taken


def test_ungrouped_shards_go_out_in_order() -> None:
    queue = ShardQueue(_shards({"": 7}))
    taken = _drain(queue, ["w1", "w2", "w3"])
    assert sorted(i for ids in taken.values() for i in ids) == list(range(7))
    assert taken["w1"] == [0, 3, 6]
    assert queue.take("w1") is None


def test_workers_split_the_groups_and_share_only_at_the_end() -> None:
    shards = _shards({"416x352": 4, "416x416": 3, "352x416": 3, "416x320": 1})
    queue = ShardQueue(shards)
    taken = _drain(queue, ["w1", "w2"])
    assert sorted(i for ids in taken.values() for i in ids) == list(range(11))  # every shard once
    loaded = {w: queue.groups_of(w) for w in taken}
    assert loaded["w1"][0] == "416x352"  # the largest group first
    assert loaded["w2"][0] == "416x416"  # the other worker: the largest group nobody started
    assert len(loaded["w1"]) + len(loaded["w2"]) <= 5  # 4 shapes, at most one shared, not 8
    # every-worker-every-shape is what a plain queue of mixed shards costs: 2 x 4 loads


def test_put_back_and_forget() -> None:
    queue = ShardQueue(_shards({"a": 2, "b": 2}))
    first = queue.take("w1")
    assert first is not None
    assert first.group == "a"
    queue.put_back(first)  # its worker died
    queue.forget("w1")
    replacement = queue.take("w1-restarted")
    assert replacement == first  # run again first, by the worker that takes group a afresh
    other = queue.take("w2")
    assert other is not None
    assert other.group == "b"


@pytest.mark.slow
def test_groups_are_the_openvino_input_shapes(tmp_path: Path) -> None:
    """The driver's keys (image headers only) equal the input shapes the worker's OpenVINO
    detector letterboxes each image to (decoded pixels)."""
    pytest.importorskip("openvino")
    from detectkit.batch._worker import ShardRunner, load_location
    from detectkit.batch.api import detect_spec

    spec = detect_spec(backend="openvino")
    files = sorted(VAL.glob("*.jpg"))[:40]
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    items = [str(p) for p in files] + [str(tmp_path / "broken.jpg"), "https://example.com/x.jpg"]
    groups = input_shape_groups(items, spec)
    assert groups is not None
    assert groups[-2:] == ["", ""]
    runner = ShardRunner(spec)
    onnx = runner.model._onnx
    for path, key in zip(files, groups, strict=False):
        boxed = onnx._letterbox(load_location(str(path)), runner.model.imgsz).image
        assert key == f"{boxed.shape[1]}x{boxed.shape[0]}", path
        assert onnx.input_hw(image_size_wh(path), runner.model.imgsz) == boxed.shape[:2]  # the worker's
    assert len(set(groups[:-2])) >= 3
    # an explicit imgsz is used as is
    small = input_shape_groups([str(files[0])], {**spec, "options": {**spec["options"], "imgsz": 320}})
    w, h = image_size_wh(files[0])
    assert small is not None
    assert max(int(v) for v in small[0].split("x")) == 320
    kw, kh = (int(v) for v in small[0].split("x"))
    assert (kw >= kh) == (w >= h)  # the long side stays the long side


def test_only_openvino_detection_jobs_are_grouped(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    shutil.copy(sorted(VAL.glob("*.jpg"))[0], image)
    assert input_shape_groups([str(image)], {**OV_SPEC, "options": {"backend": "torch"}}) is None
    assert input_shape_groups([str(image)], {"task": "classify", "options": {}}) is None
    groups = input_shape_groups([str(image)], OV_SPEC)
    assert groups is not None
    assert groups[0] in {f"{a}x{b}" for a in (320, 352, 384, 416) for b in (320, 352, 384, 416) if 416 in (a, b)}
    job = Job(out=tmp_path / "out", spec=OV_SPEC, items=(str(image),), shard_size=4, groups=groups)
    assert [s.group for s in job.shards()] == groups
