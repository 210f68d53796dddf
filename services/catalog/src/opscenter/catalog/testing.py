"""Builders for packages, manifests, signing keys and tokens, shared by the catalog's tests, the
end-to-end tests and the benchmarks."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import uuid
import zipfile
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.auth import mint_dev_token


def unique_slug(prefix: str = "plg") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def manifest(slug: str, version: str = "1.0.0", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": slug,
        "name": over.pop("name", f"Plugin {slug}"),
        "version": version,
        "description": "Watches devices and reports anomalies",
        "author": "Test Author",
        "type": "backend",
        "category": "monitoring",
        "tags": ["devices", "alerts"],
        "entry_points": {"backend": "backend/main.py:App"},
        "permissions": ["api:devices:read"],
        "hooks": [{"name": "device.created", "handler": "backend.hooks:on_created"}],
        "pricing": {"free": True},
    }
    data.update(over)
    return data


def tar_gz(files: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()


def package(m: dict[str, Any], fmt: str = "tar.gz", **extra_files: bytes) -> bytes:
    files = {"plugin.yaml": yaml.safe_dump(m).encode(), "backend/main.py": b"class App: ...\n"}
    files.update({k.replace("__", "/"): v for k, v in extra_files.items()})
    return tar_gz(files) if fmt == "tar.gz" else zip_bytes(files)


def gzip_bomb_tar() -> bytes:
    """A tarball holding 50 MB of zeros: ~50 KB compressed (ratio ~1000:1)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = yaml.safe_dump(manifest("bomb-plugin")).encode()
        info = tarfile.TarInfo("plugin.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        zeros = tarfile.TarInfo("zeros.bin")
        zeros.size = 50 * 1024 * 1024
        tar.addfile(zeros, io.BytesIO(bytes(zeros.size)))
    return buf.getvalue()


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plugin.yaml", yaml.safe_dump(manifest("bomb-plugin")))
        zf.writestr("zeros.bin", bytes(20 * 1024 * 1024))
    return buf.getvalue()


class Signer:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()
        self.public_pem = (
            self.private.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(hashlib.sha256(data).digest())).decode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


class Tokens:
    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings

    def developer(self, publisher_id: str) -> dict[str, str]:
        token = mint_dev_token(
            self.settings, sub=f"dev-{publisher_id}", roles=["developer"], publisher_id=publisher_id
        )
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        token = mint_dev_token(self.settings, sub="admin-1", roles=["platform_admin"])
        return {"Authorization": f"Bearer {token}"}

    def member(self, tenant_id: str) -> dict[str, str]:
        token = mint_dev_token(
            self.settings, sub=f"user-{tenant_id}", tenant_id=tenant_id, roles=["tenant_admin"]
        )
        return {"Authorization": f"Bearer {token}"}


async def publish_through_gateway(
    client: httpx.AsyncClient, developer: dict[str, str], m: dict[str, Any]
) -> None:
    """What a developer does to publish ``m`` through the gateway: registers a signing key and
    the plugin (its slug is the manifest's `id`), then uploads the package signed with it."""
    signer = Signer()
    r = await client.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    key_id = r.json()["key_id"]
    slug = m["id"]
    r = await client.post(
        "/api/v1/plugins/register",
        json={"slug": slug, "name": slug, "type": m["type"], "category": m["category"]},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    blob = package(m)
    r = await client.post(
        "/api/v1/plugins/upload",
        files={"package": (f"{slug}.tar.gz", blob, "application/gzip")},
        data={"signature": signer.sign(blob), "key_id": key_id},
        headers=developer,
    )
    assert r.status_code == 201, r.text
