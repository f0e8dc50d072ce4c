"""Tests for OpenVINO's compiled-model cache (detectkit.models.openvino_runtime.CompiledModelCache):
imports instead of compiles, identical outputs, bad entries, one compiler per entry, opt-out."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

from detectkit.image import letterbox, load_image
from detectkit.models import openvino_runtime
from detectkit.models.openvino_runtime import (
    CompiledModelCache,
    OpenVinoSession,
    cache_folder,
    compiled_cache,
    static_shapes_only,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


@pytest.fixture(autouse=True)
def _no_env_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DETECTKIT_OPENVINO_CACHE_DIR", raising=False)


def _inputs(n: int = 12) -> list[np.ndarray]:
    """Letterboxed uint8 BGR inputs of at least two shapes."""
    out = [letterbox(load_image(p), (416, 416), auto=True, stride=32).image[None] for p in SAMPLES[:n]]
    assert len({x.shape for x in out}) >= 2
    return out


def _session(path: Path, folder: Path | None) -> OpenVinoSession:
    """A batch worker's session: every shape static from its first input, cache in ``folder``."""
    with static_shapes_only(), compiled_cache(folder):
        return OpenVinoSession(path, kind="bgr")


def _outputs(session: OpenVinoSession, inputs: list[np.ndarray]) -> list[bytes]:
    return [session.run_bgr(x)[0].tobytes() for x in inputs]


def test_second_session_imports_with_identical_outputs_and_no_model_read(demo_onnx: Path, tmp_path: Path) -> None:
    inputs = _inputs()
    shapes = len({x.shape for x in inputs})
    plain = _outputs(_session(demo_onnx, None), inputs)  # no cache: compiled as always
    first = _session(demo_onnx, tmp_path / "cache")
    assert first.cache is not None
    cold = _outputs(first, inputs)
    assert (first.cache.compiled, first.cache.imported) == (shapes, 0)
    assert len(list((tmp_path / "cache").glob("*.blob"))) == shapes
    second = _session(demo_onnx, tmp_path / "cache")
    assert second._model_read is None  # inputs, outputs and metadata came from the cache: no read_model
    assert second.metadata == first.metadata
    assert second.get_inputs()[0].shape == first.get_inputs()[0].shape
    warm = _outputs(second, inputs)
    assert second.cache is not None
    assert (second.cache.compiled, second.cache.imported) == (0, shapes)
    assert second._model_read is None  # nothing had to be compiled
    assert warm == cold == plain  # bit for bit: an imported model computes what a fresh compile does


def test_key_depends_on_model_shape_and_config(demo_onnx: Path, tmp_path: Path) -> None:
    import openvino as ov

    core = ov.Core()
    cache = CompiledModelCache(tmp_path, core, [demo_onnx])
    base = cache.key(kind="bgr", shape=[1, 416, 416, 3], config={"PERFORMANCE_HINT": "LATENCY"})
    assert base == cache.key(kind="bgr", shape=[1, 416, 416, 3], config={"PERFORMANCE_HINT": "LATENCY"})
    assert base != cache.key(kind="bgr", shape=[1, 416, 352, 3], config={"PERFORMANCE_HINT": "LATENCY"})
    assert base != cache.key(kind="nchw", shape=[1, 416, 416, 3], config={"PERFORMANCE_HINT": "LATENCY"})
    f32 = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    assert base != cache.key(kind="bgr", shape=[1, 416, 416, 3], config=f32)
    other = tmp_path / "other.onnx"
    other.write_bytes(demo_onnx.read_bytes() + b"\0")
    assert CompiledModelCache(tmp_path, core, [other]).model_digest != cache.model_digest


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage"])
def test_bad_entry_is_ignored_and_rewritten(demo_onnx: Path, tmp_path: Path, damage: str) -> None:
    x = _inputs()[0]
    folder = tmp_path / "cache"
    good = _outputs(_session(demo_onnx, folder), [x])
    (blob,) = folder.glob("*.blob")
    data = blob.read_bytes()
    if damage == "truncated":  # e.g. a disk that filled up under another tool
        blob.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        blob.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    else:
        blob.write_bytes(b"not a blob")
    again = _session(demo_onnx, folder)
    assert _outputs(again, [x]) == good
    assert again.cache is not None
    assert (again.cache.compiled, again.cache.imported) == (1, 0)
    third = _session(demo_onnx, folder)
    assert _outputs(third, [x]) == good
    assert third.cache is not None
    assert (third.cache.compiled, third.cache.imported) == (0, 1)
    assert not list(folder.glob("*.tmp"))


