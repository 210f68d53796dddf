"""``ops-center plugin``: init, validate, package, sign, verify, publish."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn

from opscenter.sdk import signing
from opscenter.sdk.cli import templates
from opscenter.sdk.cli.client import api
from opscenter.sdk.cli.keys_cmds import default_key, private_key_path
from opscenter.sdk.cli.output import out, table
from opscenter.sdk.packaging import Refusal, build_package, check_archive, check_folder

app = typer.Typer(help="Create, check, package, sign and publish a plugin.", no_args_is_help=True)

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _refused(exc: Refusal) -> None:
    out.fail(
        {
            "type": exc.kind,
            "status": exc.status,
            "title": "Refused",
            "detail": exc.detail,
            "errors": exc.errors,
        }
    )


@app.command()
def init(
    slug: Annotated[str, typer.Argument(help="The plugin's id (lowercase, digits, hyphens)")],
    template: Annotated[str, typer.Option(help="backend | frontend | hybrid | theme")] = "backend",
    language: Annotated[str, typer.Option("--language", "--lang", help="python | typescript")] = (
        "python"
    ),
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    author: Annotated[str, typer.Option(help="Author shown in the marketplace")] = "Plugin Author",
    directory: Annotated[Path | None, typer.Option("--dir", help="Where (default: ./SLUG)")] = None,
) -> None:
    """Create a new plugin folder from a template."""
    if template not in templates.TEMPLATES or language not in templates.LANGUAGES:
        out.fail(
            {
                "type": "usage",
                "title": "Unknown template",
                "detail": f"template must be one of {', '.join(templates.TEMPLATES)} and "
                f"language one of {', '.join(templates.LANGUAGES)}",
            },
            code=2,
        )
    if not _SLUG_RE.match(slug):
        out.fail(
            {
                "type": "usage",
                "title": "Bad id",
                "detail": f"{slug!r} must be lowercase letters, digits and hyphens",
            },
            code=2,
        )
    root = directory or Path(slug)
    if root.exists() and any(root.iterdir()):
        out.fail(
            {
                "type": "usage",
                "title": "Folder not empty",
                "detail": f"{root} exists and is not empty",
            },
            code=2,
        )
    display = name or slug.replace("-", " ").title()
    files = templates.write(root, templates.render(template, language, slug, display, author))
    out.result(
        {"path": str(root), "files": files, "template": template, "language": language},
        f"Created {root} ({template}, {language}):\n" + "\n".join(f"  {f}" for f in files),
    )


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="A plugin folder or a .tar.gz/.zip package")] = Path(
        "."
    ),
) -> None:
    """Check a plugin folder or package with the catalog's own rules (same messages)."""
    try:
        manifest = check_archive(path) if path.is_file() else check_folder(path)
    except Refusal as exc:
        _refused(exc)
    out.result(
        {"valid": True, "id": manifest.id, "version": manifest.version},
        f"[green]valid[/]: {manifest.id} {manifest.version}",
    )


@app.command()
def package(
    path: Annotated[Path, typer.Argument(help="The plugin folder")] = Path("."),
    out_dir: Annotated[Path | None, typer.Option("--out", help="Default: PATH/dist")] = None,
) -> None:
    """Build a deterministic .tar.gz (same tree, same bytes); refuses secrets such as .env."""
    try:
        built = build_package(path, out_dir)
    except Refusal as exc:
        _refused(exc)
    out.result(
        {
            "path": str(built.path),
            "digest": built.digest,
            "size": built.size,
            "files": built.files,
            "id": built.manifest.id,
            "version": built.manifest.version,
        },
        f"{built.path}\n  sha256 {built.digest}\n  {built.size} bytes, {len(built.files)} files:\n"
        + "\n".join(f"    {f}" for f in built.files),
    )


def _sig_path(pkg: Path) -> Path:
    return pkg.with_name(pkg.name + ".sig")


