"""A real ``detectkit serve`` (uvicorn) process on 127.0.0.1: parity, concurrency, limits, the CLI."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from detectkit import Detections, Detector
from detectkit.cli import main
from detectkit.image import load_image
from tests.serve.helpers import SHAPES, Server, bus_path, jpeg_with_size, png_header_only

BUS = bus_path()


def _detect(url: str, data: bytes, name: str, **params: Any) -> httpx.Response:
    return httpx.post(url + "/v1/detect", params=params, files={"file": (name, data)}, timeout=120)


def test_real_server_answers_like_the_library(server: Server, detector: Detector) -> None:
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    for path in [BUS, SHAPES[5]]:
        answer = _detect(server.url, path.read_bytes(), path.name).json()
        assert Detections.from_dict(answer) == detector.detect(path)
    page = httpx.get(server.url + "/")
    assert "<title>detectkit</title>" in page.text


def test_concurrent_requests_never_mix(server: Server, detector: Detector) -> None:
    # different images, and two sets of options: on one shared Ultralytics model without the
    # server's inference thread, most such calls ran with another call's options (bench_serve.py)
    paths = [BUS, *SHAPES[10:17]]
    low = Detector(conf=0.05, imgsz=320)
    expected = {(p.name, 0): detector.detect(p) for p in paths} | {(p.name, 1): low.detect(p) for p in paths}
    options = [{}, {"conf": 0.05, "imgsz": 320}]
    jobs = [(paths[i % len(paths)], (i // len(paths)) % 2) for i in range(24)]

    def send(job: tuple[Path, int]) -> tuple[str, int, httpx.Response]:
        path, j = job
        return path.name, j, _detect(server.url, path.read_bytes(), path.name, **options[j])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, jobs))
    for name, j, r in answers:
        assert r.status_code == 200
        body = r.json()
        assert body["image_name"] == name
        assert Detections.from_dict(body) == expected[(name, j)], (name, j)


def test_bad_inputs_on_the_wire(server: Server) -> None:
    jpeg = BUS.read_bytes()
    cases = [
        (png_header_only(100_000, 100_000), "bomb.png", 413),
        (jpeg_with_size(jpeg, 65000, 65000), "bomb.jpg", 413),
        (jpeg[:5000], "truncated.jpg", 422),
        (b"plain text, not an image", "a.txt", 415),
        (b"", "zero.jpg", 422),
    ]
    for data, name, status in cases:
        r = _detect(server.url, data, name)
        assert r.status_code == status, (name, r.text)
    # a huge declared body is refused from its headers, before any of it is sent
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        head = sock.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert _detect(server.url, SHAPES[0].read_bytes(), "ok.jpg").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    errors = [line for line in metrics.splitlines() if 'route="/v1' in line and 'status="5' in line]
    assert errors == []


@pytest.mark.slow
def test_lanes_and_micro_batching_keep_answers_apart(tmp_path: Path, detector: Detector) -> None:
    # different pictures of one size, so the server may batch them together; two lanes, each
    # with its own model copy, take the batches
    crops = []
    for i, p in enumerate(SHAPES[20:28]):
        crop = tmp_path / f"crop{i}.png"
        cv2.imwrite(str(crop), load_image(p)[:320, :320])
        crops.append(crop)
    expected = {c.name: detector.detect(c) for c in crops}
    srv = Server("--batch-window-ms", "30", "--lanes", "2", "--classifier", "none")
    try:
        jobs = [crops[i % len(crops)] for i in range(24)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda c: (c.name, _detect(srv.url, c.read_bytes(), c.name)), jobs))
        metrics = httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()
    for name, r in answers:
        got, want = Detections.from_dict(r.json()), expected[name]
        assert r.json()["image_name"] == name
        assert got.class_id.tolist() == want.class_id.tolist(), name
        # a batched forward pass, or one intra-op thread per lane, differs in rounding only
        assert np.allclose(got.xyxy, want.xyxy, atol=0.05), name
        assert np.allclose(got.confidence, want.confidence, atol=1e-4), name
    sizes = {
        int(line.split('size="')[1].split('"')[0]): float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("detectkit_inference_batches_total{")
    }
    assert sum(k * v for k, v in sizes.items()) == 24
    assert max(sizes) > 1, sizes  # some requests really shared a forward pass
    lanes = {line.split('lane="')[1].split('"')[0] for line in metrics.splitlines() if "lane=" in line}
    assert lanes == {"0", "1"}, metrics  # both lanes ran detections


@pytest.mark.slow
def test_two_worker_processes_with_an_api_key() -> None:
    # the onnx backend: worker processes that never import torch start in a fraction of the time
    onnx = Detector(backend="onnx")
    key = {"X-API-Key": "k"}
    srv = Server(
        "--workers",
        "2",
        "--backend",
        "onnx",
        "--api-key-env",
        "DK_TEST_KEY",
        "--classifier",
        "none",
        env={"DK_TEST_KEY": "k", "DETECTKIT_ORT_THREADS": "1"},
        headers=key,
    )
    try:
        assert httpx.get(srv.url + "/health").status_code == 200
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        # each worker loads its models before it accepts connections, so every answer is ready

        def post(p: Path) -> httpx.Response:
            return httpx.post(
                srv.url + "/v1/detect", files={"file": (p.name, p.read_bytes())}, headers=key, timeout=120
            )

        with ThreadPoolExecutor(4) as pool:
            rs = list(pool.map(post, SHAPES[:8]))
        for p, r in zip(SHAPES[:8], rs, strict=True):
            got, want = Detections.from_dict(r.json()), onnx.detect(p)
            assert got.class_id.tolist() == want.class_id.tolist(), p.name
            assert np.allclose(got.xyxy, want.xyxy, atol=0.05), p.name  # 1 vs default intra-op threads
    finally:
        err = srv.stop()
    assert f"http://127.0.0.1:{srv.port}/" in err


def test_cli_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DK_UNSET_KEY", raising=False)
    assert main(["serve", "--api-key-env", "DK_UNSET_KEY"]) == 2
    assert "--api-key-env DK_UNSET_KEY" in capsys.readouterr().err
    assert main(["serve", "--model", "no-such-model"]) == 1
    assert "known names" in capsys.readouterr().err
    assert main(["serve", "--max-queue", "0"]) == 2
    assert "--max-queue" in capsys.readouterr().err
    assert main(["serve", "--conf", "2"]) == 2
    assert "--conf" in capsys.readouterr().err


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve"]) == 1
    assert "pip install 'detectkit[serve]'" in capsys.readouterr().err
    from detectkit.errors import MissingDependencyError
    from detectkit.serve import create_app

    with pytest.raises(MissingDependencyError, match="serve"):
        create_app()


def test_models_that_fail_to_load_stop_the_server(tmp_path: Path) -> None:
    """`detectkit serve --model broken.pt`: the load fails on the lane after the port is bound; the
    server says why on one line, frees the port and exits 1 (it used to serve `/ready` 503 forever
    and print nothing)."""
    import os
    import subprocess
    import sys

    from tests.serve.helpers import ROOT, free_port

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    port = free_port()
    argv = ["serve", "--model", str(broken), "--port", str(port), "--classifier", "none"]
    done = subprocess.run(
        [sys.executable, "-m", "detectkit", *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    assert "the models failed to load" in errors[0]
    assert "broken.pt" in errors[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # the port is free again
        s.bind(("127.0.0.1", port))
