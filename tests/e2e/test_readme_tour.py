"""The README's curl tour, run as written against the test instance's gateway: its ``bash``
block (the one that sets ``GW``) under ``set -euo pipefail``, so every command must succeed
(``curl --fail-with-body`` turns an error answer into a failed command), from the tokens of
``make token`` to the review and the developer's analytics.

Only ``GW`` is set (the tour defaults to the dev instance's gateway); the tour's names carry
its own run number, and ``opscenter.servicekit.emit`` reads the test instance's Kafka from
``OPSCENTER_KAFKA_BOOTSTRAP`` (the test instance's, set here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack

README = REPO_ROOT / "README.md"


def tour() -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.M | re.S)
    found = [b for b in blocks if b.startswith("GW=${GW:-http://127.0.0.1:8180}")]
    assert len(found) == 1, "the README has one tour block, starting with its GW line"
    return found[0]


def test_the_readme_tour_runs_as_written(gateway_url: str, local_stack: LocalStack):
    env = {
        **os.environ,
        "GW": gateway_url,
        "OPSCENTER_KAFKA_BOOTSTRAP": local_stack.kafka_bootstrap,
    }
    done = subprocess.run(
        ["bash", "-c", "set -euxo pipefail\n" + tour()],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-6000:])

    # What the tour printed says it worked: each answer is one JSON line.
    answers = []
    for line in done.stdout.splitlines():
        try:
            answer = json.loads(line)
        except ValueError:
            continue  # the CLI's human lines (init, package, sign)
        if isinstance(answer, dict):  # not the categories' list
            answers.append(answer)
    [installation] = [a for a in answers if "history" in a and a.get("state") == "enabled"]
    assert installation["granted_permissions"] == ["api:devices:read"]
    pages = [a for a in answers if a.get("items") and "attempt_log" in a["items"][0]]
    assert any(d["status"] == "succeeded" for d in pages[-1]["items"]), pages[-1]
    [reviews] = [a for a in answers if "summary" in a]
    assert reviews["summary"]["count"] == 1
    [detail] = [a for a in answers if "install_count" in a and "histogram" in a]
    assert detail["verified"] is True
    assert answers[-1]["slug"] == detail["slug"]  # the developer's analytics, last