@app.command()
def sign(
    package_path: Annotated[Path, typer.Argument(metavar="PACKAGE")],
    key: Annotated[
        str | None, typer.Option(help="Key name (default: the only/default key)")
    ] = None,
) -> None:
    """Sign a package: ed25519 over its raw sha-256 digest, written to PACKAGE.sig."""
    name = key or default_key()
    private = signing.load_private_key(private_key_path(name))
    digest = signing.digest_of(package_path.read_bytes())
    signature = signing.sign_digest(private, digest)
    _sig_path(package_path).write_text(signature + "\n")
    out.result(
        {
            "package": str(package_path),
            "digest": digest.hex(),
            "signature": signature,
            "key": name,
            "signature_path": str(_sig_path(package_path)),
        },
        f"signed {package_path} with key {name}\n  {_sig_path(package_path)}",
    )


@app.command()
def verify(
    package_path: Annotated[Path, typer.Argument(metavar="PACKAGE")],
    public_key: Annotated[str | None, typer.Option(help="base64 public key (default: key)")] = None,
    key: Annotated[str | None, typer.Option(help="Key name")] = None,
    signature: Annotated[str | None, typer.Option(help="Default: PACKAGE.sig")] = None,
) -> None:
    """Verify a package's signature exactly as the catalog and the installer do."""
    if public_key is None:
        public_key = signing.public_key_b64(
            signing.load_private_key(private_key_path(key or default_key()))
        )
    sig = signature or _sig_path(package_path).read_text().strip()
    digest = signing.digest_of(package_path.read_bytes())
    if not signing.verify_digest(public_key, sig, digest):
        out.fail(
            {
                "type": "signature-invalid",
                "title": "Signature does not verify",
                "detail": f"the signature of {package_path} does not verify with that key "
                "(it must be ed25519 over the raw sha-256 digest)",
            }
        )
    out.result(
        {"valid": True, "digest": digest.hex()}, f"[green]signature verifies[/] ({digest.hex()})"
    )


def _registered(client: Any, manifest: Any, register: bool) -> None:
    mine = client.call("GET", "/plugins/publishers/me/plugins", params={"limit": 100})
    if any(p["slug"] == manifest.id for p in mine["items"]):
        return
    if not register:
        out.fail(
            {
                "type": "not-registered",
                "title": "Plugin not registered",
                "detail": f"{manifest.id} is not registered; pass --register",
            }
        )
    body = {"slug": manifest.id, **manifest.listing()}
    client.call("POST", "/plugins/register", json=body, idempotent=True)
    out.info(f"registered {manifest.id}")


@app.command()
def publish(
    package_path: Annotated[Path, typer.Argument(metavar="PACKAGE")],
    dry_run: Annotated[bool, typer.Option(help="Run every check, publish nothing")] = False,
    register: Annotated[bool, typer.Option(help="Register the plugin if it is new")] = True,
    changelog: Annotated[str | None, typer.Option()] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Default: from the digest and the signature")
    ] = None,
) -> None:
    """Upload a package (and its .sig, when present) to the catalog."""
    try:
        manifest = check_archive(package_path)
    except Refusal as exc:
        _refused(exc)
    data = package_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    form: dict[str, str] = {}
    sig = _sig_path(package_path)
    if sig.is_file():
        form["signature"] = sig.read_text().strip()
        base64.b64decode(form["signature"], validate=True)
    if changelog:
        form["changelog"] = changelog
    # The default key names the whole request: the same package signed again (another key)
    # or with another changelog is a new request, which the catalog answers 409 (version
    # exists) rather than 422 (key reused with another body); a plain retry reuses the key.
    request_id = hashlib.sha256(f"{digest}:{sorted(form.items())}".encode()).hexdigest()
    client = api()
    if dry_run:
        form["dry_run"] = "true"
    else:
        _registered(client, manifest, register)
    with Progress(
        TextColumn("uploading"),
        BarColumn(),
        disable=out.json or not out.interactive,
        transient=True,
    ) as progress:
        task = progress.add_task("upload", total=1)
        answer = client.call(
            "POST",
            "/plugins/upload",
            files={"package": (package_path.name, data, "application/gzip")},
            data=form,
            idempotent=True,
            idempotency_key=idempotency_key or f"publish-{request_id}{'-dry' if dry_run else ''}",
        )
        progress.update(task, completed=1)
    what = "checked (dry run, nothing published)" if dry_run else "published"
    out.result(
        answer,
        table(
            ["plugin", "version", "digest", "signed", "result"],
            [[manifest.id, manifest.version, digest[:16] + "...", answer.get("signed"), what]],
        ),
    )
