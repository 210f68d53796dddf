"""Semantic versions (strict SemVer 2.0) and npm-style ranges, behind one small API.

Versions are parsed strictly: no ``v`` prefix, no leading zeros, three numeric parts.
Ranges follow npm (``^1.2.0``, ``~1.2``, ``>=1 <2``, ``1.x``, ``a - b``, ``||``) via ``nodesemver``;
a blank range is refused (write ``*``). As in npm, a prerelease version satisfies a range only
when the range names a prerelease of the same ``major.minor.patch``.
Ordering ignores build metadata (``1.0.0+a`` and ``1.0.0+b`` sort together); equality does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import nodesemver

__all__ = [
    "SEMVER_PATTERN",
    "Version",
    "is_valid_range",
    "is_valid_version",
    "max_satisfying",
    "normalize_range",
    "parse_version",
    "satisfies",
    "sort_versions",
]

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*"
SEMVER_PATTERN = (
    rf"^({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER_RE = re.compile(SEMVER_PATTERN, re.ASCII)

# A subset of npm's range grammar for documents (every string it matches is a valid range, so
# a client or fuzzer generating from it sends only ranges the server accepts; the server accepts
# the whole grammar): comparators, x-ranges, caret/tilde, hyphen ranges and `||` alternatives.
_RN = r"(0|[1-9][0-9]{0,5})"
_RPRE = r"(0|[1-9][0-9]{0,5}|[0-9]{0,3}[a-zA-Z-][0-9a-zA-Z-]{0,6})"
_RFULL = rf"{_RN}\.{_RN}\.{_RN}(-{_RPRE}(\.{_RPRE}){{0,2}})?"
_RCMP = rf"((\^|~|>=|<=|>|<|=)?{_RN}(\.({_RN}|x|\*)){{0,2}}|(\^|~|>=|<=|>|<|=)?{_RFULL}|\*)"
_RSET = rf"({_RFULL} - {_RFULL}|{_RCMP}( {_RCMP}){{0,2}})"
RANGE_PATTERN = rf"^{_RSET}( \|\| {_RSET}){{0,2}}$"
_MAX_LEN = 256


@dataclass(frozen=True, eq=False)
class Version:
    """A parsed SemVer 2.0 version; ordered by SemVer precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: tuple[str, ...] = ()

    def __str__(self) -> str:
        out = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            out += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            out += "+" + ".".join(self.build)
        return out

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def _key(self) -> tuple[object, ...]:
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()


def parse_version(text: str) -> Version:
    """Parse a strict SemVer 2.0 string; raises ``ValueError`` saying why it is not one."""
    if not isinstance(text, str):
        raise ValueError("must be a string such as '1.2.3'")
    m = _SEMVER_RE.match(text) if len(text) <= _MAX_LEN else None
    if m is None:
        raise ValueError(
            f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH[-prerelease][+build], "
            "no 'v' prefix, no leading zeros)"
        )
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    build = tuple(m.group(5).split(".")) if m.group(5) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, build)


def is_valid_version(text: str) -> bool:
    """Whether ``text`` is a strict SemVer 2.0 version."""
    try:
        parse_version(text)
    except ValueError:
        return False
    return True


def normalize_range(text: str) -> str:
    """The range in canonical comparator form (``^1.2.0`` -> ``>=1.2.0 <2.0.0``)."""
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_LEN:
        raise ValueError("a version range must be a non-blank string (use '*' for any version)")
    norm = nodesemver.valid_range(text, loose=False)
    if norm is None:
        raise ValueError(f"{text!r} is not a valid version range (npm syntax, e.g. '^1.2.0')")
    return str(norm)


def is_valid_range(text: str) -> bool:
    """Whether ``text`` is a non-blank npm-style version range."""
    try:
        normalize_range(text)
    except ValueError:
        return False
    return True


def satisfies(version: str | Version, range_: str) -> bool:
    """Whether ``version`` is in ``range_`` (npm semantics for prereleases)."""
    v = version if isinstance(version, Version) else parse_version(version)
    normalize_range(range_)
    return bool(nodesemver.satisfies(str(v), range_, loose=False))


_V = TypeVar("_V", str, Version)


def sort_versions(versions: Iterable[_V]) -> list[_V]:
    """Versions in ascending precedence, keeping the type they were given in."""
    items = list(versions)
    return sorted(items, key=lambda v: (v if isinstance(v, Version) else parse_version(v))._key())


def max_satisfying(versions: Iterable[_V], range_: str) -> _V | None:
    """The highest version in ``versions`` that satisfies ``range_``, or ``None``."""
    matching = [v for v in versions if satisfies(v, range_)]
    return sort_versions(matching)[-1] if matching else None
