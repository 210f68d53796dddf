"""Publisher keys: the small-order points are refused, and the list of them is what it says."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from opscenter.catalog.signing import SMALL_ORDER_KEYS, InvalidPublicKey, parse_public_key

#: R = the identity point, S = 0: verifies for message m exactly when [H(R, A, m)]A is the
#: identity, which a small-order A gives for every order-th message and no real key ever does.
IDENTITY_SIGNATURE = bytes([1]) + bytes(31) + bytes(32)
ENCODINGS = [raw[:31] + bytes([raw[31] | sign]) for raw in SMALL_ORDER_KEYS for sign in (0, 0x80)]


def _verifies_identity_signature(raw: bytes, messages: int = 64) -> bool:
    key = Ed25519PublicKey.from_public_bytes(raw)
    for i in range(messages):
        try:
            key.verify(IDENTITY_SIGNATURE, hashlib.sha256(str(i).encode()).digest())
        except InvalidSignature:
            continue
        return True
    return False


@pytest.mark.parametrize("raw", ENCODINGS, ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
def test_each_small_order_key_forges_and_is_refused(raw: bytes):
    assert _verifies_identity_signature(raw), "not a small-order point: the list is wrong"
    with pytest.raises(InvalidPublicKey, match="small-order"):
        parse_public_key(base64.b64encode(raw).decode())


def test_a_real_key_never_takes_the_identity_signature_and_is_accepted():
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    assert not _verifies_identity_signature(raw)
    assert parse_public_key(base64.b64encode(raw).decode()) == raw
