"""Writing, editing and deleting reviews through HTTP: who may, what is refused and why."""

from __future__ import annotations

import uuid

PROBLEM = "application/problem+json"


def _fields(r) -> set[str]:
    return {e["field"] for e in r.json().get("errors", [])}


async def test_a_member_of_a_tenant_that_installed_it_reviews_with_the_version(
    client, plugin, reviewer, review_body, world
):
    alice = await reviewer(version="1.4.2")
    r = await client.post(plugin.reviews, json=review_body(5), headers=alice.headers)
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["rating"] == 5
    assert review["version"] == "1.4.2"
    assert review["user_id"] == alice.user_id
    assert review["still_installed"] is True
    assert review["slug"] == plugin.slug
    rows = await world.rows("SELECT tenant_id, version FROM reviews WHERE id = :i", i=review["id"])
    assert rows == [{"tenant_id": alice.tenant_id, "version": "1.4.2"}]


async def test_without_an_installation_the_answer_is_403_saying_why(
    client, plugin, tokens, review_body, world
):
    stranger = tokens.member("tenant-never-installed")
    r = await client.post(plugin.reviews, json=review_body(), headers=stranger)
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/not-installed")
    assert "never installed" in r.json()["detail"]
    developer = tokens.developer(plugin.publisher_id)  # no tenant at all
    r = await client.post(plugin.reviews, json=review_body(), headers=developer)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/not-a-tenant-member")
    assert await world.rows("SELECT 1 FROM reviews WHERE plugin_id = :p", p=plugin.id) == []


async def test_a_tenant_that_had_it_installed_may_review_and_shows_not_installed(
    client, plugin, tokens, review_body, world
):
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    installation = await world.install(plugin, tenant, "2.0.0")
    await world.uninstall(plugin, tenant, installation, version="2.0.0")
    r = await client.post(plugin.reviews, json=review_body(2), headers=tokens.member(tenant))
    assert r.status_code == 201, r.text
    assert r.json()["still_installed"] is False
    assert r.json()["version"] == "2.0.0"


async def test_a_second_review_by_the_same_user_is_409_naming_the_first(
    client, plugin, reviewer, review_body
):
    alice = await reviewer()
    first = (await client.post(plugin.reviews, json=review_body(), headers=alice.headers)).json()
    r = await client.post(plugin.reviews, json=review_body(1), headers=alice.headers)
    assert r.status_code == 409
    assert r.json()["existing_review_id"] == first["id"]
    assert first["id"] in r.json()["detail"]


