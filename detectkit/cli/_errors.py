"""Error texts for the command line: Python parameter names become the flags a CLI user types.

The library's messages name its keyword arguments (``pass format=``, ``use task='segment'``,
``(pass overwrite=True to replace it)``) because that is what a Python user can act on. A
command-line user needs the flag instead. Each subcommand wraps its ``run`` function with
:func:`guarded` and a table ``parameter -> flag``; errors leaving ``run`` (and notes printed
through :func:`flag_text`) are rewritten with that table, so the library keeps one message
and the CLI shows the flag. Only parameters the subcommand has a flag for are rewritten.

>>> flags = {"format": "--from FORMAT", "overwrite": "--overwrite", "task": "--task"}
>>> flag_text("cannot tell the annotation format of x; pass format=", flags)
'cannot tell the annotation format of x; pass --from FORMAT'
>>> flag_text("dst out.json exists (pass overwrite=True to replace it)", flags)
'dst out.json exists (pass --overwrite to replace it)'
>>> flag_text("segmentation not written (task=detect keeps boxes only; use task='segment')", flags)
'segmentation not written (--task detect keeps boxes only; use --task segment)'
>>> flag_text("output folder o exists and is not empty (use overwrite)", flags)
'output folder o exists and is not empty (use --overwrite)'
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Callable, Mapping

from detectkit.cli import UsageError
from detectkit.errors import DetectkitError, InvalidInputError

__all__ = ["DATASET_FLAGS", "flag_text", "guarded", "plain_message"]

# The read/write options the dataset subcommands share (detectkit.cli._data).
DATASET_FLAGS: Mapping[str, str] = {
    "format": "--from FORMAT",
    "images": "--images DIR",
    "overwrite": "--overwrite",
    "strict": "--strict",
    "copy_images": "--copy-images",
}

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def flag_text(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with every ``param=...`` of ``flags`` written as its command-line flag.

    Args:
        message: a library message.
        flags: parameter name -> flag, optionally with a metavar (``"--images DIR"``).

    >>> flag_text("conf must be in [0, 1], got 2", {"conf": "--conf"})
    '--conf must be in [0, 1], got 2'
    >>> flag_text("pass images= when reading", {"images": "--images DIR"})
    'pass --images DIR when reading'
    """
    for param, flag in flags.items():
        name = flag.split()[0]
        p = re.escape(param)
        # "pass overwrite=True" -> "pass --overwrite"
        message = re.sub(rf"(?<![\w-]){p}=True\b", name, message)
        # "pass format=" at the end or before punctuation/space -> "pass --from FORMAT"
        message = re.sub(rf"(?<![\w-]){p}=(?=$|[\s).;,])", flag, message)
        # "task='segment'" / "device=cpu" -> "--task segment"
        message = re.sub(
            rf"(?<![\w-]){p}=(?:'([^']*)'|\"([^\"]*)\"|([\w.:/-]+))",
            functools.partial(_flag_value, name),
            message,
        )
        # "(use overwrite)" -> "(use --overwrite)"
        message = re.sub(rf"\b(use|pass|set) {p}\b(?!=)", rf"\1 {name}", message)
        # "conf must be ..." / "classes: unknown ..." at the start
        message = re.sub(rf"^{p}(?= must\b|:)", name, message)
    return message


def _flag_value(flag: str, match: re.Match[str]) -> str:
    return f"{flag} {match.group(match.lastindex or 1)}"


def plain_message(message: str) -> str:
    """One line without Python object reprs (``<_io.BytesIO object at 0x...>``).

    >>> plain_message("fake.jpg is not a readable image: cannot identify image file <_io.BytesIO object at 0x7f>")
    'fake.jpg is not a readable image: cannot identify image file'
    >>> plain_message("pass an Ultralytics .pt/.onnx file (<x.Y object at 0x1> ).")
    'pass an Ultralytics .pt/.onnx file ().'
    """
    text = _OBJECT_REPR.sub("", message)
    text = re.sub(r"[ \t]+([,.;:)])(?=[\s,.;:)]|$)", r"\1", text)  # not ".pt" in "a .pt file"
    text = " ".join(text.split())
    return text.rstrip(" :")


def guarded(run: Callable[[argparse.Namespace], int], flags: Mapping[str, str]) -> Callable[[argparse.Namespace], int]:
    """Wrap a subcommand's ``run``: its errors come out in the CLI's words, on one line.

    Library errors keep their exit code (a :class:`~detectkit.cli.UsageError` 2, others 1);
    ``OSError`` (a file that cannot be read or written) becomes one line naming the file, exit 1.
    """

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except UsageError as exc:
            raise UsageError(plain_message(flag_text(str(exc), flags))) from None
        except DetectkitError as exc:
            raise InvalidInputError(plain_message(flag_text(str(exc), flags))) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise InvalidInputError(plain_message(f"{where}{exc.strerror or exc}")) from None

    return wrapper
