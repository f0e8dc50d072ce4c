"""Adversarial robustness: FGSM and PGD in plain torch, and accuracy / mAP50 against their strength.

What is attacked
    Images in **pixel space**: an RGB tensor in ``[0, 1]`` at the image's own resolution. The
    model's whole pre-processing (resize, crop or letterbox, normalisation) is re-done in torch
    *inside* the attacked function, so the perturbation is a change of pixel values and every
    adversarial image is a valid image: clipped to ``[0, 1]`` and to the L-infinity ball of
    radius ``eps`` around the original after every step (torchattacks' issues 63 and 191 were
    attacks run on normalised tensors, whose "images" fall outside [0, 1]). The adversarial
    image is then rounded to uint8 and fed to the ordinary :class:`Classifier` or
    :class:`Detector` path, so ``eps=0`` reproduces the clean result exactly.

    * Classifiers: untargeted, maximise the cross-entropy of the true class (the label, or the
      clean top-1 when no labels are given). Reported: top-1 accuracy per ``eps``.
    * Detectors (YOLO, torch backend): a "vanishing" attack on the raw output: minimise the sum
      over anchors of each anchor's best class score, counting anchors whose score is above
      0.05 (the objects the detector would report). Reported: mAP50 per ``eps`` from
      :func:`detectkit.metrics.evaluate_detector`.

    FGSM is one step of size ``eps`` along the gradient sign; PGD is ``steps`` steps of size
    ``alpha`` (default ``2.5 * eps / steps``) from the clean image (no random start, so results
    are deterministic).

Defence (optional, measured)
    ``defence="jpeg"`` re-compresses every input as JPEG (quality 75) before the model sees it;
    the report then holds the accuracy with and without it at every ``eps``.

>>> import torch
>>> x = torch.full((1, 3, 4, 4), 0.5)
>>> adv = pgd(lambda t: t.sum(), x, eps=8 / 255, steps=3)
>>> bool((adv - x).abs().max() <= 8 / 255 + 1e-7), bool(adv.min() >= 0), bool(adv.max() <= 1)
(True, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from detectkit.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from detectkit.models.classifier import Classifier
    from detectkit.models.detector import Detector

__all__ = [
    "ATTACKS",
    "RobustnessReport",
    "attack_image",
    "classifier_robustness",
    "detector_robustness",
    "fgsm",
    "jpeg_defence",
    "pgd",
]

Attack = Literal["fgsm", "pgd"]
ATTACKS: tuple[str, ...] = ("fgsm", "pgd")


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= float(eps) <= 1.0:
        raise InvalidInputError(f"eps must be a number in [0, 1] (pixel scale), got {eps!r}")
    return float(eps)


def fgsm(loss_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` that increases ``loss_fn``; stays in ``[0, 1]``.

    Args:
        loss_fn: maps a ``[0, 1]`` image batch to a scalar to maximise.
        x: ``(B, 3, H, W)`` float images in ``[0, 1]``.
        eps: L-infinity radius in pixel scale (``8/255`` = eight grey levels).
    """
    return pgd(loss_fn, x, eps, steps=1, alpha=eps)


def pgd(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    alpha: float | None = None,
) -> torch.Tensor:
    """Projected gradient ascent on ``loss_fn`` within the L-infinity ball ``eps`` around ``x``.

    After every step the image is projected back to the ball and clipped to ``[0, 1]``.

    Args:
        loss_fn: maps a ``[0, 1]`` image batch to a scalar to maximise.
        x: ``(B, 3, H, W)`` float images in ``[0, 1]`` (not changed).
        eps: L-infinity radius in pixel scale.
        steps: gradient steps.
        alpha: step size (default ``2.5 * eps / steps``, Madry et al.).

    Returns:
        The adversarial images, detached, same shape and dtype as ``x``.
    """
    import torch

    eps = _check_eps(eps)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps must be a positive int, got {steps!r}")
    step = 2.5 * eps / steps if alpha is None else float(alpha)
    x = x.detach()
    if eps == 0.0:
        return x.clone()
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = loss_fn(adv)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + step * grad.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp_(0.0, 1.0)
    return adv.detach()


def attack_image(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    bgr: np.ndarray,
    *,
    attack: Attack | str,
    eps: float,
    steps: int = 10,
) -> np.ndarray:
    """Attack one uint8 BGR image and return the adversarial image as uint8 BGR.

    ``loss_fn`` receives a ``(1, 3, H, W)`` RGB float tensor in ``[0, 1]``. Rounding to uint8
    keeps the result in the ``eps`` ball when ``eps`` is a multiple of 1/255.
    """
    import torch

    if attack not in ATTACKS:
        raise InvalidInputError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}")
    x = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)[None].float() / 255.0
    adv = fgsm(loss_fn, x, eps) if attack == "fgsm" else pgd(loss_fn, x, eps, steps=steps)
    out = (adv[0].permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[:, :, ::-1])


