"""MOT metrics (detectkit.metrics.mot) against TrackEval's HOTA / CLEAR / Identity on random sequences."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from detectkit.errors import AnnotationParseError, InvalidInputError
from detectkit.metrics.mot import MotSequence, box_iou_matrix, evaluate_mot, load_mot, save_mot

trackeval = pytest.importorskip("trackeval", reason="TrackEval is the reference (pip install 'detectkit[dev]')")


def _random_pair(seed: int) -> tuple[MotSequence, MotSequence]:
    """A ground truth of drifting boxes and a noisy tracker output with misses, FPs and id swaps."""
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(1, 40))
    n_objects = int(rng.integers(0, 9))
    gt_rows, pred_rows = [], []
    start = rng.uniform(0, 300, size=(n_objects, 2))
    vel = rng.uniform(-4, 4, size=(n_objects, 2))
    size = rng.uniform(10, 60, size=(n_objects, 2))
    alive = [(int(a), int(a + rng.integers(1, n_frames + 1))) for a in rng.integers(0, n_frames, size=n_objects)]
    pred_id = np.arange(n_objects) + 100
    next_id = 500
    for t in range(n_frames):
        if n_objects >= 2 and rng.random() < 0.08:  # an id swap between two tracks
            i, j = rng.choice(n_objects, 2, replace=False)
            pred_id[i], pred_id[j] = pred_id[j], pred_id[i]
        if n_objects and rng.random() < 0.05:  # a track gets a new id
            pred_id[int(rng.integers(0, n_objects))] = next_id
            next_id += 1
        for k in range(n_objects):
            if not alive[k][0] <= t < alive[k][1]:
                continue
            xy = start[k] + vel[k] * t
            gt_rows.append([t + 1, k + 1, *xy, *size[k], 1])
            if rng.random() < 0.85:  # detected, with localisation noise (sometimes large)
                noise = rng.normal(0, rng.choice([1.0, 6.0, 15.0]), size=4)
                pred_rows.append([t + 1, pred_id[k], *(xy + noise[:2]), *np.maximum(size[k] + noise[2:], 1), 0.9])
        for _ in range(int(rng.poisson(0.7))):  # false positives
            pred_rows.append(
                [t + 1, next_id + int(rng.integers(0, 4)), *rng.uniform(0, 300, 2), *rng.uniform(5, 60, 2), 0.3]
            )
    gt = MotSequence.from_rows(np.array(gt_rows).reshape(-1, 7))
    pred = MotSequence.from_rows(np.array(pred_rows).reshape(-1, 7))
    # drop duplicate (frame, id) rows from the random false positives
    _, first = np.unique(np.stack([pred.frame, pred.track_id], 1), axis=0, return_index=True)
    return gt, pred.select(np.isin(np.arange(len(pred)), first))


def _trackeval_data(gt: MotSequence, pred: MotSequence) -> dict:
    """TrackEval's per-sequence input, built with its own box IoU."""
    from trackeval.datasets._base_dataset import _BaseDataset

    n_frames = int(max(gt.frame.max(initial=0), pred.frame.max(initial=0)))
    gt_u = np.unique(gt.track_id)
    pr_u = np.unique(pred.track_id)
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": [], "num_timesteps": n_frames}
    for t in range(1, n_frames + 1):
        gi, pi = gt.frame == t, pred.frame == t
        gxywh = np.concatenate([gt.xyxy[gi][:, :2], gt.xyxy[gi][:, 2:] - gt.xyxy[gi][:, :2]], 1)
        pxywh = np.concatenate([pred.xyxy[pi][:, :2], pred.xyxy[pi][:, 2:] - pred.xyxy[pi][:, :2]], 1)
        data["gt_ids"].append(np.searchsorted(gt_u, gt.track_id[gi]))
        data["tracker_ids"].append(np.searchsorted(pr_u, pred.track_id[pi]))
        data["similarity_scores"].append(_BaseDataset._calculate_box_ious(gxywh, pxywh, box_format="xywh"))
    data.update(num_gt_ids=len(gt_u), num_tracker_ids=len(pr_u), num_gt_dets=len(gt), num_tracker_dets=len(pred))
    return data


def _stretched(seq: MotSequence, factor: int) -> MotSequence:
    """The same boxes with ``factor - 1`` empty frames between consecutive frames."""
    return dataclasses.replace(seq, frame=(seq.frame - 1) * factor + 1)


