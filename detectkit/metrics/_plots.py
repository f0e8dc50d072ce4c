"""Evaluation plots (matplotlib, Agg backend, PNG, atomic writes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit._atomic import atomic_path

if TYPE_CHECKING:
    from detectkit.metrics.result import Metrics

__all__ = ["save_plots"]


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder, then ``os.replace``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def save_plots(metrics: Metrics, directory: Path, *, conf_threshold: float, iou_threshold: float) -> list[Path]:
    """PR curves (per class + mean), confusion-matrix heatmap and per-class AP bars as PNG files."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    directory.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    names = [metrics.names.get(c, str(c)) for c in metrics.category_ids]

    # --- precision-recall curves at IoU 0.5
    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot()
    rows = metrics.per_class()
    show_legend = len(rows) <= 15
    for cid, name, row in zip(metrics.category_ids, names, rows):
        recall, precision = metrics.pr_curve(cid, iou_threshold=0.5)
        if np.isnan(precision).all():
            continue
        label = f"{name} {row['ap50']:.3f}" if show_legend else None
        ax.plot(recall, precision, linewidth=1, alpha=0.6 if show_legend else 0.3, label=label)
    recall, precision = metrics.pr_curve(None, iou_threshold=0.5)
    ax.plot(recall, precision, color="blue", linewidth=3, label=f"all classes mAP@0.5 {metrics.map50:.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01), title="Precision-recall (IoU 0.5)")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    out.append(_save(fig, directory / "pr_curve.png"))

    # --- confusion matrix
    cm = metrics.confusion_matrix(iou_threshold=iou_threshold, conf_threshold=conf_threshold)
    k = len(cm.labels)
    size = min(4 + 0.35 * k, 30)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.add_subplot()
    mat = cm.matrix.astype(np.float64)
    image = ax.imshow(mat, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), cm.labels, rotation=90, fontsize="small")
    ax.set_yticks(range(k), cm.labels, fontsize="small")
    ax.set(
        xlabel="Predicted", ylabel="True", title=f"Confusion matrix (IoU {iou_threshold:g}, conf {conf_threshold:g})"
    )
    if k <= 30:
        peak = mat.max() if mat.size else 0
        for i in range(k):
            for j in range(k):
                if cm.matrix[i, j]:
                    color = "white" if mat[i, j] > peak / 2 else "black"
                    ax.text(j, i, str(cm.matrix[i, j]), ha="center", va="center", color=color, fontsize="x-small")
    out.append(_save(fig, directory / "confusion_matrix.png"))

    # --- per-class AP bars
    rows_sorted = metrics.per_class(sort=True)
    n = len(rows_sorted)
    fig = Figure(figsize=(8, max(3, 0.25 * n + 1)))
    ax = fig.add_subplot()
    labels = [str(r["name"]) for r in rows_sorted]
    values = [0.0 if np.isnan(r["ap"]) else r["ap"] for r in rows_sorted]
    y = np.arange(n)
    ax.barh(y, values, color="tab:blue")
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()
    ax.set(xlabel="AP @ IoU 0.50:0.95", xlim=(0, 1), title=f"Per-class AP (mAP {metrics.map:.3f})")
    ax.grid(axis="x", alpha=0.3)
    out.append(_save(fig, directory / "per_class_ap.png"))
    return out
