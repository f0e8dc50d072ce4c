"""detectkit.video.timing.StageTimer: stage means and frame rates on a fake clock."""

from __future__ import annotations

import pytest

from detectkit.video import timing


def test_steady_fps_leaves_out_the_first_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 1.1, 1.2, 1.3, 1.3])  # start, then a slow first frame and 3 fast ones
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = timing.StageTimer()
    for _ in range(4):
        timer.tick()
    assert timer.steady_fps() == pytest.approx(3 / 0.3)  # frames 2-4 took 0.3 s
    assert timer.fps() == pytest.approx(4 / 1.3)  # everything from the start


def test_steady_fps_falls_back_with_one_frame_and_stage_order(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.5, 1.0, 1.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = timing.StageTimer()
    timer.add("encode", 0.004)
    timer.add("detect", 0.010)
    timer.add("detect", 0.020)
    timer.tick()
    assert timer.steady_fps() == pytest.approx(1.0)  # 1 frame in 1 s
    assert list(timer.mean_ms()) == ["detect", "encode"]  # pipeline order
    assert timer.mean_ms()["detect"] == pytest.approx(15.0)
