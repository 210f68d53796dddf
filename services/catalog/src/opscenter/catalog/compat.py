"""Platform compatibility ranges as Postgres ``int8multirange`` values, so ``compatible_with``
filters in SQL with an index-free containment test (``compat @> version_key``).

A version ``M.m.p`` maps to ``M * 10^12 + m * 10^6 + p``; prerelease tags are ignored (a
prerelease platform counts as its release). Parts beyond what the key holds are clamped (minor and
patch to 999999, major to 9000000, so a key always fits Postgres' int8): any SemVer string a
client sends maps to a key, never to a database error. An npm range is a union of comparator
sets; each set is the intersection of half-open intervals, so the whole range is a multirange.
"""

from __future__ import annotations

import nodesemver

from opscenter.contracts import parse_version

_MINOR = 10**6
_MAJOR = 10**12
_MAX_PART = _MINOR - 1
_MAX_MAJOR = 9_000_000
ANY = "{[0,)}"


def version_key(version: str) -> int:
    v = parse_version(version)
    return (
        min(v.major, _MAX_MAJOR) * _MAJOR
        + min(v.minor, _MAX_PART) * _MINOR
        + min(v.patch, _MAX_PART)
    )


def _key(semver: object) -> int:
    return (
        min(int(semver.major), _MAX_MAJOR) * _MAJOR  # type: ignore[attr-defined]
        + min(int(semver.minor), _MAX_PART) * _MINOR  # type: ignore[attr-defined]
        + min(int(semver.patch), _MAX_PART)  # type: ignore[attr-defined]
    )


def range_to_multirange(range_: str | None) -> str:
    """The ``int8multirange`` literal of an npm range (``None`` means any platform)."""
    if range_ is None:
        return ANY
    parsed = nodesemver.make_range(range_, loose=False)
    intervals: list[tuple[int, int | None]] = []
    for comparators in parsed.set:
        lo, hi = 0, None
        for c in comparators:
            op = c.operator
            if not c.value:  # "*": any version
                continue
            k = _key(c.semver)
            if op == ">=":
                lo = max(lo, k)
            elif op == ">":
                lo = max(lo, k + 1)
            elif op == "<":
                hi = k if hi is None else min(hi, k)
            elif op == "<=":
                hi = k + 1 if hi is None else min(hi, k + 1)
            else:
                lo, hi = max(lo, k), (k + 1 if hi is None else min(hi, k + 1))
        if hi is None or lo < hi:
            intervals.append((lo, hi))
    if not intervals:
        return "{}"
    parts = [f"[{lo},{'' if hi is None else hi})" for lo, hi in intervals]
    return "{" + ",".join(parts) + "}"
