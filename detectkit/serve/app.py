"""The FastAPI application: routes, request guards and the model state behind them.

Build it with :func:`create_app` (the CLI's ``detectkit serve`` runs it under uvicorn). Routes:

==========================  ================================================================
``GET  /``                  the web page (one HTML file, no external assets)
``GET  /health``            liveness: the process answers
``GET  /ready``             readiness: 200 once the models are loaded, else 503
``GET  /v1/models``         the loaded models (manifest entries, classes, colours)
``GET  /metrics``           request counts, latency histograms, queue and batch figures (Prometheus)
``POST /v1/detect``         one image -> ``Detections.to_dict()`` + ``model`` + ``timing_ms``
``POST /v1/detect/batch``   several images -> ``{"results": [...]}`` (a bad one gets its own error)
``POST /v1/detect/video``   a video -> JSON lines, one per frame, then a summary line
``POST /v1/classify``       one image -> top-k labels
``POST /v1/localize``       one image -> a CAM box per top class
``POST /v1/annotate``       one image -> the annotated JPEG/PNG (``detectkit.viz.annotate``)
==========================  ================================================================

An image is sent as a multipart upload (field ``file``; ``files`` for the batch), as the body
itself (``Content-Type: image/jpeg``, ``image/png``, ... or ``application/octet-stream``; one-image
routes; the answer's ``image_name`` from an ``X-Filename`` header), or as JSON
``{"image_base64": "..."}``, or as JSON ``{"path": "relative/to/root.jpg"}`` when the operator
enabled a root folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import importlib.resources
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from detectkit import __version__
from detectkit.errors import DetectkitError, InvalidInputError
from detectkit.models.runtime_threads import set_torch_threads
from detectkit.serve.config import ServeConfig
from detectkit.serve.engine import InferenceEngine, OverloadedError
from detectkit.serve.metrics import Metrics
from detectkit.serve.uploads import (
    CheckedImage,
    RequestError,
    check_image_bytes,
    decode_base64,
    decode_image,
    read_under_root,
    single_file_part,
)

__all__ = ["ServerState", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_OPEN_PATHS = frozenset({"/", "/health"})  # no API key needed (the page itself holds no data)
_MULTIPART_SLACK = 1 << 20  # form boundaries and headers around the file bytes


@dataclass
class ServerState:
    """What the routes share: settings, loaded models, the inference engine and the metrics.

    ``detectors`` are lane 0's models (and what ``/v1/models`` describes); with several lanes,
    ``replicas[i]`` holds lane ``i``'s own copies.
    """

    config: ServeConfig
    engine: InferenceEngine
    metrics: Metrics = field(default_factory=Metrics)
    detectors: dict[str, Any] = field(default_factory=dict)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    classifier: Any = None
    classifier_lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Event = field(default_factory=threading.Event)
    load_error: str | None = None
    started: float = field(default_factory=time.time)
    torch_threads: int | None = None  # torch's thread count before the lanes changed it
    lane_torch_threads: int = 0  # torch's thread count on each lane (0: no torch model)
    direct_detect: bool = True  # the guard answers plain POST /v1/detect itself (see _Guard)

    def load(self) -> None:
        """Load every configured model (runs on a lane); errors land in ``load_error``."""
        try:
            from detectkit.models.detector import Detector

            with self._lane_threads():
                for name in self.config.models:
                    if name not in self.detectors:
                        self.detectors[name] = Detector(
                            name,
                            conf=self.config.conf,
                            iou=self.config.iou,
                            backend=self.config.backend,
                            device=self.config.device,
                        )
                self.replicas = [self.detectors]
                for _ in range(1, self.config.lanes):
                    self.replicas.append({name: _replicate(d) for name, d in self.detectors.items()})
                self._settle_torch_threads()
            backends = {getattr(d, "backend", "torch") for d in self.detectors.values()}
            if self.engine.window > 0 and backends == {"onnx"}:
                # onnxruntime gains nothing from a batched forward here (8 images in one run cost
                # what 8 single runs cost, bench_serve.py): a window would only add waiting
                self.engine.window = 0.0
                print(
                    "detectkit serve: --batch-window-ms ignored: the onnx backend runs a batch no faster "
                    "than its images one at a time; --lanes 2 is the throughput option there",
                    file=sys.stderr,
                )
            if self.classifier is None and self.config.classifier != "":
                from detectkit.models.classifier import Classifier

                self.classifier = Classifier(self.config.classifier or None, device=self.config.device)
            self.ready.set()
        except DetectkitError as exc:
            self.load_error = str(exc)
        except Exception as exc:  # torch/ultralytics raise many kinds; /ready must not say "loading" forever
            self.load_error = f"{type(exc).__name__}: {exc}"

    @contextlib.contextmanager
    def _lane_threads(self) -> Iterator[None]:
        """With several lanes, give each model copy ``cpu_count // lanes`` intra-op threads:
        torch's (process-wide, restored by :meth:`close`) and onnxruntime's/OpenVINO's (read from
        ``DETECTKIT_ORT_THREADS`` while the sessions are created)."""
        if self.config.lanes == 1:
            yield
            return
        threads = max(1, (os.cpu_count() or 1) // self.config.lanes)
        if self.config.backend in ("torch", "auto") or "torch" in sys.modules:  # torch is ~0.5 GB: no import for onnx
            import torch

            self.torch_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        from detectkit.models.runtime_threads import threads_while

        with threads_while(threads):
            yield

    def _settle_torch_threads(self) -> None:
        """Each lane's torch intra-op threads: ``torch_threads`` when set, else with several lanes
        ``cpu_count // lanes``, else the process's own count (torch's default unless the embedding
        program set one). A :class:`~detectkit.models.detector.Detector` keeps the count of the
        thread that calls it (it undoes Ultralytics' reset to ``cpu_count - 1``), and torch keeps
        one count per thread, so :meth:`_torch_threads_here` sets it on every lane."""
        torch = sys.modules.get("torch")
        copies = [d for replica in self.replicas for d in replica.values() if getattr(d, "backend", None) == "torch"]
        if torch is None or not copies:
            return
        share = max(1, (os.cpu_count() or 1) // self.config.lanes) if self.config.lanes > 1 else 0
        wanted = self.config.torch_threads or share
        if not wanted:
            return
        if self.torch_threads is None:
            self.torch_threads = torch.get_num_threads()
        self.lane_torch_threads = wanted
        self._torch_threads_here()

    def _torch_threads_here(self) -> None:
        """Set torch's thread count on this (lane) thread to the lanes' when something reset it."""
        set_torch_threads(self.lane_torch_threads)

    def close(self) -> None:
        """Stop the engine and restore torch's thread count."""
        self.engine.close()
        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)
            self.torch_threads = None

    def lane_model(self, name: str, options: Callable[[Any], Any]) -> Callable[[int], Any]:
        """``lane -> model``: lane's copy of detector ``name`` with a request's ``options`` applied
        (an OpenVINO detector runs a micro-batch's images as concurrent inference requests)."""

        def model(lane: int) -> Any:
            self._torch_threads_here()
            chosen = options(self.replicas[lane][name] if self.replicas else self.detectors[name])
            return _Concurrent(chosen) if getattr(chosen, "backend", None) == "openvino" else chosen

        return model

    def detector(self, name: str | None) -> tuple[str, Any]:
        """The detector named ``name`` (the first configured one when None)."""
        self.require_ready()
        key = name or self.config.models[0]
        if key not in self.detectors:
            raise RequestError(404, f"model {key!r} is not loaded here; loaded: {sorted(self.detectors)}")
        return key, self.detectors[key]

    def require_ready(self) -> None:
        if self.load_error is not None:
            raise RequestError(503, f"the models failed to load: {self.load_error}")
        if not self.ready.is_set():
            raise RequestError(503, "the models are still loading; retry shortly")


