"""Persisting a worker's /storage tmpfs back to the installation's folder after each event.

The tmpfs is the plugin's, so the copy treats it as hostile: it walks with directory
descriptors and O_NOFOLLOW (a symlink planted inside can never make the supervisor read a host
file), keeps regular files and folders only, and stops at the quota. The new copy replaces
the old one by rename, so a crash mid-copy leaves the previous state in place.

Each copy put in place gets a new ``generation`` (a file beside the folder, out of the
plugin's view): a warm worker seeded from an older generation (another dispatcher sharing the
folder persisted since) is stale and is replaced before its next event.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path

_CHUNK = 1024 * 1024


class QuotaExceeded(Exception):
    """The folder holds more than its quota (the tmpfs should have refused it first)."""


def sandbox_storage(sandbox_pid: int, inside: str) -> Path:
    """The worker's folder seen from the host through its root (root may read it)."""
    return Path(f"/proc/{sandbox_pid}/root") / inside.lstrip("/")


def generation(target: Path) -> str | None:
    """Which copy of ``target`` is in place (None: none was persisted yet)."""
    try:
        return _generation_file(target).read_text()
    except FileNotFoundError:
        return None


def _generation_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.generation")


def persist(source: Path, target: Path, quota_bytes: int) -> int:
    """Replace ``target`` with a copy of ``source`` under a new generation; returns the bytes
    copied."""
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755, parents=True)
    try:
        copied = _copy_tree(source, staging, quota_bytes)
        previous = target.with_name(f".{target.name}.old")
        shutil.rmtree(previous, ignore_errors=True)
        if target.exists():
            target.rename(previous)
        staging.rename(target)
        marker = _generation_file(target)
        written = marker.with_name(f"{marker.name}.tmp")
        written.write_text(uuid.uuid4().hex)
        written.replace(marker)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return copied


def _copy_tree(source: Path, staging: Path, quota_bytes: int) -> int:
    copied = 0
    for top, dirs, files, top_fd in os.fwalk(source, follow_symlinks=False):
        relative = Path(top).relative_to(source)
        out_dir = staging / relative
        for name in dirs:
            if stat.S_ISDIR(os.stat(name, dir_fd=top_fd, follow_symlinks=False).st_mode):
                (out_dir / name).mkdir(mode=0o755)
        for name in files:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=top_fd)
            except OSError:
                continue  # a symlink, fifo or vanished entry: not persisted
            with os.fdopen(fd, "rb") as src:
                if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                    continue
                with open(out_dir / name, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        copied += len(chunk)
                        if copied > quota_bytes:
                            raise QuotaExceeded(f"storage holds more than {quota_bytes} bytes")
                        dst.write(chunk)
    return copied
