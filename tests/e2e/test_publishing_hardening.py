"""Publishing, as an attacker would try it through the gateway: another publisher's signing key
cannot be registered (409), so a signed package cannot be republished as one's own; a plugin with
no published version is not public (404); archive members with setuid/setgid/sticky bits, NUL in
their names, or of device, fifo or socket type are refused with a 422 naming the member."""

from __future__ import annotations

import io
import stat
import tarfile
import uuid
import zipfile

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscenter.catalog.testing import Signer, manifest, package, tar_gz
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

SETTINGS = ServiceSettings()


def developer(publisher: str) -> dict[str, str]:
    token = mint_dev_token(
        SETTINGS, sub=f"dev-{publisher}", roles=["developer"], publisher_id=publisher
    )
    return {"Authorization": f"Bearer {token}"}


def register(client: httpx.Client, slug: str, headers: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/plugins/register",
        json={"slug": slug, "name": slug, "type": "backend", "category": "monitoring"},
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def test_a_key_registered_by_another_publisher_is_409_in_either_encoding(
    gateway: httpx.AsyncClient,
):
    run = uuid.uuid4().hex[:8]
    owner, thief = developer(f"pub-own-{run}"), developer(f"pub-thief-{run}")
    signer = Signer()
    r = await gateway.post(
        "/api/v1/plugins/publishers/me/keys", json={"public_key": signer.public_b64}, headers=owner
    )
    assert r.status_code == 201, r.text
    for encoding in (signer.public_b64, signer.public_pem):
        r = await gateway.post(
            "/api/v1/plugins/publishers/me/keys", json={"public_key": encoding}, headers=thief
        )
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("/key-taken")
        assert r.json()["errors"][0]["field"] == "body.public_key"
    mine = await gateway.get("/api/v1/plugins/publishers/me/keys", headers=thief)
    assert mine.status_code == 200
    assert mine.json()["items"] == []
    again = await gateway.post(
        "/api/v1/plugins/publishers/me/keys", json={"public_key": signer.public_b64}, headers=owner
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/key-exists")
    # Revoked, the key stays revoked: registering it again says so.
    listed = (await gateway.get("/api/v1/plugins/publishers/me/keys", headers=owner)).json()
    key_id = listed["items"][0]["key_id"]
    revoked = await gateway.delete(f"/api/v1/plugins/publishers/me/keys/{key_id}", headers=owner)
    assert revoked.status_code == 200, revoked.text
    after = await gateway.post(
        "/api/v1/plugins/publishers/me/keys", json={"public_key": signer.public_pem}, headers=owner
    )
    assert after.status_code == 409, after.text
    assert after.json()["type"].endswith("/key-revoked")
    assert after.json()["errors"] == [{"field": "body.public_key", "message": "was revoked"}]


def test_a_registered_plugin_without_a_published_version_is_not_public(gateway_url: str):
    run = uuid.uuid4().hex[:8]
    slug = f"draft-{run}"
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        register(client, slug, developer(f"pub-{run}"))
        for path in ("", "/versions", "/versions/1.0.0/package"):
            r = client.get(f"/api/v1/plugins/marketplace/{slug}{path}")
            assert r.status_code == 404, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        # Its publisher still sees it.
        mine = client.get("/api/v1/plugins/publishers/me/plugins", headers=developer(f"pub-{run}"))
        assert slug in {p["slug"] for p in mine.json()["items"]}


def _tar_member(name: str, *, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.type = kind
    return info


MEMBER_CASES = st.one_of(
    st.tuples(
        st.just("tar"),
        st.sampled_from([stat.S_ISUID, stat.S_ISGID, stat.S_ISVTX, 0o6755, 0o4700]),
        st.just(tarfile.REGTYPE),
        st.just("setuid"),
    ),
    st.tuples(
        st.just("tar"),
        st.just(0o644),
        st.sampled_from([tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE]),
        st.just("device"),
    ),
    st.tuples(
        st.just("zip"),
        st.sampled_from([stat.S_IFREG | stat.S_ISUID | 0o755, stat.S_IFREG | stat.S_ISGID | 0o644]),
        st.just(b""),
        st.just("setuid"),
    ),
    st.tuples(
        st.just("zip"),
        st.sampled_from([stat.S_IFSOCK | 0o644, stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o600]),
        st.just(b""),
        st.just("device"),
    ),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=MEMBER_CASES, name=st.from_regex(r"\A[a-z]{1,8}/[a-z]{1,8}\.bin\Z"))
def test_archive_members_with_special_bits_or_types_are_422_naming_the_member(
    gateway_url: str, case: tuple[str, int, bytes, str], name: str
):
    fmt, mode, kind, reason = case
    run = uuid.uuid4().hex[:8]
    slug = f"arch-{run}"
    data = yaml.safe_dump(manifest(slug)).encode()
    if fmt == "tar":
        blob = tar_gz({"plugin.yaml": data}, extra=[_tar_member(name, mode=mode, kind=kind)])
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("plugin.yaml", data)
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, b"data")
        blob = buf.getvalue()
    headers = developer(f"pub-{run}")
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        register(client, slug, headers)
        r = client.post(
            "/api/v1/plugins/upload",
            files={"package": (f"p.{fmt}", blob, "application/octet-stream")},
            data={"plugin": slug},
            headers=headers,
        )
        assert r.status_code == 422, r.text
        errors = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert f"package:{name}" in errors, errors
        assert reason in errors[f"package:{name}"]
        assert client.get(f"/api/v1/plugins/marketplace/{slug}").status_code == 404


def test_a_zip_member_with_nul_in_its_name_is_422_not_silently_cut(gateway_url: str):
    run = uuid.uuid4().hex[:8]
    slug = f"nulname-{run}"
    data = yaml.safe_dump(manifest(slug)).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("plugin.yaml", data)
        zf.writestr("backend/main.py", b"class App: ...\n")
        zf.writestr("assets/logo.png", b"png")
    # zipfile cuts names at NUL on writing too: put the NUL into the stored name by hand (a name
    # plugin.yaml does not mention, so its bytes and CRC stay as they are).
    blob = buf.getvalue().replace(b"assets/logo.png", b"assets/lo\x00o.png")
    headers = developer(f"pub-{run}")
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        register(client, slug, headers)
        r = client.post(
            "/api/v1/plugins/upload",
            files={"package": ("p.zip", blob, "application/zip")},
            data={"plugin": slug},
            headers=headers,
        )
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors.get("package:assets/lo\\x00o.png", "").startswith("has a NUL"), errors


def test_a_clean_package_still_publishes(gateway_url: str):
    run = uuid.uuid4().hex[:8]
    slug = f"clean-{run}"
    headers = developer(f"pub-{run}")
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        register(client, slug, headers)
        r = client.post(
            "/api/v1/plugins/upload",
            files={"package": ("p.tar.gz", package(manifest(slug)), "application/gzip")},
            data={"plugin": slug},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        assert client.get(f"/api/v1/plugins/marketplace/{slug}").status_code == 200
