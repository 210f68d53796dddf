"""``ops-center keys``: signing keys held by the publisher (private key files under the config
folder, 0600) and their registration with the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opscenter.sdk import signing
from opscenter.sdk.cli.client import api
from opscenter.sdk.cli.output import Failure, out, table
from opscenter.sdk.cli.settings import keys_dir

app = typer.Typer(help="Generate, register, list and revoke signing keys.", no_args_is_help=True)


def private_key_path(name: str) -> Path:
    return keys_dir() / f"{name}.pem"


def default_key() -> str:
    """``default`` when it exists, else the only key; otherwise the user must name one."""
    names = sorted(p.stem for p in keys_dir().glob("*.pem")) if keys_dir().is_dir() else []
    if "default" in names:
        return "default"
    if len(names) == 1:
        return names[0]
    raise Failure(
        {
            "type": "no-key",
            "title": "Which key?",
            "detail": "no signing key: run `ops-center keys generate`"
            if not names
            else f"several keys ({', '.join(names)}): pass --key",
        },
        code=2,
    )


@app.command()
def generate(
    name: Annotated[str, typer.Option(help="Key file name")] = "default",
    register: Annotated[bool, typer.Option(help="Also register it with the catalog")] = False,
) -> None:
    """Create an ed25519 key pair; the private key stays on this machine (0600)."""
    path = private_key_path(name)
    if path.exists():
        out.fail(
            {
                "type": "key-exists",
                "title": "Key exists",
                "detail": f"{path} exists; choose another --name",
            },
            code=2,
        )
    public = signing.public_key_b64(signing.generate_key(path))
    data: dict[str, object] = {"name": name, "path": str(path), "public_key": public}
    human = f"key {name}: {path}\n  public key {public}"
    if register:
        registered = _register(public)
        data["registered"] = registered
        human += f"\n  registered as key {registered.get('key_id')}"
    out.result(data, human)


def _register(public: str) -> dict[str, object]:
    answer: dict[str, object] = api().call(
        "POST", "/plugins/publishers/me/keys", json={"public_key": public}, idempotent=True
    )
    return answer


@app.command("register")
def register_cmd(
    name: Annotated[str | None, typer.Option(help="Key name (default: the only key)")] = None,
) -> None:
    """Register a key's public half with your publisher."""
    key = signing.load_private_key(private_key_path(name or default_key()))
    answer = _register(signing.public_key_b64(key))
    out.result(answer, f"registered key {answer.get('key_id')}")


@app.command("list")
def list_cmd() -> None:
    """Your publisher's registered keys (revoked ones included)."""
    answer = api().call("GET", "/plugins/publishers/me/keys")
    rows = [
        [
            k.get("key_id"),
            k.get("fingerprint", "")[:16],
            k.get("status") or ("revoked" if k.get("revoked_at") else "active"),
            k.get("created_at"),
        ]
        for k in answer["items"]
    ]
    out.result(answer, table(["key_id", "fingerprint", "status", "created"], rows))


@app.command()
def revoke(key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key: packages signed with it no longer verify for new installs."""
    answer = api().call("DELETE", f"/plugins/publishers/me/keys/{key_id}", idempotent=True)
    out.result(answer, f"revoked {key_id}")
