"""The ``ops-center`` command: groups from their modules; ``--json`` anywhere on the line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from opscenter.sdk.cli import keys_cmds, ops_cmds, plugin_cmds, tenant_cmds
from opscenter.sdk.cli.output import Failure, out

app = typer.Typer(
    name="ops-center",
    help="Build, publish and operate Ops Center plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    json_output: Annotated[bool, typer.Option("--json", help="Answer with JSON only")] = False,
) -> None:
    if json_output:
        out.json = True


app.add_typer(plugin_cmds.app, name="plugin")
app.add_typer(keys_cmds.app, name="keys")
app.add_typer(ops_cmds.deliveries_app, name="deliveries")
app.add_typer(ops_cmds.permissions_app, name="permissions")
app.add_typer(ops_cmds.dev_app, name="dev")
app.add_typer(tenant_cmds.config_app, name="config")
app.command()(ops_cmds.login)
app.command()(ops_cmds.whoami)
app.command()(ops_cmds.analytics)
app.command()(tenant_cmds.install)
app.command("list")(tenant_cmds.list_installed)
app.command()(tenant_cmds.enable)
app.command()(tenant_cmds.disable)
app.command()(tenant_cmds.upgrade)
app.command()(tenant_cmds.uninstall)


def main(argv: list[str] | None = None) -> int:
    """Runs the command; ``--json`` is accepted in any position (every command has it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    out.json = "--json" in args
    args = [a for a in args if a != "--json"]
    try:
        app(args=args, prog_name="ops-center", standalone_mode=False)
    except Failure as failure:
        out.show_failure(failure)
        return failure.code
    except typer.Abort:
        out.show_failure(Failure({"type": "aborted", "title": "Aborted", "detail": "aborted"}))
        return 1
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
