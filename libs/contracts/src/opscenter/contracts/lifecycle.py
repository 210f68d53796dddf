"""The installation lifecycle as data: states, actions, and the transitions between them.

``Available -> Installing -> Installed -> Enabled <-> Disabled``, plus ``Failed`` (a failed
install or uninstall; ``retry`` installs again), ``Updating`` (an upgrade in flight) and
``Uninstalling``; ``Uninstalled`` keeps its history and may be installed again.

Invariants:
- ``TRANSITIONS`` maps ``(state, action)`` to the states the action may lead to; a pair absent
  from it is illegal and raises ``IllegalTransition`` naming the current state and the action.
- An upgrade returns to the state it left: ``upgrade_succeeded`` and ``upgrade_failed`` take
  ``previous`` (the state before ``upgrade_requested``), so a failed upgrade leaves the old
  version enabled (or disabled, or installed) as it was.
- ``config_update`` is legal in installed/enabled/disabled and changes no state.
- ``ban`` (the plugin was banned) disables an installed, enabled or disabled installation.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from opscenter.contracts.errors import ContractError

__all__ = [
    "RESUMABLE_STATES",
    "TRANSITIONS",
    "IllegalTransition",
    "InstallationAction",
    "InstallationState",
    "allowed_actions",
    "apply_transition",
]


class InstallationState(StrEnum):
    AVAILABLE = "available"
    INSTALLING = "installing"
    INSTALLED = "installed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    FAILED = "failed"
    UPDATING = "updating"
    UNINSTALLING = "uninstalling"
    UNINSTALLED = "uninstalled"


class InstallationAction(StrEnum):
    INSTALL_REQUESTED = "install_requested"
    INSTALL_SUCCEEDED = "install_succeeded"
    INSTALL_FAILED = "install_failed"
    ENABLE = "enable"
    DISABLE = "disable"
    CONFIG_UPDATE = "config_update"
    UPGRADE_REQUESTED = "upgrade_requested"
    UPGRADE_SUCCEEDED = "upgrade_succeeded"
    UPGRADE_FAILED = "upgrade_failed"
    UNINSTALL_REQUESTED = "uninstall_requested"
    UNINSTALL_SUCCEEDED = "uninstall_succeeded"
    UNINSTALL_FAILED = "uninstall_failed"
    RETRY = "retry"
    BAN = "ban"


S = InstallationState
A = InstallationAction

#: States an upgrade may start from, and therefore return to.
RESUMABLE_STATES = frozenset({S.INSTALLED, S.ENABLED, S.DISABLED})

TRANSITIONS: Mapping[tuple[InstallationState, InstallationAction], frozenset[InstallationState]] = {
    (S.AVAILABLE, A.INSTALL_REQUESTED): frozenset({S.INSTALLING}),
    (S.UNINSTALLED, A.INSTALL_REQUESTED): frozenset({S.INSTALLING}),
    (S.INSTALLING, A.INSTALL_SUCCEEDED): frozenset({S.INSTALLED}),
    (S.INSTALLING, A.INSTALL_FAILED): frozenset({S.FAILED}),
    (S.FAILED, A.RETRY): frozenset({S.INSTALLING}),
    (S.FAILED, A.UNINSTALL_REQUESTED): frozenset({S.UNINSTALLING}),
    (S.INSTALLED, A.ENABLE): frozenset({S.ENABLED}),
    (S.DISABLED, A.ENABLE): frozenset({S.ENABLED}),
    (S.ENABLED, A.DISABLE): frozenset({S.DISABLED}),
    (S.INSTALLED, A.BAN): frozenset({S.DISABLED}),
    (S.ENABLED, A.BAN): frozenset({S.DISABLED}),
    (S.DISABLED, A.BAN): frozenset({S.DISABLED}),
    (S.INSTALLED, A.CONFIG_UPDATE): frozenset({S.INSTALLED}),
    (S.ENABLED, A.CONFIG_UPDATE): frozenset({S.ENABLED}),
    (S.DISABLED, A.CONFIG_UPDATE): frozenset({S.DISABLED}),
    (S.INSTALLED, A.UPGRADE_REQUESTED): frozenset({S.UPDATING}),
    (S.ENABLED, A.UPGRADE_REQUESTED): frozenset({S.UPDATING}),
    (S.DISABLED, A.UPGRADE_REQUESTED): frozenset({S.UPDATING}),
    (S.UPDATING, A.UPGRADE_SUCCEEDED): RESUMABLE_STATES,
    (S.UPDATING, A.UPGRADE_FAILED): RESUMABLE_STATES,
    (S.INSTALLED, A.UNINSTALL_REQUESTED): frozenset({S.UNINSTALLING}),
    (S.ENABLED, A.UNINSTALL_REQUESTED): frozenset({S.UNINSTALLING}),
    (S.DISABLED, A.UNINSTALL_REQUESTED): frozenset({S.UNINSTALLING}),
    (S.UNINSTALLING, A.UNINSTALL_SUCCEEDED): frozenset({S.UNINSTALLED}),
    (S.UNINSTALLING, A.UNINSTALL_FAILED): frozenset({S.FAILED}),
}


class IllegalTransition(ContractError):
    """``action`` is not allowed in ``state`` (answer 409 with the current state)."""

    def __init__(
        self, state: InstallationState, action: InstallationAction, detail: str | None = None
    ) -> None:
        allowed = ", ".join(sorted(allowed_actions(state))) or "none"
        message = detail or f"cannot {action.value} an installation that is {state.value}"
        super().__init__(f"{message} (allowed: {allowed})", field="state")
        self.state = state
        self.action = action


def allowed_actions(state: InstallationState) -> frozenset[InstallationAction]:
    """The actions legal in ``state``."""
    return frozenset(a for (s, a) in TRANSITIONS if s == state)


def apply_transition(
    state: InstallationState,
    action: InstallationAction,
    *,
    previous: InstallationState | None = None,
) -> InstallationState:
    """The state after ``action``; ``previous`` (the state before ``upgrade_requested``) picks
    the target of ``upgrade_succeeded``/``upgrade_failed``. Raises ``IllegalTransition``."""
    state, action = InstallationState(state), InstallationAction(action)
    targets = TRANSITIONS.get((state, action))
    if targets is None:
        raise IllegalTransition(state, action)
    if len(targets) == 1:
        return next(iter(targets))
    if previous is None or previous not in targets:
        choices = ", ".join(sorted(targets))
        raise IllegalTransition(
            state,
            action,
            f"cannot {action.value} an installation that is {state.value} without the state "
            f"to return to (previous must be one of {choices}, got {previous})",
        )
    return InstallationState(previous)
