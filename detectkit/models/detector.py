"""The YOLO :class:`Detector`: one object for images, folders, videos and cameras.

>>> from detectkit import Detector
>>> detector = Detector()                       # the shipped demo detector  # doctest: +SKIP
>>> dets = detector.detect("photo.jpg")          # -> Detections  # doctest: +SKIP
>>> for info, dets in detector.detect_stream("clip.mp4"):  # doctest: +SKIP
...     print(info.frame_index, len(dets))

Two backends:

* ``backend="torch"`` runs the checkpoint through Ultralytics' own predictor, so boxes, classes
  and scores equal ``YOLO(model).predict(...)`` for the same arguments.
* ``backend="onnx"`` exports the checkpoint once with Ultralytics' exporter (dynamic input
  shapes), caches the ``.onnx`` under ``cache_dir()/onnx`` keyed by the checkpoint's sha256 and
  ``imgsz``, and runs it with onnxruntime: our own letterbox (rectangular, like the PyTorch
  default), decoding and NMS — no torch needed at inference. 1.8x (640) to 2.1x (320) faster
  than native PyTorch predict (which Ultralytics runs on ``cores - 1`` threads: one here) on a
  quiet 2-core CPU (``benchmarks/bench_models.py``); boxes
  agree with the PyTorch path to well under a pixel. Segmentation/OBB ``.onnx`` models run
  through Ultralytics' ONNX backend.
* ``backend="openvino"`` runs the same ONNX export (or an OpenVINO IR ``.xml``, e.g. an INT8
  file from ``detectkit export --format openvino --int8``) with OpenVINO and the same pre- and
  post-processing (the ``openvino`` extra; see :mod:`detectkit.models.openvino_runtime`).
* ``backend="auto"`` measures, once per model, imgsz and machine (cached), every backend that
  can run the model here and picks the fastest end to end; torch is always a candidate for a
  checkpoint, so auto is never slower than it (see :mod:`detectkit.models.backend_choice`).
  Not on CPU, auto is torch.

Threads: the torch backend runs on as many intra-op threads as the calling thread has
(``torch.set_num_threads``, else torch's default of one per core), set before or after the
``Detector`` is made. Ultralytics itself sets ``cpu_count - 1`` when a model's predictor is set up
(one thread on a 2-core machine); ``Detector`` puts the caller's count back before the first
forward pass, and after an ONNX export.

Security: ``.pt`` checkpoints are pickles and **execute code when loaded**. Manifest names are
sha256-verified before loading; for checkpoints you did not make prefer an ``.onnx`` file,
which holds no code.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectkit._checks import check_choice, check_fraction
from detectkit.detections import Detections
from detectkit.errors import DetectkitError, InvalidInputError, MissingDependencyError, ModelLoadError
from detectkit.image import FrameInfo, ImageSource, iter_images, letterbox, load_image, normalize
from detectkit.models import cache_dir, prepare_ultralytics
from detectkit.models import weights as weights_mod
from detectkit.models.runtime_threads import set_torch_threads
from detectkit.models.ultralytics_nms import skip_import_only_warmup

__all__ = ["DEFAULT_DETECTOR", "Detector", "check_detector_weights", "onnx_export"]

DEFAULT_DETECTOR = "demo-shapes"
Backend = Literal["torch", "onnx", "openvino", "auto"]
_BACKENDS = ("torch", "onnx", "openvino", "auto")
_MAX_WH = 7680


def _check_imgsz(value: Any) -> int | tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
        return int(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            h, w = (int(v) for v in value)
        except (TypeError, ValueError):
            h = w = 0
        if h > 0 and w > 0 and (h, w) == tuple(value):
            return (h, w)
    raise InvalidInputError(f"imgsz must be a positive int or an (height, width) pair, got {value!r}")


def _slice_config(slicing: Any) -> Any:
    """``slicing=`` of detect/detect_batch/detect_stream -> a SliceConfig or None (detectkit.slicing)."""
    if slicing is None:
        return None
    from detectkit.slicing import SliceConfig

    return SliceConfig.coerce(slicing)


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("onnxruntime", extra="onnx", purpose="backend='onnx'") from None
    return onnxruntime


def onnx_export(
    checkpoint: str | os.PathLike[str],
    *,
    imgsz: int | tuple[int, int] = 640,
    sha256: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """Export an Ultralytics ``.pt`` checkpoint to ONNX once, with dynamic input shapes; cached.

    The cache file is ``<cache>/onnx/<sha256[:32]>-<imgsz>.onnx`` (``cache`` defaults to
    :func:`~detectkit.models.cache_dir`, i.e. ``$DETECTKIT_CACHE``). The export runs on a copy
    of the checkpoint in a temporary folder inside the cache, so nothing is written next to the
    checkpoint or in the current directory, and the result is moved into place atomically.

    Raises:
        MissingDependencyError: onnx/onnxruntime are not installed (the ``onnx`` extra) and the
            file is not cached yet.
        ModelLoadError: the export failed.
    """
    src = Path(checkpoint)
    digest = sha256 or weights_mod.sha256_file(src)
    tag = f"{imgsz}" if isinstance(imgsz, int) else f"{imgsz[0]}x{imgsz[1]}"
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / "onnx" / f"{digest[:32]}-{tag}.onnx"
    if target.is_file():  # cached: no export, so no onnx/onnxruntime import (~0.1 s of a worker's start)
        return target
    _import_onnxruntime()
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingDependencyError("onnx", extra="onnx", purpose="exporting to ONNX") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    YOLO = prepare_ultralytics().YOLO

    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        local = work / "model.pt"
        shutil.copyfile(src, local)
        try:
            with _quiet_ultralytics(), _torch_threads_kept():
                exported = YOLO(str(local)).export(
                    format="onnx", dynamic=True, imgsz=imgsz, simplify=True, device="cpu", verbose=False
                )
        except Exception as exc:
            raise ModelLoadError(f"ONNX export of {src} failed: {type(exc).__name__}: {exc}") from exc
        os.replace(exported, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Keep Ultralytics' export chatter off stdout (which may carry ``--json`` output)."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        LOGGER.setLevel(level)


@contextlib.contextmanager
def _torch_threads_kept() -> Iterator[int | None]:
    """Put torch's intra-op thread count back after an Ultralytics call that resets it.

    Ultralytics' ``select_device`` (run when a predictor or an exporter is set up) calls
    ``torch.set_num_threads(cpu_count - 1)``: one thread on a 2-core machine, whatever the user
    set. Yields the count kept (None when torch is not imported: nothing to keep).
    """
    torch = sys.modules.get("torch")
    before: int | None = torch.get_num_threads() if torch is not None else None
    try:
        yield before
    finally:
        set_torch_threads(before)


class _KeepTorchThreads:
    """An Ultralytics ``on_predict_start`` callback: the thread count the caller had, restored
    after the predictor's set-up reset it and before the warm-up and first forward pass, so even
    the first call runs (and rounds) like every later one. Torch's count is per calling thread
    here (OpenMP), so the wanted count is kept per thread too."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def around(self) -> Iterator[None]:
        """Run one predict call: remember this thread's count, restore it at start and after."""
        with _torch_threads_kept() as before:
            self._local.threads = before
            try:
                yield
            finally:
                self._local.threads = None

    def __call__(self, predictor: Any = None) -> None:
        set_torch_threads(getattr(self._local, "threads", None))


