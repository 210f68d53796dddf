"""The CLI's login file: the gateway URL and the bearer token, written 0600.

Location: ``$OPS_CENTER_CONFIG``, else ``$XDG_CONFIG_HOME/ops-center/config.json``, else
``~/.config/ops-center/config.json``. ``OPS_CENTER_URL`` and ``OPS_CENTER_TOKEN`` override the
file for one command (CI). Signing keys live beside it in ``keys/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Login", "config_dir", "config_path", "keys_dir", "load_login", "save_login"]

#: The gateway of a local suite (`make up`); 8080 answered nothing.
DEFAULT_URL = "http://127.0.0.1:8180"


def config_path() -> Path:
    explicit = os.environ.get("OPS_CENTER_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ops-center" / "config.json"


def config_dir() -> Path:
    return config_path().parent


def keys_dir() -> Path:
    return config_dir() / "keys"


@dataclass(frozen=True)
class Login:
    url: str
    token: str | None


def _stored() -> dict[str, str]:
    path = config_path()
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def load_login() -> Login:
    stored = _stored()
    url = os.environ.get("OPS_CENTER_URL") or stored.get("url") or DEFAULT_URL
    token = os.environ.get("OPS_CENTER_TOKEN") or stored.get("token")
    return Login(url.rstrip("/"), token)


def save_login(url: str, token: str) -> Path:
    """Writes the file with mode 0600 from its creation (the token never sits world-readable)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {**_stored(), "url": url.rstrip("/"), "token": token}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
