"""The public list (sorts, rating filter, keyset pages, summary), helpful votes, developer
replies, hiding by platform_admin, and the per-user write limit, through HTTP."""

from __future__ import annotations

import base64
import json
import uuid

import httpx

from opscenter.reviews.main import create_app
from opscenter.reviews.summary import BAYES_PRIOR_MEAN, BAYES_PRIOR_WEIGHT


async def _review(client, plugin, who, rating, review_body, **over):
    r = await client.post(plugin.reviews, json=review_body(rating, **over), headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _all_pages(client, url, headers=None, **params):
    """Every item of a list, following next_cursor with small pages."""
    items, cursor = [], None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(url, params=query, headers=headers or {})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_sorts_filter_keyset_pages_and_the_summary(client, plugin, reviewer, review_body):
    people = [await reviewer() for _ in range(5)]
    made = [
        await _review(client, plugin, who, rating, review_body)
        for who, rating in zip(people, [3, 5, 1, 5, 4], strict=True)
    ]
    # Two helpful votes on the 1-star review, one on the first 5-star.
    voters = [await reviewer() for _ in range(2)]
    for voter in voters:
        r = await client.post(f"{plugin.reviews}/{made[2]['id']}/helpful", headers=voter.headers)
        assert r.status_code == 200, r.text
    await client.post(f"{plugin.reviews}/{made[1]['id']}/helpful", headers=voters[0].headers)

    ids = [m["id"] for m in made]
    newest = await _all_pages(client, plugin.reviews)
    assert [i["id"] for i in newest] == ids[::-1]
    helpful = await _all_pages(client, plugin.reviews, sort="helpful")
    assert [i["id"] for i in helpful] == [ids[2], ids[1], ids[4], ids[3], ids[0]]
    assert [i["helpful_count"] for i in helpful] == [2, 1, 0, 0, 0]
    highest = await _all_pages(client, plugin.reviews, sort="highest")
    assert [i["id"] for i in highest] == [ids[3], ids[1], ids[4], ids[0], ids[2]]
    lowest = await _all_pages(client, plugin.reviews, sort="lowest")
    assert [i["id"] for i in lowest] == [ids[2], ids[0], ids[4], ids[3], ids[1]]
    fives = await _all_pages(client, plugin.reviews, rating=5)
    assert [i["id"] for i in fives] == [ids[3], ids[1]]

    page = (await client.get(plugin.reviews)).json()
    # An anonymous read and one with a token are the same answer.
    for params in ({}, {"sort": "helpful", "limit": 2}, {"rating": 5, "sort": "lowest"}):
        anonymous = await client.get(plugin.reviews, params=params)
        routed = await client.get(plugin.reviews, params=params, headers=voters[0].headers)
        assert anonymous.status_code == routed.status_code == 200
        assert anonymous.json() == routed.json()
        assert anonymous.headers["content-type"] == routed.headers["content-type"]
    summary = page["summary"]
    assert summary["count"] == 5
    assert summary["histogram"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2}
    assert summary["average"] == 3.6
    expected = (BAYES_PRIOR_WEIGHT * BAYES_PRIOR_MEAN + 18) / (BAYES_PRIOR_WEIGHT + 5)
    assert abs(summary["bayesian_average"] - expected) < 1e-4
    assert all(i["still_installed"] and i["version"] == "1.0.0" for i in page["items"])


async def test_bad_queries_and_cursors_are_422_naming_the_field(
    client, plugin, reviewer, review_body
):
    for params, field in [
        ({"sort": "oldest"}, "query.sort"),
        ({"rating": 0}, "query.rating"),
        ({"rating": 6}, "query.rating"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"cursor": "!!!"}, "query.cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'["newest", 1]').decode()}, "query.cursor"),
        (
            {"cursor": base64.urlsafe_b64encode(b'["newest", "yesterday", "x"]').decode()},
            "query.cursor",
        ),
    ]:
        r = await client.get(plugin.reviews, params=params)
        assert r.status_code == 422, (params, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    for who in [await reviewer() for _ in range(2)]:
        await _review(client, plugin, who, 4, review_body)
    cursor = (await client.get(plugin.reviews, params={"limit": 1})).json()["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded[0] == "newest"
    r = await client.get(plugin.reviews, params={"cursor": cursor, "sort": "helpful"})
    assert r.status_code == 422
    assert "another sort" in r.json()["detail"]


async def test_still_installed_follows_the_reviewers_tenant(
    client, plugin, reviewer, review_body, world
):
    alice = await reviewer()
    await _review(client, plugin, alice, 4, review_body)
    installation = (
        await world.rows(
            "SELECT installation_id FROM installations WHERE tenant_id = :t", t=alice.tenant_id
        )
    )[0]["installation_id"]
    await world.uninstall(plugin, alice.tenant_id, installation)
    item = (await client.get(plugin.reviews)).json()["items"][0]
    assert item["still_installed"] is False


async def test_helpful_votes_count_once_and_never_for_the_author(
    client, plugin, reviewer, review_body, tokens
):
    alice, bob = await reviewer(), await reviewer()
    review = await _review(client, plugin, alice, 4, review_body)
    vote = f"{plugin.reviews}/{review['id']}/helpful"
    first = await client.post(vote, headers=bob.headers)
    assert first.status_code == 200
    assert first.json() == {"review_id": review["id"], "helpful_count": 1, "voted": True}
    again = await client.post(vote, headers=bob.headers)
    assert again.status_code == 200
    assert again.json()["helpful_count"] == 1
    own = await client.post(vote, headers=alice.headers)
    assert own.status_code == 403
    assert own.json()["type"].endswith("/own-review")
    # Any tenant's member may vote (no installation needed); a developer without a tenant not.
    outsider = await client.post(vote, headers=tokens.member("tenant-elsewhere"))
    assert outsider.json()["helpful_count"] == 2
    dev = await client.post(vote, headers=tokens.developer(plugin.publisher_id))
    assert dev.status_code == 403
    item = (await client.get(plugin.reviews)).json()["items"][0]
    assert item["helpful_count"] == 2


async def test_the_plugins_developer_replies_once_and_edits_the_reply(
    client, plugin, reviewer, review_body, tokens
):
    alice = await reviewer()
    review = await _review(client, plugin, alice, 2, review_body)
    path = f"{plugin.reviews}/{review['id']}/reply"
    developer = tokens.developer(plugin.publisher_id)
    other = tokens.developer("pub-someone-else")
    assert (await client.post(path, json={"body": "hi"}, headers=other)).status_code == 404
    assert (await client.put(path, json={"body": "hi"}, headers=developer)).status_code == 404
    r = await client.post(path, json={"body": "hi"}, headers=alice.headers)
    assert r.status_code == 403
    r = await client.post(path, json={"body": "Fixed in 1.1 <b>really</b>"}, headers=developer)
    assert r.status_code == 201, r.text
    reply = r.json()["reply"]
    assert reply["body"] == "Fixed in 1.1 <b>really</b>"
    assert reply["author_id"] == f"dev-{plugin.publisher_id}"
    second = await client.post(path, json={"body": "again"}, headers=developer)
    assert second.status_code == 409
    assert second.json()["review_id"] == review["id"]
    r = await client.put(path, json={"body": "Fixed in 1.2"}, headers=developer)
    assert r.status_code == 200
    assert r.json()["reply"]["body"] == "Fixed in 1.2"
    assert r.json()["reply"]["updated_at"] > r.json()["reply"]["created_at"]
    r = await client.put(path, json={"body": ""}, headers=developer)
    assert r.status_code == 422
    assert "body.body" in {e["field"] for e in r.json()["errors"]}
    r = await client.put(path, json={"body": "x", "extra": 1}, headers=developer)
    assert r.status_code == 422
    assert "body.extra" in {e["field"] for e in r.json()["errors"]}
    listed = (await client.get(plugin.reviews)).json()["items"][0]
    assert listed["reply"]["body"] == "Fixed in 1.2"
    assert (await client.put(path, json={"body": "x"}, headers=other)).status_code == 404


async def test_platform_admin_hides_and_unhides_with_a_reason_in_the_log(
    client, plugin, reviewer, review_body, tokens
):
    alice, bob = await reviewer(), await reviewer()
    spam = await _review(client, plugin, alice, 1, review_body, body="buy pills")
    kept = await _review(client, plugin, bob, 5, review_body)
    hide = f"/api/v1/admin/reviews/{spam['id']}/hide"
    admin = tokens.admin()
    r = await client.put(hide, json={"hidden": True, "reason": "spam"}, headers=alice.headers)
    assert r.status_code == 403
    r = await client.put(hide, json={"hidden": True}, headers=admin)
    assert r.status_code == 422
    assert "body.reason" in {e["field"] for e in r.json()["errors"]}
    r = await client.put(hide, json={"hidden": True, "reason": "spam"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["hidden"], r.json()["hidden_reason"]) == (True, "spam")

    public = (await client.get(plugin.reviews)).json()
    assert [i["id"] for i in public["items"]] == [kept["id"]]
    assert public["summary"]["count"] == 1
    assert public["summary"]["histogram"]["1"] == 0
    as_member = (await client.get(plugin.reviews, headers=bob.headers)).json()
    assert [i["id"] for i in as_member["items"]] == [kept["id"]]
    as_admin = (await client.get(plugin.reviews, headers=admin)).json()
    assert [(i["id"], i["hidden"]) for i in as_admin["items"]] == [
        (kept["id"], False),
        (spam["id"], True),
    ]
    assert as_admin["items"][1]["hidden_reason"] == "spam"
    # Hidden: nobody but the admin can vote on it or see it.
    assert (
        await client.post(f"{plugin.reviews}/{spam['id']}/helpful", headers=bob.headers)
    ).status_code == 404

    r = await client.put(hide, json={"hidden": False, "reason": "appeal granted"}, headers=admin)
    assert r.status_code == 200
    assert r.json()["hidden"] is False
    assert (await client.get(plugin.reviews)).json()["summary"]["count"] == 2
    log = await client.get(f"/api/v1/admin/reviews/{spam['id']}/moderation", headers=admin)
    assert log.status_code == 200
    assert [(e["action"], e["reason"], e["actor_id"]) for e in log.json()["items"]] == [
        ("unhide", "appeal granted", "admin-1"),
        ("hide", "spam", "admin-1"),
    ]
    missing = f"/api/v1/admin/reviews/{uuid.uuid4()}"
    assert (
        await client.put(f"{missing}/hide", json={"hidden": True, "reason": "x"}, headers=admin)
    ).status_code == 404
    assert (await client.get(f"{missing}/moderation", headers=admin)).status_code == 404


async def test_the_write_limit_holds_across_api_processes(
    settings, runtime, plugin, reviewer, review_body, world
):
    """Two apps (two connection pools, as two API processes would have) share one user's limit
    through Postgres: the fourth write answers 429 with Retry-After, and changes nothing."""
    limited = settings.model_copy(update={"write_limit": 3, "write_window_seconds": 3600})
    apps = [create_app(limited), create_app(limited)]
    alice, bob = await reviewer(), await reviewer()
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        for app in apps
    ]
    try:
        review = (
            await clients[0].post(plugin.reviews, json=review_body(3), headers=alice.headers)
        ).json()
        path = f"{plugin.reviews}/{review['id']}"
        r = await clients[1].put(path, json=review_body(4), headers=alice.headers)
        assert r.status_code == 200
        r = await clients[0].put(path, json=review_body(5), headers=alice.headers)
        assert r.status_code == 200
        refused = await clients[1].put(path, json=review_body(1), headers=alice.headers)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        assert refused.json()["retry_after"] == int(refused.headers["retry-after"])
        # Another user is not limited by alice's writes.
        r = await clients[1].post(plugin.reviews, json=review_body(2), headers=bob.headers)
        assert r.status_code == 201
    finally:
        for c in clients:
            await c.aclose()
        for app in apps:
            await app.state.runtime.dispose()
    rows = await world.rows("SELECT rating FROM reviews WHERE id = :i", i=review["id"])
    assert rows == [{"rating": 5}]
