"""Give Ultralytics a local font so plotting and training never try to download one.

Ultralytics looks for ``Arial.ttf`` / ``Arial.Unicode.ttf`` in ``$YOLO_CONFIG_DIR/Ultralytics``
and downloads them when missing, which fails offline. Any TTF works; we copy matplotlib's
DejaVu Sans under both names. Run as ``python -m detectkit._setup_fonts CONFIG_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from detectkit._atomic import atomic_path

__all__ = ["ensure_ultralytics_fonts"]

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def ensure_ultralytics_fonts(config_dir: str | os.PathLike[str]) -> Path:
    """Create ``config_dir/Ultralytics`` holding the two font files; returns that folder.

    Idempotent; files are written atomically (temp file + rename).
    """
    target = Path(config_dir) / "Ultralytics"
    if all((target / name).exists() for name in _FONT_NAMES):
        return target  # the usual case: no need to import matplotlib (~0.15 s of every torch start)
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    target.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        dest = target / name
        if not dest.exists():
            with atomic_path(dest) as tmp:
                shutil.copyfile(source, tmp)
    return target


if __name__ == "__main__":  # pragma: no cover - exercised by the Makefile
    print(ensure_ultralytics_fonts(sys.argv[1] if len(sys.argv) > 1 else ".cache/ultralytics"))