def test_cache_off_and_unwritable_folder_still_run(
    demo_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _inputs()[0]
    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", "off")
    with compiled_cache(tmp_path / "cache"):
        assert cache_folder() is None
    off = _session(demo_onnx, tmp_path / "cache")
    assert off.cache is None
    assert not (tmp_path / "cache").exists()
    reference = _outputs(off, [x])
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file, not a folder")
    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_DIR", str(not_a_folder))  # the env var wins over the block
    with compiled_cache(tmp_path / "cache"):
        assert cache_folder() == not_a_folder
    broken = _session(demo_onnx, None)
    assert broken.cache is not None
    assert _outputs(broken, [x]) == reference  # nothing could be written: compiled, as without a cache
    assert broken.cache.compiled == 1
    assert not_a_folder.read_text() == "a file, not a folder"


def test_prepare_compiles_ahead_and_skips_shapes_another_process_compiles(demo_onnx: Path, tmp_path: Path) -> None:
    inputs = _inputs()
    shapes = list(dict.fromkeys(x.shape for x in inputs))
    reference = _outputs(_session(demo_onnx, None), inputs)
    session = _session(demo_onnx, tmp_path / "cache")
    cache = session.cache
    assert cache is not None
    busy = cache.key(kind="bgr", shape=list(shapes[0]), config=session._config)
    with cache.lock(busy) as held:  # "another process" compiling the first shape (a second lock file handle)
        assert held is True
        assert session.prepare(shapes) == len(shapes) - 1  # that one is left to it
    assert ("bgr", shapes[0]) not in session._shaped
    assert cache.compiled == len(shapes) - 1
    assert _outputs(session, inputs) == reference  # the first shape compiled on demand; same outputs
    assert cache.compiled == len(shapes)
    plain = OpenVinoSession(demo_onnx, kind="bgr")  # a Detector's session: shapes only get static models on reuse
    assert plain.prepare(shapes) == 0
    assert not plain._shaped


def _compile_in_child(path: str, folder: str, shape: tuple[int, ...], start: object) -> tuple[int, int, bytes]:
    start.wait()  # type: ignore[attr-defined]
    with static_shapes_only(), compiled_cache(folder):
        session = OpenVinoSession(path, kind="bgr")
    out = session.run_bgr(np.full(shape, 114, np.uint8))[0].tobytes()
    assert session.cache is not None
    return session.cache.compiled, session.cache.imported, out


@pytest.mark.slow
def test_concurrent_processes_compile_an_entry_once(demo_onnx: Path, tmp_path: Path) -> None:
    """Three processes wanting the same shape at the same moment: one compiles it, the others
    wait for its lock and import the entry; all three compute the same bytes."""
    shape = (1, 416, 416, 3)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(3) as pool:
            jobs = [
                pool.apply_async(_compile_in_child, (str(demo_onnx), str(tmp_path / "cache"), shape, start))
                for _ in range(3)
            ]
            start.set()
            results = [job.get(timeout=300) for job in jobs]
    assert sorted((c, i) for c, i, _ in results) == [(0, 1), (0, 1), (1, 0)]
    assert len({out for _, _, out in results}) == 1
    assert len(list((tmp_path / "cache").glob("*.blob"))) == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_lock_timeout_goes_on_without_the_lock(
    demo_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process holding an entry's lock for ever (hung) delays others by ``_LOCK_TIMEOUT`` at most."""
    import openvino as ov

    monkeypatch.setattr(openvino_runtime, "_LOCK_TIMEOUT", 0.2)
    cache = CompiledModelCache(tmp_path, ov.Core(), [demo_onnx])
    with cache.lock("k") as first:
        assert first is True
        with cache.lock("k", timeout=0) as now:
            assert now is None
        with cache.lock("k") as later:
            assert later is False  # waited 0.2 s, then went on
        assert cache.get("k", {}, lambda: pytest.fail("must not compile"), wait=False) is None


def test_temporary_files_of_killed_writers_are_swept(demo_onnx: Path, tmp_path: Path) -> None:
    """A worker killed while writing an entry leaves its temporary file; the next write removes
    it once it is old (never a file another process may still be writing)."""
    import os
    import time

    folder = tmp_path / "cache"
    folder.mkdir()
    old, fresh = folder / ".abc-1.tmp", folder / ".abc-2.tmp"
    old.write_bytes(b"half a blob")
    fresh.write_bytes(b"being written")
    hour_ago = time.time() - 2 * 3600
    os.utime(old, (hour_ago, hour_ago))
    session = _session(demo_onnx, folder)
    _outputs(session, _inputs()[:1])  # compiles and writes one entry
    assert not old.exists()
    assert fresh.exists()
    assert len(list(folder.glob("*.blob"))) == 1


def test_cache_size_is_bounded_least_recently_used_first(
    demo_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``$DETECTKIT_OPENVINO_CACHE_MAX_MB`` the least recently used blobs are deleted after a
    write (an import counts as a use; the entry just written is kept); the sessions still answer."""
    import os
    import time

    folder = tmp_path / "cache"
    inputs = _inputs()
    shapes = {}
    for x in inputs:
        shapes.setdefault(x.shape, x)
    first, second = list(shapes.values())[:2]
    session = _session(demo_onnx, folder)
    _outputs(session, [first])
    blobs = list(folder.glob("*.blob"))
    assert len(blobs) == 1
    size = blobs[0].stat().st_size
    old = time.time() - 3600
    os.utime(blobs[0], (old, old))
    monkeypatch.setenv("DETECTKIT_OPENVINO_CACHE_MAX_MB", str(max(1, (size * 3 // 2) >> 20)))
    assert openvino_runtime.cache_max_bytes() < 2 * size  # room for one blob, not two
    reference = _outputs(_session(demo_onnx, None), [second])
    assert _outputs(_session(demo_onnx, folder), [second]) == reference  # writes the second blob
    left = list(folder.glob("*.blob"))
    assert len(left) == 1
    assert left[0] != blobs[0]  # the older one went; the one just written stays
    cache = CompiledModelCache(folder, openvino_runtime.import_openvino().Core(), [demo_onnx])
    assert cache.trim(max_bytes=0, keep=left[0].stem) == 0  # never the entry kept
    assert cache.trim(max_bytes=0) == 1
    assert list(folder.glob("*.blob")) == []
