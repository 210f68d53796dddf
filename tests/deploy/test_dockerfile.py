"""The Dockerfile, read by Docker's own parser (the `dockerfile` package wraps buildkit's): its
targets are the ones compose and the chart use, everything it copies is in the build context,
and every image it ships runs as the non-root uid on the Python the tests run on."""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path
from typing import Any

import dockerfile

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"service", "hooks", "gateway"}


def _stages() -> dict[str, list[Any]]:
    """Instructions per stage, by the stage's name."""
    stages: dict[str, list[Any]] = {}
    current: list[Any] = []
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM":
            assert len(command.value) == 3, f"every stage is named: {command.original}"
            assert command.value[1].upper() == "AS", command.original
            current = stages.setdefault(command.value[2], [])
        current.append(command)
    return stages


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pattern.removeprefix("**/")) or fnmatch.fnmatch(p, pattern)
               for p in prefixes for pattern in patterns)  # fmt: skip


def test_targets_exist_and_ship_as_the_non_root_uid() -> None:
    stages = _stages()
    assert set(stages) >= TARGETS
    for target in TARGETS:
        users = [c.value[0] for c in stages[target] if c.cmd == "USER"]
        if target == "hooks":  # FROM service: inherits its USER, then sets it back after apt
            assert users == ["root", "10001:10001"]
        else:
            assert users[-1] == "10001:10001", target


def test_everything_copied_is_in_the_build_context() -> None:
    stages = _stages()
    for name, commands in stages.items():
        for command in commands:
            if command.cmd != "COPY":
                continue
            sources = command.value[:-1]
            if any(flag.startswith("--from=") for flag in command.flags):
                source_stage = next(f for f in command.flags if f.startswith("--from="))[7:]
                assert source_stage in stages, command.original
                continue
            for source in sources:
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
                assert not _ignored(source), f"{name}: {source} is in .dockerignore"


def test_python_images_install_from_the_lock_on_the_tested_python() -> None:
    stages = _stages()
    runs = " ".join(c.value[0] for c in stages["python-build"] if c.cmd == "RUN")
    assert 'uv sync --frozen --no-dev --package "opscenter-${SERVICE}"' in runs
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    uv_version = re.search(r"uv_version=(\S+)", bootstrap)
    assert uv_version is not None
    assert f'"uv=={uv_version[1]}"' in runs
    text = (REPO / "Dockerfile").read_text()
    image = re.search(r"ARG PYTHON_IMAGE=python:(\d+\.\d+)-", text)
    assert image is not None
    assert image[1] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_hooks_image_has_the_sandbox_tools() -> None:
    runs = " ".join(c.value[0] for c in _stages()["hooks"] if c.cmd == "RUN")
    for package in ("bubblewrap", "python3-seccomp"):
        assert package in runs
    assert "setpriv" in runs  # util-linux's, which the sandbox binds for the slot's uid
