"""``detectkit anonymize SOURCE... --out DIR``: cover faces (and objects of some classes).

Each SOURCE is an image file, a folder (its images, sorted), a video file or a camera index.
Faces are found by the shipped CenterFace model (``--faces``, the default unless ``--classes``
is given alone); ``--classes person,license_plate --model M`` also covers those classes of a
YOLO model. Regions are padded (``--padding``) and covered with ``--method``
(blur|pixelate|solid|mask); in videos a region stays covered for ``--persist`` more frames.

Outputs under ``--out``: images as ``DIR/images/<name>`` (same name and format as the input),
videos as ``DIR/videos/<stem>.mp4``, and ``DIR/report.jsonl`` (one record per image or frame:
regions covered by kind), written atomically. Bad inputs are reported on stderr and skipped.
Exit 0 when every input succeeded, 1 when any failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from detectkit.cli import UsageError, expand_source
from detectkit.cli._help import parser_options
from detectkit.errors import DetectkitError

__all__ = ["register", "run"]

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def register(subparsers: Any) -> None:
    """Add the ``anonymize`` subcommand."""
    p = subparsers.add_parser(
        "anonymize",
        help="blur, pixelate or paint over faces (and objects of chosen classes)",
        **parser_options(__doc__),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, video file or camera index")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--method", default="blur", choices=("blur", "pixelate", "solid", "mask"), help="default: blur")
    p.add_argument("--faces", action="store_true", help="cover faces (the default when --classes is not given)")
    p.add_argument("--classes", default=None, help="comma-separated class names of --model to cover too")
    p.add_argument("--model", default=None, help="YOLO model for --classes (manifest name or path)")
    p.add_argument("--padding", type=float, default=0.15, help="grow regions by this fraction (default: 0.15)")
    p.add_argument("--face-conf", type=float, default=0.2, help="face threshold, low on purpose (default: 0.2)")
    p.add_argument("--conf", type=float, default=0.25, help="threshold for --classes (default: 0.25)")
    p.add_argument("--persist", type=int, default=4, help="video: keep covering a region this many frames (4)")
    p.add_argument("--max-side", type=int, default=None, help="run the face model at most this long side")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--vid-stride", type=int, default=1, help="process every n-th video frame")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-image lines or summary")
    p.set_defaults(func=run)


def _output_name(info: Any, used: set[str]) -> str:
    base = Path(info.source).name if info.path is not None else info.source.replace(":", "_")
    stem, suffix = Path(base).stem or "image", Path(base).suffix.lower()
    name = f"{stem}{suffix if suffix in _IMAGE_EXTS else '.png'}"
    if name in used:
        name = f"{stem}_{info.index}{Path(name).suffix}"
    used.add(name)
    return name


def run(args: argparse.Namespace) -> int:
    """Run ``detectkit anonymize``."""
    from detectkit.models.anonymize import Anonymizer

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if classes is not None and args.model is None:
        raise UsageError("--classes needs --model (a YOLO model that knows those classes)")
    if args.persist < 0:
        raise UsageError(f"--persist must be >= 0, got {args.persist}")
    if args.vid_stride < 1:
        raise UsageError(f"--vid-stride must be >= 1, got {args.vid_stride}")
    faces = args.faces or classes is None
    try:
        anonymizer = Anonymizer(
            faces=faces,
            face_conf=args.face_conf,
            model=args.model,
            classes=classes,
            conf=args.conf,
            method=args.method,
            padding=args.padding,
            persist=args.persist,
            max_side=args.max_side,
        )
    except DetectkitError as exc:
        if isinstance(exc, ValueError):
            raise UsageError(str(exc)) from None
        raise
    from detectkit.viz import VideoWriter, save

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    final, tmp = out / "report.jsonl", out / ".report.jsonl.tmp"
    videos: dict[str, Any] = {}
    used: set[str] = set()
    failures = 0
    totals: Counter[str] = Counter()
    images = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for text in args.sources:
                source = expand_source(text)
                try:
                    frames = anonymizer.stream(source, recursive=args.recursive, vid_stride=args.vid_stride)
                    for info, covered, report, error in frames:
                        if error is not None or covered is None or report is None:
                            failures += 1
                            print(f"detectkit anonymize: error: {error} (skipped)", file=sys.stderr)
                            continue
                        images += 1
                        record: dict[str, Any] = {"source": info.source, **report.to_dict()}
                        if info.frame_index is not None:
                            record["frame_index"] = info.frame_index
                            writer = videos.get(info.source)
                            if writer is None:
                                writer = _open_video(info, covered, out, used, args.vid_stride, VideoWriter)
                                videos[info.source] = writer
                            writer.write(covered)
                            record["output"] = str(writer.path)
                        else:
                            target = out / "images" / _output_name(info, used)
                            save(covered, target)
                            record["output"] = str(target)
                        fh.write(json.dumps(record) + "\n")
                        totals.update(
                            {"faces": report.faces, "held": report.held, "objects": sum(report.objects.values())}
                        )
                        if not args.quiet:
                            print(f"{info.source}: covered {report.total} ({report.faces} faces)")
                except DetectkitError as exc:
                    failures += 1
                    print(f"detectkit anonymize: error: {exc} (skipped)", file=sys.stderr)
        os.replace(tmp, final)
    finally:
        for writer in videos.values():
            writer.close()
        if tmp.exists():
            tmp.unlink()
    if not args.quiet:
        print(
            f"{images} images/frames anonymised, {totals['faces']} faces, {totals['objects']} objects, "
            f"{totals['held']} held over; {failures} failed; report: {final}",
            file=sys.stderr,
        )
    return 1 if failures else 0


def _open_video(info: Any, first: Any, out: Path, used: set[str], vid_stride: int, writer_cls: Any) -> Any:
    import cv2

    fps = 0.0
    if info.path is not None:
        cap = cv2.VideoCapture(str(info.path))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
    fps = (fps if fps > 0 else 30.0) / vid_stride
    stem = Path(info.source).stem if info.path is not None else info.source.replace(":", "_")
    name = f"{stem}.mp4"
    if name in used:
        name = f"{stem}_{info.index}.mp4"
    used.add(name)
    (out / "videos").mkdir(exist_ok=True)
    return writer_cls(out / "videos" / name, fps=fps, size_wh=(int(first.shape[1]), int(first.shape[0])))
