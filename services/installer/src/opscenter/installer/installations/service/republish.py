"""An operator's republish of every live installation's config to hooks (``config_set`` with
reason ``republish``): for installations configured before hooks kept configs, and after the
hooks key pair changed (the boxes are sealed again, to the key the installer holds now).

Invariants: each event carries the installation's current sequence and is emitted while the
row is locked, so it never overtakes a newer config (a consumer applies only a higher
sequence than it holds; one that holds this very sequence keeps what it has). An installation
uninstalling gets none: its uninstall empties the config in hooks anyway.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import InstallationState
from opscenter.installer.config import ConfigCipher
from opscenter.installer.events import Emit
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.service.transitions import config_set


async def republish_page(
    session: AsyncSession, emit: Emit, cipher: ConfigCipher, after: uuid.UUID | None, limit: int
) -> tuple[int, uuid.UUID | None]:
    """Emits the config of up to ``limit`` live installations after ``after`` (id order);
    returns how many were sent and the last id read (None: nothing left)."""
    rows = await repo.live_page_for_update(session, after, limit)
    sent = 0
    for installation in rows:
        if installation.state == InstallationState.UNINSTALLING:
            continue
        secrets = cipher.decrypt(installation.secret_config)
        await emit(
            config_set(installation, cipher, secrets, "republish", None), installation.tenant_id
        )
        sent += 1
    return sent, (rows[-1].id if rows else None)
