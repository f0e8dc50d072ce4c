"""Fine-tune a torchvision classifier from the shipped ImageNet weights (transfer learning).

>>> from detectkit.train import train_classifier
>>> result = train_classifier("photos/", epochs=8, freeze_backbone=3)  # doctest: +SKIP
>>> result.top1, result.weights  # doctest: +SKIP
(0.96, PosixPath('.../mobilenet_v2-photos.pth'))
>>> Classifier(result.name).classify("new.jpg")  # doctest: +SKIP

Recipe: the architecture's ImageNet weights (from the weights manifest: the shipped
MobileNetV2; other architectures take ``weights=FILE``) with the last linear layer replaced by
one for your classes; ``freeze_backbone`` epochs train only that head (backbone frozen and kept in
eval mode, so its BatchNorm statistics stay ImageNet's), then everything trains at a tenth of the
learning rate. Training batches are class-balanced (``WeightedRandomSampler``, 1 / class count).
After every epoch the val split is scored (top-1); training stops after ``patience`` epochs
without improvement and the best epoch's weights are kept. Evaluation pre-processing is exactly
``Classifier``'s (resize the shorter side, centre crop, ImageNet mean/std), so the saved model
scores the same when loaded with ``Classifier(name)``.

Writes into ``out``: ``<arch>-<name>.pth`` (a plain state dict, ``torch.load(weights_only=True)``
safe), ``report.json`` (top-1, top-5, per-class recall, confusion matrix, history),
``confusion_matrix.png`` and ``augment_preview.jpg``; the model is registered in the user manifest.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit._atomic import write_atomic
from detectkit._checks import check_choice
from detectkit.errors import InvalidInputError, ModelLoadError
from detectkit.train.augment import PRESETS, classifier_transform
from detectkit.train.data import LabelledImages, read_labelled

if TYPE_CHECKING:
    import torch

__all__ = ["ClassifierTrainResult", "classification_report", "train_classifier"]


@dataclass(frozen=True)
class ClassifierTrainResult:
    """What :func:`train_classifier` wrote and measured (on the val split, best epoch).

    Attributes:
        weights: the state-dict file.
        name: user-manifest name (``Classifier(name)`` loads it), or None.
        classes: class names (id order).
        top1, top5: val accuracy in [0, 1] (top-5 is top-``min(5, classes)``).
        per_class_recall: class name -> recall.
        confusion: int64 ``(C, C)``, rows = true class, columns = predicted.
        best_epoch: 1-based epoch whose weights were kept; epochs_run: epochs trained.
        history: per epoch ``{"epoch", "phase", "train_loss", "val_top1", "seconds"}``.
        out: the output folder.
    """

    weights: Path
    name: str | None
    classes: tuple[str, ...]
    top1: float
    top5: float
    per_class_recall: dict[str, float]
    confusion: np.ndarray
    best_epoch: int
    epochs_run: int
    history: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None

    def __str__(self) -> str:
        return (
            f"val top-1 {self.top1:.3f}, top-5 {self.top5:.3f} after {self.epochs_run} epochs "
            f"(best {self.best_epoch}); "
            f"weights {self.weights}" + (f"; registered as {self.name!r}" if self.name else "")
        )


def classification_report(true: np.ndarray, scores: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Top-1, top-k (k = min(5, C)), per-class recall and the confusion matrix of ``scores`` (N, C).

    >>> r = classification_report(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]), ("a", "b"))
    >>> round(r["top1"], 3), r["per_class_recall"], r["confusion"]
    (0.667, {'a': 1.0, 'b': 0.5}, [[1, 0], [1, 1]])
    """
    true = np.asarray(true, np.int64)
    n_cls = len(classes)
    pred = scores.argmax(1) if len(scores) else np.zeros(0, np.int64)
    k = min(5, n_cls)
    topk = np.argsort(-scores, axis=1)[:, :k] if len(scores) else np.zeros((0, k), np.int64)
    confusion = np.zeros((n_cls, n_cls), np.int64)
    np.add.at(confusion, (true, pred), 1)
    support = confusion.sum(1)
    recall = {c: float(confusion[i, i] / support[i]) if support[i] else float("nan") for i, c in enumerate(classes)}
    return {
        "top1": float(np.mean(pred == true)) if len(true) else float("nan"),
        "top5": float(np.mean((topk == true[:, None]).any(1))) if len(true) else float("nan"),
        "k": k,
        "per_class_recall": recall,
        "confusion": confusion.tolist(),
        "images": len(true),
    }


