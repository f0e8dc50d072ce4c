"""YOLO -> LabelMe -> YOLO keeps the class order (LabelMe files name labels only)."""

from __future__ import annotations

from pathlib import Path

from detectkit.formats import convert, read, write

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "formats" / "yolo_golden"  # person, dog, toothbrush


def _labels(ds: object) -> list[list[str]]:
    return [list(d.labels) for _, d in ds]  # type: ignore[attr-defined]


def test_yolo_labelme_yolo_keeps_class_order(tmp_path: Path) -> None:
    src = read(GOLDEN)
    assert [c.name for c in src.categories] == ["person", "dog", "toothbrush"]  # not alphabetical
    write(src, tmp_path / "lm", format="labelme", link_images=False)
    lm = read(tmp_path / "lm")
    assert [(c.id, c.name) for c in lm.categories] == [(c.id, c.name) for c in src.categories]
    convert(tmp_path / "lm", tmp_path / "back", to="yolo")
    back = read(tmp_path / "back")
    assert [c.name for c in back.categories] == ["person", "dog", "toothbrush"]
    assert (tmp_path / "back" / "data.yaml").read_text(encoding="utf-8").index("person") < (
        tmp_path / "back" / "data.yaml"
    ).read_text(encoding="utf-8").index("dog")
    assert sorted(map(sorted, _labels(back))) == sorted(map(sorted, _labels(src)))


def test_convert_to_labelme_writes_the_order_and_new_names_come_after(tmp_path: Path) -> None:
    convert(GOLDEN, tmp_path / "lm", to="labelme", link_images=False)
    assert (tmp_path / "lm" / ".detectkit.json").is_file()
    (tmp_path / "lm" / ".detectkit.json").write_text('{"categories": [{"id": 0, "name": "toothbrush"}]}')
    names = [c.name for c in read(tmp_path / "lm").categories]
    assert names[0] == "toothbrush"
    assert sorted(names[1:]) == ["dog", "person"]


def test_dataset_methods_keep_the_class_order_too(tmp_path: Path) -> None:
    """Dataset.to_labelme / from_labelme reach the format module directly: the sidecar lives there."""
    from detectkit import Dataset

    src = read(GOLDEN)
    src.to_labelme(tmp_path / "lm", link_images=False)
    lm = Dataset.from_labelme(tmp_path / "lm")
    assert [(c.id, c.name) for c in lm.categories] == [(c.id, c.name) for c in src.categories]
