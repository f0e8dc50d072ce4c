"""The typed error hierarchy of detectkit.

Every error raised on purpose by detectkit derives from :class:`DetectkitError`, so
``except DetectkitError`` catches them all. Input problems are also ``ValueError``
and missing optional dependencies are also ``ImportError`` so code written
against the standard exceptions keeps working.

>>> try:
...     raise InvalidInputError("xyxy must have shape (N, 4), got (3, 5)")
... except ValueError as exc:
...     print(exc)
xyxy must have shape (N, 4), got (3, 5)
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AnnotationParseError",
    "DetectkitError",
    "ImageTooLargeError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelLoadError",
]


class DetectkitError(Exception):
    """Base class of every error detectkit raises on purpose."""


class InvalidInputError(DetectkitError, ValueError):
    """An argument or input file has the wrong shape, type, value or content.

    The message names the argument (or file), what was expected and what was received.
    """


class ImageTooLargeError(InvalidInputError):
    """An image declares more pixels than ``$DETECTKIT_MAX_PIXELS`` allows (a decompression bomb
    guard, checked from the header before decoding; see :mod:`detectkit._limits`)."""


class AnnotationParseError(DetectkitError, ValueError):
    """An annotation file could not be parsed.

    Args:
        path: the file that failed.
        message: what was wrong.
        line: 1-based line number, when the format is line oriented.
        record: a record locator (e.g. ``"annotations[12]"`` or an XML element path).

    >>> str(AnnotationParseError("labels/a.txt", "expected 5 numbers, got 3", line=4))
    'labels/a.txt:4: expected 5 numbers, got 3'
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        record: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.message = message
        self.line = line
        self.record = record
        where = str(path)
        if line is not None:
            where += f":{line}"
        if record is not None:
            where += f" [{record}]"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, ...]:  # keep picklable across processes
        return (_rebuild_parse_error, (str(self.path), self.message, self.line, self.record))


def _rebuild_parse_error(path: str, message: str, line: int | None, record: str | None) -> AnnotationParseError:
    return AnnotationParseError(path, message, line=line, record=record)


class ModelLoadError(DetectkitError):
    """A model or weights file could not be resolved, verified or loaded."""


class MissingDependencyError(DetectkitError, ImportError):
    """An optional dependency is not installed.

    Args:
        package: the import name that failed.
        extra: the pip extra that installs it.
        purpose: what it is needed for.

    >>> print(MissingDependencyError("onnxruntime", extra="onnx", purpose="backend='onnx'"))
    onnxruntime is required for backend='onnx': pip install 'detectkit[onnx]'
    """

    def __init__(self, package: str, *, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is required for {purpose}: pip install 'detectkit[{extra}]'")
