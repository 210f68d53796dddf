"""What happened, read back through the gateway (never from the demo's own bookkeeping): the
marketplace, the plans, installations and consents, deliveries with their attempts, what the
webhook receiver saw, reviews and the catalog's rating, and analytics.

``collect`` returns it as one JSON-able dict (the test reads the same numbers the screen
shows); ``render`` prints it with rich. Reviews and analytics learn from Kafka, so their reads
wait until this run's review and installs show up.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from opscenter.sdk.cli.output import table
from opscenter.sdk.cli.tenant_cmds import plan_table

from .actors import Actor, until
from .flow import Run, deliveries

ANALYTICS = "installs,active_installs,hook_deliveries,hook_failures,hook_latency_p95"


def analytics(developer: Actor, plugin_id: str) -> dict[str, Any]:
    """The plugin's totals over analytics' default range (zeros until it knows the plugin)."""
    r = developer.http.get(f"/plugins/{plugin_id}/analytics", params={"metrics": ANALYTICS})
    if r.status_code == 404:
        return {}
    r.raise_for_status()
    totals: dict[str, Any] = r.json()["totals"]
    return totals


def expected_installs(run: Run) -> dict[str, int]:
    """How many installations of each plugin this run made (dependencies included)."""
    counts: dict[str, int] = {}
    for tenant in run.tenants:
        for slug in tenant.expects:
            counts[slug] = counts.get(slug, 0) + 1
    return counts


def baseline(run: Run) -> dict[str, dict[str, Any]]:
    """Each plugin's numbers before this run installs anything, so the report can wait for
    this run's own installs and deliveries on an instance that has seen earlier runs."""
    return {
        slug: {
            "analytics": analytics(run.owner(slug), pid),
            "install_count": run.admin.call("GET", f"/plugins/marketplace/{slug}", expect=(200,))[
                "install_count"
            ],
        }
        for slug, pid in run.plugin_ids.items()
    }


def collect(run: Run, before: dict[str, dict[str, Any]]) -> dict[str, Any]:
    reader = run.admin  # the marketplace and reviews are public; any token reads them
    featured = reader.call("GET", "/plugins/marketplace/featured", expect=(200,))["items"]
    tenants: dict[str, Any] = {}
    for tenant in run.tenants:
        installed = tenant.admin.call(
            "GET", "/plugins/installed", params={"limit": 100}, expect=(200,)
        )["items"]
        details = {
            i["plugin"]: tenant.admin.call(
                "GET", f"/plugins/{i['plugin']}/installation", expect=(200,)
            )
            for i in installed
        }
        tenants[tenant.name] = {
            "installed": installed,
            "consents": {s: d.get("consents") or [] for s, d in details.items()},
            "history": {s: d.get("history") or [] for s, d in details.items()},
            "deliveries": {
                slug: deliveries(tenant, run.plugin_ids[slug]) for slug in tenant.expects
            },
        }

    inventory = run.slug("device-inventory")
    reviews = until(
        "the review to be listed",
        lambda: _with(
            reader.call("GET", f"/plugins/marketplace/{inventory}/reviews", expect=(200,)),
            lambda page: any(i["id"] == run.review["id"] for i in page["items"]),
        ),
    )
    wanted = expected_installs(run)

    def listing(slug: str) -> dict[str, Any] | None:
        """The catalog's detail once it counts this run's installs (and, for the reviewed
        plugin, its review): the catalog learns both from Kafka."""
        detail = reader.call("GET", f"/plugins/marketplace/{slug}", expect=(200,))
        installs_ok = detail["install_count"] >= before[slug]["install_count"] + wanted[slug]
        rated = slug != inventory or detail["rating"]["count"] >= reviews["summary"]["count"]
        return detail if installs_ok and rated else None

    def analytics_caught_up(slug: str) -> dict[str, Any] | None:
        totals = analytics(run.owner(slug), run.plugin_ids[slug])
        earlier = before[slug]["analytics"]
        installs_ok = (totals.get("installs") or 0) >= (earlier.get("installs") or 0) + wanted[slug]
        delivered = (totals.get("hook_deliveries") or 0) > (earlier.get("hook_deliveries") or 0)
        return totals if installs_ok and delivered else None

    marketplace = {
        slug: until(f"the catalog to count {slug}'s installs", lambda slug=slug: listing(slug))
        for slug in run.plugin_ids
    }
    numbers = {
        slug: until(
            f"analytics of {slug}", lambda slug=slug: analytics_caught_up(slug), every_s=1.0
        )
        for slug in run.plugin_ids
    }
    receiver = run.receiver
    return {
        "prefix": run.prefix,
        "published": run.published,
        "plugin_ids": run.plugin_ids,
        "marketplace": list(marketplace.values()),
        "featured": [i["slug"] for i in featured],
        "plans": run.plans,
        "events": run.events,
        "tenants": tenants,
        "receiver": {
            "url": receiver.url,
            "deliveries": [vars(d) for d in receiver.deliveries],
            "alerts": receiver.alerts,
        },
        "review": run.review,
        "reviews": reviews,
        "rating": marketplace[inventory]["rating"],
        "analytics": numbers,
    }


