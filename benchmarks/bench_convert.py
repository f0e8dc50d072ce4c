"""Dataset conversion speed and memory: detectkit's CLI vs Ultralytics and supervision, side by side.

COCO -> YOLO on a generated dataset (default 5k images / 50k boxes, sizes in the JSON):

* ``detectkit convert`` as a fresh process (Python + detectkit start-up included), with
  ``--no-images`` (labels only, what ``convert_coco`` does) and by default (image files
  beside the source are also symlinked into ``images/``, so the result trains as is),
* the same with every object carrying a 24-vertex polygon (the shape of the COCO release),
* ``ultralytics.data.converter.convert_coco`` in-process (its import is *not* counted),
  and as a fresh process (import counted),
* supervision ``DetectionDataset.from_coco(...).as_yolo(...)`` in-process (it decodes every
  image for its size, so small real JPEGs are generated for it).

YOLO -> COCO on the same data: detectkit reading image headers only (no ``detectkit.json``),
detectkit with its recorded sizes, and supervision ``from_yolo(...).as_coco(...)``.

Memory: peak RSS of the detectkit COCO -> YOLO process at 1x, 4x and 16x the dataset size.

``--instructions`` also counts the instructions each side executes (valgrind callgrind), a
ratio that does not move with other load on a shared machine.

Run: ``.venv/bin/python benchmarks/bench_convert.py [--images 5000] [--boxes 50000] [--repeat 5]``.
Everything is generated in a temporary folder (``--tmp``); nothing is downloaded.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import ROOT, child_env

# Child processes run like an installed package, with bytecode caches (see child_env); the
# caches go to a temporary prefix set in main().
ENV = child_env()


def make_coco(
    path: Path, n_images: int, n_boxes: int, *, size_wh: tuple[int, int], seed: int = 0, polygon_points: int = 0
) -> None:
    """A COCO file with 80 non-contiguous categories, some crowd boxes and 5% empty images.

    With ``polygon_points`` every non-crowd object also gets a polygon of that many vertices
    (an ellipse in its box) and every crowd object an uncompressed RLE, like the COCO release.
    """
    rng = np.random.default_rng(seed)
    w, h = size_wh
    cat_ids = sorted(rng.choice(np.arange(1, 91), 80, replace=False).tolist())
    images = [{"id": i + 1, "file_name": f"{i:06d}.jpg", "width": w, "height": h} for i in range(n_images)]
    non_empty = rng.choice(n_images, int(n_images * 0.95), replace=False) + 1
    img_of = np.sort(rng.choice(non_empty, n_boxes))
    x = rng.uniform(0, w * 0.8, n_boxes)
    y = rng.uniform(0, h * 0.8, n_boxes)
    bw = rng.uniform(1, w * 0.2, n_boxes)
    bh = rng.uniform(1, h * 0.2, n_boxes)
    cls = rng.choice(cat_ids, n_boxes)
    crowd = (rng.uniform(size=n_boxes) < 0.01).astype(int)
    anns = [
        {
            "id": k + 1,
            "image_id": int(img_of[k]),
            "category_id": int(cls[k]),
            "bbox": [round(float(x[k]), 2), round(float(y[k]), 2), round(float(bw[k]), 2), round(float(bh[k]), 2)],
            "area": round(float(bw[k] * bh[k]), 2),
            "iscrowd": int(crowd[k]),
            "segmentation": [],
        }
        for k in range(n_boxes)
    ]
    if polygon_points:
        t = np.linspace(0, 2 * np.pi, polygon_points, endpoint=False)
        for k, a in enumerate(anns):
            if a["iscrowd"]:
                a["segmentation"] = {"size": [h, w], "counts": [int(w * h // 2), int(w * h - w * h // 2)]}
            else:
                px = x[k] + bw[k] * (0.5 + 0.5 * np.cos(t))
                py = y[k] + bh[k] * (0.5 + 0.5 * np.sin(t))
                a["segmentation"] = [np.round(np.column_stack([px, py]).reshape(-1), 2).tolist()]
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in cat_ids]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def make_images(folder: Path, n: int, size_wh: tuple[int, int]) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", base)
    assert ok
    data = buf.tobytes()
    for i in range(n):
        (folder / f"{i:06d}.jpg").write_bytes(data)


def timed(fn: Callable[[], object], repeat: int, cleanup: Callable[[], None]) -> list[float]:
    times = []
    for _ in range(repeat):
        cleanup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    cleanup()
    return times


def measured(fn: Callable[[], object], *, child: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn``; CPU of child processes when ``child``."""
    import resource

    def cpu_now() -> float:
        if child:
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return r.ru_utime + r.ru_stime
        return time.process_time()

    c0, t0 = cpu_now(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, cpu_now() - c0


def run_cli(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "detectkit", *args], check=True, env=ENV, stdout=subprocess.DEVNULL)


