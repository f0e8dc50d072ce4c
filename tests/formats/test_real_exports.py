"""VOC / CVAT / LabelMe readers on fixtures modelled on real exports (tests/data/formats/real/)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from detectkit.formats import cvat

REAL = Path(__file__).resolve().parents[1] / "data" / "formats" / "real"


def _read_quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------ CVAT for video
def test_cvat_video_tracks_become_per_frame_boxes_with_track_ids() -> None:
    ds = _read_quiet(cvat.read, REAL / "cvat_video.xml")
    # start 10, stop 19, step 3: frames 10, 13, 16, 19 (ids are frame numbers)
    assert [r.id for r in ds.images] == [10, 13, 16, 19]
    assert all((r.width, r.height) == (25, 20) for r in ds.images)
    assert ds.names == {0: "klhg", 1: "II"}
    d10 = ds.detections(10)
    order = np.argsort(d10.tracker_id)
    assert d10.tracker_id[order].tolist() == [0, 1]
    np.testing.assert_allclose(d10.xyxy[order], [[3, 4, 10, 5], [1, 1, 5, 5]])
    assert [d10.data["occluded"][i] for i in order] == [1, 0]
    assert d10.data["attributes"][order[1]] == {"hgl": "hgkf"}
    # frame 13: track 0 is outside; track 1 is interpolated between its keyframes 10 and 16
    d13 = ds.detections(13)
    assert d13.tracker_id.tolist() == [1]
    np.testing.assert_allclose(d13.xyxy, [[4, 1, 8, 5]])
    d16 = ds.detections(16)
    assert d16.tracker_id.tolist() == [1]
    np.testing.assert_allclose(d16.xyxy, [[7, 1, 11, 5]])
    assert len(ds.detections(19)) == 0
    # the polyline track cannot be held: reported, not silently dropped
    assert any("polyline" in i.message for i in ds.issues)


def test_cvat_video_round_trip_keeps_tracks(tmp_path: Path) -> None:
    ds = _read_quiet(cvat.read, REAL / "cvat_video.xml")
    cvat.write(ds, tmp_path / "v.xml")
    text = (tmp_path / "v.xml").read_text()
    assert "<track " in text
    assert "<image " not in text
    back = cvat.read(tmp_path / "v.xml")
    assert [r.id for r in back.images] == [10, 13, 16, 19]
    for fid in (10, 13, 16, 19):
        a, b = ds.detections(fid), back.detections(fid)
        oa, ob = np.argsort(a.tracker_id), np.argsort(b.tracker_id)
        assert a.tracker_id[oa].tolist() == b.tracker_id[ob].tolist()
        np.testing.assert_allclose(a.xyxy[oa], b.xyxy[ob])
        assert [a.labels[i] for i in oa] == [b.labels[i] for i in ob]
