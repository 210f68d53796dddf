"""``ops-center plugin validate`` and the catalog's upload refuse the same manifests and archives
with the same answer: one table of bad packages, each checked offline by the CLI and uploaded
through the gateway, whose problem type, detail and field errors must be equal."""

from __future__ import annotations

import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from opscenter.catalog.testing import gzip_bomb_tar, manifest, package, tar_gz, zip_bytes
from opscenter.sdk.cli.app import main
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings


def _link(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


def _without(key: str) -> dict[str, Any]:
    m = manifest("parity-plugin")
    del m[key]
    return m


def _yaml(m: dict[str, Any]) -> bytes:
    return yaml.safe_dump(m).encode()


CASES: dict[str, bytes] = {
    "missing required fields": package(_without("author")),
    "unknown permission": package(manifest("parity-plugin", permissions=["api:everything"])),
    "hook without its permission": package(manifest("parity-plugin", permissions=[])),
    "unknown hook event": package(
        manifest("parity-plugin", hooks=[{"name": "device.exploded", "handler": "a.b:c"}])
    ),
    "bad version and slug": package(manifest("Parity_Plugin", version="1.0")),
    "config schema not an object": package(
        manifest("parity-plugin", config_schema={"type": "string"})
    ),
    "paid without a price": package(manifest("parity-plugin", pricing={"free": False})),
    "hook with both handler and url": package(
        manifest(
            "parity-plugin",
            hooks=[{"name": "device.created", "handler": "a.b:c", "url": "https://x.example"}],
        )
    ),
    "empty plugin.yaml": tar_gz({"plugin.yaml": b""}),
    "plugin.yaml not a mapping": tar_gz({"plugin.yaml": b"- just\n- a list\n"}),
    "yaml syntax error": tar_gz({"plugin.yaml": b"id: [unclosed\n"}),
    "no plugin.yaml": tar_gz({"README.md": b"hello"}),
    "path traversal": tar_gz({"plugin.yaml": _yaml(manifest("parity-plugin")), "../evil": b"x"}),
    "absolute path": tar_gz({"plugin.yaml": _yaml(manifest("parity-plugin")), "/etc/x": b"x"}),
    "symlink in tar": tar_gz(
        {"plugin.yaml": _yaml(manifest("parity-plugin"))}, extra=[_link("backend/link")]
    ),
    "symlink in zip": zip_bytes(
        {"plugin.yaml": _yaml(manifest("parity-plugin"))}, symlinks={"l": "/etc/passwd"}
    ),
    "zip with a bad manifest": package(manifest("parity-plugin", type="daemon"), fmt="zip"),
    "not an archive": b"this is not a package at all",
    "compression bomb": gzip_bomb_tar(),
}


def _catalog_answer(gateway_url: str, blob: bytes) -> dict[str, Any]:
    token = mint_dev_token(
        ServiceSettings(), roles=["developer"], publisher_id=f"parity-{uuid.uuid4().hex[:8]}"
    )
    r = httpx.post(
        f"{gateway_url}/api/v1/plugins/upload",
        files={"package": ("p.tar.gz", blob, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return {"status": r.status_code, **r.json()}


def _cli_answer(tmp_path: Path, blob: bytes, capsys: pytest.CaptureFixture[str]) -> Any:
    path = tmp_path / "package.tar.gz"
    path.write_bytes(blob)
    capsys.readouterr()
    code = main(["--json", "plugin", "validate", str(path)])
    answer = json.loads(capsys.readouterr().out)
    assert code == 1, answer
    return answer


@pytest.mark.parametrize("blob", CASES.values(), ids=CASES.keys())
def test_cli_and_catalog_refuse_alike(gateway_url, tmp_path, capsys, blob):
    catalog = _catalog_answer(gateway_url, blob)
    cli = _cli_answer(tmp_path, blob, capsys)
    assert catalog["status"] in (413, 422), catalog
    assert catalog["errors"], catalog
    assert (cli["status"], cli["type"], cli["detail"], cli["errors"]) == (
        catalog["status"],
        catalog["type"].rsplit("/", 1)[-1],
        catalog["detail"],
        catalog["errors"],
    )


def test_a_valid_package_passes_both(gateway_url, tmp_path, capsys):
    blob = package(manifest(f"parity-ok-{uuid.uuid4().hex[:8]}"))
    path = tmp_path / "ok.tar.gz"
    path.write_bytes(blob)
    assert main(["--json", "plugin", "validate", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    # The catalog's archive and manifest checks pass; it then refuses only what needs its
    # state: this plugin was never registered.
    assert _catalog_answer(gateway_url, blob)["status"] == 404
