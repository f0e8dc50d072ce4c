"""Fixtures of the batch tests: worker processes that die when they load a model.

Ultralytics refuses a pickle that would run code when loaded (weights-only unpickling), so a
"crashing checkpoint" can no longer stand in for a worker that dies in native code. Instead a
``sitecustomize`` module on the workers' PYTHONPATH makes ``Detector(...)`` end the process while
a flag file exists: workers are new interpreters (spawn, Ray), so they pick the hook up at start.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

_HOOK = textwrap.dedent(
    '''
    """Test hook (tests/batch/conftest.py): Detector() ends the process while the flag file exists."""
    import builtins
    import os
    import sys

    _flag = os.environ.get("DETECTKIT_TEST_DIE_FLAG")
    if _flag:
        _real_import = builtins.__import__

        def _import(name, *args, **kwargs):
            module = _real_import(name, *args, **kwargs)
            cls = getattr(sys.modules.get("detectkit.models.detector"), "Detector", None)
            if cls is not None and not getattr(cls, "_dies_on_load", False):
                real_init = cls.__init__

                def init(self, *a, **k):
                    if os.path.exists(_flag):
                        os._exit(3)
                    real_init(self, *a, **k)

                cls.__init__ = init
                cls._dies_on_load = True
            return module

        builtins.__import__ = _import
    '''
)


@pytest.fixture(scope="session")
def die_hook(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(folder holding sitecustomize.py, flag file)``: put the folder on PYTHONPATH, set
    ``DETECTKIT_TEST_DIE_FLAG`` to the flag path, and create the flag to make workers die."""
    folder = tmp_path_factory.mktemp("die_hook")
    (folder / "sitecustomize.py").write_text(_HOOK)
    return folder, folder / "die.flag"


@pytest.fixture(autouse=True)
def _openvino_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch workers keep OpenVINO's compiled models in the user's cache by default: the tests
    (and the worker processes they start, which inherit the environment) use a folder of their own."""
    import os

    if not os.environ.get("DETECTKIT_OPENVINO_CACHE_DIR"):
        monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "openvino-compiled"))
