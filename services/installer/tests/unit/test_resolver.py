"""The resolver: plans keep every constraint; refusals name a real conflict or cycle."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opscenter.contracts.semver import satisfies
from opscenter.installer.resolver import (
    Candidate,
    DependencyCycle,
    Requirement,
    Resolution,
    ResolutionConflict,
    is_exact_pin,
    resolve,
)


def index_of(*candidates: Candidate) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = {}
    for c in candidates:
        out.setdefault(c.slug, []).append(c)
    return out


def test_picks_newest_satisfying_versions_and_orders_dependencies_first():
    index = index_of(
        Candidate("app", "1.0.0", {"lib": "^1.0.0", "log": "*"}),
        Candidate("lib", "1.0.0"),
        Candidate("lib", "1.4.0", {"log": ">=2"}),
        Candidate("lib", "2.0.0"),
        Candidate("log", "1.0.0"),
        Candidate("log", "2.1.0"),
    )
    result = resolve(index, [Requirement("app", "*")])
    assert {s: c.version for s, c in result.chosen.items()} == {
        "app": "1.0.0",
        "lib": "1.4.0",
        "log": "2.1.0",
    }
    assert [c.slug for c in result.order] == ["log", "lib", "app"]


def test_keeps_what_is_installed_when_it_fits():
    index = index_of(
        Candidate("app", "1.0.0", {"lib": "^1.0.0"}),
        Candidate("lib", "1.0.0"),
        Candidate("lib", "1.9.0"),
    )
    result = resolve(index, [Requirement("app", "*")], locked={"lib": "1.0.0"})
    assert result.chosen["lib"].version == "1.0.0"


def test_conflict_sentence_names_both_constraints_and_who_asked():
    index = index_of(
        Candidate("a", "1.2.0", {"my-plugin": "^2.0.0"}),
        Candidate("b", "3.1.0", {"my-plugin": "<2"}),
        Candidate("top", "1.0.0", {"a": "*", "b": "*"}),
        Candidate("my-plugin", "1.0.0"),
        Candidate("my-plugin", "2.0.0"),
    )
    with pytest.raises(ResolutionConflict) as err:
        resolve(index, [Requirement("top", "*")])
    message = str(err.value)
    assert "my-plugin@^2.0.0 (required by a@1.2.0)" in message
    assert "my-plugin@<2 (required by b@3.1.0)" in message
    assert "conflicts with" in message


def test_conflict_with_an_installed_version_says_installed():
    index = index_of(
        Candidate("app", "1.0.0", {"lib": "^2.0.0"}),
        Candidate("lib", "1.0.0"),
        Candidate("lib", "2.0.0"),
    )
    with pytest.raises(ResolutionConflict) as err:
        resolve(index, [Requirement("app", "*")], locked={"lib": "1.0.0"})
    assert "lib@=1.0.0 (required by installed)" in str(err.value)
    assert "lib@^2.0.0 (required by app@1.0.0)" in str(err.value)


def test_unknown_plugin_and_unsatisfiable_range_are_named():
    index = index_of(Candidate("app", "1.0.0", {"ghost": "^1.0.0"}))
    with pytest.raises(ResolutionConflict, match=r"ghost is not in the catalog"):
        resolve(index, [Requirement("app", "*")])
    with pytest.raises(ResolutionConflict, match=r"no installable version of app@\^9"):
        resolve(index, [Requirement("app", "^9.0.0")])


def test_cycle_is_refused_and_named():
    index = index_of(
        Candidate("aaa", "1.0.0", {"bbb": "*"}), Candidate("bbb", "1.0.0", {"aaa": "*"})
    )
    with pytest.raises(DependencyCycle) as err:
        resolve(index, [Requirement("aaa", "*")])
    assert str(err.value) == "dependency cycle: aaa -> bbb -> aaa"


def test_yanked_versions_only_by_exact_pin():
    index = index_of(Candidate("lib", "1.0.0"), Candidate("lib", "1.1.0", yanked=True))
    assert resolve(index, [Requirement("lib", "^1.0.0")]).chosen["lib"].version == "1.0.0"
    assert resolve(index, [Requirement("lib", "=1.1.0")]).chosen["lib"].version == "1.1.0"
    assert resolve(index, [Requirement("lib", "1.1.0")]).chosen["lib"].version == "1.1.0"
    assert is_exact_pin("=1.1.0")
    assert not is_exact_pin("^1.1.0")


def test_backtracks_to_an_older_version_that_fits():
    index = index_of(
        Candidate("app", "2.0.0", {"lib": "^2.0.0"}),
        Candidate("app", "1.0.0", {"lib": "^1.0.0"}),
        Candidate("lib", "1.0.0"),
        Candidate("lib", "2.0.0"),
    )
    result = resolve(index, [Requirement("app", "*")], locked={"lib": "1.0.0"})
    assert result.chosen["app"].version == "1.0.0"


# --- properties over random dependency graphs ------------------------------------------------

SLUGS = ["p-a", "p-b", "p-c", "p-d"]
VERSIONS = ["1.0.0", "1.1.0", "2.0.0"]
RANGES = ["*", "^1.0.0", "^2.0.0", "~1.1.0", ">=1.1.0", "<2", "=1.0.0", "9.9.9"]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[Candidate]]:
    index: dict[str, list[Candidate]] = {}
    for slug in SLUGS:
        versions = draw(st.lists(st.sampled_from(VERSIONS), min_size=1, max_size=3, unique=True))
        for version in versions:
            others = [s for s in SLUGS if s != slug]
            dep_slugs = draw(st.lists(st.sampled_from(others), max_size=2, unique=True))
            deps = {d: draw(st.sampled_from(RANGES)) for d in dep_slugs}
            yanked = draw(st.booleans()) and draw(st.booleans())
            index.setdefault(slug, []).append(Candidate(slug, version, deps, yanked))
    return index


def eligible(c: Candidate, ranges: list[str]) -> bool:
    if not all(satisfies(c.version, r) for r in ranges):
        return False
    return not c.yanked or any(is_exact_pin(r) for r in ranges)


def valid_assignment(
    index: dict[str, list[Candidate]], roots: list[Requirement], pick: dict[str, Candidate]
) -> bool:
    """``pick`` is exactly the closure of ``roots`` and every constraint on it holds."""
    ranges: dict[str, list[str]] = {}
    for r in roots:
        ranges.setdefault(r.slug, []).append(r.range)
    todo = [r.slug for r in roots]
    seen: set[str] = set()
    while todo:
        slug = todo.pop()
        if slug in seen or slug not in pick:
            continue
        seen.add(slug)
        for d, rng in pick[slug].dependencies.items():
            ranges.setdefault(d, []).append(rng)
            todo.append(d)
    if set(pick) != set(ranges):
        return False
    for slug, rs in ranges.items():
        if slug not in pick or not eligible(pick[slug], rs):
            return False
    return not has_cycle(pick)


def has_cycle(pick: dict[str, Candidate]) -> bool:
    """Plans with a dependency cycle are refused (ARCHITECTURE: cycles refused), so an
    assignment that needs one is no solution."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(slug: str) -> bool:
        state[slug] = 1
        for dep in pick[slug].dependencies:
            if dep not in pick:
                continue
            if state.get(dep) == 1 or (dep not in state and visit(dep)):
                return True
        state[slug] = 2
        return False

    return any(slug not in state and visit(slug) for slug in pick)


