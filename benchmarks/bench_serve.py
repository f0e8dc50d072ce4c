"""Load test of ``detectkit serve`` on the loopback interface, side by side with in-process detection.

Bounded and local: it starts its own servers on 127.0.0.1 (random free ports), sends a fixed
number of requests, prints the figures and stops the servers. Nothing else is contacted. Run it
once per backend (``--backend torch|onnx|openvino``): one runtime per process, because idle
runtimes of another kind in the same process slow the one measured.

Phases (the shipped demo detector, eight different 320 x 320 pictures from the shapes dataset,
each answer checked against ``Detector.detect`` of the same picture in this process):

1. **Overhead at concurrency 1**: one request at a time, alternating an in-process
   ``Detector.detect(jpeg_bytes)`` (decode + detect, what a caller without a server pays) with an
   HTTP upload of the same bytes to the one-lane server. Medians of both and their ratio.
2. **Serving configurations**: one lane without micro-batching (the baseline), one lane with
   ``--batch-window-ms``, ``--lanes 2``, and ``--lanes 2`` with the window, at concurrency 1 and
   ``--concurrency`` (8); each server runs alone (started, measured, stopped: idle runtimes in
   other processes spin), and the sweep is repeated in reverse order. Throughput, p50/p95/p99
   latency, errors, 5xx, mixed answers, server RSS, throughput ratio to the baseline (all
   requests, and per sweep); the micro-batched servers' forward passes by batch size.
3. **Soak** (``--requests``, default 2000, 0 skips it) at concurrency 4 on the baseline server;
   its RSS after the warm-up and at the end, and 5xx lines in ``/metrics``.
4. **Why lanes own their models** (``--backend torch``): 8 threads calling one shared ``Detector``
   directly, with the same and with different options, and how many answers are wrong.

    python benchmarks/bench_serve.py [--backend torch] [--requests 2000] [--repeats 2] [--batch-window-ms 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, offline

offline()

HOST = "127.0.0.1"  # loopback only, by design


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, *args: str) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "detectkit", "serve", "--host", HOST, "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("server not ready in 300 s")
            time.sleep(0.2)

    def rss_mib(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    server_errors: int = 0
    mixed: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.server_errors += other.server_errors
        self.mixed += other.mixed
        self.seconds += other.seconds

    def line(self, label: str) -> str:
        lat = sorted(self.latencies)
        n = len(lat)

        def q(p: float) -> float:
            return lat[min(n - 1, int(p * n))] * 1000 if n else float("nan")

        rps = n / self.seconds if self.seconds else float("nan")
        return (
            f"{label:<34} {n:>6} req {rps:>7.2f} req/s  p50 {q(0.50):>7.1f}  p95 {q(0.95):>7.1f}  "
            f"p99 {q(0.99):>7.1f} ms  errors {self.errors}  5xx {self.server_errors}  mixed {self.mixed}"
        )


def _pictures(tmp: Path) -> list[tuple[str, bytes]]:
    import cv2

    from detectkit.image import load_image

    out = []
    for i, p in enumerate(sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[30:38]):
        ok, buf = cv2.imencode(".jpg", load_image(p)[:320, :320], [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        out.append((f"pic{i}.jpg", bytes(buf.tobytes())))
    return out


def _matches(answer: dict[str, Any], expected: Any) -> bool:
    import numpy as np

    if answer.get("class_id") != expected.class_id.tolist():
        return False
    return bool(np.allclose(answer["xyxy"], expected.xyxy, atol=0.05))


def _load(
    url: str,
    pictures: list[tuple[str, bytes]],
    expected: dict[str, Any],
    n: int,
    concurrency: int,
    start_index: int = 0,
) -> Tally:
    import httpx

    tally = Tally()
    local = threading.local()

    def one(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=120)
        name, data = pictures[i % len(pictures)]
        t = time.perf_counter()
        try:
            r = client.post(url + "/v1/detect", files={"file": (name, data, "image/jpeg")})
        except httpx.HTTPError:
            with tally.lock:
                tally.errors += 1
            return
        dt = time.perf_counter() - t
        with tally.lock:
            if r.status_code != 200:
                tally.errors += 1
                tally.server_errors += r.status_code >= 500
                return
            tally.latencies.append(dt)
            body = r.json()
            if body.get("image_name") != name or not _matches(body, expected[name]):
                tally.mixed += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(start_index, start_index + n)))
    tally.seconds = time.perf_counter() - t0
    return tally


_LOCAL = """
import json, statistics, sys, time
from detectkit import Detector
detector = Detector(backend=sys.argv[1])
pictures = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
times = []
for i in range(int(sys.argv[2]) + 5):
    t = time.perf_counter()
    detector.detect(pictures[i % len(pictures)])
    times.append(time.perf_counter() - t)