class _Concurrent:
    """A detector whose ``detect_batch`` runs a micro-batch with ``concurrent=True``: OpenVINO's
    throughput mode (one stream per group of cores), each image still inferred on its own."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def detect_batch(self, images: list[np.ndarray]) -> list[Any]:
        out: list[Any] = self.detector.detect_batch(images, concurrent=len(images) > 1)
        return out


def _replicate(detector: Any) -> Any:
    """Another copy of a loaded detector for another lane: the same weights, backend and settings."""
    from detectkit.models.detector import Detector

    if getattr(detector, "classifier", None) is not None:
        raise InvalidInputError("lanes > 1 cannot copy a detector with a second-stage classifier; use lanes=1")
    return Detector(
        detector.weights.source,
        conf=detector.conf,
        iou=detector.iou,
        imgsz=detector.imgsz,
        classes=detector.classes,
        device=detector.device,
        backend=detector.backend,
        max_det=detector.max_det,
        agnostic_nms=detector.agnostic_nms,
    )


# ------------------------------------------------------------------------------ guards
class _BodyTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class _Guard:
    """Pure ASGI middleware: API key, request-body byte limit (on ``Content-Length`` and while
    streaming, before the body is all read), and the request metrics.

    It also answers the most common request itself: ``POST /v1/detect`` without a query string,
    with one multipart file or a raw image body (:func:`_direct_detect`). That skips Starlette's
    routing, the ``Request`` object and the response classes, a few tenths of a millisecond per
    request (``benchmarks/bench_serve.py`` phase 1); the answer, the errors and the metrics are
    the route's own (a test compares them). Anything else goes to the app.
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    def _limit(self, path: str) -> int:
        c = self.state.config
        if path == "/v1/detect/video":
            return c.max_video_bytes + _MULTIPART_SLACK
        if path == "/v1/detect/batch":
            return c.max_bytes * c.max_batch_images + _MULTIPART_SLACK
        return c.max_bytes * 4 // 3 + _MULTIPART_SLACK  # base64 JSON is 4/3 of the bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        started = {"yes": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                started["yes"] = True
            await send(message)

        path = str(scope.get("path", ""))
        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            error = self._check(scope, path, headers)
            if error is not None:
                await error(scope, receive, send_wrapper)
                return
            limit = self._limit(path)
            seen = {"n": 0}

            async def receive_limited() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen["n"] += len(message.get("body", b""))
                    if seen["n"] > limit:
                        raise _BodyTooLargeError(limit)
                return message

            try:
                if self._direct(scope, path, headers):
                    scope["route"] = _DETECT_ROUTE
                    await _direct_detect(self.app, self.state, scope, receive_limited, send_wrapper, headers)
                else:
                    await self.app(scope, receive_limited, send_wrapper)
            except _BodyTooLargeError as exc:
                if started["yes"]:
                    raise
                await _too_large(exc.limit)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "other"
            self.state.metrics.observe(str(scope.get("method", "")), label, status["code"], time.perf_counter() - start)

    def _direct(self, scope: Scope, path: str, headers: Mapping[str, str]) -> bool:
        if not (self.state.direct_detect and path == "/v1/detect" and scope.get("method") == "POST"):
            return False
        if scope.get("query_string") or scope.get("root_path"):
            return False
        try:
            return _kind_of(headers.get("content-type", "")) != "json"
        except RequestError:  # the route answers 415
            return False

    def _check(self, scope: Scope, path: str, headers: Mapping[str, str]) -> Response | None:
        key = self.state.config.api_key
        if key is not None and path not in _OPEN_PATHS and scope.get("method") != "OPTIONS":
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), key.encode()):
                return JSONResponse(
                    {"detail": "missing or wrong API key: send it in the X-API-Key header"},
                    status_code=401,
                    headers={"WWW-Authenticate": "ApiKey"},
                )
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return JSONResponse({"detail": "Content-Length must be a number"}, status_code=400)
            if int(length) > self._limit(path):
                return _too_large(self._limit(path))
        return None


