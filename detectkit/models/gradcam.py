"""Grad-CAM: class activation heatmaps of a convolutional classifier and a box from each.

:meth:`detectkit.models.classifier.Classifier.localize` runs these on its network: the map is
Grad-CAM on the output of the last top-level block with a spatial 4-D output (identical to CAM
for global-average-pool + linear heads), normalised to [0, 1]; the box is the largest
8-connected region above a threshold. torch and OpenCV are imported inside the functions.

>>> import numpy as np
>>> heat = np.zeros((4, 4), np.float32)
>>> heat[1:3, 2:4] = 1.0
>>> largest_component_box(heat, 0.5, (8, 8))
[4.0, 2.0, 8.0, 6.0]
>>> resize_heatmap(heat, (8, 2)).shape
(2, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit.errors import InvalidInputError, ModelLoadError

if TYPE_CHECKING:
    import torch

__all__ = ["find_cam_layer", "grad_cam", "largest_component_box", "resize_heatmap"]


def find_cam_layer(model: torch.nn.Module, *, input_size: int, device: Any, architecture: str) -> torch.nn.Module:
    """The last top-level block of ``model`` whose output is a spatial (B, C, H, W) map with H * W > 1.

    Found with forward hooks on one ``input_size`` x ``input_size`` zero image.

    Raises:
        ModelLoadError: no block has a spatial output (e.g. a vision transformer).
    """
    import torch

    root: torch.nn.Module = model
    children = list(root.named_children())
    while len(children) == 1:
        root = children[0][1]
        children = list(root.named_children())
    shapes: dict[int, tuple[int, ...]] = {}
    handles = [
        module.register_forward_hook(
            lambda m, i, o, k=k: shapes.__setitem__(k, tuple(o.shape)) if isinstance(o, torch.Tensor) else None
        )
        for k, (_, module) in enumerate(children)
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    spatial = [k for k, shape in shapes.items() if len(shape) == 4 and shape[2] * shape[3] > 1]
    if not spatial:
        raise ModelLoadError(
            f"localize needs a convolutional feature map; architecture {architecture!r} has none "
            "(e.g. a vision transformer)"
        )
    return children[max(spatial)][1]


def grad_cam(model: torch.nn.Module, x: torch.Tensor, layer: torch.nn.Module, classes: Sequence[int]) -> np.ndarray:
    """Grad-CAM maps of ``classes`` for the one image ``x`` (1, 3, H, W) at ``layer``.

    Returns:
        float32 ``(len(classes), H, W)`` maps (bilinear from the layer's resolution to the
        input's), each divided by its maximum (an all-zero map stays zero).
    """
    import torch

    captured: list[torch.Tensor] = []

    def hook(_m: torch.nn.Module, _inp: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.detach().requires_grad_(True)
        captured.append(out)
        return out

    handle = layer.register_forward_hook(hook)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            logits = model(x.clone())
            feats = captured[-1]
            maps = []
            for i, c in enumerate(classes):
                (grad,) = torch.autograd.grad(logits[0, c], feats, retain_graph=i < len(classes) - 1)
                weights = grad.mean(dim=(2, 3), keepdim=True)
                maps.append(torch.relu((weights * feats).sum(dim=1))[0])
            cams = torch.stack(maps)[:, None].detach()
    finally:
        handle.remove()
    cams = torch.nn.functional.interpolate(cams, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    heat = cams[:, 0].float().cpu().numpy()
    peak = heat.reshape(len(classes), -1).max(axis=1)
    out: np.ndarray = np.where(peak[:, None, None] > 0, heat / np.maximum(peak, 1e-12)[:, None, None], 0.0).astype(
        np.float32
    )
    return out


def largest_component_box(heat: np.ndarray, threshold: float, image_size_wh: tuple[int, int]) -> list[float]:
    """xyxy (image pixels) of the largest connected region of ``heat >= threshold``; the whole
    image when the map is all zero or nothing reaches the threshold."""
    import cv2

    width, height = image_size_wh
    h, w = heat.shape
    if heat.max() <= 0:
        return [0.0, 0.0, float(width), float(height)]
    binary = (heat >= threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return [0.0, 0.0, float(width), float(height)]
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x0, y0, bw, bh = (int(v) for v in stats[k, :4])
    sx, sy = width / w, height / h
    return [x0 * sx, y0 * sy, min((x0 + bw) * sx, width), min((y0 + bh) * sy, height)]


def resize_heatmap(heatmap: np.ndarray, image_size_wh: tuple[int, int]) -> np.ndarray:
    """Resize one ``(h, w)`` heatmap (as stored by :meth:`Classifier.localize`) to the image size.

    Args:
        heatmap: float ``(h, w)`` map covering the whole image.
        image_size_wh: ``(width, height)`` of the image.

    Returns:
        float32 ``(height, width)`` map (bilinear).

    >>> resize_heatmap(np.ones((2, 3), np.float32), (6, 4)).shape
    (4, 6)
    """
    import cv2

    from detectkit._checks import check_image_size_wh

    w, h = check_image_size_wh(image_size_wh)
    arr = np.asarray(heatmap, dtype=np.float32)
    if arr.ndim != 2:
        raise InvalidInputError(f"heatmap must be 2-D (h, w), got shape {arr.shape}")
    return np.asarray(cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
