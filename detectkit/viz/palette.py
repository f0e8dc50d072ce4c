"""A stable class palette: the same class id gets the same colour in every image and every run.

Colours are a fixed table of 20 well-separated hues (indexed by ``class_id % 20`` would repeat
too soon, so ids past the table get hues from the golden-ratio sequence — still a pure function
of the id, never of the order in which classes appear). Colours are stored as RGB and returned
in the channel order the caller draws in (``"bgr"`` for OpenCV images, ``"rgb"`` for PIL /
matplotlib arrays).

>>> class_color(0)
(75, 25, 230)
>>> class_color(0, channels="rgb")
(230, 25, 75)
>>> class_color(7) == class_color(7)
True
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypeAlias

import numpy as np

from detectkit._checks import check_choice
from detectkit.errors import InvalidInputError

__all__ = ["DEFAULT_COLORS", "Channels", "Palette", "class_color", "parse_color", "text_color_for"]

Channels = Literal["bgr", "rgb"]

# 20 distinct colours (RGB), well separated for the first classes of a dataset.
DEFAULT_COLORS: tuple[str, ...] = (
    "#E6194B",  # red
    "#3CB44B",  # green
    "#FFE119",  # yellow
    "#4363D8",  # blue
    "#F58231",  # orange
    "#911EB4",  # purple
    "#42D4F4",  # cyan
    "#F032E6",  # magenta
    "#BFEF45",  # lime
    "#FABED4",  # pink
    "#469990",  # teal
    "#DCBEFF",  # lavender
    "#9A6324",  # brown
    "#FFFAC8",  # beige
    "#800000",  # maroon
    "#AAFFC3",  # mint
    "#808000",  # olive
    "#FFD8B1",  # apricot
    "#1F3FA0",  # navy
    "#A9A9A9",  # grey
)

ColorLike: TypeAlias = "str | Sequence[int]"
_GOLDEN = 0.618033988749895


def parse_color(value: ColorLike, name: str = "color") -> tuple[int, int, int]:
    """An RGB triple from ``"#RRGGBB"`` / ``"RRGGBB"`` or a sequence of three 0-255 ints.

    >>> parse_color("#ff8000"), parse_color((1, 2, 3))
    ((255, 128, 0), (1, 2, 3))
    """
    if isinstance(value, str):
        text = value.removeprefix("#")
        if len(text) != 6:
            raise InvalidInputError(f"{name} must be '#RRGGBB' or an (r, g, b) triple, got {value!r}")
        try:
            return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
        except ValueError:
            raise InvalidInputError(f"{name} must be '#RRGGBB' or an (r, g, b) triple, got {value!r}") from None
    try:
        items = [int(v) for v in value]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be '#RRGGBB' or an (r, g, b) triple, got {value!r}") from None
    if len(items) != 3 or not all(0 <= v <= 255 for v in items):
        raise InvalidInputError(f"{name} must be three integers in [0, 255], got {value!r}")
    return items[0], items[1], items[2]


def _generated(class_id: int) -> tuple[int, int, int]:
    hue = (class_id * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


class Palette:
    """Maps class ids to colours, deterministically.

    Args:
        colors: the table indexed by class id (hex strings or RGB triples); ids past its end
            get generated hues. Defaults to :data:`DEFAULT_COLORS`.
        overrides: fixed colours for particular class ids (e.g. ``{0: "#00FF00"}``).

    >>> p = Palette(overrides={3: "#000000"})
    >>> p.color(3), p.color(1, channels="rgb")
    ((0, 0, 0), (60, 180, 75))
    >>> p.colors([0, 1]).tolist()
    [[75, 25, 230], [75, 180, 60]]
    """

    def __init__(
        self,
        colors: Sequence[ColorLike] | None = None,
        *,
        overrides: Mapping[int, ColorLike] | None = None,
    ) -> None:
        table = DEFAULT_COLORS if colors is None else colors
        if isinstance(table, str) or len(table) == 0:
            raise InvalidInputError(f"colors must be a non-empty sequence of colours, got {table!r}")
        self._table = [parse_color(c, f"colors[{i}]") for i, c in enumerate(table)]
        self._overrides = {int(k): parse_color(v, f"overrides[{k}]") for k, v in (overrides or {}).items()}
        self._cache: dict[int, tuple[int, int, int]] = {}

    def rgb(self, class_id: int) -> tuple[int, int, int]:
        """The RGB colour of ``class_id``."""
        k = int(class_id)
        hit = self._cache.get(k)
        if hit is None:
            if k in self._overrides:
                hit = self._overrides[k]
            elif 0 <= k < len(self._table):
                hit = self._table[k]
            else:
                hit = _generated(k)
            self._cache[k] = hit
        return hit

    def color(self, class_id: int, *, channels: Channels = "bgr") -> tuple[int, int, int]:
        """The colour of ``class_id`` in ``channels`` order."""
        r, g, b = self.rgb(class_id)
        return (b, g, r) if channels == "bgr" else (r, g, b)

    def colors(self, class_ids: Iterable[int], *, channels: Channels = "bgr") -> np.ndarray:
        """uint8 ``(N, 3)`` colours for many ids, in ``channels`` order."""
        check_choice(channels, "channels", ("bgr", "rgb"))
        rows = [self.color(int(k), channels=channels) for k in class_ids]
        return np.array(rows, dtype=np.uint8).reshape(-1, 3)

    def __repr__(self) -> str:
        return f"Palette({len(self._table)} colours, {len(self._overrides)} overrides)"


DEFAULT_PALETTE = Palette()


def as_palette(value: Palette | Sequence[ColorLike] | Mapping[int, ColorLike] | None, name: str = "palette") -> Palette:
    """Normalise the ``palette`` argument of the drawing functions."""
    if value is None:
        return DEFAULT_PALETTE
    if isinstance(value, Palette):
        return value
    if isinstance(value, Mapping):
        return Palette(overrides=value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return Palette(value)
    raise InvalidInputError(
        f"{name} must be a Palette, a list of colours or a mapping class_id -> colour, got {type(value).__name__}"
    )


def class_color(class_id: int, *, channels: Channels = "bgr") -> tuple[int, int, int]:
    """The default palette's colour for ``class_id`` (BGR unless ``channels="rgb"``)."""
    check_choice(channels, "channels", ("bgr", "rgb"))
    return DEFAULT_PALETTE.color(class_id, channels=channels)


def text_color_for(background: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background`` (any channel order).

    >>> text_color_for((255, 255, 0)), text_color_for((128, 0, 0))
    ((0, 0, 0), (255, 255, 255))
    """
    a, b, c = (int(v) for v in background[:3])
    # channel-order independent enough: weight the middle (green) channel most
    luminance = 0.25 * a + 0.6 * b + 0.15 * c
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)
