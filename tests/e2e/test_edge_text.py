"""Text Postgres cannot store (NUL, lone surrogates) is refused at the edge with a 422 naming the
field, wherever it comes in: JSON bodies of any JSON content type (letter case, suffixes,
parameters, none at all), query strings, multipart text fields, plugin.yaml strings, cursors, and
token claims (401). Property-based: hypothesis puts the character anywhere in generated bodies,
through the gateway on the real suite, and each refused request changed nothing."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscenter.catalog.testing import manifest, package, tar_gz
from opscenter.servicekit.testing import bearer

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
DEVELOPER = bearer(sub=f"dev-{RUN}", roles=["developer"], publisher_id=f"pub-{RUN}")
ADMIN = bearer(sub=f"adm-{RUN}", tenant_id=f"t-{RUN}", roles=["tenant_admin"])
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Whatever FastAPI would parse as JSON: the guard must look at every one of them.
JSON_TYPES = st.sampled_from(
    [
        "application/json",
        "Application/JSON",
        "APPLICATION/JSON; charset=utf-8",
        "application/merge-patch+json",
        "application/vnd.opscenter+JSON",
        None,
    ]
)
BAD_CHARS = st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00x"])
SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def _escaped(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped (lone surrogates can only travel so)."""
    return json.dumps(value, ensure_ascii=True).encode()


def _register_body(slug: str, text: str, where: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": slug,
        "name": "Edge text",
        "type": "backend",
        "category": "monitoring",
        "description": "fine",
        "tags": ["ok"],
    }
    if where == "a key":
        body["description"] = {text: "x"}  # a key: the path names where the key sits
    else:
        body[where] = [text] if where == "tags" else text
    return body


@EXAMPLES
@given(
    content_type=JSON_TYPES,
    bad=BAD_CHARS,
    before=SAFE_TEXT,
    after=SAFE_TEXT,
    where=st.sampled_from(["name", "description", "tags", "a key"]),
)
def test_json_bodies_with_text_postgres_cannot_store_are_422_naming_the_field(
    gateway_url: str, content_type: str | None, bad: str, before: str, after: str, where: str
):
    slug = f"edge-{uuid.uuid4().hex[:12]}"
    text = before + bad + after
    body = _register_body(slug, text, where)
    headers = {**DEVELOPER, **({"content-type": content_type} if content_type else {})}
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.post("/api/v1/plugins/register", content=_escaped(body), headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        field = r.json()["errors"][0]["field"]
        expected = {"a key": "body.description", "tags": "body.tags.0"}.get(where, f"body.{where}")
        assert field.startswith(expected), (field, expected)
        # Nothing was registered.
        mine = client.get("/api/v1/plugins/publishers/me/plugins", headers=DEVELOPER)
        assert mine.status_code == 200
        assert slug not in {p["slug"] for p in mine.json()["items"]}


@EXAMPLES
@given(content_type=JSON_TYPES, depth=st.integers(min_value=33, max_value=600))
def test_a_body_nested_too_deep_is_422_for_any_json_type(
    gateway_url: str, content_type: str | None, depth: int
):
    config: Any = "leaf"
    for _ in range(depth):
        config = {"k": config}
    headers = {**ADMIN, **({"content-type": content_type} if content_type else {})}
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.post(
            "/api/v1/plugins/install",
            content=_escaped({"plugin": "no-such-plugin", "config": config}),
            headers=headers,
        )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/too-deep")


def test_a_utf16_body_cannot_smuggle_an_escape_past_the_guard(gateway_url: str):
    body = json.dumps(_register_body(f"edge-{RUN}-u16", "a\x00b", "name")).encode("utf-16")
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.post(
            "/api/v1/plugins/register",
            content=body,
            headers={**DEVELOPER, "content-type": "application/json"},
        )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body"


@EXAMPLES
@given(name=st.sampled_from(["q", "category", "cursor", "tag"]), before=SAFE_TEXT)
def test_nul_in_a_query_parameter_is_422_naming_it(gateway_url: str, name: str, before: str):
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.get("/api/v1/plugins/marketplace", params={name: before + "\x00"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == f"query.{name}"


@EXAMPLES
@given(bad=BAD_CHARS, field=st.sampled_from(["description", "name", "author"]))
def test_plugin_yaml_strings_with_nul_or_lone_surrogates_are_422_naming_the_key(
    gateway_url: str, bad: str, field: str
):
    slug = f"edge-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.post(
            "/api/v1/plugins/register",
            json={"slug": slug, "name": slug, "type": "backend", "category": "monitoring"},
            headers=DEVELOPER,
        )
        assert r.status_code == 201, r.text
        # YAML's escapes are the only way to write these characters in plugin.yaml.
        escape = "\\0" if bad == "\x00" else f"\\u{ord(bad[0]):04x}"
        data = manifest(slug)
        del data[field]
        yaml_bytes = f'{field}: "x{escape}y"\n'.encode() + yaml.safe_dump(data).encode()
        pkg = tar_gz({"plugin.yaml": yaml_bytes, "backend/main.py": b"class App: ...\n"})
        r = client.post(
            "/api/v1/plugins/upload",
            files={"package": ("p.tar.gz", pkg, "application/gzip")},
            data={"plugin": slug},
            headers=DEVELOPER,
        )
        assert r.status_code == 422, r.text
        assert any(e["field"] == f"plugin.yaml.{field}" for e in r.json()["errors"]), r.text
        versions = client.get(f"/api/v1/plugins/marketplace/{slug}/versions")
        assert versions.status_code == 404  # never published: not public, nothing stored


@pytest.mark.parametrize("bad", ["\x00", "nul\x00in the middle"])
def test_multipart_text_fields_with_nul_are_422_naming_the_field(gateway_url: str, bad: str):
    slug = f"edge-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.post(
            "/api/v1/plugins/register",
            json={"slug": slug, "name": slug, "type": "backend", "category": "monitoring"},
            headers=DEVELOPER,
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/plugins/upload",
            files={"package": ("p.tar.gz", package(manifest(slug)), "application/gzip")},
            data={"plugin": slug, "changelog": bad},
            headers=DEVELOPER,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "changelog"
        assert client.get(f"/api/v1/plugins/marketplace/{slug}").status_code == 404


@EXAMPLES
@given(bad=BAD_CHARS)
def test_cursors_holding_text_postgres_cannot_store_are_422(gateway_url: str, bad: str):
    values = [f"a{bad}", str(uuid.uuid4()), 1.0, 0, False]
    cursor = base64.urlsafe_b64encode(_escaped(values)).decode().rstrip("=")
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.get("/api/v1/plugins/marketplace", params={"cursor": cursor, "sort": "name"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "query.cursor"
        mine = client.get(
            "/api/v1/plugins/publishers/me/plugins",
            params={"cursor": base64.urlsafe_b64encode(_escaped([f"s{bad}"])).decode()},
            headers=DEVELOPER,
        )
        assert mine.status_code == 422, mine.text
        assert mine.json()["errors"][0]["field"] == "query.cursor"
