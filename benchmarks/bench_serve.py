"""Load test of ``detectkit serve`` on the loopback interface, side by side with in-process detection.

Bounded and local: it starts its own servers on 127.0.0.1 (random free ports), sends a fixed
number of requests, prints the figures and stops the servers. Nothing else is contacted.

Phases (the shipped demo detector, eight different 320 x 320 pictures from the shapes dataset,
each answer checked against ``Detector.detect`` of the same picture in this process):

1. **Overhead at concurrency 1**: one request at a time, alternating an in-process
   ``Detector.detect(jpeg_bytes)`` (decode + detect, what a caller without a server pays) with an
   HTTP upload of the same bytes to the server. Medians of both and their ratio.
2. **Concurrency 8, micro-batching off vs on**: blocks of requests from 8 client threads go to a
   server without micro-batching and to one with ``--batch-window-ms``, alternating block by
   block; throughput, p50/p95/p99 latency, errors, 5xx, mixed answers; the throughput ratio is
   the median of the per-round ratios.
3. **Soak**: ``--requests`` requests (default 2000) at concurrency 4 on the non-batching server;
   the server's RSS after the warm-up and at the end.
4. **Why the inference thread**: 8 threads calling one shared ``Detector`` directly, without the
   server's engine, and how many of their answers belong to another thread's picture; then
   ``--workers 2`` (a model per process) against the one-process server at concurrency 8.

    python benchmarks/bench_serve.py [--requests 2000] [--overhead-requests 100] [--rounds 5] [--batch-window-ms 10]
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
from collections.abc import Callable
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


def _overhead(url: str, detector: Any, pictures: list[tuple[str, bytes]], expected: dict[str, Any], n: int) -> None:
    import httpx

    local_t: list[float] = []
    http_t: list[float] = []
    bad = 0
    with httpx.Client(timeout=120) as client:
        for i in range(n + 5):
            name, data = pictures[i % len(pictures)]
            order: list[Callable[[], Any]] = [
                lambda data=data: detector.detect(data),
                lambda name=name, data=data: client.post(
                    url + "/v1/detect", files={"file": (name, data, "image/jpeg")}
                ),
            ]
            if i % 2:
                order.reverse()
            times = []
            results = []
            for fn in order:
                t = time.perf_counter()
                results.append(fn())
                times.append(time.perf_counter() - t)
            if i % 2:
                times.reverse()
                results.reverse()
            if i < 5:  # warm-up
                continue
            local_t.append(times[0])
            http_t.append(times[1])
            r = results[1]
            if r.status_code != 200 or not _matches(r.json(), expected[name]):
                bad += 1
    lm, hm = statistics.median(local_t), statistics.median(http_t)
    print(f"in-process Detector.detect(bytes)  median {lm * 1000:7.1f} ms  ({1 / lm:6.2f} img/s)")
    print(f"HTTP POST /v1/detect, 1 client    median {hm * 1000:7.1f} ms  ({1 / hm:6.2f} img/s)  bad answers {bad}")
    print(f"server overhead at concurrency 1: {100 * (hm / lm - 1):+.1f} % (goal <= +15 %)")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="soak requests (default: %(default)s)")
    parser.add_argument("--overhead-requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds at concurrency 8")
    parser.add_argument("--round-requests", type=int, default=64)
    parser.add_argument("--batch-window-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 comparison")
    args = parser.parse_args()

    from detectkit import Detector
    from detectkit.image import load_image

    detector = Detector()
    with tempfile.TemporaryDirectory() as tmp:
        pictures = _pictures(Path(tmp))
    expected = {name: detector.detect(load_image(data)) for name, data in pictures}
    print(
        f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; "
        f"{len(pictures)} pictures 320 x 320, model demo-shapes (torch, imgsz 416)"
    )

    plain = Server("--classifier", "none")
    batched = Server("--classifier", "none", "--batch-window-ms", str(args.batch_window_ms))
    try:
        print("\n== 1. overhead at concurrency 1 (alternating request by request)")
        _overhead(plain.url, detector, pictures, expected, args.overhead_requests)

        c = args.concurrency
        print(
            f"\n== 2. concurrency {c}: micro-batching off vs --batch-window-ms {args.batch_window_ms:g} "
            f"({args.rounds} alternating rounds of {args.round_requests} requests)"
        )
        _load(plain.url, pictures, expected, 16, c)  # warm-up
        _load(batched.url, pictures, expected, 16, c)
        total = {"off": Tally(), "on": Tally()}
        ratios = []
        for r in range(args.rounds):
            pair = {}
            for key, srv in [("off", plain), ("on", batched)] if r % 2 == 0 else [("on", batched), ("off", plain)]:
                pair[key] = _load(srv.url, pictures, expected, args.round_requests, c, start_index=r)
                total[key].add(pair[key])
            ratios.append(
                (len(pair["on"].latencies) / pair["on"].seconds) / (len(pair["off"].latencies) / pair["off"].seconds)
            )
        print(total["off"].line(f"concurrency {c}, batching off"))
        print(total["on"].line(f"concurrency {c}, batching on"))
        print(
            f"micro-batching throughput ratio (median of rounds): {statistics.median(ratios):.2f}x "
            f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}; goal >= 1.3x)"
        )
        import httpx

        metrics = httpx.get(batched.url + "/metrics").text
        sizes = [ln for ln in metrics.splitlines() if ln.startswith("detectkit_inference_batches_total{")]
        print(
            "batched server, forward passes by batch size: "
            + ", ".join(s.split("{")[1].replace("}", " ->") for s in sizes)
        )

        print(f"\n== 3. soak: {args.requests} requests at concurrency 4 (batching off)")
        warm = _load(plain.url, pictures, expected, 100, 4)
        rss0 = plain.rss_mib()
        soak = Tally()
        samples = [rss0]
        step = max(1, args.requests // 8)
        done = 0
        while done < args.requests:
            k = min(step, args.requests - done)
            soak.add(_load(plain.url, pictures, expected, k, 4, start_index=done))
            done += k
            samples.append(plain.rss_mib())
        print(warm.line("warm-up"))
        print(soak.line("soak"))
        print(
            f"server RSS: {rss0:.1f} MiB after warm-up -> {samples[-1]:.1f} MiB after {args.requests} requests "
            f"({samples[-1] - rss0:+.1f} MiB); samples: {', '.join(f'{s:.0f}' for s in samples)}"
        )
        errors = [
            ln
            for ln in httpx.get(plain.url + "/metrics").text.splitlines()
            if ln.startswith("detectkit_requests_total") and 'status="5' in ln and "/ready" not in ln
        ]
        print(f"5xx lines in /metrics: {errors or 'none'}")
        batched.stop()
        print("\n== 4. why one inference thread")
        _unguarded(detector, pictures)
        if not args.no_workers:
            two = Server("--classifier", "none", "--workers", "2")
            try:
                _load(two.url, pictures, expected, 16, c)
                pair: dict[str, Tally] = {"1": Tally(), "2": Tally()}
                for r in range(max(2, args.rounds // 2)):
                    for key, srv in [("1", plain), ("2", two)] if r % 2 == 0 else [("2", two), ("1", plain)]:
                        pair[key].add(_load(srv.url, pictures, expected, args.round_requests, c))
                print(pair["1"].line(f"--workers 1, concurrency {c}"))
                print(pair["2"].line(f"--workers 2, concurrency {c}"))
            finally:
                two.stop()
    finally:
        plain.stop()
        batched.stop()
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (a shared machine: ratios are the robust figures)")


if __name__ == "__main__":
    main()
