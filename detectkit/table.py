"""``ObjectTable``: the objects of many images as parallel columns, the data layer's one container.

A :class:`~detectkit.dataset.Dataset` keeps all its objects in one table so readers, writers
and filters run over columns instead of per-object Python objects; ``Detections`` are cut from
it per image on access. The table is public so format modules and tools build and read
datasets through it, never through the dataset's internals:

- ``xyxy`` float64 (M, 4) absolute pixels, ``class_id`` int64 (M,) (the dataset's category
  id), ``image_index`` int64 (M,) (position of the object's image in the dataset's record
  list; :meth:`ObjectTable.sorted` groups rows by it), ``confidence`` float32 (M,) or None;
- ``data``: per-object public columns (:class:`Columns`; ``"iscrowd"``, ``"area"``,
  ``"annotation_id"``, ``"segmentation"``, ...): they become ``Detections.data``;
- ``provenance``: where each object was read from (:class:`Provenance`: file, and line or
  record), or None for objects that were not read from a file;
- ``extras``: a per-format bag, ``{format: {name: column}}``, for what one format keeps to
  write its own files back exactly (e.g. COCO's boxes as given). Other formats ignore it.

Columns whose values may still be encoded (a COCO ``segmentation`` kept as the JSON text it
was read from) decode on access: ``table.data["segmentation"]`` never shows encoded values;
:meth:`Columns.raw` gives the stored values to the one writer that can copy the text verbatim.

>>> import numpy as np
>>> t = ObjectTable(np.array([[0, 0, 4, 4], [1, 1, 2, 2.0]]), np.array([3, 1]), np.array([1, 0]),
...                 data={"iscrowd": np.array([0, 1])})
>>> s = t.sorted()
>>> s.image_index.tolist(), s.class_id.tolist(), s.data["iscrowd"].tolist()
([0, 1], [1, 3], [1, 0])
>>> s.row_offsets(3).tolist()
[0, 1, 2, 2]
>>> len(ObjectTable.concat([s, s.take(np.array([0]))]))
3
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from detectkit.errors import InvalidInputError

__all__ = ["Columns", "ObjectTable", "Provenance", "decode_values", "fill_value"]

#: Default fill for a per-object column that some objects lack, by column name then dtype kind.
_FILL_BY_NAME: dict[str, Any] = {"annotation_id": -1, "area": np.nan, "iscrowd": 0, "tracker_id": -1}
_FILL_BY_KIND: dict[str, Any] = {"f": np.nan, "i": 0, "u": 0, "b": False, "O": None, "U": "", "S": b""}


def fill_value(name: str, dtype: np.dtype[Any]) -> Any:
    """What a column ``name`` of ``dtype`` holds for an object that lacks the value.

    >>> fill_value("annotation_id", np.dtype(np.int64)), fill_value("x", np.dtype(np.float64))
    (-1, nan)
    """
    if name in _FILL_BY_NAME:
        return _FILL_BY_NAME[name]
    return _FILL_BY_KIND.get(dtype.kind)


def decode_values(column: np.ndarray) -> np.ndarray:
    """``column`` with values still in encoded form (``msgspec.Raw`` JSON text) decoded.

    Returns the column itself when nothing is encoded, else a decoded copy.

    >>> decode_values(np.array([1, 2])).tolist()
    [1, 2]
    """
    msgspec = sys.modules.get("msgspec")
    if msgspec is None or column.dtype != object or not len(column):
        return column  # no msgspec loaded: nothing can be encoded
    raw = msgspec.Raw
    todo = [i for i, v in enumerate(column.tolist()) if type(v) is raw]
    if not todo:
        return column
    out = column.copy()
    decode = msgspec.json.decode
    for i in todo:
        out[i] = decode(out[i])
    return out


def _fill_column(name: str, like: np.ndarray, n: int) -> np.ndarray:
    fill = fill_value(name, like.dtype)
    col = np.empty((n, *like.shape[1:]), dtype=object if fill is None else like.dtype)
    col[...] = fill
    return col


def _concat_columns(parts: Sequence[Mapping[str, np.ndarray]], lengths: Sequence[int]) -> dict[str, np.ndarray]:
    """Column-wise concatenation; columns some parts lack are filled (see :func:`fill_value`)."""
    first: dict[str, np.ndarray] = {}
    for p in parts:
        for k in p:
            if k not in first:
                first[k] = _stored(p, k)
    out: dict[str, np.ndarray] = {}
    for k, like in first.items():
        out[k] = np.concatenate([_stored(p, k) if k in p else _fill_column(k, like, n) for p, n in zip(parts, lengths)])
    return out


def _stored(columns: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return columns.raw(name) if isinstance(columns, Columns) else columns[name]


class Columns(MutableMapping[str, np.ndarray]):
    """Name -> per-object column; encoded columns decode on first access.

    ``encoded`` names columns that may hold encoded values (``msgspec.Raw`` JSON text);
    reading such a column through the mapping decodes it once (the decoded column replaces
    the stored one), :meth:`raw` returns what is stored, and :meth:`rows` decodes only the
    rows asked for.

    >>> c = Columns({"area": np.array([1.0, 2.0])})
    >>> c["area"].tolist(), c.rows("area", slice(1, 2)).tolist(), list(c)
    ([1.0, 2.0], [2.0], ['area'])
    """

    __slots__ = ("_cols", "_encoded")

    def __init__(self, columns: Mapping[str, np.ndarray] | None = None, *, encoded: Iterable[str] = ()) -> None:
        if isinstance(columns, Columns):  # the stored columns: nothing is decoded
            self._cols: dict[str, np.ndarray] = dict(columns._cols)
            self._encoded: set[str] = set(columns._encoded)
        else:
            self._cols = dict(columns.items() if columns is not None else ())
            self._encoded = set()
        self._encoded.update(k for k in encoded if k in self._cols)

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._cols[name]
        if name in self._encoded:
            col = self._cols[name] = decode_values(col)
            self._encoded.discard(name)
        return col

    def __setitem__(self, name: str, column: np.ndarray) -> None:
        self._cols[name] = column
        self._encoded.discard(name)

    def __delitem__(self, name: str) -> None:
        del self._cols[name]
        self._encoded.discard(name)

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return len(self._cols)

    def __repr__(self) -> str:
        return f"Columns({sorted(self._cols)})"

    def raw(self, name: str) -> np.ndarray:
        """The stored column (values may still be encoded; see :func:`decode_values`)."""
        return self._cols[name]

    def mark_encoded(self, name: str) -> None:
        """Declare that column ``name`` (if present) may hold encoded values, decoded on access."""
        if name in self._cols:
            self._encoded.add(name)

    def is_encoded(self, name: str) -> bool:
        """True when column ``name`` may still hold encoded values."""
        return name in self._encoded

    def rows(self, name: str, index: Any) -> np.ndarray:
        """``column[index]`` decoded, without decoding (or caching) the rest of the column."""
        part: np.ndarray = self._cols[name][index]
        return decode_values(part) if name in self._encoded else part

    def take(self, index: Any) -> Columns:
        """Every column at ``index`` (nothing is decoded)."""
        out = Columns({k: v[index] for k, v in self._cols.items()})
        out._encoded = set(self._encoded)
        return out

    def copy(self) -> Columns:
        """A new mapping of the same column arrays."""
        return Columns(self)


def _repeated(value: object, n: int) -> np.ndarray:
    """An object column holding ``value`` ``n`` times (``np.full`` with an object is ~30x slower)."""
    column = np.empty(n, dtype=object)
    column.fill(value)
    return column


class Provenance:
    """Where each object of a table was read from: one row per object.

    ``file`` object (M,) path text or None; ``line`` int64 (M,) 1-based line, 0 = none;
    ``record`` int64 (M,) index in the file's list ``record_list`` (object (M,) text or
    None), -1 = none. The record's label is ``f"{record_list}[{record}]"``, e.g.
    ``annotations[3]`` (COCO), ``object[0]`` (VOC), ``image[2]/box`` + ``[1]`` (CVAT).

    >>> p = Provenance.of_records("a.json", "annotations", np.array([4, 7]))
    >>> p.where(1)
    ('a.json', 'annotations[7]', None)
    >>> Provenance.of_lines(np.array(["l.txt"], dtype=object), np.array([3])).where(0)
    ('l.txt', None, 3)
    """

    __slots__ = ("file", "line", "record", "record_list")

    def __init__(self, file: np.ndarray, line: np.ndarray, record: np.ndarray, record_list: np.ndarray) -> None:
        self.file = file
        self.line = line
        self.record = record
        self.record_list = record_list

    @staticmethod
    def none(n: int) -> Provenance:
        """``n`` objects of unknown origin."""
        return Provenance(
            np.empty(n, dtype=object), np.zeros(n, np.int64), np.full(n, -1, np.int64), np.empty(n, dtype=object)
        )

    @staticmethod
    def of_records(file: str, record_list: str, record: np.ndarray) -> Provenance:
        """Objects that are the ``record``-th entries of list ``record_list`` in one ``file``."""
        n = len(record)
        return Provenance(
            _repeated(file, n),
            np.zeros(n, np.int64),
            np.asarray(record, dtype=np.int64),
            _repeated(record_list, n),
        )

    @staticmethod
    def of_lines(file: np.ndarray, line: np.ndarray) -> Provenance:
        """Objects read from lines of text files (``file`` object array, ``line`` 1-based)."""
        n = len(line)
        return Provenance(file, np.asarray(line, dtype=np.int64), np.full(n, -1, np.int64), np.empty(n, dtype=object))

    def __len__(self) -> int:
        return int(self.line.shape[0])

    def take(self, index: Any) -> Provenance:
        """The rows at ``index``."""
        return Provenance(self.file[index], self.line[index], self.record[index], self.record_list[index])

    @staticmethod
    def concat(parts: Sequence[Provenance]) -> Provenance:
        """Rows of ``parts`` one after another."""
        return Provenance(
            np.concatenate([p.file for p in parts]),
            np.concatenate([p.line for p in parts]),
            np.concatenate([p.record for p in parts]),
            np.concatenate([p.record_list for p in parts]),
        )

    def where(self, row: int) -> tuple[str | None, str | None, int | None]:
        """``(file, record label, line)`` of one object; None where unknown."""
        file = self.file[row]
        if not isinstance(file, str):
            return None, None, None
        rec = int(self.record[row])
        label = f"{self.record_list[row] or ''}[{rec}]" if rec >= 0 else None
        line = int(self.line[row])
        return file, label, line if line > 0 else None


class ObjectTable:
    """All objects of a dataset as parallel columns (see the module docstring).

    Args:
        xyxy: float64 (M, 4) boxes, absolute pixels.
        class_id: int64 (M,) category ids.
        image_index: int64 (M,) position of each object's image.
        confidence: float32 (M,) scores, or None for ground truth.
        data: name -> per-object column (public; becomes ``Detections.data``).
        provenance: where each object was read from, or None.
        extras: format -> name -> per-object column, what a format keeps for itself.

    The arrays are used as given (no copy). Treat a table as immutable once a dataset holds
    it: operations return new tables. (A plain class: a dataclass would cost the CLI start-up
    time.)
    """

    __slots__ = ("class_id", "confidence", "data", "extras", "image_index", "provenance", "xyxy")

    def __init__(
        self,
        xyxy: np.ndarray,
        class_id: np.ndarray,
        image_index: np.ndarray,
        confidence: np.ndarray | None = None,
        data: Mapping[str, np.ndarray] | None = None,
        *,
        provenance: Provenance | None = None,
        extras: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> None:
        self.xyxy = xyxy
        self.class_id = class_id
        self.image_index = image_index
        self.confidence = confidence
        self.data: Columns = data if isinstance(data, Columns) else Columns(data)
        self.provenance = provenance
        self.extras: dict[str, dict[str, np.ndarray]] = {k: dict(v) for k, v in (extras or {}).items()}

    @staticmethod
    def empty() -> ObjectTable:
        """A table of no objects (ground truth)."""
        return ObjectTable(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.class_id.shape[0])

    def __repr__(self) -> str:
        kind = "predictions" if self.confidence is not None else "ground truth"
        return f"ObjectTable({len(self)} objects, {kind}, data={sorted(self.data)}, extras={sorted(self.extras)})"

    def replace(self, **fields: Any) -> ObjectTable:
        """A new table with some fields replaced (the other columns are shared).

        >>> ObjectTable.empty().replace(confidence=np.zeros(0, np.float32)).confidence.dtype
        dtype('float32')
        """
        unknown = set(fields) - set(self.__slots__)
        if unknown:
            raise InvalidInputError(f"unknown ObjectTable fields {sorted(unknown)}; known: {sorted(self.__slots__)}")
        values = {k: getattr(self, k) for k in self.__slots__}
        values.update(fields)
        data = values.pop("data")
        return ObjectTable(
            values["xyxy"],
            values["class_id"],
            values["image_index"],
            values["confidence"],
            data.copy() if isinstance(data, Columns) else data,
            provenance=values["provenance"],
            extras=values["extras"],
        )

    def take(self, index: Any) -> ObjectTable:
        """The rows at ``index`` (an integer array, boolean mask or slice)."""
        return ObjectTable(
            self.xyxy[index],
            self.class_id[index],
            self.image_index[index],
            None if self.confidence is None else self.confidence[index],
            self.data.take(index),
            provenance=None if self.provenance is None else self.provenance.take(index),
            extras={f: {k: v[index] for k, v in cols.items()} for f, cols in self.extras.items()},
        )

    def sorted(self) -> ObjectTable:
        """The rows grouped by ``image_index`` (stable: rows of one image keep their order)."""
        if len(self) < 2 or bool((np.diff(self.image_index) >= 0).all()):
            return self
        return self.take(np.argsort(self.image_index, kind="stable"))

    def row_offsets(self, n_images: int) -> np.ndarray:
        """int64 (n_images + 1,): rows of image ``i`` are ``offsets[i]:offsets[i + 1]`` (sorted tables)."""
        return np.searchsorted(self.image_index, np.arange(n_images + 1), side="left")

    @staticmethod
    def concat(tables: Sequence[ObjectTable]) -> ObjectTable:
        """Rows of ``tables`` one after another (``image_index`` as given: shift it first).

        Columns some tables lack are filled (NaN, 0, -1 for ``annotation_id``, None). Mixing
        predictions and ground truth raises :class:`~detectkit.errors.InvalidInputError`.
        """
        tables = [t for t in tables if len(t)]
        if not tables:
            return ObjectTable.empty()
        if len(tables) == 1:
            return tables[0]
        has_conf = [t.confidence is not None for t in tables]
        if any(has_conf) and not all(has_conf):
            raise InvalidInputError("cannot combine predictions (with confidence) and ground truth (without)")
        conf = np.concatenate([t.confidence for t in tables if t.confidence is not None]) if all(has_conf) else None
        lengths = [len(t) for t in tables]
        data = _concat_columns([t.data for t in tables], lengths)
        encoded = {k for t in tables for k in t.data if t.data.is_encoded(k)}
        provenance = None
        if any(t.provenance is not None for t in tables):
            provenance = Provenance.concat(
                [t.provenance if t.provenance is not None else Provenance.none(len(t)) for t in tables]
            )
        formats = dict.fromkeys(f for t in tables for f in t.extras)
        extras = {f: _concat_columns([t.extras.get(f, {}) for t in tables], lengths) for f in formats}
        return ObjectTable(
            np.concatenate([t.xyxy for t in tables]),
            np.concatenate([t.class_id for t in tables]),
            np.concatenate([t.image_index for t in tables]),
            conf,
            Columns(data, encoded=encoded),
            provenance=provenance,
            extras=extras,
        )
