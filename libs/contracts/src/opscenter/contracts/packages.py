"""Inspecting an uploaded package (``.tar.gz`` or ``.zip``) without extracting it to disk.

A package is refused, with every reason found (each naming its member as ``package:<name>``),
when a member has an absolute path or ``..``, a NUL or a byte that is not UTF-8 in its name, is a
symbolic or hard link, a device, a fifo or a socket, carries setuid, setgid or sticky bits,
appears twice, or when ``plugin.yaml`` is missing at the root. Limits stop the scan at once:
more than ``max_files`` members, a total uncompressed size
above ``max_unpacked_bytes`` (413), or a compression ratio above ``max_ratio`` (a bomb). The ratio
is checked per zip member, and for a tarball over the whole stream (gzip has no per-member sizes);
content below ``RATIO_FLOOR_BYTES`` is never called a bomb, since small text compresses well.

The format is told by the leading bytes, not the file name. Sizes are the declared header sizes,
checked before the scan moves past a member, so at most the limit is ever decompressed.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

MANIFEST_NAME = "plugin.yaml"
MANIFEST_MAX_BYTES = 256 * 1024
RATIO_FLOOR_BYTES = 1024 * 1024
_MAX_LISTED = 25


@dataclass(frozen=True)
class PackageLimits:
    max_files: int = 2000
    max_unpacked_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 100.0


@dataclass
class PackageRejected(Exception):
    """The package is refused; ``kind`` is the problem type, ``errors`` are (field, message)."""

    kind: str
    detail: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    status: int = 422

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class PackageContents:
    format: str
    files: int
    unpacked_bytes: int
    manifest: bytes


_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
SPECIAL_BITS_PROBLEM = "has setuid, setgid or sticky bits (not allowed)"
SPECIAL_FILE_PROBLEM = "is a device, fifo or socket (only files and folders are allowed)"


def _shown(name: str) -> str:
    """The member's name as text any answer can carry: NUL and undecodable bytes escaped."""
    raw = name.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _path_problem(name: str) -> str | None:
    if not name:
        return "has an empty name"
    if "\x00" in name:
        return "has a NUL character in its name"
    if any("\udc80" <= c <= "\udcff" for c in name):
        return "has a name that is not UTF-8"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if "\\" in name:
        return "uses backslashes in its path"
    if ".." in PurePosixPath(name).parts:
        return "leaves the package ('..' in its path)"
    return None


def _root_name(name: str) -> str:
    return str(PurePosixPath(name)) if name not in ("", ".") else name


class _Scan:
    def __init__(self, limits: PackageLimits, compressed: int) -> None:
        self.limits = limits
        self.compressed = max(compressed, 1)
        self.files = 0
        self.unpacked = 0
        self.errors: list[tuple[str, str]] = []
        self.seen: set[str] = set()

    def member(self, name: str, size: int, problem: str | None) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise PackageRejected(
                "package-too-many-files",
                f"The package has more than {self.limits.max_files} files",
                [("package", f"more than {self.limits.max_files} files")],
            )
        self.unpacked += max(size, 0)
        if self.unpacked > self.limits.max_unpacked_bytes:
            raise PackageRejected(
                "package-too-large",
                f"The package unpacks to more than {self.limits.max_unpacked_bytes} bytes",
                [("package", f"unpacks to more than {self.limits.max_unpacked_bytes} bytes")],
                status=413,
            )
        self.ratio(self.unpacked, self.compressed, "package")
        problem = problem or _path_problem(name)
        key = _root_name(name.rstrip("/"))
        if problem is None and key in self.seen:
            problem = "appears more than once"
        self.seen.add(key)
        if problem is not None and len(self.errors) < _MAX_LISTED:
            self.errors.append((f"package:{_shown(name)}", problem))

    def ratio(self, unpacked: int, compressed: int, where: str) -> None:
        if unpacked > RATIO_FLOOR_BYTES and unpacked / max(compressed, 1) > self.limits.max_ratio:
            raise PackageRejected(
                "package-bomb",
                f"The package looks like a compression bomb ({where} expands more than "
                f"{self.limits.max_ratio:g}:1)",
                [(where, f"compression ratio above {self.limits.max_ratio:g}:1")],
            )

    def finish(self, manifest: bytes | None, fmt: str) -> PackageContents:
        if manifest is None:
            self.errors.append((MANIFEST_NAME, "is missing at the root of the package"))
        if self.errors:
            listed = "; ".join(f"{f}: {m}" for f, m in self.errors)
            raise PackageRejected(
                "package-invalid", f"The package is refused: {listed}", self.errors
            )
        assert manifest is not None
        return PackageContents(fmt, self.files, self.unpacked, manifest)


