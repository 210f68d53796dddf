"""A tenant that installed a plugin reviews it; a tenant that never did cannot; the catalog shows
the rating; a ban freezes the reviews. Every step through the gateway: reviews learns the plugin
from the catalog's events and the installation from the installer's, and the catalog learns the
rating from reviews' events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from opscenter.catalog.testing import manifest, publish_through_gateway
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

SETTINGS = ServiceSettings()  # the suite's services share the local signing secret


def _bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(SETTINGS, **claims)}"}


async def _until(
    check: Callable[[], Awaitable[httpx.Response]],
    accept: Callable[[httpx.Response], bool],
    every_s: float = 0.25,
) -> httpx.Response:
    """Polls for up to 60 s while the services converge through Kafka; the last answer else.
    Writes poll every 2 s: each counts against the user's write limit (30 a minute)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        answer = await check()
        if accept(answer) or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(every_s)


async def test_verified_review_reaches_the_catalog_and_a_ban_freezes_it(gateway: httpx.AsyncClient):
    run = uuid.uuid4().hex[:8]
    publisher = _bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    admin = _bearer(sub=f"admin-{run}", tenant_id=f"tenant-{run}", roles=["tenant_admin"])
    member = _bearer(sub=f"member-{run}", tenant_id=f"tenant-{run}", roles=["member"])
    stranger = _bearer(sub=f"other-{run}", tenant_id=f"other-{run}", roles=["member"])
    platform = _bearer(sub=f"ops-{run}", roles=["platform_admin"])
    slug = f"e2e-rated-{run}"
    reviews = f"/api/v1/plugins/marketplace/{slug}/reviews"

    await publish_through_gateway(gateway, publisher, manifest(slug, "1.2.0", hooks=[]))

    body = {"rating": 4, "title": "Does the job", "body": "Alerts arrive <fast>."}
    # Reviews knows the plugin once the catalog's event arrives; nobody installed it yet.
    r = await _until(lambda: gateway.get(reviews), lambda a: a.status_code == 200)
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["count"] == 0
    r = await gateway.post(reviews, json=body, headers=member)
    assert r.status_code == 403, r.text

    install = {"plugin": slug, "accept_permissions": ["api:devices:read"]}
    r = await _until(
        lambda: gateway.post("/api/v1/plugins/install", json=install, headers=admin),
        lambda a: a.status_code == 202,
    )
    assert r.status_code == 202, r.text
    r = await _until(
        lambda: gateway.get(f"/api/v1/plugins/{slug}/installation", headers=admin),
        lambda a: a.status_code == 200 and a.json()["state"] in ("installed", "enabled"),
    )
    assert r.json()["state"] in ("installed", "enabled"), r.text
    r = await _until(
        lambda: gateway.post(reviews, json=body, headers=member),
        lambda a: a.status_code == 201,
        every_s=2.0,
    )
    assert r.status_code == 201, r.text
    review = r.json()
    assert (review["version"], review["still_installed"], review["body"]) == (
        "1.2.0",
        True,
        "Alerts arrive <fast>.",
    )
    r = await gateway.post(reviews, json=body, headers=stranger)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"

    listed = (await gateway.get(reviews)).json()
    assert [i["id"] for i in listed["items"]] == [review["id"]]
    assert listed["summary"]["count"] == 1
    detail = await _until(
        lambda: gateway.get(f"/api/v1/plugins/marketplace/{slug}"),
        lambda a: a.status_code == 200 and a.json()["rating"]["count"] == 1,
    )
    assert detail.json()["rating"]["count"] == 1
    assert detail.json()["rating"]["average"] == 4.0

    r = await gateway.delete(
        f"/api/v1/admin/plugins/{slug}/ban", params={"reason": "malware"}, headers=platform
    )
    assert r.status_code == 200, r.text
    r = await _until(
        lambda: gateway.put(f"{reviews}/{review['id']}", json=body, headers=member),
        lambda a: a.status_code == 410,
        every_s=2.0,
    )
    assert r.status_code == 410, r.text
    assert "malware" in r.json()["detail"]
