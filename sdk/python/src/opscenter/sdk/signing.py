"""Package signatures, exactly as the catalog and the installer check them (ADR 0004): ed25519
over the RAW 32-byte sha-256 digest of the package bytes (not its hex form), base64-encoded.

Keys are files: the private key as unencrypted PKCS#8 PEM (written 0600), the public key as the
base64 of its 32 raw bytes, which is what ``POST /plugins/publishers/me/keys`` accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "digest_of",
    "generate_key",
    "load_private_key",
    "public_key_b64",
    "sign_digest",
    "verify_digest",
]


def digest_of(data: bytes) -> bytes:
    """The raw sha-256 digest that is signed."""
    return hashlib.sha256(data).digest()


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new private key written to ``path`` (0600, never overwriting)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_digest(key: Ed25519PrivateKey, digest: bytes) -> str:
    """The base64 signature the catalog's upload takes in its ``signature`` field."""
    return base64.b64encode(key.sign(digest)).decode()


def verify_digest(public_b64: str, signature_b64: str, digest: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(signature_b64.strip(), validate=True), digest)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
