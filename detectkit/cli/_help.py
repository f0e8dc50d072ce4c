"""Help texts from module docstrings, without their reST markup.

The subcommand modules document themselves in reST (rendered by the docs, read by developers);
``--help`` shows the same text as plain words:

>>> plain_doc("Reads ``data.yaml`` with :func:`~detectkit.formats.read`; see :mod:`detectkit.cli`.")
'Reads data.yaml with read(); see detectkit.cli.'
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["parser_options", "plain_doc"]

_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj|py:\w+):`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_EMPHASIS = re.compile(r"(?<![\w*])\*\*?([^*\s][^*]*?)\*\*?(?![\w*])")


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    kind = match.group(0)[1:].split(":", 1)[0]
    name = target.rsplit(".", 1)[-1] if match.group(0).find("`~") >= 0 else target
    return f"{name}()" if kind in ("func", "meth") else name


def plain_doc(doc: str | None) -> str | None:
    """``doc`` with reST roles, literals and emphasis turned into plain text (None stays None)."""
    if doc is None:
        return None
    text = _ROLE.sub(_role, doc)
    text = _LITERAL.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    return text.replace("::\n", ":\n")


def parser_options(doc: str | None) -> dict[str, Any]:
    """``add_parser`` keywords: the module docstring as plain text, its paragraphs kept."""
    return {"description": plain_doc(doc), "formatter_class": argparse.RawDescriptionHelpFormatter}
