"""`make demo`: the whole suite at work on the running dev instance (`make up`), then what
happened, read back through the gateway.

    .local/tools/bin/uv run python -m scripts.demo [--instance dev|test] [--gateway URL]
        [--kafka HOST:PORT] [--prefix demo] [--summary out.json]

The gateway defaults to the instance's (``deploy/local/suite.py url``), Kafka to
``OPSCENTER_KAFKA_BOOTSTRAP`` (``eval "$(deploy/local/stack.sh env dev)"``, as `make demo`
does). Running it again on the same instance publishes nothing new (the plugins' versions are
already there) and installs, emits and reviews again with new tenants.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
from rich.console import Console

from . import flow, report
from .actors import Actor, DemoError
from .receiver import Receiver

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "installer", "hooks", "analytics", "reviews")


def gateway_of(instance: str) -> str:
    out = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        [
            sys.executable,
            str(REPO / "deploy" / "local" / "suite.py"),
            "url",
            "--instance",
            instance,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def not_ready(gateway: str) -> list[str]:
    """The services that do not answer /readyz through the gateway."""
    down = []
    for service in SERVICES:
        try:
            ok = httpx.get(f"{gateway}/api/v1/{service}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        if not ok:
            down.append(service)
    return down


def cast(gateway: str, home: Path, prefix: str) -> flow.Run:
    run_id = uuid.uuid4().hex[:6]

    def actor(label: str, **claims: object) -> Actor:
        return Actor(label, gateway, home / label, claims)

    # Publishers are the same every run, so the plugins they published stay their own.
    developers = {
        publisher: actor(
            f"{publisher}-dev", sub=f"{publisher}-dev", roles=["developer"], publisher_id=publisher
        )
        for publisher in flow.PUBLISHERS
    }
    admin = actor("platform-admin", sub="demo-platform-admin", roles=["platform_admin"])
    tenants = []
    for name in ("acme", "globex"):
        tenant = f"{name}-{run_id}"
        tenants.append(
            flow.Tenant(
                tenant,
                actor(
                    f"{name}-admin", sub=f"{tenant}-admin", tenant_id=tenant, roles=["tenant_admin"]
                ),
                actor(f"{name}-member", sub=f"{tenant}-ada", tenant_id=tenant, roles=["member"]),
            )
        )
    return flow.Run(prefix, developers, admin, tenants, Receiver(), home)


def demo(gateway: str, kafka: str, prefix: str, console: Console) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ops-center-demo-") as tmp:
        run = cast(gateway, Path(tmp), prefix)
        run.receiver.start()
        try:
            steps = [
                ("Publishing the example plugins with the CLI", flow.publish),
                ("Verifying and featuring the device inventory", flow.moderate),
            ]
            for title, step in steps:
                with console.status(title):
                    step(run)
                console.log(title)
            before = report.baseline(run)
            for title, step in (
                ("Two tenants install: plan, consent, config, enable", flow.install),
                ("Pointing acme's alert forwarder at the demo's receiver", flow.connect_webhook),
            ):
                with console.status(title):
                    step(run)
                console.log(title)
            with console.status("Emitting platform events on ops.platform"):
                flow.emit(run, kafka)
            console.log(f"Emitted {len(run.events)} platform events; each subscription got one")
            with console.status("A member of acme reviews the inventory"):
                flow.review(run)
            console.log("Reviewed")
            with console.status("Reading it all back through the gateway"):
                summary = report.collect(run, before)
        finally:
            run.receiver.stop()
            run.close()
    report.render(summary, console)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instance", default="dev", choices=["dev", "test"])
    parser.add_argument("--gateway", help="Default: the instance's gateway")
    parser.add_argument("--kafka", default=os.environ.get("OPSCENTER_KAFKA_BOOTSTRAP"))
    parser.add_argument("--prefix", default="demo", help="Plugin slugs are PREFIX-<example>")
    parser.add_argument("--summary", type=Path, help="Also write what happened as JSON here")
    args = parser.parse_args(argv)
    # Wide enough for the tables when the output is not a terminal (a log, a test).
    console = Console(width=None if sys.stdout.isatty() else 140)
    gateway = args.gateway or gateway_of(args.instance)
    down = not_ready(gateway)
    if down:
        console.print(
            f"[bold red]The suite is not up[/] at {gateway} ({', '.join(down)} not ready): "
            "run `make up` first."
        )
        return 2
    if not args.kafka:
        console.print(
            "[bold red]No Kafka address:[/] pass --kafka or "
            'eval "$(deploy/local/stack.sh env dev)" (as `make demo` does).'
        )
        return 2
    try:
        summary = demo(gateway, args.kafka, args.prefix, console)
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        return 1
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
