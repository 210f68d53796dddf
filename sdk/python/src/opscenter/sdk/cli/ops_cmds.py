"""``login``/``whoami``, ``deliveries``, ``analytics``, ``permissions diff`` and ``dev emit``."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from opscenter.sdk.cli.client import api
from opscenter.sdk.cli.output import out, table
from opscenter.sdk.cli.settings import DEFAULT_URL, load_login, save_login
from opscenter.sdk.cli.tenant_cmds import _parse_config
from opscenter.sdk.packaging import Refusal, check_archive, check_folder

deliveries_app = typer.Typer(help="A plugin's hook deliveries.", no_args_is_help=True)
permissions_app = typer.Typer(help="What consent an upgrade asks.", no_args_is_help=True)
dev_app = typer.Typer(help="Run handlers locally through the harness.", no_args_is_help=True)


def login(
    token: Annotated[str, typer.Option(help="Bearer token (JWT)", envvar="OPS_CENTER_TOKEN")],
    url: Annotated[str, typer.Option(help="Gateway URL", envvar="OPS_CENTER_URL")] = DEFAULT_URL,
) -> None:
    """Store the gateway URL and token in the config file (mode 0600)."""
    path = save_login(url, token)
    out.result({"url": url, "config": str(path)}, f"logged in to {url} ({path})")


def _claims(token: str) -> dict[str, Any]:
    try:
        part = token.split(".")[1]
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        )
    except (IndexError, ValueError, binascii.Error):
        out.fail({"type": "bad-token", "title": "Bad token", "detail": "the token is not a JWT"})
    return decoded


def whoami() -> None:
    """Who the stored token says you are (subject, tenant, roles, publisher)."""
    login_ = load_login()
    if not login_.token:
        out.fail(
            {
                "type": "not-logged-in",
                "title": "Not logged in",
                "detail": "run `ops-center login --token ...`",
            },
            code=2,
        )
    claims = _claims(login_.token)
    shown = {k: claims.get(k) for k in ("sub", "tenant_id", "roles", "publisher_id", "exp")}
    out.result(
        {"url": login_.url, **shown},
        "\n".join(f"{k}: {v}" for k, v in {"url": login_.url, **shown}.items()),
    )


@deliveries_app.command("list")
def deliveries_list(
    plugin: Annotated[str, typer.Argument()],
    status: Annotated[str | None, typer.Option()] = None,
    event_type: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Deliveries with every attempt (status, code, latency, next attempt)."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if event_type:
        params["event_type"] = event_type
    client = api()
    answer = client.call(
        "GET", f"/plugins/{client.plugin_id(plugin)}/hooks/deliveries", params=params
    )
    rows = [
        [
            d["id"],
            d["event_type"],
            d["target"],
            d["status"],
            d["attempts"],
            d["last_status_code"],
            d["last_error"],
        ]
        for d in answer["items"]
    ]
    out.result(
        answer, table(["id", "event", "target", "status", "attempts", "code", "error"], rows)
    )


@deliveries_app.command("replay")
def deliveries_replay(
    plugin: Annotated[str, typer.Argument()],
    delivery_id: Annotated[str | None, typer.Argument(help="One delivery")] = None,
    since: Annotated[str | None, typer.Option(help="Replay a window from (ISO time)")] = None,
    status: Annotated[str | None, typer.Option(help="With --since: only this status")] = None,
) -> None:
    """Replay one delivery, or every finished one since a time."""
    client = api()
    plugin = client.plugin_id(plugin)
    if delivery_id:
        answer = client.call(
            "POST", f"/plugins/{plugin}/hooks/deliveries/{delivery_id}/replay", idempotent=True
        )
        out.result(answer, f"replay of {delivery_id} queued")
        return
    if not since:
        out.fail(
            {
                "type": "usage",
                "title": "What to replay?",
                "detail": "give a DELIVERY_ID or --since",
            },
            code=2,
        )
    body = {"since": since, **({"status": status} if status else {})}
    answer = client.call("POST", f"/plugins/{plugin}/hooks/replay", json=body, idempotent=True)
    out.result(answer, f"{answer.get('count')} deliveries queued again")


def analytics(
    plugin: Annotated[str, typer.Argument()],
    since: Annotated[str | None, typer.Option("--from")] = None,
    until: Annotated[str | None, typer.Option("--to")] = None,
    interval: Annotated[str, typer.Option(help="hour | day")] = "day",
    metrics: Annotated[str | None, typer.Option(help="comma-separated")] = None,
) -> None:
    """Installs, deliveries, latency, ratings and revenue of your plugin."""
    params = {"interval": interval, "from": since, "to": until, "metrics": metrics}
    answer = api().call(
        "GET", f"/plugins/{plugin}/analytics", params={k: v for k, v in params.items() if v}
    )
    totals = answer.get("totals") or {}
    out.result(answer, table(["metric", "total"], [[k, v] for k, v in sorted(totals.items())]))


def _permissions_of(ref: str, plugin: str | None) -> list[str]:
    path = Path(ref)
    try:
        if path.exists():
            manifest = check_archive(path) if path.is_file() else check_folder(path)
            return sorted(p.value for p in manifest.permissions)
        if not plugin:
            out.fail(
                {
                    "type": "usage",
                    "title": "Which plugin?",
                    "detail": f"{ref!r} is not a path; give --plugin to compare published versions",
                },
                code=2,
            )
        client = api(need_token=False)
        r = client.http.get(f"/plugins/marketplace/{plugin}/versions/{ref}/package")
        if r.status_code != 200:
            out.fail(
                {
                    "type": "not-found",
                    "status": r.status_code,
                    "title": "No such version",
                    "detail": f"{plugin} {ref} is not published",
                }
            )
        tmp = Path(typer.get_app_dir("ops-center")) / f"{plugin}-{ref}.pkg"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(r.content)
        manifest = check_archive(tmp)
        tmp.unlink()
    except Refusal as exc:
        out.fail({"type": exc.kind, "title": "Refused", "detail": exc.detail, "errors": exc.errors})
    return sorted(p.value for p in manifest.permissions)


def permission_diff(plugin: str | None, v1: str, v2: str) -> dict[str, Any]:
    before, after = _permissions_of(v1, plugin), _permissions_of(v2, plugin)
    return {
        "from": before,
        "to": after,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
    }


@permissions_app.command("diff")
def permissions_diff(
    v1: Annotated[str, typer.Argument(help="A version, folder or package")],
    v2: Annotated[str, typer.Argument(help="A version, folder or package")],
    plugin: Annotated[str | None, typer.Option(help="Slug, for published versions")] = None,
) -> None:
    """Permissions V2 adds (an upgrade asks consent for them) and removes."""
    diff = permission_diff(plugin, v1, v2)
    lines = [f"[green]+ {p}[/]" for p in diff["added"]] + [
        f"[red]- {p}[/]" for p in diff["removed"]
    ]
    out.result(diff, "\n".join(lines) or "no permission changes")


@dev_app.command("emit")
def dev_emit(
    event: Annotated[str, typer.Argument(help="Hook event, e.g. device.created")],
    path: Annotated[Path, typer.Option("--path", help="Plugin folder")] = Path("."),
    data: Annotated[Path | None, typer.Option(help="JSON file with the event's data")] = None,
    config: Annotated[list[str] | None, typer.Option("--config", "-c", help="key=value")] = None,
    grant: Annotated[list[str] | None, typer.Option(help="Granted permission (repeat)")] = None,
) -> None:
    """Run the handler subscribed to EVENT through the harness (catalog example by default)."""
    from opscenter.sdk.testing import Harness

    harness = Harness.load(path, config=_parse_config(config or []), granted=grant)
    payload = json.loads(data.read_text()) if data else None
    try:
        hook = harness.plugin.declared_hook(event)
        if hook.url is not None:
            request = harness.webhook(event, payload)
            out.result(
                {"url": request.url, "headers": request.headers, "body": request.json()},
                f"POST {request.url}\n{request.body.decode()}",
            )
            return
        result = harness.emit(event, payload)
    except (LookupError, PermissionError, ValueError) as exc:
        out.fail({"type": "harness-refused", "title": "Not delivered", "detail": str(exc)})
    answer = {
        "ok": result.ok,
        "cause": result.cause,
        "result": result.result,
        "error": result.error,
        "latency_ms": round(result.latency_ms, 1),
        "event": result.event,
    }
    if not result.ok:
        out.fail(
            {
                "type": f"handler-{result.cause}",
                "title": "Handler failed",
                "detail": result.error or result.cause,
                **answer,
            }
        )
    out.result(answer, f"[green]ok[/] in {answer['latency_ms']} ms: {json.dumps(result.result)}")
