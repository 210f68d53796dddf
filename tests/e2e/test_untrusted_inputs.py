"""Cursors, tokens and limits, fuzzed through the gateway on the real suite: every decoded cursor
value is checked for type and range (422 naming query.cursor, never 500), every claim is checked
for type (401), and bodies too big or too deep, stored config too big and broken multipart are
refused with a problem that names what was wrong."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import bearer

pytestmark = pytest.mark.integration

SETTINGS = ServiceSettings()
RUN = uuid.uuid4().hex[:8]
DEVELOPER = bearer(sub=f"dev-{RUN}", roles=["developer"], publisher_id=f"pub-{RUN}")
ADMIN = bearer(sub=f"adm-{RUN}", tenant_id=f"t-{RUN}", roles=["tenant_admin"])
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+00:00",
            str(uuid.UUID(int=0)),
            "NaN",
            "1e999",
        ]
    )
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
CURSOR_LISTS = st.lists(JSON_VALUES, min_size=1, max_size=6)
SORTS = st.sampled_from(["relevance", "popular", "rating", "newest", "name"])


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _refused_cursor(r: httpx.Response) -> None:
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["errors"][0]["field"] == "query.cursor", r.text


@EXAMPLES
@given(values=CURSOR_LISTS, sort=SORTS, q=st.sampled_from([None, "watch"]))
def test_any_cursor_on_the_public_marketplace_is_200_or_422(
    gateway_url: str, values: list[Any], sort: str, q: str | None
):
    params = {"cursor": _cursor(values), "sort": sort, **({"q": q} if q else {})}
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        _refused_cursor(client.get("/api/v1/plugins/marketplace", params=params))


@EXAMPLES
@given(values=CURSOR_LISTS)
def test_any_cursor_on_a_developers_and_an_admins_lists_is_200_or_422(
    gateway_url: str, values: list[Any]
):
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        params = {"cursor": _cursor(values)}
        _refused_cursor(
            client.get("/api/v1/plugins/publishers/me/plugins", params=params, headers=DEVELOPER)
        )


# (For sort=name a timestamp is a fine text key.)
@pytest.mark.parametrize("sort", ["newest", "popular", "rating", "relevance"])
@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-01-01T00:00:00"]
)
async def test_a_timestamp_out_of_range_in_a_cursor_is_422(
    gateway: httpx.AsyncClient, sort: str, at: str
):
    tier = 1 if sort == "relevance" else 0
    cursor = _cursor([at, str(uuid.uuid4()), time.time(), tier, False])
    r = await gateway.get("/api/v1/plugins/marketplace", params={"cursor": cursor, "sort": sort})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "query.cursor"


# -- tokens ------------------------------------------------------------------------------------

GOOD = {"sub": "user-17", "tenant_id": "tenant-conformance", "roles": ["tenant_admin"]}
WRONG_TYPES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.text(min_size=129, max_size=400),
    st.sampled_from(["", "a\x00b", " lead", "tab\there", "ünïcode", "x" * 129, "a/b"]),
)


def _token(claims: dict[str, Any]) -> dict[str, str]:
    body = {"exp": int(time.time()) + 600, **claims}
    secret = SETTINGS.jwt_secret.get_secret_value()
    return {"Authorization": f"Bearer {jwt.encode(body, secret, algorithm='HS256')}"}


@EXAMPLES
@given(claim=st.sampled_from(["sub", "tenant_id", "publisher_id"]), value=WRONG_TYPES)
def test_an_identifier_claim_of_the_wrong_type_or_shape_is_401(
    gateway_url: str, claim: str, value: Any
):
    headers = _token({**GOOD, claim: value})
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        for path in ("/api/v1/plugins/installed", "/api/v1/plugins/publishers/me/plugins"):
            r = client.get(path, headers=headers)
            assert r.status_code == 401, (path, r.text)
            assert r.json()["type"].endswith("/invalid-token")


@EXAMPLES
@given(
    claim=st.sampled_from(["roles", "exp", "iat", "nbf"]),
    value=st.one_of(
        st.text(max_size=10),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.lists(st.integers() | st.none() | st.text(min_size=65, max_size=80), min_size=1),
        st.booleans(),
    ),
)
def test_roles_and_time_claims_of_the_wrong_type_are_401(gateway_url: str, claim: str, value: Any):
    if claim == "roles" and isinstance(value, str):
        value = {"role": value}  # a string is not a list of roles either
    headers = _token({**GOOD, claim: value})
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        r = client.get("/api/v1/plugins/installed", headers=headers)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    "subject", [str(uuid.uuid4()), "user-17", "auth0|abc123", "a" * 128, "pub-conformance"]
)
async def test_identifiers_of_the_documented_alphabet_are_accepted(
    gateway: httpx.AsyncClient, subject: str
):
    r = await gateway.get(
        "/api/v1/plugins/installed", headers=_token({**GOOD, "sub": subject, "tenant_id": subject})
    )
    assert r.status_code == 200, r.text


# -- limits ------------------------------------------------------------------------------------


async def test_a_json_body_above_the_limit_is_413_and_changes_nothing(gateway: httpx.AsyncClient):
    slug = f"big-{RUN}"
    body = {"slug": slug, "name": slug, "type": "backend", "category": "monitoring"}
    body["description"] = "x" * (1024 * 1024)
    for headers in ({"content-type": "application/json"}, {"content-type": "Application/Json"}):
        r = await gateway.post(
            "/api/v1/plugins/register", content=json.dumps(body), headers={**DEVELOPER, **headers}
        )
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == "body"
    mine = await gateway.get("/api/v1/plugins/publishers/me/plugins", headers=DEVELOPER)
    assert slug not in {p["slug"] for p in mine.json()["items"]}


@pytest.mark.parametrize("path", ["/api/v1/plugins/install", "/api/v1/plugins/x-y-z/config"])
async def test_a_config_above_the_stored_limit_is_422_naming_it(
    gateway: httpx.AsyncClient, path: str
):
    config = {f"k{i}": "v" * 1000 for i in range(80)}  # ~80 KiB: under the body limit
    body = (
        {"plugin": "no-such-plugin", "config": config}
        if path.endswith("install")
        else {"config": config}
    )
    send = gateway.post if path.endswith("install") else gateway.put
    r = await send(path, json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.config"


BOUNDARY = "b0undary"
PART = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="package"; filename="p.tar.gz"\r\n'
    "Content-Type: application/gzip\r\n\r\n"
    "\x1f\x8bnot really a package"
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (PART, f"multipart/form-data; boundary={BOUNDARY}"),  # unterminated part
        (PART + f"\r\n--{BOUNDARY}", f"multipart/form-data; boundary={BOUNDARY}"),
        ("garbage without any boundary", f"multipart/form-data; boundary={BOUNDARY}"),
        (PART + f"\r\n--{BOUNDARY}--\r\n", "multipart/form-data; boundary=other"),
        ("", f"multipart/form-data; boundary={BOUNDARY}"),
    ],
)
async def test_a_malformed_or_unterminated_multipart_body_is_400(
    gateway: httpx.AsyncClient, body: str, content_type: str
):
    r = await gateway.post(
        "/api/v1/plugins/upload",
        content=body.encode("latin-1"),
        headers={**DEVELOPER, "content-type": content_type},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/malformed-form")
