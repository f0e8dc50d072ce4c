"""The YOLO reader's fast path: plain detect label files parsed in one vectorised pass.

Tokens per line are counted with numpy over the bytes of all files and the numbers parsed by
one ``np.fromstring``; files with other characters or token counts, or any row the checks
refuse, are handed back to the line-by-line parse, which names the bad lines.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from detectkit.dataset import ImageRecord
from detectkit.table import ObjectTable, Provenance

__all__ = ["labels_table", "numeric_rows", "parse"]

_NUMERIC_TEXT = b"0123456789.eE+- \t\r\n"


def numeric_rows(
    texts: list[tuple[int, str, str]],
) -> tuple[np.ndarray | None, list[tuple[int, str, np.ndarray]], list[tuple[int, str, str]]]:
    """Label texts whose lines all hold 5 numbers (blank lines aside), parsed in one pass.

    Returns ``(numbers (K, 5), [(pos, label, line numbers)], the other texts)``: lines are
    counted with numpy over the bytes of all texts at once and the numbers parsed by one
    ``np.fromstring``. Anything unusual (other characters, 4 or 6 tokens on a line, a token
    that is not a number) leaves that text to the line-by-line parse, which names what is
    wrong.
    """
    parts: list[str] = []
    plain: list[int] = []
    for k, (_, _, text) in enumerate(texts):
        part = text if text.endswith("\n") else text + "\n"
        if part.isascii() and not part.encode("ascii").translate(None, _NUMERIC_TEXT):
            parts.append(part)
            plain.append(k)
    if not parts:
        return None, [], list(texts)
    b = np.frombuffer("".join(parts).encode("ascii"), np.uint8)
    newline = b == 10
    space = newline | (b == 32) | (b == 9) | (b == 13)
    starts = ~space
    starts[1:] &= space[:-1]  # the first byte of each token
    line_of_byte = np.cumsum(newline) - newline  # a line's '\n' counts as its own
    lines_per_part = np.fromiter((p.count("\n") for p in parts), np.int64, len(parts))
    tokens = np.bincount(line_of_byte[starts], minlength=int(lines_per_part.sum()))
    part_of_line = np.repeat(np.arange(len(parts)), lines_per_part)
    line_no = np.arange(len(tokens)) - np.repeat(np.cumsum(lines_per_part) - lines_per_part, lines_per_part) + 1
    fast = np.ones(len(parts), bool)
    fast[part_of_line[(tokens != 5) & (tokens != 0)]] = False
    row = (tokens == 5) & fast[part_of_line]
    chosen = np.flatnonzero(fast).tolist()
    numbers = _floats("".join(parts[i] for i in chosen))
    if numbers is None:  # some token is not a number: leave out the texts that hold one
        chosen = [i for i in chosen if _floats(parts[i]) is not None]
        fast[:] = False
        fast[chosen] = True
        row = (tokens == 5) & fast[part_of_line]
        numbers = _floats("".join(parts[i] for i in chosen))
    if numbers is None or len(numbers) != 5 * int(row.sum()):  # cannot happen after the checks above
        return None, [], list(texts)
    ends = np.searchsorted(part_of_line[row], chosen, side="right")
    line_numbers = np.split(line_no[row], ends[:-1]) if chosen else []
    files = [(texts[plain[i]][0], texts[plain[i]][1], ln) for i, ln in zip(chosen, line_numbers)]
    taken = {plain[i] for i in chosen}
    return numbers.reshape(-1, 5), files, [t for k, t in enumerate(texts) if k not in taken]


def _floats(text: str) -> np.ndarray | None:
    """The whitespace-separated numbers of ``text``, or ``None`` if a token is not a number."""
    try:
        return np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None


def labels_table(
    arr: np.ndarray,
    files: list[tuple[int, str, np.ndarray]],
    records: list[ImageRecord],
    id_of: Mapping[int, int],
) -> tuple[ObjectTable | None, set[tuple[int, str]]]:
    """Vectorised checks of ``class cx cy w h`` rows (``arr`` (K, 5), file after file, with
    each file's line numbers); files with any bad row are returned for the slow pass."""
    counts = np.array([len(n) for _, _, n in files], dtype=np.int64)
    file_of_row = np.repeat(np.arange(len(files)), counts)
    ids_sorted = np.array(sorted(id_of), dtype=np.int64)
    k = arr[:, 0]
    good = np.isfinite(arr).all(axis=1) & (k == np.round(k)) & (arr[:, 3] >= 0) & (arr[:, 4] >= 0)
    ki = np.where(good, k, -1).astype(np.int64)
    where = np.searchsorted(ids_sorted, ki).clip(0, max(len(ids_sorted) - 1, 0))
    good &= len(ids_sorted) > 0
    if len(ids_sorted):
        good &= ids_sorted[where] == ki
    bad_files = set(np.unique(file_of_row[~good]).tolist())
    rejected = {(files[i][0], files[i][1]) for i in bad_files}
    keep_file = np.ones(len(files), bool)
    keep_file[list(bad_files)] = False
    sel = keep_file[file_of_row]
    arr = arr[sel]
    fr = file_of_row[sel]
    if not len(arr):
        return None, rejected
    positions = np.array([pos for pos, _, _ in files], dtype=np.int64)[fr]
    sizes = np.array([[r.width, r.height] for r in records], dtype=np.float64).reshape(-1, 2)[positions]
    cx, cy, bw, bh = arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]
    w, h = sizes[:, 0], sizes[:, 1]
    xyxy = np.column_stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    lut = np.array([id_of[int(i)] for i in ids_sorted], dtype=np.int64)
    cls = lut[np.searchsorted(ids_sorted, arr[:, 0].astype(np.int64))]
    line = np.concatenate([n for _, _, n in files])[sel] if files else np.zeros(0, np.int64)
    src = np.empty(len(files), dtype=object)
    src[:] = [str(label) for _, label, _ in files]
    return ObjectTable(xyxy, cls, positions, provenance=Provenance.of_lines(src[fr], line)), rejected


def parse(
    texts: list[tuple[int, str, str]], records: list[ImageRecord], id_of: Mapping[int, int]
) -> tuple[ObjectTable | None, list[tuple[int, str, str]]]:
    """The one call: ``(table of the label files taken, the files declined)``, each file as
    ``(image position, label path, text)``; the declined ones go to the line-by-line parse."""
    numbers, fast_files, slow = numeric_rows(texts)
    table = None
    if fast_files and numbers is not None:
        table, rejected = labels_table(numbers, fast_files, records, id_of)
        slow += [(pos, label, text) for pos, label, text in texts if (pos, label) in rejected]
    return table, slow
