"""run_api: one process serves the factory's app; several uvicorn workers import it by name."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from opscenter.servicekit.runtime import run_api
from opscenter.servicekit.settings import ServiceSettings


def app_factory() -> object:
    return object()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_one_process_serves_the_factory_itself(served):
    run_api(app_factory, ServiceSettings(http_port=8123))
    [(app, kw)] = served
    assert app is app_factory
    assert (kw["factory"], kw["workers"], kw["port"], kw["access_log"]) == (True, 1, 8123, False)


def test_worker_processes_import_the_factory_by_name(served):
    run_api(app_factory, ServiceSettings(http_workers=2))
    [(app, kw)] = served
    assert app == f"{__name__}:app_factory"
    assert (kw["factory"], kw["workers"]) == (True, 2)


def test_http_workers_must_be_positive():
    with pytest.raises(ValueError, match="http_workers"):
        ServiceSettings(http_workers=0)
