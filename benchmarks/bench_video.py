"""Video: tracking quality per tracker, tracker overhead, end-to-end FPS vs Ultralytics' track + plot.

Three parts, one run (figures are medians; machine load hits both sides of each ratio alike
because the peers run alternately in the same process):

1. **Quality** on seeded synthetic clips (``datasets/generate_video.py``, 640x384, 150 frames,
   2 crossing pairs + 6 bouncing shapes): the demo detector (ONNX, conf 0.1) runs once per clip
   and every tracker of ``detectkit.video.TRACKERS`` tracks the same detections; HOTA / MOTA /
   IDF1 / ID switches from ``detectkit.metrics.mot`` (TrackEval-exact). Ultralytics' own
   ByteTrack and BoT-SORT (``model.track(persist=True)``, same model, imgsz, conf) are scored too.
2. **Tracker overhead**: ms per ``Tracker.update`` at 10 / 100 / 1000 moving objects.
3. **End to end** on a 1280x720 clip: ``detectkit detect CLIP --track --save-video`` (decode ->
   detect -> track -> draw -> encode, ONNX backend, reader/encoder threads) against
   ``YOLO(model).track(frame, persist=True)`` + ``result.plot()`` + ``cv2.VideoWriter`` on the
   same frames, model, imgsz and conf. Ultralytics' tracker needs ``lap``; this benchmark expects
   it installed (``pip install lap``) and never installs anything.

    python benchmarks/bench_video.py [--frames 90] [--seeds 0 1 2] [--rounds 2] [--skip-quality]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, offline

offline()


def _load_generator() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("detectkit_generate_video", ROOT / "datasets" / "generate_video.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _checkpoint() -> Path:
    from detectkit.models import weights

    path = weights.resolve("demo-shapes").path
    assert path is not None
    return Path(path)


def _ultralytics_track(
    video: Path, tracker_yaml: str, conf: float, imgsz: int, *, draw_to: Path | None
) -> tuple[Any, float, int]:
    """Ultralytics' track loop: returns (MotSequence, seconds from the first frame, frames)."""
    import cv2
    import numpy as np
    from ultralytics import YOLO

    from detectkit.metrics.mot import MotSequence

    model = YOLO(str(_checkpoint()))
    cap = cv2.VideoCapture(str(video))
    writer = None
    rows: list[list[float]] = []
    frames = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        r = model.track(frame, persist=True, tracker=tracker_yaml, conf=conf, imgsz=imgsz, verbose=False)[0]
        if draw_to is not None:
            picture = r.plot()
            if writer is None:
                h, w = picture.shape[:2]
                writer = cv2.VideoWriter(str(draw_to), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
            writer.write(picture)
        frames += 1
        if r.boxes is not None and r.boxes.id is not None:
            ids = r.boxes.id.cpu().numpy()
            for (x1, y1, x2, y2), tid in zip(r.boxes.xyxy.cpu().numpy(), ids):
                rows.append([frames, tid, x1, y1, x2 - x1, y2 - y1])
    elapsed = time.perf_counter() - t0
    cap.release()
    if writer is not None:
        writer.release()
    return MotSequence.from_rows(np.array(rows).reshape(-1, 6)), elapsed, frames


def quality(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from detectkit import Detector
    from detectkit.image import iter_images
    from detectkit.metrics.mot import evaluate_mot, sequence_from_tracks
    from detectkit.video.tracker import TRACKERS, Tracker

    gen = _load_generator()
    detector = Detector(backend="onnx", conf=args.conf)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        clip = work / f"seq{seed}"
        gen.generate_video(clip, seed=seed, size_wh=(640, 384), frames=150)
        frames = [
            (f.info.frame_index + 1, detector.detect_batch([f.image])[0]) for f in iter_images(clip / "video.mp4")
        ]
        for kind in sorted(TRACKERS):
            tracker = Tracker(kind)
            m = evaluate_mot(clip, sequence_from_tracks((n, tracker.update(d)) for n, d in frames))
            rows.append({"seed": seed, "tracker": f"detectkit {kind}", **_scores(m)})
        if not args.skip_ultralytics_quality:
            for yaml in ("bytetrack.yaml", "botsort.yaml"):
                seq, _, _ = _ultralytics_track(clip / "video.mp4", yaml, args.conf, 416, draw_to=None)
                rows.append({"seed": seed, "tracker": f"ultralytics {yaml[:-5]}", **_scores(evaluate_mot(clip, seq))})
        print(f"  seed {seed} done", file=sys.stderr)
    return rows


def _scores(m: Any) -> dict[str, Any]:
    return {
        "hota": m.hota,
        "mota": m.mota,
        "idf1": m.idf1,
        "idsw": m.id_switches,
        "ids": m.pred_ids,
        "gt_ids": m.gt_ids,
    }


def overhead(args: argparse.Namespace) -> list[dict[str, Any]]:
    import numpy as np

    from detectkit import Detections
    from detectkit.video.tracker import TRACKERS, Tracker

    out = []
    for n in (10, 100, 1000):
        rng = np.random.default_rng(n)
        side = int(np.ceil(np.sqrt(n)))
        grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n] * 40.0
        vel = rng.uniform(-1, 1, (n, 2))
        for kind in sorted(TRACKERS):
            tracker = Tracker(kind)
            times = []
            for t in range(args.overhead_frames):
                xy = grid + vel * t
                dets = Detections(
                    xyxy=np.concatenate([xy, xy + 30], 1),
                    confidence=rng.uniform(0.5, 1.0, n),
                    class_id=np.zeros(n, int),
                )
                t0 = time.perf_counter()
                tracker.update(dets)
                times.append(time.perf_counter() - t0)
            out.append({"objects": n, "tracker": kind, "ms": 1000 * statistics.median(times[2:])})
        print(f"  {n} objects done", file=sys.stderr)
    return out


def end_to_end(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from detectkit.cli import main

    gen = _load_generator()
    clip = work / "hd"
    gen.generate_video(clip, seed=7, size_wh=(1280, 720), frames=args.frames, objects=8, crossing_pairs=2)
    video = clip / "video.mp4"
    # ours: (backend, tracker); Ultralytics runs its ByteTrack, so "ours" compares like for like
    configs = {
        "ours": ("onnx", "bytetrack", ""),
        "ours-2threads": ("onnx", "bytetrack", "2"),  # onnxruntime's usual thread count (video mode uses 1)
        "ours-torch": ("torch", "bytetrack", ""),
        "ours-botsort": ("onnx", "botsort", ""),
    }
    fps: dict[str, list[float]] = {k: [] for k in [*configs, "ultralytics"]}
    last_ms: dict[str, float] = {}
    for r in range(args.rounds):
        order = ["ours", "ultralytics", "ours-torch", "ours-2threads", "ours-botsort"]
        for who in order if r % 2 == 0 else order[::-1]:
            if who == "ultralytics":
                _, seconds, n = _ultralytics_track(video, "bytetrack.yaml", 0.25, 416, draw_to=work / f"ul{r}.mp4")
                fps[who].append(n / seconds)
                continue
            backend, tracker, threads = configs[who]
            saved = os.environ.pop("DETECTKIT_ORT_THREADS", None)
            if threads:
                os.environ["DETECTKIT_ORT_THREADS"] = threads
            elif saved is not None:
                os.environ["DETECTKIT_ORT_THREADS"] = saved
            buf = io.StringIO()
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(buf):
                code = main(["detect", str(video), "--tracker", tracker, "--save-video", "--backend", backend,
                             "--out", str(work / f"out-{who}-{r}"), "--json", "--quiet"])  # fmt: skip
            os.environ.pop("DETECTKIT_ORT_THREADS", None)
            if saved is not None:
                os.environ["DETECTKIT_ORT_THREADS"] = saved
            assert code == 0, code
            timing = json.loads(buf.getvalue().strip().splitlines()[-1])["summary"]["timing"]
            fps[who].append(timing["fps"])
            if who == "ours":
                last_ms = timing["ms"]
        print(f"  round {r + 1} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in fps.items()}
    return {"frames": args.frames, "fps": med, "ratio": {k: v / med["ultralytics"] for k, v in med.items()},
            "stage_ms": last_ms, "runs": fps}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=90, help="frames of the 1280x720 end-to-end clip")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="quality clips")
    parser.add_argument("--conf", type=float, default=0.1, help="detector confidence for the quality part")
    parser.add_argument("--rounds", type=int, default=2, help="alternating end-to-end rounds")
    parser.add_argument("--overhead-frames", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-ultralytics-quality", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        work = Path(tmp)
        if not args.skip_quality:
            print("quality ...", file=sys.stderr)
            rows = quality(args, work)
            results["quality"] = rows
            print(f"\n## Tracking quality (demo detector, 640x384 x 150 frames, seeds {args.seeds})\n")
            print("| tracker | HOTA | MOTA | IDF1 | ID switches | ids (GT) |")
            print("|---|---|---|---|---|---|")
            for name in dict.fromkeys(r["tracker"] for r in rows):
                mine = [r for r in rows if r["tracker"] == name]
                mean = {k: statistics.mean(r[k] for r in mine) for k in ("hota", "mota", "idf1")}
                print(
                    f"| {name} | {mean['hota']:.3f} | {mean['mota']:.3f} | {mean['idf1']:.3f} | "
                    f"{sum(r['idsw'] for r in mine)} | {sum(r['ids'] for r in mine)} "
                    f"({sum(r['gt_ids'] for r in mine)}) |"
                )
        print("overhead ...", file=sys.stderr)
        over = overhead(args)
        results["overhead"] = over
        print("\n## Tracker overhead (ms per update, median)\n")
        kinds = list(dict.fromkeys(r["tracker"] for r in over))
        print("| objects | " + " | ".join(kinds) + " |")
        print("|---" * (len(kinds) + 1) + "|")
        for n in (10, 100, 1000):
            print(f"| {n} | " + " | ".join(f"{r['ms']:.2f}" for r in over if r["objects"] == n) + " |")
        if not args.skip_e2e:
            print("end to end ...", file=sys.stderr)
            e2e = end_to_end(args, work)
            results["end_to_end"] = e2e
            print(f"\n## End to end, 1280x720 x {e2e['frames']} frames, imgsz 416 (median of {args.rounds})\n")
            print("| pipeline | FPS | vs Ultralytics |")
            print("|---|---|---|")
            labels = {
                "ours": "detectkit detect --tracker bytetrack --save-video, onnx (1 thread, the video default)",
                "ours-2threads": "detectkit detect --tracker bytetrack --save-video, onnx, DETECTKIT_ORT_THREADS=2",
                "ours-torch": "detectkit detect --tracker bytetrack --save-video, torch",
                "ours-botsort": "detectkit detect --tracker botsort --save-video, onnx",
                "ultralytics": "Ultralytics model.track(persist=True, bytetrack) + plot + VideoWriter",
            }
            for key, label in labels.items():
                print(f"| {label} | {e2e['fps'][key]:.2f} | {e2e['ratio'][key]:.2f}x |")
            print(f"\nper-stage ms (detectkit, onnx, bytetrack): {e2e['stage_ms']}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
