"""Every refusal of the install endpoint: a clear problem, and nothing changed."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def assert_nothing_installed(tenant) -> None:
    assert (await tenant.get("/plugins/installed")).json()["items"] == []


async def test_missing_consent_is_422_listing_permissions(catalog, new_tenant):
    dep, top = name("dep"), name("top")
    await catalog.publish(dep, "1.0.0", permissions=["network:outbound"])
    await catalog.publish(top, "1.0.0", deps={dep: "*"}, permissions=["api:users:read"])
    tenant = new_tenant()
    response = await tenant.install(top, accept_permissions=["api:users:read"])
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/consent-required")
    assert problem["missing_permissions"] == ["network:outbound"]
    assert problem["errors"] == [
        {"field": "accept_permissions", "message": "must include network:outbound"}
    ]
    await assert_nothing_installed(tenant)


async def test_invalid_config_is_422_with_field_paths(catalog, new_tenant):
    slug = name("cfg")
    schema = {
        "type": "object",
        "properties": {
            "api_key": {"type": "string", "secret": True},
            "port": {"type": "integer", "minimum": 1},
            "nested": {"type": "object", "properties": {"mode": {"enum": ["a", "b"]}}},
        },
        "required": ["api_key"],
    }
    await catalog.publish(slug, "1.0.0", config_schema=schema)
    tenant = new_tenant()
    response = await tenant.install(slug, config={"port": 0, "nested": {"mode": "z"}})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"config.api_key", "config.port", "config.nested.mode"}
    await assert_nothing_installed(tenant)


async def test_conflict_is_409_with_a_sentence_naming_both_constraints(catalog, new_tenant):
    lib, a, b, top = name("lib"), name("a"), name("b"), name("top")
    await catalog.publish(lib, "1.0.0")
    await catalog.publish(lib, "2.0.0")
    await catalog.publish(a, "1.2.0", deps={lib: "^2.0.0"})
    await catalog.publish(b, "3.1.0", deps={lib: "<2"})
    await catalog.publish(top, "1.0.0", deps={a: "*", b: "*"})
    tenant = new_tenant()
    response = await tenant.install(top)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"{lib}@^2.0.0 (required by {a}@1.2.0)" in detail
    assert f"{lib}@<2 (required by {b}@3.1.0)" in detail
    await assert_nothing_installed(tenant)


async def test_cycle_is_409_naming_the_cycle(catalog, new_tenant):
    a, b = name("cyc-a"), name("cyc-b")
    await catalog.publish(a, "1.0.0", deps={b: "*"})
    await catalog.publish(b, "1.0.0", deps={a: "*"})
    tenant = new_tenant()
    response = await tenant.install(a)
    assert response.status_code == 409
    first, second = sorted([a, b])
    assert f"{first} -> {second} -> {first}" in response.json()["detail"]
    await assert_nothing_installed(tenant)


async def test_unknown_plugin_404_and_bad_body_422(new_tenant):
    tenant = new_tenant()
    assert (await tenant.install(name("ghost"))).status_code == 404
    bad = await tenant.install("x-plugin", version="not a range!!")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.version"
    unknown = await tenant.install("x-plugin", accept_permissions=["root:everything"])
    assert unknown.status_code == 422


async def test_member_cannot_install(catalog, new_tenant):
    tenant = new_tenant()
    response = await tenant.client.post(
        "/api/v1/plugins/install", json={"plugin": "any"}, headers=tenant.headers(admin=False)
    )
    assert response.status_code == 403


async def test_already_installed_409_and_concurrent_installs_one_wins(catalog, new_tenant):
    slug = name("race")
    await catalog.publish(slug, "1.0.0")
    tenant = new_tenant()
    first, second = await asyncio.gather(tenant.install(slug), tenant.install(slug))
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["type"].endswith("/already-installed")
    assert loser.json()["current_state"] in ("installing", "installed", "enabled")
    await tenant.wait_state(slug, "enabled")
    again = await tenant.install(slug)
    assert again.status_code == 409
    assert again.json()["current_state"] == "enabled"
    history = (await tenant.installation(slug))["history"]
    assert [h["to_state"] for h in history] == ["installing", "installed", "enabled"]


async def test_plan_changed_since_dry_run_is_409(catalog, new_tenant):
    slug = name("plan")
    await catalog.publish(slug, "1.0.0")
    tenant = new_tenant()
    response = await tenant.install(slug, plan=[{"plugin": slug, "version": "0.9.0"}])
    assert response.status_code == 409
    assert response.json()["type"].endswith("/plan-changed")
    await assert_nothing_installed(tenant)


async def test_idempotency_key_replays_the_first_answer(catalog, new_tenant):
    slug = name("idem")
    await catalog.publish(slug, "1.0.0")
    tenant = new_tenant()
    first = await tenant.install(slug, idempotency_key="k-1")
    second = await tenant.install(slug, idempotency_key="k-1")
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replay"] == "true"
    reused = await tenant.install(slug, enable=False, idempotency_key="k-1")
    assert reused.status_code == 422
    await tenant.wait_state(slug, "enabled")
    history = (await tenant.installation(slug))["history"]
    assert len(history) == 3


async def test_plan_is_all_or_nothing_when_the_third_of_five_fails(catalog, new_tenant, settings):
    names = [name(f"chain{i}") for i in range(5)]
    digests = []
    for i, slug in enumerate(names):
        deps = {names[i - 1]: "^1.0.0"} if i else {}
        # The third package (in install order) is served corrupted: its sha-256 will not match.
        serve = b"\x1f\x8b tampered bytes" if i == 2 else None
        digests.append(await catalog.publish(slug, "1.0.0", deps=deps, serve=serve))
    tenant = new_tenant()
    response = await tenant.install(names[-1])
    assert response.status_code == 202, response.text
    assert [i["plugin"] for i in response.json()["plan"]["items"]] == names
    states = [await tenant.wait_state(s, "failed", "enabled") for s in names]
    assert [s["state"] for s in states] == ["failed"] * 5
    assert states[2]["reason"].startswith(f"{names[2]}@1.0.0: sha-256 of the package is")
    assert states[2]["retryable"] is False
    for other in (0, 1, 3, 4):
        assert states[other]["reason"].startswith(f"plan aborted: {names[2]}@1.0.0 failed")
    for digest in digests:
        assert not (Path(settings.install_root) / digest).exists()
    # Nothing of the plan counts as installed: the same plan can be tried again.
    catalog.server.blobs[digests[2]] = b""  # still bad: fails again, still nothing installed
    retry = await tenant.install(names[-1])
    assert retry.status_code == 202
    again = await tenant.wait_state(names[0], "failed")
    assert [h["to_state"] for h in again["history"]][-2:] == ["installing", "failed"]


async def test_unsigned_package_is_refused(catalog, new_tenant):
    slug = name("unsigned")
    await catalog.publish(slug, "1.0.0", signed=False)
    tenant = new_tenant()
    assert (await tenant.install(slug)).status_code == 202
    failed = await tenant.wait_state(slug, "failed")
    assert "unsigned" in failed["reason"]


async def test_a_plan_waits_for_a_signing_key_still_on_its_way(catalog, new_tenant):
    """The version's event can overtake its key's (two topics): the plan waits for the key
    instead of failing for good, then installs."""
    late = dataclasses.replace(
        catalog, key=Ed25519PrivateKey.generate(), key_id=uuid.uuid4(), plugin_ids={}, digests={}
    )
    slug = name("late-key")
    await late.publish(slug, "1.0.0")
    tenant = new_tenant()
    assert (await tenant.install(slug)).status_code == 202
    await asyncio.sleep(2)  # the worker meets the plan without the key meanwhile
    assert (await tenant.installation(slug))["state"] == "installing"
    await late.register_key()
    done = await tenant.wait_state(slug, "enabled", "failed")
    assert done["state"] == "enabled", done
    assert "failed" not in [h["to_state"] for h in done["history"]]


async def test_yanked_version_needs_an_exact_pin(catalog, new_tenant):
    slug = name("yank")
    await catalog.publish(slug, "1.0.0")
    await catalog.publish(slug, "1.1.0")
    await catalog.yank(slug, "1.1.0")
    tenant = new_tenant()
    plan = (await tenant.install(slug, version="^1.0.0", dry_run=True)).json()["plan"]
    assert plan["items"][0]["version"] == "1.0.0"
    only_yanked = await tenant.install(slug, version=">1.0.0")
    assert only_yanked.status_code == 409
    pinned = await tenant.install(slug, version="=1.1.0", dry_run=True)
    assert pinned.json()["plan"]["items"][0]["version"] == "1.1.0"


async def test_a_cursor_that_is_not_a_slug_is_422(new_tenant):
    tenant = new_tenant()
    for cursor in ("\u311d\x1a", "NOT A SLUG", "a"):
        response = await tenant.get(f"/plugins/installed?cursor={quote(cursor)}")
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "query.cursor"
    assert (await tenant.get("/plugins/installed?cursor=some-plugin")).status_code == 200
    # A NUL never reaches SQL: servicekit refuses it for every query string.
    refused = await tenant.get("/plugins/installed?cursor=ab%00c")
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "query.cursor")
