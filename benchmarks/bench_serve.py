"""Load test of ``detectkit serve`` on the loopback interface, side by side with in-process detection.

Bounded and local: it starts its own servers on 127.0.0.1 (random free ports), sends a fixed
number of requests, prints the figures and stops the servers. Nothing else is contacted. Run it
once per backend (``--backend torch|onnx|openvino``): one runtime per process, because idle
runtimes of another kind in the same process slow the one measured.

Phases (the shipped demo detector, eight different 320 x 320 pictures from the shapes dataset,
each answer checked against ``Detector.detect`` of the same picture in this process). Requests are
sent by a lean client (``http.client``, multipart bodies built once): the load generator shares
the two cores with the server, and a heavier client would take CPU time from the server it
measures (httpx costs about 1 ms of CPU per request more).

1. **Overhead at concurrency 1**: one request at a time, in blocks of 8 alternating an in-process
   ``Detector.detect(jpeg_bytes)`` (decode + detect, what a caller without a server pays; a worker
   process of its own, same backend and threads) with HTTP uploads of the same bytes to the
   one-lane server (multipart and a raw ``image/jpeg`` body with the lean client, multipart with
   httpx). Medians and their ratio, and the median of per-block ratios (each block of HTTP
   requests against the in-process block just before it: the machine drifts between speeds).
2. **Serving configurations**: one lane without micro-batching (the baseline), one lane with
   ``--batch-window-ms``, ``--lanes 2``, and ``--lanes 2`` with the window, at concurrency 1 and
   ``--concurrency`` (8); each server runs alone (started, warmed up, measured, stopped: idle
   runtimes in other processes spin), and the sweep is repeated in reverse order. Throughput,
   p50/p95/p99 latency, errors, 5xx, mixed answers, server RSS, throughput ratio to the baseline
   (all requests, and per sweep); the micro-batched servers' forward passes by batch size.
   **2b. Paired rounds** (``--pair-rounds``): each configuration against the 1-lane server, both
   up at once, in short alternating rounds at ``--concurrency``; the median per-round ratio.
3. **Soak** (``--requests``, default 2000, 0 skips it) at concurrency 4 on the baseline server;
   its RSS after the warm-up and at the end, and 5xx lines in ``/metrics``.
4. **Why lanes own their models** (``--backend torch``): 8 threads calling one shared ``Detector``
   directly, with the same and with different options, and how many answers are wrong.

Server and worker processes keep bytecode caches (in a temporary prefix), as an installed package
has them, even where ``PYTHONDONTWRITEBYTECODE`` is set.

    python benchmarks/bench_serve.py [--backend torch] [--requests 2000] [--repeats 2] [--batch-window-ms 10]
"""

from __future__ import annotations

import argparse
import http.client
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
from _common import child_env as common_child_env

offline()

HOST = "127.0.0.1"  # loopback only, by design


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    """The environment of the server and in-process worker subprocesses: ``_common.child_env``
    (this checkout first, bytecode caches in a temporary prefix) plus ``$SERVE_EXTRA_PATH``."""
    env = common_child_env(_PYCACHE)
    if os.environ.get("SERVE_EXTRA_PATH"):
        env["PYTHONPATH"] += os.pathsep + os.environ["SERVE_EXTRA_PATH"]
    return env


_PYCACHE = os.path.join(tempfile.gettempdir(), f"detectkit-bench-serve-pycache-{os.getuid()}")


class Server:
    def __init__(self, *args: str) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = child_env()
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
    import json

    tally = Tally()
    local = threading.local()
    port = int(url.rsplit(":", 1)[1])
    bodies = [multipart(name, data) for name, data in pictures]
    clients: list[LeanClient] = []

    def one(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = LeanClient(port)
            with tally.lock:
                clients.append(client)
        name = pictures[i % len(pictures)][0]
        t = time.perf_counter()
        try:
            status, raw = client.post(bodies[i % len(bodies)])
        except (OSError, http.client.HTTPException):
            client.close()  # a fresh connection next time
            with tally.lock:
                tally.errors += 1
            return
        dt = time.perf_counter() - t
        with tally.lock:
            if status != 200:
                tally.errors += 1
                tally.server_errors += status >= 500
                return
            tally.latencies.append(dt)
            body = json.loads(raw)
            if body.get("image_name") != name or not _matches(body, expected[name]):
                tally.mixed += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(start_index, start_index + n)))
    tally.seconds = time.perf_counter() - t0
    for c in clients:
        c.close()
    return tally


