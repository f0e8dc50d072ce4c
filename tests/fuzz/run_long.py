"""Long fuzz run, outside the test suite: many mutated inputs per reader, each target in its own
worker process with a memory limit and a per-input timer.

Usage::

    python tests/fuzz/run_long.py --seconds 120 [--targets voc cvat ...] [--out /tmp/fuzz]

For each target it reports the inputs tried, the outcomes (``ok`` = a result, ``typed`` = a
DetectkitError naming the file) and the crashes, grouped by message, with one input of each
saved under ``--out`` (``<target>-<n>.bin`` + ``.txt`` traceback). A crash is: any other
exception, a typed error that does not name the file, an input running longer than
``--timeout`` seconds (a hang), a MemoryError under the ``--memory-mb`` address-space limit, or
the worker dying (the input it was on is saved).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))


class _HangError(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _HangError()


def worker(target: str, seed: int, seconds: float, timeout: float, memory_mb: int, out: Path) -> None:
    """Run inputs for ``seconds``; one JSON line per outcome group at the end (and on each crash)."""
    import warnings

    warnings.simplefilter("ignore")
    from _harness import CrashError, mutate, run_target, seeds

    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    pool = seeds(target)
    counts: Counter[str] = Counter()
    current = out / f"{target}-current.bin"
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        while time.monotonic() < end:
            data = mutate(rng.choice(pool), rng)
            current.write_bytes(data)
            folder = Path(tmp) / f"ds{i}"
            i += 1
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                counts[run_target(target, folder, data)] += 1
                kind, message, tb = None, "", ""
            except _HangError:
                kind, message, tb = "hang", f"no answer within {timeout}s", ""
            except MemoryError:
                kind, message, tb = "memory", f"MemoryError under a {memory_mb} MB limit", traceback.format_exc()
            except CrashError as exc:
                kind, message = "crash", str(exc)
                tb = "".join(traceback.format_exception(exc.__cause__ or exc))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if kind is not None:
                counts["crash"] += 1
                print(
                    json.dumps({"crash": kind, "message": message[:200], "input": data.hex(), "traceback": tb[-3000:]})
                )
                sys.stdout.flush()
    current.unlink(missing_ok=True)
    print(json.dumps({"done": dict(counts), "tried": sum(counts.values())}))


def main() -> None:
    from _harness import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="per target")
    parser.add_argument("--targets", nargs="*", default=sorted(TARGETS))
    parser.add_argument("--timeout", type=float, default=10.0, help="per input (a hang)")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space limit of the worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "detectkit-fuzz")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(args.worker, args.seed, args.seconds, args.timeout, args.memory_mb, args.out)
        return
    env = {**os.environ, "OPENCV_LOG_LEVEL": "OFF", "OMP_NUM_THREADS": "1"}
    summary = {}
    for target in args.targets:
        t0 = time.monotonic()
        cmd = [sys.executable, __file__, "--worker", target, "--seconds", str(args.seconds), "--seed", str(args.seed)]
        cmd += ["--timeout", str(args.timeout), "--memory-mb", str(args.memory_mb), "--out", str(args.out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        crashes: Counter[str] = Counter()
        tried = 0
        counts: dict[str, int] = {}
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if "done" in rec:
                counts, tried = rec["done"], rec["tried"]
            else:
                key = f"{rec['crash']}: {rec['message'][:120]}"
                if key not in crashes:
                    n = len(crashes)
                    (args.out / f"{target}-{n}.bin").write_bytes(bytes.fromhex(rec["input"]))
                    (args.out / f"{target}-{n}.txt").write_text(f"{key}\n\n{rec['traceback']}")
                crashes[key] += 1
        if proc.returncode != 0:
            crashes[f"worker died (exit {proc.returncode}); input saved as {target}-current.bin"] += 1
        summary[target] = {
            "tried": tried,
            "outcomes": counts,
            "crashes": dict(crashes),
            "seconds": round(time.monotonic() - t0),
        }
        print(f"{target:<18} tried {tried:>6}  outcomes {counts}  crash kinds {len(crashes)}", flush=True)
        for key, n in crashes.most_common():
            print(f"    {n:>5} x {key}", flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
