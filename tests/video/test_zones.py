"""Zones and line counters on constructed trajectories: crossings, jitter on the line, lines at the frame edge."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit import Detections
from detectkit.errors import InvalidInputError
from detectkit.video.zones import LineCounter, PolygonZone, anchor_points, parse_points

NAMES = {0: "car", 1: "person"}


def _box(x: float, y: float, *, w: float = 20, h: float = 20) -> list[float]:
    """A box whose bottom centre (the default anchor) is at (x, y)."""
    return [x - w / 2, y - h, x + w / 2, y]


def _frame(
    points: dict[int, tuple[float, float]], classes: dict[int, int] | None = None, size=(640, 480)
) -> Detections:
    ids = sorted(points)
    return Detections(
        xyxy=np.array([_box(*points[i]) for i in ids]).reshape(-1, 4),
        tracker_id=ids,
        class_id=[(classes or {}).get(i, 0) for i in ids],
        names=NAMES,
        image_size_wh=size,
    )


def _run(line: LineCounter, path: list[float], *, x: float = 100.0, tid: int = 1, cls: int = 0) -> None:
    for y in path:
        line.update(_frame({tid: (x, y)}, {tid: cls}))


def test_crossings_both_ways_per_class() -> None:
    line = LineCounter((0, 100), (200, 100))
    _run(line, [50, 70, 90, 110, 130, 150], tid=1, cls=0)  # down: in
    _run(line, [150, 130, 110, 90, 70], tid=2, cls=1)  # up: out
    assert (line.in_count, line.out_count) == (1, 1)
    assert line.counts() == {"in": {"car": 1}, "out": {"person": 1}}


@pytest.mark.parametrize(
    ("path", "expected_in", "expected_out"),
    [
        # jitter around the line, never leaving the dead band far: nothing
        ([95, 99, 101, 99, 101, 99, 101, 99], 0, 0),
        # crosses once, then jitters across the line by 3-4 px every frame: counted once
        ([60, 80, 104, 96, 104, 96, 104, 97, 104, 120, 140], 1, 0),
        # single-frame excursions across the line are not crossings (min_frames=2)
        ([80, 80, 120, 80, 120, 80, 80], 0, 0),
        # a real crossing and a real return: one in, one out
        ([60, 80, 120, 140, 140, 120, 80, 60], 1, 1),
    ],
)
def test_jitter_on_the_line_is_debounced(path: list[float], expected_in: int, expected_out: int) -> None:
    line = LineCounter((0, 100), (200, 100), tolerance=5.0, min_frames=2)
    _run(line, path)
    assert (line.in_count, line.out_count) == (expected_in, expected_out)


def test_jitter_without_debounce_would_count_many_times() -> None:
    """The same jitter with the debounce off counts every flip: the protection above is real."""
    line = LineCounter((0, 100), (200, 100), tolerance=0.0, min_frames=1)
    _run(line, [60, 80, 104, 96, 104, 96, 104, 97, 104, 120, 140])
    assert line.in_count + line.out_count > 3


def test_passing_beyond_the_segment_end_does_not_count() -> None:
    line = LineCounter((0, 100), (200, 100), min_frames=1)
    _run(line, [50, 80, 120, 150], x=300)  # crosses y=100 at x=300, beyond the segment
    assert (line.in_count, line.out_count) == (0, 0)
    _run(line, [50, 80, 120, 150], x=150, tid=2)
    assert line.in_count == 1


def test_line_near_the_top_edge_counts_entering_objects() -> None:
    """supervision 1838: a line 10 px below the top edge. Objects enter from the top already
    straddling the line (the detector clips their boxes to the frame) and move down."""
    line = LineCounter((0, 10), (640, 10))
    for tid, x in ((1, 100), (2, 300)):
        for top in range(-60, 150, 15):  # the true box is 80 px tall; clipped at y=0
            y1, y2 = max(top, 0), top + 80
            if y2 <= 0:
                continue
            dets = Detections(xyxy=[[x - 20, y1, x + 20, y2]], tracker_id=[tid], names=NAMES, image_size_wh=(640, 480))
            line.update(dets)
    assert (line.in_count, line.out_count) == (2, 0)


def test_line_near_the_bottom_edge_counts_leaving_objects() -> None:
    """A line 5 px above the bottom edge: the object leaves the frame through it (its anchor is
    last seen on the near side, its box touching the bottom edge), then is lost."""
    line = LineCounter((0, 475), (640, 475), max_missing=5, anchor="center")
    for y in range(300, 480, 20):  # centre anchor never passes y=475 while visible
        y1, y2 = y - 40, min(y + 40, 480)
        line.update(Detections(xyxy=[[100, y1, 140, y2]], tracker_id=[1], names=NAMES, image_size_wh=(640, 480)))
    for _ in range(6):  # gone
        line.update(Detections(xyxy=np.zeros((0, 4)), tracker_id=np.zeros(0, int), image_size_wh=(640, 480)))
    assert (line.in_count, line.out_count) == (1, 0)


def test_edge_logic_needs_the_edge_beyond_the_line() -> None:
    """An object appearing at the top edge below a line far from that edge is not a crossing."""
    line = LineCounter((0, 200), (640, 200))
    for y2 in (40, 60, 80, 100):
        line.update(Detections(xyxy=[[100, 0, 140, y2]], tracker_id=[1], image_size_wh=(640, 480)))
    assert (line.in_count, line.out_count) == (0, 0)


def test_zone_enter_leave_dwell_and_classes() -> None:
    zone = PolygonZone([(100, 100), (300, 100), (300, 300), (100, 300)], min_frames=2, fps=10)
    track = [(50, 200), (150, 200), (160, 200), (170, 200), (180, 200), (350, 200), (360, 200), (370, 200)]
    entered_at, left_at = [], []
    for t, p in enumerate(track):
        mask = zone.update(_frame({4: p, 5: (200, 200)}, {4: 1, 5: 0}))
        assert mask.tolist() == [100 <= p[0] <= 300, True]
        entered_at += [t for e in zone.entered if e.tracker_id == 4]
        left_at += [t for e in zone.left if e.tracker_id == 4]
    assert entered_at == [2]  # confirmed on the 2nd frame inside
    assert left_at == [6]
    left = next(e for e in zone.events if e.kind == "left")
    assert left.dwell == pytest.approx(0.4)  # entered at t=0.2 s, left at 0.6 s
    assert zone.inside_ids == [5]
    assert zone.entered_per_class == {"person": 1, "car": 1}
    assert zone.dwell[5] == pytest.approx(0.6)
    d = zone.to_dict()
    assert d["count"] == 1
    assert d["inside"] == [5]


def test_zone_forgets_lost_ids_as_left() -> None:
    zone = PolygonZone([(0, 0), (100, 0), (100, 100), (0, 100)], min_frames=1, max_missing=3)
    zone.update(_frame({1: (50, 50)}))
    for _ in range(3):
        zone.update(_frame({}))
    assert [e.kind for e in zone.events] == ["entered", "left"]
    assert zone.inside_ids == []


def test_zone_uses_given_timestamps() -> None:
    zone = PolygonZone([(0, 0), (100, 0), (100, 100), (0, 100)], min_frames=1)
    zone.update(_frame({1: (50, 50)}), time=10.0)
    zone.update(_frame({1: (50, 50)}), time=12.5)
    assert zone.dwell == {1: 2.5}


def test_untracked_input_and_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="tracker_id"):
        LineCounter((0, 0), (1, 1)).update(Detections(xyxy=[[0, 0, 1, 1]]))
    with pytest.raises(InvalidInputError, match="must differ"):
        LineCounter((5, 5), (5, 5))
    with pytest.raises(InvalidInputError, match="polygon"):
        PolygonZone([(0, 0), (1, 1)])
    with pytest.raises(InvalidInputError, match="intersect"):
        PolygonZone([(0, 0), (10, 10), (10, 0), (0, 10)])  # a bow tie
    with pytest.raises(InvalidInputError, match="anchor"):
        anchor_points(np.zeros((1, 4)), "middle")
    with pytest.raises(InvalidInputError, match="--line needs at least 2"):
        parse_points("1,2,3", name="--line", minimum=2)
    with pytest.raises(InvalidInputError, match="comma-separated"):
        parse_points("a,b,c,d", name="--zone", minimum=3)


def test_reset() -> None:
    line = LineCounter((0, 100), (200, 100), min_frames=1)
    _run(line, [50, 150])
    assert line.in_count == 1
    line.reset()
    assert (line.in_count, line.out_count, line.frame) == (0, 0, 0)
