"""Package-level behaviour: public API, import cost and side effects, the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

import detectkit
from detectkit import errors


def test_public_api_resolves() -> None:
    for name in detectkit.__all__:
        assert getattr(detectkit, name) is not None, name


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        detectkit.nope  # noqa: B018


def test_import_is_light_and_side_effect_free() -> None:
    code = (
        "import sys, logging, warnings, numpy; before = dict(logging.root.manager.loggerDict); "
        "filters = list(warnings.filters); import detectkit; "
        "heavy = [m for m in ('torch', 'ultralytics', 'supervision', 'cv2', 'torchvision', 'matplotlib') "
        "if m in sys.modules]; "
        "assert not heavy, heavy; assert warnings.filters == filters; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_error_hierarchy() -> None:
    assert issubclass(errors.InvalidInputError, ValueError)
    assert issubclass(errors.InvalidInputError, errors.DetectkitError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    assert issubclass(errors.AnnotationParseError, errors.DetectkitError)
    assert issubclass(errors.ModelLoadError, errors.DetectkitError)
    err = errors.AnnotationParseError("a.json", "bad", record="annotations[3]")
    assert str(err) == "a.json [annotations[3]]: bad"
    assert err.record == "annotations[3]"
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)
    assert again.line is None


@pytest.mark.parametrize(("args", "code", "text"), [(["--version"], 0, "detectkit 0.1.0"), (["--help"], 0, "usage")])
def test_cli_entry_point(args: list[str], code: int, text: str) -> None:
    out = subprocess.run([sys.executable, "-m", "detectkit", *args], capture_output=True, text=True, check=False)
    assert out.returncode == code, out.stderr
    assert text in out.stdout


def test_cli_without_command_is_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "detectkit"], capture_output=True, text=True, check=False)
    assert out.returncode == 2
