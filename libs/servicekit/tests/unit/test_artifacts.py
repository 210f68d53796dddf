"""Unpacking refuses traversal, links and bombs; the store appears whole or not at all."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from opscenter.servicekit.artifacts import (
    ArtifactError,
    ArtifactUnavailable,
    HttpArtifactSource,
    InstallStore,
    verify_signature,
)
from opscenter.servicekit.consumer import is_transient


def tar_gz(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def test_unpacks_tar_gz_and_zip(tmp_path):
    store = InstallStore(tmp_path)
    good = tar_gz(
        [tarfile.TarInfo("plugin.yaml"), tarfile.TarInfo("src/a.py")],
        {"plugin.yaml": b"id: x", "src/a.py": b"print()"},
    )
    assert store.unpack("d1", good) is True
    assert (tmp_path / "d1" / "src" / "a.py").read_bytes() == b"print()"
    assert store.unpack("d1", good) is False
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("plugin.yaml", "id: y")
    assert store.unpack("d2", buf.getvalue()) is True


@pytest.mark.parametrize("member", ["../evil.py", "/etc/passwd", "a/../../b"])
def test_refuses_traversal(tmp_path, member):
    store = InstallStore(tmp_path)
    bad = tar_gz([tarfile.TarInfo(member)], {member: b"x"})
    with pytest.raises(ArtifactError, match="escapes"):
        store.unpack("bad", bad)
    assert list(tmp_path.iterdir()) == []


def test_refuses_links_and_bombs(tmp_path):
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(ArtifactError, match="link"):
        InstallStore(tmp_path).unpack("l", tar_gz([link], {}))
    big = tar_gz([tarfile.TarInfo("big")], {"big": b"0" * 10_000})
    with pytest.raises(ArtifactError, match="more than"):
        InstallStore(tmp_path, max_unpacked_bytes=1000).unpack("b", big)
    with pytest.raises(ArtifactError, match="neither"):
        InstallStore(tmp_path).unpack("n", b"plain text")
    assert list(tmp_path.iterdir()) == []


def test_signature_is_over_the_raw_digest():
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    digest = hashlib.sha256(b"package").hexdigest()
    signature = base64.b64encode(key.sign(bytes.fromhex(digest))).decode()
    assert verify_signature(digest, signature, public)
    assert not verify_signature(hashlib.sha256(b"other").hexdigest(), signature, public)
    hex_signed = base64.b64encode(key.sign(digest.encode())).decode()
    assert not verify_signature(digest, hex_signed, public)


def test_unpacked_folders_and_files_are_readable_by_others_but_not_writable_whatever_the_umask(
    tmp_path,
):
    """The hooks sandbox's slot uids import from the store: o+rx folders, o+r files, no w."""
    info_dir = tarfile.TarInfo("pkg/sub")
    info_dir.type = tarfile.DIRTYPE
    info_dir.mode = 0o777
    info_file = tarfile.TarInfo("pkg/sub/deep/handlers.py")
    info_file.mode = 0o777
    data = tar_gz([info_dir, info_file], {"pkg/sub/deep/handlers.py": b"x = 1\n"})
    digest = hashlib.sha256(data).hexdigest()
    old = os.umask(0o077)
    try:
        InstallStore(tmp_path / "store").unpack(digest, data)
    finally:
        os.umask(old)
    root = tmp_path / "store" / digest
    modes = {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in root.rglob("*")}
    assert modes == {
        "pkg": 0o755,
        "pkg/sub": 0o755,
        "pkg/sub/deep": 0o755,
        "pkg/sub/deep/handlers.py": 0o644,
    }
    assert root.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(("status", "unavailable"), [(503, True), (429, True), (403, False)])
async def test_a_catalog_that_does_not_answer_is_transient_not_a_bad_package(status, unavailable):
    """An unreachable or overloaded catalog says nothing about the package: a consumer meeting
    it rewinds and tries again (is_transient) instead of failing the install."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        source = HttpArtifactSource("http://catalog.invalid", client=client)
        with pytest.raises(ArtifactError) as answered:
            await source.fetch("ab" * 32)
    assert isinstance(answered.value, ArtifactUnavailable) is unavailable
    assert is_transient(answered.value) is unavailable

    refused = HttpArtifactSource("http://127.0.0.1:9", timeout_s=2)  # nothing listens there
    with pytest.raises(ArtifactUnavailable) as down:
        await refused.fetch("ab" * 32)
    assert down.value.retryable
    assert is_transient(down.value)
