"""Make the fuzz harness importable as ``_harness`` from the tests of this folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# atheris_fuzz.py is a standalone coverage-guided driver run outside the suite (atheris is an
# optional install, see its docstring); collecting it would import atheris.
collect_ignore = ["atheris_fuzz.py"]
