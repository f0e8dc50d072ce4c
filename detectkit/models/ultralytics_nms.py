"""Ultralytics' NMS on torchvision's own kernel, without importing the torchvision package.

Native Ultralytics runs NMS with ``torchvision.ops.nms`` once torchvision is imported, and its
predictor imports it on the first call (``AutoBackend.warmup``, which on CPU runs no forward pass
and does nothing else). ``import torchvision`` costs about 1.3 s of a fresh process on this
machine: ``torchvision.ops.roi_align`` (0.29) imports ``torch._dynamo`` eagerly, which pulls in
sympy, triton, torch.distributed and the inductor config. A worker process that loads a detector
once pays that at every start.

:func:`use_torchvision_kernel` loads torchvision's compiled operator library (the one
``torchvision/extension.py`` loads, about 1 ms) and routes Ultralytics' torch NMS fallback
(``ultralytics.utils.nms.TorchNMS.nms``, used when ``torchvision`` is not in ``sys.modules``) to
``torch.ops.torchvision.nms``, the kernel ``torchvision.ops.nms`` calls: the boxes stay
bit-identical to native Ultralytics. A :class:`~detectkit.models.detector.Detector` then skips
Ultralytics' CPU warm-up, whose only effect is the import. Ultralytics' own fallback
(``TorchNMS.nms``) is no substitute: against ``torchvision.ops.nms`` it returned another order in
95 % of 1000 random cases with tied scores (other boxes in 1 %), differed in 2 of 1000 without
ties, and was 15x slower on 3000 boxes.

The change is process-wide (a class attribute of Ultralytics), so it is opt-in, for processes
that run detectkit's torch detector and nothing that needs the torchvision package: batch
workers. Importing torchvision later in the process is harmless (Ultralytics then calls the same
kernel through the package).

>>> from detectkit.models import ultralytics_nms
>>> isinstance(ultralytics_nms.active(), bool)  # off unless a batch worker ran in this process
True
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["active", "skip_import_only_warmup", "torchvision_extension", "use_torchvision_kernel"]

_ACTIVE = False
_LIBRARIES = ("_C_stable", "_C")  # torchvision >= 0.29 builds its operators against torch's stable ABI


def active() -> bool:
    """True once :func:`use_torchvision_kernel` has routed Ultralytics' NMS to torchvision's kernel."""
    return _ACTIVE


def torchvision_extension() -> Path | None:
    """The path of torchvision's compiled operator library, found without importing torchvision
    (None when torchvision is not installed or has no compiled operators).

    >>> path = torchvision_extension()
    >>> path is None or path.name.startswith("_C")
    True
    """
    from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, FileFinder

    try:
        spec = importlib.util.find_spec("torchvision")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        finder = FileFinder(folder, (ExtensionFileLoader, EXTENSION_SUFFIXES))
        for name in _LIBRARIES:
            found = finder.find_spec(name)
            if found is not None and found.origin:
                return Path(found.origin)
    return None


def use_torchvision_kernel() -> bool:
    """Run Ultralytics' NMS on torchvision's kernel without ``import torchvision`` (process-wide).

    Returns True when the kernel is in use (also on a second call), False when nothing was
    changed: torchvision is already imported (Ultralytics uses it; nothing to gain), or its
    compiled operators cannot be found or loaded (Ultralytics imports torchvision as usual).
    Call it before the first prediction; it imports torch and Ultralytics
    (:func:`~detectkit.models.prepare_ultralytics`).
    """
    global _ACTIVE
    if _ACTIVE:
        return True
    if "torchvision" in sys.modules:
        return False
    library = torchvision_extension()
    if library is None:
        return False
    import torch

    try:
        torch.ops.load_library(str(library))  # type: ignore[no-untyped-call]
        kernel = torch.ops.torchvision.nms
    except (OSError, RuntimeError, AttributeError):  # a build that does not match this torch
        return False
    from detectkit.models import prepare_ultralytics

    prepare_ultralytics()
    try:
        from ultralytics.utils.nms import TorchNMS

        fallback = TorchNMS.nms
    except (ImportError, AttributeError):  # another Ultralytics layout: it imports torchvision as usual
        return False

    def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
        """``torchvision.ops.nms`` for CPU tensors (its kernel, called as it calls it); Ultralytics'
        own NMS elsewhere (only reached where torchvision has no kernel)."""
        if boxes.device.type == "cpu":
            return kernel(boxes, scores, iou_threshold)
        return fallback(boxes, scores, iou_threshold)

    TorchNMS.nms = staticmethod(nms)  # type: ignore[method-assign]
    _ACTIVE = True
    return True


def skip_import_only_warmup(predictor: Any) -> None:
    """An Ultralytics ``on_predict_start`` callback: with :func:`use_torchvision_kernel` active,
    mark a CPU model as warmed up. ``AutoBackend.warmup`` runs no forward pass on CPU (except for
    TorchScript and Triton models); all it does there is ``import torchvision``."""
    if not _ACTIVE or predictor is None or getattr(predictor, "done_warmup", True):
        return
    model = getattr(predictor, "model", None)
    device = getattr(model, "device", None)
    if getattr(device, "type", None) == "cpu" and getattr(model, "format", None) not in ("torchscript", "triton"):
        predictor.done_warmup = True