def _with(value: Any, ready: Any) -> Any:
    return value if ready(value) else None


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """The CLI's table (so the demo looks like the commands it runs), with a title."""
    shown = table(columns, rows)
    shown.title, shown.title_justify = title, "left"
    return shown


def _attempts(d: dict[str, Any]) -> str:
    return ", ".join(
        f"#{a['attempt']} {a['outcome']}"
        + (f" {a['status_code']}" if a["status_code"] else "")
        + f" {a['latency_ms']:.0f} ms"
        for a in d["attempt_log"]
    )


def render(s: dict[str, Any], console: Console) -> None:
    console.rule(f"[bold]Ops Center demo[/] (plugins {s['prefix']}-*)")
    console.print(
        _table(
            "Published with the CLI",
            ["plugin", "result"],
            [[k, v] for k, v in s["published"].items()],
        )
    )
    console.print(
        _table(
            "Marketplace",
            ["plugin", "publisher", "version", "verified", "featured", "rating", "installs"],
            [
                [
                    i["slug"],
                    i["publisher"],
                    i["latest_version"],
                    "yes" if i["verified"] else "",
                    "yes" if i["slug"] in s["featured"] else "",
                    f"{i['rating']['average']:.1f} ({i['rating']['count']})",
                    i["install_count"],
                ]
                for i in s["marketplace"]
            ],
        )
    )
    for name, plan in s["plans"].items():
        shown: Table = plan_table(plan)  # what `ops-center install` shows before consent
        shown.title, shown.title_justify = f"Dry-run plan {name}", "left"
        console.print(shown)
    for name, t in s["tenants"].items():
        console.print(
            _table(
                f"Installed in {name}: state and consent",
                ["plugin", "version", "state", "consented to", "history"],
                [
                    [
                        i["plugin"],
                        i["version"],
                        i["state"],
                        "; ".join(", ".join(c["permissions"]) for c in t["consents"][i["plugin"]]),
                        " > ".join(h["action"] for h in t["history"][i["plugin"]]),
                    ]
                    for i in t["installed"]
                ],
            )
        )
        console.print(
            _table(
                f"Deliveries in {name}",
                ["plugin", "event", "target", "status", "attempts", "error"],
                [
                    [slug, d["event_type"], d["target"], d["status"], _attempts(d), d["last_error"]]
                    for slug, items in t["deliveries"].items()
                    for d in reversed(items)
                ],
            )
        )
    r = s["receiver"]
    console.print(
        Panel(
            "\n".join(
                [f"webhooks received at {r['url']}/hooks:"]
                + [
                    f"  {d['event_type']} {d['webhook_id']} -> {d['answered']}"
                    for d in r["deliveries"]
                ]
                + ["alerts the forwarder sent on (its alert_url):"]
                + [f"  {a['title']}: {a['text']}" for a in r["alerts"]]
            ),
            title="The demo's webhook receiver (loopback)",
            title_align="left",
        )
    )
    summary = s["reviews"]["summary"]
    console.print(
        Panel(
            f'review: {s["review"]["rating"]}/5 "{s["review"]["title"]}" '
            f"(version {s['review']['version']})\n"
            f"reviews: {summary['count']} reviews, average {summary['average']:.2f}, "
            f"bayesian {summary['bayesian_average']:.2f}\n"
            f"catalog rating: {s['rating']['average']:.2f} from {s['rating']['count']} reviews",
            title="Reviews",
            title_align="left",
        )
    )
    console.print(
        _table(
            "Analytics (each publisher's developer view, analytics' default range)",
            ["plugin", "installs", "active", "deliveries", "failures", "latency p95 ms"],
            [
                [
                    slug,
                    a.get("installs"),
                    a.get("active_installs"),
                    a.get("hook_deliveries"),
                    a.get("hook_failures"),
                    None if a.get("hook_latency_p95") is None else f"{a['hook_latency_p95']:.0f}",
                ]
                for slug, a in s["analytics"].items()
            ],
        )
    )
