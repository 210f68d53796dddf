"""Tenant admin commands: install (plan, then consent), list, enable, disable, config set,
upgrade, uninstall. They act on the tenant of the logged-in token."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from opscenter.contracts.permissions import PERMISSION_DESCRIPTIONS, Permission
from opscenter.sdk.cli.client import api
from opscenter.sdk.cli.output import out, table

config_app = typer.Typer(help="Change an installation's config.", no_args_is_help=True)


def _describe(permission: str) -> str:
    known = Permission._value2member_map_.get(permission)
    return PERMISSION_DESCRIPTIONS[known] if isinstance(known, Permission) else ""


def _consent(permissions: list[str], yes: bool, what: str) -> None:
    """Asks on a terminal; without one, ``--yes`` is the consent (never a silent prompt)."""
    if not permissions or yes:
        return
    if not out.interactive:
        out.fail(
            {
                "type": "consent-required",
                "title": "Consent required",
                "detail": f"{what} needs consent to: {', '.join(permissions)}; "
                "pass --yes to accept",
                "permissions": permissions,
            },
            code=2,
        )
    if not typer.confirm(f"Grant these permissions to {what}?", default=False):
        out.fail({"type": "consent-declined", "title": "Declined", "detail": "nothing changed"})


def _parse_config(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs (dotted keys nest; a value is JSON when it parses as JSON)."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            out.fail(
                {"type": "usage", "title": "Bad --config", "detail": f"{pair!r} is not key=value"},
                code=2,
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def plan_table(plan: dict[str, Any]) -> Any:
    """An install plan as a table: what ``install`` shows before it asks consent."""
    rows = [
        [
            i["plugin"],
            i["version"],
            i["role"],
            ", ".join(i["permissions"]) or "-",
            i["charge"]["kind"],
            "yes" if i["signed"] else "NO",
        ]
        for i in plan["items"]
    ]
    return table(["plugin", "version", "role", "permissions", "charge", "signed"], rows)


def install(
    plugin: Annotated[str, typer.Argument(help="Slug or id")],
    version: Annotated[str | None, typer.Option(help="Version or range")] = None,
    config: Annotated[list[str] | None, typer.Option("--config", "-c", help="key=value")] = None,
    enable: Annotated[bool, typer.Option(help="Enable once installed")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept the permissions shown")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the plan only")] = False,
) -> None:
    """Show the install plan and its permissions, ask consent, then install."""
    client = api()
    body: dict[str, Any] = {
        "plugin": plugin,
        "config": _parse_config(config or []),
        "enable": enable,
    }
    if version:
        body["version"] = version
    planned = client.call("POST", "/plugins/install", json={**body, "dry_run": True})
    plan = planned["plan"]
    if plan["config_errors"]:
        out.fail(
            {
                "type": "config-invalid",
                "title": "Invalid config",
                "status": 422,
                "detail": "the config does not match the plugin's config_schema",
                "errors": plan["config_errors"],
            }
        )
    out.info("Plan:")
    if not out.json:
        out.errors.print(plan_table(plan))
        for p in plan["permissions"]:
            out.info(f"  {p}: {_describe(p)}")
    if dry_run:
        out.result(planned, "dry run: nothing changed")
        return
    _consent(plan["permissions"], yes, plugin)
    pins = [{"plugin": i["plugin"], "version": i["version"]} for i in plan["items"]]
    answer = client.call(
        "POST",
        "/plugins/install",
        json={**body, "accept_permissions": plan["permissions"], "plan": pins},
        idempotent=True,
    )
    inst = answer["installation"]
    out.result(answer, f"installing {inst['plugin']} {inst['version']} ({inst['state']})")


def list_installed() -> None:
    """This tenant's installations."""
    answer = api().call("GET", "/plugins/installed", params={"limit": 100})
    rows = [
        [i["plugin"], i["version"], i["state"], ", ".join(i["granted_permissions"])]
        for i in answer["items"]
    ]
    out.result(answer, table(["plugin", "version", "state", "granted"], rows))


def _transition(path: str, body: dict[str, Any] | None = None) -> None:
    answer = api().call("POST", path, json=body or {}, idempotent=True)
    out.result(answer, f"{answer['plugin']}: {answer['state']}")


def enable(plugin: Annotated[str, typer.Argument()]) -> None:
    """Enable an installed plugin."""
    _transition(f"/plugins/{plugin}/enable")


def disable(
    plugin: Annotated[str, typer.Argument()],
    cascade: Annotated[bool, typer.Option(help="Also disable its dependents")] = False,
) -> None:
    """Disable a plugin (refused while enabled plugins depend on it, unless --cascade)."""
    _transition(f"/plugins/{plugin}/disable", {"cascade": "disable" if cascade else "none"})


def uninstall(
    plugin: Annotated[str, typer.Argument()],
    cascade: Annotated[str, typer.Option(help="none | disable | uninstall")] = "none",
    yes: Annotated[bool, typer.Option("--yes", "-y")] = False,
) -> None:
    """Uninstall a plugin (its history is kept)."""
    if not yes and out.interactive and not typer.confirm(f"Uninstall {plugin}?", default=False):
        out.fail({"type": "declined", "title": "Declined", "detail": "nothing changed"})
    if not yes and not out.interactive:
        out.fail(
            {
                "type": "confirmation-required",
                "title": "Confirmation required",
                "detail": "pass --yes to uninstall without a terminal",
            },
            code=2,
        )
    _transition(f"/plugins/{plugin}/uninstall", {"cascade": cascade})


@config_app.command("set")
def config_set(
    plugin: Annotated[str, typer.Argument()],
    pairs: Annotated[list[str], typer.Argument(help="key=value ...")],
) -> None:
    """Set config values (secrets are write-only: shown masked afterwards)."""
    client = api()
    current = client.call("GET", f"/plugins/{plugin}/installation")
    config = {**current["config"], **_parse_config(pairs)}
    answer = client.call(
        "PUT", f"/plugins/{plugin}/config", json={"config": config}, idempotent=True
    )
    out.result(answer, f"{plugin}: config updated")


def upgrade(
    plugin: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept new permissions")] = False,
) -> None:
    """Upgrade to VERSION; new permissions need consent (see `permissions diff`)."""
    from opscenter.sdk.cli.ops_cmds import permission_diff

    client = api()
    current = client.call("GET", f"/plugins/{plugin}/installation")
    diff = permission_diff(current["plugin"], current["version"], version)
    added = diff["added"]
    for p in added:
        out.info(f"  new: {p}: {_describe(p)}")
    _consent(added, yes, f"{plugin} {version}")
    answer = client.call(
        "POST",
        f"/plugins/{plugin}/upgrade",
        json={"version": version, "accept_permissions": diff["to"]},
        idempotent=True,
    )
    out.result(answer, f"{plugin}: upgrading to {version} ({answer['state']})")