def _replace_head(model: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    """Replace the last ``nn.Linear`` (the classification head) with one of ``num_classes`` outputs."""
    import torch

    last_name = None
    for mod_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            last_name = mod_name
    if last_name is None:
        raise ModelLoadError(f"{type(model).__name__} has no linear classification head to replace")
    parent: Any = model
    *path, leaf = last_name.split(".")
    for part in path:
        parent = getattr(parent, part)
    old = getattr(parent, leaf)
    setattr(parent, leaf, torch.nn.Linear(old.in_features, num_classes))
    return getattr(parent, leaf)  # type: ignore[no-any-return]


def _pretrained_file(arch: str) -> Path:
    from detectkit.models import weights as weights_mod

    for name, entry in sorted(weights_mod.load_manifest().items()):
        if (
            entry.get("task") == "classify"
            and entry.get("architecture") == arch
            and entry.get("framework")
            in (
                None,
                "torchvision",
            )
        ):
            resolved = weights_mod.resolve(name)  # sha256-verified
            if resolved.path is not None:
                return resolved.path
    raise ModelLoadError(
        f"no ImageNet weights for architecture {arch!r} are shipped (weights/manifest.json has only "
        f"{weights_mod.known_models('classify')}); pass weights=FILE (CLI --weights) with a torchvision state "
        "dict, or pretrained=False (CLI --scratch) to train from random weights"
    )


def _build(arch: str, num_classes: int, *, pretrained: bool, weights: str | os.PathLike[str] | None) -> Any:
    import torch
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    check_choice(arch, "arch", known)
    model = torchvision.models.get_model(arch, weights=None)
    if pretrained or weights is not None:
        file = Path(weights) if weights is not None else _pretrained_file(arch)
        state = torch.load(file, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelLoadError(f"weights {file} do not fit {arch!r}: {str(exc).splitlines()[0]}") from None
    head = _replace_head(model, num_classes)
    return model, head


class _Images:
    """torch-style dataset: (transformed tensor, label) from image files (BGR -> RGB uint8 tensor)."""

    def __init__(self, data: LabelledImages, transform: Callable[[Any], Any]) -> None:
        self.data = data
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        import torch

        from detectkit.image import load_image

        img = load_image(self.data.paths[i])[:, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        return self.transform(x), int(self.data.labels[i])


def _eval_transform(crop: int, resize: int) -> Any:
    """Exactly ``Classifier``'s pre-processing (antialiased bilinear resize, centre crop, normalise)."""
    return classifier_transform("none", crop_size=crop, resize_size=resize)


def _scores(model: Any, loader: Any) -> tuple[np.ndarray, np.ndarray]:
    import torch

    model.eval()
    outs, labels = [], []
    with torch.inference_mode():
        for x, y in loader:
            outs.append(model(x).float().softmax(1).numpy())
            labels.append(y.numpy())
    if not outs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.concatenate(outs), np.concatenate(labels)


def _save_confusion_png(confusion: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", color="black" if v < confusion.max() / 2 else "white")
    ax.set_title("confusion matrix (val)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _atomic_save_state(state: dict[str, Any], path: Path) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def train_classifier(
    data: str | os.PathLike[str] | LabelledImages,
    *,
    arch: str = "mobilenet_v2",
    epochs: int = 10,
    freeze_backbone: int | None = None,
    pretrained: bool = True,
    weights: str | os.PathLike[str] | None = None,
    val: str | os.PathLike[str] | LabelledImages | None = None,
    val_split: float = 0.2,
    batch: int = 32,
    lr: float = 1e-3,
    augment: str | Callable[[Any], Any] = "light",
    patience: int = 3,
    imgsz: int = 224,
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    seed: int = 0,
    register: bool = True,
    verbose: bool = True,
    threads: int | None = None,
) -> ClassifierTrainResult:
    """Fine-tune ``arch`` on a class-folder tree or CSV; see the module docs for the recipe.

    Args:
        data: a folder per class, a ``path,label`` CSV, or :class:`LabelledImages`.
        arch: a torchvision classification architecture.
        epochs: maximum epochs (head-only ones included).
        freeze_backbone: epochs that train only the new head (default ``min(3, epochs // 2)``
            when pretrained, 0 from scratch).
        pretrained: start from the shipped ImageNet weights (else random initialisation).
        weights: a torchvision state dict to start from instead of the manifest's.
        val: a separate labelled val set; else ``val_split`` of ``data`` (stratified, seeded).
        batch: batch size. lr: AdamW learning rate of the head phase (the full phase uses lr / 10
            when pretrained).
        augment: ``"none" | "light" | "strong"`` or your own transform (uint8 RGB tensor -> float
            normalised tensor of ``imgsz``).
        patience: early stopping after this many epochs without a better val top-1.
        imgsz: crop size (the shorter side is resized to ``imgsz * 256 / 224`` first).
        out: output folder (default ``cache_dir()/train/classify/<name>``).
        name: the model's name (default ``<data folder>-<arch>``), registered in the user manifest.
        seed: seeds the split, sampler and initialisation.
        register: write the user-manifest entry.
        verbose: one progress line per epoch on stderr.
        threads: torch intra-op threads for training (default: torch's).

    Raises:
        InvalidInputError: bad options, fewer than two classes, an empty split.
        ModelLoadError: no pretrained weights for ``arch`` (pass ``weights=`` or ``pretrained=False``).
    """
    import torch

    from detectkit.models import cache_dir

    for label, value, low in (
        ("epochs", epochs, 1),
        ("batch", batch, 1),
        ("patience", patience, 1),
        ("imgsz", imgsz, 32),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{label} must be an int >= {low}, got {value!r}")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise InvalidInputError(f"lr must be > 0, got {lr!r}")
    if isinstance(augment, str):
        check_choice(augment, "augment", PRESETS)
    data_set = data if isinstance(data, LabelledImages) else read_labelled(data)
    if len(data_set.classes) < 2:
        raise InvalidInputError(f"{data_set.source}: a classifier needs at least two classes, got {data_set.classes}")
    if val is None:
        train_set, val_set = data_set.split(val_split, seed=seed)
    else:
        train_set = data_set
        val_set = val if isinstance(val, LabelledImages) else read_labelled(val)
        if val_set.classes != train_set.classes:
            raise InvalidInputError(
                f"val classes {val_set.classes} differ from the training classes {train_set.classes}"
            )
    if not len(train_set) or not len(val_set):
        raise InvalidInputError(
            f"{data_set.source}: empty train or val split ({len(train_set)} / {len(val_set)} images); "
            "add images or pass a val set"
        )
    head_epochs = freeze_backbone if freeze_backbone is not None else (min(3, epochs // 2) if pretrained else 0)
    if isinstance(head_epochs, bool) or not isinstance(head_epochs, int) or not 0 <= head_epochs <= epochs:
        raise InvalidInputError(f"freeze_backbone must be an int in [0, epochs={epochs}], got {freeze_backbone!r}")
    model_name = name or f"{Path(data_set.source).stem or 'data'}-{arch}"
    folder = Path(out) if out is not None else cache_dir() / "train" / "classify" / model_name
    folder.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    model, head = _build(arch, len(data_set.classes), pretrained=pretrained, weights=weights)
    resize = round(imgsz * 256 / 224)
    train_tf = augment if callable(augment) else classifier_transform(augment, crop_size=imgsz, resize_size=resize)
    counts = train_set.counts()
    sample_w = 1.0 / np.maximum(counts[train_set.labels], 1)
    generator = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.WeightedRandomSampler(
        sample_w.tolist(), num_samples=len(train_set), replacement=True, generator=generator
    )
    train_images: Any = _Images(train_set, train_tf)
    val_images: Any = _Images(val_set, _eval_transform(imgsz, resize))
    train_loader: Any = torch.utils.data.DataLoader(train_images, batch_size=batch, sampler=sampler)
    val_loader: Any = torch.utils.data.DataLoader(val_images, batch_size=batch)
    loss_fn = torch.nn.CrossEntropyLoss()
    backbone = [p for p in model.parameters() if all(p is not q for q in head.parameters())]

    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    optimizer: Any = None
    stale = 0
    for epoch in range(1, epochs + 1):
        phase = "head" if epoch <= head_epochs else "all"
        if epoch == 1 or (phase == "all" and epoch == head_epochs + 1):
            for p in backbone:
                p.requires_grad_(phase == "all")
            params = list(head.parameters()) if phase == "head" else list(model.parameters())
            phase_lr = lr if phase == "head" or not (pretrained or weights) else lr / 10
            optimizer = torch.optim.AdamW(params, lr=phase_lr, weight_decay=1e-4)
        start = time.perf_counter()
        model.train()
        if phase == "head":  # keep the frozen backbone's BatchNorm statistics (ImageNet's)
            model.eval()
            head.train()
        total, seen = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
        scores, labels = _scores(model, val_loader)
        top1 = float(np.mean(scores.argmax(1) == labels))
        row = {
            "epoch": epoch,
            "phase": phase,
            "train_loss": total / max(seen, 1),
            "val_top1": top1,
            "seconds": round(time.perf_counter() - start, 2),
        }
        history.append(row)
        if verbose:
            print(
                f"epoch {epoch}/{epochs} [{phase}] loss {row['train_loss']:.4f} val top-1 {top1:.3f} "
                f"({row['seconds']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        if top1 > best[0]:
            best = (top1, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
            stale = 0
        else:
            stale += 1
            if stale >= patience and phase == "all":
                if verbose:
                    print(f"early stop: no better val top-1 for {patience} epochs", file=sys.stderr)
                break

    model.load_state_dict(best[2])
    scores, labels = _scores(model, val_loader)
    report = classification_report(labels, scores, data_set.classes)
    weights_file = folder / f"{arch}-{model_name}.pth"
    _atomic_save_state(best[2], weights_file)
    report.update(
        {
            "classes": list(data_set.classes),
            "best_epoch": best[1],
            "history": history,
            "train_images": len(train_set),
            "val_images": len(val_set),
            "pretrained": bool(pretrained or weights),
            "augment": augment if isinstance(augment, str) else "custom",
            "arch": arch,
        }
    )
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=_nan_none), encoding="utf-8")
    _save_confusion_png(np.array(report["confusion"]), data_set.classes, folder / "confusion_matrix.png")
    if isinstance(augment, str):
        from detectkit.train.preview import preview_grid, save_grid

        save_grid(
            preview_grid(list(train_set.paths[:4]), augment, size=min(imgsz, 160)), folder / "augment_preview.jpg"
        )
    reg_name = None
    if register:
        from detectkit.models.user_models import register_model

        reg_name = model_name
        register_model(
            reg_name,
            weights_file,
            {
                "task": "classify",
                "framework": "torchvision",
                "architecture": arch,
                "classes": {str(i): c for i, c in enumerate(data_set.classes)},
                "imgsz": imgsz,
                "resize_size": resize,
                "source": f"detectkit train classifier {data_set.source} ({'ImageNet' if pretrained else 'scratch'})",
                "date": datetime.date.today().isoformat(),
                "quality": {"top1": report["top1"], "top5": report["top5"], "split": "val", "images": len(val_set)},
            },
        )
    return ClassifierTrainResult(
        weights=weights_file,
        name=reg_name,
        classes=data_set.classes,
        top1=report["top1"],
        top5=report["top5"],
        per_class_recall=report["per_class_recall"],
        confusion=np.array(report["confusion"], np.int64),
        best_epoch=best[1],
        epochs_run=len(history),
        history=history,
        out=folder,
    )


def _nan_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
