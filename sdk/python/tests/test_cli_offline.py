"""CLI commands that need no server: every template validates as generated, answers are one
JSON document with --json, and failures are readable problems."""

from __future__ import annotations

import json
import os
import stat

import pytest

from opscenter.sdk.cli import templates
from opscenter.sdk.cli.app import main


@pytest.mark.parametrize("language", templates.LANGUAGES)
@pytest.mark.parametrize("template", templates.TEMPLATES)
def test_every_template_validates_with_the_catalogs_rules(tmp_path, capsys, template, language):
    target = tmp_path / "p"
    assert main(["plugin", "init", "my-plugin", "--template", template, "--language", language,
                 "--dir", str(target)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--json", "plugin", "validate", str(target)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"valid": True, "id": "my-plugin", "version": "1.0.0"}


def test_the_python_template_runs_in_the_harness(tmp_path, capsys):
    assert main(["plugin", "init", "inv", "--dir", str(tmp_path / "inv")]) == 0
    capsys.readouterr()
    assert main(["--json", "dev", "emit", "device.created", "--path", str(tmp_path / "inv"),
                 "-c", "greeting=hi"]) == 0  # fmt: skip
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is True
    assert answer["result"] == {"seen": "dev-42", "message": "hi edge-router-1"}
    # A hook the plugin does not subscribe to is refused as the dispatcher would.
    assert main(["--json", "dev", "emit", "user.login", "--path", str(tmp_path / "inv")]) == 1
    assert "does not subscribe" in json.loads(capsys.readouterr().out)["detail"]


def test_invalid_manifest_is_shown_field_by_field(tmp_path, capsys):
    main(["plugin", "init", "bad", "--dir", str(tmp_path / "bad")])
    manifest = tmp_path / "bad" / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: one"))
    capsys.readouterr()
    assert main(["plugin", "validate", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "plugin.yaml is invalid (1 problem(s))" in err
    assert "- version:" in err


def test_login_file_is_private(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cfg" / "config.json"
    monkeypatch.setenv("OPS_CENTER_CONFIG", str(path))
    monkeypatch.delenv("OPS_CENTER_TOKEN", raising=False)
    token = "e30.eyJzdWIiOiJhZGEiLCJyb2xlcyI6WyJkZXZlbG9wZXIiXX0.sig"
    assert main(["login", "--url", "http://gw.example", "--token", token]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    capsys.readouterr()
    assert main(["--json", "whoami"]) == 0
    who = json.loads(capsys.readouterr().out)
    assert (who["url"], who["sub"], who["roles"]) == ("http://gw.example", "ada", ["developer"])


def test_without_a_token_commands_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPS_CENTER_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.delenv("OPS_CENTER_TOKEN", raising=False)
    assert main(["--json", "list"]) == 2
    assert json.loads(capsys.readouterr().out)["type"] == "not-logged-in"
