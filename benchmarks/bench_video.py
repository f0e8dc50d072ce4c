"""Video: tracking quality per tracker, tracker overhead, end-to-end FPS vs Ultralytics' track + plot.

Three parts (figures are medians; run it under ``/work/bin/bench`` or on an otherwise idle machine):

1. **Quality** on seeded synthetic clips (``datasets/generate_video.py``, 640x384, 150 frames,
   2 crossing pairs + 6 bouncing shapes): the demo detector (ONNX, conf 0.1) runs once per clip
   and every tracker of ``detectkit.video.TRACKERS`` tracks the same detections; HOTA / MOTA /
   IDF1 / ID switches from ``detectkit.metrics.mot`` (TrackEval-exact). Ultralytics' own
   ByteTrack and BoT-SORT (``model.track(persist=True)``, same model, imgsz, conf) are scored too.
2. **Tracker overhead**: ms per ``Tracker.update`` at 10 / 100 / 1000 moving objects.
3. **End to end** on a 1280x720 clip: ``detectkit detect CLIP --tracker T --save-video --backend B``
   (decode -> detect -> track -> draw -> encode; reader and encoder threads, detection one frame
   ahead; H.264 fragmented MP4) with OpenVINO (our fastest backend here), onnxruntime and torch,
   against ``YOLO(model).track(frame, persist=True, tracker=T)`` + ``result.plot()`` +
   ``cv2.VideoWriter`` on the same frames, model and imgsz (conf 0.25 on both sides), for
   T = ByteTrack and BoT-SORT. Every run is a fresh process (one runtime per process: an idle
   onnxruntime session slows the others); rounds alternate the order; FPS counts from the end of
   the first frame (both sides' warm-up left out; the all-frames FPS is shown too). Ultralytics'
   tracker needs ``lap``; this benchmark expects it installed and never installs anything.

    python benchmarks/bench_video.py [--frames 200] [--seeds 0 1 2] [--rounds 3] [--skip-quality] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


def encoders(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """ms per 1280x720 frame and bytes: OpenCV's mp4v writer vs our H.264 fragmented MP4."""
    import cv2

    from detectkit.video.writer import StreamingVideoWriter, count_frames
    from detectkit.viz import VideoWriter

    gen = _load_generator()
    clip = work / "enc"
    gen.generate_video(clip, seed=3, size_wh=(1280, 720), frames=60, objects=8, crossing_pairs=2)
    cap = cv2.VideoCapture(str(clip / "video.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    makers = {
        "OpenCV VideoWriter mp4v (.mp4, moov at the end; what detectkit wrote before)": lambda p: VideoWriter(
            p, fps=30, size_wh=(1280, 720)
        ),
        "detectkit StreamingVideoWriter: H.264 ultrafast, fragmented MP4, 1 thread": lambda p: StreamingVideoWriter(
            p, fps=30, size_wh=(1280, 720)
        ),
    }
    rows = []
    for name, make in makers.items():
        times = []
        for r in range(args.encode_rounds):
            target = work / f"enc-{len(rows)}-{r}.mp4"
            t0 = time.perf_counter()
            writer = make(target)
            for frame in frames:
                writer.write(frame)
            writer.close()
            times.append(time.perf_counter() - t0)
        assert count_frames(target) == len(frames)
        rows.append({"writer": name, "ms": 1000 * statistics.median(times) / len(frames),
                     "kb_per_frame": target.stat().st_size / 1000 / len(frames)})  # fmt: skip
    return rows


# ours: label -> (backend, tracker). OpenVINO is our fastest backend here (``backend="auto"`` picks
# it on this machine); onnx and torch rows show where the gain comes from.
OURS: dict[str, tuple[str, str]] = {
    "ours openvino bytetrack": ("openvino", "bytetrack"),
    "ours openvino botsort": ("openvino", "botsort"),
    "ours onnx bytetrack": ("onnx", "bytetrack"),
    "ours onnx botsort": ("onnx", "botsort"),
    "ours torch bytetrack": ("torch", "bytetrack"),
}
ULTRALYTICS = {"ultralytics bytetrack": "bytetrack.yaml", "ultralytics botsort": "botsort.yaml"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DETECTKIT_ORT_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _run_ours(video: Path, backend: str, tracker: str, out: Path) -> dict[str, Any]:
    """``detectkit detect --tracker T --save-video`` in a fresh process: its timing summary."""
    cmd = [sys.executable, "-m", "detectkit", "detect", str(video), "--tracker", tracker, "--save-video",
           "--backend", backend, "--out", str(out), "--overwrite", "--json", "--quiet"]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
    assert summary["backend"] == backend, summary["backend"]
    timing: dict[str, Any] = summary["timing"]
    return timing


def _run_ultralytics(video: Path, tracker_yaml: str, out: Path) -> dict[str, Any]:
    """Ultralytics' track + plot + VideoWriter loop in a fresh process (``--ultralytics-run``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--ultralytics-run", str(video), tracker_yaml, str(out)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _ultralytics_e2e(video: Path, tracker_yaml: str, out: Path) -> dict[str, Any]:
    """The peer loop, timed like ours: ``fps`` from the first frame, ``steady_fps`` after it."""
    import cv2
    from ultralytics import YOLO

    model = YOLO(str(_checkpoint()))
    cap = cv2.VideoCapture(str(video))
    writer = None
    ticks: list[float] = []
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        r = model.track(frame, persist=True, tracker=tracker_yaml, conf=0.25, imgsz=416, verbose=False)[0]
        picture = r.plot()
        if writer is None:
            h, w = picture.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))  # type: ignore[attr-defined]
        writer.write(picture)
        ticks.append(time.perf_counter())
    cap.release()
    if writer is not None:
        writer.release()
    n = len(ticks)
    return {"frames": n, "fps": n / (ticks[-1] - t0), "steady_fps": (n - 1) / (ticks[-1] - ticks[0])}


def end_to_end(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    gen = _load_generator()
    clip = work / "hd"
    gen.generate_video(clip, seed=7, size_wh=(1280, 720), frames=args.frames, objects=8, crossing_pairs=2)
    video = clip / "video.mp4"
    names = [*OURS, *ULTRALYTICS]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in names}
    for r in range(args.rounds):
        for who in names if r % 2 == 0 else names[::-1]:  # alternate the order between rounds
            if who in ULTRALYTICS:
                runs[who].append(_run_ultralytics(video, ULTRALYTICS[who], work / f"ul-{r}.mp4"))
            else:
                backend, tracker = OURS[who]
                runs[who].append(_run_ours(video, backend, tracker, work / f"out-{r}"))
            print(f"  round {r + 1}: {who} {runs[who][-1]['steady_fps']:.1f} FPS", file=sys.stderr)
    med = {k: statistics.median(x["steady_fps"] for x in v) for k, v in runs.items()}
    med_all = {k: statistics.median(x["fps"] for x in v) for k, v in runs.items()}
    stage_ms = {
        k: {s: statistics.median(x["ms"][s] for x in v) for s in v[0]["ms"]} for k, v in runs.items() if k in OURS
    }
    peer = {k: f"ultralytics {OURS[k][1]}" if k in OURS else k for k in names}
    ratio = {k: med[k] / med[peer[k]] for k in names}
    return {"frames": args.frames, "rounds": args.rounds, "steady_fps": med, "fps": med_all, "ratio": ratio,
            "peer": peer, "stage_ms": stage_ms, "runs": runs}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=200, help="frames of the 1280x720 end-to-end clip")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="quality clips")
    parser.add_argument("--conf", type=float, default=0.1, help="detector confidence for the quality part")
    parser.add_argument("--rounds", type=int, default=3, help="alternating end-to-end rounds")
    parser.add_argument("--overhead-frames", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-ultralytics-quality", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--encode-rounds", type=int, default=3, help="rounds of the encoder comparison (0: skip)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--ultralytics-run", nargs=3, metavar=("VIDEO", "TRACKER_YAML", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ultralytics_run:  # one peer run in this (fresh) process, for end_to_end()
        video, yaml, out = args.ultralytics_run
        print(json.dumps(_ultralytics_e2e(Path(video), yaml, Path(out))))
        return 0
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
        if not args.skip_overhead:
            print("overhead ...", file=sys.stderr)
            over = overhead(args)
            results["overhead"] = over
            print("\n## Tracker overhead (ms per update, median)\n")
            kinds = list(dict.fromkeys(r["tracker"] for r in over))
            print("| objects | " + " | ".join(kinds) + " |")
            print("|---" * (len(kinds) + 1) + "|")
            for n in (10, 100, 1000):
                print(f"| {n} | " + " | ".join(f"{r['ms']:.2f}" for r in over if r["objects"] == n) + " |")
        if args.encode_rounds > 0:
            print("encoders ...", file=sys.stderr)
            enc = encoders(args, work)
            results["encoders"] = enc
            print(f"\n## Video encoding, 1280x720 x 60 frames, calling thread (median of {args.encode_rounds})\n")
            print("| writer | ms per frame | kB per frame |")
            print("|---|---|---|")
            for row in enc:
                print(f"| {row['writer']} | {row['ms']:.2f} | {row['kb_per_frame']:.1f} |")
        if not args.skip_e2e:
            print("end to end ...", file=sys.stderr)
            e2e = end_to_end(args, work)
            results["end_to_end"] = e2e
            print(
                f"\n## End to end, 1280x720 x {e2e['frames']} frames, imgsz 416, decode -> detect -> track -> draw "
                f"-> encode (median of {args.rounds} runs, each in a fresh process; FPS after the first frame)\n"
            )
            print("| pipeline | FPS | FPS incl. first frame | vs Ultralytics, same tracker |")
            print("|---|---|---|---|")
            for key in [*OURS, *ULTRALYTICS]:
                if key in OURS:
                    backend, tracker = OURS[key]
                    label = f"detectkit detect --tracker {tracker} --save-video --backend {backend}"
                else:
                    label = f"Ultralytics model.track(persist=True, {ULTRALYTICS[key]}) + plot() + cv2.VideoWriter"
                ratio = "" if key in ULTRALYTICS else f"{e2e['ratio'][key]:.2f}x"
                print(f"| {label} | {e2e['steady_fps'][key]:.1f} | {e2e['fps'][key]:.1f} | {ratio} |")
            stages = list(next(iter(e2e["stage_ms"].values())))
            print("\n### Per-stage latency, ms per frame (median; decode and encode run in their own threads,")
            print("detection one frame ahead in a worker thread, so stages overlap and do not add up)\n")
            print("| pipeline | " + " | ".join(stages) + " |")
            print("|---" * (len(stages) + 1) + "|")
            for key, ms in e2e["stage_ms"].items():
                print(f"| {key} | " + " | ".join(f"{ms[s]:.1f}" for s in stages) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
