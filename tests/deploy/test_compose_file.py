"""docker-compose.yml, loaded by compose-go (the Compose Specification's reference loader, which
`docker compose` v2 is built on): valid, hardened like the chart, started in the right order."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Process

REPO = Path(__file__).resolve().parents[2]


def test_the_validator_refuses_what_the_specification_refuses(tmp_path: Path) -> None:
    """The check can fail: a misspelt key is an error, as `docker compose config` says."""
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  api:\n    image: x\n    comand: [python]\n")
    validator = REPO / ".local" / "tools" / "bin" / "compose-spec"
    result = subprocess.run([str(validator), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "comand" in result.stderr + result.stdout


def test_service_processes_run_hardened(compose: dict[str, Any], processes: list[Process]) -> None:
    services = compose["services"]
    for proc in processes:
        spec = services[proc.name]
        assert spec["read_only"] is True, proc.name
        assert spec["cap_drop"] == ["ALL"], proc.name
        assert "no-new-privileges:true" in spec["security_opt"], proc.name
        if proc.role == "dispatcher":
            # The sandbox's needs (ADR 0015; docs/operator-guide.md), and nothing else.
            assert spec["user"] == "0:0"
            assert "SYS_ADMIN" in spec["cap_add"]
            continue
        assert spec["user"] == "10001:10001", proc.name
        assert "cap_add" not in spec, proc.name


def test_images_come_from_the_dockerfiles_targets(
    compose: dict[str, Any], processes: list[Process]
) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    services = compose["services"]
    for service in {p.service for p in processes}:
        build = services[f"migrate-{service}"]["build"]
        assert build["args"]["SERVICE"] == service
        assert f"AS {build['target']}" in dockerfile
        for proc in (p for p in processes if p.service == service):
            assert services[proc.name]["image"] == services[f"migrate-{service}"]["image"]
    assert "AS gateway" in dockerfile
    assert "uv sync --frozen" in dockerfile


def test_every_service_has_its_own_database(
    compose: dict[str, Any], processes: list[Process]
) -> None:
    init = (REPO / "deploy" / "local" / "docker-postgres-init.sql").read_text()
    for proc in processes:
        env = compose["services"][proc.name]["environment"]
        url = env[f"{proc.service.upper()}_DATABASE_URL"]
        assert url.endswith(f"@postgres:5432/opscenter_{proc.service}"), proc.name
        assert f"CREATE DATABASE opscenter_{proc.service} OWNER opscenter;" in init
