"""Publishing: register, keys, upload with every refusal, on the real Postgres."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import uuid

import yaml
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from opscenter.catalog.models import Base
from opscenter.catalog.testing import (
    Signer,
    gzip_bomb_tar,
    manifest,
    package,
    tar_gz,
    unique_slug,
    zip_bomb,
    zip_bytes,
)


async def count_rows(db_url: str, table: str) -> int:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - test table names
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


# -- register --------------------------------------------------------------------------------


async def test_register_creates_a_plugin_owned_by_the_publisher(client, tokens, publisher):
    slug = unique_slug()
    body = {"slug": slug, "name": "Watcher", "type": "backend", "category": "monitoring"}
    r = await client.post(
        "/api/v1/plugins/register", json=body, headers=tokens.developer(publisher)
    )
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["slug"] == slug
    assert data["publisher_id"] == publisher
    assert data["latest_version"] is None
    assert data["verified"] is False
    assert data["pricing"] == {"free": True, "currency": "USD"}

    again = await client.post(
        "/api/v1/plugins/register", json=body, headers=tokens.developer("someone-else")
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["errors"][0]["field"] == "body.slug"


async def test_register_is_idempotent_with_a_key(client, tokens, publisher):
    body = {"slug": unique_slug(), "name": "W", "type": "theme", "category": "theme"}
    headers = {**tokens.developer(publisher), "Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/plugins/register", json=body, headers=headers)
    second = await client.post("/api/v1/plugins/register", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replay") == "true"


async def test_register_role_rules(client, tokens):
    body = {"slug": unique_slug(), "name": "W", "type": "theme", "category": "theme"}
    assert (await client.post("/api/v1/plugins/register", json=body)).status_code == 401
    r = await client.post("/api/v1/plugins/register", json=body, headers=tokens.member("t1"))
    assert r.status_code == 403
    r = await client.post("/api/v1/plugins/register", json=body, headers=tokens.admin())
    assert r.status_code == 403


async def test_register_validates_every_field(client, tokens, publisher):
    body = {
        "slug": "0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11",
        "name": " ",
        "type": "gadget",
        "category": "monitoring",
    }
    r = await client.post(
        "/api/v1/plugins/register", json=body, headers=tokens.developer(publisher)
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"body.slug", "body.name", "body.type"} <= fields


# -- keys ------------------------------------------------------------------------------------


async def test_keys_register_in_both_encodings_list_and_revoke(client, tokens, publisher):
    headers = tokens.developer(publisher)
    raw_signer, pem_signer = Signer(), Signer()
    r1 = await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": raw_signer.public_b64},
        headers=headers,
    )
    r2 = await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": pem_signer.public_pem},
        headers=headers,
    )
    assert r1.status_code == r2.status_code == 201, (r1.text, r2.text)
    assert r2.json()["public_key"] == pem_signer.public_b64  # PEM stored raw
    assert (
        r1.json()["fingerprint"]
        == hashlib.sha256(base64.b64decode(raw_signer.public_b64)).hexdigest()
    )
    dup = await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": raw_signer.public_b64},
        headers=headers,
    )
    assert dup.status_code == 409
    listed = await client.get("/api/v1/plugins/publishers/me/keys", headers=headers)
    assert [k["key_id"] for k in listed.json()["items"]] == [
        r1.json()["key_id"],
        r2.json()["key_id"],
    ]

    other = await client.get(
        "/api/v1/plugins/publishers/me/keys", headers=tokens.developer("pub-other")
    )
    assert other.json()["items"] == []
    gone = await client.delete(
        f"/api/v1/plugins/publishers/me/keys/{r1.json()['key_id']}",
        headers=tokens.developer("pub-other"),
    )
    assert gone.status_code == 404
    revoked = await client.delete(
        f"/api/v1/plugins/publishers/me/keys/{r1.json()['key_id']}", headers=headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None


async def test_invalid_keys_are_refused(client, tokens, publisher):
    for bad in (
        "not base64!!",
        base64.b64encode(b"short").decode(),
        "-----BEGIN PUBLIC KEY-----\nxx",
    ):
        r = await client.post(
            "/api/v1/plugins/publishers/me/keys",
            json={"public_key": bad},
            headers=tokens.developer(publisher),
        )
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "body.public_key"


# -- upload: success -------------------------------------------------------------------------


async def test_upload_publishes_an_immutable_version(client, register, upload, publisher, tokens):
    plugin = await register(publisher)
    data = package(manifest(plugin["slug"], "1.2.0"))
    r = await upload(publisher, data, changelog="First")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["digest"] == hashlib.sha256(data).hexdigest()
    assert body["size"] == len(data)
    assert body["signed"] is False
    again = await upload(publisher, data)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/version-exists")

    detail = await client.get(f"/api/v1/plugins/marketplace/{plugin['slug']}")
    assert detail.status_code == 200
    assert detail.json()["latest_version"] == "1.2.0"
    assert detail.json()["latest"]["permissions"] == ["api:devices:read"]


async def test_zip_upload_with_a_valid_signature(client, tokens, register, upload, publisher):
    signer = Signer()
    key = await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=tokens.developer(publisher),
    )
    plugin = await register(publisher)
    data = package(manifest(plugin["slug"]), fmt="zip")
    r = await upload(publisher, data, filename="p.zip", signature=signer.sign(data))
    assert r.status_code == 201, r.text
    assert r.json()["signed"] is True
    assert r.json()["signing_key_id"] == key.json()["key_id"]


# -- upload: refusals, nothing stored ---------------------------------------------------------


async def stored_rows(db_url: str) -> dict[str, int]:
    """The number of rows of every catalog table (the tests of this module run one at a time)."""
    return {t.name: await count_rows(db_url, t.name) for t in Base.metadata.sorted_tables}


async def _assert_refused(db_url, request, status, kind=None, field=None):
    """Sends ``request`` (an upload not yet awaited) and checks it answers a problem and that
    no table of the catalog gained or lost a row."""
    before = await stored_rows(db_url)
    r = await request
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    if kind:
        assert problem["type"].endswith("/" + kind), problem
    if field:
        assert field in {e["field"] for e in problem.get("errors", [])}, problem
    assert await stored_rows(db_url) == before, "a refused request stored rows"
    return problem


async def test_invalid_manifest_lists_every_reason(db_url, register, upload, publisher):
    plugin = await register(publisher)
    before = await count_rows(db_url, "plugin_versions")
    bad = manifest(plugin["slug"], "not-a-version", category="nope", permissions=["root:all"])
    del bad["author"]
    problem = await _assert_refused(
        db_url, upload(publisher, package(bad)), 422, "manifest-invalid"
    )
    fields = {e["field"] for e in problem["errors"]}
    assert {"version", "category", "author", "permissions[0]"} <= fields, fields
    assert await count_rows(db_url, "plugin_versions") == before


_TICK_HOOK = {"name": "schedule.tick", "url": "https://hooks.example.com/tick"}


async def test_schedules_are_refused_without_the_grant_or_when_bad_or_too_frequent(
    db_url, register, upload, publisher
):
    plugin = await register(publisher)
    granted = ["api:devices:read", "cron:schedule"]
    hooks = [{"name": "device.created", "handler": "backend.hooks:on_created"}, _TICK_HOOK]
    cases = [
        ("schedules", "cron:schedule", {"permissions": ["api:devices:read"]}, "0 2 * * *"),
        ("schedules[0].cron", "Bad minute", {"permissions": granted}, "61 * * * *"),
        ("schedules[0].cron", "it needs 5", {"permissions": granted}, "* * *"),
        ("schedules[0].cron", "interval is 60 s", {"permissions": granted}, "*/10 * * * * *"),
    ]
    for field, reason, over, cron in cases:
        bad = manifest(
            plugin["slug"], hooks=hooks, schedules=[{"name": "job", "cron": cron}], **over
        )
        problem = await _assert_refused(
            db_url, upload(publisher, package(bad)), 422, "manifest-invalid", field
        )
        messages = [e["message"] for e in problem["errors"] if e["field"] == field]
        assert any(reason in m for m in messages), (cron, problem)
    good = manifest(
        plugin["slug"],
        permissions=granted,
        hooks=hooks,
        schedules=[{"name": "job", "cron": "*/5 * * * *"}],
    )
    assert (await upload(publisher, package(good))).status_code == 201


async def test_manifest_id_must_match_the_registered_slug(db_url, register, upload, publisher):
    plugin = await register(publisher)
    r = upload(publisher, package(manifest(unique_slug())), plugin=plugin["slug"])
    await _assert_refused(db_url, r, 422, "manifest-id-mismatch", "id")


async def test_another_publishers_plugin_answers_404(register, upload, publisher, db_url):
    plugin = await register(publisher)
    await _assert_refused(db_url, upload("pub-intruder", package(manifest(plugin["slug"]))), 404)


async def test_unknown_dependency_is_refused(register, upload, publisher, db_url):
    plugin = await register(publisher)
    m = manifest(plugin["slug"], dependencies={"plugins": {"no-such-plugin-x": "^1.0.0"}})
    await _assert_refused(
        db_url,
        upload(publisher, package(m)),
        422,
        "dependency-unknown",
        "dependencies.plugins.no-such-plugin-x",
    )


async def test_dependency_cycle_is_refused(register, upload, publisher, db_url):
    a, b, c = (await register(publisher)), (await register(publisher)), (await register(publisher))
    assert (await upload(publisher, package(manifest(a["slug"])))).status_code == 201
    m_b = manifest(b["slug"], dependencies={"plugins": {a["slug"]: "^1.0.0"}})
    assert (await upload(publisher, package(m_b))).status_code == 201
    m_c = manifest(c["slug"], dependencies={"plugins": {b["slug"]: "^1.0.0"}})
    assert (await upload(publisher, package(m_c))).status_code == 201
    m_a2 = manifest(a["slug"], "2.0.0", dependencies={"plugins": {c["slug"]: "*"}})
    problem = await _assert_refused(
        db_url, upload(publisher, package(m_a2)), 422, "dependency-cycle"
    )
    assert problem["cycle"] == [a["slug"], c["slug"], b["slug"], a["slug"]]


def _tar_with(member: tarfile.TarInfo, slug: str) -> bytes:
    return tar_gz({"plugin.yaml": yaml.safe_dump(manifest(slug)).encode()}, extra=[member])


async def test_hostile_archives_are_refused(register, upload, publisher, db_url):
    plugin = await register(publisher)
    slug = plugin["slug"]
    before = await count_rows(db_url, "artifacts")
    cases = []
    link = tarfile.TarInfo("evil-link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    cases.append(("symlink", _tar_with(link, slug), "package:evil-link"))
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "plugin.yaml"
    cases.append(("hardlink", _tar_with(hard, slug), "package:hard"))
    dev = tarfile.TarInfo("dev-null")
    dev.type = tarfile.CHRTYPE
    cases.append(("device", _tar_with(dev, slug), "package:dev-null"))
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    cases.append(("fifo", _tar_with(fifo, slug), "package:pipe"))
    pm = yaml.safe_dump(manifest(slug)).encode()
    cases.append(
        ("dotdot", tar_gz({"plugin.yaml": pm, "../escape.py": b"x"}), "package:../escape.py")
    )
    cases.append(
        ("absolute", tar_gz({"plugin.yaml": pm, "/etc/cron.d/x": b"x"}), "package:/etc/cron.d/x")
    )
    cases.append(
        ("zip-symlink", zip_bytes({"plugin.yaml": pm}, symlinks={"l": "/etc"}), "package:l")
    )
    cases.append(
        ("zip-dotdot", zip_bytes({"plugin.yaml": pm, "a/../../x": b"x"}), "package:a/../../x")
    )
    cases.append(("no-manifest", tar_gz({"readme.md": b"hi"}), "plugin.yaml"))
    for name, data, field in cases:
        problem = await _assert_refused(db_url, upload(publisher, data), 422, field=field)
        assert problem["type"].endswith("/package-invalid"), (name, problem)
    assert await count_rows(db_url, "artifacts") == before


async def test_too_many_files_is_refused(register, upload, publisher, db_url):
    plugin = await register(publisher)
    files = {f"f{i}.txt": b"x" for i in range(60)}  # the test limit is 50
    files["plugin.yaml"] = yaml.safe_dump(manifest(plugin["slug"])).encode()
    await _assert_refused(db_url, upload(publisher, tar_gz(files)), 422, "package-too-many-files")


async def test_oversized_upload_answers_413_while_streaming(register, upload, publisher, db_url):
    plugin = await register(publisher)
    big = tar_gz(
        {
            "plugin.yaml": yaml.safe_dump(manifest(plugin["slug"])).encode(),
            "blob.bin": os.urandom(3 * 1024 * 1024),  # incompressible
        }
    )
    assert len(big) > 2 * 1024 * 1024
    await _assert_refused(db_url, upload(publisher, big), 413, "package-too-large", "package")


async def test_unpacked_size_over_the_limit_answers_413(register, upload, publisher, db_url):
    plugin = await register(publisher)
    info = tarfile.TarInfo("huge.bin")
    info.size = 101 * 1024 * 1024  # declared above the 100 MiB test limit
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        pm = yaml.safe_dump(manifest(plugin["slug"])).encode()
        head = tarfile.TarInfo("plugin.yaml")
        head.size = len(pm)
        tar.addfile(head, io.BytesIO(pm))
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    await _assert_refused(db_url, upload(publisher, buf.getvalue()), 413, "package-too-large")


async def test_compression_bombs_are_refused(register, upload, publisher, db_url):
    await register(publisher, slug=f"bomb-{uuid.uuid4().hex[:6]}")
    bomb = gzip_bomb_tar()
    assert len(bomb) < 200 * 1024
    await _assert_refused(db_url, upload(publisher, bomb), 422, "package-bomb")
    await _assert_refused(db_url, upload(publisher, zip_bomb()), 422, "package-bomb")


async def test_not_an_archive_is_refused(upload, publisher, db_url):
    await _assert_refused(
        db_url,
        upload(publisher, b"just some text, not an archive"),
        422,
        "package-unsupported",
        "package",
    )


async def test_signature_that_does_not_verify_is_refused(
    client, tokens, register, upload, publisher, db_url
):
    signer, other = Signer(), Signer()
    await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=tokens.developer(publisher),
    )
    plugin = await register(publisher)
    data = package(manifest(plugin["slug"]))
    await _assert_refused(
        db_url,
        upload(publisher, data, signature=other.sign(data)),
        422,
        "signature-invalid",
        "signature",
    )
    # signed over the hex digest instead of the raw digest: refused too
    hex_sig = base64.b64encode(
        signer.private.sign(hashlib.sha256(data).hexdigest().encode())
    ).decode()
    await _assert_refused(
        db_url, upload(publisher, data, signature=hex_sig), 422, "signature-invalid"
    )
    await _assert_refused(
        db_url, upload(publisher, data, signature="bm90IGEgc2lnbmF0dXJl"), 422, "signature-invalid"
    )


async def test_signed_upload_without_a_registered_key_is_refused(
    register, upload, publisher, db_url
):
    plugin = await register(publisher)
    data = package(manifest(plugin["slug"]))
    await _assert_refused(
        db_url, upload(publisher, data, signature=Signer().sign(data)), 422, "signing-key-missing"
    )


async def test_upload_needs_a_developer(client, tokens):
    r = await client.post(
        "/api/v1/plugins/upload",
        headers=tokens.member("t1"),
        files={"package": ("p.tar.gz", b"x", "application/gzip")},
    )
    assert r.status_code == 403
    r = await client.post("/api/v1/plugins/upload", files={"package": ("p", b"x", "x/y")})
    assert r.status_code == 401


async def test_upload_without_a_package_part_is_refused(client, tokens, publisher):
    r = await client.post(
        "/api/v1/plugins/upload",
        headers=tokens.developer(publisher),
        data={"plugin": "x-y-z"},
        files={"other": ("a", b"b", "text/plain")},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "package"


async def test_my_plugins_lists_only_mine(client, tokens, register, publisher):
    mine = [await register(publisher) for _ in range(3)]
    await register("pub-someone-else")
    r = await client.get(
        "/api/v1/plugins/publishers/me/plugins?limit=2", headers=tokens.developer(publisher)
    )
    assert r.status_code == 200
    page1 = r.json()
    r = await client.get(
        f"/api/v1/plugins/publishers/me/plugins?limit=2&cursor={page1['next_cursor']}",
        headers=tokens.developer(publisher),
    )
    slugs = [p["slug"] for p in page1["items"] + r.json()["items"]]
    assert slugs == sorted(p["slug"] for p in mine)
    assert r.json()["next_cursor"] is None


async def test_artifact_by_digest(client, publish, publisher):
    published = await publish(publisher)
    r = await client.get(f"/api/v1/artifacts/sha256/{published['digest']}")
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == published["digest"]
    assert r.headers["x-content-sha256"] == published["digest"]
    missing = await client.get(f"/api/v1/artifacts/sha256/{'0' * 64}")
    assert missing.status_code == 404
    bad = await client.get("/api/v1/artifacts/sha256/not-a-digest")
    assert bad.status_code == 422


_ = (func, select)
