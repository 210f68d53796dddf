"""FastAPI dependencies shared by the hooks service's endpoints (HTTP layer only)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path, Request

from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.auth import Principal, Role, require_roles


async def get_settings(request: Request) -> HooksSettings:
    settings: HooksSettings = request.app.state.settings
    return settings


async def get_cipher(request: Request) -> SecretCipher:
    cipher: SecretCipher = request.app.state.secret_cipher
    return cipher


SettingsDep = Annotated[HooksSettings, Depends(get_settings)]
CipherDep = Annotated[SecretCipher, Depends(get_cipher)]
PluginId = Annotated[uuid.UUID, Path(description="The plugin's id (a UUID)")]
TenantAdmin = Annotated[Principal, Depends(require_roles(Role.TENANT_ADMIN))]
AdminOrDeveloper = Annotated[Principal, Depends(require_roles(Role.TENANT_ADMIN, Role.DEVELOPER))]


def overlap(settings: HooksSettings) -> timedelta:
    return timedelta(seconds=settings.secret_overlap_s)