_LOCAL = """
import json, sys, time
from detectkit import Detector
detector = Detector(backend=sys.argv[1])
pictures = [bytes.fromhex(h) for h in json.loads(sys.stdin.readline())]
import os
if "torch" in sys.modules and os.environ.get("DETECTKIT_SERVE_TORCH_THREADS", "").isdigit():
    import torch  # the server's lane threads (Detector keeps the count set here)
    torch.set_num_threads(int(os.environ["DETECTKIT_SERVE_TORCH_THREADS"]))
i = 0
for _ in range(5):
    detector.detect(pictures[i % len(pictures)]); i += 1
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t = time.perf_counter()
        detector.detect(pictures[i % len(pictures)])
        times.append(time.perf_counter() - t)
        i += 1
    print(json.dumps(times), flush=True)
"""


class LocalDetector:
    """``Detector.detect(jpeg_bytes)`` (decode included) in a process of its own, same backend and
    thread settings as the server, driven in blocks so the benchmark can interleave it with HTTP
    requests (no runtime of this process or the server's competes with it while it runs)."""

    def __init__(self, backend: str, pictures: list[tuple[str, bytes]]) -> None:
        import json

        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LOCAL, backend],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([data.hex() for _, data in pictures]) + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the in-process worker failed to start")

    def run(self, n: int) -> list[float]:
        import json

        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return [float(t) for t in json.loads(self.proc.stdout.readline())]

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


_BOUNDARY = "detectkit-bench-boundary-7f3a9c"


