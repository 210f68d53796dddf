"""Content-addressed storage of package blobs.

A blob lives at ``sha256/ab/cd/<digest>`` and is written to a temporary file, fsynced and
renamed into place, so a reader never sees half a blob. Blobs are stored BEFORE the database
commit: a crash in between leaves an orphan blob, which is harmless because its address is its
content, and a retried upload finds it already there. ``ArtifactStore`` is the seam for S3.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK = 256 * 1024


class ArtifactStore(Protocol):
    async def put(self, digest: str, source: Path) -> str:
        """Stores the file at ``source`` under ``digest``; returns its location."""
        ...

    async def exists(self, digest: str) -> bool: ...

    def get(self, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; raises ``FileNotFoundError`` when absent."""
        ...


def relative_location(digest: str) -> str:
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


class FilesystemArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("digest must be 64 lowercase hex characters")
        return self.root / relative_location(digest)

    def _put(self, digest: str, source: Path) -> str:
        target = self.path(digest)
        if target.exists():
            return relative_location(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return relative_location(digest)

    async def put(self, digest: str, source: Path) -> str:
        return await asyncio.to_thread(self._put, digest, source)

    async def exists(self, digest: str) -> bool:
        return await asyncio.to_thread(self.path(digest).exists)

    async def get(self, digest: str) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(self.path(digest).open, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()