def peak_rss_mb(args: list[str]) -> float:
    """Peak RSS of ``python ARGS`` (``-m detectkit ...`` or ``-c script``)."""
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, *args],
        check=True,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


def callgrind_instructions(args: list[str]) -> int:
    """Instructions executed by ``python ARGS`` under valgrind's callgrind (counted only
    between the program's own ``callgrind_control -i on/off`` when it calls them)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    counts = [line.rsplit(":", 1)[1] for line in proc.stderr.splitlines() if "Collected :" in line]
    return int(counts[-1].strip().replace(",", ""))


# Ultralytics' convert_coco alone (import excluded): instrumentation is switched on just around it
_UL_COUNTED = """
import contextlib, io, os, subprocess
from ultralytics.data.converter import convert_coco
subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    convert_coco(labels_dir={labels!r}, save_dir={out!r}, use_segments=False, cls91to80=False)
subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
"""


def instruction_counts(src: Path, ann_dir: Path, out: Path, ul_out: Path) -> None:
    """COCO -> YOLO labels only, measured in executed instructions: unlike wall time this does
    not move with other load on a shared machine (two runs agree to 0.1%)."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("\n(instruction counts skipped: valgrind is not installed)")
        return
    shutil.rmtree(out, ignore_errors=True)
    dk = callgrind_instructions(
        [sys.executable, "-m", "detectkit", "convert", str(src), str(out), "--to", "yolo", "-q", "--no-images"]
    )
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(ul_out, ignore_errors=True)
    script = _UL_COUNTED.format(labels=str(ann_dir), out=str(ul_out))
    ul = callgrind_instructions(["--instr-atstart=no", sys.executable, "-c", script])
    shutil.rmtree(ul_out, ignore_errors=True)
    print("\nCOCO -> YOLO, labels only, in instructions executed (valgrind callgrind; load-independent)")
    dk_name = "detectkit convert --no-images (whole CLI process: Python start-up and imports included)"
    print(f"{dk_name:<90} {dk / 1e9:>6.2f} G")
    print(f"{'ultralytics convert_coco (the call alone, import excluded)':<90} {ul / 1e9:>6.2f} G  {ul / dk:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--boxes", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-supervision", action="store_true")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count executed instructions with valgrind (a load-independent ratio; ~3 min)",
    )
    parser.add_argument(
        "--polygon-points",
        type=int,
        default=24,
        help="also time a COCO-like file where every object has a polygon of this many vertices (0: skip)",
    )
    parser.add_argument(
        "--memory-factors",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 4, 16],
        help="dataset sizes (multiples of --images/--boxes) for the peak-memory table",
    )
    parser.add_argument(
        "--tmp",
        default="/dev/shm" if Path("/dev/shm").is_dir() else str(ROOT / ".cache"),
        help="where to generate the data (default: /dev/shm, so disk write-back does not swamp the figures)",
    )
    opts = parser.parse_args()
    Path(opts.tmp).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_convert_", dir=opts.tmp))
    ENV.update(child_env(tmp / "pycache"))
    size = (160, 120)
    try:
        ann_dir = tmp / "annotations"
        ann_dir.mkdir()
        src = ann_dir / "instances.json"
        make_coco(src, opts.images, opts.boxes, size_wh=size)
        images = tmp / "images"
        make_images(images, opts.images, size)
        print(f"data: {opts.images} images, {opts.boxes} boxes, COCO file {src.stat().st_size / 1e6:.1f} MB")
        out = tmp / "out_dk"

        def clean_dk() -> None:
            shutil.rmtree(out, ignore_errors=True)

        os.environ.update({k: v for k, v in ENV.items() if k.startswith("YOLO_")})
        from ultralytics.data.converter import convert_coco

        ul_out = tmp / "out_ul"

        def clean_ul() -> None:
            shutil.rmtree(ul_out, ignore_errors=True)

        def ul_from(folder: Path) -> Callable[[], None]:
            def run() -> None:
                import contextlib
                import io

                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    convert_coco(labels_dir=str(folder), save_dir=str(ul_out), use_segments=False, cls91to80=False)

            return run

        ul = ul_from(ann_dir)

        def sample(
            wall: dict[str, list[float]], cpu: dict[str, list[float]], key: str, fn: Callable[[], object], child: bool
        ) -> None:
            """One timed run of ``fn`` from a clean output, appended to ``wall[key]`` / ``cpu[key]``."""
            clean_dk()
            clean_ul()
            w, c = measured(fn, child=child)
            wall[key].append(w)
            cpu[key].append(c)

        script = (
            "import contextlib, io\n"
            "from ultralytics.data.converter import convert_coco\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    convert_coco(labels_dir={str(ann_dir)!r}, save_dir={str(ul_out)!r},\n"
            "                 use_segments=False, cls91to80=False)\n"
        )
        run_cli(["convert", "--help"])  # warm-up: writes the bytecode caches
        # detectkit and Ultralytics alternate run by run, so load changes on a shared machine hit both
        wall: dict[str, list[float]] = {"dk": [], "dk_labels": [], "ul": [], "ul_proc": []}
        cpu: dict[str, list[float]] = {"dk": [], "dk_labels": [], "ul": [], "ul_proc": []}
        labels_only = ["convert", str(src), str(out), "--to", "yolo", "-q", "--no-images"]
        fresh = [sys.executable, "-c", script]
        for i in range(opts.repeat):
            sample(wall, cpu, "dk", lambda: run_cli(["convert", str(src), str(out), "--to", "yolo", "-q"]), True)
            sample(wall, cpu, "dk_labels", lambda: run_cli(labels_only), True)
            sample(wall, cpu, "ul", ul, False)
            if i < 3:
                sample(wall, cpu, "ul_proc", lambda: subprocess.run(fresh, check=True, env=ENV), True)
        clean_dk()
        clean_ul()
        rows: list[tuple[str, list[float], list[float] | None]] = [
            ("detectkit convert --no-images (CLI process, labels only)", wall["dk_labels"], cpu["dk_labels"]),
            ("ultralytics convert_coco (in-process, import excluded)", wall["ul"], cpu["ul"]),
            (f"detectkit convert (CLI process, also links the {opts.images} images)", wall["dk"], cpu["dk"]),
            ("ultralytics convert_coco (in-process, import excluded)", wall["ul"], cpu["ul"]),
            ("ultralytics convert_coco (fresh process, import included)", wall["ul_proc"], cpu["ul_proc"]),
        ]
        if opts.polygon_points:
            # the same boxes, each with a polygon (crowd: RLE) as in the COCO release; both tools
            # still write boxes only (Ultralytics with use_segments=False)
            poly_dir = tmp / "annotations_poly"
            poly_dir.mkdir()
            poly_src = poly_dir / "instances.json"
            make_coco(poly_src, opts.images, opts.boxes, size_wh=size, polygon_points=opts.polygon_points)
            mb = poly_src.stat().st_size / 1e6

            pw: dict[str, list[float]] = {"dk": [], "ul": []}
            pc: dict[str, list[float]] = {"dk": [], "ul": []}
            for _ in range(opts.repeat):
                sample(pw, pc, "dk", lambda: run_cli(["convert", str(poly_src), str(out), "--to", "yolo", "-q"]), True)
                sample(pw, pc, "ul", ul_from(poly_dir), False)
            clean_dk()
            clean_ul()
            rows.append(
                (f"detectkit convert, {opts.polygon_points}-vertex polygons ({mb:.0f} MB JSON)", pw["dk"], pc["dk"])
            )
            rows.append(("ultralytics convert_coco, same polygon file (in-process)", pw["ul"], pc["ul"]))
        sv_out = tmp / "out_sv"

        def clean_sv() -> None:
            shutil.rmtree(sv_out, ignore_errors=True)

        if not opts.skip_supervision:
            import supervision as sv

            def sv_run() -> None:
                ds = sv.DetectionDataset.from_coco(str(images), str(src))
                ds.as_yolo(annotations_directory_path=str(sv_out / "labels"), data_yaml_path=str(sv_out / "data.yaml"))

            clean_sv()
            w, c = measured(sv_run, child=False)
            clean_sv()
            rows.append(("supervision from_coco().as_yolo() (in-process, decodes images)", [w], [c]))

        print("\nCOCO -> YOLO (wall = elapsed, cpu = user+sys of the work; ratios vs detectkit)")
        print(f"{'method':<62} {'wall s':>7} {'cpu s':>7} {'runs':>5} {'x wall':>7} {'x cpu':>6}")
        base_w, base_c = statistics.median(rows[0][1]), statistics.median(rows[0][2] or [1.0])
        for name, ws, cs in rows:
            if name.startswith("detectkit"):  # each detectkit row is the base of the rows after it
                base_w, base_c = statistics.median(ws), statistics.median(cs or [1.0])
            mw, mc = statistics.median(ws), statistics.median(cs or [float("nan")])
            print(f"{name:<62} {mw:>7.3f} {mc:>7.3f} {len(ws):>5} {mw / base_w:>6.1f}x {mc / base_c:>5.1f}x")

        if opts.instructions:
            instruction_counts(src, ann_dir, out, ul_out)

        # YOLO -> COCO
        yolo_dir = tmp / "yolo"
        run_cli(["convert", str(src), str(yolo_dir), "--to", "yolo", "--images", str(images), "-q"])
        bare = tmp / "yolo_bare"
        shutil.copytree(yolo_dir, bare, symlinks=True)
        (bare / "detectkit.json").unlink()
        rows2: list[tuple[str, list[float]]] = []
        back = tmp / "back.json"

        def clean_back() -> None:
            back.unlink(missing_ok=True)

        rows2.append(
            (
                "detectkit convert, sizes from image headers (CLI process)",
                timed(
                    lambda: run_cli(["convert", str(bare), str(back), "--to", "coco", "-q"]), opts.repeat, clean_back
                ),
            )
        )
        rows2.append(
            (
                "detectkit convert, sizes from detectkit.json (CLI process)",
                timed(
                    lambda: run_cli(["convert", str(yolo_dir), str(back), "--to", "coco", "-q"]),
                    opts.repeat,
                    clean_back,
                ),
            )
        )
        if not opts.skip_supervision:
            import supervision as sv

            def sv_back() -> None:
                ds = sv.DetectionDataset.from_yolo(str(bare / "images"), str(bare / "labels"), str(bare / "data.yaml"))
                ds.as_coco(annotations_path=str(back))

            rows2.append(
                ("supervision from_yolo().as_coco() (in-process, decodes images)", timed(sv_back, 1, clean_back))
            )
        base2 = statistics.median(rows2[0][1])
        print("\nYOLO -> COCO")
        print(f"{'method':<66} {'median s':>9} {'runs':>5} {'x detectkit':>12}")
        for name, times in rows2:
            med = statistics.median(times)
            print(f"{name:<66} {med:>9.3f} {len(times):>5} {med / base2:>11.1f}x")

        # memory as the dataset grows: peak RSS of a fresh process, and that peak minus the same
        # process's peak after its imports only (the memory the conversion itself needs), also
        # per box (flat memory would keep that per-box figure falling)
        base_dk = peak_rss_mb(["-c", "import detectkit.cli.convert, detectkit.formats.coco, detectkit.formats.yolo"])
        base_ul = peak_rss_mb(["-c", "from ultralytics.data.converter import convert_coco"])
        print(
            "\nPeak RSS, COCO -> YOLO as a fresh process (MB; in brackets: above the process's import-only peak "
            f"of {base_dk:.0f} MB for detectkit, {base_ul:.0f} MB for ultralytics)"
        )
        print(
            f"{'images':>8} {'boxes':>8} {'JSON MB':>8} {'detectkit':>16} {'B/box':>6} "
            f"{'ultralytics':>16} {'B/box':>6} {'ratio above':>12}"
        )
        for factor in opts.memory_factors:
            big_dir = tmp / f"x{factor}"
            big_dir.mkdir()
            big = big_dir / "instances.json"
            make_coco(big, opts.images * factor, opts.boxes * factor, size_wh=size, seed=factor)
            clean_dk()
            rss = peak_rss_mb(["-m", "detectkit", "convert", str(big), str(out), "--to", "yolo", "-q"])
            clean_ul()
            ul_script = script.replace(repr(str(ann_dir)), repr(str(big_dir)))
            rss_ul = peak_rss_mb(["-c", ul_script])
            clean_ul()
            clean_dk()
            above, above_ul = rss - base_dk, rss_ul - base_ul
            n_boxes = opts.boxes * factor
            print(
                f"{opts.images * factor:>8} {n_boxes:>8} {big.stat().st_size / 1e6:>8.1f} "
                f"{rss:>7.0f} ({above:>5.0f}) {above * 2**20 / n_boxes:>6.0f} "
                f"{rss_ul:>7.0f} ({above_ul:>5.0f}) {above_ul * 2**20 / n_boxes:>6.0f} "
                f"{above_ul / max(above, 1e-9):>11.1f}x"
            )
            shutil.rmtree(big_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
