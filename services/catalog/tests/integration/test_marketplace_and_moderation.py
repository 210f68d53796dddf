"""Marketplace search/browse/detail/download and moderation, on the real Postgres."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest

from opscenter.catalog.testing import manifest, package, unique_slug

M = "/api/v1/plugins/marketplace"


async def test_search_weights_prefix_typo_and_filters(client, publish, publisher):
    word = f"zq{uuid.uuid4().hex[:6]}"  # a word only this test's plugins carry
    by_name = await publish(publisher, name=f"{word.capitalize()} Grafana Bridge")
    by_tag = await publish(publisher, name="Other Thing", tags=[word, "x"])
    by_desc = await publish(
        publisher,
        name="Third Thing",
        description=f"mentions {word} in prose",
        category="analytics",
        pricing={"free": False, "monthly": "5.00"},
    )
    r = await client.get(M, params={"q": word})
    assert r.status_code == 200, r.text
    slugs = [i["slug"] for i in r.json()["items"]]
    assert slugs == [by_name["slug"], by_tag["slug"], by_desc["slug"]]

    prefix = await client.get(M, params={"q": word[:5]})
    assert by_name["slug"] in [i["slug"] for i in prefix.json()["items"]]

    typo = word[:-1] + ("a" if word[-1] != "a" else "b")  # last letter wrong
    r = await client.get(M, params={"q": f"{typo} grafana"})
    assert by_name["slug"] in [i["slug"] for i in r.json()["items"]]

    paid = await client.get(M, params={"q": word, "pricing": "paid"})
    assert [i["slug"] for i in paid.json()["items"]] == [by_desc["slug"]]
    cat = await client.get(M, params={"q": word, "category": "analytics"})
    assert [i["slug"] for i in cat.json()["items"]] == [by_desc["slug"]]
    tag = await client.get(M, params={"tag": word})
    assert [i["slug"] for i in tag.json()["items"]] == [by_tag["slug"]]
    facets = r.json()["facets"]
    assert set(facets) == {"category", "type", "pricing", "verified"}
    full = (await client.get(M, params={"q": word})).json()["facets"]
    assert full["category"] == {"monitoring": 2, "analytics": 1}
    assert full["pricing"] == {"free": 2, "paid": 1}


async def test_compatible_with_filters_on_version_ranges(client, publish, publisher):
    word = f"cp{uuid.uuid4().hex[:6]}"
    old = await publish(publisher, name=f"{word} old", compatibility={"platform": "^1.0.0"})
    new = await publish(publisher, name=f"{word} new", compatibility={"platform": ">=2.0.0 <4"})
    anyp = await publish(publisher, name=f"{word} any")

    async def slugs(v):
        r = await client.get(M, params={"q": word, "compatible_with": v, "sort": "name"})
        return {i["slug"] for i in r.json()["items"]}

    assert await slugs("1.5.0") == {old["slug"], anyp["slug"]}
    assert await slugs("3.1.0") == {new["slug"], anyp["slug"]}
    bad = await client.get(M, params={"compatible_with": "v1"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.compatible_with"


async def test_sorts_and_keyset_pagination(client, publish, publisher):
    word = f"pg{uuid.uuid4().hex[:6]}"
    made = [await publish(publisher, name=f"{word} {c}") for c in "edcba"]
    for sort in ("relevance", "popular", "rating", "newest", "name"):
        seen, cursor = [], None
        while True:
            params = {"q": word, "sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(M, params=params)).json()
            seen += [i["slug"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(m["slug"] for m in made), sort
        assert len(seen) == 5, sort
        if sort == "name":
            assert seen == [m["slug"] for m in reversed(made)]
        if sort == "newest":
            assert seen == [m["slug"] for m in reversed(made)]
    bad = await client.get(M, params={"cursor": "garbage"})
    assert bad.status_code == 422
    assert (await client.get(M, params={"sort": "loudest"})).status_code == 422


async def test_detail_versions_and_categories(client, publish, publisher, upload):
    first = await publish(publisher, version="1.0.0")
    slug = first["slug"]
    r = await upload(publisher, package(manifest(slug, "1.1.0")), changelog="Fixes")
    assert r.status_code == 201
    d = (await client.get(f"{M}/{slug}")).json()
    assert d["latest_version"] == "1.1.0"
    assert d["latest"]["hooks"] == [
        {"name": "device.created", "handler": "backend.hooks:on_created", "url": None}
    ]
    assert d["histogram"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    versions = (await client.get(f"{M}/{slug}/versions")).json()["items"]
    assert [v["version"] for v in versions] == ["1.1.0", "1.0.0"]
    assert versions[0]["changelog"] == "Fixes"
    assert (await client.get(f"{M}/no-such-plugin-zz")).status_code == 404
    cats = (await client.get(f"{M}/categories")).json()
    assert {c["category"] for c in cats} >= {"monitoring", "ai", "other"}
    assert next(c for c in cats if c["category"] == "monitoring")["count"] >= 1


async def test_package_download_counts_once_per_tenant_per_day(client, publish, publisher, tokens):
    p = await publish(publisher)
    url = f"{M}/{p['slug']}/versions/1.0.0/package"
    r = await client.get(url)
    assert r.status_code == 200
    digest = hashlib.sha256(r.content).hexdigest()
    assert digest == p["digest"] == r.headers["x-content-sha256"]
    assert r.headers["digest"] == "sha-256=" + base64.b64encode(bytes.fromhex(digest)).decode()
    for _ in range(2):
        assert (await client.get(url, headers=tokens.member("tenant-a"))).status_code == 200
    assert (await client.get(url, headers=tokens.member("tenant-b"))).status_code == 200
    versions = (await client.get(f"{M}/{p['slug']}/versions")).json()["items"]
    assert versions[0]["download_count"] == 2
    assert (await client.get(f"{M}/{p['slug']}/versions/9.9.9/package")).status_code == 404


async def test_moderation_role_rules(client, publish, publisher, tokens):
    p = await publish(publisher)
    base = f"/api/v1/admin/plugins/{p['slug']}"
    dev = tokens.developer(publisher)
    assert (await client.put(f"{base}/verify", json={"verified": True})).status_code == 401
    assert (
        await client.put(f"{base}/verify", json={"verified": True}, headers=dev)
    ).status_code == 403
    assert (
        await client.put(f"{base}/feature", json={"featured": True, "rank": 1}, headers=dev)
    ).status_code == 403
    assert (await client.delete(f"{base}/ban?reason=x", headers=dev)).status_code == 403
    assert (await client.get(f"{base}/moderation", headers=dev)).status_code == 403
    other = tokens.developer("pub-not-owner")
    r = await client.put(f"{base}/versions/1.0.0/yank", json={"reason": "x"}, headers=other)
    assert r.status_code == 404
    r = await client.put(f"{base}/deprecate", json={"reason": "x"}, headers=other)
    assert r.status_code == 404
    member = tokens.member("t-1")
    r = await client.put(f"{base}/versions/1.0.0/yank", json={"reason": "x"}, headers=member)
    assert r.status_code == 403


async def test_verify_feature_and_log(client, publish, publisher, tokens):
    p = await publish(publisher)
    admin = tokens.admin()
    base = f"/api/v1/admin/plugins/{p['plugin_id']}"  # by UUID
    r = await client.put(
        f"{base}/verify", json={"verified": True, "reason": "reviewed"}, headers=admin
    )
    assert r.status_code == 200
    assert r.json()["verified"] is True
    r = await client.put(f"{base}/feature", json={"featured": True}, headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.rank"
    r = await client.put(
        f"{base}/feature",
        json={"featured": True, "rank": 1, "until": "2999-01-01T00:00:00Z"},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["featured"] is True
    featured = (await client.get(f"{M}/featured")).json()["items"]
    assert p["slug"] in [f["slug"] for f in featured]
    log = (await client.get(f"{base}/moderation", headers=admin)).json()["items"]
    assert [e["action"] for e in log] == ["feature", "verify"]
    assert log[1]["actor_id"] == "admin-1"
    assert log[1]["reason"] == "reviewed"


async def test_ban_removes_from_listings_and_detail_answers_410(client, publish, publisher, tokens):
    word = f"bn{uuid.uuid4().hex[:6]}"
    p = await publish(publisher, name=f"{word} plugin")
    assert len((await client.get(M, params={"q": word})).json()["items"]) == 1
    r = await client.request(
        "DELETE",
        f"/api/v1/admin/plugins/{p['slug']}/ban",
        json={"reason": "malware"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200
    assert r.json()["banned"] is True
    assert (await client.get(M, params={"q": word})).json()["items"] == []
    d = await client.get(f"{M}/{p['slug']}")
    assert d.status_code == 410
    assert d.json()["reason"] == "malware"
    assert "malware" in d.json()["detail"]
    pkg = await client.get(f"{M}/{p['slug']}/versions/1.0.0/package")
    assert pkg.status_code == 410
    no_reason = await client.delete(
        f"/api/v1/admin/plugins/{p['slug']}/ban", headers=tokens.admin()
    )
    assert no_reason.status_code == 422
    feature = await client.put(
        f"/api/v1/admin/plugins/{p['slug']}/feature",
        json={"featured": True, "rank": 1},
        headers=tokens.admin(),
    )
    assert feature.status_code == 409
    assert feature.json()["type"].endswith("/plugin-banned")
    featured = (await client.get(f"{M}/featured")).json()["items"]
    assert p["slug"] not in [f["slug"] for f in featured]


async def test_yank_keeps_exact_pins_and_deprecate(client, publish, publisher, upload, tokens):
    p = await publish(publisher)
    slug = p["slug"]
    assert (await upload(publisher, package(manifest(slug, "1.1.0")))).status_code == 201
    r = await client.put(
        f"/api/v1/admin/plugins/{slug}/versions/1.1.0/yank",
        json={"reason": "crashes"},
        headers=tokens.developer(publisher),
    )
    assert r.status_code == 200, r.text
    assert r.json()["latest_version"] == "1.0.0"
    versions = (await client.get(f"{M}/{slug}/versions")).json()["items"]
    assert versions[0]["yanked"] is True
    assert versions[0]["yank_reason"] == "crashes"
    assert (await client.get(f"{M}/{slug}/versions/1.1.0/package")).status_code == 200
    missing = await client.put(
        f"/api/v1/admin/plugins/{slug}/versions/7.0.0/yank",
        json={"reason": "x"},
        headers=tokens.admin(),
    )
    assert missing.status_code == 404

    replacement = await publish(publisher)
    bad = await client.put(
        f"/api/v1/admin/plugins/{slug}/deprecate",
        json={"replacement": "no-such-plugin-q", "reason": "old"},
        headers=tokens.admin(),
    )
    assert bad.status_code == 422
    r = await client.put(
        f"/api/v1/admin/plugins/{slug}/deprecate",
        json={"replacement": replacement["slug"], "reason": "use the new one"},
        headers=tokens.developer(publisher),
    )
    assert r.status_code == 200
    assert r.json()["deprecated"] is True
    d = (await client.get(f"{M}/{slug}")).json()
    assert d["deprecation"] == {"reason": "use the new one", "replacement": replacement["slug"]}
    log = (
        await client.get(f"/api/v1/admin/plugins/{slug}/moderation", headers=tokens.admin())
    ).json()
    assert [e["action"] for e in log["items"]] == ["deprecate", "yank"]


async def test_relevance_halves_unverified_and_deprecated(client, publish, publisher, tokens):
    word = f"rv{uuid.uuid4().hex[:6]}"
    a = await publish(publisher, name=f"{word} alpha")
    b = await publish(publisher, name=f"{word} alpha")
    await client.put(
        f"/api/v1/admin/plugins/{b['slug']}/verify",
        json={"verified": True},
        headers=tokens.admin(),
    )
    slugs = [i["slug"] for i in (await client.get(M, params={"q": word})).json()["items"]]
    assert slugs == [b["slug"], a["slug"]]
    await client.put(
        f"/api/v1/admin/plugins/{b['slug']}/deprecate",
        json={"reason": "x"},
        headers=tokens.admin(),
    )
    c = await publish(publisher, name=f"{word} alpha")
    await client.put(
        f"/api/v1/admin/plugins/{c['slug']}/verify",
        json={"verified": True},
        headers=tokens.admin(),
    )
    slugs = [i["slug"] for i in (await client.get(M, params={"q": word})).json()["items"]]
    assert slugs[0] == c["slug"]


_ = unique_slug


async def test_relevance_pages_cross_from_candidates_to_static_order(
    client, publish, publisher, tokens, monkeypatch
):
    """With tiny candidate caps, relevance pages run through tier 1 (ranked candidates) into
    tier 2 (the other matches by static score): every match exactly once, in a stable order."""
    from opscenter.catalog.marketplace import search

    monkeypatch.setattr(search, "N_ALL", 2)
    monkeypatch.setattr(search, "N_HEAD", 1)
    monkeypatch.setattr(search, "WINDOW", 3)
    monkeypatch.setattr(search, "TYPO_BELOW", 1)
    word = f"tr{uuid.uuid4().hex[:6]}"
    made = [await publish(publisher, name=f"{word} {c}") for c in "abcdef"]
    await client.put(
        f"/api/v1/admin/plugins/{made[4]['slug']}/verify",
        json={"verified": True},
        headers=tokens.admin(),
    )
    for limit in (1, 2, 4):
        seen, cursor = [], None
        while True:
            params = {"q": word, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            r = await client.get(M, params=params)
            assert r.status_code == 200, r.text
            seen += [i["slug"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(m["slug"] for m in made), limit
        assert len(seen) == 6
        assert seen[0] == made[4]["slug"]  # verified: the best static score, a candidate
    full = (await client.get(M, params={"q": word, "limit": 100})).json()
    assert full["facets"]["verified"] == {"true": 1, "false": 5}


# Per sort, keys of the wrong type or range (a well-typed key is a legitimate position).
BAD_KEYS = {
    "relevance": [{"x": 1}, "abc", None],
    "rating": [{"x": 1}, "abc", None],
    "popular": ["abc", 1.5, 2**40, True],
    "newest": ["2026-13-45", 17, None],
    "name": [{"x": 1}, 17, None],
}


@pytest.mark.parametrize("sort", sorted(BAD_KEYS))
async def test_tampered_cursors_are_422_not_500(client, sort):
    def cursor(values: list) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    uid = "00000000-0000-0000-0000-000000000000"
    tier = 1 if sort == "relevance" else 0
    good_key = {
        "relevance": 0.5,
        "rating": 3.0,
        "popular": 3,
        "newest": "2026-01-01T00:00:00+00:00",
        "name": "x",
    }[sort]
    tampered = [[key, uid, 1.0e9, tier, False] for key in BAD_KEYS[sort]] + [
        [good_key, "not-a-uuid", 1.0e9, tier, False],
        [good_key, uid, 1.0e308, tier, False],  # the reference time is out of range
        [good_key, uid, 1.0e9, 7, False],  # no such tier
        [good_key, uid, 1.0e9, tier, "yes"],
    ]
    for values in tampered:
        r = await client.get(M, params={"sort": sort, "cursor": cursor(values)})
        assert r.status_code == 422, (values, r.text)
        assert r.json()["errors"][0]["field"] == "query.cursor"
    legit = await client.get(
        M, params={"sort": sort, "cursor": cursor([good_key, uid, 1.0e9, tier, False])}
    )
    assert legit.status_code == 200, legit.text


async def test_time_cursors_refuse_naive_and_malformed_times(client, publish, publisher, tokens):
    slug = (await publish(publisher))["slug"]

    def cursor(values: list) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    uid = "00000000-0000-0000-0000-000000000000"
    for values in (
        ["2026-01-01T00:00:00", uid],
        ["yesterday", uid],
        [17, uid],
        ["2026-01-01T00:00:00+00:00", 5],
    ):
        for path, headers in (
            (f"{M}/{slug}/versions", {}),
            (f"/api/v1/admin/plugins/{slug}/moderation", tokens.admin()),
        ):
            r = await client.get(path, params={"cursor": cursor(values)}, headers=headers)
            assert r.status_code == 422, (path, values, r.text)
