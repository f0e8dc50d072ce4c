"""Suppression and merging speed and memory: detectkit.nms next to torchvision, supervision and ensemble-boxes.

One run prints one table of medians (milliseconds) and ratios against the peer:

* ``batched_nms`` at 5k and 20k boxes / 10 classes: detectkit (``backend="auto"``, which
  calls torchvision's C++ kernel, and the pure ``"numpy"`` fallback) vs
  ``torchvision.ops.batched_nms`` (tensors made outside the timing) and, at 5k only,
  supervision's ``box_non_max_suppression`` (an O(N^2) Python loop). Keep sets are checked equal.
* soft-NMS (gaussian and linear) and WBF at 5k boxes vs ensemble-boxes (``soft_nms``
  method 2/1 and ``weighted_boxes_fusion``, on boxes normalised by the image size),
  with the outputs checked equal (kept boxes / fused boxes and scores to 1e-4).
* Peak traced memory (tracemalloc) of the numpy paths at 20k boxes, next to the size of
  one dense float64 N x N matrix.

Two box distributions: ``clustered`` (detector-like: ~20 jittered boxes around each
object, scores uniform) and ``uniform`` (independent random boxes).

Run: ``.venv/bin/python benchmarks/bench_nms.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

W, H = 1280, 960
SCALE = np.array([W, H, W, H], dtype=np.float64)


def clustered(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_obj = max(1, n // 20)
    xy = rng.uniform(0, [W * 0.9, H * 0.9], (n_obj, 2))
    wh = rng.uniform(16, 160, (n_obj, 2))
    objects = np.concatenate([xy, np.minimum(xy + wh, [W, H])], axis=1)
    k = rng.integers(0, n_obj, n)
    base = objects[k]
    size = np.concatenate([base[:, 2:] - base[:, :2]] * 2, axis=1)
    b = base + rng.normal(0, 0.06, base.shape) * size
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
    b[:, 0::2] = b[:, 0::2].clip(0, W)
    b[:, 1::2] = b[:, 1::2].clip(0, H)
    return b, rng.random(n), k % classes


def uniform(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, [W - 120, H - 120], (n, 2))
    wh = rng.uniform(8, 120, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1), rng.random(n), rng.integers(0, classes, n)


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    out = fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per row (median reported)")
    parser.add_argument("--sv-repeat", type=int, default=3, help="timed runs for supervision (slow)")
    args = parser.parse_args()

    import torch
    import torchvision.ops as tv_ops
    from ensemble_boxes import soft_nms as eb_soft_nms
    from ensemble_boxes import weighted_boxes_fusion as eb_wbf
    from supervision.detection.utils.iou_and_nms import box_non_max_suppression

    from detectkit import nms as dk

    torch.set_num_threads(1)
    rows: list[tuple[str, str, float, str, float, str]] = []

    def row(task: str, ours: str, t_ours: float, peer: str, t_peer: float, check: str) -> None:
        rows.append((task, ours, t_ours, peer, t_peer, check))
        print(f"  {task:<34} {ours:<22} {t_ours:9.2f} ms   {peer:<26} {t_peer:9.2f} ms   {check}", flush=True)

    thr = 0.5
    for dist_name, dist in (("clustered", clustered), ("uniform", uniform)):
        for n in (5_000, 20_000):
            b, s, c = dist(n, seed=n)
            b32, s32 = b.astype(np.float32), s.astype(np.float32)
            tb, ts, tc = torch.from_numpy(b32), torch.from_numpy(s32), torch.from_numpy(c)
            t_tv, ref = median_ms(lambda: tv_ops.batched_nms(tb, ts, tc, thr), args.repeat)  # noqa: B023
            ref_set = sorted(ref.tolist())
            for backend in ("auto", "numpy"):
                t, keep = median_ms(lambda: dk.batched_nms(b32, s32, c, thr, backend=backend), args.repeat)  # noqa: B023
                same = "equal keep set" if sorted(keep.tolist()) == ref_set else "KEEP SETS DIFFER"
                row(f"batched_nms {n // 1000}k {dist_name}", f"detectkit[{backend}]", t, "torchvision", t_tv, same)
            if n == 5_000:
                pred = np.concatenate([b32, s32[:, None], c[:, None]], axis=1)
                t_sv, mask = median_ms(lambda: box_non_max_suppression(pred, thr), args.sv_repeat)  # noqa: B023
                t_dk, keep = median_ms(lambda: dk.batched_nms(b32, s32, c, thr), args.repeat)  # noqa: B023
                same = "equal keep set" if sorted(np.flatnonzero(mask).tolist()) == ref_set else "sv differs"
                row(f"batched_nms {n // 1000}k {dist_name}", "detectkit[auto]", t_dk, "supervision", t_sv, same)

                # soft-NMS vs ensemble-boxes
                for method, code in (("gaussian", 2), ("linear", 1)):

                    def eb_soft(code: int = code, b: np.ndarray = b, s: np.ndarray = s, c: np.ndarray = c) -> Any:
                        with quiet():
                            return eb_soft_nms([b / SCALE], [s], [c], method=code, iou_thr=thr, sigma=0.5, thresh=0.001)

                    def dk_soft(m: str = method, b: np.ndarray = b, s: np.ndarray = s, c: np.ndarray = c) -> Any:
                        return dk.soft_nms(b, s, c, iou_threshold=thr, method=m)

                    t_eb, (eb_boxes, eb_scores, _) = median_ms(eb_soft, args.repeat)
                    t_dk, (keep, _) = median_ms(dk_soft, args.repeat)
                    o1 = np.lexsort((eb_boxes[:, 0], eb_scores))
                    o2 = np.lexsort((b[keep, 0], s[keep]))
                    equal = len(keep) == len(eb_boxes) and np.allclose(eb_boxes[o1], b[keep][o2] / SCALE, atol=1e-4)
                    row(
                        f"soft_nms {method} 5k {dist_name}",
                        "detectkit",
                        t_dk,
                        "ensemble_boxes",
                        t_eb,
                        "equal kept boxes" if equal else "OUTPUT DIFFERS",
                    )

                # WBF vs ensemble-boxes
                def eb_fuse(b: np.ndarray = b, s: np.ndarray = s, c: np.ndarray = c) -> Any:
                    with quiet():
                        return eb_wbf([b / SCALE], [s], [c], iou_thr=0.55, skip_box_thr=0.0)

                t_eb, (eb_b, eb_s, eb_l) = median_ms(eb_fuse, args.repeat)
                t_dk, (fb, fs, fc) = median_ms(
                    lambda: dk.weighted_boxes_fusion(b, s, c, iou_threshold=0.55, image_size_wh=(W, H)),  # noqa: B023
                    args.repeat,
                )
                o1 = np.lexsort((eb_b[:, 0], eb_s, eb_l))
                o2 = np.lexsort((fb[:, 0] / W, fs, fc))
                equal = (
                    len(fb) == len(eb_b)
                    and np.allclose(fb[o2] / SCALE, eb_b[o1], atol=1e-4)
                    and np.allclose(fs[o2], eb_s[o1], atol=1e-4)
                )
                row(
                    f"wbf 5k {dist_name}",
                    "detectkit",
                    t_dk,
                    "ensemble_boxes",
                    t_eb,
                    "equal boxes+scores" if equal else "OUTPUT DIFFERS",
                )

    print("\nPeak traced memory at 20k boxes / 10 classes (tracemalloc):")
    b, s, c = uniform(20_000, seed=1)
    dense = 20_000**2 * 8 / 1e6
    mem = [
        ("batched_nms numpy", peak_mb(lambda: dk.batched_nms(b, s, c, thr, backend="numpy"))),
        ("batched_nms auto (torchvision)", peak_mb(lambda: dk.batched_nms(b, s, c, thr))),
        ("soft_nms gaussian", peak_mb(lambda: dk.soft_nms(b, s, c))),
        ("weighted_boxes_fusion", peak_mb(lambda: dk.weighted_boxes_fusion(b, s, c))),
        ("non_max_merge", peak_mb(lambda: dk.non_max_merge(b, s, c))),
    ]
    for name, mb in mem:
        print(f"  {name:<32} {mb:8.1f} MB   (dense float64 N x N: {dense:,.0f} MB)")

    print("\nSummary (median ms; ratio = detectkit / peer, < 1 is faster):")
    print(f"  {'task':<34} {'detectkit':<22} {'ms':>9}   {'peer':<16} {'ms':>10}   {'ratio':>7}   check")
    for task, ours, t_ours, peer, t_peer, check in rows:
        ratio = t_ours / t_peer
        speed = f"({t_peer / t_ours:.1f}x faster)" if ratio < 1 else ""
        print(f"  {task:<34} {ours:<22} {t_ours:9.2f}   {peer:<16} {t_peer:10.2f}   {ratio:7.2f}   {check} {speed}")


if __name__ == "__main__":
    main()
