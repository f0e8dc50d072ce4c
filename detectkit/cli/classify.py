"""``detectkit classify SOURCE...``: whole-image classification (and CAM localisation).

Each SOURCE is an image file, a folder (its images, sorted), a video file or a camera index.
Images are classified in batches. Bad inputs are reported by name on stderr and skipped; the
rest is processed. Exit 0 when every input succeeded, 1 when any failed, 2 for usage errors.

Outputs: one line per image on stdout (``path: label 0.72, label 0.14, ...``); ``--json``
prints one JSON document ``{"results": [...], "failures": [...], "summary": {...}}`` instead
(the summary line then goes to stderr). ``--localize`` adds a box per top class from the class
activation map. ``--out DIR`` writes ``DIR/classifications.jsonl`` (one record per image,
written atomically) and, with ``--localize``, the heatmap and box drawn on each image under
``DIR/images/``. A progress bar (stderr) shows for folders and videos unless ``--quiet``.
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
from detectkit.cli._errors import guarded, plain_message
from detectkit.cli._help import parser_options
from detectkit.cli._outputs import check_output_dir
from detectkit.cli._sources import split_sources
from detectkit.errors import DetectkitError, InvalidInputError

if TYPE_CHECKING:
    import numpy as np

    from detectkit.detections import Classification, Detections
    from detectkit.image import FrameInfo
    from detectkit.models.classifier import Classifier

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``classify`` subcommand."""
    p = subparsers.add_parser(
        "classify",
        help="classify whole images (ImageNet by default), optionally localise the class",
        **parser_options(__doc__),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image, folder, video file or camera index")
    p.add_argument(
        "--model",
        default=None,
        help="manifest name, torchvision state dict (arch-hash.pth) or Ultralytics -cls checkpoint "
        "(default: the shipped ImageNet MobileNetV2)",
    )
    p.add_argument("--weights", default=None, help="weights file when --model is a torchvision architecture name")
    p.add_argument("--top-k", type=int, default=5, help="classes per image (default: %(default)s)")
    p.add_argument("--localize", action="store_true", help="add a CAM box per top class")
    p.add_argument(
        "--localize-top-k", type=int, default=1, help="classes localised per image with --localize (default: 1)"
    )
    p.add_argument(
        "--threshold", type=float, default=0.4, help="CAM threshold, fraction of the peak (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="output folder for classifications.jsonl and images")
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--vid-stride", type=int, default=1, help="process every n-th video frame")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no per-image lines, no summary")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier classifications.jsonl in --out")
    from detectkit.batch.cli import add_engine_arguments  # --engine local|ray: detectkit/batch

    add_engine_arguments(p, "classify")
    p.set_defaults(func=guarded(run, FLAGS))


# Classifier(...) parameter -> classify flag, for error texts (see cli._errors).
FLAGS = {
    "top_k": "--top-k",
    "batch_size": "--batch-size",
    "threshold": "--threshold",
    "device": "--device",
    "weights": "--weights",
    "overwrite": "--overwrite",
}


def _image_name(info: FrameInfo) -> str:
    base = Path(info.source).name if info.path is not None else info.source.replace(":", "_")
    stem = Path(base).stem or "image"
    if info.frame_index is not None:
        stem = f"{stem}_{info.frame_index:06d}"
    return f"{stem}_cam.jpg"


def _localization_dict(dets: Detections) -> dict[str, Any]:
    """``dets.to_dict()`` without the (large) heatmaps."""
    out = dets.to_dict()
    data = out.pop("data", {})
    data.pop("heatmap", None)
    if data:
        out["data"] = data
    return out


def draw(image: np.ndarray, localization: Detections) -> np.ndarray:
    """An annotated copy of ``image``: CAM heatmap, box and label (through ``detectkit.viz``)."""
    from detectkit.viz import annotate

    out: np.ndarray = annotate(image, localization)
    return out


def _check_args(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--top-k", args.top_k),
        ("--batch-size", args.batch_size),
        ("--vid-stride", args.vid_stride),
        ("--localize-top-k", args.localize_top_k),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}")
    if not 0.0 < args.threshold <= 1.0:
        raise UsageError(f"--threshold must be in (0, 1], got {args.threshold}")
    if args.weights is not None and args.model is None:
        raise UsageError("--weights needs --model ARCHITECTURE (e.g. --model resnet50 --weights file.pth)")
    if args.out is not None:
        check_output_dir(
            args.out,
            flag="--out",
            overwrite=getattr(args, "overwrite", False),
            only=("classifications.jsonl", "images"),
        )


def run(args: argparse.Namespace) -> int:
    """Run ``detectkit classify``; returns the exit code.

    Library chatter goes to stderr so stdout carries only results (or the ``--json`` document).
    """
    if getattr(args, "engine", None) is not None:  # a sharded batch job (detectkit.batch)
        from detectkit.batch.cli import run_from_args

        return run_from_args(args, "classify")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        return _run(args, stdout)


class _Writer:
    """Streams records to OUT/classifications.jsonl (renamed into place at the end) and saves images."""

    def __init__(self, out: Path | None, save_images: bool) -> None:
        self.out = out
        self.save_images = save_images and out is not None
        self._fh: Any = None
        self._used: set[str] = set()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.final = out / "classifications.jsonl"
            self.tmp = out / ".classifications.jsonl.tmp"
            self._fh = self.tmp.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any], info: FrameInfo, image: np.ndarray, dets: Detections | None) -> None:
        if self._fh is None or self.out is None:
            return
        if self.save_images and dets is not None:
            from detectkit.viz import save

            name = _image_name(info)
            if name in self._used:  # same file name from two folders
                name = f"{Path(name).stem}_{info.index}.jpg"
            self._used.add(name)
            target = save(draw(image, dets), self.out / "images" / name)
            record = {**record, "annotated_image": str(target)}
        self._fh.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            os.replace(self.tmp, self.final)
            self._fh = None