@pytest.mark.parametrize(("seed", "stretch"), [(s, 1) for s in range(40)] + [(s, 3) for s in range(40, 52)])
def test_equals_trackeval(seed: int, stretch: int) -> None:
    """Equal to TrackEval; ``stretch`` 3 adds runs of empty frames (kept as one empty step here)."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt, pred = _random_pair(seed)
    gt, pred = _stretched(gt, stretch), _stretched(pred, stretch)
    data = _trackeval_data(gt, pred)
    ref_h = HOTA().eval_sequence(data)
    ref_c = CLEAR({"PRINT_CONFIG": False}).eval_sequence(data)
    ref_i = Identity({"PRINT_CONFIG": False}).eval_sequence(data)
    ours = evaluate_mot(gt, pred)
    close = {"abs": 1e-6}
    assert ours.hota == pytest.approx(float(np.mean(ref_h["HOTA"])), **close)
    assert ours.deta == pytest.approx(float(np.mean(ref_h["DetA"])), **close)
    assert ours.assa == pytest.approx(float(np.mean(ref_h["AssA"])), **close)
    assert ours.loca == pytest.approx(float(np.mean(ref_h["LocA"])), **close)
    assert ours.assre == pytest.approx(float(np.mean(ref_h["AssRe"])), **close)
    assert ours.asspr == pytest.approx(float(np.mean(ref_h["AssPr"])), **close)
    np.testing.assert_allclose(ours.hota_per_alpha, ref_h["HOTA"], atol=1e-6)
    assert ours.mota == pytest.approx(float(ref_c["MOTA"]), **close)
    assert ours.motp == pytest.approx(float(ref_c["MOTP"]), **close)
    assert ours.moda == pytest.approx(float(ref_c["MODA"]), **close)
    for mine, theirs in (
        ("id_switches", "IDSW"),
        ("fragmentations", "Frag"),
        ("mostly_tracked", "MT"),
        ("partially_tracked", "PT"),
        ("mostly_lost", "ML"),
        ("tp", "CLR_TP"),
        ("fn", "CLR_FN"),
        ("fp", "CLR_FP"),
    ):
        assert getattr(ours, mine) == int(ref_c[theirs]), mine
    assert ours.idf1 == pytest.approx(float(ref_i["IDF1"]), **close)
    assert ours.idp == pytest.approx(float(ref_i["IDP"]), **close)
    assert ours.idr == pytest.approx(float(ref_i["IDR"]), **close)
    assert (ours.idtp, ours.idfn, ours.idfp) == (int(ref_i["IDTP"]), int(ref_i["IDFN"]), int(ref_i["IDFP"]))


def test_random_sequences_exercise_the_metrics() -> None:
    """The randomised cases above are not all trivial: id switches, FPs and imperfect HOTA occur."""
    results = [evaluate_mot(*_random_pair(seed)) for seed in range(40)]
    assert sum(r.id_switches for r in results) > 5
    assert sum(r.fp for r in results) > 20
    assert 0.2 < np.mean([r.hota for r in results]) < 0.95


def test_box_iou_matches_trackeval() -> None:
    from trackeval.datasets._base_dataset import _BaseDataset

    rng = np.random.default_rng(1)
    a = rng.uniform(0, 50, (7, 4))
    b = rng.uniform(0, 50, (5, 4))
    a[:, 2:] = a[:, :2] + np.abs(a[:, 2:]) + 0.0
    b[:, 2:] = b[:, :2] + np.abs(b[:, 2:])
    b[0, 2:] = b[0, :2]  # zero area
    ref = _BaseDataset._calculate_box_ious(a, b, box_format="x0y0x1y1")
    np.testing.assert_allclose(box_iou_matrix(a, b), ref, atol=1e-12)


def test_perfect_and_empty() -> None:
    gt = MotSequence.from_rows([[1, 1, 0, 0, 10, 10], [2, 1, 2, 0, 10, 10], [2, 2, 40, 40, 10, 10]])
    perfect = evaluate_mot(gt, gt)
    assert (perfect.hota, perfect.mota, perfect.idf1, perfect.id_switches) == (1.0, 1.0, 1.0, 0)
    empty = evaluate_mot(gt, MotSequence.from_rows([]))
    assert (empty.hota, empty.mota, empty.fn, empty.mostly_lost) == (0.0, 0.0, 3, 2)


def test_files_round_trip_and_errors(tmp_path: Path) -> None:
    gt, pred = _random_pair(3)
    save_mot(tmp_path / "gt.txt", gt)
    save_mot(tmp_path / "pred.txt", pred)
    from_files = evaluate_mot(tmp_path / "gt.txt", tmp_path / "pred.txt")
    assert from_files.hota == pytest.approx(evaluate_mot(gt, pred).hota, abs=1e-3)  # 2-decimal text boxes
    # MOTChallenge ground truth: 0 in the 7th column is not evaluated
    (tmp_path / "gt0.txt").write_text("1,1,0,0,10,10,1,1,1\n1,2,50,50,10,10,0,1,1\n")
    assert len(load_mot(tmp_path / "gt0.txt", ground_truth=True)) == 1
    # our JSON lines (detect --track --out)
    record = {
        "index": 0,
        "frame_index": 0,
        "detections": {"xyxy": [[0, 0, 10, 10], [5, 5, 9, 9]], "tracker_id": [3, -1]},
    }
    (tmp_path / "pred.jsonl").write_text(json.dumps(record) + "\n")
    seq = load_mot(tmp_path / "pred.jsonl")
    assert seq.frame.tolist() == [1]
    assert seq.track_id.tolist() == [3]
    (tmp_path / "bad.txt").write_text("1,1,0,0,10\n")
    with pytest.raises(AnnotationParseError, match=r"bad\.txt:1 "):
        load_mot(tmp_path / "bad.txt")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_mot(tmp_path / "missing.txt")
    dup = MotSequence.from_rows([[1, 1, 0, 0, 10, 10], [1, 1, 5, 5, 10, 10]])
    with pytest.raises(InvalidInputError, match="twice in one frame"):
        evaluate_mot(dup, dup)
