"""The packages sandboxed handlers import from: checked, unpacked once per digest, then reused.

A handler runs only from a package whose bytes hash to the digest the catalog published and,
unless the operator allows unsigned packages, whose publisher signature verifies with a
registered, unrevoked key (the same checks as the installer, from ``servicekit.artifacts``).
The signature is checked on every call (a revocation takes effect at once; the check is cached
per digest, signature and key); the bytes are fetched and unpacked only the first time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from opscenter.servicekit.artifacts import (
    ArtifactError,
    ArtifactSource,
    InstallStore,
    sha256_hex,
    verify_signature,
)


@dataclass(frozen=True)
class PackageRef:
    """What the projection knows of one version's package (``public_key`` None: no key is
    registered for its ``signing_key_id``; ``key_revoked``: that key was revoked)."""

    digest: str
    signature: str | None
    signing_key_id: str | None
    public_key: str | None
    key_revoked: bool


class HandlerPackages:
    def __init__(self, source: ArtifactSource, store: InstallStore, allow_unsigned: bool) -> None:
        self._source = source
        self._store = store
        self._allow_unsigned = allow_unsigned
        self._locks: dict[str, asyncio.Lock] = {}

    def check(self, ref: PackageRef) -> None:
        """Raises ``ArtifactError`` unless the package may run."""
        if ref.signature is None or ref.signing_key_id is None:
            if not self._allow_unsigned:
                raise ArtifactError("the package is unsigned", retryable=False)
            return
        if ref.key_revoked:
            raise ArtifactError(f"signing key {ref.signing_key_id} was revoked", retryable=False)
        if not ref.public_key:
            raise ArtifactError(f"signing key {ref.signing_key_id} is not known", retryable=True)
        if not verify_signature(ref.digest, ref.signature, ref.public_key):
            raise ArtifactError("the publisher's signature does not verify", retryable=False)

    async def folder(self, ref: PackageRef) -> Path:
        """The unpacked package (absolute), fetched and unpacked on first use."""
        self.check(ref)
        target = self._store.path_for(ref.digest).absolute()
        if self._store.has(ref.digest):
            return target
        lock = self._locks.setdefault(ref.digest, asyncio.Lock())
        async with lock:  # one fetch per digest, however many deliveries wait for it
            if not self._store.has(ref.digest):
                data = await self._source.fetch(ref.digest)
                actual = sha256_hex(data)
                if actual != ref.digest:
                    raise ArtifactError(
                        f"sha-256 of the package is {actual}, expected {ref.digest}",
                        retryable=False,
                    )
                try:
                    await asyncio.to_thread(self._store.unpack, ref.digest, data)
                except OSError as exc:
                    raise ArtifactError(f"could not unpack: {exc}", retryable=True) from exc
        self._locks.pop(ref.digest, None)
        return target