def jpeg_defence(bgr: np.ndarray, quality: int = 75) -> np.ndarray:
    """Re-compress an image as JPEG: a cheap input transformation that removes fine perturbations."""
    import cv2

    ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGR
        return bgr
    return np.asarray(cv2.imdecode(enc, cv2.IMREAD_COLOR))


@dataclass
class RobustnessReport:
    """Accuracy (classifiers: top-1; detectors: mAP50) per ``eps``, with and without the defence.

    Attributes:
        task: ``"classify"`` or ``"detect"``.
        metric: ``"top1"`` or ``"map50"``.
        attack: ``"fgsm"`` or ``"pgd"``.
        steps: PGD steps.
        eps: the strengths, pixel scale.
        values: metric per eps (no defence).
        defended: metric per eps with the defence applied, or None.
        defence: the defence's name, or None.
        images: how many images.
        examples: per image, the prediction per eps (classifiers: class name; detectors: box count).
        attacked: what was attacked, in words (for the JSON).
    """

    task: str
    metric: str
    attack: str
    steps: int
    eps: list[float]
    values: list[float]
    defended: list[float] | None = None
    defence: str | None = None
    images: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    attacked: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "task": self.task,
            "metric": self.metric,
            "attack": self.attack,
            "steps": self.steps if self.attack == "pgd" else 1,
            "eps": self.eps,
            "eps_255": [round(e * 255, 3) for e in self.eps],
            "values": self.values,
            "defence": self.defence,
            "defended": self.defended,
            "images": self.images,
            "attacked": self.attacked,
            "examples": self.examples,
        }


