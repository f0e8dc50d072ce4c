"""``detectkit detect SOURCE...``: run a YOLO detector over images, folders, videos or cameras.

Each SOURCE is an image file, a folder (its images, sorted), a video file, or a camera index
(``0``). Bad inputs are reported by name on stderr and skipped; the rest is processed. Exit 0
when every input succeeded, 1 when any failed, 2 for usage errors.

Outputs: ``--out DIR`` writes ``DIR/detections.jsonl`` (one JSON record per image) and, with
``--save-images``, annotated images under ``DIR/images/`` and, with ``--save-video``, each video
source annotated under ``DIR/videos/<name>.mp4`` (same frame size; frame rate divided by
``--vid-stride`` so the duration is kept); ``--json`` prints one JSON document
``{"results": [...], "failures": [...], "summary": {...}}`` on stdout (the human summary then
goes to stderr). A progress bar (stderr) shows for folders and videos unless ``--quiet``.
Large images with small objects: ``--slice 640 [--overlap 0.2] [--merge nmm --match ios]`` detects
in overlapping tiles and merges them (see ``detectkit.slicing``).
Auto-labelling: ``--save-dataset OUT --format coco|yolo|voc|labelme|cvat`` writes the image
files' predictions as a dataset in OUT plus ``OUT/results.json`` with the scores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectkit.cli import UsageError, expand_source
from detectkit.cli._data import FORMATS
from detectkit.cli._errors import guarded, plain_message
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir
from detectkit.cli._slicing import add_slice_arguments, slice_config_from_args
from detectkit.cli._sources import split_sources
from detectkit.errors import DetectkitError, InvalidInputError

if TYPE_CHECKING:
    import numpy as np

    from detectkit.detections import Detections
    from detectkit.image import FrameInfo

__all__ = ["draw", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``detect`` subcommand."""
    p = subparsers.add_parser(
        "detect",
        help="detect objects in images, folders, videos or a camera",
        **parser_options(__doc__),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, video file or camera index")
    p.add_argument(
        "--model", default="demo-shapes", help="manifest name or .pt/.onnx/.yaml path (default: %(default)s)"
    )
    p.add_argument("--conf", type=float, default=0.25, help="minimum score (default: %(default)s)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default: %(default)s)")
    p.add_argument(
        "--agnostic-nms", action="store_true", help="suppress overlapping boxes across classes (one box per object)"
    )
    p.add_argument("--imgsz", type=int, default=None, help="network input size (default: the model's)")
    p.add_argument("--classes", default=None, help="comma-separated class ids or names to keep")
    p.add_argument(
        "--backend",
        choices=("torch", "onnx", "openvino", "auto"),
        default=None,
        help="inference backend (default: torch; with --slice: auto, the fastest measured here)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="output folder for detections.jsonl and images")
    p.add_argument("--save-images", action="store_true", help="write annotated images to OUT/images/")
    p.add_argument(
        "--save-video", action="store_true", help="write annotated videos (same size and duration) to OUT/videos/"
    )
    p.add_argument(
        "--classifier",
        default=None,
        metavar="MODEL",
        help="two-stage: classify every box with this classifier (manifest name such as mobilenet_v2-imagenet, "
        "or a checkpoint); labels go to data crop_label/crop_class_id/crop_confidence",
    )
    p.add_argument(
        "--save-dataset",
        type=Path,
        default=None,
        metavar="OUT",
        help="auto-label: write the predictions as a dataset in folder OUT (see --format), "
        "plus OUT/results.json with the scores (COCO results format)",
    )
    p.add_argument(
        "--format",
        dest="dataset_format",
        choices=FORMATS,
        default="coco",
        help="annotation format for --save-dataset (default: %(default)s)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace earlier results in --out and an existing --save-dataset"
    )
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--vid-stride", type=int, default=1, help="process every n-th video frame")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    add_slice_arguments(p)
    from detectkit.cli import _video  # --track/--tracker/--zone/--line/--reconnect

    _video.add_arguments(p)
    from detectkit.batch.cli import add_engine_arguments  # --engine local|ray: detectkit/batch

    add_engine_arguments(p, "detect")
    p.set_defaults(func=guarded(run, FLAGS))


# Detector(...) / save_predictions(...) parameter -> detect flag, for error texts (see cli._errors).
FLAGS = {
    "conf": "--conf",
    "iou": "--iou",
    "imgsz": "--imgsz",
    "classes": "--classes",
    "device": "--device",
    "backend": "--backend",
    "classifier": "--classifier",
    "agnostic_nms": "--agnostic-nms",
    "format": "--format",
    "overwrite": "--overwrite",
    "vid_stride": "--vid-stride",
}


def draw(image: np.ndarray, detections: Detections) -> np.ndarray:
    """Return an annotated copy of ``image`` (BGR). The one drawing hook of ``detect --save-images``."""
    from detectkit.viz import annotate

    out: np.ndarray = annotate(image, detections)
    return out


def _parse_classes(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"--classes must list class ids or names, got {text!r}")
    return [int(t) if t.lstrip("-").isdigit() else t for t in items]


def _image_name(info: FrameInfo) -> str:
    base = Path(info.source).name if info.path is not None else info.source.replace(":", "_")
    stem = Path(base).stem or "image"
    if info.frame_index is not None:
        return f"{stem}_{info.frame_index:06d}.jpg"
    suffix = Path(base).suffix.lower()
    return f"{stem}{suffix if suffix in ('.jpg', '.jpeg', '.png', '.bmp', '.webp') else '.jpg'}"


def _record(info: FrameInfo, dets: Detections) -> dict[str, Any]:
    return {
        "source": info.source,
        "index": info.index,
        "frame_index": info.frame_index,
        "timestamp": info.timestamp,
        "image_size_wh": list(info.image_size_wh) if info.image_size_wh else None,
        "detections": dets.to_dict(),
    }


class _Output:
    """Streams records to OUT/detections.jsonl (atomically renamed at the end) and saves images."""

    def __init__(self, out: Path | None, save_images: bool, save_video: bool = False, vid_stride: int = 1) -> None:
        self.out = out
        self.save_images = save_images
        self.save_video = save_video
        self.vid_stride = vid_stride
        self._videos: dict[str, Any] = {}
        self._fh: Any = None
        self._used_names: set[str] = set()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.final = out / "detections.jsonl"
            self.tmp = out / ".detections.jsonl.tmp"
            self._fh = self.tmp.open("w", encoding="utf-8")
            if save_images:
                (out / "images").mkdir(exist_ok=True)

    def write(self, record: dict[str, Any], info: FrameInfo, image: np.ndarray | None, dets: Detections) -> None:
        if self._fh is None or self.out is None:
            return
        picture = None
        if self.save_images and image is not None:
            from detectkit.viz import save

            name = _image_name(info)
            if name in self._used_names:  # same file name from two folders
                name = f"{Path(name).stem}_{info.index}{Path(name).suffix}"
            self._used_names.add(name)
            target = self.out / "images" / name
            picture = draw(image, dets)
            save(picture, target)
            record = {**record, "annotated_image": str(target)}
        if self.save_video and image is not None and info.frame_index is not None:
            writer = self._video_writer(info, image)
            writer.write(draw(image, dets) if picture is None else picture)
            record = {**record, "annotated_video": str(writer.path)}
        self._fh.write(json.dumps(record) + "\n")

    def _video_writer(self, info: FrameInfo, image: np.ndarray) -> Any:
        """One writer per video/camera source, opened at its first frame (fragmented MP4 written in
        place, playable even after a hard kill; see detectkit.video.writer)."""
        writer = self._videos.get(info.source)
        if writer is None and self.out is not None:
            import cv2

            from detectkit.video.writer import open_video_writer

            fps = 0.0
            if info.path is not None:
                cap = cv2.VideoCapture(str(info.path))
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                cap.release()
            fps = (fps if fps > 0 else 30.0) / self.vid_stride
            stem = Path(info.source).stem if info.path is not None else info.source.replace(":", "_")
            name = f"{stem}.mp4"
            while name in self._used_names:  # same video name from two folders
                name = f"{stem}_{info.index}.mp4"
                stem = f"{stem}_{info.index}"
            self._used_names.add(name)
            (self.out / "videos").mkdir(exist_ok=True)
            size_wh = (int(image.shape[1]), int(image.shape[0]))
            writer = open_video_writer(self.out / "videos" / name, fps=fps, size_wh=size_wh)
            self._videos[info.source] = writer
        return writer

    def close(self) -> None:
        for writer in self._videos.values():
            writer.close()
        self._videos.clear()
        if self._fh is not None:
            self._fh.close()
            os.replace(self.tmp, self.final)
            self._fh = None


def run(args: argparse.Namespace) -> int:
    """Run ``detectkit detect``; returns the exit code.

    Library chatter (Ultralytics logs, export messages) goes to stderr so that stdout carries
    only the ``--json`` document or the summary.
    """
    if getattr(args, "engine", None) is not None:  # a sharded batch job (detectkit.batch)
        from detectkit.batch.cli import run_from_args

        return run_from_args(args, "detect")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    stdout = sys.stdout
    from detectkit.cli import _video

    with contextlib.redirect_stdout(sys.stderr), _video.environment(args):
        return _run(args, stdout)


def _run(args: argparse.Namespace, stdout: Any) -> int:
    from detectkit._progress import stderr_bar
    from detectkit.image import count_images, iter_images
    from detectkit.models.detector import Detector

    if args.save_images and args.out is None:
        raise UsageError("--save-images needs --out DIR")
    if getattr(args, "save_video", False) and args.out is None:
        raise UsageError("--save-video needs --out DIR")
    if args.vid_stride < 1:
        raise UsageError(f"--vid-stride must be >= 1, got {args.vid_stride}")
    slicing = slice_config_from_args(args)
    # outputs are checked before any work, so a run never fails at its last step
    overwrite = getattr(args, "overwrite", False)
    if args.out is not None:
        check_output_dir(args.out, flag="--out", overwrite=overwrite, only=("detections.jsonl", "images", "videos"))
    if getattr(args, "save_dataset", None) is not None:
        check_output_dir(args.save_dataset, flag="--save-dataset", overwrite=overwrite)
    try:
        detector = Detector(
            args.model,
            conf=args.conf,
            iou=args.iou,
            imgsz=args.imgsz,
            classes=_parse_classes(args.classes),
            device=args.device,
            backend=args.backend or ("auto" if slicing is not None else "torch"),
            classifier=getattr(args, "classifier", None),
            agnostic_nms=args.agnostic_nms,
        )
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None
    from detectkit.cli import _video

    if _video.wanted(args):  # tracking, zones/lines, live streams (detectkit/cli/_video.py)
        return _video.run(args, detector, stdout)

    sources = [expand_source(s) for s in args.sources]
    total = count_images(sources, recursive=args.recursive, vid_stride=args.vid_stride)
    single = total == 1 and not any(isinstance(s, int) for s in sources)
    # no bar for one image, or for none (the error line says why)
    bar = stderr_bar(
        total=total, unit="img", disable=args.quiet or single or total == 0, dynamic_ncols=True, leave=False
    )
    output = _Output(args.out, args.save_images, getattr(args, "save_video", False), args.vid_stride)
    summary_out = sys.stderr if args.json else stdout
    results: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    per_class: Counter[str] = Counter()
    crop_labels: Counter[str] = Counter()  # --classifier: top-1 crop label per box
    save_dataset = getattr(args, "save_dataset", None)
    labelled: list[tuple[Path, Detections]] = []  # --save-dataset: image files and their predictions
    n_images = 0
    started = time.perf_counter()

    def report(source: str, message: str) -> None:
        message = plain_message(message)
        failures.append({"source": source, "error": message})
        bar.write(f"detectkit detect: error: {message}", file=sys.stderr)

    # Sources that don't exist are reported up front (a folder walk would otherwise hide them).
    existing, missing = split_sources(sources, recursive=args.recursive)
    for source, message in missing:
        report(source, message)
    try:
        for frame in iter_images(existing, recursive=args.recursive, vid_stride=args.vid_stride):
            bar.update(1)
            if frame.error is not None:
                report(frame.info.source, str(frame.error))
                continue
            if frame.image is None:  # pragma: no cover - iter_images sets image or error
                continue
            try:
                # slicing= only when asked, so any object with detect_batch(images) can stand in
                dets = (
                    detector.detect_batch([frame.image], slicing=slicing)
                    if slicing is not None
                    else detector.detect_batch([frame.image])
                )[0]
            except DetectkitError as exc:
                report(frame.info.source, str(exc))
                continue
            n_images += 1
            per_class.update(dets.labels)
            crop = dets.data.get("crop_label")
            if crop is not None and len(crop):
                crop_labels.update(str(v) for v in crop.reshape(len(crop), -1)[:, 0].tolist())
            record = _record(frame.info, dets)
            output.write(record, frame.info, frame.image, dets)
            if save_dataset is not None and frame.info.path is not None and frame.info.frame_index is None:
                labelled.append((frame.info.path, dets))
            if args.json:
                results.append(record)
    finally:
        bar.close()
        output.close()
    elapsed = time.perf_counter() - started
    if save_dataset is not None:
        from detectkit.formats.autolabel import save_predictions

        model_names = getattr(detector, "names", None)
        dataset_summary = save_predictions(
            labelled,
            save_dataset,
            format=args.dataset_format,
            names=dict(model_names) if isinstance(model_names, dict) and model_names else None,
            overwrite=overwrite,
        )
        if not args.quiet:
            print(dataset_summary, file=summary_out)

    n_boxes = sum(per_class.values())
    summary = {
        "images": n_images,
        "failed": len(failures),
        "detections": n_boxes,
        "per_class": dict(per_class.most_common()),
        "seconds": round(elapsed, 3),
        "model": str(args.model),
        "backend": detector.backend,
        "out": str(args.out) if args.out is not None else None,
    }
    if getattr(detector, "classifier", None) is not None:
        summary["crop_labels"] = dict(crop_labels.most_common())
    if args.json:
        json.dump({"results": results, "failures": failures, "summary": summary}, stdout)
        stdout.write("\n")
        stdout.flush()
    if not args.quiet:
        classes = ", ".join(f"{k}: {v}" for k, v in per_class.most_common()) or "none"
        rate = f"{1000 * elapsed / n_images:.1f} ms/image, " if n_images else ""
        print(
            f"{n_images} image(s), {n_boxes} detection(s) ({classes}); {len(failures)} failed; "
            f"{elapsed:.2f} s ({rate}backend {detector.backend})",
            file=summary_out,
        )
        if getattr(detector, "classifier", None) is not None:
            crops = ", ".join(f"{k}: {v}" for k, v in crop_labels.most_common()) or "none"
            print(f"crop labels (top-1 of {getattr(args, 'classifier', 'the classifier')}): {crops}", file=summary_out)
        if args.out is not None:
            print(f"results: {args.out / 'detections.jsonl'}", file=summary_out)
    return 1 if failures else 0
