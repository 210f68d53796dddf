"""The three ways to run the suite run the same thing: every process deploy/local/suite.py runs
is a compose service and a Deployment of the chart, with the same command; all three serve the
gateway's one nginx template through the one renderer; the chart never scales a worker past
the partitions of the topics it consumes."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import opscenter.contracts as contracts
from opscenter.contracts.topics import topic_by_name

if TYPE_CHECKING:
    from conftest import Process, Rendered

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm"
DOCKERFILE = REPO / "Dockerfile"
RENDERER = REPO / "deploy" / "local" / "nginx-conf.sh"

sys.path.insert(0, str(REPO / "deploy" / "local"))
import suite  # noqa: E402


def test_compose_runs_every_process_with_the_local_command(
    compose: dict[str, Any], processes: list[Process]
) -> None:
    services = compose["services"]
    for proc in processes:
        assert proc.name in services, f"docker-compose.yml has no {proc.name}"
        assert services[proc.name]["command"] == proc.command, proc.name
    expected = {p.name for p in processes} | {f"migrate-{p.service}" for p in processes}
    expected |= {"postgres", "kafka", "otel-collector", "gateway"}
    assert set(services) == expected


def test_chart_has_a_deployment_per_process_with_the_local_command(
    rendered: Rendered, processes: list[Process]
) -> None:
    deployments = rendered.of_kind("Deployment")
    for proc in processes:
        deployment = deployments[f"opscenter-{proc.name}"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == proc.command, proc.name
    assert set(deployments) == {f"opscenter-{p.name}" for p in processes} | {"opscenter-gateway"}


def test_migrations_run_alembic_on_each_service_once_before_it_starts(
    compose: dict[str, Any], rendered: Rendered, processes: list[Process]
) -> None:
    jobs = rendered.of_kind("Job")
    for service in {p.service for p in processes}:
        command = ["alembic", "-c", f"services/{service}/alembic.ini", "upgrade", "head"]
        assert (REPO / "services" / service / "alembic.ini").exists()
        assert compose["services"][f"migrate-{service}"]["command"] == command
        job = jobs[f"opscenter-{service}-migrate"]
        assert job["spec"]["template"]["spec"]["containers"][0]["command"] == command
        assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    for proc in processes:
        needs = compose["services"][proc.name]["depends_on"]
        assert needs[f"migrate-{proc.service}"]["condition"] == "service_completed_successfully"


def test_compose_dependencies_exist_and_the_gateway_waits_for_every_api(
    compose: dict[str, Any], processes: list[Process]
) -> None:
    services = compose["services"]
    for name, spec in services.items():
        for needed in spec.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
    apis = {p.name for p in processes if p.role == "api"}
    assert set(services["gateway"]["depends_on"]) == apis
    for api in apis:
        assert "healthcheck" in services[api]


def test_compose_kafka_is_the_local_stacks_version(compose: dict[str, Any]) -> None:
    pom = (REPO / "deploy" / "local" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version is not None
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version[1]}"
    values = (CHART / "values.yaml").read_text()
    assert f"image: apache/kafka:{version[1]}" in values


def _render_gateway(env: dict[str, str]) -> str:
    env = {"PATH": os.environ["PATH"], **env}
    result = subprocess.run([str(RENDERER)], env=env, check=True, capture_output=True, text=True)
    return result.stdout


def _routes(conf: str) -> str:
    """The configuration less what differs by deployment on purpose: addresses and paths."""
    conf = re.sub(r"server \S+;", "server UPSTREAM;", conf)
    conf = re.sub(r"listen \S+;", "listen LISTEN;", conf)
    return re.sub(r"(pid|error_log|access_log|root|\w+_temp_path) /\S+", r"\1 PATH", conf)


def test_every_deployment_renders_the_same_gateway_config(
    compose: dict[str, Any], rendered: Rendered
) -> None:
    """Local, compose and chart fill the one template through the one script (the image's
    entrypoint runs it); what they configure differs only in addresses and paths."""
    dockerfile = DOCKERFILE.read_text()
    assert "COPY deploy/local/nginx.conf.template deploy/local/nginx-conf.sh" in dockerfile
    entrypoint = (REPO / "deploy" / "docker" / "gateway-entrypoint.sh").read_text()
    assert "nginx-conf.sh >" in entrypoint
    image_env = dict(re.findall(r"(GATEWAY_\w+)=(\S+)", dockerfile))

    inst = suite.Instance("test", "k", "postgresql+asyncpg://u:p@h/db", "postgresql://h")
    local = _render_gateway(suite.gateway_env(inst))
    compose_env = {**image_env, **compose["services"]["gateway"]["environment"]}
    (container,) = rendered.of_kind("Deployment")["opscenter-gateway"]["spec"]["template"]["spec"][
        "containers"
    ]
    chart_env = {**image_env, **{e["name"]: e["value"] for e in container["env"]}}
    for env in (compose_env, chart_env):
        # The rate limit is the operator's knob (gateway.rateLimitPerSecond): defaults here.
        routes_env = {k: v for k, v in env.items() if not k.startswith("GATEWAY_RATE_LIMIT_")}
        assert _routes(_render_gateway(routes_env)) == _routes(local)
    for service in suite.SERVICES:
        upstream = f"GATEWAY_{service.upper()}_UPSTREAM"
        assert compose_env[upstream] == f"{service}-api:8000"
        assert chart_env[upstream] == f"opscenter-{service}-api:8000"


def _consumed_topics(service: str) -> set[str]:
    """The topics a service's worker subscribes to, read from its `consumers()` calls: every
    `<TOPIC>.name` it names (ALL_TOPICS, which it only creates, is not a subscription)."""
    path = REPO / "services" / service / "src" / "opscenter" / service / "worker.py"
    tree = ast.parse(path.read_text())
    names = {
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "name"
        and isinstance(node.value, ast.Name)
        and node.value.id.isupper()
    }
    return {getattr(contracts, name).name for name in names}


def test_worker_autoscaling_is_bounded_by_partitions(
    rendered: Rendered, processes: list[Process]
) -> None:
    hpas = rendered.of_kind("HorizontalPodAutoscaler")
    for proc in processes:
        if proc.role != "worker":
            continue
        topics = _consumed_topics(proc.service)
        assert topics, f"{proc.service}'s worker consumes no topic?"
        partitions = max(topic_by_name(t).partitions for t in topics)
        hpa = hpas[f"opscenter-{proc.name}"]
        assert hpa["spec"]["maxReplicas"] <= partitions, (proc.name, partitions)
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
