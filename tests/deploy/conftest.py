"""Fixtures of the deployment checks: the tools (built into .local/tools/bin by
scripts/bootstrap.sh), the chart rendered with each values file, compose's model as compose-go
loads it, and the local suite's list of processes (deploy/local/suite.py, the authority)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".local" / "tools" / "bin"
CHART = REPO / "deploy" / "helm"
COMPOSE_FILE = REPO / "docker-compose.yml"
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), which helm renders for
#: and kubernetes-validate checks against: appArmorProfile, the dispatcher's, is a field from 1.30.
KUBERNETES_VERSION = "1.30.0"
#: The values files the chart is checked with: its defaults, production's, and the trial
#: toggles (in-chart Kafka and Postgres, no network policies).
VALUES = {
    "default": [],
    "production": [CHART / "values-production.yaml"],
    "in-chart": [],
}
VALUE_SETS = {
    "in-chart": [
        "kafka.inChart.enabled=true",
        "postgres.inChart.enabled=true",
        "services.catalog.artifacts.persistentVolumeClaim.enabled=true",
        "gateway.ingress.enabled=true",
        "otelExporter=http://collector:4318/v1/traces",
    ]
}

sys.path.insert(0, str(REPO / "deploy" / "local"))
import suite  # noqa: E402  (deploy/local is no package: suite.py imports its sibling by name)


def tool(name: str) -> Path:
    path = TOOLS / name
    assert path.exists(), f"{path} is missing: `make bootstrap` builds it"
    return path


@dataclass(frozen=True)
class Rendered:
    """One `helm template` output: its text and its documents."""

    text: str
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.docs if d["kind"] == kind}


@pytest.fixture(scope="session", params=sorted(VALUES))
def case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def helm() -> Path:
    return tool("helm")


@pytest.fixture(scope="session")
def helm_args(case: str) -> list[str]:
    """The values files and --set flags of this case."""
    args = ["--kube-version", KUBERNETES_VERSION]
    args += [arg for f in VALUES[case] for arg in ("-f", str(f))]
    return args + [arg for s in VALUE_SETS.get(case, []) for arg in ("--set", s)]


_rendered: dict[str, Rendered] = {}


@pytest.fixture(scope="session")
def rendered(case: str, helm: Path, helm_args: list[str]) -> Rendered:
    if case not in _rendered:
        out = subprocess.run(
            [str(helm), "template", "opscenter", str(CHART), *helm_args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        _rendered[case] = Rendered(out, docs)
    return _rendered[case]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose-go (the Compose Specification's loader) reads it; it fails
    on anything the specification's schema refuses."""
    out = subprocess.run(
        [str(tool("compose-spec")), "--format", "json", str(COMPOSE_FILE)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    model: dict[str, Any] = json.loads(out)
    return model


@dataclass(frozen=True)
class Process:
    service: str
    role: str
    command: list[str]

    @property
    def name(self) -> str:
        return f"{self.service}-{self.role}"


@pytest.fixture(scope="session")
def processes() -> list[Process]:
    """Every process the local suite runs, with its command as a container runs it (the
    image's `python` in place of the local interpreter's path)."""
    inst = suite.Instance("test", "kafka:9092", "postgresql+asyncpg://u:p@h/db", "postgresql://h")
    found = []
    for service in suite.SERVICES:
        for role in suite.roles(service):
            command = suite.program(service, role, inst).command
            assert command[0] == sys.executable
            found.append(Process(service, role, ["python", *command[1:]]))
    return found
