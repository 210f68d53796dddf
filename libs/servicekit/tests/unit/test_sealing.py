"""Sealed boxes open only with the recipient's key and the same associated data."""

from __future__ import annotations

import json

import pytest

from opscenter.contracts import InstallationConfigSetV1
from opscenter.servicekit import sealing

AAD = b"5a0c1f7e-8d2b-4e3c-9f1a-7b6d5c4e3f21"


def test_a_box_opens_with_the_private_key_and_the_same_associated_data() -> None:
    private, public = sealing.generate_keypair()
    box = sealing.seal(public, b"sk-live-0123", AAD)
    assert b"sk-live-0123" not in box.encode()
    assert sealing.Opener(private).open(box, AAD) == b"sk-live-0123"
    assert sealing.Opener(private).key_id == sealing.key_id(public)


def test_two_boxes_of_the_same_plaintext_differ() -> None:
    _, public = sealing.generate_keypair()
    assert sealing.seal(public, b"same", AAD) != sealing.seal(public, b"same", AAD)


def test_another_key_another_record_or_a_flipped_byte_does_not_open() -> None:
    private, public = sealing.generate_keypair()
    other_private, _ = sealing.generate_keypair()
    box = sealing.seal(public, b"secret", AAD)
    with pytest.raises(sealing.SealError, match="does not open"):
        sealing.Opener(other_private).open(box, AAD)
    with pytest.raises(sealing.SealError, match="does not open"):
        sealing.Opener(private).open(box, b"another-installation")
    flipped = box[:-3] + ("A" if box[-3] != "A" else "B") + box[-2:]
    with pytest.raises(sealing.SealError):
        sealing.Opener(private).open(flipped, AAD)
    with pytest.raises(sealing.SealError, match="not a v1"):
        sealing.Opener(private).open("v2." + box[3:], AAD)


def test_keys_that_are_not_32_base64_bytes_are_refused_without_echoing_them() -> None:
    with pytest.raises(sealing.SealError, match="must be 32 bytes") as err:
        sealing.Opener("c2hvcnQ=")
    assert "c2hvcnQ" not in str(err.value)
    with pytest.raises(sealing.SealError, match="not base64"):
        sealing.seal("not base64!", b"x", AAD)


def test_the_dev_pair_matches_and_opens_the_contract_example() -> None:
    """The committed example of ``config_set`` is a real box sealed to the dev key, so the
    consumers that replay it hold what a dev installer would send."""
    assert sealing.public_key_of(sealing.DEV_PRIVATE_KEY) == sealing.DEV_PUBLIC_KEY
    example = InstallationConfigSetV1.example()
    assert example.secrets is not None
    assert example.secrets.key_id == sealing.key_id(sealing.DEV_PUBLIC_KEY)
    assert example.secrets.algorithm == sealing.ALGORITHM
    opened = sealing.Opener(sealing.DEV_PRIVATE_KEY).open(
        example.secrets.box, str(example.installation_id).encode()
    )
    assert json.loads(opened) == {"api_key": "example-api-key"}


def test_keygen_prints_a_pair_that_belongs_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert sealing.main(["keygen"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert sealing.public_key_of(lines["private_key"]) == lines["public_key"]
    assert sealing.key_id(lines["public_key"]) == lines["key_id"]
    assert sealing.main([]) == 2
