"""Coverage-guided fuzzing of one reader with atheris (libFuzzer), outside the test suite.

Usage::

    python tests/fuzz/atheris_fuzz.py voc -atheris_runs=20000        # or -max_total_time=120
    python tests/fuzz/atheris_fuzz.py load_image -max_total_time=60 corpus_dir/

The target names are those of ``_harness.TARGETS``; the seed files are written to a corpus folder
first (``$TMPDIR/detectkit-atheris-<target>`` unless a folder is given). A crash (any outcome but a
result or a DetectkitError naming the file) stops the run and libFuzzer saves the input as
``crash-<sha1>``. Needs ``pip install atheris``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["detectkit"]):
    from _harness import TARGETS, run_target, seeds

    import detectkit.formats.coco
    import detectkit.formats.cvat
    import detectkit.formats.labelme
    import detectkit.formats.voc
    import detectkit.formats.yolo
    import detectkit.image  # noqa: F401  (imported here to be instrumented)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: atheris_fuzz.py TARGET [libFuzzer flags] [corpus]; targets: {', '.join(TARGETS)}")
    target = sys.argv.pop(1)
    import warnings

    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="detectkit-atheris-run-"))
    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.gettempdir()) / f"detectkit-atheris-{target}"
        corpus.mkdir(exist_ok=True)
        for i, data in enumerate(seeds(target)):
            (corpus / f"seed{i}").write_bytes(data)
        args.append(str(corpus))
    counter = iter(range(1 << 62))

    def one_input(data: bytes) -> None:
        run_target(target, work / f"ds{next(counter)}", data)

    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
