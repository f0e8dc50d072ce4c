"""Classifiers exported by ``detectkit export``: ONNX (onnxruntime) and OpenVINO IR files.

An exported classifier carries its class names and pre-processing as string metadata (ONNX
``metadata_props`` / the IR's ``rt_info``, see :data:`CLASSIFIER_KEYS`), so
``Classifier("model.onnx")`` needs nothing else. The network runs on onnxruntime (``.onnx``) or
OpenVINO (``.xml``) behind a small ``torch.nn.Module`` whose ``forward`` hands the batch to the
runtime, so :class:`~detectkit.models.classifier.Classifier` keeps its own pre-processing and
top-k code. Class-activation localisation needs the torch network and is not available.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

__all__ = ["CLASSIFIER_KEYS", "classifier_metadata", "load_exported_classifier", "open_session"]

#: Metadata keys of an exported classifier (values are JSON strings).
CLASSIFIER_KEYS = ("task", "names", "resize_size", "crop_size", "mean", "std", "architecture")


def classifier_metadata(
    names: dict[int, str],
    *,
    resize_size: int,
    crop_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    architecture: str,
) -> dict[str, str]:
    """The string metadata an exported classifier file carries.

    >>> classifier_metadata({0: "a"}, resize_size=256, crop_size=224, mean=(0.5,) * 3, std=(0.5,) * 3,
    ...                     architecture="mobilenet_v2")["names"]
    '{"0": "a"}'
    """
    return {
        "task": "classify",
        "names": json.dumps({str(k): v for k, v in names.items()}),
        "resize_size": str(int(resize_size)),
        "crop_size": str(int(crop_size)),
        "mean": json.dumps([float(v) for v in mean]),
        "std": json.dumps([float(v) for v in std]),
        "architecture": architecture,
    }


def open_session(path: Path) -> Any:
    """An onnxruntime session for ``.onnx``, an :class:`OpenVinoSession` for ``.xml``."""
    if path.suffix.lower() == ".xml":
        from detectkit.models.openvino_runtime import OpenVinoSession

        return OpenVinoSession(path)
    try:
        import onnxruntime as ort
    except ImportError:
        from detectkit.errors import MissingDependencyError

        raise MissingDependencyError("onnxruntime", extra="onnx", purpose="loading .onnx classifiers") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    from detectkit.models.runtime_threads import runtime_threads

    options.intra_op_num_threads = runtime_threads()  # as the detector's onnx backend
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"cannot load ONNX model {path}: {type(exc).__name__}: {exc}") from None


def _metadata(session: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


def load_exported_classifier(path: Path) -> tuple[torch.nn.Module, dict[int, str], dict[str, Any]]:
    """``(logits module, names, Preprocess keyword arguments)`` of an exported classifier file.

    Raises:
        ModelLoadError: the file is not a classifier exported by detectkit (no metadata).
    """
    import torch

    session = open_session(path)
    meta = _metadata(session)
    if meta.get("task") != "classify" or "names" not in meta:
        raise ModelLoadError(
            f"{path} is not a classifier exported by detectkit (no 'task: classify' metadata); "
            "export it with `detectkit export MODEL --format onnx|openvino`, or load detectors with Detector()"
        )
    try:
        names = {int(k): str(v) for k, v in json.loads(meta["names"]).items()}
        pre = {
            "resize_size": int(meta["resize_size"]),
            "crop_size": int(meta["crop_size"]),
            "mean": tuple(float(v) for v in json.loads(meta["mean"])),
            "std": tuple(float(v) for v in json.loads(meta["std"])),
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path}: bad classifier metadata ({type(exc).__name__}: {exc})") from None
    input_name = session.get_inputs()[0].name

    class RuntimeLogits(torch.nn.Module):
        """Hands each batch to the ONNX/OpenVINO runtime; returns its logits as a tensor."""

        def __init__(self) -> None:
            super().__init__()
            self.session = session

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
            return torch.from_numpy(np.asarray(self.session.run(None, {input_name: batch})[0]))

    return RuntimeLogits(), names, pre