print(statistics.median(times[5:]))
"""


def _local_median(backend: str, pictures: list[tuple[str, bytes]], n: int) -> float:
    """Median seconds of in-process ``Detector.detect(jpeg_bytes)`` in a process of its own (no
    server running; a runtime that just ran in this process would slow the server)."""
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _LOCAL, backend, str(n)],
        input=json.dumps([data.hex() for _, data in pictures]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(out.stdout.split()[-1])


def _overhead(
    common: list[str], backend: str, pictures: list[tuple[str, bytes]], expected: dict[str, Any], n: int
) -> tuple[float, float]:
    """In-process ``detect(bytes)`` (own process, before and after) vs HTTP uploads to a one-lane server."""
    import httpx

    local_t = [_local_median(backend, pictures, n)]
    http_t: list[float] = []
    bad = 0
    server = Server(*common)
    try:
        with httpx.Client(timeout=120) as client:
            for i in range(n + 5):
                name, data = pictures[i % len(pictures)]
                t = time.perf_counter()
                r = client.post(server.url + "/v1/detect", files={"file": (name, data, "image/jpeg")})
                if i >= 5:  # warm-up
                    http_t.append(time.perf_counter() - t)
                    if r.status_code != 200 or not _matches(r.json(), expected[name]):
                        bad += 1
    finally:
        server.stop()
    local_t.append(_local_median(backend, pictures, n))
    lm, hm = statistics.mean(local_t), statistics.median(http_t)
    print(
        f"in-process Detector.detect(bytes)  median {lm * 1000:7.1f} ms  ({1 / lm:6.2f} img/s)  "
        f"(before {local_t[0] * 1000:.1f}, after {local_t[1] * 1000:.1f})"
    )
    print(f"HTTP POST /v1/detect, 1 client    median {hm * 1000:7.1f} ms  ({1 / hm:6.2f} img/s)  bad answers {bad}")
    print(f"server overhead at concurrency 1: {100 * (hm / lm - 1):+.1f} % (goal <= +15 %)")
    return lm, hm


def _unguarded(detector: Any, pictures: list[tuple[str, bytes]], n: int = 96) -> None:
    """Threads sharing one loaded model with no engine: count answers that are not their own.

    Ultralytics now locks its predictor's forward pass, but ``Model.predict`` writes the call's
    options (conf, imgsz, ...) into the shared predictor before taking that lock, so two threads
    with different options run with each other's settings. The server runs every call on its one
    inference thread instead."""
    import copy

    from detectkit.image import load_image

    images = [load_image(data) for _, data in pictures]
    lock = threading.Lock()
    for label, options in [
        ("same options", [{}, {}]),
        ("different options", [{"conf": 0.05, "imgsz": 320}, {"conf": 0.6}]),
    ]:
        variants = []
        for opts in options:
            v = copy.copy(detector)
            for k, val in opts.items():
                setattr(v, k, val)
            variants.append(v)
        want = {(k, j): variants[j].detect_batch([images[k]])[0] for k in range(len(images)) for j in range(2)}
        wrong = crashed = 0

        def one(i: int, variants: list[Any] = variants, want: dict[Any, Any] = want) -> None:
            nonlocal wrong, crashed
            k, j = i % len(images), (i // len(images)) % 2
            try:
                got = variants[j].detect_batch([images[k]])[0]
            except Exception:
                with lock:
                    crashed += 1
                return
            if not _matches(got.to_dict(), want[(k, j)]):
                with lock:
                    wrong += 1

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(n)))
        print(
            f"{n} calls from 8 threads on one shared model, no engine, {label}: "
            f"{wrong} wrong answers, {crashed} exceptions"
        )


def _configs(window: float) -> list[tuple[str, list[str]]]:
    w = f"{window:g}"
    return [
        ("1 lane", []),
        (f"1 lane, batch {w} ms", ["--batch-window-ms", w]),
        ("2 lanes", ["--lanes", "2"]),
        (f"2 lanes, batch {w} ms", ["--lanes", "2", "--batch-window-ms", w]),
    ]


def _sweep(
    configs: list[tuple[str, list[str]]],
    common: list[str],
    pictures: list[tuple[str, bytes]],
    expected: dict[str, Any],
    concurrency: int,
    repeats: int,
    n1: int,
    n8: int,
) -> None:
    """Each configuration's server alone (started, measured at concurrency 1 and ``concurrency``,
    stopped), the sweep repeated in alternating order; ratios are to the first configuration."""
    import httpx

    tallies = {label: {1: Tally(), concurrency: Tally()} for label, _ in configs}
    rps: dict[str, list[float]] = {label: [] for label, _ in configs}
    rss: dict[str, float] = {}
    sizes: dict[str, str] = {}
    for rep in range(repeats):
        for label, extra in configs if rep % 2 == 0 else configs[::-1]:
            srv = Server(*common, *extra)
            try:
                _load(srv.url, pictures, expected, 2 * concurrency, concurrency)  # warm-up
                tallies[label][1].add(_load(srv.url, pictures, expected, n1, 1, start_index=rep))
                t = _load(srv.url, pictures, expected, n8, concurrency, start_index=rep)
                tallies[label][concurrency].add(t)
                rps[label].append(len(t.latencies) / t.seconds)
                rss[label] = srv.rss_mib()
                metrics = httpx.get(srv.url + "/metrics").text
                lines = [ln for ln in metrics.splitlines() if ln.startswith("detectkit_inference_batches_total{")]
                sizes[label] = ", ".join(ln.split('"')[1] + ": " + ln.rsplit(" ", 1)[1] for ln in lines)
            finally:
                srv.stop()
    base = configs[0][0]
    for c in (1, concurrency):
        for label, _ in configs:
            tally = tallies[label][c]
            ratio = (len(tally.latencies) / tally.seconds) / (
                len(tallies[base][c].latencies) / tallies[base][c].seconds
            )
            print(tally.line(f"c={c:<2} {label}") + f"  RSS {rss[label]:5.0f} MiB  x{ratio:.2f}")
    for label, _ in configs[1:]:
        per = ", ".join(f"{a / b:.2f}" for a, b in zip(rps[label], rps[base], strict=True))
        print(f"{label}: throughput ratio at c={concurrency} per sweep: {per}")
    for label, _ in configs:
        if "batch" in label:
            print(f"{label}: forward passes by batch size (last sweep): {sizes[label]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("torch", "onnx", "openvino"), default="torch")
    parser.add_argument("--requests", type=int, default=2000, help="soak requests, 0: no soak (default: %(default)s)")
    parser.add_argument("--overhead-requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="sweeps over the configurations (default: %(default)s)")
    parser.add_argument(
        "--round-requests", type=int, default=96, help="requests per sweep at --concurrency (half at 1)"
    )
    parser.add_argument("--batch-window-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--phases", default="overhead,configs,soak,threads", help="comma-separated phases to run (default: all)"
    )
    args = parser.parse_args()

    from detectkit import Detector
    from detectkit.image import load_image

    backend = args.backend
    detector = Detector(backend=backend)
    with tempfile.TemporaryDirectory() as tmp:
        pictures = _pictures(Path(tmp))
    expected = {name: detector.detect(load_image(data)) for name, data in pictures}
    print(
        f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; "
        f"{len(pictures)} pictures 320 x 320, model demo-shapes ({backend}, imgsz {detector.imgsz})"
    )
    common = ["--classifier", "none", "--backend", backend]
    configs = _configs(args.batch_window_ms)
    phases = set(args.phases.split(","))
    if "overhead" in phases:
        print("\n== 1. overhead at concurrency 1 (one-lane server, no batching)")
        _overhead(common, backend, pictures, expected, args.overhead_requests)

    c = args.concurrency
    if "configs" in phases:
        print(f"\n== 2. serving configurations, each server alone, {args.repeats} sweeps (x = throughput / 1 lane)")
        _sweep(configs, common, pictures, expected, c, args.repeats, args.round_requests // 2, args.round_requests)

    if args.requests and "soak" in phases:
        import httpx

        print(f"\n== 3. soak: {args.requests} requests at concurrency 4 (one lane, no batching)")
        baseline = Server(*common)
        try:
            warm = _load(baseline.url, pictures, expected, 100, 4)
            rss0 = baseline.rss_mib()
            soak = Tally()
            samples = [rss0]
            step = max(1, args.requests // 8)
            done = 0
            while done < args.requests:
                k = min(step, args.requests - done)
                soak.add(_load(baseline.url, pictures, expected, k, 4, start_index=done))
                done += k
                samples.append(baseline.rss_mib())
            print(warm.line("warm-up"))
            print(soak.line("soak"))
            print(
                f"server RSS: {rss0:.1f} MiB after warm-up -> {samples[-1]:.1f} MiB after {args.requests} requests "
                f"({samples[-1] - rss0:+.1f} MiB); samples: {', '.join(f'{s:.0f}' for s in samples)}"
            )
            errors = [
                ln
                for ln in httpx.get(baseline.url + "/metrics").text.splitlines()
                if ln.startswith("detectkit_requests_total") and 'status="5' in ln and "/ready" not in ln
            ]
            print(f"5xx lines in /metrics: {errors or 'none'}")
        finally:
            baseline.stop()
    if backend == "torch" and "threads" in phases:
        print("\n== 4. why every lane owns its models")
        _unguarded(detector, pictures)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
