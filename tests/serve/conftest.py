"""Shared fixtures for the server tests: models loaded once, test clients, a real uvicorn process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient  # the serve extra is a test dependency: no skip without it

from detectkit.serve import ServeConfig, create_app
from tests.serve.helpers import Server


@pytest.fixture(scope="session")
def detector() -> Any:
    from detectkit import Detector

    return Detector()


@pytest.fixture(scope="session")
def classifier() -> Any:
    from detectkit.models.classifier import Classifier

    return Classifier()


@pytest.fixture
def make_client(detector: Any, classifier: Any) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**config)`` -> a started TestClient over the preloaded models."""
    clients: list[TestClient] = []

    def make(**kwargs: Any) -> TestClient:
        app = create_app(ServeConfig(**kwargs), detectors={"demo-shapes": detector}, classifier=classifier)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        assert app.state.detectkit.ready.wait(120), "the models did not load"
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client(detector: Any, classifier: Any) -> Iterator[TestClient]:
    """One started app (default settings, preloaded models) shared by a module's tests; a test that
    counts requests in ``/metrics`` makes its own with ``make_client``."""
    app = create_app(ServeConfig(), detectors={"demo-shapes": detector}, classifier=classifier)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.detectkit.ready.wait(120), "the models did not load"
        yield c


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One real uvicorn server (default models) for the process and browser tests."""
    srv = Server()
    yield srv
    srv.stop()