def _read_capped(stream: IO[bytes] | None) -> bytes:
    if stream is None:
        return b""
    data = stream.read(MANIFEST_MAX_BYTES + 1)
    if len(data) > MANIFEST_MAX_BYTES:
        raise PackageRejected(
            "manifest-invalid",
            f"plugin.yaml is larger than {MANIFEST_MAX_BYTES} bytes",
            [(MANIFEST_NAME, f"is larger than {MANIFEST_MAX_BYTES} bytes")],
        )
    return data


def _inspect_tar(path: Path, scan: _Scan) -> PackageContents:
    manifest: bytes | None = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            while True:
                info = tar.next()
                if info is None:
                    break
                problem = None
                if info.issym() or info.islnk():
                    problem = "is a link (links are not allowed)"
                elif info.ischr() or info.isblk() or info.isfifo():
                    problem = SPECIAL_FILE_PROBLEM
                elif not (info.isreg() or info.isdir()):
                    problem = "is not a regular file or folder"
                elif info.mode & _SPECIAL_BITS:
                    problem = SPECIAL_BITS_PROBLEM
                scan.member(info.name, info.size, problem)
                if problem is None and info.isreg() and _root_name(info.name) == MANIFEST_NAME:
                    manifest = _read_capped(tar.extractfile(info))
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise PackageRejected(
            "package-unreadable",
            f"The package is not a readable .tar.gz: {exc}",
            [("package", f"not a readable .tar.gz: {exc}")],
        ) from exc
    return scan.finish(manifest, "tar.gz")


def _inspect_zip(path: Path, scan: _Scan) -> PackageContents:
    manifest: bytes | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                mode = info.external_attr >> 16
                problem = None
                if stat.S_ISLNK(mode):
                    problem = "is a link (links are not allowed)"
                elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    problem = SPECIAL_FILE_PROBLEM
                elif mode & _SPECIAL_BITS:
                    problem = SPECIAL_BITS_PROBLEM
                elif info.flag_bits & 0x1:
                    problem = "is encrypted"
                # zipfile cuts a name at its first NUL (``filename``); the name as stored is
                # ``orig_filename``, and a NUL in it is refused, not silently cut.
                scan.member(info.orig_filename, info.file_size, problem)
                scan.ratio(info.file_size, info.compress_size, f"package:{_shown(info.filename)}")
                if (
                    problem is None
                    and not info.is_dir()
                    and _root_name(info.filename) == MANIFEST_NAME
                ):
                    with archive.open(info) as stream:
                        manifest = _read_capped(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise PackageRejected(
            "package-unreadable",
            f"The package is not a readable .zip: {exc}",
            [("package", f"not a readable .zip: {exc}")],
        ) from exc
    return scan.finish(manifest, "zip")


def inspect_package(path: Path, limits: PackageLimits) -> PackageContents:
    """Checks the package at ``path`` and returns its ``plugin.yaml`` bytes (see module rules)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
    scan = _Scan(limits, size)
    if head.startswith(b"\x1f\x8b"):
        return _inspect_tar(path, scan)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _inspect_zip(path, scan)
    raise PackageRejected(
        "package-unsupported",
        "The package must be a .tar.gz or a .zip archive",
        [("package", "is neither a gzip-compressed tarball nor a zip archive")],
        status=422,
    )
