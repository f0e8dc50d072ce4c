"""The video mode of ``detectkit detect``: tracking, zones, lines, live streams, timing.

Used when ``--track``, ``--zone`` or ``--line`` is given or a source is a stream URL. Each source
(video file, camera index, URL, image folder read as a sequence) gets its own tracker, zones and
line counters. Per frame: decode (a reader thread; live sources keep only the newest frame) ->
detect (a worker thread, one frame ahead) -> track (+ zones/lines) -> draw -> encode (a writer
thread). Writes
``OUT/detections.jsonl`` with one JSON line per frame (boxes with ``tracker_id``, zone and line
state), with tracking ``OUT/mot/<name>.txt`` (MOTChallenge text, for ``eval --mot``) and, with
``--save-video``, ``OUT/videos/<name>.mp4``. Ctrl-C (or SIGTERM) stops cleanly:
the video and the JSON lines written so far are complete, valid files. The video is a fragmented
MP4 written in place (:mod:`detectkit.video.writer`), so even a SIGKILL leaves it playable up to
the frames encoded before the kill.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from detectkit.cli import UsageError
from detectkit.errors import DetectkitError, InvalidInputError

__all__ = ["add_arguments", "environment", "run", "wanted"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The video options of ``detect``."""
    g = p.add_argument_group("video: tracking, zones, lines, live streams")
    g.add_argument("--track", action="store_true", help="track objects across frames (ids in tracker_id)")
    g.add_argument(
        "--tracker",
        default=None,
        choices=("botsort", "bytetrack", "ocsort", "sort"),
        help="tracking algorithm (implies --track; default botsort, the best measured quality)",
    )
    g.add_argument(
        "--zone",
        action="append",
        default=[],
        metavar="x1,y1,x2,y2,x3,y3,...",
        help="a polygon zone in pixels (repeatable): ids inside, entered, left, dwell time",
    )
    g.add_argument(
        "--line",
        action="append",
        default=[],
        metavar="x1,y1,x2,y2",
        help="a counting line in pixels (repeatable): in/out per class; moving to the right of "
        "start->end as seen on the image is 'in'",
    )
    g.add_argument(
        "--reconnect",
        type=int,
        default=0,
        metavar="N",
        help="live streams: reopen a failed stream up to N times (-1: forever; default 0: fail)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """True when ``detect`` should run in video mode."""
    from detectkit.video.sources import is_live_source

    return bool(
        getattr(args, "track", False)
        or getattr(args, "tracker", None)
        or getattr(args, "zone", None)
        or getattr(args, "line", None)
        or any(is_live_source(_source(s)) for s in args.sources)
    )


@contextlib.contextmanager
def environment(args: argparse.Namespace) -> Iterator[None]:
    """In video mode, one inference thread (onnxruntime and OpenVINO) unless ``DETECTKIT_ORT_THREADS`` is set.

    The video pipeline runs its own decode, encode and detect-ahead threads beside inference; the
    runtime's worker threads then fight them for the cores. On the 2-core machine
    ``benchmarks/bench_video.py`` measured 1.7x the end-to-end FPS with one onnxruntime thread
    under load (6.9 vs 4.0), and idle with OpenVINO, detection one frame ahead, 1280x720 -> 416:
    87 FPS with one thread vs 65 with two (medians of 3 runs of 300 frames).
    The variable is restored afterwards.
    """
    from detectkit.models.runtime_threads import ENV, threads_while

    if not wanted(args) or os.environ.get(ENV, "").strip():
        yield
        return
    with threads_while(1):
        yield


def _source(text: str) -> Any:
    if text.isdigit() and not Path(text).exists():
        return int(text)
    return text


class _Jsonl:
    """OUT/detections.jsonl, written to a temp file and renamed on close (also after Ctrl-C)."""

    def __init__(self, out: Path | None) -> None:
        self.fh: Any = None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.final = out / "detections.jsonl"
            self.tmp = out / ".detections.jsonl.tmp"
            self.fh = self.tmp.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            os.replace(self.tmp, self.final)
            self.fh = None


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C (SIGINT) or SIGTERM sets ``stop``; the frame loop ends at the next frame.

    Raising KeyboardInterrupt at an arbitrary point could interrupt a queue operation between
    the writer threads and leave a lock held (an intermittent hang at exit); a flag checked
    between frames cannot. A second signal raises KeyboardInterrupt, for a source that blocks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _timed_frames(frames: Iterator[Any], timer: Any) -> Iterator[Any]:
    """Time each ``next()`` of a frame iterator as the decode stage (runs in the reader thread)."""
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        timer.add("decode", time.perf_counter() - t0)
        yield frame


def _detect_ahead(
    frames: Iterator[Any], detector: Any, timer: Any, stop: threading.Event, *, ahead: int = 1
) -> Generator[tuple[Any, Any], None, None]:
    """Yield ``(frame, Detections | DetectkitError | None)`` in order, detecting ``ahead`` frames
    early in a worker thread.

    The next frame's inference (onnxruntime, OpenVINO and torch release the GIL) then runs while
    the caller tracks, draws and queues the current one, so the two cores are both busy. Frames
    with a decoding error get None. Closing the generator cancels what is queued and waits for at
    most the one inference in flight.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    def job(image: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return detector.detect_batch([image])[0]
        except DetectkitError as exc:
            return exc
        finally:
            timer.add("detect", time.perf_counter() - t0)

    pending: deque[tuple[Any, Future[Any] | None]] = deque()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detectkit-detect")
    failure: Exception | None = None
    try:
        while not stop.is_set():
            try:
                frame = next(frames)
            except StopIteration:
                break
            except Exception as exc:  # e.g. a live stream died: the frames read before it still count
                failure = exc
                break
            pending.append((frame, None if frame.error is not None else pool.submit(job, frame.image)))
            if len(pending) > ahead:
                item, future = pending.popleft()
                yield item, None if future is None else future.result()
        while pending and not stop.is_set():
            item, future = pending.popleft()
            yield item, None if future is None else future.result()
        if failure is not None:
            raise failure
    finally:
        for _, future in pending:
            if future is not None:
                future.cancel()
        pool.shutdown(wait=True)


def run(args: argparse.Namespace, detector: Any, stdout: Any) -> int:
    """Run the video mode; returns the exit code."""
    from detectkit._progress import stderr_bar
    from detectkit.video.sources import BackgroundWriter, LatestFrameReader, StreamError, is_live_source, prefetch
    from detectkit.video.timing import StageTimer
    from detectkit.video.tracker import Tracker, video_fps
    from detectkit.video.trails import TrackHistory
    from detectkit.video.zones import LineCounter, PolygonZone, parse_points

    try:
        zone_points = [parse_points(z, name="--zone", minimum=3) for z in args.zone]
        line_points = [parse_points(v, name="--line", minimum=2) for v in args.line]
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None
    if any(len(pts) != 2 for pts in line_points):
        raise UsageError("--line takes exactly two points x1,y1,x2,y2")
    if getattr(args, "save_dataset", None) is not None:
        raise UsageError(
            "--save-dataset labels still images; it does not combine with --track/--zone/--line or streams"
        )
    if args.reconnect < -1:
        raise UsageError(f"--reconnect must be >= -1, got {args.reconnect}")
    use_tracker = bool(args.track or args.tracker or args.zone or args.line)
    tracker_name = args.tracker or "botsort"
    if use_tracker:
        try:
            Tracker(tracker_name)  # fail early (missing package, bad name)
        except InvalidInputError as exc:
            raise UsageError(str(exc)) from None
        except ImportError as exc:
            raise UsageError(f"--track: {exc}") from None

    timer = StageTimer()
    jsonl = _Jsonl(args.out)
    results: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    sources_summary: list[dict[str, Any]] = []
    bar = stderr_bar(unit="frame", disable=args.quiet, dynamic_ncols=True, leave=False)
    summary_out = sys.stderr if args.json else stdout
    n_frames = n_boxes = 0
    interrupted = False

    def report(source: str, message: str) -> None:
        failures.append({"source": source, "error": message})
        bar.write(f"detectkit detect: error: {message}", file=sys.stderr)

    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            for text in args.sources:
                if stop.is_set():
                    break
                src = _source(text)
                live = is_live_source(src)
                if not live and not Path(text).exists():
                    report(text, f"{text} does not exist")
                    continue
                reader: LatestFrameReader | None = None
                n_source = 0
                frames: Iterator[Any] = iter(())
                detected: Generator[tuple[Any, Any], None, None] | None = None
                tracked: list[tuple[int, Any]] = []  # (1-based frame number, Detections) for OUT/mot/
                label = text
                writer: BackgroundWriter | None = None
                try:
                    if live:
                        reader = LatestFrameReader(src, reconnect=args.reconnect, reconnect_delay=1.0)
                        frames = iter(reader)
                        fps = 30.0
                    else:
                        from detectkit.image import iter_images

                        frames = prefetch(
                            _timed_frames(
                                iter_images(Path(text), recursive=args.recursive, vid_stride=args.vid_stride), timer
                            ),
                            size=4,
                        )
                        fps = video_fps(text) / args.vid_stride
                    tracker = Tracker(tracker_name, frame_rate=fps) if use_tracker else None
                    zones = [PolygonZone(pts, fps=fps, name=f"zone{i + 1}") for i, pts in enumerate(zone_points)]
                    lines = [LineCounter(pts[0], pts[1], name=f"line{i + 1}") for i, pts in enumerate(line_points)]
                    history = TrackHistory() if tracker is not None else None
                    detected = _detect_ahead(iter(frames), detector, timer, stop)
                    for frame, found in detected:
                        if stop.is_set():
                            break
                        bar.update(1)
                        if frame.error is not None:
                            report(frame.info.source, str(frame.error))
                            continue
                        label = frame.info.source
                        if isinstance(found, DetectkitError):
                            report(frame.info.source, str(found))
                            continue
                        dets = found
                        t1 = time.perf_counter()
                        if tracker is not None:
                            dets = tracker.update(dets)
                            for zone in zones:
                                zone.update(dets, time=frame.info.timestamp)
                            for line in lines:
                                line.update(dets)
                            if history is not None:
                                history.update(dets)
                        t2 = time.perf_counter()
                        timer.add("track", t2 - t1)
                        record: dict[str, Any] = {
                            "source": frame.info.source,
                            "index": frame.info.index,
                            "frame_index": frame.info.frame_index,
                            "timestamp": frame.info.timestamp,
                            "image_size_wh": list(frame.info.image_size_wh or ()),
                            "detections": dets.to_dict(),
                        }
                        if zones:
                            record["zones"] = [z.to_dict() for z in zones]
                        if lines:
                            record["lines"] = [v.to_dict() for v in lines]
                        if args.save_video or args.save_images:
                            from detectkit.viz.tracks import annotate_video_frame

                            picture = annotate_video_frame(frame.image, dets, history=history, zones=zones, lines=lines)
                            timer.add("draw", time.perf_counter() - t2)
                        if args.save_video:
                            if writer is None:
                                writer = _open_writer(args.out, label, picture, fps, timer)
                            writer.write(picture)
                            record["annotated_video"] = str(writer.path)
                        if args.save_images:
                            record["annotated_image"] = str(_save_image(args.out, label, frame.info, picture))
                        jsonl.write(record)
                        if args.json:
                            results.append(record)
                        if tracker is not None and args.out is not None:
                            number = frame.info.frame_index if frame.info.frame_index is not None else n_source
                            tracked.append((number + 1, dets))
                        n_frames += 1
                        n_source += 1
                        n_boxes += len(dets)
                        timer.tick()
                        if n_frames % 10 == 0:
                            bar.set_postfix_str(timer.postfix(), refresh=False)
                    entry: dict[str, Any] = {"source": label, "frames": n_source}
                    if reader is not None:
                        entry.update(reader.stats())
                    if zones:
                        entry["zones"] = [
                            {"name": z.name, "entered": dict(z.entered_per_class), "left": dict(z.left_per_class)}
                            for z in zones
                        ]
                    if lines:
                        entry["lines"] = [{"name": v.name, **v.counts()} for v in lines]
                    sources_summary.append(entry)
                except StreamError as exc:
                    report(text, str(exc))
                    if reader is not None:  # the frames read before the stream died, and the drops
                        sources_summary.append({"source": reader.label, "frames": n_source, **reader.stats()})
                finally:
                    if detected is not None:  # stops the detection thread (at most one frame in flight)
                        detected.close()
                    closer = getattr(frames, "close", None)
                    if closer is not None:  # stops the prefetch thread now, not at garbage collection
                        closer()
                    if reader is not None:
                        reader.close()
                    if writer is not None:
                        writer.close()
                    if tracked and args.out is not None:  # MOTChallenge text of this source's tracks
                        _save_mot(args.out, label, tracked)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        jsonl.close()
    interrupted = interrupted or stop.is_set()

    timing: dict[str, Any] = timer.summary()
    summary: dict[str, Any] = {
        "images": n_frames,
        "failed": len(failures),
        "detections": n_boxes,
        "tracker": tracker_name if use_tracker else None,
        "timing": timing,
        "sources": sources_summary,
        "interrupted": interrupted,
        "model": str(args.model),
        "backend": getattr(detector, "backend", None),
        "out": str(args.out) if args.out is not None else None,
    }
    if args.json:
        json.dump({"results": results, "failures": failures, "summary": summary}, stdout)
        stdout.write("\n")
        stdout.flush()
    if not args.quiet:
        t = timing
        stages = ", ".join(f"{k} {v:.1f}" for k, v in t["ms"].items())
        print(
            f"{n_frames} frame(s), {n_boxes} detection(s); {len(failures)} failed; {t['seconds']:.2f} s, "
            f"{t['fps']:.1f} FPS (ms/frame: {stages})" + (" [interrupted]" if interrupted else ""),
            file=summary_out,
        )
        for entry in sources_summary:
            extra = [f"dropped {entry['dropped']} of {entry['read']} frames"] if "dropped" in entry else []
            extra += [f"{v['name']} in {v['in']} out {v['out']}" for v in entry.get("lines", [])]
            extra += [f"{z['name']} entered {z['entered']} left {z['left']}" for z in entry.get("zones", [])]
            if extra:
                print(f"{entry['source']}: " + "; ".join(extra), file=summary_out)
        if args.out is not None:
            print(f"results: {args.out / 'detections.jsonl'}", file=summary_out)
    if interrupted:
        raise KeyboardInterrupt
    return 1 if failures else 0


def _save_mot(out: Path, label: str, tracked: list[tuple[int, Any]]) -> Path:
    """OUT/mot/<source stem>.txt: ``frame,id,x,y,w,h,conf,-1,-1,-1`` (``eval --mot`` reads it)."""
    from detectkit.metrics.mot import save_mot, sequence_from_tracks

    stem = (Path(label).stem if "://" not in label else label.split("://", 1)[1].replace("/", "_")).replace(":", "_")
    target = out / "mot" / f"{stem or 'stream'}.txt"
    n = 1
    while target.exists():
        target = out / "mot" / f"{stem or 'stream'}_{n}.txt"
        n += 1
    return save_mot(target, sequence_from_tracks(tracked))


def _save_image(out: Path | None, label: str, info: Any, picture: Any) -> Path:
    """OUT/images/<source stem>_<frame>.jpg (atomic, like ``detect --save-images``)."""
    from detectkit.viz import save

    if out is None:  # pragma: no cover - --save-images requires --out
        raise UsageError("--save-images needs --out DIR")
    stem = (Path(label).stem if "://" not in label else label.split("://", 1)[1].replace("/", "_")).replace(":", "_")
    number = info.frame_index if info.frame_index is not None else info.index
    target = out / "images" / f"{stem or 'frame'}_{number:06d}.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    save(picture, target)
    return target


def _open_writer(out: Path | None, label: str, picture: Any, fps: float, timer: Any) -> Any:
    from detectkit.video.sources import BackgroundWriter
    from detectkit.video.writer import open_video_writer

    if out is None:  # pragma: no cover - --save-video requires --out
        raise UsageError("--save-video needs --out DIR")
    stem = Path(label).stem if "://" not in label else label.split("://", 1)[1].replace("/", "_")
    stem = stem.replace(":", "_") or "stream"
    folder = out / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.mp4"
    n = 1
    while target.exists():
        target = folder / f"{stem}_{n}.mp4"
        n += 1
    size_wh = (int(picture.shape[1]), int(picture.shape[0]))
    return BackgroundWriter(
        open_video_writer(target, fps=fps if fps > 0 else 30.0, size_wh=size_wh),
        on_time=lambda s: timer.add("encode", s),
    )
