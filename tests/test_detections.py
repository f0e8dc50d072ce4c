"""Tests for the core result types in detectkit.detections."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detectkit import Classification, Detections, InvalidInputError
from detectkit.detections import mask_from_rle, mask_to_rle


def make(n: int = 3, *, seed: int = 0, masks: bool = False) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(1, 20, (n, 2))
    mask = rng.random((n, 8, 10)) > 0.5 if masks else None
    return Detections(
        xyxy=np.hstack([xy, xy + wh]),
        confidence=rng.random(n),
        class_id=rng.integers(0, 3, n),
        mask=mask,
        tracker_id=np.arange(n) + 10,
        data={"extra": np.arange(n) * 2.5},
        names={0: "cat", 1: "dog", 2: "bird"},
        image_size_wh=(100, 100),
    )


# ---------------------------------------------------------------- construction and validation
def test_dtypes_and_defaults() -> None:
    d = Detections(xyxy=[[0, 0, 1, 1], [1, 1, 2, 3]])
    assert d.xyxy.dtype == np.float32
    assert d.xyxy.shape == (2, 4)
    assert d.confidence is None
    assert d.class_id.dtype == np.int64
    assert d.class_id.tolist() == [0, 0]
    assert d.mask is None
    assert d.tracker_id is None
    assert dict(d.data) == {}
    assert dict(d.names) == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"xyxy": [[0, 0, 1]]}, r"xyxy must have shape \(N, 4\), got \(1, 3\)"),
        ({"xyxy": [0, 0, 1, 1]}, r"xyxy must have shape \(N, 4\)"),
        ({"xyxy": [[0, 0, np.nan, 1]]}, "xyxy must be finite"),
        ({"xyxy": [[0, 0, np.inf, 1]]}, "xyxy must be finite"),
        ({"xyxy": [[5, 0, 1, 1]]}, "x2 >= x1"),
        ({"xyxy": [[0, 5, 1, 1]]}, "y2 >= y1"),
        ({"xyxy": [["a", "b", "c", "d"]]}, "xyxy must be numeric"),
        ({"xyxy": [[0, 0, 1, 1]], "confidence": [0.5, 0.2]}, "confidence must have length 1"),
        ({"xyxy": [[0, 0, 1, 1]], "confidence": [np.nan]}, "confidence must be finite"),
        ({"xyxy": [[0, 0, 1, 1]], "class_id": [0.5]}, "class_id must hold integers"),
        ({"xyxy": [[0, 0, 1, 1]], "class_id": [[1]]}, "class_id must be 1-D"),
        ({"xyxy": [[0, 0, 1, 1]], "tracker_id": [1, 2]}, "tracker_id must have length 1"),
        ({"xyxy": [[0, 0, 1, 1]], "mask": np.zeros((2, 4, 4), bool)}, r"mask must have shape \(N, H, W\) with N=1"),
        ({"xyxy": [[0, 0, 1, 1]], "mask": np.full((1, 4, 4), 0.5)}, "mask must be boolean"),
        ({"xyxy": [[0, 0, 1, 1]], "data": {"x": [1, 2]}}, r"data\['x'\] must have first dimension 1"),
        ({"xyxy": [[0, 0, 1, 1]], "data": [1]}, "data must be a mapping"),
        ({"xyxy": [[0, 0, 1, 1]], "names": {"a": "cat"}}, "names keys must be integer"),
        ({"xyxy": [[0, 0, 1, 1]], "image_size_wh": (0, 10)}, "image_size_wh must hold two positive integers"),
        ({"xyxy": [[0, 0, 1, 1]], "image_size_wh": 5}, "image_size_wh must be a"),
    ],
)
def test_bad_input_raises_named_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Detections(**kwargs)  # type: ignore[arg-type]


def test_invalid_input_is_value_error() -> None:
    with pytest.raises(ValueError):
        Detections(xyxy=[[1, 1, 0, 0]])


def test_arrays_are_read_only_and_inputs_not_aliased() -> None:
    xyxy = np.array([[0, 0, 10, 10]], np.float32)
    conf = np.array([0.5], np.float32)
    d = Detections(xyxy=xyxy, confidence=conf)
    xyxy[0, 0] = 5  # caller keeps mutating their own array
    conf[0] = 0.9
    assert d.xyxy[0, 0] == 0
    assert d.confidence is not None
    assert d.confidence[0] == 0.5
    for arr in (d.xyxy, d.confidence, d.class_id):
        assert arr is not None
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1
    with pytest.raises(TypeError):
        d.names[3] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        d.xyxy = xyxy  # type: ignore[misc]


def test_integral_float_class_ids_accepted() -> None:
    assert Detections(xyxy=[[0, 0, 1, 1]], class_id=[2.0]).class_id.tolist() == [2]


def test_empty_shapes() -> None:
    e = Detections.empty(names={0: "a"})
    assert len(e) == 0
    assert e.xyxy.shape == (0, 4)
    assert e.confidence is not None
    assert e.confidence.shape == (0,)
    assert Detections(xyxy=np.zeros((0, 4))).class_id.shape == (0,)
    assert Detections(xyxy=[]).xyxy.shape == (0, 4)
    assert Detections.empty(with_confidence=False).confidence is None
    assert e.labels == []
    assert list(e) == []


# ---------------------------------------------------------------- indexing
def test_indexing_int_slice_mask_array() -> None:
    d = make(5, masks=True)
    one = d[2]
    assert len(one) == 1
    assert one.xyxy.tolist() == d.xyxy[2:3].tolist()
    assert d[-1].class_id.tolist() == d.class_id[-1:].tolist()
    assert len(d[1:4]) == 3
    mask = np.array([True, False, True, False, True])
    sub = d[mask]
    assert sub.tracker_id is not None
    assert sub.tracker_id.tolist() == [10, 12, 14]
    assert sub.mask is not None
    assert sub.mask.shape == (3, 8, 10)
    assert sub.data["extra"].tolist() == [0.0, 5.0, 10.0]
    assert d[[4, 0]].tracker_id.tolist() == [14, 10]  # type: ignore[union-attr]
    assert len(d[np.array([], dtype=np.int64)]) == 0
    assert sub.names == d.names
    assert sub.image_size_wh == (100, 100)


@pytest.mark.parametrize(
    ("index", "exc"),
    [
        (7, IndexError),
        (-6, IndexError),
        (np.array([True, False]), InvalidInputError),
        (np.array([0.5]), InvalidInputError),
    ],
)
def test_bad_index(index: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        make(5)[index]  # type: ignore[index]


def test_iteration_yields_plain_boxes() -> None:
    d = Detections(xyxy=[[0, 0, 1, 2]], confidence=[0.5], class_id=[1], names={1: "dog"})
    (box,) = list(d)
    assert box.xyxy == (0.0, 0.0, 1.0, 2.0)
    assert box.confidence == 0.5
    assert box.class_id == 1
    assert box.label == "dog"
    assert box.tracker_id is None


# ---------------------------------------------------------------- merge, filter, labels
def test_merge_concatenates_and_unifies_names() -> None:
    a, b = make(2, seed=1), make(3, seed=2)
    m = Detections.merge([a, Detections.empty(names=a.names), b])
    assert len(m) == 5
    assert np.array_equal(m.xyxy, np.concatenate([a.xyxy, b.xyxy]))
    assert m.mask is None
    assert m.tracker_id is not None
    assert m.data["extra"].shape == (5,)
    assert m.image_size_wh == (100, 100)
    assert len(Detections.merge([])) == 0


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        (lambda: [make(1), Detections(xyxy=[[0, 0, 1, 1]], confidence=[1], class_id=[0], names={0: "other"})], "named"),
        (
            lambda: [Detections(xyxy=[[0, 0, 1, 1]], confidence=[1]), Detections(xyxy=[[0, 0, 1, 1]])],
            "confidence is set",
        ),
        (lambda: [make(1), Detections(xyxy=[[0, 0, 1, 1]], confidence=[1])], "data keys differ"),
        (lambda: [make(1), [1, 2]], r"items\[1\] must be Detections"),
    ],
)
def test_merge_conflicts(parts: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Detections.merge(parts())  # type: ignore[operator]


def test_filter_by_class_confidence_area() -> None:
    d = Detections(
        xyxy=[[0, 0, 2, 2], [0, 0, 10, 10], [0, 0, 5, 5]],
        confidence=[0.9, 0.3, 0.6],
        class_id=[0, 1, 1],
        names={0: "cat", 1: "dog"},
    )
    assert d.filter(classes=["dog"]).confidence.tolist() == pytest.approx([0.3, 0.6])  # type: ignore[union-attr]
    assert d.filter(classes=[0]).labels == ["cat"]
    assert len(d.filter(min_confidence=0.5)) == 2
    assert d.filter(min_area=10, max_area=50).area.tolist() == [25.0]
    with pytest.raises(InvalidInputError, match="unknown class name 'cow'"):
        d.filter(classes=["cow"])
    gt = Detections(xyxy=[[0, 0, 1, 1]])
    assert len(gt.filter(min_confidence=0.9)) == 1  # ground truth has no confidence to test


def test_labels_fall_back_to_id_text() -> None:
    assert Detections(xyxy=[[0, 0, 1, 1]] * 2, class_id=[0, 7], names={0: "a"}).labels == ["a", "7"]


# ---------------------------------------------------------------- serialisation
def test_dict_json_round_trip_with_masks_and_data() -> None:
    d = make(4, masks=True)
    payload = json.loads(json.dumps(d.to_dict()))
    back = Detections.from_dict(payload)
    assert back == d
    assert back.data["extra"].dtype == d.data["extra"].dtype
    assert json.loads(d.to_json())["labels"] == d.labels


def test_ground_truth_round_trip_and_equality() -> None:
    gt = Detections(xyxy=[[1, 2, 3, 4]], class_id=[3], names={3: "x"})
    assert Detections.from_dict(gt.to_dict()) == gt
    assert gt != Detections(xyxy=[[1, 2, 3, 5]], class_id=[3], names={3: "x"})
    assert gt != "not detections"


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(InvalidInputError, match="payload must be a mapping"):
        Detections.from_dict({"boxes": []})


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12)))
def test_rle_round_trip(mask: np.ndarray) -> None:
    rle = mask_to_rle(mask)
    assert sum(rle["counts"]) == mask.size
    assert np.array_equal(mask_from_rle(rle), mask)


def test_rle_matches_pycocotools_convention() -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    m = rng.random((9, 7)) > 0.6
    ours = mask_to_rle(m)
    compressed = mask_utils.frPyObjects(ours, *ours["size"])
    assert np.array_equal(mask_utils.decode(compressed).astype(bool), m)
    with pytest.raises(InvalidInputError, match="counts sum"):
        mask_from_rle({"size": [2, 2], "counts": [1]})


# ---------------------------------------------------------------- interop
def test_supervision_round_trip_without_copy() -> None:
    d = make(3, masks=True)
    sv_dets = d.to_supervision()
    assert np.shares_memory(sv_dets.xyxy, d.xyxy)
    assert list(sv_dets.data["class_name"]) == d.labels
    back = Detections.from_supervision(sv_dets)
    assert np.array_equal(back.xyxy, d.xyxy)
    assert np.array_equal(back.class_id, d.class_id)
    assert np.array_equal(back.mask, d.mask)  # type: ignore[arg-type]
    assert {k: back.names[k] for k in set(d.class_id.tolist())} == {k: d.names[k] for k in set(d.class_id.tolist())}


def test_from_supervision_without_class_id() -> None:
    import supervision as sv

    back = Detections.from_supervision(sv.Detections(xyxy=np.array([[0, 0, 2, 2]], np.float32)), names=["thing"])
    assert back.class_id.tolist() == [0]
    assert back.labels == ["thing"]


# ---------------------------------------------------------------- classification
def test_classification() -> None:
    c = Classification(class_id=[3, 1], confidence=[0.6, 0.3], names={3: "bus", 1: "car"})
    assert c.labels == ["bus", "car"]
    assert c.top1 == "bus"
    assert len(c) == 2
    assert c.to_dict()["labels"] == ["bus", "car"]
    assert "bus: 0.600" in repr(c)
    assert Classification(class_id=[], confidence=[]).top1 is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_id": [1, 2], "confidence": [0.1, 0.5]}, "descending"),
        ({"class_id": [1, 2], "confidence": [0.5]}, "confidence must have length 2"),
        ({"class_id": [0.5], "confidence": [0.5]}, "class_id must hold integers"),
    ],
)
def test_classification_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Classification(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 30), st.integers(0, 2**31 - 1))
def test_getitem_mask_matches_numpy(n: int, seed: int) -> None:
    d = make(n, seed=seed) if n else Detections.empty()
    keep = np.random.default_rng(seed).random(n) > 0.5
    sub = d[keep]
    assert np.array_equal(sub.xyxy, d.xyxy[keep])
    assert np.array_equal(sub.class_id, d.class_id[keep])
