"""Labelled image sets for classifiers: a folder per class (torchvision ``ImageFolder``) or a CSV.

* Folder: ``root/<class name>/<image>``; classes are the sub-folder names, sorted (the same ids
  torchvision's ``ImageFolder`` gives). Images are found with :func:`detectkit.image.list_images`
  (recursively inside each class folder).
* CSV: rows ``path,label`` (an optional header ``path,label``); relative paths are relative to
  the CSV's folder; classes are the sorted label names.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for cls in ("cat", "dog"):
...     (root / cls).mkdir()
...     for name in ("a.jpg", "b.jpg"):
...         _ = (root / cls / name).write_bytes(b"")
>>> data = read_labelled(root)
>>> data.classes, data.labels.tolist(), len(data)
(('cat', 'dog'), [0, 0, 1, 1], 4)
>>> train, val = data.split(0.5, seed=0)
>>> len(train), len(val), val.counts().tolist()
(2, 2, [1, 1])
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectkit.errors import InvalidInputError

__all__ = ["LabelledImages", "read_labelled"]


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with integer labels.

    Attributes:
        paths: image files.
        labels: int64 ``(N,)`` class ids, indices into ``classes``.
        classes: class names; id ``i`` is ``classes[i]``.
        source: where the set was read from (for messages).
    """

    paths: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledImages:
        """The images at ``index`` (same classes)."""
        idx = np.asarray(index, dtype=np.int64)
        return LabelledImages(tuple(self.paths[i] for i in idx.tolist()), self.labels[idx], self.classes, self.source)

    def split(self, val: float, *, seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
        """Stratified ``(train, val)`` split: ``val`` of each class (at least one image when the
        class has two or more) goes to the val part."""
        if not 0.0 < val < 1.0:
            raise InvalidInputError(f"val split must be in (0, 1), got {val!r}")
        rng = np.random.default_rng(seed)
        train_idx: list[int] = []
        val_idx: list[int] = []
        for c in range(len(self.classes)):
            members = np.flatnonzero(self.labels == c)
            rng.shuffle(members)
            n_val = min(len(members) - 1, max(1, round(len(members) * val))) if len(members) > 1 else 0
            val_idx += members[:n_val].tolist()
            train_idx += members[n_val:].tolist()
        return self.subset(sorted(train_idx)), self.subset(sorted(val_idx))

    def counts(self) -> np.ndarray:
        """Images per class, int64 ``(len(classes),)``."""
        return np.bincount(self.labels, minlength=len(self.classes)).astype(np.int64)


def _from_folder(root: Path) -> LabelledImages:
    from detectkit.image import list_images

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InvalidInputError(
            f"{root} has no class sub-folders; a classifier dataset is a folder per class "
            "(root/<class>/<image>) or a CSV of path,label"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = list_images(root / name, recursive=True)
        paths += found
        labels += [i] * len(found)
    if not paths:
        raise InvalidInputError(f"{root}: the class folders {classes} hold no images")
    return LabelledImages(tuple(paths), np.array(labels, np.int64), tuple(classes), str(root))


def _from_csv(file: Path) -> LabelledImages:
    rows: list[tuple[str, str]] = []
    with file.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or (line == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise InvalidInputError(f"{file}:{line}: expected 'path,label', got {','.join(row)!r}")
            rows.append((row[0].strip(), row[1].strip()))
    if not rows:
        raise InvalidInputError(f"{file}: no 'path,label' rows")
    classes = sorted({label for _, label in rows})
    index = {c: i for i, c in enumerate(classes)}
    paths = tuple((file.parent / p) if not os.path.isabs(p) else Path(p) for p, _ in rows)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InvalidInputError(f"{file}: {len(missing)} image(s) do not exist, e.g. {missing[:3]}")
    labels = np.array([index[label] for _, label in rows], np.int64)
    return LabelledImages(paths, labels, tuple(classes), str(file))


def read_labelled(source: str | os.PathLike[str]) -> LabelledImages:
    """Read a folder-per-class tree or a ``path,label`` CSV.

    Raises:
        InvalidInputError: the path does not exist, has no classes/images, or a CSV row is bad.
    """
    path = Path(source)
    if path.is_dir():
        return _from_folder(path)
    if path.is_file() and path.suffix.lower() in (".csv", ".txt"):
        return _from_csv(path)
    raise InvalidInputError(
        f"{path} is neither a folder of class sub-folders nor a .csv file of path,label rows"
        + ("" if path.exists() else " (it does not exist)")
    )
