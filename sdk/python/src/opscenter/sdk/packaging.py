"""Building and checking plugin packages offline, with the catalog's own rules.

``check_archive`` runs the contracts' ``inspect_package`` and ``load_manifest``, the functions
the catalog's upload calls, and reports a refusal exactly as the catalog's problem+json does
(``kind`` = the problem type, ``errors`` = ``{field, message}``), so a package this accepts
the catalog accepts on the same grounds (only the server's own state, such as a registered slug
or an existing version, remains to check at upload).

``build_package`` is deterministic: members sorted by path, every timestamp 0, owner 0:0 with no
names, modes normalized to 0644 (0755 for folders and executables), and a gzip header without
a name or time: the same tree gives the same bytes and digest. Files that hold secrets
(``.env``, private keys, credentials) are refused, not silently skipped; caches and VCS folders
are left out.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from opscenter.contracts.errors import ManifestError
from opscenter.contracts.manifest import Manifest
from opscenter.contracts.packages import (
    MANIFEST_NAME,
    PackageLimits,
    PackageRejected,
    inspect_package,
)
from opscenter.contracts.safe_yaml import load_manifest

__all__ = [
    "EXCLUDED",
    "SECRET_PATTERNS",
    "BuiltPackage",
    "Refusal",
    "build_package",
    "check_archive",
    "check_folder",
    "package_files",
]

#: Never packaged: version control, caches, virtualenvs, build output.
EXCLUDED = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".venv",
    "venv",
    "node_modules",
    "dist",
    ".DS_Store",
    "*.pyc",
)
#: A file matching one of these refuses the whole package (it would publish a secret).
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "credentials*",
    "*.secret",
    "secrets.*",
)


@dataclass
class Refusal(Exception):
    """Why a package or folder is refused, in the catalog's problem shape."""

    kind: str
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    status: int = 422

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    digest: str  # hex sha-256 of the bytes
    size: int
    files: list[str]
    manifest: Manifest


def _manifest_problem(exc: ManifestError) -> Refusal:
    # The catalog's words (catalog/plugins/service.py read_manifest).
    return Refusal(
        "manifest-invalid",
        f"plugin.yaml is invalid ({len(exc.errors)} problem(s))",
        [{"field": e.loc, "message": e.msg} for e in exc.errors],
    )


def check_archive(path: Path, limits: PackageLimits | None = None) -> Manifest:
    """The archive's validated manifest; ``Refusal`` as the catalog's upload would answer."""
    try:
        contents = inspect_package(path, limits or PackageLimits())
    except PackageRejected as exc:
        errors = [{"field": f, "message": m} for f, m in exc.errors]
        raise Refusal(exc.kind, exc.detail, errors, exc.status) from exc
    try:
        return load_manifest(contents.manifest)
    except ManifestError as exc:
        raise _manifest_problem(exc) from exc


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in EXCLUDED)


def _secret(name: str) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern) for pattern in SECRET_PATTERNS)


def package_files(root: Path) -> list[str]:
    """The files a package of ``root`` holds (POSIX paths, sorted); ``Refusal`` for secrets
    and for links (the catalog refuses links)."""
    files: list[str] = []
    problems: list[dict[str, str]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _excluded(d))
        for name in sorted(names):
            full = Path(folder) / name
            rel = full.relative_to(root).as_posix()
            if _excluded(name):
                continue
            if _secret(name):
                problems.append({"field": rel, "message": "looks like a secret; not packaged"})
            elif full.is_symlink():
                problems.append({"field": rel, "message": "is a link (links are not allowed)"})
            elif full.is_file():
                files.append(rel)
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                rel = (Path(folder) / name).relative_to(root).as_posix()
                problems.append({"field": rel, "message": "is a link (links are not allowed)"})
    if problems:
        listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise Refusal("package-secrets", f"The folder cannot be packaged: {listed}", problems)
    return sorted(files)


def check_folder(root: Path) -> Manifest:
    """The folder's manifest, checked with the catalog's rules."""
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise Refusal(
            "package-invalid",
            f"The package is refused: {MANIFEST_NAME}: is missing at the root of the package",
            [{"field": MANIFEST_NAME, "message": "is missing at the root of the package"}],
        )
    try:
        return load_manifest(manifest.read_bytes())
    except ManifestError as exc:
        raise _manifest_problem(exc) from exc


def _tar_bytes(root: Path, files: list[str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            full = root / rel
            info = tarfile.TarInfo(rel)
            info.size = full.stat().st_size
            executable = full.stat().st_mode & stat.S_IXUSR
            info.mode = 0o755 if executable else 0o644
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with full.open("rb") as data:
                tar.addfile(info, data)
    return raw.getvalue()


def build_package(root: Path, out_dir: Path | None = None) -> BuiltPackage:
    """``<id>-<version>.tar.gz`` of ``root`` in ``out_dir`` (default ``root/dist``), checked
    with the catalog's rules after it is written."""
    root = root.resolve()
    manifest = check_folder(root)
    files = package_files(root)
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(_tar_bytes(root, files))
    data = compressed.getvalue()
    target_dir = out_dir or root / "dist"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{manifest.id}-{manifest.version}.tar.gz"
    with tempfile.NamedTemporaryFile(dir=target_dir, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, target)
    os.chmod(target, 0o644)
    check_archive(target)
    return BuiltPackage(target, hashlib.sha256(data).hexdigest(), len(data), files, manifest)
