"""``detectkit.serve``: an HTTP API and a web page over the library (FastAPI + uvicorn).

Install the ``serve`` extra (``pip install 'detectkit[serve]'``), then either run
``detectkit serve`` or build the app yourself:

>>> from detectkit.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig(max_bytes=5_000_000))
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)

A thin layer: nothing below ``detectkit/serve`` imports it. FastAPI is imported only when an app is
built, so ``import detectkit.serve`` works without the extra and :func:`create_app` then raises
:class:`~detectkit.errors.MissingDependencyError` naming it.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from detectkit.errors import MissingDependencyError
from detectkit.serve.config import ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServeConfig", "create_app", "require_serve_extra", "run"]


def require_serve_extra() -> None:
    """Raise :class:`MissingDependencyError` unless FastAPI, uvicorn and python-multipart import.

    >>> require_serve_extra()  # silent when the extra is installed
    """
    for module, package in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("python_multipart", "python-multipart")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(package, extra="serve", purpose="detectkit serve (the HTTP API)")


def create_app(config: ServeConfig | None = None, **kwargs: Any) -> FastAPI:
    """The FastAPI app (see :func:`detectkit.serve.app.create_app`).

    Raises:
        MissingDependencyError: the ``serve`` extra is not installed.
    """
    require_serve_extra()
    from detectkit.serve.app import create_app as _create

    return _create(config, **kwargs)


def run(
    config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "warning"
) -> None:
    """Serve ``config`` with uvicorn until interrupted (``workers`` processes, each loading its own models).

    With one process, models that fail to load stop the server and raise (a server that can
    never become ready should not sit on its port); worker processes log the error and keep
    answering ``/health`` and ``/ready`` (503 with the error).

    Raises:
        MissingDependencyError: the ``serve`` extra is not installed.
        ModelLoadError: the models failed to load (one process).
    """
    require_serve_extra()
    import uvicorn

    if workers == 1:
        failed: list[str] = []
        server: uvicorn.Server | None = None

        def stop(error: str) -> None:
            failed.append(error)
            if server is not None:
                server.should_exit = True

        app = create_app(config, on_load_error=stop)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False))
        server.run()
        if failed:
            from detectkit.errors import ModelLoadError

            raise ModelLoadError(f"the models failed to load: {failed[0]}")
        return
    # several processes: each imports the app factory and reads the settings from the environment
    import os

    from detectkit.serve.config import to_environ

    os.environ.update(to_environ(config))
    uvicorn.run(
        "detectkit.serve.config:app_from_environ",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