def _classifier_loss(classifier: Classifier, label: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cross-entropy of ``label`` through the classifier's own pre-processing, re-done in torch."""
    import torch
    from torchvision.transforms import functional as tvf

    pre = classifier.preprocess
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    target = torch.tensor([label])

    def loss(x: torch.Tensor) -> torch.Tensor:
        y = tvf.resize(x, [pre.resize_size], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
        y = tvf.center_crop(y, [pre.crop_size, pre.crop_size])
        logits = classifier.model(((y - mean) / std).to(classifier.device))
        return torch.nn.functional.cross_entropy(logits.float().cpu(), target)

    return loss


def classifier_robustness(
    classifier: Classifier,
    images: Sequence[np.ndarray],
    labels: Sequence[int] | None = None,
    *,
    attack: Attack | str = "pgd",
    eps: Sequence[float] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255),
    steps: int = 10,
    defence: Literal["jpeg"] | None = None,
    names: Sequence[str] | None = None,
    keep_images: int = 0,
) -> tuple[RobustnessReport, list[list[np.ndarray]]]:
    """Top-1 accuracy of ``classifier`` under ``attack`` at each ``eps``.

    Args:
        classifier: a :class:`~detectkit.models.classifier.Classifier`.
        images: uint8 BGR images.
        labels: true class ids; default the clean top-1 (accuracy is then agreement with the
            clean prediction, 1.0 at ``eps=0`` by definition).
        attack: ``"fgsm"`` or ``"pgd"``.
        eps: strengths in pixel scale.
        steps: PGD steps.
        defence: ``"jpeg"`` to also measure accuracy after JPEG re-compression.
        names: display names of the images (for ``examples``).
        keep_images: return the adversarial images of the first this many images.

    Returns:
        The report and, per kept image, its adversarial image per eps.
    """
    import torch

    eps_list = [_check_eps(e) for e in eps]
    if not images:
        raise InvalidInputError("images must not be empty")
    clean = [c.class_id[0] for c in classifier.classify_many(list(images), top_k=1)]
    truth = [int(c) for c in clean] if labels is None else [int(v) for v in labels]
    if len(truth) != len(images):
        raise InvalidInputError(f"labels must have one entry per image ({len(images)}), got {len(truth)}")
    correct = np.zeros((len(eps_list), len(images)), bool)
    defended = np.zeros_like(correct)
    examples: list[dict[str, Any]] = []
    kept: list[list[np.ndarray]] = []
    classifier.model.eval()
    for i, (img, label) in enumerate(zip(images, truth)):
        loss = _classifier_loss(classifier, label)
        row: dict[str, Any] = {"image": names[i] if names else str(i), "label": classifier.names.get(label, str(label))}
        adv_images = []
        for k, e in enumerate(eps_list):
            with torch.enable_grad():
                adv = attack_image(loss, img, attack=attack, eps=e, steps=steps)
            pred = int(classifier.classify(adv, top_k=1).class_id[0])
            correct[k, i] = pred == label
            row[f"{e * 255:g}/255"] = classifier.names.get(pred, str(pred))
            if defence == "jpeg":
                defended[k, i] = int(classifier.classify(jpeg_defence(adv), top_k=1).class_id[0]) == label
            if i < keep_images:
                adv_images.append(adv)
        examples.append(row)
        if i < keep_images:
            kept.append(adv_images)
    report = RobustnessReport(
        task="classify",
        metric="top1",
        attack=str(attack),
        steps=steps,
        eps=eps_list,
        values=[float(v) for v in correct.mean(1)],
        defended=[float(v) for v in defended.mean(1)] if defence else None,
        defence=defence,
        images=len(images),
        examples=examples,
        attacked="cross-entropy of the true class (clean top-1 when unlabelled), pixel space [0, 1], "
        "resize + centre crop + normalisation inside the attacked function",
    )
    return report, kept


def _letterbox_torch(x: torch.Tensor, imgsz: int, stride: int) -> torch.Tensor:
    """Ultralytics' letterbox (resize keeping the aspect ratio, pad with grey 114 to a stride
    multiple, centred), differentiable; bilinear like OpenCV's INTER_LINEAR."""
    import torch

    h, w = x.shape[2:]
    r = min(imgsz / h, imgsz / w)
    nh, nw = round(h * r), round(w * r)
    y = (
        torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
        if (nh, nw) != (h, w)
        else x
    )
    ph, pw = (-nh) % stride, (-nw) % stride
    top, left = ph // 2, pw // 2
    return torch.nn.functional.pad(y, (left, pw - left, top, ph - top), value=114 / 255)


def _detector_loss(detector: Detector) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch

    yolo = detector._yolo
    if yolo is None or getattr(detector, "backend", "torch") != "torch":
        raise InvalidInputError("detector robustness needs a torch-backend Detector (backend='torch')")
    net = yolo.model
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    imgsz = detector._resolve_imgsz()
    size = imgsz if isinstance(imgsz, int) else max(imgsz)
    stride = int(max(getattr(net, "stride", torch.tensor([32])).max().item(), 32))

    def loss(x: torch.Tensor) -> torch.Tensor:
        out = net(_letterbox_torch(x, size, stride))
        pred = out[0] if isinstance(out, (list, tuple)) else out  # (B, 4 + nc, anchors)
        scores: torch.Tensor = pred[:, 4:].amax(1)
        return -(scores * (scores > 0.05)).sum()

    return loss


class _AttackedDetector:
    """Looks like a Detector to :func:`evaluate_detector`: attacks each image, then detects."""

    def __init__(
        self,
        detector: Detector,
        loss: Callable[[torch.Tensor], torch.Tensor],
        attack: str,
        eps: float,
        steps: int,
        defence: str | None,
    ) -> None:
        self.detector, self.loss, self.attack, self.eps, self.steps, self.defence = (
            detector,
            loss,
            attack,
            eps,
            steps,
            defence,
        )
        self.names = detector.names
        self.boxes: list[int] = []
        self.first: np.ndarray | None = None

    def detect(self, source: Any) -> Any:
        import torch

        from detectkit.image import load_image

        img = load_image(source)
        with torch.enable_grad():
            adv = attack_image(self.loss, img, attack=self.attack, eps=self.eps, steps=self.steps)
        if self.first is None:
            self.first = adv
        if self.defence == "jpeg":
            adv = jpeg_defence(adv)
        dets = self.detector.detect(adv)
        self.boxes.append(len(dets))
        return dets


def detector_robustness(
    detector: Detector,
    dataset: Any,
    *,
    attack: Attack | str = "pgd",
    eps: Sequence[float] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255),
    steps: int = 10,
    defence: Literal["jpeg"] | None = None,
) -> tuple[RobustnessReport, list[np.ndarray]]:
    """mAP50 of ``detector`` on ``dataset`` under ``attack`` at each ``eps``.

    Returns:
        The report and the adversarial version of the dataset's first image per eps.
    """
    from detectkit.metrics import evaluate_detector

    eps_list = [_check_eps(e) for e in eps]
    loss = _detector_loss(detector)
    values, defended, firsts, counts = [], [], [], []
    for e in eps_list:
        wrapped = _AttackedDetector(detector, loss, str(attack), e, steps, None)
        values.append(float(evaluate_detector(wrapped, dataset).map50))
        counts.append(sum(wrapped.boxes))
        if wrapped.first is not None:
            firsts.append(wrapped.first)
        if defence == "jpeg":
            shielded = _AttackedDetector(detector, loss, str(attack), e, steps, "jpeg")
            defended.append(float(evaluate_detector(shielded, dataset).map50))
    report = RobustnessReport(
        task="detect",
        metric="map50",
        attack=str(attack),
        steps=steps,
        eps=eps_list,
        values=[0.0 if math.isnan(v) else v for v in values],
        defended=defended if defence else None,
        defence=defence,
        images=len(dataset),
        examples=[{f"{e * 255:g}/255": n for e, n in zip(eps_list, counts)} | {"image": "all (boxes detected)"}],
        attacked="raw YOLO output: the sum over anchors of each anchor's best class score (anchors above 0.05) "
        "is minimised (objects vanish); pixel space [0, 1], letterbox inside the attacked function",
    )
    return report, firsts
