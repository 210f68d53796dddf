"""Packages are deterministic and secret-free; signatures are what the catalog and the
installer verify (their own functions check ours)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from opscenter.catalog import signing as catalog_signing
from opscenter.sdk import signing
from opscenter.sdk.cli.app import main
from opscenter.sdk.packaging import Refusal, build_package
from opscenter.servicekit.artifacts import verify_signature as installer_verify  # hooks' too

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugins" / "device-inventory"


def _copy(tmp: Path, name: str) -> Path:
    target = tmp / name
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    return target


def test_package_twice_gives_the_same_bytes_and_digest(tmp_path, capsys):
    one = _copy(tmp_path, "one")
    first = build_package(one, tmp_path / "out1")
    # Another checkout: other timestamps, another folder name, files created in another order.
    two = _copy(tmp_path, "two")
    for path in sorted(two.rglob("*"), reverse=True):
        os.utime(path, (1_000_000, 1_000_000))
    second = build_package(two, tmp_path / "out2")
    assert first.digest == second.digest
    assert first.path.read_bytes() == second.path.read_bytes()
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.digest
    # The CLI says the same, and lists the files.
    assert main(["--json", "plugin", "package", str(one), "--out", str(tmp_path / "o3")]) == 0
    answer = __import__("json").loads(capsys.readouterr().out)
    assert answer["digest"] == first.digest
    assert answer["files"] == first.files
    assert "plugin.yaml" in answer["files"]


def test_members_are_normalized(tmp_path):
    built = build_package(_copy(tmp_path, "p"), tmp_path / "out")
    with tarfile.open(built.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.mode for m in members} <= {0o644, 0o755}


@pytest.mark.parametrize("secret", [".env", ".env.production", "deploy.pem", "id_rsa", ".npmrc"])
def test_secrets_refuse_the_package(tmp_path, secret):
    root = _copy(tmp_path, "p")
    (root / "inventory" / secret).write_text("TOKEN=abc")
    with pytest.raises(Refusal) as caught:
        build_package(root)
    assert caught.value.errors == [
        {"field": f"inventory/{secret}", "message": "looks like a secret; not packaged"}
    ]
    assert not (root / "dist").exists()


def test_caches_and_vcs_are_left_out(tmp_path):
    root = _copy(tmp_path, "p")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "inventory" / "__pycache__").mkdir()
    (root / "inventory" / "__pycache__" / "h.cpython-311.pyc").write_bytes(b"x")
    files = build_package(root).files
    assert not [f for f in files if ".git" in f or "pycache" in f]


def test_a_signature_verifies_with_the_catalogs_and_the_installers_code(tmp_path):
    key = signing.generate_key(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    built = build_package(_copy(tmp_path, "p"), tmp_path / "out")
    digest = signing.digest_of(built.path.read_bytes())
    signature = signing.sign_digest(key, digest)
    public = signing.public_key_b64(key)
    raw_key = catalog_signing.parse_public_key(public)
    assert catalog_signing.verifies(raw_key, catalog_signing.decode_signature(signature), digest)
    assert installer_verify(built.digest, signature, public)
    assert signing.verify_digest(public, signature, digest)
    other = signing.sign_digest(signing.generate_key(tmp_path / "k2.pem"), digest)
    assert not installer_verify(built.digest, other, public)
    assert not signing.verify_digest(public, base64.b64encode(b"x" * 64).decode(), digest)


def test_cli_sign_then_verify(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPS_CENTER_CONFIG", str(tmp_path / "cfg" / "config.json"))
    built = build_package(_copy(tmp_path, "p"), tmp_path / "out")
    assert main(["keys", "generate"]) == 0
    assert (tmp_path / "cfg" / "keys" / "default.pem").stat().st_mode & 0o777 == 0o600
    assert main(["plugin", "sign", str(built.path)]) == 0
    assert main(["--json", "plugin", "verify", str(built.path)]) == 0
    capsys.readouterr()
    built.path.write_bytes(built.path.read_bytes() + b"\0")
    assert main(["--json", "plugin", "verify", str(built.path)]) == 1
    assert '"signature-invalid"' in capsys.readouterr().out
