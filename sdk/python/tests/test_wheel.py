"""The SDK wheel installs into a fresh virtualenv with nothing else from the workspace, and the
harness runs an example plugin's tests there."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

from opscenter.servicekit.migrations import REPO_ROOT

UV = REPO_ROOT / ".local" / "tools" / "bin" / "uv"
EXAMPLE = REPO_ROOT / "examples" / "plugins" / "device-inventory"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


def test_wheel_in_a_fresh_venv_runs_an_example_plugins_tests(tmp_path):
    _run(UV, "build", "--wheel", "--out-dir", tmp_path / "dist", REPO_ROOT / "sdk" / "python",
         cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("ops_center_plugin_sdk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "opscenter/contracts/manifest.py" in names  # the contracts come along, built in
    assert "opscenter/sdk/testing.py" in names
    assert not [n for n in names if n.startswith(("opscenter/catalog", "opscenter/servicekit"))]

    venv = tmp_path / "venv"
    _run(UV, "venv", "--python", "3.11", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(UV, "pip", "install", "--python", python, wheel, "pytest", cwd=tmp_path)
    plugin = tmp_path / "device-inventory"
    shutil.copytree(EXAMPLE, plugin, ignore=shutil.ignore_patterns("__pycache__", "dist"))

    probe = _run(python, "-c", "import opscenter.contracts, opscenter.sdk, importlib.util as u; "
                 "print(opscenter.contracts.__file__); "
                 "print(u.find_spec('opscenter.servicekit'))", cwd=tmp_path)  # fmt: skip
    contracts_file, servicekit = probe.stdout.split()
    assert contracts_file.startswith(str(venv))
    assert servicekit == "None"

    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=plugin)
    assert "3 passed" in tests.stdout.splitlines()[-1], tests.stdout
    cli = _run(venv / "bin" / "ops-center", "--json", "plugin", "validate", plugin, cwd=tmp_path)
    assert '"valid": true' in cli.stdout


def test_the_sdk_depends_on_everything_the_contracts_it_carries_depend_on():
    """The wheel carries the contracts' code, not their distribution, so their dependencies
    must be the SDK's too (cronsim, added to the contracts for schedules, was missed once)."""

    def names(pyproject: Path) -> set[str]:
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        return {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in deps}

    contracts = names(REPO_ROOT / "libs" / "contracts" / "pyproject.toml")
    assert contracts <= names(REPO_ROOT / "sdk" / "python" / "pyproject.toml")