@dataclass(frozen=True)
class _RouteLabel:
    path: str


_DETECT_ROUTE = _RouteLabel("/v1/detect")  # the metrics label of requests the guard answers


class _ReplayError(Exception):
    """A multipart body :func:`single_file_part` declines: the app's route parses it instead."""


async def _receive_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _DisconnectedError(Exception):
    """The client went away before its body was read: nothing is answered."""


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app after the body was read: the body once, then the real ``receive``."""
    sent = {"yes": False}

    async def replay() -> Message:
        if not sent["yes"]:
            sent["yes"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _direct_detect(
    app: ASGIApp, state: ServerState, scope: Scope, receive: Receive, send: Send, headers: Mapping[str, str]
) -> None:
    """``POST /v1/detect`` without a query string (the defaults), one multipart file or a raw
    image body: the route's answer (:func:`_detect_answer`) and its error answers (the app's
    exception handlers), sent as raw ASGI messages."""
    config = state.config
    ctype = headers.get("content-type", "")
    replay: list[bytes] = []

    async def read() -> CheckedImage:
        body = await _receive_body(receive)
        if _kind_of(ctype) == "raw":
            data, name = body, _raw_name(headers)
        else:
            single = single_file_part(body, ctype)
            if single is None:  # several parts, other fields, unusual headers
                replay.append(body)
                raise _ReplayError
            data, name = single
        return check_image_bytes(data, name=name, max_bytes=config.max_bytes, max_pixels=config.max_pixels)

    extra: list[tuple[bytes, bytes]] = []
    try:
        payload: Any = await _detect_answer(state, _DEFAULT_QUERY, read)
        status = 200
    except _ReplayError:
        await app(scope, _replaying(replay[0], receive), send)
        return
    except _DisconnectedError:
        return
    except OverloadedError as exc:
        status, payload = 503, {"detail": str(exc)}
        extra.append((b"retry-after", str(exc.retry_after).encode()))
    except RequestError as exc:
        status, payload = exc.status, {"detail": str(exc)}
        if exc.status == 503:
            extra.append((b"retry-after", b"1"))
    except InvalidInputError as exc:
        status, payload = 422, {"detail": str(exc)}
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> Response:
    return JSONResponse(
        {"detail": f"request body larger than the limit of {limit} bytes (--max-bytes / --max-video-bytes)"},
        status_code=413,
        headers={"Connection": "close"},
    )


# ------------------------------------------------------------------------------ request parsing
async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    return bytes(data)


async def _form(request: Request, *, max_files: int) -> Any:
    try:
        return await request.form(max_files=max_files, max_fields=32)
    except _BodyTooLargeError:
        raise
    except Exception as exc:  # malformed multipart
        raise RequestError(422, f"malformed multipart body: {exc}") from None


async def _json(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(await request.body())
    except _BodyTooLargeError:
        raise
    except ValueError as exc:
        raise RequestError(422, f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(422, "the JSON body must be an object with 'image_base64' or 'path'")
    return payload


def _content_kind(request: Request) -> str:
    return _kind_of(request.headers.get("content-type", ""))


def _kind_of(content_type: str) -> str:
    """``"multipart"``, ``"json"`` or ``"raw"`` (the body is the image file itself: ``image/*``
    or ``application/octet-stream``; the format is read from the bytes, not from the type).

    >>> _kind_of("image/png"), _kind_of("multipart/form-data; boundary=x")
    ('raw', 'multipart')
    """
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return "multipart"
    if ctype == "application/json":
        return "json"
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return "raw"
    raise RequestError(
        415,
        f"unsupported Content-Type {ctype or '(none)'!r}: send multipart/form-data (field 'file'), "
        "the image file itself (Content-Type image/jpeg, image/png, ...) or JSON",
    )


def _raw_name(headers: Mapping[str, str]) -> str:
    """The file name of a raw-body upload: its ``X-Filename`` header, else ``"upload"``."""
    return headers.get("x-filename", "").strip()[:255] or "upload"


async def _image_bytes_from_json(payload: Mapping[str, Any], config: ServeConfig, where: str) -> tuple[bytes, str]:
    if "image_base64" in payload:
        data = decode_base64(payload["image_base64"], name=f"{where}image_base64", max_bytes=config.max_bytes)
        return data, str(payload.get("name") or "image_base64")
    if "path" in payload:
        return await run_in_threadpool(
            read_under_root, payload["path"], root=config.path_root, max_bytes=config.max_bytes
        )
    raise RequestError(422, "the JSON body needs 'image_base64' (or 'path', when the server enables a root folder)")


async def _one_image(request: Request, state: ServerState) -> CheckedImage:
    """The single image of a request, checked (bytes, header pixels, format) but not decoded."""
    config = state.config
    kind = _content_kind(request)
    if kind == "json":
        data, name = await _image_bytes_from_json(await _json(request), config, "")
    elif kind == "raw":
        data, name = await request.body(), _raw_name(request.headers)
    else:
        # the common case, one file and nothing else, is cut out of the body directly; anything
        # else goes through the general multipart parser
        single = single_file_part(await request.body(), request.headers.get("content-type", ""))
        if single is not None:
            data, name = single
        else:
            form = await _form(request, max_files=1)
            upload = form.get("file") or form.get("image")
            if not isinstance(upload, UploadFile):
                raise RequestError(422, "the multipart body needs the image in a file field named 'file'")
            name = upload.filename or "file"
            data = await _read_upload(upload, config.max_bytes)
    return check_image_bytes(data, name=name, max_bytes=config.max_bytes, max_pixels=config.max_pixels)


async def _many_images(request: Request, state: ServerState) -> list[CheckedImage | RequestError]:
    config = state.config
    items: list[tuple[bytes, str] | RequestError] = []
    kind = _content_kind(request)
    if kind == "raw":
        raise RequestError(415, "send several images as multipart/form-data (file fields 'files') or JSON")
    if kind == "json":
        payload = await _json(request)
        entries = payload.get("images")
        if not isinstance(entries, list) or not entries:
            raise RequestError(422, "the JSON body needs 'images': a list of {'image_base64': ...} or {'path': ...}")
        if len(entries) > config.max_batch_images:
            raise RequestError(413, f"{len(entries)} images, more than the limit of {config.max_batch_images}")
        for i, entry in enumerate(entries):
            try:
                if not isinstance(entry, dict):
                    raise RequestError(422, f"images[{i}] must be an object")
                items.append(await _image_bytes_from_json(entry, config, f"images[{i}]."))
            except RequestError as exc:
                items.append(exc)
    else:
        form = await _form(request, max_files=config.max_batch_images + 1)
        uploads = [u for u in form.getlist("files") + form.getlist("file") if isinstance(u, UploadFile)]
        if not uploads:
            raise RequestError(422, "the multipart body needs the images in file fields named 'files'")
        if len(uploads) > config.max_batch_images:
            raise RequestError(413, f"{len(uploads)} images, more than the limit of {config.max_batch_images}")
        for u in uploads:
            items.append((await _read_upload(u, config.max_bytes), u.filename or "file"))
    out: list[CheckedImage | RequestError] = []
    for item in items:
        if isinstance(item, RequestError):
            out.append(item)
            continue
        try:
            out.append(
                check_image_bytes(item[0], name=item[1], max_bytes=config.max_bytes, max_pixels=config.max_pixels)
            )
        except RequestError as exc:
            out.append(exc)
    return out


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class _Options:
    conf: float | None = None
    iou: float | None = None
    imgsz: int | None = None
    classes: str | None = None
    slicing: Any = None  # a detectkit.slicing.SliceConfig (frozen, hashable: part of the batch key)


@dataclass(frozen=True)
class _SliceQuery:
    """The sliced-inference query parameters as sent (validated by :func:`_slice_config`)."""

    size: str | None = None
    overlap: str | None = None
    merge: str | None = None
    match: str | None = None
    match_threshold: float | None = None
    merge_agnostic: bool | None = None
    full_image: bool | None = None
    edge_aware: bool | None = None


def _slice_config(q: _SliceQuery) -> Any:
    """The :class:`~detectkit.slicing.SliceConfig` of a request (``None`` without ``slice``), or a
    422 naming the query parameter (the same options as ``detectkit detect --slice``)."""
    if q.size is None:
        given = [k for k, v in vars(q).items() if k != "size" and v is not None]
        if given:
            raise RequestError(422, f"{', '.join(given)}: sliced-inference options need slice= (e.g. slice=640)")
        return None
    from detectkit.slicing import SliceConfig

    size: int | tuple[int, int] | None = None
    text = q.size.strip().lower()
    if text != "auto":
        parts = text.split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() and 0 < int(p) <= 8192 for p in parts):
            raise RequestError(
                422, f"slice must be a tile size such as 640, 640x480 (width x height, <= 8192) or auto, got {q.size!r}"
            )
        size = int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    overlap: float | int = 0.2
    if q.overlap is not None:
        raw = q.overlap.strip()
        try:
            overlap = int(raw) if raw.isdigit() else float(raw)
        except ValueError:
            raise RequestError(
                422, f"overlap must be a ratio in [0, 1) such as 0.2 or pixels such as 64, got {q.overlap!r}"
            ) from None
    try:
        return SliceConfig(
            slice_wh=size,
            overlap=overlap,
            merge=q.merge or "nmm",
            match_metric=q.match,
            match_threshold=0.5 if q.match_threshold is None else q.match_threshold,
            class_agnostic=bool(q.merge_agnostic),
            full_image=q.full_image is not False,
            edge_aware=q.edge_aware is not False,
        )
    except InvalidInputError as exc:
        names = {"slice_wh": "slice", "match_metric": "match", "class_agnostic": "merge_agnostic"}
        text = str(exc)
        for old, new in names.items():
            text = text.replace(old, new)
        raise RequestError(422, f"slicing options: {text}") from None


class _Sliced:
    """A detector whose ``detect_batch`` runs sliced inference with one configuration."""

    def __init__(self, detector: Any, slicing: Any) -> None:
        self.detector = detector
        self.slicing = slicing

    def detect_batch(self, images: list[np.ndarray]) -> list[Any]:
        out: list[Any] = self.detector.detect_batch(images, slicing=self.slicing)
        return out


@dataclass(frozen=True)
class _DetectQuery:
    """A detection request's ``model`` and options (the query parameters of the detection routes)."""

    model: str | None
    options: _Options


_DEFAULT_QUERY = _DetectQuery(None, _Options())  # what the detection routes' query resolves to when empty


def _detector_variant(name: str, detector: Any, options: _Options) -> tuple[Callable[[Any], Any], tuple[Hashable, ...]]:
    """A function giving a loaded detector (any lane's copy) with a request's options, sharing its
    model (each lane runs one call at a time), and the part of the micro-batch key that pins model
    and options. Unknown class names answer 422 here, before anything is queued."""
    class_ids: tuple[int, ...] | None = None
    if options.classes:
        by_name = {v: k for k, v in detector.names.items()}
        ids = []
        for token in (t.strip() for t in options.classes.split(",")):
            if token.isdigit() and int(token) in detector.names:
                ids.append(int(token))
            elif token in by_name:
                ids.append(by_name[token])
            else:
                raise RequestError(422, f"classes: unknown class {token!r}; the model has {detector.names}")
        class_ids = tuple(ids)
    if options.conf is None and options.iou is None and options.imgsz is None and class_ids is None:
        if options.slicing is None:
            return (lambda model: model), (name,)
        return (lambda model: _Sliced(model, options.slicing)), (name, options.slicing)

    def apply(model: Any) -> Any:
        variant = copy.copy(model)
        if options.conf is not None:
            variant.conf = options.conf
        if options.iou is not None:
            variant.iou = options.iou
        if options.imgsz is not None:
            variant.imgsz = options.imgsz
        if class_ids is not None:
            variant.classes = list(class_ids)
        return variant if options.slicing is None else _Sliced(variant, options.slicing)

    settings = apply(detector)
    settings = getattr(settings, "detector", settings)
    return apply, (name, settings.conf, settings.iou, settings.imgsz, class_ids, options.slicing)


async def _detect(state: ServerState, model: str | None, options: _Options, image: np.ndarray) -> tuple[str, Any]:
    name, detector = state.detector(model)
    apply, key = _detector_variant(name, detector, options)
    future = state.engine.submit_detect(state.lane_model(name, apply), image, key=(*key, image.shape))
    return name, await asyncio.wrap_future(future)


async def _detect_checked(
    state: ServerState, model: str | None, options: _Options, checked: CheckedImage, seconds: dict[str, float]
) -> tuple[str, Any]:
    """Decode ``checked`` and detect in it. When no other request is in the server, the lane
    decodes it (one thread hop per request); otherwise it is decoded on a worker thread first,
    so that decoding overlaps the lane's forward passes of other requests."""
    name, detector = state.detector(model)
    apply, key = _detector_variant(name, detector, options)
    engine = state.engine
    if engine.admitted <= 1:
        w, h = checked.size_wh
        future = engine.submit_detect(
            state.lane_model(name, apply),
            decode=lambda: decode_image(checked),
            key=(*key, (h, w, 3)),
            seconds=seconds,
        )
        return name, await asyncio.wrap_future(future)
    t = time.perf_counter()
    image = await run_in_threadpool(decode_image, checked)
    seconds["decode"] = time.perf_counter() - t
    return await _detect(state, model, options, image)


async def _detect_answer(
    state: ServerState, query: _DetectQuery, read: Callable[[], Awaitable[CheckedImage]]
) -> dict[str, Any]:
    """The ``/v1/detect`` answer: admission, the image (``read()``: checked, not decoded),
    decoding and detection, ``Detections.to_dict()`` plus ``model``, ``image_name`` and ``timing_ms``."""
    t0 = time.perf_counter()
    with state.engine.admit():
        state.require_ready()
        checked = await read()
        t1 = time.perf_counter()
        seconds: dict[str, float] = {}
        name, dets = await _detect_checked(state, query.model, query.options, checked, seconds)
        t3 = time.perf_counter()
    body = _detections_json(dets)
    decode = seconds.get("decode", 0.0)
    body.update(
        model=name,
        image_name=checked.name,
        timing_ms={
            "read": _ms(t1 - t0),
            "decode": _ms(decode),
            "inference": _ms(t3 - t1 - decode),
            "total": _ms(t3 - t0),
        },
    )
    return body


def _json_response(body: Any, status_code: int = 200) -> Response:
    """``body`` as JSON, encoded like ``JSONResponse`` (UTF-8, compact, no NaN)."""
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), status_code=status_code, media_type="application/json")


class _QuickRoute(APIRoute):
    """A route whose requests without a query string skip FastAPI's parameter resolution.

    The detection routes declare a dozen optional query parameters (documented in the OpenAPI
    schema and validated as usual whenever a request sends any); resolving them one by one costs
    FastAPI a few tenths of a millisecond per request even when none is sent. A request with an
    empty query string calls the endpoint directly with ``quick_kwargs`` (what resolution would
    produce: every default).
    """

    quick_kwargs: ClassVar[dict[str, Any]] = {}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        endpoint = self.endpoint
        defaults = dict(self.quick_kwargs)

        async def handler(request: Request) -> Response:
            if request.scope.get("query_string"):
                return await full(request)
            response: Response = await endpoint(request=request, **defaults)
            return response

        return handler


def _quick_route(defaults: dict[str, Any]) -> type[APIRoute]:
    return type("QuickRoute", (_QuickRoute,), {"quick_kwargs": defaults})


def _detections_json(dets: Any, *, drop_heatmap: bool = False) -> dict[str, Any]:
    if drop_heatmap and "heatmap" in dets.data:
        data = {k: v for k, v in dets.data.items() if k != "heatmap"}
        dets = type(dets)(
            xyxy=dets.xyxy,
            confidence=dets.confidence,
            class_id=dets.class_id,
            data=data,
            names=dets.names,
            image_size_wh=dets.image_size_wh,
        )
    out: dict[str, Any] = dets.to_dict()
    return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _model_info(name: str, detector: Any) -> dict[str, Any]:
    from detectkit.viz.palette import class_color

    w = detector.weights
    entry = dict(w.entry) if w.entry else {}
    entry.pop("quality", None)
    return {
        "name": name,
        "kind": "detector",
        "source": w.source,
        "manifest_name": w.name,
        "task": detector.task,
        "backend": detector.backend,
        "imgsz": detector.imgsz,
        "conf": detector.conf,
        "iou": detector.iou,
        "names": {str(k): v for k, v in sorted(detector.names.items())},
        "colors": {str(k): _hex(class_color(k, channels="rgb")) for k in sorted(detector.names)},
        "manifest": entry,
    }


def _classifier_info(classifier: Any) -> dict[str, Any] | None:
    if classifier is None:
        return None
    return {
        "kind": "classifier",
        "source": classifier.source,
        "architecture": classifier.architecture,
        "framework": classifier.framework,
        "num_classes": classifier.num_classes,
    }


# ------------------------------------------------------------------------------ the app
def _report_load_error(state: ServerState, on_load_error: Callable[[str], None] | None) -> None:
    """After the models loaded: a failure goes to ``on_load_error``, or else to stderr (a server
    that cannot answer must say why where its operator looks)."""
    if state.load_error is None:
        return
    if on_load_error is not None:
        on_load_error(state.load_error)
    else:
        print(f"detectkit serve: error: the models failed to load: {state.load_error}", file=sys.stderr, flush=True)


def create_app(
    config: ServeConfig | None = None,
    *,
    detectors: Mapping[str, Any] | None = None,
    classifier: Any = None,
    wait_for_models: bool = False,
    on_load_error: Callable[[str], None] | None = None,
) -> FastAPI:
    """The FastAPI application serving ``config``'s models.

    Args:
        config: settings (defaults: the shipped demo detector and ImageNet classifier).
        detectors: already-loaded detectors by name, used instead of loading ``config.models``
            (tests and embedding; their names replace ``config.models``).
        classifier: an already-loaded classifier.
        wait_for_models: finish loading before the app starts serving (uvicorn worker processes
            do, so a worker takes connections only once it can answer them); by default the app
            serves at once, ``/health`` answers and ``/ready`` says 503 until the models are in.
        on_load_error: called with the error text when the models fail to load (from the
            inference thread); ``detectkit serve`` stops the server with it. Without it the
            error is printed on stderr. Either way ``/ready`` answers 503 with it.

    Models load on the inference thread when the app starts (``/ready`` answers 503 until then).

    Raises:
        MissingDependencyError: FastAPI is not installed (``pip install 'detectkit[serve]'``).
    """
    config = config or ServeConfig()
    if detectors:
        from dataclasses import replace

        config = replace(config, models=tuple(detectors))
    engine = InferenceEngine(
        max_queue=config.max_queue,
        batch_window_ms=config.batch_window_ms,
        max_batch=config.max_batch,
        lanes=config.lanes,
    )
    state = ServerState(config=config, engine=engine, detectors=dict(detectors or {}), classifier=classifier)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loading = engine.submit_call(state.load)
        loading.add_done_callback(lambda _f: _report_load_error(state, on_load_error))
        if wait_for_models:
            await asyncio.wrap_future(loading)
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="detectkit",
        version=__version__,
        description="Object detection and image classification over HTTP (detectkit serve).",
        lifespan=lifespan,
    )
    app.state.detectkit = state
    app.add_middleware(_Guard, state=state)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Content-Type"],
        )

    @app.exception_handler(RequestError)
    async def _request_error(_r: Request, exc: RequestError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(OverloadedError)
    async def _overloaded(_r: Request, exc: OverloadedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(InvalidInputError)
    async def _invalid(_r: Request, exc: InvalidInputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(_BodyTooLargeError)
    async def _too_big(_r: Request, exc: _BodyTooLargeError) -> Response:
        return _too_large(exc.limit)

    upload_doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"image_base64": {"type": "string"}, "path": {"type": "string"}},
                    }
                },
                "image/*": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
    batch_doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    }
                }
            },
        }
    }
    video_doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                }
            },
        }
    }

    conf_q = Query(None, ge=0.0, le=1.0, description="minimum score (default: the server's)")
    iou_q = Query(None, ge=0.0, le=1.0, description="NMS IoU threshold")
    imgsz_q = Query(None, ge=32, le=4096, description="network input size")
    classes_q = Query(None, description="comma-separated class ids or names to keep")
    model_q = Query(None, description="detector name (GET /v1/models); default: the first")
    slice_q = Query(
        None,
        alias="slice",
        description="sliced inference: detect in overlapping tiles of this size and merge "
        "(640, 640x480 = width x height, or auto = the model's input size); off when absent",
        examples=["640"],
    )
    overlap_q = Query(None, description="tile overlap: a ratio in [0, 1) such as 0.2 (default) or pixels such as 64")
    merge_q = Query(None, pattern="^(nmm|nms|wbf)$", description="merge of tile boxes: nmm (default), nms or wbf")
    match_q = Query(None, pattern="^(ios|iou)$", description="match metric of the merge (default: ios; wbf: iou)")
    match_threshold_q = Query(None, ge=0.0, le=1.0, description="merge boxes matching more than this (default 0.5)")
    merge_agnostic_q = Query(None, description="merge tile boxes across classes (default false)")
    full_image_q = Query(None, description="also detect in the whole image and merge it in (default true)")
    edge_aware_q = Query(None, description="stitch boxes cut by tile borders (default true; false: like sahi)")

    async def detect_query(
        model: str | None = model_q,
        conf: float | None = conf_q,
        iou: float | None = iou_q,
        imgsz: int | None = imgsz_q,
        classes: str | None = classes_q,
        slice_: str | None = slice_q,
        overlap: str | None = overlap_q,
        merge: str | None = merge_q,
        match: str | None = match_q,
        match_threshold: float | None = match_threshold_q,
        merge_agnostic: bool | None = merge_agnostic_q,
        full_image: bool | None = full_image_q,
        edge_aware: bool | None = edge_aware_q,
    ) -> _DetectQuery:
        """The query parameters shared by the detection routes."""
        slicing = _slice_config(
            _SliceQuery(slice_, overlap, merge, match, match_threshold, merge_agnostic, full_image, edge_aware)
        )
        return _DetectQuery(model, _Options(conf, iou, imgsz, classes, slicing))

    detect_q = Depends(detect_query)

    # -------------------------------------------------------------- pages and probes
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page_html(), headers={"Cache-Control": "no-cache"})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - state.started, 3)}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: 200 once every model is loaded, 503 before (or when loading failed)."""
        if state.ready.is_set():
            return JSONResponse({"ready": True, "models": sorted(state.detectors)})
        body = {"ready": False, "error": state.load_error}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The loaded detectors (manifest entry, classes, colours) and classifier."""
        state.require_ready()
        return {
            "default": config.models[0],
            "detectors": [_model_info(n, d) for n, d in state.detectors.items()],
            "classifier": _classifier_info(state.classifier),
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text: requests by route/status, latency histograms, queue, batches."""
        stats = engine.stats
        text = state.metrics.render(
            gauges={
                "detectkit_requests_in_progress": ("Requests admitted and not finished.", engine.admitted),
                "detectkit_queue_limit": ("Most requests admitted at once (--max-queue).", config.max_queue),
                "detectkit_models_ready": ("1 when every model is loaded.", 1.0 if state.ready.is_set() else 0.0),
                "detectkit_inference_busy_seconds": (
                    "Seconds the inference thread spent in models.",
                    stats.busy_seconds,
                ),
            },
            counters={
                "detectkit_inference_batches_total": (
                    "Forward passes by micro-batch size.",
                    "size",
                    {str(k): float(v) for k, v in stats.batch_sizes.items()},
                ),
                "detectkit_inference_images_total": (
                    "Images detected by inference lane.",
                    "lane",
                    {str(k): float(v) for k, v in stats.lane_images.items()},
                ),
            },
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -------------------------------------------------------------- detection
    quick = {"query": _DEFAULT_QUERY}  # what detect_query resolves to without a query string

    async def detect(
        request: Request,
        query: _DetectQuery = detect_q,
    ) -> Response:
        """Detect objects in one image -> ``Detections.to_dict()`` plus ``model`` and ``timing_ms``."""
        body = await _detect_answer(state, query, lambda: _one_image(request, state))
        return _json_response(body)

    app.router.add_api_route(
        "/v1/detect",
        detect,
        methods=["POST"],
        openapi_extra=upload_doc,
        response_model=None,
        route_class_override=_quick_route(quick),
    )

    @app.post("/v1/detect/batch", openapi_extra=batch_doc)
    async def detect_batch(
        request: Request,
        query: _DetectQuery = detect_q,
    ) -> JSONResponse:
        """Detect in several images (multipart ``files``, or JSON ``{"images": [...]}``).

        Each result is the ``/v1/detect`` answer of that image, or ``{"error": {...}}`` for an image
        that was refused; the others are still processed.
        """
        t0 = time.perf_counter()
        options = query.options
        with engine.admit():
            state.require_ready()
            items = await _many_images(request, state)

            async def one(item: CheckedImage | RequestError) -> dict[str, Any]:
                try:
                    if isinstance(item, RequestError):
                        raise item
                    image = await run_in_threadpool(decode_image, item)
                    name, dets = await _detect(state, query.model, options, image)
                except RequestError as exc:
                    return {"error": {"status": exc.status, "detail": str(exc)}}
                out = _detections_json(dets)
                out.update(model=name, image_name=item.name)
                return out

            results = await asyncio.gather(*(one(i) for i in items))
        return JSONResponse({"results": results, "timing_ms": {"total": _ms(time.perf_counter() - t0)}})

    @app.post("/v1/detect/video", openapi_extra=video_doc)
    async def detect_video(
        request: Request,
        query: _DetectQuery = detect_q,
        vid_stride: int = Query(1, ge=1, le=1000, description="keep every n-th frame"),
        max_frames: int | None = Query(None, ge=1, description="stop after this many frames"),
    ) -> StreamingResponse:
        """Detect in every (``vid_stride``-th) frame of an uploaded video; the answer streams as JSON
        lines (``application/x-ndjson``): one ``{"frame": ..., "timestamp_s": ..., "detections": ...}``
        per frame as it is processed, then ``{"summary": ...}``."""
        slot = engine.admit()
        slot.__enter__()
        handed_over = False
        try:
            state.require_ready()
            options = query.options
            name, detector = state.detector(query.model)
            _detector_variant(name, detector, options)  # bad options answer 422 before streaming
            if _content_kind(request) != "multipart":
                raise RequestError(415, "send the video as multipart/form-data in a file field named 'file'")
            form = await _form(request, max_files=1)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise RequestError(422, "the multipart body needs the video in a file field named 'file'")
            path = await run_in_threadpool(_save_video, upload, config)
            handed_over = True
        finally:
            if not handed_over:
                slot.__exit__(None, None, None)
        return StreamingResponse(
            _video_lines(state, path, name, options, vid_stride, max_frames, slot),
            media_type="application/x-ndjson",
        )

    # -------------------------------------------------------------- classification
    @app.post("/v1/classify", openapi_extra=upload_doc)
    async def classify(request: Request, top_k: int = Query(5, ge=1, le=100)) -> JSONResponse:
        """Whole-image classification -> the ``top_k`` labels with their probabilities."""
        t0 = time.perf_counter()
        with engine.admit():
            clf = _classifier(state)
            checked = await _one_image(request, state)
            image = await run_in_threadpool(decode_image, checked)
            t1 = time.perf_counter()
            result = await asyncio.wrap_future(
                engine.submit_call(_locked(state, lambda: clf.classify(image, top_k=top_k)))
            )
        body = result.to_dict()
        body.update(
            image_name=checked.name,
            timing_ms={"inference": _ms(time.perf_counter() - t1), "total": _ms(time.perf_counter() - t0)},
        )
        return JSONResponse(body)

    @app.post("/v1/localize", openapi_extra=upload_doc)
    async def localize(
        request: Request,
        top_k: int = Query(1, ge=1, le=20, description="classes localised (the classifier's top ones)"),
        threshold: float = Query(0.4, gt=0.0, le=1.0, description="CAM threshold, fraction of the peak"),
    ) -> JSONResponse:
        """Class-activation-map localisation: one box per top class (``Detections.to_dict()`` form,
        without the heatmaps)."""
        t0 = time.perf_counter()
        with engine.admit():
            clf = _classifier(state)
            checked = await _one_image(request, state)
            image = await run_in_threadpool(decode_image, checked)
            dets = await asyncio.wrap_future(
                engine.submit_call(_locked(state, lambda: clf.localize(image, top_k=top_k, threshold=threshold)))
            )
        body = _detections_json(dets, drop_heatmap=True)
        body.update(image_name=checked.name, timing_ms={"total": _ms(time.perf_counter() - t0)})
        return JSONResponse(body)

    # -------------------------------------------------------------- drawing
    @app.post(
        "/v1/annotate",
        openapi_extra=upload_doc,
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    )
    async def annotate(
        request: Request,
        query: _DetectQuery = detect_q,
        format: str = Query("jpeg", pattern="^(jpeg|jpg|png)$", description="jpeg or png"),
    ) -> Response:
        """Detect, then draw with :func:`detectkit.viz.annotate` -> the image (JPEG or PNG)."""
        with engine.admit():
            state.require_ready()
            checked = await _one_image(request, state)
            image = await run_in_threadpool(decode_image, checked)
            name, dets = await _detect(state, query.model, query.options, image)
            ext = ".png" if format == "png" else ".jpg"
            payload = await run_in_threadpool(_draw, image, dets, ext)
        media = "image/png" if ext == ".png" else "image/jpeg"
        return Response(
            payload, media_type=media, headers={"X-Detectkit-Model": name, "X-Detectkit-Boxes": str(len(dets))}
        )

    return app


def _classifier(state: ServerState) -> Any:
    state.require_ready()
    if state.classifier is None:
        raise RequestError(404, "no classifier is loaded on this server (it was started with --classifier '')")
    return state.classifier


def _locked(state: ServerState, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` under the classifier's lock: lanes share the one classifier (Grad-CAM hooks keep
    per-call state), so its calls never overlap."""

    def run() -> Any:
        with state.classifier_lock:
            return fn()

    return run


def _draw(image: np.ndarray, dets: Any, ext: str) -> bytes:
    import cv2

    from detectkit.viz import annotate

    ok, buf = cv2.imencode(ext, annotate(image, dets))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RequestError(500, "could not encode the annotated image")
    return bytes(buf.tobytes())


def _save_video(upload: UploadFile, config: ServeConfig) -> Path:
    """Copy the uploaded video to a temporary file (video decoders need a path), size-checked."""
    from detectkit.image import VIDEO_EXTENSIONS

    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        suffix = ".mp4"
    fd, name = tempfile.mkstemp(prefix="detectkit-video-", suffix=suffix)
    path = Path(name)
    total = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.file.read(1 << 20):
                total += len(chunk)
                if total > config.max_video_bytes:
                    raise RequestError(
                        413, f"the video is larger than {config.max_video_bytes} bytes (--max-video-bytes)"
                    )
                out.write(chunk)
        if total == 0:
            raise RequestError(422, f"{upload.filename or 'file'} is empty (0 bytes), expected a video")
        _check_video(path, upload.filename or "file", config.max_pixels)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _check_video(path: Path, name: str, max_pixels: int) -> None:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise RequestError(415, f"{name} is not a video OpenCV can read")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        raise RequestError(415, f"{name} is not a video OpenCV can read")
    if w * h > max_pixels:
        raise RequestError(413, f"{name} frames are {w} x {h}, more than --max-pixels {max_pixels}")


async def _video_lines(
    state: ServerState,
    path: Path,
    model: str,
    options: _Options,
    vid_stride: int,
    max_frames: int | None,
    slot: contextlib.AbstractContextManager[None],
) -> AsyncIterator[bytes]:
    from detectkit.image import iter_images

    frames = iter_images(path, vid_stride=vid_stride)
    done = errors = boxes = 0
    t0 = time.perf_counter()
    try:
        while max_frames is None or done < max_frames:
            frame = await run_in_threadpool(next, frames, None)
            if frame is None:
                break
            if frame.error is not None:
                errors += 1
                yield (json.dumps({"frame": frame.info.frame_index, "error": str(frame.error)}) + "\n").encode()
                continue
            if frame.image is None:  # pragma: no cover - a Frame has an image or an error
                continue
            _, dets = await _detect(state, model, options, frame.image)
            done += 1
            boxes += len(dets)
            line = {
                "frame": frame.info.frame_index,
                "timestamp_s": frame.info.timestamp,
                "detections": _detections_json(dets),
            }
            yield (json.dumps(line) + "\n").encode()
        summary = {
            "frames": done,
            "errors": errors,
            "boxes": boxes,
            "model": model,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        yield (json.dumps({"summary": summary}) + "\n").encode()
    finally:
        with contextlib.suppress(Exception):
            frames.close()  # type: ignore[attr-defined]
        path.unlink(missing_ok=True)
        slot.__exit__(None, None, None)


_PAGE: dict[str, str] = {}


def _page_html() -> str:
    if "html" not in _PAGE:
        _PAGE["html"] = importlib.resources.files("detectkit.serve").joinpath("static/index.html").read_text("utf-8")
    return _PAGE["html"]
