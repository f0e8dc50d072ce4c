"""Augmentation presets on ``torchvision.transforms.v2`` (BSD; no AGPL dependency).

Presets ``"none" | "light" | "strong"``:

* :func:`classifier_transform` — training transform of a classifier: the preset's random
  geometry and photometric changes, then the exact tensor layout :class:`~detectkit.models.classifier.Classifier`
  feeds its network (float, ImageNet mean/std). ``"none"`` is the evaluation transform itself:
  resize the shorter side, centre crop (torchvision's ``ImageClassification`` preset).
* :func:`detection_transform` — box-aware: the same kinds of changes applied to an image and its
  ``tv_tensors.BoundingBoxes`` together (boxes follow flips and affine moves; boxes pushed out of
  the image are dropped by ``SanitizeBoundingBoxes``).

User-composable: every function returns a plain ``v2.Compose``; pass your own transform instead
(``train_classifier(..., augment=v2.Compose([...]))``), or take :func:`preset_ops` and add to it.

>>> import torch
>>> t = classifier_transform("light", crop_size=64, resize_size=72)
>>> t(torch.zeros(3, 100, 80, dtype=torch.uint8)).shape
torch.Size([3, 64, 64])
>>> PRESETS
('none', 'light', 'strong')
"""

from __future__ import annotations

from typing import Any

from detectkit._checks import check_choice

__all__ = ["PRESETS", "ShorterSideResize", "classifier_transform", "detection_transform", "preset_ops"]

PRESETS = ("none", "light", "strong")
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class ShorterSideResize:
    """Resize the shorter side to ``size`` with ``torchvision.transforms.functional.resize``
    (bilinear, antialiased), bit-identical to :class:`~detectkit.models.classifier.Classifier`'s
    pre-processing; ``v2.Resize`` differs by one grey level on some uint8 pixels."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, image: Any) -> Any:
        from torchvision.transforms import functional as tvf

        return tvf.resize(image, [self.size], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)

    def __repr__(self) -> str:
        return f"ShorterSideResize({self.size})"


def preset_ops(preset: str, *, crop_size: int, resize_size: int | None = None) -> list[Any]:
    """The random (and sizing) ``v2`` ops of a classifier preset, on uint8 ``(3, H, W)`` tensors."""
    from torchvision.transforms import v2

    check_choice(preset, "augment", PRESETS)
    resize = resize_size or round(crop_size * 256 / 224)
    if preset == "none":  # exactly Classifier's resize (v2.Resize's uint8 path rounds differently)
        return [ShorterSideResize(resize), v2.CenterCrop(crop_size)]
    if preset == "light":
        return [
            v2.RandomResizedCrop(crop_size, scale=(0.6, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        ]
    return [
        v2.RandomResizedCrop(crop_size, scale=(0.3, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(20),
        v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05),
        v2.RandomGrayscale(p=0.1),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2),
    ]


def classifier_transform(
    preset: str,
    *,
    crop_size: int = 224,
    resize_size: int | None = None,
    mean: tuple[float, float, float] = _MEAN,
    std: tuple[float, float, float] = _STD,
) -> Any:
    """uint8 RGB ``(3, H, W)`` tensor -> normalised float ``(3, crop, crop)``, with the preset's augmentation."""
    import torch
    from torchvision.transforms import v2

    ops = preset_ops(preset, crop_size=crop_size, resize_size=resize_size)
    tail: list[Any] = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if preset == "strong":
        tail.append(v2.RandomErasing(p=0.25, scale=(0.02, 0.15)))
    return v2.Compose([*ops, *tail])


def detection_transform(preset: str) -> Any:
    """Box-aware augmentation: call it with ``(image_tensor, tv_tensors.BoundingBoxes)``; the boxes follow."""
    from torchvision.transforms import v2

    check_choice(preset, "augment", PRESETS)
    if preset == "none":
        return v2.Compose([v2.Identity()])
    if preset == "light":
        ops: list[Any] = [
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.8, 1.2)),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        ]
    else:
        ops = [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(p=0.2),
            v2.RandomAffine(degrees=10, translate=(0.2, 0.2), scale=(0.6, 1.4)),
            v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05),
            v2.RandomGrayscale(p=0.1),
        ]
    return v2.Compose([*ops, v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(labels_getter=None)])