def brute_force_solvable(index: dict[str, list[Candidate]], roots: list[Requirement]) -> bool:
    options = [[None, *index.get(s, [])] for s in SLUGS]
    for combo in itertools.product(*options):
        pick = {c.slug: c for c in combo if c is not None}
        if valid_assignment(index, roots, pick):
            return True
    return False


# Found by hypothesis: p-c 1.1.0 (pinned after p-a 2.0.0) breaks p-a's pin, and resolvelib
# went on to re-pin p-c past p-a 2.0.0's own ^1 constraint, returning p-c 2.0.0.
CYCLE_REPIN = {
    "p-a": [
        Candidate("p-a", "2.0.0", {"p-c": "^1.0.0"}),
        Candidate("p-a", "1.0.0", {}),
        Candidate("p-a", "1.1.0", {}),
    ],
    "p-b": [Candidate("p-b", "1.0.0", {"p-c": "^2.0.0"})],
    "p-c": [
        Candidate("p-c", "1.0.0", {}),
        Candidate("p-c", "1.1.0", {"p-a": "^1.0.0", "p-b": "*"}),
        Candidate("p-c", "2.0.0", {}),
    ],
    "p-d": [Candidate("p-d", "1.0.0", {})],
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=graphs(), root=st.sampled_from(SLUGS), root_range=st.sampled_from(RANGES))
@example(index=CYCLE_REPIN, root="p-a", root_range="*")
def test_random_graphs_plans_hold_and_refusals_are_real(index, root, root_range):
    roots = [Requirement(root, root_range)]
    outcome: object
    try:
        outcome = resolve(index, roots)
    except (DependencyCycle, ResolutionConflict) as refusal:
        outcome = refusal
    if isinstance(outcome, DependencyCycle):
        # The named cycle is real: each step is a dependency of a published version.
        path = outcome.cycle
        assert path[0] == path[-1]
        assert len(path) >= 3
        for a, b in itertools.pairwise(path):
            assert any(b in c.dependencies for c in index[a])
        return
    if isinstance(outcome, ResolutionConflict):
        message = str(outcome)
        assert not brute_force_solvable(index, roots), message
        named = {r.slug for r in outcome.requirements}
        assert named, message
        for slug in named:
            assert slug in message
        # Every named constraint exists: the request itself, or a dependency of a real version.
        labels = {c.label: c for cs in index.values() for c in cs}
        for r in outcome.requirements:
            if r.parent != "your request":
                assert labels[r.parent].dependencies[r.slug] == r.range, message
        return
    assert isinstance(outcome, Resolution)
    chosen = dict(outcome.chosen)
    assert valid_assignment(index, roots, chosen)
    assert len({c.slug for c in outcome.order}) == len(outcome.order) == len(chosen)
    position = {c.slug: i for i, c in enumerate(outcome.order)}
    for c in outcome.order:
        for dep in c.dependencies:
            assert position[dep] < position[c.slug]
