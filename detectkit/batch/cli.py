"""The ``--engine`` flags of ``detectkit detect``, ``classify`` and ``convert``.

The subcommands call :func:`add_engine_arguments` when building their parser and hand over
to :func:`run_from_args` when ``--engine`` is given; without it they run as before. This
module imports nothing heavy (the engines load when a job starts).

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_engine_arguments(p, "detect")
>>> a = p.parse_args(["--engine", "local", "--workers", "2"])
>>> a.engine, a.workers, a.batch_size, a.shard_size
('local', 2, 8, 64)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from detectkit.errors import InvalidInputError

__all__ = ["add_engine_arguments", "run_from_args"]


def _add(parser: Any, *flags: str, **kwargs: Any) -> None:
    """Add a flag unless the subcommand already has it (e.g. classify's own --batch-size)."""
    with contextlib.suppress(argparse.ArgumentError):
        parser.add_argument(*flags, **kwargs)


def add_engine_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the batch-engine flag group to the parser of ``command`` (detect, classify, convert)."""
    group = parser.add_argument_group(
        "batch engine",
        "run over many files as a sharded, resumable batch job (needs --out for detect/classify); "
        "see docs/scale-out.md",
    )
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default=None,
        help="local: a process pool on this machine; ray: Ray actors (pip install 'detectkit[ray]')",
    )
    group.add_argument(
        "--workers", type=int, default=None, help="worker processes / Ray actors (default: CPUs // --threads)"
    )
    if command in ("detect", "classify"):
        _add(group, "--batch-size", type=int, default=8, help="images per forward pass (default: %(default)s)")
        group.add_argument(
            "--shard-size", type=int, default=64, help="images per shard, the unit of resume (default: %(default)s)"
        )
        _add(group, "--overwrite", action="store_true", help="restart when --out holds another job")
        group.add_argument(
            "--threads",
            type=int,
            default=1,
            help="threads per worker (torch, onnxruntime, OpenVINO); a worker takes that many cores. "
            "The job's results depend on it, not on --workers (default: %(default)s)",
        )
    else:
        group.add_argument("--shard-size", type=int, default=2000, help="files per shard (default: %(default)s)")
        group.add_argument(
            "--min-files",
            type=int,
            default=None,
            metavar="N",
            help="parse in shards from N files on (default: when the measured saving exceeds the engine's "
            "start-up; 0: always); fewer files are parsed in this process",
        )
    group.add_argument(
        "--address",
        default=None,
        metavar="auto|ray://HOST:PORT",
        help="join an existing Ray cluster (default: start a local Ray and shut it down)",
    )
    group.add_argument("--retries", type=int, default=2, help="retries of a shard whose worker died")
    group.add_argument(
        "--stall-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fail when no shard finishes for this long (default: no limit)",
    )


def _usage(message: str) -> Exception:
    from detectkit.cli import UsageError

    return UsageError(message)


def _check_common(args: argparse.Namespace) -> None:
    if args.address is not None and args.engine != "ray":
        raise _usage("--address needs --engine ray")
    for flag in ("workers", "shard_size", "batch_size", "threads"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise _usage(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if getattr(args, "min_files", None) is not None and args.min_files < 0:
        raise _usage(f"--min-files must be >= 0, got {args.min_files}")
    if args.retries < 0:
        raise _usage(f"--retries must be >= 0, got {args.retries}")


def _reject(args: argparse.Namespace, flags: dict[str, str]) -> None:
    for attr, flag in flags.items():
        if getattr(args, attr, None):
            raise _usage(f"{flag} is not supported with --engine (run without --engine for it)")


def _classes(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise _usage(f"--classes must list class ids or names, got {text!r}")
    return [int(t) if t.lstrip("-").isdigit() else t for t in items]


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "engine": args.engine,
        "workers": args.workers,
        "retries": args.retries,
        "address": args.address,
        "stall_timeout": args.stall_timeout,
    }


def _report(args: argparse.Namespace, command: str, result: Any) -> int:
    out = sys.stdout
    if getattr(args, "json", False):
        payload = {
            "summary": {
                "images": result.images,
                "succeeded": result.succeeded,
                "failed": result.failed,
                "shards": result.shards,
                "shards_run": result.shards_run,
                "shards_skipped": result.shards_skipped,
                "unfinished_shards": [{"shard": i, "reason": r} for i, r in result.lost],
                "seconds": round(result.seconds, 3),
                "results": None if result.results is None else str(result.results),
                "failures": None if result.failures is None else str(result.failures),
            }
        }
        json.dump(payload, out)
        out.write("\n")
    elif not args.quiet:
        print(result, file=out)
        if result.failed:
            print(f"failures: {result.failures}", file=out)
        for index, reason in result.lost:
            print(f"detectkit {command}: error: shard {index} unfinished: {reason}", file=sys.stderr)
        if result.results is not None:
            print(f"results: {result.results}", file=out)
        if result.dataset is not None:
            print(result.dataset, file=out)
    return 0 if result.ok else 1


def run_from_args(args: argparse.Namespace, command: str) -> int:
    """Run ``detectkit <command> ... --engine ...``; returns the exit code (1 when any item failed)."""
    _check_common(args)
    if command == "convert":
        from detectkit.batch.conversion import run_convert_args

        return run_convert_args(args)
    if getattr(args, "out", None) is None:
        raise _usage("--engine needs --out DIR (where the shards and merged results go)")
    from detectkit.batch import api

    progress = not args.quiet and not getattr(args, "json", False)
    if command == "detect":
        _reject(
            args,
            {
                "save_images": "--save-images",
                "save_video": "--save-video",
                "classifier": "--classifier",
                "slice": "--slice",
                "track": "--track",
                "zone": "--zone",
                "line": "--line",
            },
        )
        result = api.detect(
            args.sources,
            Path(args.out),
            model=args.model,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            conf=args.conf,
            iou=args.iou,
            imgsz=args.imgsz,
            classes=_classes(args.classes),
            backend=args.backend or "torch",  # detect's --backend defaults to torch (auto with --slice)
            device=args.device,
            agnostic_nms=args.agnostic_nms,
            threads=args.threads,
            recursive=args.recursive,
            save_dataset=args.save_dataset,
            format=args.dataset_format,
            overwrite=args.overwrite,
            progress=progress,
            **_engine_options(args),
        )
    elif command == "classify":
        _reject(args, {"localize": "--localize"})
        result = api.classify(
            args.sources,
            Path(args.out),
            model=args.model,
            weights=args.weights,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            top_k=args.top_k,
            device=args.device,
            threads=args.threads,
            recursive=args.recursive,
            overwrite=args.overwrite,
            progress=progress,
            **_engine_options(args),
        )
    else:
        raise InvalidInputError(f"command must be detect, classify or convert, got {command!r}")
    return _report(args, command, result)
