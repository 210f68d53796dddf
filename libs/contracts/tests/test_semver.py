"""Strict SemVer 2.0 versions and npm-style ranges."""

from __future__ import annotations

import pytest

from opscenter.contracts.semver import (
    Version,
    is_valid_range,
    is_valid_version,
    max_satisfying,
    normalize_range,
    parse_version,
    satisfies,
    sort_versions,
)


def test_parse() -> None:
    v = parse_version("1.2.3-rc.1+build.5")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ("rc", 1)
    assert v.build == ("build", "5")
    assert str(v) == "1.2.3-rc.1+build.5"
    assert v.is_prerelease


@pytest.mark.parametrize(
    "bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0-01", "1.0.0.0", "", " 1.0.0", "1.0.0-", "=1.0.0"]
)
def test_strict(bad: str) -> None:
    assert not is_valid_version(bad)
    with pytest.raises(ValueError, match="not a semantic version"):
        parse_version(bad)


def test_precedence_follows_the_spec() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    assert sort_versions(reversed(ordered)) == ordered
    assert parse_version("1.0.0+a") <= parse_version("1.0.0+b") <= parse_version("1.0.0+a")
    assert parse_version("1.0.0+a") != parse_version("1.0.0+b")
    assert sort_versions([parse_version("2.0.0"), parse_version("1.0.0")]) == [
        Version(1, 0, 0),
        Version(2, 0, 0),
    ]


@pytest.mark.parametrize(
    ("rng", "valid"),
    [
        ("^18.0.0", True),
        ("~1.2", True),
        (">=1.0.0 <2.0.0", True),
        ("1.x", True),
        ("*", True),
        ("1.2.3 - 2.0.0", True),
        ("^1.0.0 || ^2.0.0", True),
        ("latest", False),
        ("", False),
        ("  ", False),
        ("foo", False),
        (">1.0.0 garbage", False),
    ],
)
def test_ranges(rng: str, valid: bool) -> None:
    assert is_valid_range(rng) is valid


def test_normalize_range() -> None:
    assert normalize_range("^1.2.0") == ">=1.2.0 <2.0.0"


@pytest.mark.parametrize(
    ("version", "rng", "ok"),
    [
        ("1.5.0", "^1.2.0", True),
        ("2.0.0", "^1.2.0", False),
        ("0.2.5", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("1.3.0-beta.1", "^1.2.0", False),
        ("1.2.3-beta.2", "^1.2.3-beta.1", True),
        ("1.3.0-beta.2", "^1.2.3-beta.1", False),
        ("1.2.3", "*", True),
    ],
)
def test_satisfies(version: str, rng: str, ok: bool) -> None:
    assert satisfies(version, rng) is ok


def test_satisfies_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not a valid version range"):
        satisfies("1.0.0", "nope")
    with pytest.raises(ValueError, match="not a semantic version"):
        satisfies("one", "*")


def test_max_satisfying() -> None:
    versions = ["1.0.0", "1.4.2", "1.5.0-rc.1", "2.0.0"]
    assert max_satisfying(versions, "^1.0.0") == "1.4.2"
    assert max_satisfying(versions, ">=3") is None
    assert max_satisfying([parse_version(v) for v in versions], "*") == Version(2, 0, 0)
