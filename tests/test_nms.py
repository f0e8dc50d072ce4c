"""Suppression and merging: NMS/batched NMS (torchvision), soft-NMS and WBF (ensemble-boxes), NMM."""

from __future__ import annotations

import contextlib
import io
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import torchvision.ops as tv_ops
from ensemble_boxes import soft_nms as eb_soft_nms
from ensemble_boxes import weighted_boxes_fusion as eb_wbf
from ensemble_boxes.ensemble_boxes_nms import cpu_soft_nms_float
from hypothesis import given, settings
from hypothesis import strategies as st

from detectkit import Detections
from detectkit import nms as N  # noqa: N812
from detectkit.boxes import box_iou
from detectkit.errors import InvalidInputError

W, H = 1000, 800
SCALE = np.array([W, H, W, H], dtype=np.float64)


def random_dets(n: int, rng: np.random.Generator, *, classes: int = 3, max_wh: float = 120, ties: bool = False):
    xy = rng.uniform(0, [W - max_wh, H - max_wh], (n, 2))
    wh = rng.uniform(2, max_wh, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.integers(1, 5, n) / 5 if ties else rng.random(n)
    return boxes, scores, rng.integers(0, classes, n)


def clustered_dets(n_objects: int, per_object: int, rng: np.random.Generator, *, classes: int = 3):
    """Detector-like output: jittered copies around object boxes."""
    xy = rng.uniform(0, [W * 0.85, H * 0.85], (n_objects, 2))
    wh = rng.uniform(15, 140, (n_objects, 2))
    objects = np.concatenate([xy, xy + wh], axis=1)
    k = rng.integers(0, n_objects, n_objects * per_object)
    base = objects[k]
    size = np.concatenate([base[:, 2:] - base[:, :2]] * 2, axis=1)
    boxes = base + rng.normal(0, 0.06, base.shape) * size
    boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, W)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, H)
    return boxes, rng.random(len(k)), k % classes


