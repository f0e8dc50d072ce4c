"""OpenVINO runtime behind the small part of onnxruntime's ``InferenceSession`` API we use.

:class:`OpenVinoSession` reads an ``.onnx`` file or an OpenVINO IR (``.xml`` + ``.bin``),
compiles it for the CPU and answers ``get_inputs()``, ``get_outputs()``,
``get_modelmeta().custom_metadata_map`` and ``run(None, {name: array})`` like an onnxruntime
session, so the detector's own pre- and post-processing (letterbox, decoding, NMS) and the
exported-classifier wrapper run unchanged on either runtime.

Model metadata (class names, task, stride, imgsz, ...) is read from the ONNX file's
``metadata_props``, or for IR files from the ``rt_info`` entry ``detectkit`` (a JSON object) that
:func:`save_ir` writes (plus Ultralytics' ``metadata.yaml`` beside the file, when present).

Threads: ``$DETECTKIT_ORT_THREADS`` when set (shared with the onnxruntime backend), else
OpenVINO's latency default (one stream over the physical cores).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from detectkit.errors import MissingDependencyError, ModelLoadError

__all__ = [
    "RT_INFO_SECTION",
    "OpenVinoSession",
    "has_openvino",
    "import_openvino",
    "read_metadata",
    "read_onnx_metadata",
    "save_ir",
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


def _threads() -> int:
    env = os.environ.get("DETECTKIT_ORT_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else 0


def _dims(partial_shape: Any) -> list[int | str]:
    return [int(d.get_length()) if d.is_static else "?" for d in partial_shape]


class OpenVinoSession:
    """An OpenVINO CPU model with the onnxruntime-session methods detectkit's runners call.

    Args:
        path: an ``.onnx`` file or an IR ``.xml`` (its ``.bin`` beside it).

    Raises:
        MissingDependencyError: OpenVINO is not installed (``pip install 'detectkit[openvino]'``).
        ModelLoadError: the file cannot be read or compiled.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        ov = import_openvino()
        self.path = Path(path)
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as exc:
            raise ModelLoadError(f"cannot load {self.path} with OpenVINO: {type(exc).__name__}: {exc}") from None
        if self.path.suffix.lower() == ".onnx":
            self.metadata = read_onnx_metadata(self.path)
        else:
            self.metadata = _ir_metadata(model, self.path)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if _threads():
            config["INFERENCE_NUM_THREADS"] = _threads()
        try:
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:
            raise ModelLoadError(f"OpenVINO cannot compile {self.path}: {type(exc).__name__}: {exc}") from None
        self._request = self._compiled.create_infer_request()
        self._inputs = [SimpleNamespace(name=p.get_any_name(), shape=_dims(p.partial_shape)) for p in model.inputs]
        self._outputs = [SimpleNamespace(name=p.get_any_name(), shape=_dims(p.partial_shape)) for p in model.outputs]

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
        """Run one inference; returns the outputs (all, or ``output_names``) as numpy arrays."""
        inputs = {i: np.ascontiguousarray(feed[spec.name]) for i, spec in enumerate(self._inputs)}
        result = self._request.infer(inputs)
        wanted = [o.name for o in self._outputs] if output_names is None else list(output_names)
        by_name = {o.name: i for i, o in enumerate(self._outputs)}
        return [np.array(result[self._compiled.outputs[by_name[n]]]) for n in wanted]
