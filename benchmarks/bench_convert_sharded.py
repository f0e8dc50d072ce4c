"""Sharded conversion: many per-image annotation files read in this process, on a local process
pool, and on a local Ray, then written as one COCO file.

For each many-file format (YOLO label folder, VOC XML, LabelMe JSON) ``FILES`` annotation
files are generated (the shapes val ground truth repeated, image files absent, as in
``bench_scale.py --convert``); then each configuration converts them to COCO in a fresh
process, interleaved, ``--repeat`` times after one warm-up:

* ``in-process``: ``detectkit.formats.convert`` (the plain reader: per-file parser + assembler);
* ``local:N``: the reader given ``detectkit.batch``'s process-pool mapper (N workers, sharding
  forced: what ``detectkit.batch.convert(engine="local", workers=N, min_files=0)`` does);
* ``ray:N``: the same on Ray tasks, starting a local Ray with N CPUs (and shutting it down)
  inside the timed read.

Reported per row (medians): ``convert`` = wall time of read + COCO write (start-up of the pool
or Ray included), ``read`` = its read part (listing, parsing, assembling), ``CPU`` = CPU seconds
of the whole machine during the child process (``/proc/stat``; meaningful only on an otherwise
idle machine, so run it under the team's benchmark lock), ``process`` = wall of the child
process (Python and imports included). Every configuration's COCO file must be byte-identical
to the in-process one (checked).

Children run like an installed package, with bytecode caches (this environment sets
``PYTHONDONTWRITEBYTECODE``; the caches go to a temporary prefix), and one warm-up run each.

``--profile FORMAT`` prints a cProfile of the in-process read instead.

Run: ``.venv/bin/python benchmarks/bench_convert_sharded.py --files 20000 [--repeat 3]
[--configs in-process,local:2,ray:2] [--formats yolo,voc,labelme] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, child_env

ENV = child_env(RAY_AUTH_MODE="disabled")  # bytecode caches: see child_env; the prefix is set per run

_CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
fmt, src, dst, config = sys.argv[1:5]
if __name__ == "__main__":
    from detectkit.formats import read, write
    mapper = None
    if config != "in-process":  # what detectkit.batch.convert(..., min_files=0) passes to the reader
        from detectkit.batch.conversion import ShardMapper
        engine, workers = config.split(":")
        mapper = ShardMapper(engine, fmt, workers=int(workers), min_files=0)
    started = time.perf_counter()
    ds = read(src, format=fmt, map_shards=mapper)
    read_s = time.perf_counter() - started
    write(ds, dst, format="coco")
    seconds = time.perf_counter() - started
    note = mapper.describe() if mapper is not None else ""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"convert": seconds, "read": read_s, "note": note,
                      "driver_cpu": me.ru_utime + me.ru_stime, "children_cpu": kids.ru_utime + kids.ru_stime}))
"""


def machine_cpu_seconds() -> float:
    """CPU seconds (user + nice + system + irq + softirq) of all cores since boot."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    ticks = sum(int(fields[i]) for i in (0, 1, 2, 5, 6))
    return ticks / os.sysconf("SC_CLK_TCK")


def generate(data: Path, files: int, formats: list[str]) -> None:
    """``files`` per-image annotation files per format under ``data/<fmt>`` (kept when present)."""
    from detectkit.dataset import Dataset, ImageRecord
    from detectkit.detections import Detections
    from detectkit.formats import write

    todo = [f for f in formats if not (data / f / ".complete").exists()]
    if not todo:
        return
    base = Dataset.read(ROOT / "datasets" / "shapes" / "annotations" / "instances_val.json")
    items = list(base)
    records, anns = [], {}
    for i in range(files):
        rec, dets = items[i % len(items)]
        records.append(ImageRecord(i + 1, f"img_{i:07d}.jpg", rec.width, rec.height))
        anns[i + 1] = Detections(xyxy=dets.xyxy, class_id=dets.class_id, names=dets.names)
    big = Dataset(categories=base.categories, images=records, annotations=anns)
    for fmt in todo:
        shutil.rmtree(data / fmt, ignore_errors=True)
        write(big, data / fmt, format=fmt, link_images=False)
        (data / fmt / ".complete").write_text(str(files))
        print(f"generated {files} {fmt} files in {data / fmt}", flush=True)


def run_child(fmt: str, src: Path, dst: Path, config: str, pycache: Path) -> dict[str, Any]:
    env = dict(ENV, PYTHONPYCACHEPREFIX=str(pycache))
    cpu0, t0 = machine_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, fmt, str(src), str(dst), config],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"{fmt} {config} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    fig: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    fig["process"] = wall
    fig["cpu"] = cpu
    return fig


def profile(fmt: str, data: Path) -> None:
    import cProfile
    import pstats
    import warnings

    from detectkit.formats import read

    warnings.simplefilter("ignore")
    read(data / fmt, format=fmt)
    cProfile.runctx("read(src, format=fmt)", {"read": read, "src": data / fmt, "fmt": fmt}, {}, "/tmp/bcs.prof")
    pstats.Stats("/tmp/bcs.prof").sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--configs", default="in-process,local:2,ray:2")
    parser.add_argument("--formats", default="yolo,voc,labelme")
    parser.add_argument("--data", type=Path, default=None, help="folder for the generated files (kept)")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--profile", default=None, metavar="FORMAT")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    formats = args.formats.split(",")
    configs = args.configs.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench_convert_sharded_"))
    data = args.data or tmp / "data"
    data = data / str(args.files)
    generate(data, args.files, formats)
    if args.generate_only:
        return
    if args.profile:
        profile(args.profile, data)
        return
    pycache = tmp / "pycache"
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        for fmt in formats:
            reference: bytes | None = None
            for config in configs:  # warm-up: bytecode caches, page cache
                run_child(fmt, data / fmt, tmp / "warm.json", config, pycache)
            for r in range(args.repeat):
                for config in configs:
                    out = tmp / f"{fmt}-{config.replace(':', '')}.json"
                    fig = run_child(fmt, data / fmt, out, config, pycache)
                    runs.setdefault((fmt, config), []).append(fig)
                    body = out.read_bytes()
                    if reference is None:
                        reference = body
                    if body != reference:
                        raise AssertionError(f"{fmt} {config}: the COCO file differs from the first configuration's")
                    print(
                        f"  {fmt:8s} {config:11s} round {r}: convert {fig['convert']:6.2f} s, "
                        f"read {fig['read']:6.2f} s, CPU {fig['cpu']:6.2f} s  {fig['note']}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp / "pycache", ignore_errors=True)
    print(f"\n{args.files} per-image files per format, image files absent; medians of {args.repeat} fresh processes")
    print("(outputs byte-identical across configurations)\n")
    header = (
        "| format | configuration | convert (read + write COCO) | read | files/s (read) | machine CPU "
        "| process wall | vs in-process |"
    )
    print(header)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    report: dict[str, Any] = {"files": args.files, "repeat": args.repeat, "rows": []}
    for fmt in formats:
        base = statistics.median(f["convert"] for f in runs[(fmt, configs[0])])
        for config in configs:
            figs = runs[(fmt, config)]
            med = {k: statistics.median(f[k] for f in figs) for k in ("convert", "read", "cpu", "process")}
            print(
                f"| {fmt} | {config} | {med['convert']:.2f} s | {med['read']:.2f} s | {args.files / med['read']:,.0f} "
                f"| {med['cpu']:.2f} s | {med['process']:.2f} s | {base / med['convert']:.2f}x |"
            )
            report["rows"].append({"format": fmt, "config": config, **med, "runs": figs})
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
