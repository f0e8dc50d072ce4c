"""Every subcommand against a table of bad arguments and bad files.

The contract (detectkit/cli/__init__.py): exit code 1 for input that cannot be used, 2 for a
bad command line; the reason is ONE line on stderr naming the file or flag; never a Python
traceback. ``main()`` runs in-process, so an uncaught exception fails the test as a
traceback would fail the user.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "formats" / "coco_golden.json"
SHAPES_VAL = ROOT / "datasets" / "shapes" / "annotations" / "instances_val.json"
PHOTO = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad files (and a few good ones) the table refers to by name."""
    root = tmp_path_factory.mktemp("bad")
    (root / "fake.jpg").write_text("not an image")
    (root / "x.pth").write_bytes(b"not a state dict")
    (root / "bad.onnx").write_bytes(b"not a protobuf")
    (root / "bad.pt").write_bytes(b"not a pickle")
    (root / "garbage.json").write_text("{not json")
    (root / "empty").mkdir()
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("keep")
    (root / "results").mkdir()
    (root / "results" / "detections.jsonl").write_text("{}\n")
    (root / "results" / "classifications.jsonl").write_text("{}\n")
    (root / "exists.json").write_text("{}")
    shutil.copy(PHOTO, root / "photo.jpg")
    shutil.copy(SHAPES_VAL, root / "instances.json")  # its images are not beside it
    return root


