"""``detectkit serve``: the HTTP API and web page (FastAPI + uvicorn, the ``serve`` extra).

Starts offline on the shipped models (the demo detector and the ImageNet classifier), prints
the URL, and serves until Ctrl+C. Open the URL in a browser for the page; the API is described
at ``/docs``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from detectkit.cli import UsageError
from detectkit.cli._help import parser_options

__all__ = ["config_from_args", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    from detectkit.serve.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

    p = subparsers.add_parser(
        "serve",
        help="serve detection and classification over HTTP, with a web page",
        **parser_options(__doc__),
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="NAME|PATH",
        help="detector manifest name or .pt/.onnx/.yaml path; repeat to load several, the first is the "
        "default (default: demo-shapes)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        metavar="NAME|PATH",
        help="classifier for /v1/classify and /v1/localize (default: the shipped ImageNet MobileNetV2; "
        "'none' disables them)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes, each with its own copy of the models (default: %(default)s)",
    )
    p.add_argument("--backend", choices=("torch", "onnx", "openvino", "auto"), default="torch", help="detector backend")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--conf", type=float, default=0.25, help="default minimum score (default: %(default)s)")
    p.add_argument("--iou", type=float, default=0.7, help="default NMS IoU threshold (default: %(default)s)")
    p.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="largest image upload in bytes, 413 beyond (default: %(default)s)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="largest width x height, read from the header before decoding; 413 beyond (default: %(default)s)",
    )
    p.add_argument("--max-video-bytes", type=int, default=200 * 1024 * 1024, help="largest video upload in bytes")
    p.add_argument(
        "--max-queue",
        type=int,
        default=64,
        help="most requests in progress at once; 503 with Retry-After beyond (default: %(default)s)",
    )
    p.add_argument(
        "--batch-window-ms",
        type=float,
        default=0.0,
        help="micro-batching: wait this long for concurrent requests to run them in one forward pass (default: 0, off)",
    )
    p.add_argument("--max-batch", type=int, default=8, help="most images in one micro-batch (default: %(default)s)")
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        metavar="N",
        help="torch intra-op threads per lane (default: $DETECTKIT_SERVE_TORCH_THREADS, else 0 = torch's default, "
        "one per core, or cpu_count // lanes with --lanes; answers equal Detector.detect at the same count)",
    )
    p.add_argument(
        "--lanes",
        type=int,
        default=1,
        help="inference lanes: threads each running its own copy of the detectors with cpu_count/lanes "
        "threads; 2 on a 2-core CPU serves concurrent requests faster (default: %(default)s)",
    )
    p.add_argument(
        "--path-root",
        type=Path,
        default=None,
        help="allow JSON requests to name image files under this folder (default: paths are refused)",
    )
    p.add_argument(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="require the header X-API-Key equal to the value of environment variable VAR "
        "(everything but /health and the page)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="allow this browser origin (repeatable; default: no CORS headers)",
    )
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~detectkit.serve.ServeConfig` of parsed arguments (usage errors name the flag)."""
    from detectkit.errors import InvalidInputError
    from detectkit.serve.config import ServeConfig

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise UsageError(f"--api-key-env {args.api_key_env}: that environment variable is unset or empty")
    if args.workers < 1:
        raise UsageError(f"--workers must be a positive int, got {args.workers}")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    classifier = args.classifier
    if classifier is not None and classifier.lower() in ("none", ""):
        classifier = ""
    try:
        return ServeConfig(
            models=tuple(args.model or ("demo-shapes",)),
            classifier=classifier,
            backend=args.backend,
            device=args.device,
            conf=args.conf,
            iou=args.iou,
            max_bytes=args.max_bytes,
            max_pixels=args.max_pixels,
            max_video_bytes=args.max_video_bytes,
            max_queue=args.max_queue,
            batch_window_ms=args.batch_window_ms,
            max_batch=args.max_batch,
            lanes=args.lanes,
            path_root=args.path_root,
            api_key=api_key,
            cors_origins=tuple(args.cors_origin or ()),
            **({} if args.torch_threads is None else {"torch_threads": args.torch_threads}),
        )
    except InvalidInputError as exc:
        param, _, rest = str(exc).partition(" ")  # "max_bytes must be ..." -> "--max-bytes must be ..."
        raise UsageError(f"--{param.replace('_', '-')} {rest}") from None


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it stops."""
    from detectkit.serve import require_serve_extra
    from detectkit.serve import run as serve

    require_serve_extra()
    config = config_from_args(args)
    # resolve the models here, so a bad --model fails with a clear message before binding
    from detectkit.models import weights
    from detectkit.models.detector import check_detector_weights

    for name in config.models:
        check_detector_weights(weights.resolve(name))  # a classifier or a .jpg is no detector
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"detectkit serve: http://{host}:{args.port}/  (API docs: /docs; Ctrl+C to stop)", file=sys.stderr, flush=True
    )
    serve(config, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level)
    return 0
