"""Runs the whole suite locally without Docker: each service's API, worker and outbox relay,
and the nginx gateway in front of them, on top of `stack.sh` (Postgres and Kafka).

    uv run python deploy/local/suite.py up|down|status|url|metrics [--instance dev|test]

`up` creates each service's database when missing, applies its Alembic history, creates the
Kafka topics, has supervisord (`supervision.py`) run every process and waits until every API
answers /readyz through the gateway. A process that dies is started again by supervisord;
`status` shows each one's state, uptime and restarts. A second `up` changes nothing. Logs are in
`.local/<instance>/logs`, supervisord's own files in `.local/<instance>/supervisor`; `metrics`
prints where each process serves its Prometheus metrics (ADR 0023).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from supervision import Program, Supervisor

from opscenter.contracts import ALL_TOPICS
from opscenter.servicekit.kafka import ensure_topics

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "deploy" / "local" / "stack.sh"
# Renders deploy/local/nginx.conf.template; the gateway image runs the same script.
NGINX_CONF = REPO / "deploy" / "local" / "nginx-conf.sh"
# The web console's build (`make web`), served by the gateway at `/`.
WEB_DIST = REPO / "web" / "dist"
SERVICES = ("catalog", "installer", "hooks", "analytics", "reviews")
ROLES = ("api", "worker", "relay")
# Processes some services run besides those: hooks' dispatcher makes the webhook calls.
EXTRA_ROLES = {"hooks": ("dispatcher",)}


def roles(service: str) -> tuple[str, ...]:
    return ROLES + EXTRA_ROLES.get(service, ())


# Base HTTP ports per instance; service i listens on base + i, the gateway on base + 80.
HTTP_BASE = {"dev": 8100, "test": 8200}
# Prometheus ports of the processes that are not APIs (an API serves /metrics on its own port):
# base + 20 + 4 * service index + the role's place here.
METRICS_ROLES = ("worker", "relay", "dispatcher")


def metrics_port(name: str, service: str, role: str) -> int:
    place = 4 * SERVICES.index(service) + METRICS_ROLES.index(role)
    return HTTP_BASE[name] + 20 + place + _offset()


def metrics_urls(name: str) -> dict[str, str]:
    """Where each process of an instance serves its Prometheus metrics (never via the gateway)."""
    urls = {}
    for i, service in enumerate(SERVICES):
        for role in roles(service):
            port = (
                HTTP_BASE[name] + 1 + i + _offset()
                if role == "api"
                else metrics_port(name, service, role)
            )
            urls[f"{service}-{role}"] = f"http://127.0.0.1:{port}/metrics"
    return urls


@dataclass(frozen=True)
class Instance:
    name: str
    kafka_bootstrap: str
    database_url: str
    pg_admin_dsn: str

    @property
    def root(self) -> Path:
        return REPO / ".local" / self.name

    @property
    def gateway_port(self) -> int:
        return HTTP_BASE[self.name] + 80 + _offset()  # `url` prints the same

    def port(self, service: str) -> int:
        return HTTP_BASE[self.name] + 1 + SERVICES.index(service) + _offset()

    def service_db_url(self, service: str) -> str:
        return re.sub(r"/[^/]+$", f"/opscenter_{service}", self.database_url)

    def service_env(self, service: str) -> dict[str, str]:
        prefix = service.upper()
        env = {
            f"{prefix}_DATABASE_URL": self.service_db_url(service),
            f"{prefix}_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            f"{prefix}_HTTP_PORT": str(self.port(service)),
            f"{prefix}_LOG_LEVEL": "INFO",
            "INSTALLER_CATALOG_URL": f"http://127.0.0.1:{self.port('catalog')}",
            "CATALOG_ARTIFACT_ROOT": str(self.root / "artifacts"),
            "INSTALLER_INSTALL_ROOT": str(self.root / "installs"),
            # Hooks fetches and checks handler packages itself (its own store, as on a host
            # of its own), and keeps storage-granted handlers' folders.
            "HOOKS_CATALOG_URL": f"http://127.0.0.1:{self.port('catalog')}",
            "HOOKS_PACKAGE_ROOT": str(self.root / "hooks-packages"),
            "HOOKS_STORAGE_ROOT": str(self.root / "hooks-storage"),
            "HOOKS_INSTALL_ROOT": str(self.root / "installs"),
            # The web console's development sign-in (servicekit devsignin.py), on the catalog
            # only, which the gateway routes /api/v1/dev/sign-in to. Production refuses it.
            "CATALOG_DEV_SIGN_IN": "true",
            # The operator setting that lets webhooks reach loopback: a local instance's
            # receivers (`make demo`'s, the tests') listen on 127.0.0.1. Production refuses it
            # (HooksSettings), and the deployed chart never sets it.
            "HOOKS_ALLOW_PRIVATE_TARGETS": "true",
        }
        if self.name == "test":
            # The route that fails on purpose, for tests/e2e/test_error_containment.py.
            env[f"{prefix}_FAULT_ROUTE"] = "true"
        return env

    def process_env(self, service: str, role: str) -> dict[str, str]:
        """`service_env` and what differs per process: its metrics port and, on the test
        instance, the JSON-lines file its spans go to (tests/e2e/test_tracing.py reads them)."""
        env = self.service_env(service)
        prefix = service.upper()
        if role != "api":
            env[f"{prefix}_METRICS_PORT"] = str(metrics_port(self.name, service, role))
        if self.name == "test":
            env[f"{prefix}_TRACE_FILE"] = str(self.root / "traces" / f"{service}-{role}.jsonl")
        return env

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.root / "supervisor", self.root / "logs")


def _offset() -> int:
    return int(os.environ.get("STACK_PORT_OFFSET", "0"))


def stack(command: str, instance: str) -> str:
    out = subprocess.run(
        [str(STACK), command, instance], check=True, capture_output=command == "env", text=True
    )
    return out.stdout or ""


def load_instance(name: str) -> Instance:
    exports = dict(re.findall(r"export (\w+)=(\S+)", stack("env", name)))
    return Instance(
        name,
        exports["OPSCENTER_KAFKA_BOOTSTRAP"].strip("'\""),
        exports["OPSCENTER_DATABASE_URL"].strip("'\""),
        exports["OPSCENTER_PG_ADMIN_DSN"].strip("'\""),
    )


async def ensure_databases(inst: Instance) -> None:
    conn = await asyncpg.connect(inst.pg_admin_dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for service in SERVICES:
            name = f"opscenter_{service}"
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def migrate(inst: Instance, service: str) -> None:
    """`alembic upgrade head` in this process: a no-op upgrade costs milliseconds, not a
    interpreter start per service."""
    from alembic import command

    from opscenter.servicekit.migrations import alembic_config

    command.upgrade(alembic_config(service, inst.service_db_url(service)), "head")


def program(service: str, role: str, inst: Instance) -> Program:
    command = {
        "api": [sys.executable, "-c", f"from opscenter.{service}.main import run; run()"],
        "worker": [sys.executable, "-m", f"opscenter.{service}.worker"],
        "relay": [sys.executable, "-m", f"opscenter.{service}.relay"],
        "dispatcher": [sys.executable, "-m", f"opscenter.{service}.dispatcher"],
    }[role]
    return Program(f"{service}-{role}", command, inst.process_env(service, role))


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    print("installing nginx from Debian's packages", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # policy-rc.d keeps the package from starting a system nginx: the gateway is ours alone.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True, env=env)
    finally:
        if not had_policy:
            policy.unlink()
    return "/usr/sbin/nginx"


def gateway_env(inst: Instance) -> dict[str, str]:
    """What nginx-conf.sh renders the template with for this instance (GATEWAY_RATE_LIMIT_PER_S
    and GATEWAY_RATE_LIMIT_BURST pass through from the environment when set)."""
    env = {
        "GATEWAY_ROOT": str(inst.root / "nginx"),
        "GATEWAY_LISTEN": f"127.0.0.1:{inst.gateway_port}",
        "GATEWAY_WEB_ROOT": str(WEB_DIST),
    }
    for service in SERVICES:
        env[f"GATEWAY_{service.upper()}_UPSTREAM"] = f"127.0.0.1:{inst.port(service)}"
    return env


def gateway(inst: Instance) -> Program:
    """nginx in the foreground under supervisord, with its configuration written and checked."""
    root = inst.root / "nginx"
    for sub in ("logs", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = subprocess.run(
        [str(NGINX_CONF)],
        env={**os.environ, **gateway_env(inst)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (root / "nginx.conf").write_text(conf)
    nginx = nginx_binary()
    subprocess.run([nginx, "-t", "-q", "-p", str(root), "-c", str(root / "nginx.conf")], check=True)
    command = [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
    return Program("gateway", command, {})


def wait_ready(inst: Instance, timeout_s: float | None = None) -> None:
    # A loaded 2-core machine starting 15 processes can take minutes (OPSCENTER_READY_TIMEOUT_S).
    if timeout_s is None:
        timeout_s = float(os.environ.get("OPSCENTER_READY_TIMEOUT_S", "180"))
    deadline = time.monotonic() + timeout_s
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        for service in sorted(pending):
            url = f"http://127.0.0.1:{inst.gateway_port}/api/v1/{service}/readyz"
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        pending.discard(service)
            except OSError:
                pass
        time.sleep(0.3)
    if pending:
        logs = inst.root / "logs"
        raise SystemExit(f"not ready: {', '.join(sorted(pending))} (see {logs})")


def up(name: str) -> None:
    stack("up", name)
    inst = load_instance(name)
    asyncio.run(ensure_databases(inst))
    asyncio.run(ensure_topics(inst.kafka_bootstrap, ALL_TOPICS))
    for service in SERVICES:
        migrate(inst, service)
    programs = [program(s, role, inst) for s in SERVICES for role in roles(s)]
    supervisor = inst.supervisor
    gateway_was_up = supervisor.states().get("gateway")
    supervisor.apply([*programs, gateway(inst)])
    if gateway_was_up and gateway_was_up.state == "RUNNING":
        supervisor.signal("gateway", "HUP")  # reload the (possibly changed) configuration
    wait_ready(inst)
    status(name)


def down(name: str, *, services_only: bool = False) -> None:
    inst = load_instance(name)
    inst.supervisor.shutdown()
    if not services_only:
        stack("down", name)


def status(name: str) -> None:
    inst = load_instance(name)
    states = inst.supervisor.states()

    def shown(program: str) -> str:
        state = states.get(program)
        if state is None:
            return f"{program}: down"
        return f"{program}: {state.state.lower()} {state.uptime_s}s restarts={state.restarts}"

    print(f"gateway   http://127.0.0.1:{inst.gateway_port}/api/v1/  ({shown('gateway')})")
    for service in SERVICES:
        print(
            f"{service:9s} http://127.0.0.1:{inst.port(service)}  "
            f"docs http://127.0.0.1:{inst.gateway_port}/api/v1/{service}/docs"
        )
        print("          " + "  ".join(shown(f"{service}-{role}") for role in roles(service)))
    print(f"kafka     {inst.kafka_bootstrap}")
    print(f"postgres  {inst.pg_admin_dsn.rsplit('/', 1)[0]}/opscenter_<service>")
    print(f"logs      {inst.root / 'logs'}")
    print("dev token make token ROLES=tenant_admin TENANT=t1")


def url(name: str) -> None:
    """Prints the gateway's base URL (for scripts and end-to-end tests)."""
    print(f"http://127.0.0.1:{HTTP_BASE[name] + 80 + _offset()}")


def metrics(name: str) -> None:
    """Prints each process's metrics URL as JSON (for operators and end-to-end tests)."""
    print(json.dumps(metrics_urls(name), indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "url", "metrics"])
    parser.add_argument("--instance", default="dev", choices=sorted(HTTP_BASE))
    parser.add_argument(
        "--services-only", action="store_true", help="down: leave Postgres and Kafka running"
    )
    args = parser.parse_args()
    if args.command == "down":
        down(args.instance, services_only=args.services_only)
    else:
        commands = {"up": up, "status": status, "url": url, "metrics": metrics}
        commands[args.command](args.instance)


if __name__ == "__main__":
    main()
