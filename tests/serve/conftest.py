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


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One real uvicorn server (default models) for the process and browser tests."""
    srv = Server()
    yield srv
    srv.stop()
