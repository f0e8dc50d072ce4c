"""The inference engine: one thread, admission control, micro-batching by key."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from detectkit.serve.engine import InferenceEngine, OverloadedError


class FakeModel:
    """Records each batch; answers each image with its own first pixel (so mixing would show)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay

    def detect_batch(self, images: list[np.ndarray]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(images))
        time.sleep(self.delay)
        return [int(im[0, 0, 0]) for im in images]


def _image(value: int, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def test_without_a_window_every_image_runs_alone_on_one_thread() -> None:
    engine = InferenceEngine(max_queue=16)
    model = FakeModel()
    futures = [engine.submit_detect(model, _image(i), key=("m",)) for i in range(6)]
    assert [f.result(5) for f in futures] == list(range(6))
    assert model.batches == [1] * 6
    assert model.threads == {"detectkit-inference"}
    engine.close()


def test_micro_batching_groups_same_key_and_keeps_answers_apart() -> None:
    engine = InferenceEngine(max_queue=32, batch_window_ms=200, max_batch=8)
    model = FakeModel()
    gate = threading.Event()
    engine.submit_call(gate.wait)  # hold the thread while the jobs queue up
    slots = [engine.admit() for _ in range(10)]
    for s in slots:
        s.__enter__()
    try:
        same = [engine.submit_detect(model, _image(i), key=("m", (4, 4, 3))) for i in range(8)]
        other = [engine.submit_detect(model, _image(100 + i, (5, 5)), key=("m", (5, 5, 3))) for i in range(2)]
        gate.set()
        assert [f.result(5) for f in same] == list(range(8))
        assert [f.result(5) for f in other] == [100, 101]
    finally:
        for s in slots:
            s.__exit__(None, None, None)
    assert model.batches == [8, 2]
    assert engine.stats.batch_sizes == {8: 1, 2: 1}
    engine.close()


def test_no_wait_when_nobody_else_is_coming() -> None:
    engine = InferenceEngine(max_queue=4, batch_window_ms=500)
    model = FakeModel()
    with engine.admit():
        start = time.perf_counter()
        assert engine.submit_detect(model, _image(7), key=("m",)).result(5) == 7
        assert time.perf_counter() - start < 0.4  # the lone request did not sit out the window
    engine.close()


def test_errors_reach_every_caller_of_the_batch() -> None:
    class Broken:
        def detect_batch(self, images: list[np.ndarray]) -> list[Any]:
            raise RuntimeError("boom")

    engine = InferenceEngine()
    future: Future[Any] = engine.submit_detect(Broken(), _image(1), key=("b",))
    with pytest.raises(RuntimeError, match="boom"):
        future.result(5)
    assert engine.submit_call(lambda: 3).result(5) == 3  # the thread survives
    engine.close()


def test_admission_is_bounded() -> None:
    engine = InferenceEngine(max_queue=2)
    with engine.admit(), engine.admit():
        assert engine.admitted == 2
        with pytest.raises(OverloadedError, match="busy"), engine.admit():
            pass
    assert engine.admitted == 0
    engine.close()


def test_lanes_run_their_own_model_copies_in_parallel() -> None:
    engine = InferenceEngine(max_queue=32, lanes=2)
    copies = [FakeModel(delay=0.05), FakeModel(delay=0.05)]
    start = time.perf_counter()
    futures = [engine.submit_detect(lambda lane: copies[lane], _image(i), key=("m",)) for i in range(8)]
    assert [f.result(5) for f in futures] == list(range(8))
    elapsed = time.perf_counter() - start
    assert [m.threads for m in copies] == [{"detectkit-inference-0"}, {"detectkit-inference-1"}]
    assert sum(len(m.batches) for m in copies) == 8
    assert all(m.batches for m in copies)  # both lanes worked
    assert elapsed < 8 * 0.05  # overlapped, not one after another
    engine.close()
    assert not any(t.is_alive() for t in engine._threads)


def test_a_job_can_be_decoded_on_its_lane_and_is_batched_by_its_decoded_shape() -> None:
    engine = InferenceEngine(max_queue=32, batch_window_ms=200, max_batch=8)
    model = FakeModel()
    gate = threading.Event()
    engine.submit_call(gate.wait)
    slots = [engine.admit() for _ in range(5)]
    for s in slots:
        s.__enter__()
    decoders: set[str] = set()

    def decoder(value: int, shape: tuple[int, int]) -> Any:
        def decode() -> np.ndarray:
            decoders.add(threading.current_thread().name)
            return _image(value, shape)

        return decode

    def broken() -> np.ndarray:
        raise ValueError("corrupt pixels")

    try:
        seconds: dict[str, float] = {}
        # one key (as read from a header), but the last image decodes to another shape (EXIF)
        futures = [
            engine.submit_detect(model, decode=decoder(i, (4, 4)), key=("m", (4, 4)), seconds=seconds) for i in range(3)
        ]
        futures.append(engine.submit_detect(model, decode=decoder(9, (6, 4)), key=("m", (4, 4))))
        bad = engine.submit_detect(model, decode=broken, key=("m", (4, 4)))
        gate.set()
        assert [f.result(5) for f in futures] == [0, 1, 2, 9]
        with pytest.raises(ValueError, match="corrupt pixels"):
            bad.result(5)
    finally:
        for s in slots:
            s.__exit__(None, None, None)
    assert sorted(model.batches) == [1, 3]  # never two shapes in one forward pass
    assert decoders == {"detectkit-inference"}  # decoded on the lane: one thread hop
    assert set(seconds) == {"decode", "forward"}
    assert engine.submit_call(lambda: 3).result(5) == 3  # a failed decode leaves the lane running
    engine.close()
