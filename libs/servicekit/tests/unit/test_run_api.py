"""run_api: one process serves the factory's app; several uvicorn workers import it by name."""

from __future__ import annotations

import re
from typing import Any

import pytest
import uvicorn

from opscenter.servicekit.migrations import REPO_ROOT
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


def test_the_server_outlasts_the_gateways_idle_connections_and_answers_problems(served):
    run_api(app_factory, ServiceSettings())
    [(_, kw)] = served
    template = (REPO_ROOT / "deploy" / "local" / "nginx.conf.template").read_text()
    upstreams = re.findall(r"^ *upstream .*$", template, re.MULTILINE)
    gateway_idle = [re.search(r"keepalive_timeout (\d+)s;", u) for u in upstreams]
    assert upstreams
    assert all(gateway_idle), "every upstream sets its keepalive_timeout"
    assert all(int(m.group(1)) < kw["timeout_keep_alive"] for m in gateway_idle if m)
    assert kw["http"].__name__ == "ProblemHttpToolsProtocol"