def quiet():
    """ensemble-boxes prints and warns about fixed boxes; keep test output clean."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


# ---------------------------------------------------------------------------- bad input table
B2 = [[0, 0, 10, 10], [1, 1, 11, 11]]
S2 = [0.9, 0.8]
BAD_INPUT = [
    (lambda: N.nms([[0, 0, 10]], [0.9], 0.5), "boxes must have shape (N, 4)"),
    (lambda: N.nms(B2, [0.9], 0.5), "scores must have length 2"),
    (lambda: N.nms(B2, [[0.9, 0.8]], 0.5), "scores must be 1-D"),
    (lambda: N.nms([[0, 0, np.nan, 10], [0, 0, 1, 1]], S2, 0.5), "boxes must be finite"),
    (lambda: N.nms(B2, [0.9, np.inf], 0.5), "scores must be finite"),
    (lambda: N.nms([[10, 0, 0, 10], [0, 0, 1, 1]], S2, 0.5), "x2 >= x1"),
    (lambda: N.nms(B2, ["a", "b"], 0.5), "scores must be numeric"),
    (lambda: N.nms(B2, S2, 1.5), "iou_threshold must be in [0.0, 1.0]"),
    (lambda: N.nms(B2, S2, "high"), "iou_threshold must be a number"),
    (lambda: N.nms(B2, S2, True), "iou_threshold must be a number"),
    (lambda: N.nms(B2, S2, 0.5, backend="cuda"), "backend must be one of"),
    (lambda: N.batched_nms(B2, S2, [0], 0.5), "class_ids must have length 2"),
    (lambda: N.batched_nms(B2, S2, [0.5, 1], 0.5), "class_ids must hold integers"),
    (lambda: N.batched_nms(B2, S2, None, 0.5), "class_ids must be an array, got None"),
    (lambda: N.soft_nms(B2, S2, method="hard"), "method must be one of"),
    (lambda: N.soft_nms(B2, S2, sigma=0), "sigma must be > 0"),
    (lambda: N.soft_nms(B2, S2, score_threshold=np.nan), "score_threshold must be a finite number"),
    (lambda: N.soft_nms(B2, S2, [1, 2, 3]), "class_ids must have length 2"),
    (lambda: N.weighted_boxes_fusion(B2, S2, iou_threshold=-0.1), "iou_threshold must be in [0.0, 1.0]"),
    (lambda: N.weighted_boxes_fusion(B2, S2, conf_type="mean"), "conf_type must be one of"),
    (lambda: N.weighted_boxes_fusion(B2, [0.1]), "scores_list[0] must have length 2"),
    (lambda: N.weighted_boxes_fusion(B2, S2, image_size_wh=(10, -1)), "image_size_wh must hold two positive"),
    (lambda: N.weighted_boxes_fusion_multi(np.zeros((2, 4)), [S2]), "boxes_list must be a list"),
    (lambda: N.weighted_boxes_fusion_multi([], []), "boxes_list must hold at least one"),
    (lambda: N.weighted_boxes_fusion_multi([B2, B2], [S2]), "scores_list must be a list with one array per model"),
    (lambda: N.weighted_boxes_fusion_multi([B2], [S2], [[0, 1], [0, 1]]), "class_ids_list must be None or a list"),
    (lambda: N.weighted_boxes_fusion_multi([B2, B2], [S2, S2], weights=[1]), "weights must have length 2"),
    (lambda: N.weighted_boxes_fusion_multi([B2, B2], [S2, S2], weights=[1, 0]), "weights must be positive"),
    (lambda: N.weighted_boxes_fusion_multi([B2, [[0, 0, 1]]], [S2, [1]]), "boxes_list[1] must have shape (N, 4)"),
    (lambda: N.non_max_merge(B2, S2, match_metric="giou"), "match_metric must be one of"),
    (lambda: N.non_max_merge(B2, S2, merge="mean"), "merge must be one of"),
    (lambda: N.non_max_merge(B2, S2, iou_threshold=2), "iou_threshold must be in"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_raises_invalid_input_naming_the_argument(call, message):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda e: N.nms(e, [], 0.5),
        lambda e: N.nms(e, [], 0.5, backend="numpy"),
        lambda e: N.batched_nms(e, [], [], 0.5),
        lambda e: N.batched_nms(e, [], [], 0.5, backend="numpy"),
        lambda e: N.soft_nms(e, [])[0],
        lambda e: N.weighted_boxes_fusion(e, [])[0],
        lambda e: N.weighted_boxes_fusion_multi([e, e], [[], []])[0],
        lambda e: N.non_max_merge(e, []).keep,
    ],
)
@pytest.mark.parametrize("empty", [[], np.zeros((0, 4)), np.zeros((0, 4), np.float32)])
def test_empty_in_empty_out(call, empty):
    assert len(call(empty)) == 0


# ---------------------------------------------------------------------------- NMS vs torchvision
@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True])
def test_nms_and_batched_nms_equal_torchvision(backend, dtype, ties):
    rng = np.random.default_rng(7)
    for trial in range(25):
        n = int(rng.integers(1, 400))
        boxes, scores, classes = random_dets(n, rng, ties=ties)
        if trial % 4 == 0:
            boxes, scores, classes = clustered_dets(max(1, n // 10), 10, rng)
            scores = np.round(scores, 1) if ties else scores
        boxes, scores = boxes.astype(dtype), scores.astype(dtype)
        thr = float(rng.choice([0.0, 0.3, 0.5, 0.7, 1.0]))
        tb, ts, tc = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes)
        before = boxes.copy(), scores.copy(), classes.copy()

        keep = N.nms(boxes, scores, thr, backend=backend)
        ref = tv_ops.nms(tb, ts, thr).numpy()
        assert keep.dtype == np.int64
        np.testing.assert_array_equal(np.sort(keep), np.sort(ref))
        keep_b = N.batched_nms(boxes, scores, classes, thr, backend=backend)
        ref_b = tv_ops.batched_nms(tb, ts, tc, thr).numpy()
        np.testing.assert_array_equal(np.sort(keep_b), np.sort(ref_b))
        for out in (keep, keep_b):  # descending score, ties by lower index
            key = np.lexsort((out, -scores[out]))
            np.testing.assert_array_equal(key, np.arange(len(out)))
        for arr, old in zip((boxes, scores, classes), before):
            np.testing.assert_array_equal(arr, old)


def test_ties_keep_the_lower_index_like_torchvision():
    boxes = np.array([[0, 0, 10, 10]] * 4 + [[0, 0, 10, 9]] * 2, dtype=np.float32)
    scores = np.array([0.5, 0.7, 0.7, 0.7, 0.9, 0.9], dtype=np.float32)
    for backend in ("auto", "numpy"):
        assert N.nms(boxes, scores, 0.5, backend=backend).tolist() == [4]
    assert tv_ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).tolist() == [4]
    far = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
    assert N.nms(far, [0.5, 0.5, 0.5], 0.5).tolist() == [0, 1, 2]


def test_batched_nms_class_agnostic_is_nms():
    rng = np.random.default_rng(3)
    boxes, scores, classes = random_dets(300, rng)
    np.testing.assert_array_equal(
        N.batched_nms(boxes, scores, classes, 0.4, class_agnostic=True), N.nms(boxes, scores, 0.4)
    )


box_lists = st.integers(0, 25).flatmap(
    lambda n: st.tuples(
        st.lists(st.tuples(*[st.integers(0, 40)] * 2, *[st.integers(0, 15)] * 2), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
    )
)


@settings(max_examples=80, deadline=None)
@given(data=box_lists, thr=st.sampled_from([0.0, 0.2, 0.5, 0.8]), backend=st.sampled_from(["auto", "numpy"]))
def test_after_nms_no_same_class_pair_exceeds_the_threshold(data, thr, backend):
    rows, scores, classes = data
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], dtype=np.float64).reshape(-1, 4)
    scores = np.array(scores, dtype=np.float64) / 4
    classes = np.array(classes, dtype=np.int64)
    keep = N.batched_nms(boxes, scores, classes, thr, backend=backend)
    iou = box_iou(boxes[keep], boxes[keep])
    same = classes[keep][:, None] == classes[keep][None, :]
    np.fill_diagonal(same, False)
    assert not (iou[same] > thr + 1e-6).any()
    # and every dropped box overlaps a kept box of its class that comes before it
    dropped = np.setdiff1d(np.arange(len(boxes)), keep)
    if len(dropped):
        o = box_iou(boxes[dropped], boxes[keep]) > thr
        o &= classes[dropped][:, None] == classes[keep][None, :]
        assert o.any(axis=1).all()
    ref = tv_ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), thr)
    assert sorted(keep.tolist()) == sorted(ref.tolist())


# ---------------------------------------------------------------------------- soft-NMS vs ensemble-boxes
def reference_soft_nms(boxes, scores, classes, *, thr, sigma, score_thr, method):
    """ensemble-boxes' own kernel, per class, collecting the decayed scores it leaves behind."""
    out = {}
    for k in np.unique(classes):
        idx = np.flatnonzero(classes == k)
        decayed = scores[idx].astype(np.float64).copy()
        kept = cpu_soft_nms_float(
            (boxes[idx] / SCALE).copy(), decayed, Nt=thr, sigma=sigma, thresh=score_thr, method=method
        )
        out.update(zip(idx[kept].tolist(), decayed[decayed > score_thr].tolist()))
    return out


