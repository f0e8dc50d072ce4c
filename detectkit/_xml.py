"""Safe XML parsing for annotation files (Pascal VOC, CVAT): no entity declarations, no external
references.

The standard library parser expands internal entities (the "billion laughs" bomb grows a 1 KB
file into gigabytes; expat >= 2.4.1 limits the amplification, older ones do not) and reports
external entity references to a handler. Annotation files never need either, so
:func:`parse_xml` refuses any document that declares an entity or refers to an external one,
the way ``defusedxml`` does (``forbid_entities=True, forbid_external=True``; a plain
``<!DOCTYPE>`` without entities stays allowed), and raises
:class:`~detectkit.errors.AnnotationParseError` naming the file. It needs no extra dependency:
the same handlers as defusedxml's are set on the stdlib expat parser (the tests check that both
refuse the same attack files). Documents without a DOCTYPE cannot declare entities and take the
C parser unchanged (fast path; a test checks both paths build the same tree).

Malformed XML still raises :class:`xml.etree.ElementTree.ParseError`, which the format readers
turn into their own ``AnnotationParseError`` with the line number.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.xml"
>>> _ = p.write_text("<annotation><filename>a.jpg</filename></annotation>")
>>> parse_xml(p).find("filename").text
'a.jpg'
>>> _ = p.write_text('<!DOCTYPE a [<!ENTITY x "xx">]><annotation>&x;</annotation>')
>>> try:
...     parse_xml(p)
... except AnnotationParseError as exc:
...     print(exc.message)
XML entity declarations are not allowed (entity 'x'); annotation files never need them
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Any, NoReturn
from xml.parsers import expat

from detectkit.errors import AnnotationParseError

__all__ = ["guarded_tree", "parse_xml"]


class _ForbiddenError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _entity_decl(name: str, *_args: Any) -> NoReturn:
    raise _ForbiddenError(
        f"XML entity declarations are not allowed (entity {name!r}); annotation files never need them"
    )


def _unparsed_entity_decl(name: str, *_args: Any) -> NoReturn:
    raise _ForbiddenError(f"XML unparsed entity declarations are not allowed (entity {name!r})")


def _external_ref(_context: Any, _base: Any, system_id: Any, _public_id: Any) -> NoReturn:
    raise _ForbiddenError(f"XML external entity references are not allowed ({system_id!r})")


def _qualified(name: str) -> str:
    return "{" + name if "}" in name else name  # expat's "uri}local" -> ElementTree's "{uri}local"


def guarded_tree(data: bytes) -> ET.Element:
    """Parse with the stdlib expat parser, defusedxml's handlers set, into an ElementTree element.

    The plain path: every document can take it. Slower than ``ET.fromstring`` (a Python call
    per element), so :func:`parse_xml` uses it only for documents that have a ``<!DOCTYPE``
    or are not in an ASCII-compatible encoding.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler = lambda tag, attrs: builder.start(
        _qualified(tag), {_qualified(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda tag: builder.end(_qualified(tag))
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = _entity_decl
    parser.UnparsedEntityDeclHandler = _unparsed_entity_decl
    parser.ExternalEntityRefHandler = _external_ref
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        err = ET.ParseError(f"{expat.ErrorString(exc.code)}: line {exc.lineno}, column {exc.offset}")
        err.code = exc.code
        err.position = (exc.lineno, exc.offset)
        raise err from None
    root: ET.Element = builder.close()
    return root


_PLAIN_START = re.compile(rb"(?:\xef\xbb\xbf)?\s*<")


def parse_xml(path: str | os.PathLike[str]) -> ET.Element:
    """Parse an XML annotation file safely (see the module docs) and return its root element.

    Documents without a ``<!DOCTYPE`` in an ASCII-compatible encoding cannot declare or
    reference entities, and go to the C parser (``ET.fromstring``); the others to
    :func:`guarded_tree`, which refuses entity declarations and external references.

    Raises:
        AnnotationParseError: the document declares entities or refers to external ones, or the
            file cannot be read.
        xml.etree.ElementTree.ParseError: malformed XML.
    """
    try:
        with open(os.fspath(path), "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise AnnotationParseError(os.fspath(path), f"unreadable: {exc}") from None
    try:
        if _PLAIN_START.match(data) and b"<!DOCTYPE" not in data:
            return ET.fromstring(data)
        return guarded_tree(data)
    except _ForbiddenError as exc:
        raise AnnotationParseError(os.fspath(path), exc.message) from None
    except (LookupError, ValueError) as exc:  # encoding="x" / "utf-7" in the declaration (found by tests/fuzz)
        raise AnnotationParseError(os.fspath(path), f"invalid XML declaration: {exc}") from None
