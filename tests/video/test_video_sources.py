"""Live sources keep only the newest frame (dropped frames counted), reconnect or raise; prefetch; encoder thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.errors import InvalidInputError
from detectkit.video.sources import (
    BackgroundWriter,
    LatestFrameReader,
    StreamError,
    is_live_source,
    open_stream,
    prefetch,
)


class FakeCapture:
    """A camera producing numbered frames at ``fps`` (the frame number is in pixel [0, 0])
    for ``frames`` frames, then failing (a dead stream)."""

    def __init__(self, frames: int = 10**9, fps: float = 500.0, opened: bool = True) -> None:
        self.frames, self.period, self.opened = frames, 1.0 / fps, opened
        self.produced = 0
        self.released = False
        self.next_time = time.monotonic()

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.produced >= self.frames:
            return False, None
        delay = self.next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_time = max(self.next_time + self.period, time.monotonic())
        img = np.zeros((8, 8, 3), np.uint8)
        img[0, 0, 0] = self.produced % 256
        img[0, 0, 1] = self.produced // 256
        self.produced += 1
        return True, img

    def release(self) -> None:
        self.released = True


def _number(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])


def test_slow_consumer_gets_the_newest_frames_and_drops_are_counted() -> None:
    cap = FakeCapture(frames=400, fps=400.0)  # a 1 s stream
    reader = LatestFrameReader("rtsp://camera/1", opener=lambda _: cap, on_end="stop")
    seen = []
    lags = []
    for frame in reader:
        time.sleep(0.03)  # a slow model: ~33 FPS against a 400 FPS camera
        seen.append(frame.info.frame_index)
        lags.append(cap.produced - 1 - frame.info.frame_index)
        assert _number(frame.image) == frame.info.frame_index
    reader.close()
    stats = reader.stats()
    assert stats["read"] == 400
    assert stats["dropped"] > 250  # most frames were skipped ...
    assert stats["delivered"] + stats["dropped"] == stats["read"]  # ... and every one is accounted for
    assert seen == sorted(seen)
    assert len(seen) == stats["delivered"]
    # never far behind: the frame handed out was at most ~one consumer period old
    assert np.median(lags) < 40
    assert cap.released


def test_buffer_keeps_the_newest_n() -> None:
    cap = FakeCapture(frames=50, fps=5000.0)
    reader = LatestFrameReader(0, opener=lambda _: cap, buffer=3, on_end="stop")
    deadline = time.monotonic() + 10
    while reader.read < 50 and time.monotonic() < deadline:  # the stream is over before we read ...
        time.sleep(0.01)
    got = [f.info.frame_index for f in reader]
    assert got == [47, 48, 49]  # ... so only the newest 3 are left
    assert reader.dropped == 47


def test_dead_stream_raises_with_the_option_to_reconnect() -> None:
    reader = LatestFrameReader("rtsp://cam", opener=lambda _: FakeCapture(frames=5), reconnect=0)
    frames = iter(reader)
    next(frames)
    with pytest.raises(StreamError, match=r"rtsp://cam: the stream ended .*reconnect"):
        list(frames)


def test_reconnects_then_continues() -> None:
    opened: list[FakeCapture] = []

    def opener(_: object) -> FakeCapture:
        cap = FakeCapture(frames=3, fps=2000.0, opened=len(opened) in (0, 2))  # 2nd fails, 3rd works, then none
        opened.append(cap)
        return cap

    reader = LatestFrameReader(
        "rtsp://cam", opener=opener, reconnect=3, reconnect_delay=0.01, buffer=100, on_end="stop"
    )
    frames = list(reader)
    assert len(frames) == 6  # 3 frames, a failed reopen, 3 more frames, then 3 failed attempts: give up
    assert len(opened) == 6
    assert reader.reconnects == 1
    assert [f.info.frame_index for f in frames] == list(range(6))


def test_cannot_open_and_bad_options() -> None:
    with pytest.raises(StreamError, match="could not be opened"):
        LatestFrameReader("rtsp://user:secret@cam/x", opener=lambda _: FakeCapture(opened=False))
    with pytest.raises(InvalidInputError, match="buffer"):
        LatestFrameReader(0, buffer=0, opener=lambda _: FakeCapture())
    with pytest.raises(InvalidInputError, match="reconnect"):
        LatestFrameReader(0, reconnect=-2, opener=lambda _: FakeCapture())


def test_credentials_are_hidden_in_labels() -> None:
    reader = LatestFrameReader("rtsp://user:secret@cam/x", opener=lambda _: FakeCapture(frames=1), on_end="stop")
    frames = list(reader)
    assert frames[0].info.source == "rtsp://***@cam/x"


def test_close_stops_an_endless_stream() -> None:
    reader = LatestFrameReader(0, opener=lambda _: FakeCapture(fps=1000.0))
    it = iter(reader)
    next(it)
    reader.close()
    assert not reader._thread.is_alive()


def test_is_live_source() -> None:
    assert [is_live_source(s) for s in (0, 3, "http://x/y.mjpg", "RTSP://a", "a.mp4", True, Path("0"))] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip


def test_files_are_read_without_drops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (32, 24))
    for _ in range(12):
        writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()
    frames = []
    for frame in open_stream(str(path)):
        time.sleep(0.01)  # a slow consumer loses nothing from a file
        frames.append(frame.info.frame_index)
    assert frames == list(range(12))


def test_prefetch_order_errors_and_early_stop() -> None:
    assert list(prefetch(iter(range(100)), size=3)) == list(range(100))

    def broken():
        yield 1
        raise InvalidInputError("bad frame")

    with pytest.raises(InvalidInputError, match="bad frame"):
        list(prefetch(broken()))
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for x in prefetch(endless(), size=2):
        if x == 5:
            break
    time.sleep(0.3)
    n = len(produced)
    time.sleep(0.2)
    assert len(produced) == n  # the producer thread stopped
    assert not [t for t in threading.enumerate() if t.name == "detectkit-prefetch"]


def test_background_writer_writes_everything_in_order() -> None:
    class Sink:
        def __init__(self) -> None:
            self.frames: list[int] = []
            self.closed = False

        def write(self, frame: np.ndarray) -> None:
            time.sleep(0.002)
            self.frames.append(int(frame[0, 0, 0]))

        def close(self) -> str:
            self.closed = True
            return "done"

    sink = Sink()
    writer = BackgroundWriter(sink, size=2)
    for i in range(20):
        writer.write(np.full((2, 2, 3), i, np.uint8))
    assert writer.close() == "done"
    assert sink.frames == list(range(20))
    assert sink.closed