@pytest.mark.parametrize("method", ["gaussian", "linear"])
@pytest.mark.parametrize("dense_max", [0, 64, 100_000], ids=["rounds", "mixed", "dense"])
def test_soft_nms_equals_ensemble_boxes(method, dense_max, monkeypatch):
    monkeypatch.setattr(N, "_DENSE_MAX", dense_max)  # both strategies must give the same result
    rng = np.random.default_rng(11)
    m = 2 if method == "gaussian" else 1
    for trial in range(20):
        if trial % 2:
            boxes, scores, classes = clustered_dets(int(rng.integers(1, 20)), 8, rng)
        else:
            boxes, scores, classes = random_dets(int(rng.integers(1, 300)), rng)
        kw = {"thr": float(rng.choice([0.3, 0.5])), "sigma": float(rng.choice([0.1, 0.5])), "score_thr": 0.01}
        before = boxes.copy(), scores.copy()
        keep, new = N.soft_nms(
            boxes, scores, classes, iou_threshold=kw["thr"], sigma=kw["sigma"], score_threshold=0.01, method=method
        )
        ref = reference_soft_nms(boxes, scores, classes, method=m, **kw)
        assert set(keep.tolist()) == set(ref)
        np.testing.assert_allclose(new, [ref[i] for i in keep.tolist()], atol=1e-4)
        assert (np.diff(new) <= 0).all()
        with quiet():  # the public ensemble-boxes call keeps the same boxes (it reports original scores)
            eb_boxes, eb_scores, _ = eb_soft_nms(
                [boxes / SCALE], [scores], [classes], method=m, iou_thr=kw["thr"], sigma=kw["sigma"], thresh=0.01
            )
        assert len(eb_boxes) == len(keep)
        order = np.lexsort((eb_boxes[:, 0], eb_scores))
        mine = np.lexsort((boxes[keep, 0], scores[keep]))
        np.testing.assert_allclose(eb_boxes[order], boxes[keep][mine] / SCALE, atol=1e-6)
        np.testing.assert_array_equal(boxes, before[0])
        np.testing.assert_array_equal(scores, before[1])


