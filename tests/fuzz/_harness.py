"""Fuzz harness shared by the in-suite property tests and the long run (``tests/fuzz/run_long.py``).

A *target* is one reader fed one mutated file: it lays out a tiny dataset in a folder with one
file replaced by the mutated bytes, calls the reader and classifies the outcome:

* ``ok``: a result came back;
* ``typed``: a :class:`~detectkit.errors.DetectkitError` whose message names the mutated file
  (or its dataset folder);
* ``crash``: anything else — another exception type, or a typed error that does not say which
  file was wrong. Hangs and memory blow-ups are caught by the callers (a timer, a memory limit).

Mutations work on bytes (flip, delete, insert, duplicate, truncate, splice) and on tokens
(a number, a JSON value or an XML text replaced by a hostile value: NaN, 1e309, -1, huge
integers, empty strings, nested containers), so both the tokenizer and the record validation
are exercised.
"""

from __future__ import annotations

import functools
import json
import random
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detectkit.errors import DetectkitError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "formats"

HOSTILE = [
    b"-1",
    b"0",
    b"-0",
    b"1e309",
    b"-1e309",
    b"NaN",
    b"nan",
    b"Infinity",
    b"inf",
    b"1e-320",
    b"99999999999999999999999999",
    b"4294967296",
    b"2147483648",
    b"0.5",
    b"",
    b'""',
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"[[]]",
    b'{"a":1}',
    b'"x"',
    b"\xff\xfe",
    b"\x00",
    b"-",
    b".",
    b"1,2",
    b"[1e309]",
]
_TOKEN = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\"[^\"\n]{0,40}\"|>[^<\n]{1,40}<|true|false|null")


def mutate(data: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """Apply 1-4 random byte or token mutations to ``data`` (deterministic for a given ``rng``)."""
    buf = bytearray(data)
    for _ in range(rounds if rounds is not None else rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(buf)
        if op == 0 and n:  # flip bytes
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 1 and n:  # delete a slice
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, 64)]
        elif op == 2:  # insert random bytes
            i = rng.randrange(n + 1)
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3 and n:  # duplicate a slice
            i = rng.randrange(n)
            j = min(n, i + rng.randint(1, 256))
            buf[j:j] = buf[i:j] * rng.randint(1, 4)
        elif op == 4 and n:  # truncate
            del buf[rng.randrange(n) :]
        else:  # replace a token with a hostile value
            tokens = list(_TOKEN.finditer(bytes(buf)))
            if not tokens:
                continue
            m = rng.choice(tokens)
            value = rng.choice(HOSTILE)
            if m.group().startswith(b">"):
                value = b">" + value + b"<"
            buf[m.start() : m.end()] = value
    return bytes(buf)


# ---------------------------------------------------------------- targets: (seed bytes, run(folder, data))
def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png(w: int = 8, h: int = 6) -> bytes:
    import cv2

    ok, enc = cv2.imencode(".png", np.full((h, w, 3), 127, np.uint8))
    assert ok
    return enc.tobytes()


