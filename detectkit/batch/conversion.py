"""``convert`` on an engine: the conversion runs as one task where the engine runs it.

Measured idle on a 2-core machine (``benchmarks/bench_scale.py --convert 20000``,
``docs/scale-out.md``): one process reads 20,000 per-image files at about 14,000 files/s
(YOLO label folder, one vectorised pass), 7,900 (LabelMe) and 2,600 (VOC), against about 5 s
before a local Ray runs its first task. The parsing is therefore **not** split into shards:
``--engine local`` is the plain in-process conversion, and ``--engine ray`` runs that same
conversion as a single Ray task (next to the data, on a node that mounts it, from a laptop
driver), byte-identical either way. A sharded read would pay on a cluster past some tens of
thousands of VOC/LabelMe files; it needs those readers split into a per-file parser and an
assembler (in ``detectkit.formats``) and is not done.

>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> summary = convert("datasets/shapes/annotations/instances_val.json", tmp / "yolo", to="yolo", engine="local")
>>> (tmp / "yolo" / "data.yaml").exists()
True
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Mapping
from typing import Any

from detectkit._checks import check_choice
from detectkit.formats import ConvertSummary

__all__ = ["convert", "run_convert_args"]


def _convert_here(cwd: str, src: str, dst: str, options: dict[str, Any]) -> ConvertSummary:
    from detectkit.formats import convert as convert_formats

    os.chdir(cwd)
    return convert_formats(src, dst, **options)


def _run_remote(
    func: Any, *args: Any, address: str | None, runtime_env: Mapping[str, Any] | None, timeout: float | None
) -> Any:
    from detectkit.batch.ray_engine import import_ray
    from detectkit.errors import DetectkitError

    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address is None:
            init["num_cpus"] = 1
        else:
            init["address"] = address
        if runtime_env:
            init["runtime_env"] = dict(runtime_env)
        ray.init(**init)
        started_here = True
    try:
        ref = ray.remote(num_cpus=1, max_retries=1)(func).remote(*args)
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            raise DetectkitError(f"the conversion did not finish in {timeout:.0f} s on the Ray cluster") from None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            if isinstance(cause, DetectkitError):
                raise cause from None
            raise DetectkitError(f"the conversion failed on the Ray cluster: {exc}") from None
    finally:
        if started_here:
            ray.shutdown()


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str,
    engine: str = "local",
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    stall_timeout: float | None = None,
    **options: Any,
) -> ConvertSummary:
    """Convert a dataset like :func:`detectkit.formats.convert`, on the local machine or as a Ray task.

    Args:
        src, dst, to: as :func:`detectkit.formats.convert` (``options`` too: ``from_``,
            ``images``, ``copy_images``, ``strict``, ``overwrite``, ...).
        engine: ``"local"`` (in this process) or ``"ray"`` (one task on the cluster; paths
            must be valid there).
        address: Ray cluster to join (None starts a local Ray).
        runtime_env: Ray runtime environment.
        stall_timeout: give up after this many seconds (None: no limit).
    """
    check_choice(engine, "engine", ("local", "ray"))
    options = {"to": to, **options}
    cwd = os.getcwd()
    if engine == "local":
        from detectkit.formats import convert as convert_formats

        return convert_formats(src, dst, **options)
    result: ConvertSummary = _run_remote(
        _convert_here,
        cwd,
        os.fspath(src),
        os.fspath(dst),
        options,
        address=address,
        runtime_env=runtime_env,
        timeout=stall_timeout,
    )
    return result


def _cli_task(cwd: str, args: argparse.Namespace) -> tuple[int, str, str]:
    """Run ``detectkit convert`` (without ``--engine``) with its output captured."""
    from detectkit.cli import UsageError
    from detectkit.cli import convert as cli_convert
    from detectkit.errors import DetectkitError, InvalidInputError

    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = int(cli_convert.run(args))
        except InvalidInputError as exc:  # what detectkit.cli.main reports, reported the same way
            print(f"detectkit convert: error: {exc}", file=sys.stderr)
            code = 2 if isinstance(exc, UsageError) else 1
        except DetectkitError as exc:
            print(f"detectkit convert: error: {exc}", file=sys.stderr)
            code = 1
    return code, out.getvalue(), err.getvalue()


def run_convert_args(args: argparse.Namespace) -> int:
    """``detectkit convert ... --engine local|ray``: the plain conversion, here or as a Ray task."""
    plain = argparse.Namespace(**{**vars(args), "engine": None})
    if args.engine == "local":
        from detectkit.cli import convert as cli_convert

        return int(cli_convert.run(plain))
    code, out, err = _run_remote(
        _cli_task, os.getcwd(), plain, address=args.address, runtime_env=None, timeout=args.stall_timeout
    )
    sys.stdout.write(out)
    sys.stderr.write(err)
    return int(code)
