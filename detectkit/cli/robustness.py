"""``detectkit robustness MODEL DATASET --out DIR``: accuracy under FGSM / PGD attacks of rising strength.

MODEL is a classifier (a manifest name such as ``mobilenet_v2-imagenet``, a torchvision
``arch-hash.pth``) or a YOLO detector (``demo-shapes``, a ``.pt``); ``--task`` overrides the guess.
For a classifier DATASET is an image, a folder of images (or of class-named sub-folders, whose
names are the labels) and ``--labels FILE.json`` may map file names to class names; without
labels the clean top-1 is the label. For a detector DATASET is anything ``detectkit convert``
reads (YOLO folder, COCO JSON, ...). The attacks work in pixel space ([0, 1], normalisation inside
the model; see :mod:`detectkit.models.robustness` for what is attacked).

Writes ``DIR/robustness.json`` (metric per eps, with ``--defence jpeg`` also after JPEG
re-compression) and ``DIR/robustness.png`` (metric vs eps, and a row of the first image: clean and
attacked at each eps with the prediction). Exit 0 on success, 1 on a failure, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from detectkit._atomic import atomic_path, write_atomic
from detectkit.cli import UsageError
from detectkit.cli._help import parser_options

__all__ = ["parse_eps", "register", "run"]


def parse_eps(text: str) -> list[float]:
    """``"0,1/255,0.01"`` -> ``[0.0, 0.00392..., 0.01]``.

    >>> [round(v * 255, 3) for v in parse_eps("0, 1/255, 8/255")]
    [0.0, 1.0, 8.0]
    """
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "/" in part:
                num, den = part.split("/", 1)
                value = float(num) / float(den)
            else:
                value = float(part)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--eps: {part!r} is not a number or a fraction like 8/255") from None
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--eps values must be in [0, 1] (pixel scale), got {part!r}")
        values.append(value)
    if not values:
        raise UsageError("--eps needs at least one value")
    return values


def register(subparsers: Any) -> None:
    """Add the ``robustness`` subcommand."""
    p = subparsers.add_parser(
        "robustness",
        help="accuracy (classifier top-1 / detector mAP50) under FGSM or PGD attacks",
        **parser_options(__doc__),
    )
    p.add_argument("model", metavar="MODEL", help="classifier or detector (manifest name or path)")
    p.add_argument("dataset", metavar="DATASET", help="images (classifier) or a dataset (detector)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--attack", default="pgd", choices=("fgsm", "pgd"), help="default: pgd")
    p.add_argument("--eps", default="0,1/255,2/255,4/255,8/255", help="strengths, pixel scale (default: %(default)s)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (default: 10)")
    p.add_argument("--defence", default=None, choices=("jpeg",), help="also measure with JPEG re-compression")
    p.add_argument("--task", default="auto", choices=("auto", "classify", "detect"), help="model kind (default: auto)")
    p.add_argument("--labels", type=Path, default=None, help="classifier: JSON {file name: class name or id}")
    p.add_argument("--max-images", type=int, default=None, help="use only the first N images")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table")
    p.set_defaults(func=run)


def _task(model: str, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    from detectkit.models.weights import resolve

    resolved = resolve(model)
    if resolved.task in ("classify", "detect"):
        return resolved.task
    return "classify" if resolved.suffix == ".pth" or "-cls" in Path(model).name else "detect"


def _classifier_inputs(
    args: argparse.Namespace, names: dict[int, str]
) -> tuple[list[Any], list[int] | None, list[str]]:
    from detectkit.image import list_images, load_image

    source = Path(args.dataset)
    if not source.exists():
        raise UsageError(f"DATASET {args.dataset} does not exist")
    by_name = {v: k for k, v in names.items()}
    files: list[Path]
    labels: list[int] | None = None
    if source.is_file():
        files = [source]
    else:
        subdirs = sorted(d for d in source.iterdir() if d.is_dir() and d.name in by_name)
        if subdirs:
            pairs = [(f, by_name[d.name]) for d in subdirs for f in list_images(d)]
            files, labels = [f for f, _ in pairs], [c for _, c in pairs]
        else:
            files = list_images(source)
    if args.labels is not None:
        try:
            mapping = json.loads(args.labels.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--labels {args.labels}: not a readable JSON object: {exc}") from None
        if not isinstance(mapping, dict):
            raise UsageError(f"--labels {args.labels}: expected a JSON object {{file name: class}}")
        labels = []
        for f in files:
            value = mapping.get(f.name, mapping.get(str(f)))
            if value is None:
                raise UsageError(f"--labels {args.labels} has no entry for {f.name}")
            if isinstance(value, str) and value not in by_name:
                raise UsageError(f"--labels: unknown class name {value!r} for {f.name}")
            labels.append(by_name[value] if isinstance(value, str) else int(value))
    if args.max_images is not None:
        files = files[: args.max_images]
        labels = labels[: args.max_images] if labels is not None else None
    if not files:
        raise UsageError(f"DATASET {args.dataset} holds no images")
    return [load_image(f) for f in files], labels, [f.name for f in files]


def _plot(report: Any, row: list[tuple[str, Any]], target: Path) -> None:
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(1, len(row))
    fig = plt.figure(figsize=(max(8.0, 2.2 * cols), 6.5))
    grid = fig.add_gridspec(2, cols, height_ratios=[1.3, 1.0])
    ax = fig.add_subplot(grid[0, :])
    eps255 = [e * 255 for e in report.eps]
    ax.plot(eps255, report.values, "o-", label=f"{report.attack.upper()} (no defence)")
    if report.defended is not None:
        ax.plot(eps255, report.defended, "s--", label=f"{report.attack.upper()} + {report.defence} defence")
    ax.set_xlabel("eps (pixel levels out of 255, L-infinity)")
    ax.set_ylabel("top-1 accuracy" if report.metric == "top1" else "mAP50")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{report.task}: {report.metric} vs attack strength ({report.images} images)")
    for i, (title, image) in enumerate(row):
        sub = fig.add_subplot(grid[1, i])
        sub.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        sub.set_title(title, fontsize=8)
        sub.axis("off")
    fig.tight_layout()
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run ``detectkit robustness``."""
    eps = parse_eps(args.eps)
    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.max_images is not None and args.max_images < 1:
        raise UsageError(f"--max-images must be >= 1, got {args.max_images}")
    task = _task(args.model, args.task)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    row: list[tuple[str, Any]] = []
    if task == "classify":
        from detectkit.models.classifier import Classifier
        from detectkit.models.robustness import classifier_robustness

        classifier = Classifier(args.model)
        images, labels, names = _classifier_inputs(args, dict(classifier.names))
        report, kept = classifier_robustness(
            classifier,
            images,
            labels,
            attack=args.attack,
            eps=eps,
            steps=args.steps,
            defence=args.defence,
            names=names,
            keep_images=1,
        )
        first = report.examples[0]
        for e, adv in zip(report.eps, kept[0] if kept else []):
            key = f"{e * 255:g}/255"
            row.append((f"eps {key}: {first[key]}", adv))
    else:
        from detectkit.formats import read
        from detectkit.models.detector import Detector
        from detectkit.models.robustness import detector_robustness
        from detectkit.viz import annotate

        dataset = read(args.dataset)
        if args.max_images is not None:
            dataset = dataset.select([r.id for r in dataset.images[: args.max_images]])
        detector = Detector(args.model, conf=0.001)
        report, firsts = detector_robustness(
            detector, dataset, attack=args.attack, eps=eps, steps=args.steps, defence=args.defence
        )
        shown = Detector(args.model)  # the default threshold for the pictures
        for e, adv in zip(report.eps, firsts):
            dets = shown.detect(adv)
            row.append((f"eps {e * 255:g}/255: {len(dets)} boxes", annotate(adv, dets)))
    payload = {"model": args.model, "dataset": str(args.dataset), **report.to_dict()}
    write_atomic(out / "robustness.json", json.dumps(payload, indent=1))
    _plot(report, row, out / "robustness.png")
    if not args.quiet:
        print(f"{'eps':>8}  {report.metric:>7}" + (f"  {'+' + str(report.defence):>7}" if report.defended else ""))
        for i, e in enumerate(report.eps):
            extra = f"  {report.defended[i]:>7.3f}" if report.defended else ""
            print(f"{e * 255:>6g}/255  {report.values[i]:>7.3f}{extra}")
        print(f"wrote {out / 'robustness.json'} and {out / 'robustness.png'}")
    return 0
