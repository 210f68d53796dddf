"""Fetching, verifying and unpacking plugin packages into a content-addressed store.

Shared by the installer (its install store) and hooks (the packages its sandboxed handlers
import from), so both check a package the same way.

Invariants:
- Bytes are used only after their sha-256 equals the digest the catalog published, and (unless
  the operator allows unsigned packages) the publisher's ed25519 signature over the RAW 32-byte
  digest verifies with a registered, unrevoked key.
- ``<root>/<digest>/`` appears whole or not at all: a package is unpacked into a temporary
  folder beside it and renamed into place. Members that escape the folder, links, devices and
  archives that unpack beyond the size cap are refused.
- Unpacked folders are 0755 and files 0644 whatever the umask, owned by the unpacking service:
  readable by the hooks sandbox's slot uids, writable by none of them.
- The store is shared by every tenant (same digest, same bytes), so nothing here deletes a
  folder it did not create in the same call chain (see ``InstallStore.remove``).
- A store that does not answer (down, restarting, overloaded) says nothing about the package:
  ``ArtifactUnavailable`` is a ``ConnectionError``, so a consumer that meets it rewinds its
  batch and reads it again once the store is back (``consumer.is_transient``) rather than
  recording the package as failed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "ArtifactError",
    "ArtifactSource",
    "ArtifactUnavailable",
    "HttpArtifactSource",
    "InstallStore",
    "sha256_hex",
    "verify_signature",
]


class ArtifactError(Exception):
    """A package cannot be used; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ArtifactUnavailable(ArtifactError, ConnectionError):
    """The artifact store did not answer, or answered 5xx or 429: the same fetch later can
    succeed. Code that catches ``ArtifactError`` still catches it (always retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ArtifactSource(Protocol):
    async def fetch(self, digest: str) -> bytes:
        """The package bytes stored under ``digest``; raises ``ArtifactError``."""
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class HttpArtifactSource:
    """``GET {base_url}/api/v1/artifacts/sha256/{digest}``: the catalog's content-addressed path,
    the one synchronous call between services the architecture allows."""

    base_url: str
    timeout_s: float = 30.0
    max_bytes: int = 50 * 1024 * 1024
    client: httpx.AsyncClient | None = None

    async def fetch(self, digest: str) -> bytes:
        url = f"{self.base_url.rstrip('/')}/api/v1/artifacts/sha256/{digest}"
        client = self.client or httpx.AsyncClient(
            timeout=self.timeout_s, transport=httpx.AsyncHTTPTransport(retries=2)
        )
        try:
            async with client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise ArtifactError(f"the catalog has no artifact {digest}", retryable=False)
                what = f"the catalog answered {response.status_code} for artifact {digest}"
                if response.status_code >= 500 or response.status_code == 429:
                    raise ArtifactUnavailable(what)
                if response.status_code != 200:
                    raise ArtifactError(what, retryable=False)
                chunks = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ArtifactError(
                            f"artifact {digest} is larger than {self.max_bytes} bytes",
                            retryable=False,
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise ArtifactUnavailable(
                f"could not fetch artifact {digest}: {type(exc).__name__}"
            ) from exc
        finally:
            if self.client is None:
                await client.aclose()


@functools.lru_cache(maxsize=4096)
def verify_signature(digest: str, signature_b64: str, public_key_b64: str) -> bool:
    """Whether ``signature_b64`` is an ed25519 signature over the raw 32-byte ``digest``.

    Cached: the answer depends on the three strings only, and every tenant installing one
    version checks the same signature."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), bytes.fromhex(digest))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class InstallStore:
    """``root/<digest>/`` holds the unpacked files of the package with that digest."""

    root: Path
    max_unpacked_bytes: int = 200 * 1024 * 1024

    def path_for(self, digest: str) -> Path:
        return self.root / digest

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_dir()

    def unpack(self, digest: str, data: bytes) -> bool:
        """Unpacks ``data`` (verified) to ``root/<digest>/``; False when it was already there."""
        target = self.path_for(digest)
        if target.is_dir():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
        try:
            _extract(data, tmp, self.max_unpacked_bytes)
            os.chmod(tmp, 0o755)  # noqa: S103 - the hooks service reads the store
            try:
                tmp.rename(target)
            except OSError:
                if target.is_dir():  # a concurrent executor unpacked the same digest
                    shutil.rmtree(tmp, ignore_errors=True)
                    return False
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return True

    def remove(self, digest: str) -> None:
        shutil.rmtree(self.path_for(digest), ignore_errors=True)


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not name or "\x00" in name:
        raise ArtifactError(f"package member {name!r} escapes the package", retryable=False)
    return path


def _extract(data: bytes, dest: Path, cap: int) -> None:
    if data[:2] == b"\x1f\x8b":
        _extract_tar(data, dest, cap)
    elif data[:4] == b"PK\x03\x04":
        _extract_zip(data, dest, cap)
    else:
        raise ArtifactError("package is neither a .tar.gz nor a .zip", retryable=False)


def _mkdirs(dest: Path, rel: PurePosixPath) -> None:
    """``dest/rel`` and its parents, each 0755 (mkdir's mode is cut by the umask)."""
    current = dest
    for part in rel.parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
        os.chmod(current, 0o755)  # noqa: S103 - the sandbox's uids read packages


def _write(dest: Path, rel: PurePosixPath, source: IO[bytes], cap: int, total: list[int]) -> None:
    out = dest.joinpath(*rel.parts)
    _mkdirs(dest, rel.parent)
    reader = source
    with open(out, "wb") as fh:
        while True:
            chunk = reader.read(64 * 1024)
            if not chunk:
                break
            total[0] += len(chunk)
            if total[0] > cap:
                raise ArtifactError(f"package unpacks to more than {cap} bytes", retryable=False)
            fh.write(chunk)
    os.chmod(out, 0o644)


def _extract_tar(data: bytes, dest: Path, cap: int) -> None:
    total = [0]
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                rel = _safe_member(member.name)
                if member.isdir():
                    _mkdirs(dest, rel)
                    continue
                if not member.isfile():
                    raise ArtifactError(
                        f"package member {member.name!r} is a link or special file",
                        retryable=False,
                    )
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                _write(dest, rel, extracted, cap, total)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"package is not a valid .tar.gz: {exc}", retryable=False) from exc


def _extract_zip(data: bytes, dest: Path, cap: int) -> None:
    total = [0]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                rel = _safe_member(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise ArtifactError(
                        f"package member {info.filename!r} is a link", retryable=False
                    )
                if info.is_dir():
                    _mkdirs(dest, rel)
                    continue
                with archive.open(info) as extracted:
                    _write(dest, rel, extracted, cap, total)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactError(f"package is not a valid .zip: {exc}", retryable=False) from exc