# (argv with {b} = the bad-files folder, expected exit code, a text the one error line must hold)
CASES: list[tuple[str, int, str]] = [
    # detect: models, devices, sources, outputs
    ("detect {b}/photo.jpg --model mobilenet_v2-imagenet", 1, "not a detector"),
    ("detect {b}/photo.jpg --model {b}/x.pth", 1, "x.pth"),
    ("detect {b}/photo.jpg --model {b}/fake.jpg", 1, "fake.jpg"),
    ("detect {b}/photo.jpg --model {b}/bad.onnx", 1, "bad.onnx"),
    ("detect {b}/photo.jpg --model {b}/bad.onnx --backend onnx", 1, "bad.onnx"),
    ("detect {b}/photo.jpg --model {b}/bad.pt", 1, "bad.pt"),
    ("detect {b}/photo.jpg --model no-such-model", 1, "no-such-model"),
    ("detect {b}/photo.jpg --model not-here.pt", 1, "(YOLO_OFFLINE is set: nothing is downloaded)"),
    ("detect {b}/photo.jpg --model not-here.pt", 1, "Pass a path to a .pt/.onnx/.yaml file"),
    ("serve --model not-here.pt", 1, "no such file for model 'not-here.pt'"),
    ("detect {b}/photo.jpg --device cuda", 2, "--device"),
    ("detect {b}/photo.jpg --device potato", 2, "--device"),
    ("detect {b}/photo.jpg --conf 2", 2, "--conf"),
    ("detect {b}/photo.jpg --imgsz 0", 2, "--imgsz"),
    ("detect {b}/photo.jpg --classes ,", 2, "--classes"),
    ("detect {b}/photo.jpg --classes giraffe", 2, "--classes"),
    ("detect {b}/photo.jpg --vid-stride 0", 2, "--vid-stride"),
    ("detect {b}/photo.jpg --save-images", 2, "--out"),
    ("detect {b}/photo.jpg --classifier demo-shapes", 1, "not a classifier"),
    ("detect {b}/photo.jpg --classifier {b}/x.pth", 1, "x.pth"),
    ("detect {b}/nope.jpg", 1, "nope.jpg"),
    ("detect {b}/fake.jpg", 1, "fake.jpg"),
    ("detect {b}/empty", 1, "holds no images"),
    ("detect {b}/photo.jpg --out {b}/results", 1, "--overwrite"),
    ("detect {b}/photo.jpg --out {b}/exists.json", 1, "is a file"),
    ("detect {b}/photo.jpg --save-dataset {b}/full", 1, "--overwrite"),
    ("detect {b}/photo.jpg --format pascal", 2, "--format"),
    ("detect", 2, "SOURCE"),
    # classify
    ("classify {b}/fake.jpg", 1, "fake.jpg"),
    ("classify {b}/empty", 1, "holds no images"),
    ("classify {b}/nope.jpg", 1, "nope.jpg"),
    ("classify {b}/photo.jpg --model demo-shapes", 1, "not a classifier"),
    ("classify {b}/photo.jpg --model {b}/x.pth", 1, "x.pth"),
    ("classify {b}/photo.jpg --model {b}/fake.jpg", 1, "fake.jpg"),
    ("classify {b}/photo.jpg --model {b}/bad.pt", 1, "bad.pt"),
    ("classify {b}/photo.jpg --device cuda", 2, "cuda"),
    ("classify {b}/photo.jpg --top-k 0", 2, "--top-k"),
    ("classify {b}/photo.jpg --threshold 0", 2, "--threshold"),
    ("classify {b}/photo.jpg --weights {b}/x.pth", 2, "--weights"),
    ("classify {b}/photo.jpg --out {b}/results", 1, "--overwrite"),
    # annotate
    ("annotate {b}/instances.json --out {b}/drawn", 2, "--images"),
    ("annotate {b}/nope.json --out {b}/drawn", 1, "nope.json"),
    ("annotate {b}/garbage.json --out {b}/drawn", 1, "garbage.json"),
    ("annotate {b}/instances.json --images {b}/nope --out {b}/drawn", 1, "--images"),
    ("annotate {b}/instances.json --limit -1 --out {b}/drawn", 2, "--limit"),
    ("annotate {b}/instances.json --out {b}/full", 1, "--overwrite"),
    ("annotate {b}/empty --out {b}/drawn", 1, "--format FORMAT"),
    # eval
    ("eval {b}/nope.json {b}/nope.json", 1, "nope.json"),
    ("eval {gold} {b}/garbage.json", 1, "garbage.json"),
    ("eval {gold} {gold} --iou 2", 2, "--iou"),
    ("eval {gold} {gold} --conf -1", 2, "--conf"),
    ("eval {gold} {gold} --plots {b}/full", 1, "--overwrite"),
    ("eval {b}/empty {gold}", 1, "cannot tell the annotation format of folder"),
    ("eval {b}/empty {gold}", 1, "pass --gt-format FORMAT"),
    ("eval {gold} {b}/empty", 1, "pass --pred-format FORMAT"),
    # convert
    ("convert {b}/nope.json {b}/o.json --to coco", 1, "nope.json"),
    ("convert {b}/garbage.json {b}/o.json --to coco", 1, "garbage.json"),
    ("convert {b}/empty {b}/o.json --to coco", 1, "--from FORMAT"),
    ("convert {gold} {b}/exists.json --to coco", 1, "--overwrite"),
    ("convert {gold} {b}/full --to yolo", 1, "--overwrite"),
    ("convert {gold} {b}/o.json --to coco --remap nonsense", 2, "--remap"),
    ("convert {gold} {b}/o.json --to pascal", 2, "--to"),
    ("convert {gold} {b}/o.json --to coco --keep giraffe", 2, "--keep: unknown class name 'giraffe'"),
    ("convert {gold} {b}/o.json", 2, "--to"),
    # validate / stats
    ("validate {b}/nope.json", 1, "nope.json"),
    ("validate {b}/garbage.json", 1, "garbage.json"),
    ("validate {b}/empty", 1, "--from FORMAT"),
    ("stats {b}/nope.json", 1, "nope.json"),
    ("stats {b}/garbage.json", 1, "garbage.json"),
    ("stats {gold} --keep", 2, "--keep"),
    # split
    ("split {gold} {b}/s --train 0.9 --val 0.5", 2, "add up to 1"),
    ("split {gold} {b}/s --train 1.5 --val 0", 2, "--train"),
    ("split {gold} {b}/s --val -0.2 --train 1.2", 2, "--train"),
    ("split {gold} {b}/full", 1, "--overwrite"),
    ("split {b}/garbage.json {b}/s", 1, "garbage.json"),
    # merge
    ("merge {gold} -o {b}/m.json --to coco", 1, "two"),
    ("merge {gold} {gold} -o {b}/exists.json --to coco", 1, "--overwrite"),
    ("merge {gold} {b}/nope.json -o {b}/m.json --to coco", 1, "nope.json"),
    # train / export / augment-preview
    ("train detector {b}/nope.json", 1, "nope.json"),
    ("train detector {b}/empty", 1, "--format FORMAT"),
    ("train detector {gold} --epochs 0", 2, "--epochs"),
    ("train detector {gold} --epochs 1", 1, "pass --val DATASET (a separate val dataset) or set --val-split higher"),
    ("train classifier {b}/empty", 1, "class sub-folders"),
    ("export {b}/nope.pt", 1, "nope.pt"),
    ("export demo-shapes --int8", 2, "--calibration"),
    ("export demo-shapes --imgsz 8 --out {b}/x.onnx", 1, "--imgsz must be an int >= 32"),
    ("detect {b}/photo.jpg --slice 5", 2, "at least 32 px per side"),
    ("augment-preview {b}/nope", 1, "nope"),
    # serve: a bad model or option fails before the server binds a port
    ("serve --port 0", 2, "--port"),
    ("serve --conf 2", 2, "--conf"),
    ("serve --max-bytes 0", 2, "--max-bytes must be a positive int, got 0"),
    ("serve --torch-threads -1", 2, "--torch-threads must be 0 (as in-process) or a positive integer"),
    ("serve --model {b}/fake.jpg", 1, "fake.jpg"),
    ("serve --model mobilenet_v2-imagenet", 1, "not a detector"),
    # anonymize / robustness
    ("anonymize {b}/photo.jpg --out {b}/an --padding -1", 2, "padding"),
    ("anonymize {b}/fake.jpg --out {b}/an2", 1, "fake.jpg"),
    ("robustness mobilenet_v2-imagenet {b}/nope --out {b}/r", 2, "nope"),
    ("robustness mobilenet_v2-imagenet {b}/empty --out {b}/r2", 2, "holds no images"),
    ("robustness demo-shapes {b}/empty --out {b}/r3 --eps x", 2, "--eps"),
]


