"""Shared input validation: one place that turns user input into checked numpy arrays.

Every public function validates its arguments through these helpers so the error
messages are uniform: they name the argument, what was expected and what was received.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

from detectkit.errors import InvalidInputError

__all__ = ["as_boxes", "as_vector", "check_choice", "check_fraction", "check_image_size_wh"]


def _to_array(value: Any, name: str, dtype: npt.DTypeLike) -> np.ndarray:
    if value is None:
        raise InvalidInputError(f"{name} must be an array, got None")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, copy=True)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(f"{name} must be array-like, got {type(value).__name__}: {exc}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype == bool and np.dtype(dtype).kind == "f":
        raise InvalidInputError(f"{name} must be numeric, got dtype bool")
    return arr


def as_boxes(
    value: Any,
    name: str = "boxes",
    *,
    dtype: npt.DTypeLike = np.float64,
    check_order: bool = True,
    columns: int = 4,
) -> np.ndarray:
    """Return a fresh ``(N, columns)`` float array of finite boxes, or raise.

    With ``check_order`` the boxes must be xyxy with ``x2 >= x1`` and ``y2 >= y1``.

    >>> as_boxes([[0, 0, 2, 3]]).tolist()
    [[0.0, 0.0, 2.0, 3.0]]
    >>> as_boxes([[0, 0, 2]], "xyxy")
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: xyxy must have shape (N, 4), got (1, 3)
    """
    arr = _to_array(value, name, dtype)
    if arr.size == 0 and arr.ndim <= 2:
        return np.zeros((0, columns), dtype=dtype)
    if arr.ndim != 2 or arr.shape[1] != columns:
        raise InvalidInputError(f"{name} must have shape (N, {columns}), got {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidInputError(f"{name} must be finite, got {arr[bad].tolist()} at row {bad}")
    if check_order and columns == 4:
        wrong = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
        if wrong.any():
            bad = int(np.flatnonzero(wrong)[0])
            raise InvalidInputError(
                f"{name} must be xyxy with x2 >= x1 and y2 >= y1, got {arr[bad].tolist()} at row {bad}"
            )
    return arr


def as_vector(
    value: Any,
    name: str,
    *,
    length: int | None = None,
    dtype: npt.DTypeLike = np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Return a fresh 1-D array of ``length`` items, or raise.

    Integer dtypes accept floats only when they hold whole numbers.

    >>> as_vector([1, 2], "class_id", length=2, dtype=np.int64).tolist()
    [1, 2]
    >>> as_vector([0.5], "class_id", dtype=np.int64)
    Traceback (most recent call last):
    ...
    detectkit.errors.InvalidInputError: class_id must hold integers, got 0.5
    """
    arr = _to_array(value, name, dtype)
    if arr.ndim != 1:
        if arr.size == 0 and (length in (None, 0)):
            arr = arr.reshape(0)
        else:
            raise InvalidInputError(f"{name} must be 1-D with shape (N,), got {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InvalidInputError(f"{name} must have length {length} (one per box), got {arr.shape[0]}")
    target = np.dtype(dtype)
    if target.kind in "iu" and arr.dtype.kind == "f" and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))][0]
        raise InvalidInputError(f"{name} must hold integers, got {bad}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad_i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidInputError(f"{name} must be finite, got {arr[bad_i]} at index {bad_i}")
    return arr.astype(target, copy=False)


def check_choice(value: str, name: str, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise naming the valid ones otherwise.

    >>> check_choice("xyxy", "src", ["xyxy", "xywh"])
    'xyxy'
    """
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_fraction(value: float, name: str, *, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` as float if ``low <= value <= high``; raise otherwise.

    >>> check_fraction(0.5, "iou_threshold")
    0.5
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number in [{low}, {high}], got {value!r}") from None
    if not (low <= number <= high):
        raise InvalidInputError(f"{name} must be in [{low}, {high}], got {value!r}")
    return number


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (bools refused).

    >>> check_positive_int(3, "top_k")
    3
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_image_size_wh(value: Any, name: str = "image_size_wh") -> tuple[int, int]:
    """Return ``(width, height)`` as positive ints, or raise.

    >>> check_image_size_wh((640, 480))
    (640, 480)
    """
    try:
        width, height = value
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a (width, height) pair, got {value!r}") from None
    if w <= 0 or h <= 0 or w != width or h != height:
        raise InvalidInputError(f"{name} must hold two positive integers (width, height), got {value!r}")
    return w, h
