"""The server's settings: one frozen dataclass the CLI and :func:`~detectkit.serve.create_app` share.

>>> config = ServeConfig(max_bytes=1_000_000)
>>> config.max_bytes, config.path_root is None, config.cors_origins
(1000000, True, ())
>>> ServeConfig(max_queue=0)
Traceback (most recent call last):
...
detectkit.errors.InvalidInputError: max_queue must be a positive int, got 0
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from detectkit._checks import check_choice, check_fraction
from detectkit.errors import InvalidInputError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "ServeConfig", "app_from_environ", "from_environ", "to_environ"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # one uploaded image
DEFAULT_MAX_PIXELS = 50_000_000  # width x height of one image (a 8000 x 6000 photo is 48 MP)
DEFAULT_MAX_VIDEO_BYTES = 200 * 1024 * 1024


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class ServeConfig:
    """What the server loads and the limits it enforces.

    Args:
        models: detector names or paths (manifest names, ``.pt``/``.onnx``/``.yaml``); the first is
            the default, the others are chosen per request with ``?model=``.
        classifier: classifier name or path for ``/v1/classify`` and ``/v1/localize``;
            ``None`` loads the shipped ImageNet MobileNetV2, ``""`` disables both endpoints.
        backend: detector backend (``"torch"``, ``"onnx"``, ``"openvino"``, ``"auto"``).
        device: torch device.
        conf, iou: default thresholds (a request may override them).
        max_bytes: largest accepted image upload in bytes (413 beyond; checked on the
            ``Content-Length`` header and while the body streams in, before it is all read).
        max_pixels: largest accepted ``width * height``, read from the file header before any
            decoding (413 beyond: decompression bombs are refused without allocating them).
        max_video_bytes: largest accepted video upload (``/v1/detect/video``).
        max_batch_images: most images in one ``/v1/detect/batch`` request.
        max_queue: most requests admitted at once (decoding, waiting or running); the next
            one gets 503 with ``Retry-After`` instead of queueing without bound.
        batch_window_ms: micro-batching: wait up to this long for concurrent requests to the
            same model with the same options and image size, and run them in one forward pass.
            0 (default) runs every request alone. Torch runs a micro-batch as one forward pass,
            OpenVINO as concurrent inference requests (throughput mode); the onnx backend
            ignores the window (a batched onnxruntime run costs what its images cost alone).
        max_batch: most images in one micro-batch.
        lanes: inference lanes: threads that each own a copy of the detectors and run one
            request (or micro-batch) at a time; with more than one, each copy gets
            ``cpu_count // lanes`` intra-op threads (see :mod:`detectkit.serve.engine`).
        path_root: a folder requests may name images under (JSON ``{"path": ...}``); ``None``
            (default) refuses every path. Paths are resolved and must stay inside it.
        api_key: when set, every endpoint except ``/health`` and the page requires the header
            ``X-API-Key`` with this value.
        cors_origins: origins allowed by CORS; empty (default) adds no CORS headers at all.
        torch_threads: torch intra-op threads of each lane. 0 (default): the process's count,
            i.e. torch's default (one per core, or ``OMP_NUM_THREADS``) unless the embedding
            program called ``torch.set_num_threads``; with several lanes ``cpu_count // lanes``.
            N > 0 runs every lane's torch models on N threads. Answers equal an in-process
            ``Detector.detect`` run at the same thread count bit for bit (other counts differ in
            float rounding only, measured up to 6e-5 px). Default from
            ``$DETECTKIT_SERVE_TORCH_THREADS``.
    """

    models: tuple[str, ...] = ("demo-shapes",)
    classifier: str | None = None
    backend: str = "torch"
    device: str = "cpu"
    conf: float = 0.25
    iou: float = 0.7
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    max_batch_images: int = 16
    max_queue: int = 64
    batch_window_ms: float = 0.0
    max_batch: int = 8
    lanes: int = 1
    path_root: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    torch_threads: int = field(default_factory=lambda: _env_int("DETECTKIT_SERVE_TORCH_THREADS"))

    def __post_init__(self) -> None:
        models = (self.models,) if isinstance(self.models, (str, os.PathLike)) else tuple(self.models)
        if not models or not all(isinstance(m, (str, os.PathLike)) and os.fspath(m) for m in models):
            raise InvalidInputError(f"models must be one or more model names or paths, got {self.models!r}")
        object.__setattr__(self, "models", tuple(os.fspath(m) for m in models))
        check_fraction(self.conf, "conf")
        check_fraction(self.iou, "iou")
        check_choice(self.backend, "backend", ("torch", "onnx", "openvino", "auto"))
        for name in (
            "max_bytes",
            "max_pixels",
            "max_video_bytes",
            "max_batch_images",
            "max_queue",
            "max_batch",
            "lanes",
        ):
            _positive_int(getattr(self, name), name)
        if isinstance(self.torch_threads, bool) or not isinstance(self.torch_threads, int) or self.torch_threads < 0:
            raise InvalidInputError(
                f"torch_threads must be 0 (as in-process) or a positive integer, got {self.torch_threads!r}"
            )
        window = self.batch_window_ms
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 1000:
            raise InvalidInputError(f"batch_window_ms must be a number in [0, 1000], got {window!r}")
        if self.path_root is not None:
            root = Path(self.path_root)
            if not root.is_dir():
                raise InvalidInputError(f"path_root must be an existing folder, got {os.fspath(root)!r}")
            object.__setattr__(self, "path_root", root.resolve())
        if self.api_key is not None and not self.api_key:
            raise InvalidInputError("api_key must be a non-empty string or None")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))


def _env_int(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else 0


_ENV = "DETECTKIT_SERVE_CONFIG"


def to_environ(config: ServeConfig) -> dict[str, str]:
    """The settings as an environment variable, for uvicorn's worker processes.

    >>> env = to_environ(ServeConfig(max_queue=3))
    >>> from_environ(env).max_queue
    3
    """
    import dataclasses
    import json

    values = dataclasses.asdict(config)
    values["path_root"] = None if config.path_root is None else os.fspath(config.path_root)
    return {_ENV: json.dumps(values)}


def from_environ(environ: dict[str, str] | None = None) -> ServeConfig:
    """Inverse of :func:`to_environ` (reads ``os.environ`` by default)."""
    import json

    values = json.loads((os.environ if environ is None else environ)[_ENV])
    values["models"] = tuple(values["models"])
    values["cors_origins"] = tuple(values["cors_origins"])
    if values["path_root"] is not None:
        values["path_root"] = Path(values["path_root"])
    return ServeConfig(**values)


def app_from_environ() -> object:
    """uvicorn's app factory in each worker process (``--workers N``)."""
    from detectkit.serve import create_app

    return create_app(from_environ(), wait_for_models=True)