def test_soft_nms_decays_overlaps_and_keeps_distant_boxes():
    keep, new = N.soft_nms([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8, 0.7], method="linear")
    assert keep.tolist() == [0, 2]  # the duplicate decays to 0.8 * (1 - 1) = 0
    np.testing.assert_allclose(new, [0.9, 0.7])


# ---------------------------------------------------------------------------- WBF vs ensemble-boxes
def assert_same_wbf(ours, ref):
    b, s, c = ours
    eb, es, el = ref
    assert len(b) == len(eb)
    o1 = np.lexsort((b[:, 1] / H, b[:, 0] / W, s, c))
    o2 = np.lexsort((eb[:, 1], eb[:, 0], es, el))
    np.testing.assert_allclose(b[o1] / SCALE, eb[o2], atol=1e-4)
    np.testing.assert_allclose(s[o1], es[o2], atol=1e-4)
    np.testing.assert_array_equal(c[o1], el[o2].astype(np.int64))
    assert (np.diff(s) <= 0).all()


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
def test_wbf_equals_ensemble_boxes(conf_type):
    rng = np.random.default_rng(hash(conf_type) % 1000)
    for trial in range(16):
        n_models = int(rng.integers(1, 4))
        n_objects = int(rng.integers(1, 25))
        parts = [clustered_dets(n_objects, int(rng.integers(0, 5)), rng) for _ in range(n_models)]
        if trial % 4 == 3:
            parts = [random_dets(int(rng.integers(0, 150)), rng) for _ in range(n_models)]
        boxes = [p[0] for p in parts]
        scores = [p[1] for p in parts]
        classes = [p[2] for p in parts]
        weights = None if trial % 2 else rng.uniform(0.5, 3, n_models).tolist()
        kw = {
            "iou_threshold": float(rng.choice([0.1, 0.3, 0.55, 0.8])),
            "skip_box_threshold": float(rng.choice([0.0, 0.3])),
            "conf_type": conf_type,
            "allows_overflow": bool(trial % 3 == 0),
        }
        before = [b.copy() for b in boxes]
        ours = N.weighted_boxes_fusion_multi(boxes, scores, classes, weights=weights, image_size_wh=(W, H), **kw)
        with quiet():
            ref = eb_wbf(
                [b / SCALE for b in boxes],
                scores,
                classes,
                weights=weights,
                iou_thr=kw["iou_threshold"],
                skip_box_thr=kw["skip_box_threshold"],
                conf_type=conf_type,
                allows_overflow=kw["allows_overflow"],
            )
        assert_same_wbf(ours, ref)
        for b, old in zip(boxes, before):
            np.testing.assert_array_equal(b, old)


def test_wbf_single_model_and_clipping_equal_ensemble_boxes():
    rng = np.random.default_rng(21)
    boxes, scores, classes = clustered_dets(40, 6, rng)
    boxes = boxes + rng.normal(0, 30, boxes.shape).clip(0, None) * [[-1, -1, 1, 1]]  # some leave the image
    ours = N.weighted_boxes_fusion(boxes, scores, classes, iou_threshold=0.5, image_size_wh=(W, H))
    with quiet():
        ref = eb_wbf([boxes / SCALE], [scores], [classes], iou_thr=0.5)
    assert_same_wbf(ours, ref)