def _load_classifier(args: argparse.Namespace) -> Classifier:
    from detectkit.models.classifier import Classifier

    try:
        return Classifier(args.model, weights=args.weights, device=args.device)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace, stdout: Any) -> int:
    from detectkit._progress import stderr_bar
    from detectkit.image import count_images, iter_images

    _check_args(args)
    clf = _load_classifier(args)
    sources = [expand_source(s) for s in args.sources]
    total = count_images(sources, recursive=args.recursive, vid_stride=args.vid_stride)
    single = total == 1 and not any(isinstance(s, int) for s in sources)
    # no bar for one image, or for none (the error line says why)
    bar = stderr_bar(
        total=total, unit="img", disable=args.quiet or single or total == 0, dynamic_ncols=True, leave=False
    )
    writer = _Writer(args.out, save_images=args.localize)
    summary_out = sys.stderr if args.json else stdout
    results: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    top1: Counter[str] = Counter()
    n_images = 0
    started = time.perf_counter()

    def report(source: str, message: str) -> None:
        message = plain_message(message)
        failures.append({"source": source, "error": message})
        bar.write(f"detectkit classify: error: {message}", file=sys.stderr)

    def emit(info: FrameInfo, image: np.ndarray, result: Classification) -> None:
        nonlocal n_images
        dets = None
        if args.localize:
            try:
                dets = clf.localize(image, top_k=args.localize_top_k, threshold=args.threshold)
            except DetectkitError as exc:
                report(info.source, str(exc))
                return
        n_images += 1
        if result.top1 is not None:
            top1[result.top1] += 1
        record: dict[str, Any] = {
            "source": info.source,
            "index": info.index,
            "frame_index": info.frame_index,
            "image_size_wh": list(info.image_size_wh) if info.image_size_wh else None,
            "classification": result.to_dict(),
        }
        if dets is not None:
            record["localization"] = _localization_dict(dets)
        writer.write(record, info, image, dets)
        if args.json:
            results.append(record)
        elif not args.quiet:
            text = ", ".join(f"{lab} {c:.3f}" for lab, c in zip(result.labels, result.confidence.tolist(), strict=True))
            if dets is not None:
                boxes = "; ".join(
                    f"{lab} [{', '.join(f'{v:.0f}' for v in box)}]"
                    for lab, box in zip(dets.labels, dets.xyxy.tolist(), strict=True)
                )
                text += f" | box: {boxes}"
            bar.write(f"{info.source}: {text}", file=stdout)

    def flush(batch: list[tuple[FrameInfo, np.ndarray]]) -> None:
        if not batch:
            return
        try:
            classified = clf.classify_many([im for _, im in batch], top_k=args.top_k, batch_size=len(batch))
        except DetectkitError as exc:  # pragma: no cover - loaded arrays always classify
            for info, _ in batch:
                report(info.source, str(exc))
            batch.clear()
            return
        for (info, image), result in zip(batch, classified, strict=True):
            emit(info, image, result)
        batch.clear()

    existing, missing = split_sources(sources, recursive=args.recursive)
    for source, message in missing:
        report(source, message)
    pending: list[tuple[FrameInfo, np.ndarray]] = []
    try:
        for frame in iter_images(existing, recursive=args.recursive, vid_stride=args.vid_stride):
            bar.update(1)
            if frame.error is not None:
                report(frame.info.source, str(frame.error))
                continue
            if frame.image is None:  # pragma: no cover - iter_images sets image or error
                continue
            pending.append((frame.info, frame.image))
            if len(pending) >= args.batch_size:
                flush(pending)
        flush(pending)
    finally:
        bar.close()
        writer.close()
    elapsed = time.perf_counter() - started

    summary = {
        "images": n_images,
        "failed": len(failures),
        "top1": dict(top1.most_common()),
        "seconds": round(elapsed, 3),
        "model": clf.source,
        "out": str(args.out) if args.out is not None else None,
    }
    if args.json:
        json.dump({"results": results, "failures": failures, "summary": summary}, stdout)
        stdout.write("\n")
        stdout.flush()
    if not args.quiet:
        rate = f" ({1000 * elapsed / n_images:.1f} ms/image)" if n_images else ""
        print(
            f"{n_images} image(s) classified; {len(failures)} failed; {elapsed:.2f} s{rate}",
            file=summary_out,
        )
        if args.out is not None:
            print(f"results: {args.out / 'classifications.jsonl'}", file=summary_out)
    return 1 if failures else 0
