"""The installation lifecycle table: every legal transition, every illegal one, and a property
test over random action sequences."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opscenter.contracts.lifecycle import (
    RESUMABLE_STATES,
    TRANSITIONS,
    IllegalTransition,
    InstallationAction,
    InstallationState,
    allowed_actions,
    apply_transition,
)

S = InstallationState
A = InstallationAction
LEGAL = sorted(TRANSITIONS.items())
ILLEGAL = [(s, a) for s, a in itertools.product(S, A) if (s, a) not in TRANSITIONS]


@pytest.mark.parametrize(("key", "targets"), LEGAL, ids=[f"{s}-{a}" for (s, a), _ in LEGAL])
def test_every_allowed_transition(
    key: tuple[InstallationState, InstallationAction], targets: frozenset[InstallationState]
) -> None:
    state, action = key
    if len(targets) == 1:
        assert apply_transition(state, action) in targets
    else:
        for previous in targets:
            assert apply_transition(state, action, previous=previous) is previous


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_illegal_transitions_raise_with_the_current_state(
    state: InstallationState, action: InstallationAction
) -> None:
    with pytest.raises(IllegalTransition) as info:
        apply_transition(state, action)
    assert info.value.state is state
    assert info.value.action is action
    assert state.value in str(info.value)
    assert action.value in str(info.value)
    assert info.value.field == "state"


def test_the_documented_path() -> None:
    state = S.AVAILABLE
    for action in (A.INSTALL_REQUESTED, A.INSTALL_SUCCEEDED, A.ENABLE, A.DISABLE, A.ENABLE):
        state = apply_transition(state, action)
    assert state is S.ENABLED


def test_failed_upgrade_returns_to_the_previous_state() -> None:
    state = apply_transition(S.DISABLED, A.UPGRADE_REQUESTED)
    assert state is S.UPDATING
    assert apply_transition(state, A.UPGRADE_FAILED, previous=S.DISABLED) is S.DISABLED
    assert apply_transition(state, A.UPGRADE_SUCCEEDED, previous=S.ENABLED) is S.ENABLED


@pytest.mark.parametrize("previous", [None, S.FAILED, S.UPDATING])
def test_upgrade_outcome_needs_a_valid_previous(previous: InstallationState | None) -> None:
    with pytest.raises(IllegalTransition, match="previous must be one of"):
        apply_transition(S.UPDATING, A.UPGRADE_FAILED, previous=previous)


def test_config_update_keeps_the_state() -> None:
    for state in RESUMABLE_STATES:
        assert apply_transition(state, A.CONFIG_UPDATE) is state


def test_retry_and_ban() -> None:
    assert apply_transition(S.FAILED, A.RETRY) is S.INSTALLING
    assert apply_transition(S.ENABLED, A.BAN) is S.DISABLED
    with pytest.raises(IllegalTransition, match="cannot enable an installation that is failed"):
        apply_transition(S.FAILED, A.ENABLE)


def test_allowed_actions() -> None:
    assert allowed_actions(S.ENABLED) == {
        A.DISABLE,
        A.BAN,
        A.CONFIG_UPDATE,
        A.UPGRADE_REQUESTED,
        A.UNINSTALL_REQUESTED,
    }
    assert allowed_actions(S.AVAILABLE) == {A.INSTALL_REQUESTED}
    assert "allowed: install_requested" in str(IllegalTransition(S.AVAILABLE, A.ENABLE))


def test_strings_are_accepted() -> None:
    assert apply_transition("enabled", "disable") is S.DISABLED  # type: ignore[arg-type]


def test_every_state_is_reachable_from_available() -> None:
    seen, frontier = {S.AVAILABLE}, [S.AVAILABLE]
    while frontier:
        state = frontier.pop()
        for (src, _action), targets in TRANSITIONS.items():
            if src == state:
                for t in targets - seen:
                    seen.add(t)
                    frontier.append(t)
    assert seen == set(S)


@given(st.lists(st.sampled_from(list(A)), max_size=60))
def test_random_sequences_stay_inside_the_table(actions: list[InstallationAction]) -> None:
    state = S.AVAILABLE
    resume: InstallationState | None = None
    for action in actions:
        targets = TRANSITIONS.get((state, action))
        if targets is None:
            with pytest.raises(IllegalTransition) as info:
                apply_transition(state, action, previous=resume)
            assert state.value in str(info.value)
            continue
        new = apply_transition(state, action, previous=resume)
        assert new in targets
        assert new in S
        if action is A.UPGRADE_REQUESTED:
            resume = state
        elif state is S.UPDATING:
            assert new is resume
            resume = None
        state = new