def multipart(name: str, data: bytes) -> bytes:
    """A ``multipart/form-data`` body with one file field ``file`` (built once per picture)."""
    head = (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{_BOUNDARY}--\r\n".encode()


class LeanClient:
    """A minimal keep-alive HTTP client (``http.client``, bodies built in advance): what a request
    costs the server, with as little client work as possible on the same two cores."""

    def __init__(self, port: int) -> None:
        import http.client

        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.headers = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}

    def post(self, body: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", "/v1/detect", body=body, headers=self.headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def post_raw(self, name: str, data: bytes) -> tuple[int, bytes]:
        """The image file itself as the body (``Content-Type: image/jpeg``), no multipart."""
        self.conn.request("POST", "/v1/detect", body=data, headers={"Content-Type": "image/jpeg", "X-Filename": name})
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def _overhead(
    common: list[str],
    backend: str,
    pictures: list[tuple[str, bytes]],
    expected: dict[str, Any],
    n: int,
    block: int = 8,
) -> tuple[float, float]:
    """In-process ``detect(bytes)`` (its own process) vs HTTP uploads to a one-lane server, one
    request at a time, interleaved in blocks of ``block`` so that drifts of the machine's speed hit
    both sides alike. Two clients: a lean one (``http.client``; the server's overhead) and httpx
    (what a typical Python client adds on top)."""
    import json

    import httpx

    bodies = [multipart(name, data) for name, data in pictures]
    local = LocalDetector(backend, pictures)
    server = Server(*common)
    lean_t: list[float] = []
    raw_t: list[float] = []
    httpx_t: list[float] = []
    local_t: list[float] = []
    handler_t: list[float] = []
    bad = 0
    lean = LeanClient(server.port)

    def check(status: int, answer: dict[str, Any], name: str) -> bool:
        nonlocal bad
        if status != 200 or answer.get("image_name") != name or not _matches(answer, expected[name]):
            bad += 1
            return False
        return True

    try:
        with httpx.Client(timeout=120) as hx:
            for i in range(10):  # warm-up: lazy imports, OpenVINO's static-shape compile, connections
                name, data = pictures[i % len(pictures)]
                lean.post(bodies[i % len(bodies)])
                lean.post_raw(name, data)
                hx.post(server.url + "/v1/detect", files={"file": (name, data, "image/jpeg")})
            i = 0
            while len(lean_t) < n:
                local_t += local.run(block)
                for _ in range(block):
                    k = i % len(pictures)
                    name, data = pictures[k]
                    t = time.perf_counter()
                    status, raw = lean.post(bodies[k])
                    lean_t.append(time.perf_counter() - t)
                    answer = json.loads(raw)
                    if check(status, answer, name):
                        handler_t.append(answer["timing_ms"]["total"] / 1000)
                    t = time.perf_counter()
                    status, raw = lean.post_raw(name, data)
                    raw_t.append(time.perf_counter() - t)
                    check(status, json.loads(raw), name)
                    t = time.perf_counter()
                    r = hx.post(server.url + "/v1/detect", files={"file": (name, data, "image/jpeg")})
                    httpx_t.append(time.perf_counter() - t)
                    check(r.status_code, r.json(), name)
                    i += 1
    finally:
        lean.close()
        server.stop()
        local.stop()
    med = statistics.median
    lm, hm, rm, xm = med(local_t), med(lean_t), med(raw_t), med(httpx_t)
    print(f"in-process Detector.detect(bytes)     median {lm * 1000:7.2f} ms  ({len(local_t)} calls, own process)")
    print(
        f"HTTP POST /v1/detect multipart, lean median {hm * 1000:7.2f} ms  ({len(lean_t)} requests; "
        f"handler's own timing {med(handler_t) * 1000:.2f} ms)  bad answers {bad}"
    )
    print(f"HTTP POST /v1/detect raw image/jpeg  median {rm * 1000:7.2f} ms  ({len(raw_t)} requests)")
    print(f"HTTP POST /v1/detect multipart, httpx median {xm * 1000:7.2f} ms  ({len(httpx_t)} requests)")
    halves = [
        (med(local_t[j::2]), med(lean_t[j::2])) for j in range(2)
    ]  # the same figure on alternate calls: how stable it is

    def paired(series: list[float]) -> float:
        # the machine drifts between speeds over seconds: the ratio of each block of HTTP requests
        # to the in-process block run just before it, then the median of those ratios
        ratios = [
            med(series[j : j + block]) / med(local_t[j : j + block]) for j in range(0, len(series) - block + 1, block)
        ]
        return 100 * (med(ratios) - 1)

    print(
        f"server overhead at concurrency 1: {100 * (hm / lm - 1):+.1f} % (goal <= +15 %; "
        f"odd/even calls {', '.join(f'{100 * (b / a - 1):+.1f} %' for a, b in halves)}; "
        f"median of per-block ratios {paired(lean_t):+.1f} %)"
    )
    print(
        f"  raw image/jpeg body: {100 * (rm / lm - 1):+.1f} % (per-block {paired(raw_t):+.1f} %); "
        f"multipart with httpx's client work: {100 * (xm / lm - 1):+.1f} % (per-block {paired(httpx_t):+.1f} %)"
    )
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


def _configs(window: float, max_batch: int = 8) -> list[tuple[str, list[str]]]:
    w = f"{window:g}"
    batch = ["--batch-window-ms", w] + (["--max-batch", str(max_batch)] if max_batch != 8 else [])
    label = f"batch {w} ms" + (f" (max {max_batch})" if max_batch != 8 else "")
    return [
        ("1 lane", []),
        (f"1 lane, {label}", batch),
        ("2 lanes", ["--lanes", "2"]),
        (f"2 lanes, {label}", ["--lanes", "2", *batch]),
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
                # warm-up, alone and concurrent: lazy imports, OpenVINO's static-shape compiles
                _load(srv.url, pictures, expected, 4, 1)
                _load(srv.url, pictures, expected, 4 * concurrency, concurrency)
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


def _paired(
    configs: list[tuple[str, list[str]]],
    common: list[str],
    pictures: list[tuple[str, bytes]],
    expected: dict[str, Any],
    concurrency: int,
    rounds: int,
    n: int,
) -> None:
    """Each configuration against the first, both servers up at once (the idle one waits on its
    sockets, its runtime threads asleep), in ``rounds`` short rounds at ``concurrency`` that
    alternate which goes first: the machine drifts between speeds over seconds, so the median of
    per-round ratios is steadier than one long run per server."""
    base_label, base_args = configs[0]
    for label, extra in configs[1:]:
        base, other = Server(*common, *base_args), Server(*common, *extra)
        try:
            for srv in (base, other):  # warm-up, alone and concurrent
                _load(srv.url, pictures, expected, 4, 1)
                _load(srv.url, pictures, expected, 4 * concurrency, concurrency)
            ratios: list[float] = []
            totals = {base_label: Tally(), label: Tally()}
            for r in range(rounds):
                pair = [(base_label, base), (label, other)]
                got: dict[str, Tally] = {}
                for name, srv in pair if r % 2 == 0 else pair[::-1]:
                    got[name] = _load(srv.url, pictures, expected, n, concurrency, start_index=r)
                    totals[name].add(got[name])
                rate = {k: len(t.latencies) / t.seconds for k, t in got.items()}
                ratios.append(rate[label] / rate[base_label])
        finally:
            base.stop()
            other.stop()
        for name in (base_label, label):
            print(totals[name].line(f"c={concurrency:<2} {name}"))
        print(
            f"{label} / {base_label} at c={concurrency}: median of {rounds} per-round ratios "
            f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
        )


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
    parser.add_argument("--max-batch", type=int, default=8, help="--max-batch of the micro-batching servers")
    parser.add_argument(
        "--configs", default="0,1,2,3", help="which serving configurations phase 2 runs (indices; 0 = 1 lane, the base)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--phases",
        default="overhead,configs,pairs,soak,threads",
        help="comma-separated phases to run (default: all)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch threads of every server lane and of the in-process worker "
        "($DETECTKIT_SERVE_TORCH_THREADS; 0: torch's default, one per core)",
    )
    parser.add_argument("--pair-rounds", type=int, default=8, help="rounds of the paired phase (default: %(default)s)")
    args = parser.parse_args()

    if args.torch_threads:
        os.environ["DETECTKIT_SERVE_TORCH_THREADS"] = str(args.torch_threads)  # servers and worker inherit it
    from detectkit import Detector
    from detectkit.image import load_image

    backend = args.backend
    detector = Detector(backend=backend)
    threads = ""
    if backend == "torch":  # the reference answers at the servers' thread count
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        threads = f", torch threads {torch.get_num_threads()} (servers and in-process)"
    with tempfile.TemporaryDirectory() as tmp:
        pictures = _pictures(Path(tmp))
    for _, data in pictures:  # once first: OpenVINO compiles a static-shape model when a shape recurs
        detector.detect(load_image(data))
    expected = {name: detector.detect(load_image(data)) for name, data in pictures}
    print(
        f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; "
        f"{len(pictures)} pictures 320 x 320, model demo-shapes ({backend}, imgsz {detector.imgsz}){threads}"
    )
    common = ["--classifier", "none", "--backend", backend]
    configs = [_configs(args.batch_window_ms, args.max_batch)[int(i)] for i in args.configs.split(",")]
    phases = set(args.phases.split(","))
    if "overhead" in phases:
        print("\n== 1. overhead at concurrency 1 (one-lane server, no batching)")
        _overhead(common, backend, pictures, expected, args.overhead_requests)

    c = args.concurrency
    if "configs" in phases:
        print(f"\n== 2. serving configurations, each server alone, {args.repeats} sweeps (x = throughput / 1 lane)")
        _sweep(configs, common, pictures, expected, c, args.repeats, args.round_requests // 2, args.round_requests)

    if "pairs" in phases:
        print(
            f"\n== 2b. paired rounds at c={c}: each configuration against 1 lane, both servers up, "
            f"{args.pair_rounds} alternating rounds of {args.round_requests} requests"
        )
        _paired(configs, common, pictures, expected, c, args.pair_rounds, args.round_requests)

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
