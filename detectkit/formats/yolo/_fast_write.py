"""The YOLO writer's fast path: label lines rendered for many objects at once.

``render_rows`` is byte-identical to printf-style ``f"{v:.{decimals}f}"`` formatting (tests
compare the two), and ``DetectBlocks`` renders the detect labels of a block of images at a time
so the writer's memory does not grow with the dataset (``benchmarks/bench_convert.py``).
"""

from __future__ import annotations

import functools

import numpy as np

from detectkit.dataset import Dataset

__all__ = ["RENDER_CHUNK", "DetectBlocks", "render_rows"]

RENDER_CHUNK = 16384  # rows rendered per vectorised pass


def render_rows(
    class_index: np.ndarray, values: np.ndarray, decimals: int, *, last_decimals: int | None = None
) -> tuple[bytes, np.ndarray]:
    """Label lines ``"<class> <v1> <v2> ..."`` for all rows at once, vectorised.

    The text equals ``"%d %.{decimals}f ...\\n" % row`` for every row (rounded, never
    truncated; ``-0.000000`` kept like printf) without a Python loop over objects.
    ``last_decimals`` formats the last column with other decimals (a confidence column).

    Returns:
        The lines as UTF-8 bytes and the byte length of each line (int64 ``(K,)``).

    >>> text, lengths = render_rows(np.array([3, 12]), np.array([[0.5, 0.25], [1.0, 0.1234567]]), 6)
    >>> text.decode(), lengths.tolist()
    ('3 0.500000 0.250000\\n12 1.000000 0.123457\\n', [20, 21])
    """
    k = len(class_index)
    if k == 0:
        return b"", np.zeros(0, np.int64)
    if k > RENDER_CHUNK:  # bounded temporaries: about 1 KB of scratch per row at a time
        parts = [
            render_rows(
                class_index[a : a + RENDER_CHUNK], values[a : a + RENDER_CHUNK], decimals, last_decimals=last_decimals
            )
            for a in range(0, k, RENDER_CHUNK)
        ]
        return b"".join(t for t, _ in parts), np.concatenate([n for _, n in parts])
    cls = np.asarray(class_index, dtype=np.int64)
    cd = max(1, len(str(int(cls.max()))))
    cpow = 10 ** np.arange(cd - 1, -1, -1, dtype=np.int64)
    c = np.empty((k, cd + 1), np.uint8)
    c[:, :cd] = 48 + (cls[:, None] // cpow) % 10
    c[:, cd] = 32
    ck = np.ones((k, cd + 1), bool)
    ck[:, : cd - 1] = cls[:, None] >= cpow[:-1]
    vals = np.asarray(values, dtype=np.float64).reshape(k, -1)
    if last_decimals is None:
        f, fk = _field_chars(vals, decimals, newline=True)
        chars = np.concatenate([c, f], axis=1)
        keep = np.concatenate([ck, fk], axis=1)
    else:
        f, fk = _field_chars(vals[:, :-1], decimals, newline=False)
        g, gk = _field_chars(vals[:, -1:], last_decimals, newline=True)
        chars = np.concatenate([c, f, g], axis=1)
        keep = np.concatenate([ck, fk, gk], axis=1)
    return chars[keep].tobytes(), keep.sum(axis=1).astype(np.int64)


@functools.cache
def _digit_triples() -> np.ndarray:
    """``(1000, 3)`` uint8: the ASCII digits of 000 ... 999."""
    n = np.arange(1000)
    return np.stack([48 + n // 100, 48 + n // 10 % 10, 48 + n % 10], axis=1).astype(np.uint8)


def _field_chars(vals: np.ndarray, decimals: int, *, newline: bool) -> tuple[np.ndarray, np.ndarray]:
    """Characters and keep-mask of ``%.{decimals}f`` fields, each followed by a space (or, for the
    last one with ``newline``, a line feed)."""
    k, ncol = vals.shape
    scale = 10**decimals
    q = np.rint(np.abs(vals) * scale).astype(np.int64)
    ip, fp = np.divmod(q, scale)
    nd = max(1, len(str(int(ip.max())))) if k else 1
    field = 1 + nd + 1 + decimals + 1  # sign, integer digits, '.', decimals, separator
    f = np.empty((k, ncol, field), np.uint8)
    fk = np.ones((k, ncol, field), bool)
    f[:, :, 0] = 45
    fk[:, :, 0] = np.signbit(vals)
    ipow = 10 ** np.arange(nd - 1, -1, -1, dtype=np.int64)
    f[:, :, 1 : 1 + nd] = 48 + (ip[:, :, None] // ipow) % 10
    fk[:, :, 1:nd] = ip[:, :, None] >= ipow[:-1]
    f[:, :, 1 + nd] = 46
    if decimals:
        # the fraction's digits three at a time from a table: one divmod per group of three
        # instead of a division and a modulo per digit
        groups = -(-decimals // 3)
        digits = np.empty((k, ncol, 3 * groups), np.uint8)
        table = _digit_triples()
        rest = fp
        for j in range(groups - 1, 0, -1):
            rest, group = np.divmod(rest, 1000)
            digits[:, :, 3 * j : 3 * j + 3] = table[group]
        digits[:, :, :3] = table[rest]  # rest < 1000: fp has at most 3 * groups digits
        f[:, :, 2 + nd : 2 + nd + decimals] = digits[:, :, 3 * groups - decimals :]
    else:
        fk[:, :, 1 + nd] = False
    f[:, :, -1] = 32
    if newline:
        f[:, -1, -1] = 10
    return f.reshape(k, -1), fk.reshape(k, -1)


class DetectBlocks:
    """YOLO detect label text per image, rendered a block of images (at most ``RENDER_CHUNK``
    rows, or one image) at a time; images are asked for in order."""

    def __init__(self, ds: Dataset, ok: np.ndarray, sizes: np.ndarray, sorted_ids: np.ndarray, decimals: int) -> None:
        self._t, self._ok, self._sizes, self._ids, self._dec = ds.table, ok, sizes, sorted_ids, decimals
        self._offsets = ds.row_offsets  # rows of image i: offsets[i] .. offsets[i + 1]
        self._start = self._end = 0  # images [start, end) are rendered
        self._text = b""
        self._cuts: list[int] = [0]
        self._counts: list[int] = []

    def label(self, pos: int) -> tuple[bytes, int]:
        """``(file content, objects in it)`` of image ``pos``."""
        if pos >= self._end:
            self._render(pos)
        k = pos - self._start
        return self._text[self._cuts[k] : self._cuts[k + 1]], self._counts[k]

    def _render(self, first: int) -> None:
        t, offsets = self._t, self._offsets
        end = int(np.searchsorted(offsets, offsets[first] + RENDER_CHUNK, side="right")) - 1
        end = min(max(end, first + 1), len(self._sizes))
        a, b = int(offsets[first]), int(offsets[end])
        rows = a + np.flatnonzero(self._ok[a:b])
        xyxy, image_of_row = t.xyxy[rows], t.image_index[rows]
        wh = self._sizes[image_of_row]
        values = np.empty((len(rows), 4 if t.confidence is None else 5))
        values[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2 / wh[:, 0]
        values[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2 / wh[:, 1]
        values[:, 2] = (xyxy[:, 2] - xyxy[:, 0]) / wh[:, 0]
        values[:, 3] = (xyxy[:, 3] - xyxy[:, 1]) / wh[:, 1]
        if t.confidence is not None:
            values[:, 4] = t.confidence[rows]
        cls = np.searchsorted(self._ids, t.class_id[rows]).astype(np.int64)
        text, lengths = render_rows(cls, values, self._dec, last_decimals=6 if t.confidence is not None else None)
        row_ends = np.concatenate([[0], np.cumsum(lengths)])
        per_image = np.searchsorted(image_of_row, np.arange(first, end + 1))
        self._start, self._end, self._text = first, end, text
        self._cuts = row_ends[per_image].tolist()
        self._counts = np.diff(per_image).tolist()