async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client, plugin, reviewer, review_body, world
):
    alice = await reviewer()
    cases = [
        (review_body(0), "body.rating"),
        (review_body(6), "body.rating"),
        (review_body("five"), "body.rating"),
        (review_body(title="x" * 201), "body.title"),
        (review_body(title="   "), "body.title"),
        (review_body(body="x" * 5001), "body.body"),
        (review_body(body=""), "body.body"),
        (review_body(body=" \n "), "body.body"),
        ({"rating": 3, "title": "t"}, "body.body"),
        (review_body(stars=5), "body.stars"),
    ]
    for body, field in cases:
        r = await client.post(plugin.reviews, json=body, headers=alice.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert field in _fields(r), (body, r.json())
    r = await client.post(
        plugin.reviews,
        content=b'{"rating": 3, "title": "t", "body": "\\ud800"}',
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert "body.body" in _fields(r)
    assert await world.rows("SELECT 1 FROM reviews WHERE plugin_id = :p", p=plugin.id) == []


async def test_bodies_are_plain_text_returned_exactly_as_sent(
    client, plugin, reviewer, review_body
):
    alice = await reviewer()
    text = '<script>alert("x")</script> & <b>bold</b>\n  indented &amp; \u00e9\U0001f600'
    r = await client.post(
        plugin.reviews, json=review_body(title="<i>Title</i>", body=text), headers=alice.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["body"] == text
    listed = (await client.get(plugin.reviews)).json()["items"]
    assert [(i["title"], i["body"]) for i in listed] == [("<i>Title</i>", text)]


async def test_authors_edit_and_delete_their_own_and_others_get_404(
    client, plugin, reviewer, review_body, world
):
    alice, bob = await reviewer(), await reviewer()
    review = (await client.post(plugin.reviews, json=review_body(2), headers=alice.headers)).json()
    path = f"{plugin.reviews}/{review['id']}"
    edited = review_body(5, title="Better now", body="Fixed in 1.1")
    assert (await client.put(path, json=edited, headers=bob.headers)).status_code == 404
    assert (await client.delete(path, headers=bob.headers)).status_code == 404
    r = await client.put(path, json=edited, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["rating"], r.json()["title"], r.json()["body"]) == (
        5,
        "Better now",
        "Fixed in 1.1",
    )
    assert r.json()["updated_at"] > r.json()["created_at"]
    r = await client.put(path, json={**edited, "rating": 9}, headers=alice.headers)
    assert r.status_code == 422
    assert "body.rating" in _fields(r)
    assert (await client.delete(path, headers=alice.headers)).status_code == 204
    assert (await client.delete(path, headers=alice.headers)).status_code == 404
    assert await world.rows("SELECT 1 FROM reviews WHERE id = :i", i=review["id"]) == []
    # Deleted, the author may review again.
    r = await client.post(plugin.reviews, json=review_body(3), headers=alice.headers)
    assert r.status_code == 201


async def test_unknown_plugin_or_review_is_404(client, plugin, reviewer, review_body, tokens):
    alice = await reviewer()
    r = await client.post(
        "/api/v1/plugins/marketplace/no-such-plugin/reviews",
        json=review_body(),
        headers=alice.headers,
    )
    assert r.status_code == 404
    assert (await client.get("/api/v1/plugins/marketplace/no-such-plugin/reviews")).status_code == (
        404
    )
    missing = f"{plugin.reviews}/{uuid.uuid4()}"
    assert (await client.put(missing, json=review_body(), headers=alice.headers)).status_code == 404
    assert (await client.post(f"{missing}/helpful", headers=alice.headers)).status_code == 404
    r = await client.put(f"{plugin.reviews}/not-a-uuid", json=review_body(), headers=alice.headers)
    assert r.status_code == 422
    assert "path.review_id" in _fields(r)


async def test_writes_need_a_token(client, plugin, review_body):
    r = await client.post(plugin.reviews, json=review_body())
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM


async def test_a_banned_plugins_reviews_are_frozen(
    client, plugin, reviewer, review_body, world, tokens
):
    alice, bob = await reviewer(), await reviewer()
    review = (await client.post(plugin.reviews, json=review_body(), headers=alice.headers)).json()
    path = f"{plugin.reviews}/{review['id']}"
    await world.ban(plugin)
    for r in [
        await client.post(plugin.reviews, json=review_body(), headers=bob.headers),
        await client.put(path, json=review_body(1), headers=alice.headers),
        await client.delete(path, headers=alice.headers),
        await client.post(f"{path}/helpful", headers=bob.headers),
        await client.post(
            f"{path}/reply", json={"body": "thanks"}, headers=tokens.developer(plugin.publisher_id)
        ),
    ]:
        assert r.status_code == 410, r.text
        assert "malware" in r.json()["detail"]
    rows = await world.rows("SELECT rating FROM reviews WHERE plugin_id = :p", p=plugin.id)
    assert rows == [{"rating": 4}]
    assert (await client.get(plugin.reviews)).json()["summary"]["count"] == 1


async def test_a_retried_write_with_the_same_idempotency_key_returns_the_first_answer(
    client, plugin, reviewer, review_body, world
):
    alice = await reviewer()
    headers = {**alice.headers, "Idempotency-Key": "create-1"}
    first = await client.post(plugin.reviews, json=review_body(), headers=headers)
    again = await client.post(plugin.reviews, json=review_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replay"] == "true"
    rows = await world.rows("SELECT 1 FROM reviews WHERE plugin_id = :p", p=plugin.id)
    assert len(rows) == 1


async def test_odd_but_valid_refs_and_overlong_token_ids_never_answer_500(
    client, plugin, tokens, review_body, settings
):
    braces = f"{{{plugin.id}}}"
    r = await client.get(f"/api/v1/plugins/marketplace/{braces}/reviews")
    assert r.status_code == 200
    assert r.json()["summary"]["count"] == 0
    urn = f"urn:uuid:{uuid.uuid4()}"
    assert (await client.get(f"/api/v1/plugins/marketplace/{urn}/reviews")).status_code == 404
    long_sub = tokens._bearer(sub="u" * 129, tenant_id="t", roles=["member"])
    r = await client.post(plugin.reviews, json=review_body(), headers=long_sub)
    assert r.status_code == 401
    assert "sub" in r.json()["detail"]
