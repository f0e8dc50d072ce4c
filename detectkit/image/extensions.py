"""The file extensions the package treats as images and as videos (lower case, with the dot).

A module of constants only, so the annotation readers can use the list without loading the
image decoders.
"""

from __future__ import annotations

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]

#: The one list of the package: folders walked for images, annotation readers looking for an
#: image file beside a label (in this order of preference). GIF counts as a video, as in Ultralytics.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".dng",
    ".mpo",
    ".pfm",
    ".jp2",
    ".pbm",
    ".pgm",
    ".ppm",
)
#: File extensions treated as videos.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".asf", ".gif", ".ts"}
)
