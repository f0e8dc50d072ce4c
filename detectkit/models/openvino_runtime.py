"""OpenVINO runtime behind the small part of onnxruntime's ``InferenceSession`` API we use.

:class:`OpenVinoSession` reads an ``.onnx`` file or an OpenVINO IR (``.xml`` + ``.bin``),
compiles it for the CPU and answers ``get_inputs()``, ``get_outputs()``,
``get_modelmeta().custom_metadata_map`` and ``run(None, {name: array})`` like an onnxruntime
session, so the detector's own pre- and post-processing (letterbox, decoding, NMS) and the
exported-classifier wrapper run unchanged on either runtime.

Model metadata (class names, task, stride, imgsz, ...) is read from the ONNX file's
``metadata_props``, or for IR files from the ``rt_info`` entry ``detectkit`` (a JSON object) that
:func:`save_ir` writes (plus Ultralytics' ``metadata.yaml`` beside the file, when present).

Speed (``benchmarks/bench_export.py``): the detector feeds letterboxed uint8 BGR images to
:meth:`OpenVinoSession.run_bgr`, whose compiled model does the float conversion, BGR -> RGB,
``/ 255`` and the NCHW layout itself (OpenVINO's ``PrePostProcessor``); an input shape that
recurs gets a model compiled for that static shape (much faster than the dynamic-shape model for
INT8 files, somewhat for FP32). Outputs equal :meth:`~OpenVinoSession.run` on ``normalize(image)``
(to float rounding in f32; to BF16 noise in BF16).

Precision: OpenVINO runs "FP32" models in BF16 on CPUs with AMX / AVX-512 BF16 (about 2x faster
than f32 there, with mAP50-95 within a few tenths of a point of torch on the demo detector);
``$DETECTKIT_OPENVINO_PRECISION=f32`` (or ``precision="f32"``) forces f32, which gives torch's
boxes. Threads: ``$DETECTKIT_ORT_THREADS`` when set (shared with the onnxruntime backend), else
OpenVINO's latency default (one stream over the physical cores).

Compiled-model cache (:class:`CompiledModelCache`): a session given a cache folder
(``$DETECTKIT_OPENVINO_CACHE_DIR``, or :func:`compiled_cache` around its creation, as batch
workers do by default) keeps every model it compiles there as an exported blob and imports it
the next time instead of compiling (demo detector, one 416 px shape: compile ~0.28 s, import
~0.08 s), with the model's names and metadata beside it so a warm session does not even read
the model file. Blobs are keyed by the model file's bytes, the input kind and shape, the
compile config, the OpenVINO version and the CPU; written atomically, checksummed, and
compiled by one process at a time (a lock file per blob: a second worker waits and imports).
An imported blob computes exactly what a fresh compile does
(``tests/models/test_openvino_cache.py`` compares the outputs bit for bit).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from detectkit._atomic import atomic_file
from detectkit.errors import MissingDependencyError, ModelLoadError
from detectkit.models.runtime_threads import runtime_threads

__all__ = [
    "CACHE_ENV",
    "CACHE_MAX_ENV",
    "PRECISIONS",
    "RT_INFO_SECTION",
    "CompiledModelCache",
    "OpenVinoSession",
    "bgr_input",
    "cache_folder",
    "cache_max_bytes",
    "compile_config",
    "compiled_cache",
    "default_cache_folder",
    "has_openvino",
    "import_openvino",
    "read_metadata",
    "read_onnx_metadata",
    "save_ir",
    "static_shapes_only",
]

#: The ``rt_info`` section of IR files holding detectkit's string metadata.
RT_INFO_SECTION = "detectkit"


def has_openvino() -> bool:
    """True when the ``openvino`` package is importable (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> Any:
    """The ``openvino`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError("openvino", extra="openvino", purpose="backend='openvino'") from None
    return openvino


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """``metadata_props`` of an ONNX file as a dict (empty when the file has none)."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", extra="onnx", purpose="reading ONNX metadata") from None
    try:
        proto = onnx.load(os.fspath(path), load_external_data=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot read ONNX model {path}: {type(exc).__name__}: {exc}") from None
    return {str(p.key): str(p.value) for p in proto.metadata_props}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """String metadata of an ``.onnx`` file or an IR ``.xml`` (read without compiling the model)."""
    file = Path(path)
    if file.suffix.lower() == ".onnx":
        return read_onnx_metadata(file)
    ov = import_openvino()
    try:
        model = ov.Core().read_model(str(file))
    except Exception as exc:
        raise ModelLoadError(f"cannot load {file} with OpenVINO: {type(exc).__name__}: {exc}") from None
    return _ir_metadata(model, file)


def _ir_metadata(model: Any, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if model.has_rt_info([RT_INFO_SECTION]):
        raw = model.get_rt_info([RT_INFO_SECTION])
        doc = json.loads(raw.astype(str) if hasattr(raw, "astype") else str(raw))
        out = {str(k): str(v) for k, v in dict(doc).items()}
    side = path.parent / "metadata.yaml"  # Ultralytics' OpenVINO export folder
    if not out and side.is_file():
        import yaml

        doc = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
        out = {str(k): str(v) for k, v in dict(doc).items()}
    return out


def save_ir(model: Any, path: str | os.PathLike[str], metadata: Mapping[str, str]) -> Path:
    """Write an OpenVINO model as IR (``.xml`` + ``.bin``) with ``metadata`` in its ``rt_info``.

    Weights are kept in FP32 (no FP16 compression), so an FP32 export computes what the
    source model computes. Returns the ``.xml`` path.
    """
    ov = import_openvino()
    target = Path(path).with_suffix(".xml")
    model.set_rt_info(json.dumps({str(k): str(v) for k, v in metadata.items()}), [RT_INFO_SECTION])
    ov.save_model(model, str(target), compress_to_fp16=False)
    return target


#: Values of ``$DETECTKIT_OPENVINO_PRECISION`` / ``precision=``: OpenVINO's CPU default (BF16 on
#: CPUs with AMX/AVX-512 BF16, else f32), or forced ``"f32"`` / ``"bf16"``.
PRECISIONS = ("default", "f32", "bf16")


def _precision(value: str | None) -> str:
    from detectkit._checks import check_choice

    chosen = value if value is not None else os.environ.get("DETECTKIT_OPENVINO_PRECISION", "").strip() or "default"
    return str(check_choice(chosen.lower(), "precision (DETECTKIT_OPENVINO_PRECISION)", PRECISIONS))


def compile_config(hint: str = "LATENCY", precision: str | None = None) -> dict[str, Any]:
    """The CPU ``compile_model`` config: ``hint`` (``"LATENCY"`` / ``"THROUGHPUT"``), the thread
    count of ``$DETECTKIT_ORT_THREADS`` when set, and the precision (see :data:`PRECISIONS`).

    >>> compile_config("THROUGHPUT", "f32")["INFERENCE_PRECISION_HINT"]
    'f32'
    """
    config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
    threads = runtime_threads()
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    chosen = _precision(precision)
    if chosen != "default":
        config["INFERENCE_PRECISION_HINT"] = chosen
    return config


def bgr_input(model: Any) -> Any:
    """``model`` (one float RGB NCHW input scaled to [0, 1]) taking uint8 BGR NHWC images instead:
    the conversion, BGR -> RGB, ``/ 255`` and the layout change run inside the model
    (OpenVINO's ``PrePostProcessor``), so no float copy of an image is made in Python."""
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ov = import_openvino()
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


def _dims(partial_shape: Any) -> list[int | str]:
    return [int(d.get_length()) if d.is_static else "?" for d in partial_shape]


# Compiled models with a static input shape run faster than one compiled with dynamic shapes
# (yolov8n INT8 at 640x640: ~50 ms dynamic vs ~32 ms static on a 2-core AMX CPU; FP32/BF16 gains
# less), so a shape seen again gets a model of its own; at most _MAX_STATIC of them are kept
# (least recently used go), and a shape seen once runs on the dynamic model, so a folder of
# differently shaped images never pays a compile per image. benchmarks/bench_export.py.
_COMPILE_AFTER = 2
_MAX_STATIC = 8
_MAX_SEEN = 4096
_STATIC_ONLY = [False]  # set by static_shapes_only()


@contextmanager
def static_shapes_only() -> Iterator[None]:
    """Sessions created inside run every input shape on a static model of its own, from the
    shape's first input (``compile_after = 1``), so outputs never depend on what ran before; such
    a session never runs the dynamic-shape model, so it is not compiled at load (batch workers,
    :mod:`detectkit.batch._worker`: ~0.25 s of each worker's start-up).

    >>> with static_shapes_only():
    ...     pass
    """
    before = _STATIC_ONLY[0]
    _STATIC_ONLY[0] = True
    try:
        yield
    finally:
        _STATIC_ONLY[0] = before


# ---------------------------------------------------------------------------------------- cache
#: The environment variable naming the compiled-model cache folder (``off`` / ``0``: no cache).
CACHE_ENV = "DETECTKIT_OPENVINO_CACHE_DIR"
_OFF = ("0", "off", "no", "none", "false")
_CACHE_DEFAULT: list[Path | None] = [None]  # set by compiled_cache()
_BLOB_MAGIC = b"detectkit-openvino-blob-2\n"  # then the payload's length (u64) and CRC-32 (u32)
_LOCK_TIMEOUT = 300.0  # seconds a process waits for another one compiling the same blob
_STALE_TMP = 3600.0  # a temporary file this old was left by a killed writer
#: ``$DETECTKIT_OPENVINO_CACHE_MAX_MB``: the compiled-model cache's size bound (default 2048 MB,
#: about 170 blobs of the demo detector); the least recently used entries go first.
CACHE_MAX_ENV = "DETECTKIT_OPENVINO_CACHE_MAX_MB"
_CACHE_MAX_MB = 2048


def cache_max_bytes() -> int:
    """The compiled-model cache's size bound in bytes (``$DETECTKIT_OPENVINO_CACHE_MAX_MB``).

    >>> import os
    >>> os.environ["DETECTKIT_OPENVINO_CACHE_MAX_MB"] = "100"
    >>> cache_max_bytes()
    104857600
    >>> del os.environ["DETECTKIT_OPENVINO_CACHE_MAX_MB"]
    >>> cache_max_bytes() == 2048 * 1024 * 1024
    True
    """
    env = os.environ.get(CACHE_MAX_ENV, "").strip()
    megabytes = int(env) if env.isdigit() else _CACHE_MAX_MB
    return megabytes * 1024 * 1024


def default_cache_folder() -> Path:
    """The compiled-model cache batch workers use unless ``$DETECTKIT_OPENVINO_CACHE_DIR`` says
    otherwise: ``openvino-compiled`` in detectkit's user cache (:func:`detectkit.models.cache_dir`).

    >>> default_cache_folder().name
    'openvino-compiled'
    """
    from detectkit.models import cache_dir

    return cache_dir() / "openvino-compiled"


def cache_folder() -> Path | None:
    """The folder a new :class:`OpenVinoSession` keeps its compiled models in, or None (no cache):
    ``$DETECTKIT_OPENVINO_CACHE_DIR`` when set (``off``, ``0``, ``none``: no cache at all), else
    the folder of the enclosing :func:`compiled_cache` block, else None.

    >>> import os
    >>> os.environ["DETECTKIT_OPENVINO_CACHE_DIR"] = "off"
    >>> with compiled_cache("/tmp/ov-doctest"):
    ...     print(cache_folder())
    None
    >>> del os.environ["DETECTKIT_OPENVINO_CACHE_DIR"]
    >>> with compiled_cache("/tmp/ov-doctest"):
    ...     print(cache_folder())
    /tmp/ov-doctest
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env.lower() in _OFF:
        return None
    if env:
        return Path(env).expanduser()
    return _CACHE_DEFAULT[0]


@contextmanager
def compiled_cache(folder: str | os.PathLike[str] | None) -> Iterator[None]:
    """Sessions created inside keep their compiled models in ``folder`` (None: no cache), unless
    ``$DETECTKIT_OPENVINO_CACHE_DIR`` is set, which wins (see :func:`cache_folder`)."""
    before = _CACHE_DEFAULT[0]
    _CACHE_DEFAULT[0] = None if folder is None else Path(folder).expanduser()
    try:
        yield
    finally:
        _CACHE_DEFAULT[0] = before


def _cpu_identity(core: Any) -> str:
    """What a compiled blob depends on besides the model and config: the CPU's name, OpenVINO's
    view of its capabilities and (on Linux) the instruction-set flags."""
    parts = []
    for prop in ("FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES"):
        try:
            parts.append(str(core.get_property("CPU", prop)))
        except Exception:  # pragma: no cover - every CPU plugin has both
            parts.append("?")
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
        parts.append(hashlib.sha256(flags.encode()).hexdigest()[:16])
    except OSError:
        pass
    return " | ".join(parts)


class CompiledModelCache:
    """Exported OpenVINO compiled models in a folder, shared by processes and runs.

    Each entry is ``<key>.blob``: a header with the payload's length and CRC-32, then the payload
    (``CompiledModel.export_model``). The key hashes the model files' bytes, the input kind and
    shape, the compile config, the OpenVINO version and :func:`_cpu_identity`, so an entry is
    only ever imported where it was compiled for. Entries are written to a temporary file and
    renamed into place (a reader never sees half a blob); an entry whose checksum or import
    fails is deleted and compiled again. :meth:`get` compiles a missing entry under a lock file
    (``<key>.lock``, ``flock``): a second process wanting the same entry waits (at most
    ``_LOCK_TIMEOUT`` s) and imports what the first wrote, so two workers never compile the
    same shape. The cache is an optimisation only: a folder that cannot be created or written
    means compiling as without it. Its size is bounded (:func:`cache_max_bytes`): after each
    write the least recently used entries (an import refreshes an entry's time) are deleted
    until the blobs fit.

    Args:
        folder: the cache folder (created when needed).
        core: the ``openvino.Core`` that imports the blobs.
        files: the model's files (``.onnx``; ``.xml`` + ``.bin``), hashed into every key.
    """

    def __init__(self, folder: str | os.PathLike[str], core: Any, files: Sequence[str | os.PathLike[str]]) -> None:
        ov = import_openvino()
        self.folder = Path(folder)
        self.core = core
        digest = hashlib.sha256()
        for file in files:
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
        #: SHA-256 of the model files
        self.model_digest = digest.hexdigest()
        self._base = {"format": 1, "openvino": str(ov.get_version()), "cpu": _cpu_identity(core)}
        #: entries compiled (and written) / imported by this object
        self.compiled = 0
        self.imported = 0

    def key(self, **parts: Any) -> str:
        """The entry name for this model and ``parts`` (kind, shape, config: JSON-able values)."""
        doc = json.dumps({**self._base, "model": self.model_digest, **parts}, sort_keys=True, default=str)
        return hashlib.sha256(doc.encode()).hexdigest()[:40]

    @property
    def _info_name(self) -> str:
        """The file holding the model's inputs, outputs and metadata (:meth:`write_info`)."""
        return f"{self.model_digest[:40]}.model.json"

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.blob"

    def _drop(self, path: Path) -> None:
        with suppress(OSError):
            path.unlink()

    def load(self, key: str, config: Mapping[str, Any]) -> Any | None:
        """The compiled model of entry ``key`` (imported with ``config``), or None when missing
        or unusable (a bad entry is deleted)."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_BLOB_MAGIC) + 12)
                payload = fh.read()  # read apart from the header: no second 12 MB copy
        except OSError:
            return None
        intact = head.startswith(_BLOB_MAGIC) and len(head) == len(_BLOB_MAGIC) + 12
        size, crc = (struct.unpack("<QI", head[len(_BLOB_MAGIC) :])) if intact else (-1, -1)
        if not intact or size != len(payload) or crc != zlib.crc32(payload):
            self._drop(path)  # truncated or damaged: compile again
            return None
        try:
            compiled = self.core.import_model(payload, "CPU", dict(config))
        except Exception:
            self._drop(path)
            return None
        self.imported += 1
        with suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        return compiled

    def sweep(self, older_than: float = _STALE_TMP) -> int:
        """Delete temporary files older than ``older_than`` seconds (left by a process killed while
        writing an entry); returns how many. Called before each write."""
        removed = 0
        cutoff = time.time() - older_than
        try:
            stale = [f for f in self.folder.glob(".*.tmp") if f.stat().st_mtime < cutoff]
        except OSError:
            return 0
        for file in stale:
            self._drop(file)
            removed += 1
        return removed

    def trim(self, max_bytes: int | None = None, *, keep: str | None = None) -> int:
        """Delete the least recently used blobs (oldest modification time first, never ``keep``)
        until the folder's blobs take at most ``max_bytes`` (default :func:`cache_max_bytes`);
        returns how many were deleted. Called after each write."""
        limit = cache_max_bytes() if max_bytes is None else max_bytes
        entries = []
        try:
            for blob in self.folder.glob("*.blob"):
                with suppress(OSError):
                    st = blob.stat()
                    entries.append((st.st_mtime, st.st_size, blob))
        except OSError:
            return 0
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, blob in sorted(entries, key=lambda e: e[0]):
            if total <= limit:
                break
            if blob.stem == keep:
                continue
            self._drop(blob)
            self._drop(blob.with_suffix(".lock"))
            total -= size
            removed += 1
        return removed

    def _write(self, name: str, *chunks: bytes) -> bool:
        """Write ``chunks`` as the folder's file ``name`` through a temporary file (``.*.tmp``,
        which :meth:`sweep` clears when a killed writer leaves one); False when it could not be
        written (the cache is best effort)."""
        try:
            with atomic_file(self.folder / name, "wb") as fh:  # ".<name>.<random>.tmp" until complete
                for chunk in chunks:
                    fh.write(chunk)
            return True
        except OSError:
            return False

    def store(self, key: str, compiled: Any) -> bool:
        """Write ``compiled`` as entry ``key`` (atomically); False when it could not be written."""
        self.sweep()
        try:
            exported = compiled.export_model()  # a BytesIO (bytes in older OpenVINO versions)
        except Exception:  # an optimisation only: no cache entry
            return False
        payload = exported.getvalue() if hasattr(exported, "getvalue") else bytes(exported)
        header = _BLOB_MAGIC + struct.pack("<QI", len(payload), zlib.crc32(payload))
        if not self._write(self._path(key).name, header, payload):
            return False
        self.trim(keep=key)
        return True

    @contextmanager
    def lock(self, key: str, *, timeout: float | None = None) -> Iterator[bool | None]:
        """Hold entry ``key``'s lock file while inside. Yields True when held; False when it could
        not be taken at all (no ``fcntl``, a read-only folder) or another process held it past
        ``timeout`` seconds (default ``_LOCK_TIMEOUT``: then go on without it rather than wait
        forever); with ``timeout=0``, None when another process holds it now."""
        try:
            import fcntl

            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(self.folder / f"{key}.lock", "ab")  # noqa: SIM115 - closed below
        except (ImportError, OSError):
            yield False
            return
        try:
            deadline = time.monotonic() + (_LOCK_TIMEOUT if timeout is None else timeout)
            held: bool | None = True
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if timeout == 0:
                        held = None
                        break
                    if time.monotonic() > deadline:
                        held = False
                        break
                    time.sleep(0.005)
            yield held
        finally:
            fh.close()  # releases the lock

    def get(self, key: str, config: Mapping[str, Any], compile: Callable[[], Any], *, wait: bool = True) -> Any:
        """Entry ``key`` imported, or ``compile()``-d and stored (by one process at a time: another
        process compiling it is waited for, and its entry imported). With ``wait=False``, None
        instead of waiting when another process is compiling it now."""
        found = self.load(key, config)
        if found is not None:
            return found
        with self.lock(key, timeout=None if wait else 0) as held:
            if held is None:
                return None
            found = self.load(key, config)  # written by another process while this one waited
            if found is not None:
                return found
            compiled = compile()
            self.compiled += 1
            self.store(key, compiled)
            return compiled

    def read_info(self) -> dict[str, Any] | None:
        """The model's inputs, outputs and metadata saved by :meth:`write_info`, or None."""
        try:
            doc = json.loads((self.folder / self._info_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or set(doc) != {"inputs", "outputs", "metadata"}:
            return None
        return doc

    def write_info(self, info: Mapping[str, Any]) -> None:
        """Save the model's inputs, outputs and metadata beside the blobs (atomically; best effort)."""
        try:
            text = json.dumps(dict(info), sort_keys=True)
        except (TypeError, ValueError):  # not JSON: keep no info (the model is read as before)
            return
        self._write(self._info_name, text.encode())


class OpenVinoSession:
    """An OpenVINO CPU model with the onnxruntime-session methods detectkit's runners call.

    Besides ``run`` (float32 NCHW input, like onnxruntime), :meth:`run_bgr` takes letterboxed
    uint8 BGR ``(N, H, W, 3)`` images: the uint8 -> float conversion, BGR -> RGB, the 1/255
    scaling and the NHWC -> NCHW layout are folded into the compiled model (OpenVINO's
    ``PrePostProcessor``), so no float copy of the image is made in Python.
    With a cache folder (:func:`cache_folder`: ``$DETECTKIT_OPENVINO_CACHE_DIR``, or
    :func:`compiled_cache` around the creation; none by default), every model the session
    compiles is kept there and imported the next time (:class:`CompiledModelCache`), and a
    session whose model was seen before does not read the model file at all until it must
    compile something new.

    Args:
        path: an ``.onnx`` file or an IR ``.xml`` (its ``.bin`` beside it).
        precision: CPU inference precision: ``"default"`` (OpenVINO's: BF16 on CPUs with AMX or
            AVX-512 BF16, else f32), ``"f32"`` or ``"bf16"``; None reads
            ``$DETECTKIT_OPENVINO_PRECISION`` (default ``"default"``).
        kind: the input the caller will mostly use, compiled at load (so a bad file fails here):
            ``"nchw"`` for :meth:`run`, ``"bgr"`` for :meth:`run_bgr`; the other compiles on first use.

    Raises:
        MissingDependencyError: OpenVINO is not installed (``pip install 'detectkit[openvino]'``).
        ModelLoadError: the file cannot be read or compiled.
        InvalidInputError: an unknown ``precision``.
    """

    def __init__(self, path: str | os.PathLike[str], *, precision: str | None = None, kind: str = "nchw") -> None:
        ov = import_openvino()
        self.path = Path(path)
        self.precision = _precision(precision)
        if kind not in ("nchw", "bgr"):
            from detectkit.errors import InvalidInputError

            raise InvalidInputError(f"kind must be 'nchw' or 'bgr', got {kind!r}")
        self._core = ov.Core()
        #: a shape runs on the dynamic model until seen this many times, then gets a static one
        self.compile_after = 1 if _STATIC_ONLY[0] else _COMPILE_AFTER
        self._config = compile_config("LATENCY", self.precision)
        #: the compiled-model cache (None: every model is compiled)
        self.cache: CompiledModelCache | None = None
        folder = cache_folder()
        if folder is not None:
            files = [self.path]
            if self.path.suffix.lower() != ".onnx":  # an IR: its weights, and Ultralytics' metadata beside it
                files += [self.path.with_suffix(".bin")]
                files += [f for f in [self.path.parent / "metadata.yaml"] if f.is_file()]
            try:
                self.cache = CompiledModelCache(folder, self._core, files)
            except OSError:  # an unreadable model file fails below, with its message
                self.cache = None
        self._model_read: Any = None
        info = self.cache.read_info() if self.cache is not None else None
        if info is None:  # read the model now (and describe it for the next session)
            model = self._read()
            if self.path.suffix.lower() == ".onnx":
                metadata = read_onnx_metadata(self.path)
            else:
                metadata = _ir_metadata(model, self.path)
            info = {
                "inputs": [[p.get_any_name(), _dims(p.partial_shape)] for p in model.inputs],
                "outputs": [[p.get_any_name(), _dims(p.partial_shape)] for p in model.outputs],
                "metadata": metadata,
            }
            if self.cache is not None:
                self.cache.write_info(info)
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in dict(info["metadata"]).items()}
        self._inputs = [SimpleNamespace(name=str(n), shape=list(d)) for n, d in info["inputs"]]
        self._outputs = [SimpleNamespace(name=str(n), shape=list(d)) for n, d in info["outputs"]]
        self._output_index = {o.name: i for i, o in enumerate(self._outputs)}
        self.static = all(isinstance(d, int) for spec in self._inputs for d in spec.shape)
        self._dynamic: dict[str, Any] = {}  # kind -> infer request of the model as read
        self._shaped: OrderedDict[tuple[str, tuple[int, ...]], Any] = OrderedDict()
        self._queues: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # run_bgr_many's async queues
        self._seen: Counter[tuple[str, tuple[int, ...]]] = Counter()
        if self.static or self.compile_after > 1:  # (static_shapes_only: compiled per shape, on first use)
            self._dynamic_request(kind)  # compile now: a bad file fails at load, not at the first image

    def _read(self) -> Any:
        """The model as read from the file (read once, when first needed)."""
        if self._model_read is None:
            try:
                self._model_read = self._core.read_model(str(self.path))
            except Exception as exc:
                raise ModelLoadError(f"cannot load {self.path} with OpenVINO: {type(exc).__name__}: {exc}") from None
        return self._model_read

    # ------------------------------------------------------------------ compiled models
    def _compiled(self, kind: str, shape: tuple[int, ...] | None, hint: str = "LATENCY", *, wait: bool = True) -> Any:
        """The compiled model for ``kind`` and ``shape`` (None: as read), from the cache when it has
        it (``wait=False``: None when another process is compiling it now)."""
        config = self._config if hint == "LATENCY" else compile_config(hint, self.precision)

        def compile_now() -> Any:
            try:
                return self._core.compile_model(self._variant(kind, shape), "CPU", config)
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError(f"OpenVINO cannot compile {self.path}: {type(exc).__name__}: {exc}") from None

        if self.cache is None:
            return compile_now()
        key = self.cache.key(kind=kind, shape=None if shape is None or self.static else list(shape), config=config)
        return self.cache.get(key, config, compile_now, wait=wait)

    def _compile_request(self, kind: str, shape: tuple[int, ...] | None, *, wait: bool = True) -> Any:
        """An infer request of :meth:`_compiled` (``wait=False``: None when another process is
        compiling that model now)."""
        compiled = self._compiled(kind, shape, wait=wait)
        if compiled is None:
            return None
        try:
            return compiled.create_infer_request()
        except Exception as exc:
            raise ModelLoadError(f"OpenVINO cannot compile {self.path}: {type(exc).__name__}: {exc}") from None

    def prepare(self, shapes: Sequence[tuple[int, ...]], kind: str = "bgr") -> int:
        """Make the static models for inputs of ``shapes`` ready ahead of their first input, in
        order; returns how many were made ready here.

        Only for sessions that give every shape its static model from its first input
        (``compile_after == 1``, :func:`static_shapes_only`) and have a compiled-model cache:
        the outputs are then the same as without it. A shape another process is compiling right
        now is skipped (it will be in the cache when this session needs it), so workers starting
        together on the same shapes compile them between them instead of each all of them.
        Otherwise it does nothing. At most ``_MAX_STATIC`` shapes are kept.
        """
        if self.static or self.compile_after != 1 or self.cache is None:
            return 0
        made = 0
        for shape in shapes:
            key = (kind, tuple(int(d) for d in shape))
            if key in self._shaped:
                continue
            if len(self._shaped) >= _MAX_STATIC:
                break
            request = self._compile_request(kind, key[1], wait=False)
            if request is None:  # another process is compiling it
                continue
            self._shaped[key] = request
            made += 1
        return made

    def _variant(self, kind: str, shape: tuple[int, ...] | None) -> Any:
        """The model for ``kind`` (``"nchw"`` float input, ``"bgr"`` uint8 NHWC BGR), static when shaped."""
        model = self._read().clone()
        if kind == "bgr":
            model = bgr_input(model)
        if shape is not None and not self.static:
            model.reshape(list(shape))
        return model

    def _dynamic_request(self, kind: str) -> Any:
        if kind not in self._dynamic:
            self._dynamic[kind] = self._compile_request(kind, None)
        return self._dynamic[kind]

    def _request(self, kind: str, shape: tuple[int, ...]) -> Any:
        """The infer request for an input of ``shape``: a static model once the shape recurs."""
        if self.static:
            return self._dynamic_request(kind)
        key = (kind, shape)
        found = self._shaped.get(key)
        if found is not None:
            self._shaped.move_to_end(key)
            return found
        if len(self._seen) > _MAX_SEEN:
            self._seen.clear()
        self._seen[key] += 1
        if self._seen[key] < self.compile_after:
            return self._dynamic_request(kind)
        request = self._compile_request(kind, shape)
        self._shaped[key] = request
        while len(self._shaped) > _MAX_STATIC:
            self._shaped.popitem(last=False)
        return request

    def _infer(self, kind: str, x: np.ndarray, output_names: Sequence[str] | None) -> list[np.ndarray]:
        request = self._request(kind, tuple(int(d) for d in x.shape))
        request.infer({0: x}, share_inputs=True)
        wanted = range(len(self._outputs)) if output_names is None else [self._output_index[n] for n in output_names]
        return [np.array(request.get_output_tensor(i).data) for i in wanted]  # copies: the request reuses them

    def _queue(self, shape: tuple[int, ...]) -> Any:
        """An ``AsyncInferQueue`` over a throughput-mode compile of the uint8 BGR model for
        ``shape`` (static): one stream per group of cores, one infer request per stream."""
        found = self._queues.get(shape)
        if found is not None:
            self._queues.move_to_end(shape)
            return found
        ov = import_openvino()
        compiled = self._compiled("bgr", shape, "THROUGHPUT")
        try:
            jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            # two requests per stream: a stream never waits for Python to hand it the next image
            queue = ov.AsyncInferQueue(compiled, 2 * max(1, jobs))
        except Exception as exc:
            raise ModelLoadError(f"OpenVINO cannot compile {self.path}: {type(exc).__name__}: {exc}") from None
        self._queues[shape] = queue
        while len(self._queues) > _MAX_STATIC:
            self._queues.popitem(last=False)
        return queue

    def run_bgr_many(
        self,
        images: Sequence[np.ndarray],
        output_names: Sequence[str] | None = None,
        then: Callable[[int, list[np.ndarray]], Any] | None = None,
    ) -> list[Any]:
        """:meth:`run_bgr` on each of several ``(1, H, W, 3)`` uint8 BGR inputs, run concurrently:
        inputs of one shape, when there are two or more of them (or the shape was seen before),
        go to a throughput-mode compile of the static-shape model (one stream per group of cores,
        e.g. 2 single-thread streams on 2 cores), as asynchronous infer requests. Each input is
        still its own inference of the same static-shape network, and its outputs equal
        :meth:`run_bgr`'s once that shape runs on its static model (the throughput compile is
        the same network; ``tests/models/test_openvino_runtime.py`` checks it). Returns one
        output list per input, in order; with ``then``, ``then(i, outputs)`` of each instead,
        called as each inference finishes (so post-processing overlaps the other inferences).
        """
        finish = then if then is not None else (lambda _i, outputs: outputs)
        out: list[Any] = [None] * len(images)
        failed: list[BaseException] = []
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, x in enumerate(images):
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[0] != 1 or x.shape[3] != 3:
                raise ModelLoadError(f"run_bgr_many needs (1, H, W, 3) uint8 images, got {x.dtype} {x.shape}")
            groups.setdefault(tuple(int(d) for d in x.shape), []).append(i)
        wanted = range(len(self._outputs)) if output_names is None else [self._output_index[n] for n in output_names]
        for shape, idx in groups.items():
            key = ("bgr", shape)
            if len(idx) < 2 and shape not in self._queues and self._seen[key] + 1 < _COMPILE_AFTER:
                out[idx[0]] = finish(idx[0], self.run_bgr(images[idx[0]], output_names))  # one-off shape
                continue
            self._seen[key] += len(idx)
            queue = self._queue(shape)

            def done(request: Any, i: int) -> None:
                try:
                    out[i] = finish(i, [np.array(request.get_output_tensor(k).data) for k in wanted])
                except BaseException as exc:  # raised in the caller's thread below
                    failed.append(exc)

            queue.set_callback(done)
            for i in idx:
                queue.start_async({0: np.ascontiguousarray(images[i])}, i, share_inputs=True)
            queue.wait_all()
        if failed:
            raise failed[0]
        return out

    # ------------------------------------------------------------------ onnxruntime-like API
    def get_modelmeta(self) -> Any:
        """An object with ``custom_metadata_map`` (str -> str), as onnxruntime's."""
        return SimpleNamespace(custom_metadata_map=dict(self.metadata))

    def get_inputs(self) -> list[Any]:
        """Inputs as objects with ``name`` and ``shape`` (ints, ``"?"`` for dynamic axes)."""
        return list(self._inputs)

    def get_outputs(self) -> list[Any]:
        """Outputs as objects with ``name`` and ``shape``."""
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference on float32 NCHW input; returns the outputs (all, or ``output_names``)."""
        if len(self._inputs) != 1:
            raise ModelLoadError(f"{self.path}: models with {len(self._inputs)} inputs are not supported")
        x = np.ascontiguousarray(feed[self._inputs[0].name], dtype=np.float32)
        return self._infer("nchw", x, output_names)

    def run_bgr(self, images: np.ndarray, output_names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run on uint8 BGR ``(N, H, W, 3)`` images (already letterboxed): the same as :meth:`run` on
        ``normalize(image)`` (RGB, ``/ 255``, NCHW), with that conversion done inside the compiled model."""
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ModelLoadError(f"run_bgr needs (N, H, W, 3) uint8 images, got {images.dtype} {images.shape}")
        return self._infer("bgr", np.ascontiguousarray(images), output_names)