def test_wbf_group_check_falls_back_to_exact_groups(monkeypatch):
    """Force the parallel grouping to be 'refuted' every time: the hull-closed fallback must agree."""
    rng = np.random.default_rng(5)
    boxes, scores, classes = clustered_dets(30, 8, rng)
    calls = []

    def always_conflict(box, cls, gid, member, thr):
        calls.append(1)
        return np.array([0]), np.array([int(gid.max())])

    monkeypatch.setattr(N, "_wbf_conflicts", always_conflict)
    ours = N.weighted_boxes_fusion(boxes, scores, classes, iou_threshold=0.3)
    with quiet():
        ref = eb_wbf([boxes / SCALE], [scores], [classes], iou_thr=0.3)
    assert_same_wbf(ours, ref)
    assert len(calls) == 3


def test_wbf_low_threshold_chains_equal_ensemble_boxes():
    """Low thresholds make fused boxes drift across groups: the check must catch it."""
    rng = np.random.default_rng(9)
    for _ in range(6):
        boxes, scores, classes = random_dets(400, rng, classes=2, max_wh=200)
        ours = N.weighted_boxes_fusion(boxes, scores, classes, iou_threshold=0.05)
        with quiet():
            ref = eb_wbf([boxes / SCALE], [scores], [classes], iou_thr=0.05)
        assert_same_wbf(ours, ref)


def test_wbf_fuses_a_simple_pair():
    b, s, c = N.weighted_boxes_fusion([[0, 0, 10, 10], [2, 0, 12, 10]], [0.75, 0.25], [3, 3])
    np.testing.assert_allclose(b, [[0.5, 0, 10.5, 10]])
    np.testing.assert_allclose(s, [0.5])
    assert c.tolist() == [3]


# ---------------------------------------------------------------------------- NMM
def reference_nmm(boxes, scores, classes, thr, metric):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    groups: dict[int, list[int]] = {}
    taken = set()
    for i in order:
        if i in taken:
            continue
        groups[i] = [i]
        taken.add(i)
        for j in order:
            if j in taken or classes[j] != classes[i]:
                continue
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            area_a = (a[2] - a[0]) * (a[3] - a[1])
            area_b = (b[2] - b[0]) * (b[3] - b[1])
            den = area_a + area_b - iw * ih if metric == "iou" else min(area_a, area_b)
            if den > 0 and iw * ih / den > thr:
                groups[i].append(j)
                taken.add(j)
    return groups


@pytest.mark.parametrize("metric", ["iou", "ios"])
def test_non_max_merge_matches_reference_semantics(metric):
    rng = np.random.default_rng(13)
    for _ in range(10):
        boxes, scores, classes = clustered_dets(int(rng.integers(1, 15)), 6, rng)
        thr = float(rng.choice([0.3, 0.5, 0.7]))
        before = boxes.copy()
        res = N.non_max_merge(boxes, scores, classes, iou_threshold=thr, match_metric=metric)
        ref = reference_nmm(boxes, scores, classes, thr, metric)
        assert sorted(res.keep.tolist()) == sorted(ref)
        for row, leader in enumerate(res.keep.tolist()):
            members = ref[leader]
            assert sorted(np.flatnonzero(res.group == row).tolist()) == sorted(members)
            m = boxes[members]
            np.testing.assert_allclose(res.boxes[row], [*m[:, :2].min(0), *m[:, 2:].max(0)])
        np.testing.assert_array_equal(res.scores, scores[res.keep])
        np.testing.assert_array_equal(boxes, before)
        if metric == "iou":  # the leaders are exactly the NMS keep set
            assert sorted(res.keep.tolist()) == sorted(N.batched_nms(boxes, scores, classes, thr).tolist())


def test_non_max_merge_weighted_and_class_agnostic():
    boxes = [[0, 0, 10, 10], [2, 0, 12, 10], [0, 0, 10, 10]]
    res = N.non_max_merge(boxes, [0.75, 0.25, 0.5], [0, 0, 1], iou_threshold=0.5, merge="weighted")
    assert res.keep.tolist() == [0, 2]
    np.testing.assert_allclose(res.boxes, [[0.5, 0, 10.5, 10], [0, 0, 10, 10]])
    agnostic = N.non_max_merge(boxes, [0.75, 0.25, 0.5], [0, 0, 1], iou_threshold=0.5, class_agnostic=True)
    assert agnostic.keep.tolist() == [0]
    assert agnostic.group.tolist() == [0, 0, 0]