def test_every_subcommand_has_bad_input_rows() -> None:
    from detectkit.cli import COMMANDS

    covered = {case[0].split()[0] for case in CASES}
    assert set(COMMANDS) <= covered, set(COMMANDS) - covered


@pytest.mark.parametrize(("command", "code", "needle"), CASES, ids=[c[0].replace("{b}/", "") for c in CASES])
def test_bad_input_one_line_no_traceback(
    bad: Path, capsys: pytest.CaptureFixture[str], command: str, code: int, needle: str
) -> None:
    argv = command.format(b=bad, gold=GOLDEN).split()
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        got = int(exc.code or 0)
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    assert " object at 0x" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert needle in errors[0], errors[0]
    # nothing named by the library's Python parameters where the CLI has a flag for it
    for param in ("format=", "images=", "overwrite=", "task=", "device=", "conf="):
        assert param not in errors[0], errors[0]


def test_outputs_are_checked_before_any_work(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The output clash is found before the detector is even built (a bad model never loads)."""
    assert (
        main(["detect", str(bad / "photo.jpg"), "--model", str(bad / "bad.pt"), "--save-dataset", str(bad / "full")])
        == 1
    )
    assert "--save-dataset" in capsys.readouterr().err
    assert (bad / "full" / "keep.txt").read_text() == "keep"


def test_overwrite_flag_replaces_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "labels"
    out.mkdir()
    (out / "old.txt").write_text("old")
    argv = ["detect", str(PHOTO), "--save-dataset", str(out), "--format", "yolo", "-q"]
    assert main(argv) == 1
    assert main([*argv, "--overwrite"]) == 0
    assert not (out / "old.txt").exists()
    assert (out / "results.json").is_file()


def test_classify_and_detect_share_the_empty_folder_rule(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty folder next to a good image: the image is processed, the folder reported, exit 1."""
    for command in ("detect", "classify"):
        assert main([command, str(bad / "empty"), str(bad / "photo.jpg"), "-q"]) == 1
        err = capsys.readouterr().err
        assert "holds no images" in err


def test_convert_notes_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A summary note written with a Python parameter comes out with the flag."""
    import json

    payload = json.loads(GOLDEN.read_text())
    assert any(a.get("segmentation") for a in payload["annotations"])
    assert main(["convert", str(GOLDEN), str(tmp_path / "y"), "--to", "yolo"]) == 0
    out = capsys.readouterr().out
    assert "--task segment" in out
    assert "task='segment'" not in out


def test_help_texts_are_plain(capsys: pytest.CaptureFixture[str]) -> None:
    from detectkit.cli import COMMANDS

    for command in COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text, command
        assert ":func:`" not in text, command
        assert ":class:`" not in text, command
        assert command in text


def test_split_accepts_fractions_that_add_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", str(GOLDEN), str(tmp_path / "s"), "--train", "0.7", "--val", "0.2", "--test", "0.1"]) == 0


def test_annotate_with_images_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = ROOT / "datasets" / "shapes" / "images" / "val"
    assert (
        main(
            [
                "annotate",
                str(SHAPES_VAL),
                "--images",
                str(images),
                "--out",
                str(tmp_path / "d"),
                "--limit",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "d").glob("*.jpg"))) == 2
    image = cv2.imread(str(next((tmp_path / "d").glob("*.jpg"))))
    assert isinstance(image, np.ndarray)


@pytest.mark.slow
def test_fresh_process_prints_one_line(bad: Path) -> None:
    """As a user runs it (a new interpreter, ``python -m detectkit``): one line, no object reprs."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv, needle in ((["classify", str(bad / "fake.jpg"), "-q"], "fake.jpg"),):
        proc = subprocess.run(
            [sys.executable, "-m", "detectkit", *argv], capture_output=True, text=True, env=env, timeout=120
        )
        assert proc.returncode == 1, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr
        assert needle in lines[0]
        assert "object at 0x" not in lines[0]
        assert "Traceback" not in proc.stderr


def test_library_warnings_print_as_one_plain_line(tmp_path: Path) -> None:
    """A Python warning reaching the CLI is one ``warning: ...`` line, without the source line of
    code ``warnings`` prints by default (``train`` reads the dataset through the library)."""
    import subprocess
    import sys

    src = tmp_path / "voc"
    src.mkdir()
    (src / "b.xml").write_text("not XML\n")
    (src / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size></annotation>"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "detectkit",
            "train",
            "detector",
            str(src),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"warning: {src}: skipped 1 bad record(s): {src / 'b.xml'}:1: error: invalid XML"), lines
    assert "UserWarning" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_torch_threads_flag_reaches_the_config() -> None:
    from detectkit.cli import build_parser
    from detectkit.cli.serve import config_from_args

    args = build_parser("serve").parse_args(["serve", "--torch-threads", "2"])
    assert config_from_args(args).torch_threads == 2
    args = build_parser("serve").parse_args(["serve"])
    assert config_from_args(args).torch_threads == 0  # $DETECTKIT_SERVE_TORCH_THREADS unset: as in-process