def _coco(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.formats import coco

    path = _write(folder / "ann.json", data)
    return path, lambda: coco.read(path)


_RESULTS_SEED = json.dumps(
    [
        {"image_id": 3, "category_id": 1, "bbox": [1.5, 2.0, 10.0, 12.25], "score": 0.9},
        {"image_id": 8, "category_id": 18, "bbox": [0, 0, 4, 4], "score": 0.25},
        {
            "image_id": 11,
            "category_id": 90,
            "bbox": [100, 200, 30.5, 40],
            "score": 0.5,
            "segmentation": [[1, 1, 5, 1, 5, 5]],
        },
    ]
).encode()


def _coco_results(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.formats import coco

    gt = coco.read(DATA / "coco_golden.json")
    path = _write(folder / "results.json", data)
    return path, lambda: coco.read_results(path, dataset=gt)


_YOLO_LABELS = {
    "detect": b"0 0.5 0.5 0.25 0.5\n1 0.1 0.2 0.05 0.1\n2 0.9 0.9 0.2 0.2\n",
    "segment": b"0 0.1 0.1 0.4 0.1 0.4 0.5 0.1 0.5\n1 0.5 0.5 0.9 0.5 0.7 0.9\n",
    "obb": b"0 0.1 0.1 0.4 0.1 0.4 0.5 0.1 0.5\n2 0.5 0.5 0.9 0.6 0.8 0.9 0.4 0.8\n",
}


def _yolo(task: str, mutate_yaml: bool) -> Callable[[Path, bytes], tuple[Path, Any]]:
    def run(folder: Path, data: bytes) -> tuple[Path, Any]:
        from detectkit.formats import yolo

        _write(folder / "images" / "a.png", _png())
        yaml_bytes = f"path: .\ntrain: images\nval: images\ntask: {task}\nnames:\n  0: a\n  1: b\n  2: c\n".encode()
        labels = _YOLO_LABELS[task]
        if mutate_yaml:
            yaml_bytes = data
        else:
            labels = data
        _write(folder / "labels" / "a.txt", labels)
        path = _write(folder / "data.yaml", yaml_bytes)
        return (path if mutate_yaml else folder / "labels" / "a.txt"), lambda: yolo.read(folder, task=task)

    return run


def _voc(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.formats import voc

    path = _write(folder / "Annotations" / "000001.xml", data)
    return path, lambda: voc.read(folder)


def _labelme(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.formats import labelme

    path = _write(folder / "cat.json", data)
    return path, lambda: labelme.read(folder)


def _cvat(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.formats import cvat

    path = _write(folder / "annotations.xml", data)
    return path, lambda: cvat.read(path)


def _mot(suffix: str) -> Callable[[Path, bytes], tuple[Path, Any]]:
    def target(folder: Path, data: bytes) -> tuple[Path, Any]:
        from detectkit.metrics.mot import evaluate_mot, load_mot

        path = _write(folder / f"seq{suffix}", data)

        def call() -> Any:
            seq = load_mot(path, ground_truth=suffix == ".txt")
            return evaluate_mot(seq, seq)  # the metrics must take whatever the reader accepted

        return path, call

    return target


_MOT_TEXT = (
    b"1,1,10,20,30,40,1,1,1\n1,2,50.5,60,20,20,1,1,0.8\n2,1,12,21,30,40,1,1,1\n"
    b"2,2,52,61,20,20,0,1,1\n3,1,14,22,30,40,1,-1,-1,-1\n"
)
_MOT_JSONL = (
    b'{"frame_index": 0, "detections": {"xyxy": [[10, 20, 40, 60]], "confidence": [0.9], '
    b'"class_id": [0], "tracker_id": [1]}}\n'
    b'{"frame_index": 1, "detections": {"xyxy": [[12, 21, 42, 61], [50, 60, 70, 80]], '
    b'"confidence": [0.8, 0.7], "class_id": [0, 1], "tracker_id": [1, 2]}}\n'
)


def _image_file(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.image import load_image

    path = _write(folder / "img.bin", data)
    return path, lambda: load_image(path)


def _image_size(folder: Path, data: bytes) -> tuple[Path, Any]:
    from detectkit.image import image_size_wh

    path = _write(folder / "img.bin", data)
    return path, lambda: image_size_wh(path)


def _image_seeds() -> list[bytes]:
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    seeds = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {}), ("BMP", {}), ("WEBP", {}), ("TIFF", {})):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt, **kw)
        seeds.append(buf.getvalue())
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated JPEG
    Image.fromarray(arr).save(buf, format="JPEG", exif=exif.tobytes())
    seeds.append(buf.getvalue())
    return seeds


@functools.cache
def seeds(target: str) -> list[bytes]:
    """The real files a target's mutations start from."""
    if target == "coco":
        return [(DATA / "coco_golden.json").read_bytes()]
    if target == "coco_results":
        return [_RESULTS_SEED]
    if target.startswith("yolo_"):
        task = target.split("_")[1]
        if target.endswith("_yaml"):
            head = f"path: .\ntrain: images\nval: images\ntask: {task}\n"
            return [f"{head}names:\n  0: a\n  1: b\n  2: c\n".encode(), f"{head}nc: 3\n".encode()]
        return [_YOLO_LABELS[task]]
    if target == "voc":
        return [p.read_bytes() for p in sorted((DATA / "voc_sample" / "Annotations").glob("*.xml"))]
    if target == "labelme":
        return [(DATA / "labelme_sample" / "cat.json").read_bytes()]
    if target == "cvat":
        return [(DATA / "cvat_sample.xml").read_bytes()]
    if target in ("load_image", "image_size_wh"):
        return _image_seeds()
    if target == "mot_text":
        return [_MOT_TEXT]
    if target == "mot_jsonl":
        return [_MOT_JSONL]
    raise KeyError(target)


TARGETS: dict[str, Callable[[Path, bytes], tuple[Path, Any]]] = {
    "coco": _coco,
    "coco_results": _coco_results,
    "yolo_detect": _yolo("detect", False),
    "yolo_segment": _yolo("segment", False),
    "yolo_obb": _yolo("obb", False),
    "yolo_detect_yaml": _yolo("detect", True),
    "voc": _voc,
    "labelme": _labelme,
    "cvat": _cvat,
    "load_image": _image_file,
    "image_size_wh": _image_size,
    "mot_text": _mot(".txt"),
    "mot_jsonl": _mot(".jsonl"),
}


class CrashError(AssertionError):
    """A fuzz input produced an outcome other than a result or a typed error naming the file."""


def run_target(target: str, folder: Path, data: bytes) -> str:
    """Run one input; returns ``"ok"`` or ``"typed"``, raises :class:`CrashError` otherwise."""
    path, call = TARGETS[target](folder, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except DetectkitError as exc:
        text = str(exc)
        if path.name not in text and folder.name not in text and str(folder) not in text:
            raise CrashError(
                f"{target}: {type(exc).__name__} does not name the file {path.name}: {text[:300]}"
            ) from exc
        return "typed"
    except Exception as exc:
        raise CrashError(f"{target}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return "ok"