def test_non_max_merge_stitches_a_box_cut_by_tiles():
    # one object seen whole in the left tile and cut in the right tile; ios matches, iou does not
    whole, cut = [100, 100, 200, 180], [150, 100, 200, 180]
    res = N.non_max_merge([whole, cut], [0.9, 0.6], iou_threshold=0.6, match_metric="ios")
    assert res.boxes.tolist() == [[100, 100, 200, 180]]
    assert len(N.non_max_merge([whole, cut], [0.9, 0.6], iou_threshold=0.6).keep) == 2


# ---------------------------------------------------------------------------- Detections helpers
def test_detections_with_soft_nms_wbf_nmm():
    mask = np.zeros((3, 20, 20), bool)
    mask[0, :5, :5] = True
    mask[1, 5:10, 5:10] = True
    dets = Detections(
        xyxy=[[0, 0, 10, 10], [1, 0, 11, 10], [12, 12, 18, 18]],
        confidence=[0.9, 0.6, 0.5],
        class_id=[0, 0, 1],
        mask=mask,
        names={0: "a", 1: "b"},
    )
    soft = dets.with_soft_nms()
    assert len(soft) == 3
    assert soft.confidence[1] < 0.6
    assert soft.mask is not None
    fused = dets.with_wbf(iou_threshold=0.5)
    assert sorted(fused.labels) == ["a", "b"]
    assert fused.mask is None
    merged = dets.with_nmm(iou_threshold=0.5)
    assert len(merged) == 2
    assert merged.xyxy[0].tolist() == [0, 0, 11, 10]
    assert merged.mask[0].sum() == 50  # both masks OR-ed
    with pytest.raises(InvalidInputError, match="with_wbf needs confidence"):
        Detections(xyxy=[[0, 0, 1, 1]]).with_wbf()


# ---------------------------------------------------------------------------- memory
def test_no_dense_n_by_n_matrix_at_20k_boxes():
    rng = np.random.default_rng(0)
    boxes, scores, classes = random_dets(20_000, rng, classes=10, max_wh=100)
    tracemalloc.start()
    try:
        N.batched_nms(boxes, scores, classes, 0.5, backend="numpy")
        N.soft_nms(boxes, scores, classes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    dense_per_class = (20_000 // 10) ** 2 * 8  # one class's float64 N x N matrix: 32 MB
    assert peak < dense_per_class, f"peak {peak / 1e6:.1f} MB"


def test_float64_scores_keep_their_order_with_float32_boxes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.9 + 1e-12])  # equal once cast to float32
    assert N.nms(boxes, scores, 0.5).tolist() == [1]
    assert N.batched_nms(boxes, scores, [0, 0], 0.5).tolist() == [1]
    assert N.nms(boxes, scores, 0.5, backend="numpy").tolist() == [1]


small_sets = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(
            st.tuples(
                st.floats(0, 900, allow_nan=False),
                st.floats(0, 700, allow_nan=False),
                st.floats(5, 100, allow_nan=False),
                st.floats(5, 100, allow_nan=False),
            ),
            min_size=n,
            max_size=n,
        ),
        st.lists(st.floats(0.05, 1.0, allow_nan=False), min_size=n, max_size=n, unique=True),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(data=small_sets, thr=st.sampled_from([0.2, 0.45, 0.7]))
def test_soft_nms_and_wbf_match_ensemble_boxes_on_small_sets(data, thr):
    rows, scores, classes = data
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows])
    scores = np.array(scores)
    classes = np.array(classes)
    keep, new = N.soft_nms(boxes, scores, classes, iou_threshold=thr, method="linear", score_threshold=0.01)
    ref = reference_soft_nms(boxes, scores, classes, thr=thr, sigma=0.5, score_thr=0.01, method=1)
    assert set(keep.tolist()) == set(ref)
    np.testing.assert_allclose(new, [ref[i] for i in keep.tolist()], atol=1e-6)
    ours = N.weighted_boxes_fusion(boxes, scores, classes, iou_threshold=thr)
    with quiet():
        expected = eb_wbf([boxes / SCALE], [scores], [classes], iou_thr=thr)
    assert_same_wbf(ours, expected)