def _onnx_threads() -> int:
    """onnxruntime intra-op threads: ``$DETECTKIT_ORT_THREADS`` when set, else 0 (onnxruntime's
    own default, one per physical core, as Ultralytics' ONNX backend uses). On a quiet 2-core
    machine 2 threads ran yolov8n@640 1.8x faster than native PyTorch and 1 thread only 1.2x;
    on an oversubscribed machine (parallel test workers) set it to 1."""
    from detectkit.models.runtime_threads import runtime_threads

    return runtime_threads()


class _OnnxRunner:
    """onnxruntime session + our pre/post-processing for Ultralytics detect exports."""

    def __init__(self, path: Path, engine: str = "onnxruntime") -> None:
        if engine == "openvino":  # the same session API over OpenVINO
            from detectkit.models.openvino_runtime import OpenVinoSession

            self.session: Any = OpenVinoSession(path, kind="bgr")  # __call__ feeds uint8 BGR images
        else:
            ort = _import_onnxruntime()
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = _onnx_threads()  # 0 = onnxruntime's default
            try:
                self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelLoadError(f"cannot load ONNX model {path}: {type(exc).__name__}: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.dynamic = not all(isinstance(d, int) for d in inp.shape[2:])
        self.fixed_hw = None if self.dynamic else (int(inp.shape[2]), int(inp.shape[3]))
        self.task = str(meta.get("task", "detect"))
        self.stride = int(meta.get("stride", 32))
        self.end2end = str(meta.get("end2end", "False")) == "True"
        try:
            names = ast.literal_eval(meta["names"]) if "names" in meta else {}
        except (ValueError, SyntaxError):
            names = {}
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(names).items()}
        try:
            imgsz = ast.literal_eval(meta.get("imgsz", "None"))
        except (ValueError, SyntaxError):
            imgsz = None
        self.imgsz: int | tuple[int, int] | None = None
        if isinstance(imgsz, int):
            self.imgsz = imgsz
        elif isinstance(imgsz, (list, tuple)) and len(imgsz) == 2:
            self.imgsz = int(imgsz[0]) if imgsz[0] == imgsz[1] else (int(imgsz[0]), int(imgsz[1]))
        outputs = self.session.get_outputs()
        self.nc = len(self.names) or (int(outputs[0].shape[1]) - 4 if isinstance(outputs[0].shape[1], int) else 0)

    def __call__(
        self,
        image: np.ndarray,
        *,
        imgsz: int | tuple[int, int],
        conf: float,
        iou: float,
        classes: Sequence[int] | None,
        max_det: int,
        agnostic: bool = False,
    ) -> Detections:
        boxed = self._letterbox(image, imgsz)
        run_bgr = getattr(self.session, "run_bgr", None)
        if run_bgr is not None:  # OpenVINO: uint8 -> float, BGR -> RGB, / 255 and NCHW inside the model
            pred = run_bgr(boxed.image[None])[0][0]  # (4 + nc, A) or (300, 6)
        else:
            pred = self.session.run(None, {self.input_name: normalize(boxed.image)[None]})[0][0]
        return self._detections(pred, boxed, image, conf, iou, classes, max_det, agnostic)

    def many(
        self,
        images: Sequence[np.ndarray],
        *,
        concurrent: bool = True,
        imgsz: int | tuple[int, int],
        conf: float,
        iou: float,
        classes: Sequence[int] | None,
        max_det: int,
        agnostic: bool = False,
    ) -> list[Detections]:
        """``[self(image) for image in images]``; with ``concurrent`` the inferences run concurrently
        when the session can (OpenVINO's
        :meth:`~detectkit.models.openvino_runtime.OpenVinoSession.run_bgr_many`), each image still
        letterboxed and inferred on its own."""
        run_many = getattr(self.session, "run_bgr_many", None)
        kw: dict[str, Any] = {
            "imgsz": imgsz,
            "conf": conf,
            "iou": iou,
            "classes": classes,
            "max_det": max_det,
            "agnostic": agnostic,
        }
        if not concurrent or run_many is None or len(images) < 2:
            return [self(img, **kw) for img in images]
        boxed = [self._letterbox(img, imgsz) for img in images]

        def then(i: int, outputs: list[np.ndarray]) -> Detections:  # as each inference finishes
            return self._detections(outputs[0][0], boxed[i], images[i], conf, iou, classes, max_det, agnostic)

        out: list[Detections] = run_many([b.image[None] for b in boxed], then=then)
        return out

    def _target_hw(self, imgsz: int | tuple[int, int]) -> tuple[int, int]:
        """The letterbox target: the model's fixed input, else ``imgsz`` rounded up to a multiple
        of the stride (like Ultralytics' check_imgsz)."""
        if self.fixed_hw is not None:
            return self.fixed_hw
        h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
        s = self.stride
        return max(-(-h // s) * s, s), max(-(-w // s) * s, s)

    def _letterbox(self, image: np.ndarray, imgsz: int | tuple[int, int]) -> Any:
        return letterbox(image, self._target_hw(imgsz), auto=self.dynamic, stride=self.stride)

    def input_hw(self, size_wh: tuple[int, int], imgsz: int | tuple[int, int]) -> tuple[int, int]:
        """``(h, w)`` of the network input an image of ``size_wh`` is letterboxed to (what
        :meth:`_letterbox` makes of it), from the letterbox arithmetic alone: no pixels."""
        from detectkit.boxes import letterbox_canvas_wh, letterbox_params

        th, tw = self._target_hw(imgsz)
        new = letterbox_params(size_wh, (tw, th), auto=self.dynamic, stride=self.stride).new_unpad_wh
        cw, ch = letterbox_canvas_wh(new, (tw, th), auto=self.dynamic, stride=self.stride)
        return ch, cw

    def _detections(
        self,
        pred: np.ndarray,
        boxed: Any,
        image: np.ndarray,
        conf: float,
        iou: float,
        classes: Sequence[int] | None,
        max_det: int,
        agnostic: bool,
    ) -> Detections:
        from detectkit.image import scale_boxes_from_letterbox
        from detectkit.models._decode import decode_yolo_head

        h0, w0 = image.shape[:2]
        if self.end2end:
            keep = pred[:, 4] > conf
            if classes is not None:
                keep &= np.isin(pred[:, 5].astype(np.int64), classes)
            rows = pred[keep][:max_det]
            xyxy, scores, cls = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
        else:
            xyxy, scores, cls = decode_yolo_head(
                pred, self.nc, conf=conf, iou=iou, classes=classes, max_det=max_det, agnostic=agnostic
            )
        xyxy = scale_boxes_from_letterbox(xyxy, boxed.ratio_wh, boxed.pad_wh, (w0, h0))
        return Detections(
            xyxy=xyxy,
            confidence=scores.astype(np.float32),
            class_id=cls.astype(np.int64),
            names=self.names,
            image_size_wh=(w0, h0),
        )


# Files Ultralytics can run as a detector (directory exports such as *_openvino_model/ are not
# resolved by detectkit.models.weights).
_DETECTOR_SUFFIXES = (".pt", ".onnx", ".xml", ".yaml", ".yml", ".torchscript", ".engine", ".tflite", ".pb", ".mnn")
_DETECTOR_TASKS = ("detect", "segment", "obb")


def check_detector_weights(weights: weights_mod.ResolvedWeights) -> None:
    """Refuse, before anything loads them, models that cannot be a YOLO detector (``ModelLoadError``)."""
    if weights.task is not None and weights.task not in _DETECTOR_TASKS:
        raise ModelLoadError(
            f"model {weights.source!r} is a {weights.task!r} model, not a detector; use it with "
            f"Classifier({weights.source!r}) or as the second stage (classifier={weights.source!r}, "
            f"CLI: --classifier {weights.source}). Detector models: "
            f"{', '.join(n for t in _DETECTOR_TASKS for n in weights_mod.known_models(t)) or '(none)'}"
        )
    suffix = weights.suffix
    if weights.path is not None and suffix not in _DETECTOR_SUFFIXES:
        hint = (
            " (.pth files are usually torchvision classifier weights: use Classifier/--classifier)"
            if suffix == ".pth"
            else ""
        )
        raise ModelLoadError(
            f"{weights.source} is not a detector model file: expected an Ultralytics .pt checkpoint, "
            f"an .onnx or OpenVINO .xml export or a .yaml config, got {suffix or 'a file without extension'!r}{hint}"
        )


def _check_device(device: str) -> None:
    """A torch device string that names hardware present on this machine."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}: {exc}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} is not available here (no CUDA GPU found); use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InvalidInputError(f"device {device!r} is not available here ({torch.cuda.device_count()} CUDA device(s))")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(f"device {device!r} is not available here (no Apple MPS); use device='cpu'")


@contextlib.contextmanager
def _loading(source: str) -> Iterator[None]:
    """Turn any failure of a third-party loader into one :class:`ModelLoadError` naming the model."""
    try:
        yield
    except DetectkitError:
        raise
    except Exception as exc:  # ultralytics raises many kinds (AssertionError, TypeError, FileNotFoundError, ...)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = re.sub(r"^ERROR\W*", "", lines[0]).rstrip(".") if lines else ""
        known = ", ".join(n for t in _DETECTOR_TASKS for n in weights_mod.known_models(t)) or "(none)"
        raise ModelLoadError(
            f"cannot load model {source!r}: {type(exc).__name__}: {detail}. Known names: {known}; or pass an "
            "Ultralytics .pt/.onnx/.yaml file (online, with YOLO_OFFLINE=0, a name such as 'yolo11n.pt')."
        ) from None


class Detector:
    """A YOLO object detector (Ultralytics checkpoints; detect, segment and OBB tasks).

    Args:
        model: a manifest name from ``weights/`` (default ``"demo-shapes"``, sha256-verified),
            a path to a ``.pt`` checkpoint, an ``.onnx`` export or a ``.yaml`` model config, or,
            online with ``YOLO_OFFLINE=0``, an Ultralytics checkpoint name such as
            ``"yolo11n.pt"``.
        conf: minimum score in ``[0, 1]`` (boxes must score strictly higher).
        iou: NMS IoU threshold in ``[0, 1]``.
        imgsz: network input size (int or ``(h, w)``); None uses the manifest's ``imgsz``, else
            the checkpoint's training size, else 640 — the same default as Ultralytics.
        classes: keep only these class ids or names.
        device: ``"cpu"``, ``"cuda:0"``, ... (torch backend).
        backend: ``"torch"``, ``"onnx"``, ``"openvino"`` or ``"auto"`` (see the module docs).
        max_det: at most this many boxes per image.
        agnostic_nms: suppress overlapping boxes across classes too (one box per object even
            when the model hesitates between two classes), as Ultralytics' ``agnostic_nms``.
        classifier: optional second stage: a :class:`~detectkit.models.classifier.Classifier`
            or a classifier model name/path. Every detected box is then cropped (10 % padding) and
            classified in batches; ``data["crop_class_id"]``, ``data["crop_confidence"]`` and
            ``data["crop_label"]`` hold the top-1 label per box. For more options (padding,
            top-k) use :class:`~detectkit.models.pipeline.Pipeline`.

    Raises:
        InvalidInputError: a bad option.
        ModelLoadError: the model cannot be resolved, verified or loaded.
        MissingDependencyError: ``backend="onnx"`` without onnxruntime (``pip install 'detectkit[onnx]'``).

    ``.pt`` checkpoints execute code when loaded (pickle): only load files you trust.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_DETECTOR,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int | tuple[int, int] | None = None,
        classes: Sequence[int | str] | None = None,
        device: str = "cpu",
        backend: Backend | str = "torch",
        max_det: int = 300,
        classifier: Any = None,
        agnostic_nms: bool = False,
    ) -> None:
        self.conf = check_fraction(conf, "conf")
        self.iou = check_fraction(iou, "iou")
        self._imgsz_arg = _check_imgsz(imgsz)
        check_choice(backend, "backend", _BACKENDS)
        if not isinstance(device, str) or not device:
            raise InvalidInputError(f"device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
        self.device = device
        if isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1:
            raise InvalidInputError(f"max_det must be a positive int, got {max_det!r}")
        self.max_det = max_det
        if not isinstance(agnostic_nms, bool):
            raise InvalidInputError(f"agnostic_nms must be True or False, got {agnostic_nms!r}")
        self.agnostic_nms = agnostic_nms
        if classes is not None and (isinstance(classes, (str, int)) or not isinstance(classes, Sequence)):
            raise InvalidInputError(f"classes must be a list of class ids or names, got {classes!r}")

        self.weights = weights_mod.resolve(model)
        if self.weights.task == "face":  # the shipped CenterFace ONNX has its own runner
            raise ModelLoadError(
                f"model {self.weights.source!r} is a face model: use detectkit.models.faces.FaceDetector"
            )
        suffix = self.weights.suffix
        check_detector_weights(self.weights)
        if suffix == ".xml" and backend in ("torch", "auto"):
            backend = "openvino"  # an OpenVINO IR runs on OpenVINO only
        if backend not in ("onnx", "openvino"):
            _check_device(device)
        if backend == "auto":
            from detectkit.models.backend_choice import choose_backend

            backend = choose_backend(self.weights, imgsz=self._imgsz_arg, device=device, onnxruntime=_has_onnxruntime())
        if backend == "openvino" and (suffix not in (".pt", ".onnx", ".xml") or self.weights.path is None):
            raise ModelLoadError(f"backend='openvino' needs a .pt, .onnx or .xml file, got {self.weights.source!r}")
        if backend == "onnx" and suffix not in (".pt", ".onnx"):
            raise ModelLoadError(f"backend='onnx' needs a .pt checkpoint or an .onnx file, got {self.weights.source!r}")
        if backend == "onnx" and self.weights.path is None:
            raise ModelLoadError(f"backend='onnx' needs a local checkpoint file, got {self.weights.source!r}")
        self.backend: str = backend
        self._yolo: Any = None
        self._torch_threads = _KeepTorchThreads()
        self._onnx: _OnnxRunner | None = None
        self.onnx_path: Path | None = None

        with _loading(self.weights.source):
            self._load_backend(backend, suffix)
        self.imgsz: int | tuple[int, int] = self._resolve_imgsz()
        self.classes: list[int] | None = None if classes is None else self._class_ids(classes)
        # optional second stage: classify every detected box (see detectkit.models.pipeline)
        self._crop_stage: Any = None
        self.classifier: Any = None
        if classifier is not None:
            from detectkit.models.pipeline import Pipeline

            self._crop_stage = Pipeline(self, classifier)
            self.classifier = self._crop_stage.classifier

    # ------------------------------------------------------------------ loading
    def _load_backend(self, backend: str, suffix: str) -> None:
        """Load the model (Ultralytics loads some formats lazily: reading names forces it)."""
        if backend == "torch":
            self._yolo = self._load_yolo()
        elif suffix == ".pt":  # onnx and openvino run an ONNX export of the checkpoint (cached)
            self.onnx_path = onnx_export(
                self.weights.path,  # type: ignore[arg-type]
                imgsz=self._export_imgsz(),
                sha256=self.weights.sha256,
            )
        else:  # an .onnx file (for openvino also an .xml IR), checked in __init__
            self.onnx_path = self.weights.path
        if self.onnx_path is not None:
            runner = _OnnxRunner(self.onnx_path, engine="openvino" if backend == "openvino" else "onnxruntime")
            if runner.task != "detect" and backend == "openvino":
                raise ModelLoadError(
                    f"backend='openvino' runs detect models only; {self.weights.source!r} is {runner.task!r}"
                )
            if runner.task != "detect":
                self._yolo = self._load_yolo(str(self.onnx_path), task=runner.task)
            else:
                self._onnx = runner
        self._names = self._read_names()
        self._task = self._read_task()
        if self._task not in _DETECTOR_TASKS:
            raise ModelLoadError(
                f"model {self.weights.source!r} is a {self._task!r} model, not a detector; use Classifier for it"
            )

    def _load_yolo(self, source: str | None = None, task: str | None = None) -> Any:
        YOLO = prepare_ultralytics().YOLO

        src = source or (str(self.weights.path) if self.weights.path is not None else self.weights.source)
        yolo = YOLO(src, task=task) if task else YOLO(src)  # failures become ModelLoadError in _loading()
        yolo.add_callback("on_predict_start", self._torch_threads)
        # with use_torchvision_kernel() (batch workers): no CPU warm-up, which only imports torchvision
        yolo.add_callback("on_predict_start", skip_import_only_warmup)
        return yolo

    def _checkpoint_imgsz(self) -> int | tuple[int, int] | None:
        if self._yolo is not None:
            value = getattr(self._yolo, "overrides", {}).get("imgsz")
            if isinstance(value, int) and value > 0:
                return value
            if isinstance(value, (list, tuple)) and len(value) == 2:
                return (int(value[0]), int(value[1]))
        return None

    def _export_imgsz(self) -> int | tuple[int, int]:
        if self._imgsz_arg is not None:
            return self._imgsz_arg
        if self.weights.imgsz is not None:
            return self.weights.imgsz
        yolo = self._load_yolo()
        self._yolo = None
        value = getattr(yolo, "overrides", {}).get("imgsz")
        return int(value) if isinstance(value, int) and value > 0 else 640

    def _resolve_imgsz(self) -> int | tuple[int, int]:
        if self._imgsz_arg is not None:
            return self._imgsz_arg
        if self.weights.imgsz is not None:
            return self.weights.imgsz
        from_ckpt = self._checkpoint_imgsz()
        if from_ckpt is not None:
            return from_ckpt
        if self._onnx is not None and self._onnx.imgsz is not None:
            return self._onnx.imgsz
        return 640

    def _read_names(self) -> dict[int, str]:
        if self._onnx is not None:
            return dict(self._onnx.names)
        names = getattr(self._yolo, "names", None) or {}
        return {int(k): str(v) for k, v in dict(names).items()}

    def _read_task(self) -> str:
        if self._onnx is not None:
            return self._onnx.task
        return str(getattr(self._yolo, "task", None) or self.weights.task or "detect")

    def _class_ids(self, classes: Sequence[int | str]) -> list[int]:
        by_name = {v: k for k, v in self._names.items()}
        out: list[int] = []
        for c in classes:
            if isinstance(c, str):
                if c not in by_name:
                    raise InvalidInputError(f"classes: unknown class name {c!r}; known: {sorted(by_name)}")
                out.append(by_name[c])
            elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                if self._names and int(c) not in self._names:
                    raise InvalidInputError(
                        f"classes: unknown class id {int(c)}; the model has ids 0..{max(self._names)}"
                    )
                out.append(int(c))
            else:
                raise InvalidInputError(f"classes must hold class ids or names, got {c!r}")
        return out

    # ------------------------------------------------------------------ properties
    @property
    def names(self) -> dict[int, str]:
        """Class id -> name of the model (a copy)."""
        return dict(self._names)

    @property
    def task(self) -> str:
        """``"detect"``, ``"segment"`` or ``"obb"``."""
        return self._task

    def __repr__(self) -> str:
        return (
            f"Detector({self.weights.source!r}, task={self.task!r}, backend={self.backend!r}, "
            f"imgsz={self.imgsz}, conf={self.conf}, iou={self.iou}, classes={len(self._names)})"
        )

    # ------------------------------------------------------------------ inference
    def detect_batch(
        self, images: Sequence[np.ndarray], *, slicing: Any = None, concurrent: bool = False
    ) -> list[Detections]:
        """Detect in already-loaded images: ``(H, W, 3)`` uint8 BGR arrays (e.g. from
        :func:`detectkit.image.load_image` or :func:`~detectkit.image.iter_images`), not copied.

        Returns one :class:`Detections` per image. With the torch backend the images go through
        one forward pass (differently sized images are then padded to a square).
        ``slicing``: sliced inference per image, as in :meth:`detect`.
        ``concurrent``: the openvino backend runs the images' inferences at once, as asynchronous
        requests to a throughput-mode model (one stream per group of cores), each image still
        letterboxed and inferred on its own (``detectkit serve`` micro-batches this way); other
        backends ignore it.
        """
        images = list(images)
        for i, img in enumerate(images):
            if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
                raise InvalidInputError(f"images[{i}] must be a (H, W, 3) uint8 BGR array, got {got}")
        return self._predict(images, _slice_config(slicing), concurrent=concurrent)

    def _predict(self, images: list[np.ndarray], slicing: Any = None, *, concurrent: bool = False) -> list[Detections]:
        if slicing is not None:  # sliced inference: detectkit.models.slicing
            from detectkit.models.slicing import detect_sliced

            out = [detect_sliced(self, img, slicing) for img in images]
        else:
            out = self._predict_boxes(images, concurrent=concurrent)
        if self._crop_stage is not None:
            out = [self._crop_stage.classify_boxes(img, d) for img, d in zip(images, out, strict=True)]
        return out

    def _predict_boxes(self, images: list[np.ndarray], *, concurrent: bool = False) -> list[Detections]:
        if not images:
            return []
        if self._onnx is not None:
            return self._onnx.many(
                images,
                concurrent=concurrent,
                imgsz=self.imgsz,
                conf=self.conf,
                iou=self.iou,
                classes=self.classes,
                max_det=self.max_det,
                agnostic=self.agnostic_nms,
            )
        with self._torch_threads.around():  # Ultralytics would leave torch on cpu_count - 1 threads
            results = self._yolo.predict(
                images if len(images) > 1 else images[0],
                conf=self.conf,
                iou=self.iou,
                imgsz=self.imgsz,
                classes=self.classes,
                device=self.device,
                max_det=self.max_det,
                agnostic_nms=self.agnostic_nms,
                verbose=False,
                save=False,
            )
        return [Detections.from_ultralytics(r) for r in results]

    def detect(self, source: ImageSource | Sequence[ImageSource], *, slicing: Any = None) -> Any:
        """Detect objects in one image (-> :class:`Detections`) or a list of images (-> list).

        Args:
            source: a path, bytes, a numpy array (BGR) or a PIL image; or a list/tuple of them.
                For folders, videos and cameras use :meth:`detect_stream`.
            slicing: sliced (tiled) inference for large images with small objects: a
                :class:`~detectkit.slicing.SliceConfig`, or a tile size (int or ``(w, h)``) or
                ``"auto"`` with the default options (see :mod:`detectkit.models.slicing`).

        Returns:
            ``Detections`` with ``names`` and ``image_size_wh`` set (``mask`` for segmentation
            models, ``data["obb"]``/``data["obb_polygon"]`` for OBB models), or a list of them.

        Raises:
            InvalidInputError: an image cannot be loaded (the message names it).
        """
        config = _slice_config(slicing)
        if isinstance(source, (list, tuple)):
            return [self.detect(item, slicing=config) for item in source]
        if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
            raise InvalidInputError(f"{os.fspath(source)} is a folder; use detect_stream() for folders and videos")
        return self._predict([load_image(source)], config)[0]  # type: ignore[arg-type]

    __call__ = detect

    def detect_stream(
        self,
        source: Any,
        *,
        batch_size: int = 1,
        recursive: bool = False,
        vid_stride: int = 1,
        on_error: Callable[[FrameInfo, DetectkitError], None] | None = None,
        slicing: Any = None,
        tracker: Any = None,
    ) -> Iterator[tuple[FrameInfo, Detections]]:
        """Detect lazily over a folder, video, camera index, list or single image.

        Args:
            source: anything :func:`detectkit.image.iter_images` accepts.
            batch_size: images per forward pass (torch backend; 1 reproduces single-image
                predict exactly, larger batches of differently sized images are padded square).
            recursive: descend into sub-folders.
            vid_stride: keep every n-th video frame.
            on_error: called with ``(info, error)`` for an input that fails to load, which is then
                skipped. Without it the first failure raises.
            slicing: sliced inference for every frame, as in :meth:`detect`.
            tracker: None, a tracker name (``"botsort"``, ``"bytetrack"``, ``"ocsort"``,
                ``"sort"``) or a :class:`detectkit.video.Tracker`: fills ``tracker_id`` (see
                :meth:`track`).

        Yields:
            ``(FrameInfo, Detections)`` per image, in source order.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        config = _slice_config(slicing)
        frames = iter_images(source, recursive=recursive, vid_stride=vid_stride)
        if tracker is not None:  # tracking lives in detectkit.video
            from detectkit.video.tracker import track_stream, video_fps

            rate = video_fps(source) / vid_stride
            return track_stream(self._stream(frames, batch_size, on_error, config), tracker, frame_rate=rate)
        return self._stream(frames, batch_size, on_error, config)

    def track(
        self,
        source: Any,
        tracker: Any = "botsort",
        *,
        vid_stride: int = 1,
        frame_rate: float | None = None,
        **tracker_options: Any,
    ) -> Iterator[tuple[FrameInfo, Detections]]:
        """Detect and track over a video, camera, folder of frames or list: stable ``tracker_id``.

        Args:
            source: anything :meth:`detect_stream` accepts.
            tracker: a name (``"botsort"`` default, ``"bytetrack"``, ``"ocsort"``, ``"sort"``)
                or a :class:`detectkit.video.Tracker`. Each call tracks its own stream: two
                calls never share ids, and ids restart at 1 for each source of a list.
            vid_stride: keep every n-th video frame.
            frame_rate: frames per second of the stream (default: the video's, else 30).
            **tracker_options: options of :class:`detectkit.video.Tracker` (e.g.
                ``lost_track_buffer=60``).

        Yields:
            ``(FrameInfo, Detections)`` per frame; only tracked boxes, ``tracker_id`` >= 1.
        """
        from detectkit.video.tracker import track_stream, video_fps

        frames = iter_images(source, vid_stride=vid_stride)
        rate = frame_rate if frame_rate is not None else video_fps(source) / vid_stride
        if not isinstance(tracker, str):
            return track_stream(self._stream(frames, 1, None), tracker, **tracker_options)
        return track_stream(self._stream(frames, 1, None), tracker, frame_rate=rate, **tracker_options)

    def _stream(
        self,
        frames: Iterator[Any],
        batch_size: int,
        on_error: Callable[[FrameInfo, DetectkitError], None] | None,
        slicing: Any = None,
    ) -> Iterator[tuple[FrameInfo, Detections]]:
        batch: list[tuple[FrameInfo, np.ndarray]] = []
        for frame in frames:
            if frame.error is not None:
                if on_error is None:
                    raise frame.error
                on_error(frame.info, frame.error)
                continue
            batch.append((frame.info, frame.image))
            if len(batch) >= batch_size:
                yield from zip((i for i, _ in batch), self._predict([img for _, img in batch], slicing))
                batch = []
        if batch:
            yield from zip((i for i, _ in batch), self._predict([img for _, img in batch], slicing))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, dataset: Any, *, iou_type: str = "bbox") -> Any:
        """Run the detector over every image of ``dataset`` and evaluate it the COCO way.

        Classes are matched to the dataset's categories by name (else by id). mAP integrates
        over all confidences, so for COCO-comparable numbers build the detector with a low
        ``conf`` (e.g. ``Detector(conf=0.001)``).

        Args:
            dataset: a ``Dataset`` whose image records point at readable image files, or a path
                that :func:`detectkit.formats.read` reads (e.g. ``"datasets/shapes/data.yaml"``).
            iou_type: ``"bbox"``, or ``"segm"`` for segmentation models.

        Returns:
            :class:`detectkit.metrics.Metrics` (see :func:`detectkit.metrics.evaluate_detector`).
        """
        from detectkit.dataset import Dataset
        from detectkit.metrics import evaluate_detector

        if isinstance(dataset, (str, os.PathLike)):
            from detectkit.formats import read

            dataset = read(dataset)
        if not isinstance(dataset, Dataset):
            raise InvalidInputError(
                "dataset must be a Dataset or a path to one (COCO JSON, YOLO folder, ...), "
                f"got {type(dataset).__name__}"
            )
        return evaluate_detector(self, dataset, iou_type=iou_type)  # type: ignore[arg-type]
