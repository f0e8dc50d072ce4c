"""The worker side of a batch job, the same for every engine: load the model once, run shards.

A worker is built from the job's ``spec`` (a plain dict, cheap to ship to another process or
machine) and turns a :class:`~detectkit.batch._job.Shard` into a
:class:`~detectkit.batch._job.ShardResult`: the shard file's text, one line per item. Items
are decoded in order and sent to the model in fixed chunks of ``spec["batch_size"]``
counted over the shard's decodable images, so results never depend on which worker, engine
or worker count ran the shard. Torch runs ``spec["threads"]`` intra-op threads (1 by
default: one worker per core). An OpenVINO detector runs every input shape on its own static
model from the shape's first image (so results do not depend on what the worker ran before).
Its compiled models go to a cache folder shared by the job's workers and kept for the next job
(:func:`~detectkit.models.openvino_runtime.default_cache_folder`, or
``$DETECTKIT_OPENVINO_CACHE_DIR``; ``off`` disables it): one worker compiles a shape, the others
and later jobs import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from detectkit.batch._job import Shard, ShardResult
from detectkit.batch.sources import is_uri
from detectkit.errors import DetectkitError, InvalidInputError, MissingDependencyError, ModelLoadError
from detectkit.models.runtime_threads import set_torch_threads, threads_while

__all__ = ["ShardRunner", "claim_cores", "load_location"]

# The lock file of the core slot this process holds (kept open for the process's lifetime).
_SLOT: IO[bytes] | None = None
# When this module was imported (a worker process: about when its interpreter was up).
_IMPORTED = time.time()


def claim_cores(threads: int) -> tuple[int, ...] | None:
    """Bind this process to a free slot of ``threads`` cores; returns the cores, or None.

    The cores this process may use are cut into ``len(cores) // threads`` slots; the first
    slot whose lock file (in the temp folder, per user) no other live process holds is taken
    and kept until the process ends. Nothing is pinned when there is one slot only, when all
    slots are taken (more workers than cores: the OS schedules them), off Linux, or with
    ``DETECTKIT_PIN_CORES=0`` (e.g. on a machine busy with other work, where a pinned worker
    cannot move to an idle core).

    >>> claim_cores(10_000) is None  # more threads than cores: one slot, nothing pinned
    True
    """
    global _SLOT
    if _SLOT is not None or not hasattr(os, "sched_setaffinity") or os.environ.get("DETECTKIT_PIN_CORES") == "0":
        return None
    import fcntl

    cores = sorted(os.sched_getaffinity(0))
    slots = len(cores) // max(1, threads)
    if slots <= 1:
        return None
    folder = Path(tempfile.gettempdir()) / f"detectkit-cores-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    tag = "-".join(map(str, cores))
    for slot in range(slots):
        fh = (folder / f"cpus{tag}-threads{threads}-slot{slot}.lock").open("ab")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        mine = tuple(cores[slot * threads : (slot + 1) * threads])
        os.sched_setaffinity(0, mine)
        _SLOT = fh
        return mine
    return None


def load_location(location: str, *, timeout: float = 60.0) -> Any:
    """Decode one image from a local path or a URI.

    ``file://`` URIs are read from disk, ``http(s)://`` with the standard library (``timeout``
    seconds), any other scheme through fsspec (e.g. ``s3://`` with ``s3fs`` installed).
    """
    from detectkit.image import load_image

    if not is_uri(location):
        return load_image(location)
    from urllib.parse import unquote, urlparse

    scheme = location.split("://", 1)[0].lower()
    if scheme == "file":
        parsed = urlparse(location)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInputError(f"{location}: file:// URIs must name a local file (file:///path), not a host")
        return load_image(unquote(parsed.path), name=location)
    try:
        if scheme in ("http", "https"):
            import urllib.request

            with urllib.request.urlopen(location, timeout=timeout) as response:
                data = response.read()
        else:
            try:
                import fsspec
            except ImportError:  # pragma: no cover - depends on the environment
                raise MissingDependencyError(
                    "fsspec", extra="ray", purpose=f"reading URIs such as {location}"
                ) from None
            with fsspec.open(location, "rb") as fh:
                data = fh.read()
    except DetectkitError:
        raise
    except Exception as exc:  # any transport error is this item's failure
        raise InvalidInputError(f"{location} could not be read: {type(exc).__name__}: {exc}") from None
    return load_image(bytes(data), name=location)


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, DetectkitError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _failure(index: int, source: str, message: str) -> str:
    return json.dumps({"error": message, "index": index, "source": source}, sort_keys=True)


class ShardRunner:
    """Loads the model described by ``spec`` once and runs shards with it.

    Args:
        spec: ``{"task": "detect"|"classify", "model": ..., "options": {...},
            "batch_size": int, "threads": int}``.
        pin: claim a slot of ``threads`` cores and bind to it (:func:`claim_cores`); for
            worker processes, not for a caller's own process.
    """

    def __init__(self, spec: Mapping[str, Any], *, pin: bool = False) -> None:
        started = time.time()
        self.spec = dict(spec)
        self.task = str(spec["task"])
        self.batch_size = int(spec.get("batch_size", 8))
        self.threads = threads = int(spec.get("threads", 1))
        self.cores = claim_cores(threads) if pin else None
        os.environ.setdefault("YOLO_VERBOSE", "false")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        options = dict(spec.get("options", {}))
        if self.task != "detect" or options.get("backend", "torch") not in ("onnx", "openvino"):
            import torch  # a torch model: its threads are set before it loads

            torch.set_num_threads(threads)
            if self.task == "detect":
                from detectkit.models.ultralytics_nms import use_torchvision_kernel

                # Ultralytics' NMS on torchvision's kernel without importing the torchvision package
                # (which imports torch._dynamo: ~1.3 s of each worker's start); same bits
                use_torchvision_kernel()
        # onnxruntime/OpenVINO detectors never import torch (1.5 s of each worker's start-up)
        try:
            import cv2

            cv2.setNumThreads(threads)
        except ImportError:  # pragma: no cover - opencv is a dependency
            pass
        self.model: Any
        static_only: Any = contextlib.nullcontext()
        cache: Any = contextlib.nullcontext()
        if self.task == "detect" and options.get("backend") == "openvino":
            from detectkit.models.openvino_runtime import compiled_cache, default_cache_folder, static_shapes_only

            # every input shape on a static model of its own from its first image (see below);
            # the dynamic-shape model is then never run, and not compiled at load
            static_only = static_shapes_only()
            # compiled models shared by the job's workers and kept for the next job (unless
            # $DETECTKIT_OPENVINO_CACHE_DIR names another folder or is "off")
            cache = compiled_cache(default_cache_folder())
        with threads_while(threads), static_only, cache:  # onnxruntime / OpenVINO sessions
            if self.task == "detect":
                from detectkit.models.detector import Detector

                self.model = Detector(spec["model"], **options)
                self.names: dict[int, str] = dict(self.model.names)
            elif self.task == "classify":
                from detectkit.models.classifier import Classifier

                self.top_k = int(options.pop("top_k", 5))
                self.model = Classifier(spec["model"], **options)
                self.names = dict(getattr(self.model, "names", {}) or {})
            else:
                raise InvalidInputError(f"task must be 'detect' or 'classify', got {self.task!r}")
        session = getattr(getattr(self.model, "_onnx", None), "session", None)
        if session is not None and hasattr(session, "compile_after"):
            # OpenVINO: every input shape runs on a static model of its own from its first image.
            # The dynamic model (which ran a shape's first image) gives other BF16 scores, so which
            # images ran on it depended on what else a worker had seen: 1 and 2 workers wrote
            # different files. Now the output depends on the image alone, and no first image pays
            # for the slow dynamic model (~100 ms each).
            session.compile_after = 1
        if getattr(self.model, "backend", None) == "torch" and hasattr(self.model, "detect_batch"):
            # Ultralytics sets its predictor up (and resets torch's threads) on the first call:
            # do that now, so every shard's first chunk runs with the same thread count.
            import numpy as np

            self.model.detect_batch([np.zeros((64, 64, 3), dtype=np.uint8)])
        self._torch_threads()
        #: the OpenVINO session whose static models are made ready per shard (:meth:`_prepare`)
        self._ov_session = session if session is not None and hasattr(session, "prepare") else None
        self._input_shapes: dict[tuple[int, int], tuple[int, ...]] = {}  # image (w, h) -> model input
        self._figures = {"pid": float(os.getpid()), "imported": _IMPORTED, "started": started, "ready": time.time()}

    def figures(self) -> dict[str, float]:
        """This worker's figures: ``pid``; wall-clock (``time.time()``) ``imported`` (this module,
        about when the process was up), ``started`` / ``ready`` (the model load); and for an
        OpenVINO model with a compiled-model cache, ``compiled`` / ``imported_models`` so far."""
        out = dict(self._figures)
        cache = getattr(getattr(getattr(self.model, "_onnx", None), "session", None), "cache", None)
        if cache is not None:
            out["compiled"] = float(cache.compiled)
            out["imported_models"] = float(cache.imported)
        return out

    def _torch_threads(self) -> None:
        """Set torch's threads to the job's (when torch is loaded): a model call may reset them."""
        set_torch_threads(self.threads)

    def _infer(self, images: list[Any]) -> list[Any]:
        self._torch_threads()
        if self.task == "detect":
            return list(self.model.detect_batch(images))
        return list(self.model.classify_many(images, top_k=self.top_k, batch_size=len(images)))

    def _record(self, index: int, source: str, image: Any, result: Any) -> str:
        record: dict[str, Any] = {"index": index, "source": source, "image_size_wh": [image.shape[1], image.shape[0]]}
        record["detections" if self.task == "detect" else "classification"] = result.to_dict()
        return json.dumps(record)

    def _prepare(self, shard: Shard) -> None:
        """OpenVINO: have the shard's input shapes compiled (or imported) before its images run.

        The shapes come from the images' headers (:func:`~detectkit.image.image_size_wh`, local
        files only) letterboxed as the detector does (its runner's ``input_hw``, arithmetic
        only); a shape another worker is compiling right
        now is left to it (:meth:`~detectkit.models.openvino_runtime.OpenVinoSession.prepare`),
        so workers starting together compile each shape once between them. An image whose
        header cannot be read is skipped here (it fails, or not, when the shard runs it)."""
        session, runner = self._ov_session, getattr(self.model, "_onnx", None)
        if session is None or runner is None or session.cache is None or session.compile_after != 1:
            return
        from detectkit.image import image_size_wh

        shapes: list[tuple[int, ...]] = []
        for source in shard.sources:
            if is_uri(source):
                continue
            try:
                wh = image_size_wh(source)
            except Exception:  # the shard reports it
                continue
            shape = self._input_shapes.get(wh)
            if shape is None:
                shape = self._input_shapes[wh] = (1, *runner.input_hw(wh, self.model.imgsz), 3)
            if shape not in shapes:
                shapes.append(shape)
        session.prepare(shapes)

    def run(self, shard: Shard) -> ShardResult:
        """Process one shard; a bad item becomes a failure line, never an exception."""
        self._prepare(shard)
        lines: dict[int, str] = {}
        pending: list[tuple[int, str, Any]] = []

        def flush() -> None:
            if not pending:
                return
            try:
                outputs = self._infer([im for _, _, im in pending])
            except ModelLoadError:  # the model itself (e.g. a shape's compile), not an image: the job's error
                raise
            except Exception:  # isolate the bad image: run the chunk one by one
                outputs = []
                for i, src, im in pending:
                    try:
                        outputs.append(self._infer([im])[0])
                    except Exception as exc:
                        outputs.append(None)
                        lines[i] = _failure(i, src, _error_message(exc))
            for (i, src, im), out in zip(pending, outputs, strict=True):
                if out is not None:
                    lines[i] = self._record(i, src, im, out)
            pending.clear()

        for offset, source in enumerate(shard.sources):
            index = shard.position(offset)
            try:
                image = load_location(source)
            except Exception as exc:  # a bad file is this item's failure
                lines[index] = _failure(index, source, _error_message(exc))
                continue
            pending.append((index, source, image))
            if len(pending) >= self.batch_size:
                flush()
        flush()
        ordered = [lines[shard.position(k)] for k in range(len(shard.sources))]
        failed = sum(1 for line in ordered if line.startswith('{"error": '))
        text = "".join(line + "\n" for line in ordered)
        return ShardResult(shard.index, text, len(ordered) - failed, failed, self.names, self.figures())
