"""Which shard a worker runs next: keep each worker on the groups it has already run.

A grouped job (:attr:`~detectkit.batch._job.Job.groups`) has shards of one group each, where a
group is something a worker pays for once, such as the input shape an OpenVINO detector compiles
(or imports) a model for. :class:`ShardQueue` hands a worker, in this order:

1. the next shard of a group it has run before (the one with the most shards left);
2. else the next shard of the largest group no worker has started;
3. else the next shard of the largest group left, shared with the workers already on it.

So workers split the groups between them instead of each loading every group, and nobody idles
while shards are left. An ungrouped job is one group: shards go out in order, as a plain queue.
The choice only decides who runs a shard and when: never what the shard holds or its output.

:func:`input_shape_groups` gives the groups of an OpenVINO detection job: each input shape
costs a worker 0.4 s to compile or 0.2-0.3 s to import (docs/scale-out.md), and a shard of
mixed images needs every shape, so each worker used to load them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from detectkit.batch._job import Shard
from detectkit.batch.sources import is_uri

__all__ = ["ShardQueue", "input_shape_groups"]

#: Network input size when neither the job nor the model's manifest names one (Ultralytics' default).
_DEFAULT_IMGSZ = 640


def _model_imgsz(spec: Mapping[str, Any]) -> tuple[int, int]:
    """The ``(h, w)`` the job's detector letterboxes to: the job's ``imgsz``, else the model
    manifest's, else 640 (a checkpoint's own size is not read here: that needs torch)."""
    imgsz = spec.get("options", {}).get("imgsz")
    if imgsz is None:
        try:
            from detectkit.models.weights import resolve

            imgsz = resolve(str(spec["model"])).imgsz
        except Exception:  # an unknown model fails in the workers, with its own message
            imgsz = None
    if imgsz is None:
        imgsz = _DEFAULT_IMGSZ
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
    return -(-h // 32) * 32, -(-w // 32) * 32


def input_shape_groups(items: Sequence[str], spec: Mapping[str, Any]) -> list[str] | None:
    """Group key per item for an OpenVINO detection job: the letterboxed input shape, ``"WxH"``.

    The shape comes from each image's header (:func:`~detectkit.image.image_size_wh`; about
    10-40 microseconds a local JPEG), letterboxed like the detector (stride 32, padded to the
    stride). URIs and unreadable files get the group ``""`` (they fail, or not, when they run).
    Other jobs (torch, onnxruntime, classification) pay nothing per shape: None, no grouping.
    The key only decides which items share a shard; results never depend on it.

    >>> spec = {"task": "detect", "model": "demo-shapes", "options": {"backend": "openvino", "imgsz": 416}}
    >>> input_shape_groups(["s3://bucket/a.jpg", "missing.jpg"], spec)
    ['', '']
    >>> input_shape_groups(["a.jpg"], {**spec, "options": {"backend": "torch"}}) is None
    True
    """
    options = spec.get("options", {})
    if spec.get("task") != "detect" or options.get("backend") != "openvino":
        return None
    from detectkit.boxes import letterbox_canvas_wh, letterbox_params
    from detectkit.image import image_size_wh

    h, w = _model_imgsz(spec)
    keys: dict[tuple[int, int], str] = {}
    out: list[str] = []
    for item in items:
        if is_uri(item):
            out.append("")
            continue
        try:
            wh = image_size_wh(item)
        except Exception:  # the worker reports it
            out.append("")
            continue
        key = keys.get(wh)
        if key is None:
            new = letterbox_params(wh, (w, h), auto=True).new_unpad_wh
            cw, ch = letterbox_canvas_wh(new, (w, h), auto=True)
            key = keys[wh] = f"{cw}x{ch}"
        out.append(key)
    return out


class ShardQueue:
    """The pending shards of a job, handed out with group affinity (see the module docstring).

    >>> a0, a1, a2 = (Shard(i, i, (f"a{i}",), (i,), "A") for i in range(3))
    >>> b0 = Shard(3, 3, ("b",), (3,), "B")
    >>> q = ShardQueue([a0, a1, a2, b0])
    >>> [q.take("w1").index, q.take("w2").index]  # each worker starts its own group, largest first
    [0, 3]
    >>> [q.take("w1").index, q.take("w2").index, q.take("w1")]  # w2 joins A once B is done
    [1, 2, None]
    >>> len(q), q.groups_of("w2")
    (0, ['B', 'A'])
    >>> q.put_back(a2); [s.index for s in q.drain()], len(q)
    ([2], 0)
    """

    def __init__(self, shards: Iterable[Shard]) -> None:
        self._left: dict[str, deque[Shard]] = {}
        for shard in shards:
            self._left.setdefault(shard.group, deque()).append(shard)
        self._started: set[str] = set()
        self._seen: dict[Hashable, list[str]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._left.values())

    def groups_of(self, worker: Hashable) -> list[str]:
        """The groups ``worker`` was given shards of, in the order it got them."""
        return list(self._seen.get(worker, []))

    def take(self, worker: Hashable) -> Shard | None:
        """The next shard for ``worker`` (any hashable id, e.g. a slot number), or None when none is left."""
        mine = self._seen.setdefault(worker, [])
        own = [g for g in mine if self._left.get(g)]
        fresh = [g for g, q in self._left.items() if q and g not in self._started]
        pool = own or fresh or [g for g, q in self._left.items() if q]
        if not pool:
            return None
        group = max(pool, key=lambda g: len(self._left[g]))  # ties: the first (own: oldest; else sorted)
        shard = self._left[group].popleft()
        if not self._left[group]:
            del self._left[group]
        self._started.add(group)
        if group not in mine:
            mine.append(group)
        return shard

    def put_back(self, shard: Shard) -> None:
        """Return a shard to the front of its group (to be run again, e.g. after its worker died)."""
        self._left.setdefault(shard.group, deque()).appendleft(shard)

    def drain(self) -> list[Shard]:
        """Remove and return every shard left (e.g. when no worker is left to run them)."""
        left = [shard for queue in self._left.values() for shard in queue]
        self._left.clear()
        return sorted(left, key=lambda shard: shard.index)

    def forget(self, worker: Hashable) -> None:
        """``worker`` is gone (its process died): its groups no longer count as loaded anywhere."""
        for group in self._seen.pop(worker, []):
            if not any(group in seen for seen in self._seen.values()):
                self._started.discard(group)
