"""Tracker: stable ids through a crossing in the generated video, reset(), two concurrent streams."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from _video_gen import load_generator

from detectkit import Detections
from detectkit.errors import InvalidInputError
from detectkit.image import FrameInfo
from detectkit.metrics.mot import MotSequence, evaluate_mot, sequence_from_tracks
from detectkit.video import Tracker
from detectkit.video.tracker import DEFAULT_TRACKER, track_stream

genvideo = load_generator()


@functools.lru_cache(maxsize=8)
def _crossing_truth(seed: int = 0, frames: int = 60) -> tuple[list[Detections], MotSequence]:
    """GT boxes of one crossing pair (no other objects), as detections: heavily occluded boxes
    are missed (as a detector would), the others jittered by a pixel."""
    spec = genvideo.make_spec(seed, size_wh=(320, 192), frames=frames, objects=0, crossing_pairs=1)
    rng = np.random.default_rng(seed)
    dets, rows = [], []
    for t in range(frames):
        _, truth = genvideo.render_frame(spec, t)
        boxes = [b for _, _, b, vis in truth if vis >= 0.3]
        classes = [c for _, c, _, vis in truth if vis >= 0.3]
        xyxy = np.array(boxes, dtype=np.float64).reshape(-1, 4) + rng.normal(0, 1.0, (len(boxes), 4))
        dets.append(Detections(xyxy=xyxy, confidence=np.full(len(boxes), 0.9), class_id=classes))
        rows += [[t + 1, tid, b[0], b[1], b[2] - b[0], b[3] - b[1]] for tid, _, b, _ in truth]
    return dets, MotSequence.from_rows(np.array(rows).reshape(-1, 6))


def test_generated_crossing_really_occludes() -> None:
    dets, gt = _crossing_truth()
    assert gt.track_id.max() == 2
    assert min(len(d) for d in dets) < 2  # one object hides the other while they cross (a missed box)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["botsort", "ocsort"])
def test_ids_stable_through_a_crossing(kind: str, seed: int) -> None:
    """The default tracker (and OC-SORT) keep both ids through the occluding crossing. (On seed 0
    SORT and ByteTrack swap the two ids there, which is why they are not the default.)"""
    dets, gt = _crossing_truth(seed)
    tracker = Tracker(kind)
    pred = sequence_from_tracks((t + 1, tracker.update(d)) for t, d in enumerate(dets))
    m = evaluate_mot(gt, pred)
    assert m.id_switches == 0, (kind, seed)
    assert m.pred_ids == 2, kind  # one id per object for the whole clip
    assert m.idf1 > 0.85


def test_default_is_botsort() -> None:
    assert DEFAULT_TRACKER == "botsort"
    assert Tracker().kind == "botsort"


def test_update_keeps_fields_and_input_unchanged() -> None:
    tracker = Tracker("bytetrack", minimum_consecutive_frames=1)
    dets = Detections(
        xyxy=[[0, 0, 10, 10], [50, 50, 70, 70]],
        confidence=[0.9, 0.95],
        class_id=[1, 2],
        names={1: "a", 2: "b"},
        data={"extra": np.array([5, 6])},
        image_size_wh=(100, 100),
    )
    tracker.update(dets)
    out = tracker.update(dets)
    assert dets.tracker_id is None
    assert out.tracker_id.tolist() == [1, 2]
    assert out.class_id.tolist() == [1, 2]
    assert out.data["extra"].tolist() == [5, 6]
    assert out.names == {1: "a", 2: "b"}
    assert out.image_size_wh == (100, 100)
    # untracked boxes are returned only on request
    keep = Tracker("bytetrack", keep_untracked=True)  # default minimum_consecutive_frames=2
    assert keep.update(dets).tracker_id.tolist() == [-1, -1]
    assert len(Tracker("bytetrack").update(dets)) == 0


def test_reset_restarts_ids() -> None:
    tracker = Tracker("sort", minimum_consecutive_frames=1)
    first = [tracker.update(Detections(xyxy=[[x, 0, x + 10, 10]], confidence=[0.9])) for x in range(3)]
    # a second object far away gets id 2 (SORT confirms a track on its second frame)
    late = [tracker.update(Detections(xyxy=[[200, 200, 220, 220]], confidence=[0.9])) for _ in range(3)]
    assert late[-1].tracker_id.tolist() == [2]
    tracker.reset()
    assert tracker.frames == 0
    again = [tracker.update(Detections(xyxy=[[200, 200, 220, 220]], confidence=[0.9])) for _ in range(3)]
    assert [d.tracker_id.tolist() for d in first] == [[], [1], [1]]
    assert [d.tracker_id.tolist() for d in again] == [[], [1], [1]]  # ids restart at 1 after reset


def _stream(name: str, offset: float, n: int = 20) -> list[tuple[FrameInfo, Detections]]:
    out = []
    for t in range(n):
        boxes = [[offset + 3 * t, 10, offset + 3 * t + 20, 30], [offset + 100 - 2 * t, 60, offset + 120 - 2 * t, 80]]
        out.append((FrameInfo(source=name, index=t), Detections(xyxy=boxes, confidence=[0.9, 0.8])))
    return out


def test_two_concurrent_streams_do_not_share_ids() -> None:
    a, b = _stream("a", 0), _stream("b", 300)
    alone_a = [d.tracker_id.tolist() for _, d in track_stream(a, "bytetrack")]
    alone_b = [d.tracker_id.tolist() for _, d in track_stream(b, "bytetrack")]
    ga, gb = track_stream(a, "bytetrack"), track_stream(b, "bytetrack")
    inter_a, inter_b = [], []
    for _ in range(len(a)):  # interleaved, as two cameras served by one process
        inter_a.append(next(ga)[1].tracker_id.tolist())
        inter_b.append(next(gb)[1].tracker_id.tolist())
    assert inter_a == alone_a
    assert inter_b == alone_b
    assert alone_a[-1] == alone_b[-1] == [1, 2]  # each stream numbers its own objects from 1


def test_sources_in_one_stream_restart_ids() -> None:
    items = _stream("first.mp4", 0) + _stream("second.mp4", 500)
    ids = [d.tracker_id.tolist() for _, d in track_stream(items, "bytetrack")]
    assert ids[19] == [1, 2]
    assert ids[-1] == [1, 2]  # not 3, 4: the tracker was reset for the second video


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="tracker must be one of"):
        Tracker("deepsort")
    with pytest.raises(InvalidInputError, match="frame_rate"):
        Tracker("sort", frame_rate=0)
    with pytest.raises(InvalidInputError, match="tracker 'sort'"):
        Tracker("sort", no_such_option=1)
    with pytest.raises(InvalidInputError, match="Detections"):
        Tracker("sort").update([[0, 0, 1, 1]])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="only when tracker is a name"):
        list(track_stream([], Tracker("sort"), lost_track_buffer=3))


@pytest.mark.slow
def test_detector_track_streams_are_independent() -> None:
    """Detector.track on generated frames (the demo detector): ids are filled, and two track()
    calls consumed in lockstep give exactly what each gives alone."""
    from detectkit import Detector

    spec = genvideo.make_spec(1, size_wh=(416, 256), frames=16, objects=2, crossing_pairs=1)
    frames = [img for img, _ in genvideo.render_frames(spec)]
    detector = Detector()
    alone = [d.tracker_id.tolist() for _, d in detector.track(frames)]
    assert max(max(ids, default=0) for ids in alone) >= 2
    first, second = detector.track(frames), detector.detect_stream(frames, tracker="botsort")
    together = [(next(first)[1].tracker_id.tolist(), next(second)[1].tracker_id.tolist()) for _ in frames]
    assert [a for a, _ in together] == alone
    assert [b for _, b in together] == alone
