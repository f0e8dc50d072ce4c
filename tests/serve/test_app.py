"""The HTTP API through FastAPI's TestClient: every endpoint, parity with the library, bad input."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from detectkit import Detections, Detector
from detectkit.errors import InvalidInputError
from detectkit.image import load_image
from detectkit.viz import annotate
from tests.serve.helpers import SHAPES, bus_path, jpeg_with_size, png_header_only

BUS = bus_path()


def _post(client: TestClient, path: str, file: Path | bytes, name: str = "image.jpg", **params: Any) -> Any:
    data = file.read_bytes() if isinstance(file, Path) else file
    return client.post(path, params=params, files={"file": (name, data, "application/octet-stream")})


def _same(answer: dict[str, Any], expected: Detections) -> None:
    got = Detections.from_dict(answer)
    assert got == expected, (got, expected)
    assert answer["labels"] == expected.labels
    assert tuple(answer["image_size_wh"]) == expected.image_size_wh


# ---------------------------------------------------------------------------- probes and page
def test_probes_models_metrics_and_docs(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"ready": True, "models": ["demo-shapes"]}
    models = client.get("/v1/models").json()
    det = models["detectors"][0]
    assert det["name"] == "demo-shapes"
    assert det["names"] == {"0": "circle", "1": "square", "2": "triangle", "3": "star", "4": "cross"}
    assert det["manifest"]["sha256"].startswith("040f7c0a")
    assert det["colors"]["0"] == "#e6194b"  # the library's palette, so page and annotated image agree
    assert models["classifier"]["architecture"] == "mobilenet_v2"
    spec = client.get("/openapi.json").json()
    for route in ["/v1/detect", "/v1/detect/batch", "/v1/detect/video", "/v1/classify", "/v1/localize", "/v1/annotate"]:
        assert "post" in spec["paths"][route], route
    assert "/health" in spec["paths"]
    assert "/metrics" in spec["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # no external assets: nothing is loaded from another origin
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page.text
    assert "<link" not in page.text
    assert 'src="http' not in page.text
    _post(client, "/v1/detect", BUS, "bus.jpg")
    text = client.get("/metrics").text
    assert 'detectkit_requests_total{method="POST",route="/v1/detect",status="200"} 1' in text
    assert 'detectkit_request_duration_seconds_count{route="/v1/detect"} 1' in text
    assert 'detectkit_inference_batches_total{size="1"}' in text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")


# ---------------------------------------------------------------------------- parity with the library
def test_detect_equals_the_library(client: TestClient, detector: Detector) -> None:
    for path in [BUS, *SHAPES[:4]]:
        answer = _post(client, "/v1/detect", path, path.name).json()
        _same(answer, detector.detect(path))
        assert answer["model"] == "demo-shapes"
        assert answer["image_name"] == path.name
        assert set(answer["timing_ms"]) == {"read", "decode", "inference", "total"}


def test_raw_image_body_equals_the_library(client: TestClient, detector: Detector) -> None:
    for path in [BUS, SHAPES[3]]:
        headers = {"content-type": "image/jpeg", "x-filename": path.name}
        answer = client.post("/v1/detect", content=path.read_bytes(), headers=headers).json()
        _same(answer, detector.detect(path))
        assert answer["image_name"] == path.name
    # any image/* type or application/octet-stream: the format is read from the bytes
    data = SHAPES[3].read_bytes()
    r = client.post("/v1/detect", content=data, headers={"content-type": "application/octet-stream"})
    assert r.json()["image_name"] == "upload"
    _same(r.json(), detector.detect(SHAPES[3]))
    # with options (the route, not the guard's direct answer) and on the other one-image routes
    r = client.post("/v1/detect", params={"conf": 0.1}, content=data, headers={"content-type": "image/png"})
    _same(r.json(), Detector(conf=0.1).detect(SHAPES[3]))
    assert client.post("/v1/classify", content=data, headers={"content-type": "image/jpeg"}).status_code == 200
    assert "image/*" in client.get("/openapi.json").json()["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    r = client.post("/v1/detect/batch", content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == 415
    assert "multipart" in r.json()["detail"]


def test_the_guard_answers_plain_detections_like_the_route(
    make_client: Callable[..., TestClient], detector: Detector
) -> None:
    """``POST /v1/detect`` without a query string is answered by the guard itself; the route (used
    here with ``direct_detect`` off) gives the same answers, errors and metrics."""
    direct = make_client(max_bytes=200_000)
    routed = make_client(max_bytes=200_000)
    routed.app.state.detectkit.direct_detect = False  # type: ignore[attr-defined]
    jpeg = SHAPES[0].read_bytes()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("multipart", {"files": {"file": ("a.jpg", jpeg, "image/jpeg")}}),
        ("raw", {"content": jpeg, "headers": {"content-type": "image/jpeg", "x-filename": "a.jpg"}}),
        ("raw text", {"content": b"hello" * 10, "headers": {"content-type": "image/jpeg"}}),
        ("raw empty", {"content": b"", "headers": {"content-type": "image/png"}}),
        ("raw truncated", {"content": jpeg[:900], "headers": {"content-type": "image/jpeg"}}),
        ("raw bomb", {"content": png_header_only(100_000, 100_000), "headers": {"content-type": "image/png"}}),
        ("multipart too big", {"files": {"file": ("b.jpg", BUS.read_bytes() * 2, "image/jpeg")}}),
        ("raw too big", {"content": b"\xff" * 400_000, "headers": {"content-type": "image/jpeg"}}),
        ("wrong field", {"files": {"other": ("a.jpg", jpeg, "image/jpeg")}}),
        # a second field: the guard's direct cut declines, the route parses the replayed body
        ("two fields", {"files": {"file": ("a.jpg", jpeg, "image/jpeg")}, "data": {"note": "x"}}),
        ("text type", {"content": b"hello", "headers": {"content-type": "text/plain"}}),
    ]
    for label, kwargs in cases:
        a, b = direct.post("/v1/detect", **kwargs), routed.post("/v1/detect", **kwargs)
        assert a.status_code == b.status_code, (label, a.text, b.text)
        assert a.headers["content-type"] == b.headers["content-type"], label
        ja, jb = a.json(), b.json()
        ja.pop("timing_ms", None)
        jb.pop("timing_ms", None)
        assert ja == jb, label
        if a.status_code == 200:
            _same(ja, detector.detect(SHAPES[0]))
    metrics = [c.get("/metrics").text for c in (direct, routed)]
    for status, count in [("200", 3), ("413", 3), ("415", 2), ("422", 3)]:
        line = f'detectkit_requests_total{{method="POST",route="/v1/detect",status="{status}"}} {count}'
        assert all(line in m for m in metrics), (line, metrics[0])
    # not loaded yet / overloaded: the same 503 answers with Retry-After
    state = direct.app.state.detectkit  # type: ignore[attr-defined]
    state.ready.clear()
    r = direct.post("/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"})
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    state.ready.set()
    with state.engine.admit():
        state.engine.max_queue = 1
        r = direct.post("/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"


def test_detect_options_equal_a_detector_built_with_them(client: TestClient) -> None:
    path = SHAPES[0]
    reference = Detector(conf=0.1, iou=0.5, imgsz=320, classes=["circle", "star"])
    answer = _post(client, "/v1/detect", path, conf=0.1, iou=0.5, imgsz=320, classes="circle,3").json()
    _same(answer, reference.detect(path))
    # the shared detector is unchanged by a request's options
    default = _post(client, "/v1/detect", path).json()
    _same(default, Detector().detect(path))


def test_json_base64_and_path_inputs(make_client: Callable[..., TestClient], detector: Detector) -> None:
    root = SHAPES[0].parent
    client = make_client(path_root=root)
    expected = detector.detect(SHAPES[1])
    b64 = base64.b64encode(SHAPES[1].read_bytes()).decode()
    _same(client.post("/v1/detect", json={"image_base64": b64}).json(), expected)
    _same(client.post("/v1/detect", json={"path": SHAPES[1].name}).json(), expected)
    escape = client.post("/v1/detect", json={"path": "../../README.md"})
    assert escape.status_code == 403
    assert ".." in escape.json()["detail"]
    assert client.post("/v1/detect", json={"path": "/etc/passwd"}).status_code == 403
    assert client.post("/v1/detect", json={"nothing": 1}).status_code == 422
    assert (
        client.post("/v1/detect", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    )


def test_paths_refused_without_a_root(client: TestClient) -> None:
    r = client.post("/v1/detect", json={"path": str(BUS)})
    assert r.status_code == 403
    assert "--path-root" in r.json()["detail"]


def test_batch_reports_bad_images_and_keeps_the_rest(client: TestClient, detector: Detector) -> None:
    files = [
        ("files", ("a.jpg", SHAPES[0].read_bytes(), "image/jpeg")),
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("bus.jpg", BUS.read_bytes(), "image/jpeg")),
        ("files", ("empty.png", b"", "image/png")),
    ]
    r = client.post("/v1/detect/batch", files=files)
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 4
    _same(results[0], detector.detect(SHAPES[0]))
    assert results[1]["error"]["status"] == 415
    _same(results[2], detector.detect(BUS))
    assert results[3]["error"]["status"] == 422
    too_many = [("files", (f"{i}.jpg", SHAPES[0].read_bytes(), "image/jpeg")) for i in range(17)]
    assert client.post("/v1/detect/batch", files=too_many).status_code == 413


def test_video_streams_one_line_per_frame(client: TestClient, detector: Detector, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    frames = [cv2.resize(load_image(p), (320, 320)) for p in SHAPES[:4]]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 320))
    for f in frames:
        writer.write(f)
    writer.release()
    with client.stream("POST", "/v1/detect/video", files={"file": ("clip.mp4", video.read_bytes(), "video/mp4")}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    expected = list(detector.detect_stream(video))
    assert len(lines) == len(expected) + 1
    for line, (info, dets) in zip(lines, expected):
        assert line["frame"] == info.frame_index
        _same(line["detections"], dets)
    assert lines[-1]["summary"]["frames"] == len(expected)
    not_video = client.post("/v1/detect/video", files={"file": ("clip.mp4", b"not a video at all", "video/mp4")})
    assert not_video.status_code == 415


def test_classify_and_localize_equal_the_library(client: TestClient, classifier: Any) -> None:
    answer = _post(client, "/v1/classify", BUS, top_k=3).json()
    expected = classifier.classify(BUS, top_k=3)
    assert answer["labels"] == expected.labels
    assert np.allclose(answer["confidence"], expected.confidence, atol=1e-6)
    loc = _post(client, "/v1/localize", BUS).json()
    ref = classifier.localize(BUS)
    assert np.allclose(loc["xyxy"], ref.xyxy)
    assert loc["labels"] == ref.labels
    assert "data" not in loc  # the heatmap stays on the server


def test_annotate_is_the_library_drawing(client: TestClient, detector: Detector) -> None:
    r = _post(client, "/v1/annotate", BUS, format="png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    got = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(got, annotate(load_image(BUS), detector.detect(BUS)))
    assert r.headers["x-detectkit-boxes"] == str(len(detector.detect(BUS)))
    jpeg = _post(client, "/v1/annotate", BUS)
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content[:2] == b"\xff\xd8"


# ---------------------------------------------------------------------------- bad input: 4xx, never 5xx
def _bad_inputs() -> Iterator[tuple[str, bytes, int]]:
    jpeg = BUS.read_bytes()
    yield "bomb.png", png_header_only(100_000, 100_000), 413
    yield "bomb.jpg", jpeg_with_size(jpeg, 65000, 65000), 413
    yield "truncated.jpg", jpeg[: len(jpeg) // 3], 422
    yield "notes.txt", b"this is not an image\n" * 20, 415
    yield "empty.jpg", b"", 422


@pytest.mark.parametrize(("name", "data", "status"), list(_bad_inputs()), ids=lambda v: v if isinstance(v, str) else "")
def test_bad_files_get_4xx_and_the_server_keeps_serving(
    client: TestClient, detector: Detector, name: str, data: bytes, status: int
) -> None:
    for route in ["/v1/detect", "/v1/classify", "/v1/annotate", "/v1/localize"]:
        r = _post(client, route, data, name)
        assert r.status_code == status, (route, r.text)
        assert r.json()["detail"]
    _same(_post(client, "/v1/detect", SHAPES[2]).json(), detector.detect(SHAPES[2]))


def test_byte_limits_before_reading_the_body(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_bytes=50_000)
    big = BUS.read_bytes()  # about 137 kB
    r = _post(client, "/v1/detect", big, "bus.jpg")
    assert r.status_code == 413

    # a body without Content-Length (chunked) is cut off while it streams in
    def chunks() -> Iterator[bytes]:
        boundary = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        yield boundary
        for _ in range(200):
            yield b"\x00" * 65536  # 13 MB if it were all read

    r = client.post("/v1/detect", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    # just over the per-file limit but under the body limit: the per-file check answers
    r = _post(client, "/v1/detect", big[:50_001], "cut.jpg")
    assert r.status_code == 413
    assert "--max-bytes" in r.json()["detail"]


def test_request_errors(client: TestClient) -> None:
    assert client.post("/v1/detect", content=b"raw", headers={"content-type": "image/jpeg"}).status_code == 415
    assert client.post("/v1/detect", files={"other": ("a.jpg", b"x", "image/jpeg")}).status_code == 422
    assert _post(client, "/v1/detect", SHAPES[0], conf=2).status_code == 422
    assert _post(client, "/v1/detect", SHAPES[0], classes="giraffe").status_code == 422
    assert _post(client, "/v1/detect", SHAPES[0], model="nope").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    bad_multipart = client.post("/v1/detect", content=b"garbage", headers={"content-type": "multipart/form-data"})
    assert bad_multipart.status_code in (400, 422)
    assert 'status="5' not in client.get("/metrics").text


# ---------------------------------------------------------------------------- access and load control
def test_api_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret")
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200
    assert _post(client, "/v1/detect", SHAPES[0]).status_code == 401
    assert client.get("/v1/models").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    r = client.post("/v1/detect", files={"file": ("a.jpg", SHAPES[0].read_bytes())}, headers={"X-API-Key": "s3cret"})
    assert r.status_code == 200


def test_cors_off_by_default_and_opt_in(make_client: Callable[..., TestClient]) -> None:
    origin = {"Origin": "http://example.test"}
    off = make_client()
    assert "access-control-allow-origin" not in off.get("/health", headers=origin).headers
    on = make_client(cors_origins=("http://example.test",))
    assert on.get("/health", headers=origin).headers["access-control-allow-origin"] == "http://example.test"
    preflight = on.options("/v1/detect", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200


def test_overload_answers_503_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_queue=1)
    engine = client.app.state.detectkit.engine  # type: ignore[attr-defined]
    with engine.admit():  # the one slot is taken
        r = _post(client, "/v1/detect", SHAPES[0])
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
    assert _post(client, "/v1/detect", SHAPES[0]).status_code == 200


def test_not_ready_answers_503(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    state = client.app.state.detectkit  # type: ignore[attr-defined]
    state.ready.clear()
    try:
        assert client.get("/ready").status_code == 503
        r = _post(client, "/v1/detect", SHAPES[0])
        assert r.status_code == 503
        assert "loading" in r.json()["detail"]
    finally:
        state.ready.set()


# ---------------------------------------------------------------------------- sliced inference
def test_slice_options_equal_the_library(client: TestClient, detector: Detector) -> None:
    from detectkit.slicing import SliceConfig

    path = SHAPES[3]
    cases = [
        ({"slice": "320"}, SliceConfig(slice_wh=320)),
        (
            {"slice": "256x320", "overlap": "32", "merge": "nms", "match": "iou", "match_threshold": 0.4},
            SliceConfig(slice_wh=(256, 320), overlap=32, merge="nms", match_metric="iou", match_threshold=0.4),
        ),
        (
            {"slice": "auto", "full_image": "false", "edge_aware": "false", "merge_agnostic": "true", "conf": 0.1},
            SliceConfig(full_image=False, edge_aware=False, class_agnostic=True),
        ),
    ]
    for params, config in cases:
        answer = _post(client, "/v1/detect", path, path.name, **params)
        assert answer.status_code == 200, answer.text
        lib = detector if "conf" not in params else Detector(conf=params["conf"])
        expected = lib.detect(path, slicing=config)
        assert len(expected) > 0
        _same(answer.json(), expected)
    # the batch and annotate routes take the same options
    batch = client.post(
        "/v1/detect/batch", params={"slice": "320"}, files=[("files", (p.name, p.read_bytes())) for p in SHAPES[3:5]]
    ).json()["results"]
    for p, answer in zip(SHAPES[3:5], batch, strict=True):
        _same(answer, detector.detect(p, slicing=SliceConfig(slice_wh=320)))
    drawn = _post(client, "/v1/annotate", path, path.name, slice="320")
    assert drawn.status_code == 200
    assert drawn.headers["X-Detectkit-Boxes"] == str(len(detector.detect(path, slicing=SliceConfig(slice_wh=320))))
    # documented in the schema
    params = {p["name"] for p in client.get("/openapi.json").json()["paths"]["/v1/detect"]["post"]["parameters"]}
    assert {"slice", "overlap", "merge", "match", "match_threshold", "merge_agnostic", "full_image"} <= params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"slice": "0"}, "slice must be a tile size"),
        ({"slice": "640x"}, "slice must be a tile size"),
        ({"slice": "big"}, "slice must be a tile size"),
        ({"slice": "320", "overlap": "1.5"}, "overlap"),
        ({"slice": "320", "overlap": "lots"}, "overlap must be a ratio"),
        ({"slice": "320", "merge": "union"}, "merge"),
        ({"slice": "320", "match": "giou"}, "match"),
        ({"slice": "320", "merge": "wbf", "match": "ios"}, "wbf"),
        ({"slice": "320", "match_threshold": 2}, "match_threshold"),
        ({"overlap": "0.3"}, "need slice="),
    ],
)
def test_bad_slice_options_get_422(client: TestClient, params: dict[str, Any], message: str) -> None:
    r = _post(client, "/v1/detect", SHAPES[0], **params)
    assert r.status_code == 422, r.text
    assert message in r.text, r.text


def test_batch_window_is_turned_off_for_onnx_detectors(capsys: pytest.CaptureFixture[str]) -> None:
    from detectkit.serve import ServeConfig, create_app

    # the onnx detector runs a batch one image at a time: a window would only add waiting
    onnx = Detector(backend="onnx")
    app = create_app(ServeConfig(batch_window_ms=10, classifier=""), detectors={"demo-shapes": onnx})
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.detectkit.ready.wait(60)
        assert app.state.detectkit.engine.window == 0.0
        _same(_post(c, "/v1/detect", SHAPES[0]).json(), onnx.detect(SHAPES[0]))
    assert "--batch-window-ms ignored" in capsys.readouterr().err


@pytest.mark.slow
def test_openvino_micro_batches_run_concurrently_and_equal_the_library() -> None:
    import threading

    from detectkit.serve import ServeConfig, create_app

    ov = Detector(backend="openvino")
    images = [np.ascontiguousarray(load_image(p)[:320, :320]) for p in SHAPES[:6]]
    for img in images[:2]:  # the shape recurs: OpenVINO's static-shape model answers from now on
        ov.detect(img)
    want = [ov.detect(img) for img in images]
    app = create_app(ServeConfig(batch_window_ms=500, classifier="", backend="openvino"), detectors={"demo-shapes": ov})
    with TestClient(app, raise_server_exceptions=False):
        state = app.state.detectkit
        assert state.ready.wait(60)
        assert state.engine.window > 0  # kept for openvino
        gate = threading.Event()
        state.engine.submit_call(gate.wait)  # the jobs queue up behind this
        slots = [state.engine.admit() for _ in images]
        for s in slots:
            s.__enter__()
        try:
            model = state.lane_model("demo-shapes", lambda m: m)
            futures = [state.engine.submit_detect(model, img, key=("demo-shapes", img.shape)) for img in images]
            gate.set()
            got = [f.result(60) for f in futures]
        finally:
            for s in slots:
                s.__exit__(None, None, None)
        assert state.engine.stats.batch_sizes == {len(images): 1}  # one concurrent micro-batch
        assert ov._onnx.session._queues  # ran on the throughput-mode model
        for g, w in zip(got, want, strict=True):
            assert g == w  # each image's own inference: the very answer of Detector.detect
        assert _post(TestClient(app), "/v1/detect", SHAPES[0]).status_code == 200


def test_torch_threads_option_runs_lanes_on_that_many_threads(
    make_client: Callable[..., TestClient], detector: Detector
) -> None:
    """``torch_threads=2``: the lanes run torch on 2 threads; answers equal ``Detector.detect`` run
    with the same thread count, bit for bit."""
    import torch

    from detectkit.serve import ServeConfig

    before = torch.get_num_threads()
    client = make_client(torch_threads=2, batch_window_ms=5)
    state = client.app.state.detectkit  # type: ignore[attr-defined]
    assert state.lane_torch_threads == 2
    answers = [_post(client, "/v1/detect", path, path.name).json() for path in SHAPES[:3]]
    lane_threads = state.engine.submit_call(torch.get_num_threads).result(10)
    assert lane_threads == 2
    torch.set_num_threads(2)
    try:
        for answer, path in zip(answers, SHAPES[:3], strict=True):
            _same(answer, detector.detect(path))
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InvalidInputError, match="torch_threads"):
        ServeConfig(torch_threads=-1)


def test_default_lane_runs_torch_at_the_process_count(classifier: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch_threads=0`` (default), one lane: a fresh torch model's first request runs and leaves
    the lane on the process's thread count, not on Ultralytics' ``cpu_count - 1`` (patched to 1 as
    on a 1- or 2-core machine); the answer equals ``Detector.detect`` at that count."""
    import torch
    from ultralytics.utils import torch_utils

    from detectkit.serve import ServeConfig, create_app

    monkeypatch.setattr(torch_utils, "NUM_THREADS", 1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fresh = Detector()
        app = create_app(ServeConfig(batch_window_ms=5), detectors={"demo-shapes": fresh}, classifier=classifier)
        with TestClient(app, raise_server_exceptions=False) as client:
            state = app.state.detectkit
            assert state.ready.wait(60)
            assert state.lane_torch_threads == 0  # nothing to set: the lanes keep the process's count
            answer = _post(client, "/v1/detect", SHAPES[1]).json()
            assert state.engine.submit_call(torch.get_num_threads).result(10) == 2
        _same(answer, Detector().detect(SHAPES[1]))
    finally:
        torch.set_num_threads(before)


def test_two_lanes_give_each_copy_its_share_of_the_cores(classifier: Any) -> None:
    """``lanes=2``, ``torch_threads=0``: every lane runs torch on ``cpu_count // 2`` threads (the
    count is per thread: each lane sets it before a call), restored when the server stops."""
    import os
    import threading

    import torch

    from detectkit.serve import ServeConfig, create_app

    before = torch.get_num_threads()
    share = max(1, (os.cpu_count() or 1) // 2)
    app = create_app(ServeConfig(lanes=2), detectors={"demo-shapes": Detector()}, classifier=classifier)
    with TestClient(app, raise_server_exceptions=False) as client:
        state = app.state.detectkit
        assert state.ready.wait(120)
        assert state.lane_torch_threads == share
        for path in SHAPES[:4]:
            assert _post(client, "/v1/detect", path).status_code == 200
        gate = threading.Barrier(2)

        def lane_count() -> int:
            gate.wait(10)  # both lanes at once: one call per lane
            state.lane_model("demo-shapes", lambda m: m)(0)  # what a detection job runs first
            return int(torch.get_num_threads())

        counts = [state.engine.submit_call(lane_count) for _ in range(2)]
        assert [c.result(20) for c in counts] == [share, share]
    assert torch.get_num_threads() == before
