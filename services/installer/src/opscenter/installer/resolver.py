"""Dependency resolution for install plans: pure, synchronous, over an in-memory index.

A backtracking resolver (resolvelib) picks one version per plugin so that every dependency range
(npm syntax) holds. Rules:
- Candidates for a plugin are the versions satisfying every range on it, most preferred first:
  the ``preferred`` (already installed) version, then newest to oldest.
- A yanked version is a candidate only when some requirement pins it exactly (``=1.2.3``,
  ``1.2.3``); what is already installed is passed as such a pin (``locked``), so a yank never
  forces a tenant off a version it runs.
- A conflict raises ``ResolutionConflict`` with a sentence naming every clashing constraint and
  who required it; a dependency cycle among the chosen versions raises ``DependencyCycle`` naming
  the cycle (``a -> b -> a``).
- ``Resolution.order`` lists dependencies before their dependents (ties broken by slug).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible
from resolvelib.resolvers import ResolutionTooDeep
from resolvelib.resolvers.resolution import Resolution as _Resolution

from opscenter.contracts.semver import normalize_range, parse_version, satisfies

__all__ = [
    "ROOT",
    "Candidate",
    "DependencyCycle",
    "Requirement",
    "Resolution",
    "ResolutionConflict",
    "ResolverError",
    "is_exact_pin",
    "resolve",
]

ROOT = "your request"
INSTALLED = "installed"


@dataclass(frozen=True)
class Candidate:
    """One published version of a plugin and what it depends on (slug -> npm range)."""

    slug: str
    version: str
    dependencies: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    yanked: bool = field(default=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.slug}@{self.version}"


@dataclass(frozen=True)
class Requirement:
    """``slug`` must satisfy ``range``; ``parent`` says who asks (a candidate label, ROOT, or
    INSTALLED)."""

    slug: str
    range: str
    parent: str = ROOT

    def describe(self) -> str:
        return f"{self.slug}@{self.range} (required by {self.parent})"


@dataclass(frozen=True)
class Resolution:
    chosen: Mapping[str, Candidate]
    order: Sequence[Candidate]


class ResolverError(Exception):
    """A plan cannot be made; ``str(self)`` is a sentence for the user."""


class ResolutionConflict(ResolverError):
    """The constraints in ``requirements`` cannot all hold."""

    def __init__(self, message: str, requirements: Sequence[Requirement]) -> None:
        super().__init__(message)
        self.requirements = list(requirements)


class DependencyCycle(ResolverError):
    """The chosen versions depend on each other in a loop (``cycle`` starts and ends alike)."""

    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = list(cycle)


@functools.lru_cache(maxsize=65536)
def _satisfies(version: str, range_: str) -> bool:
    return satisfies(version, range_)


@functools.lru_cache(maxsize=4096)
def is_exact_pin(range_: str) -> bool:
    """Whether ``range_`` names exactly one version (``=1.2.3`` or ``1.2.3``)."""
    norm = normalize_range(range_).lstrip("=").strip()
    try:
        parse_version(norm)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=65536)
def _version_key(version: str) -> tuple[object, ...]:
    return parse_version(version)._key()


class _Provider(AbstractProvider):
    def __init__(
        self, index: Mapping[str, Sequence[Candidate]], preferred: Mapping[str, str]
    ) -> None:
        self.index = index
        self.preferred = preferred

    def identify(self, requirement_or_candidate: Any) -> str:
        slug: str = requirement_or_candidate.slug
        return slug

    def get_preference(
        self,
        identifier: Any,
        resolutions: Any,
        candidates: Any,
        information: Any,
        backtrack_causes: Any,
    ) -> Any:
        # Decide the most constrained plugins first: pins, then those with fewer versions.
        infos = list(information[identifier])
        pinned = any(is_exact_pin(i.requirement.range) for i in infos)
        causes = {c.requirement.slug for c in backtrack_causes} | {
            c.parent.slug for c in backtrack_causes if isinstance(c.parent, Candidate)
        }
        # A plugin whose current pin a later pin's dependencies no longer satisfy is re-decided
        # before anything else: left for later, resolvelib can pin past the conflict and drop
        # the constraint from its state, ending on a plan that breaks a dependency range.
        return (
            not pinned,
            identifier not in resolutions,
            identifier not in causes,
            len(self.index.get(identifier, ())),
            identifier,
        )

    def find_matches(
        self,
        identifier: Any,
        requirements: Mapping[Any, Iterator[Requirement]],
        incompatibilities: Mapping[Any, Iterator[Candidate]],
    ) -> Iterable[Candidate]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        exact = any(is_exact_pin(r.range) for r in reqs)
        matches = [
            c
            for c in self.index.get(identifier, ())
            if c.version not in bad
            and (exact or not c.yanked)
            and all(_satisfies(c.version, r.range) for r in reqs)
        ]
        preferred = self.preferred.get(identifier)
        matches.sort(key=lambda c: (c.version == preferred, _version_key(c.version)), reverse=True)
        return matches

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        return _satisfies(candidate.version, requirement.range)

    def get_dependencies(self, candidate: Candidate) -> Iterable[Requirement]:
        return [
            Requirement(slug, range_, candidate.label)
            for slug, range_ in sorted(candidate.dependencies.items())
        ]


def resolve(
    index: Mapping[str, Sequence[Candidate]],
    roots: Sequence[Requirement],
    *,
    locked: Mapping[str, str] | None = None,
    preferred: Mapping[str, str] | None = None,
    max_rounds: int = 5000,
) -> Resolution:
    """Choose one version per plugin for ``roots`` plus ``locked`` (slug -> installed version,
    held fixed). Raises ``ResolutionConflict`` or ``DependencyCycle``."""
    locked = dict(locked or {})
    requirements = list(roots) + [
        Requirement(slug, f"={version}", INSTALLED) for slug, version in sorted(locked.items())
    ]
    working = {slug: list(cands) for slug, cands in index.items()}
    while True:
        chosen = _resolve_once(working, requirements, {**locked, **(preferred or {})}, max_rounds)
        # A yanked version may have been pinned by a dependant that backtracking later dropped;
        # it then stays only if a constraint of the final plan still pins it exactly.
        unpinned = _unpinned_yanked(chosen, requirements)
        if not unpinned:
            return Resolution(chosen=chosen, order=_topological(chosen))
        for c in unpinned:
            working[c.slug] = [x for x in working[c.slug] if x.version != c.version]


def _resolve_once(
    index: Mapping[str, Sequence[Candidate]],
    requirements: Sequence[Requirement],
    preferred: Mapping[str, str],
    max_rounds: int,
) -> dict[str, Candidate]:
    provider = _Provider(index, preferred)
    # resolvelib's own result builder recurses forever on some cyclic leftovers of backtracking;
    # the final pins are read from its state and pruned to what the roots reach instead.
    resolution: Any = _Resolution(provider, BaseReporter())
    try:
        state = resolution.resolve(requirements, max_rounds=max_rounds)
    except ResolutionImpossible as exc:
        raise _conflict(index, [c.requirement for c in exc.causes]) from None
    except ResolutionTooDeep:
        raise ResolutionConflict(
            "the dependency constraints are too tangled to resolve; pin versions explicitly",
            [],
        ) from None
    mapping: dict[str, Candidate] = dict(state.mapping)
    reached: dict[str, Candidate] = {}
    todo = [r.slug for r in requirements]
    while todo:
        slug = todo.pop()
        if slug in reached:
            continue
        reached[slug] = mapping[slug]
        todo.extend(reached[slug].dependencies)
    return reached


def _unpinned_yanked(
    chosen: Mapping[str, Candidate], requirements: Sequence[Requirement]
) -> list[Candidate]:
    pins: set[tuple[str, str]] = set()
    ranges = [(r.slug, r.range) for r in requirements] + [
        (dep, rng) for c in chosen.values() for dep, rng in c.dependencies.items()
    ]
    for slug, rng in ranges:
        if is_exact_pin(rng):
            pins.add((slug, normalize_range(rng).lstrip("=").strip()))
    return [c for c in chosen.values() if c.yanked and (c.slug, c.version) not in pins]


def _conflict(
    index: Mapping[str, Sequence[Candidate]], causes: Sequence[Requirement]
) -> ResolutionConflict:
    by_slug: dict[str, list[Requirement]] = {}
    for req in causes:
        group = by_slug.setdefault(req.slug, [])
        if req not in group:
            group.append(req)
    sentences = []
    for slug, reqs in by_slug.items():
        versions = index.get(slug, ())
        if not versions:
            sentences.append(f"{slug} is not in the catalog ({reqs[0].describe()})")
        elif len(reqs) == 1:
            available = ", ".join(c.version for c in versions if not c.yanked) or "none"
            sentences.append(
                f"no installable version of {reqs[0].describe()} exists (available: {available})"
            )
        else:
            first, *rest = reqs
            sentences.append(
                f"{first.describe()} conflicts with " + " and ".join(r.describe() for r in rest)
            )
    return ResolutionConflict("; ".join(sentences), causes)


def _topological(chosen: Mapping[str, Candidate]) -> list[Candidate]:
    edges = {
        slug: sorted(d for d in c.dependencies if d in chosen and d != slug)
        for slug, c in chosen.items()
    }
    cycle = _find_cycle(edges)
    if cycle:
        raise DependencyCycle(cycle)
    order: list[Candidate] = []
    done: set[str] = set()
    remaining = sorted(chosen)
    while remaining:
        ready = [s for s in remaining if all(d in done for d in edges[s])]
        for slug in ready:
            order.append(chosen[slug])
            done.add(slug)
        remaining = [s for s in remaining if s not in done]
    return order


def _find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for nxt in edges[node]:
            if color[nxt] == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if color[nxt] == white:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for node in sorted(edges):
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return None
