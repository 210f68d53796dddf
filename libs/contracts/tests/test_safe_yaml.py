"""Untrusted YAML: size caps, no aliases, no tags, string keys, bounded depth."""

from __future__ import annotations

import pytest

from opscenter.contracts.errors import ManifestError
from opscenter.contracts.safe_yaml import DEFAULT_MAX_BYTES, MAX_DEPTH, load_manifest, load_yaml

BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def refusal(text: str | bytes, **kwargs: int) -> str:
    with pytest.raises(ManifestError) as info:
        load_yaml(text, **kwargs)
    (error,) = info.value.errors
    assert error.loc == "plugin.yaml"
    return error.msg


def test_billion_laughs_is_refused() -> None:
    assert "anchors" in refusal(BILLION_LAUGHS)
    with pytest.raises(ManifestError) as info:
        load_manifest(BILLION_LAUGHS)
    assert info.value.field == "plugin.yaml"


def test_alias_without_anchor_event_is_refused() -> None:
    assert "not allowed" in refusal("a: *undefined")


def test_merge_keys_are_refused() -> None:
    assert "not allowed" in refusal("base: &b {x: 1}\nderived:\n  <<: *b\n")


def test_ten_megabyte_manifest_is_refused_before_parsing() -> None:
    big = "id: x\ndescription: " + "a" * (10 * 1024 * 1024) + "\n"
    msg = refusal(big)
    assert str(len(big.encode())) in msg
    assert str(DEFAULT_MAX_BYTES) in msg
    with pytest.raises(ManifestError, match="limit"):
        load_manifest(big.encode())


def test_custom_limit() -> None:
    assert "the limit is 10 bytes" in refusal("key: 0123456789", max_bytes=10)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("!!python/object/apply:os.system ['echo hi']", "!!python/object/apply:os.system"),
        ("a: !!binary aGk=", "!!binary"),
        ("a: !!set {x, y}", "!!set"),
        ("a: !custom value", "!custom"),
        ("1: one", "keys must be strings"),
        ("yes: true", "keys must be strings"),
        ("? [a, b]\n: 1", "keys must be strings"),
        ("a: 1\na: 2", "'a' appears twice"),
        ("a: 1\n---\nb: 2", "single document"),
        ("a: [1, 2", "not valid YAML"),
        (b"a: \xff\xfe", "UTF-8"),
    ],
)
def test_refusals(text: str | bytes, reason: str) -> None:
    assert reason in refusal(text)


def test_depth_cap() -> None:
    assert f"deeper than {MAX_DEPTH}" in refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert load_yaml("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


def test_result_is_plain_json_data() -> None:
    data = load_yaml("d: 2026-01-26\nn: null\nf: 1.5\ni: 3\nb: true\nl: [x]\nm: {k: v}\n")
    assert data == {
        "d": "2026-01-26",
        "n": None,
        "f": 1.5,
        "i": 3,
        "b": True,
        "l": ["x"],
        "m": {"k": "v"},
    }


def test_explicit_core_tags_are_fine() -> None:
    assert load_yaml("a: !!str 1") == {"a": "1"}


def test_empty_manifest() -> None:
    with pytest.raises(ManifestError, match="is empty"):
        load_manifest("# nothing\n")
