"""The Helm chart (deploy/helm): `helm lint`, its manifests valid against Kubernetes' own schemas
(kubernetes-validate ships them, so nothing is fetched), and the properties operators rely on:
hardened pods, probes, budgets, autoscalers, migrations before the release, network policies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Rendered

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm"
#: conftest.KUBERNETES_VERSION, which helm_args passes to helm (fixtures only cross modules).
KUBERNETES_VERSION = "1.30.0"


def test_helm_lint(helm: Path, helm_args: list[str]) -> None:
    result = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *helm_args],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_are_valid_kubernetes(rendered: Rendered, tmp_path: Path) -> None:
    """`helm template` piped through kubernetes-validate, strict: an unknown field fails too."""
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(rendered.text)
    validator = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validator), "--strict", "-k", KUBERNETES_VERSION, str(manifests)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("INFO") == len(rendered.docs)  # one "valid" line per document


def _pods(rendered: Rendered) -> dict[str, dict[str, Any]]:
    pods = {}
    for kind in ("Deployment", "Job", "StatefulSet"):
        for name, doc in rendered.of_kind(kind).items():
            pods[name] = doc["spec"]["template"]["spec"]
    return pods


def test_pods_run_hardened(rendered: Rendered) -> None:
    """Non-root, read-only root filesystem, no capability, no service account token; hooks'
    dispatcher alone runs as root with the sandbox's capabilities (operator guide)."""
    for name, pod in _pods(rendered).items():
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        ctx = container["securityContext"]
        assert ctx["capabilities"]["drop"] == ["ALL"], name
        if name.endswith(("-kafka", "-postgres")):
            continue  # trial-only infrastructure, checked below
        assert ctx["readOnlyRootFilesystem"] is True, name
        if name.endswith("-hooks-dispatcher"):
            assert ctx["runAsUser"] == 0
            assert set(ctx["capabilities"]["add"]) <= {
                "SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE", "NET_ADMIN", "SETUID", "SETGID",
                "SETPCAP", "KILL", "DAC_READ_SEARCH",
            }  # fmt: skip
            continue
        assert "add" not in ctx["capabilities"], name
        assert ctx["allowPrivilegeEscalation"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    for name, pod in _pods(rendered).items():
        if name.endswith(("-kafka", "-postgres")):
            assert pod["securityContext"]["runAsNonRoot"] is True, name


def test_apis_are_probed_on_healthz_and_readyz_and_every_process_serves_metrics(
    rendered: Rendered,
) -> None:
    configs = rendered.of_kind("ConfigMap")
    for name, deployment in rendered.of_kind("Deployment").items():
        if name.endswith(("-kafka", "-postgres", "-gateway")):
            continue
        template = deployment["spec"]["template"]
        (container,) = template["spec"]["containers"]
        scraped = template["metadata"]["annotations"]
        assert scraped["prometheus.io/scrape"] == "true", name
        if name.endswith("-api"):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert scraped["prometheus.io/port"] == "8000"
            continue
        # Workers, relays, the dispatcher: their metrics server (servicekit telemetry) on the
        # port their ConfigMap gives, bound to HTTP_HOST (0.0.0.0 in pods).
        service = name.removeprefix("opscenter-").split("-")[0]
        env = configs[f"opscenter-{service}"]["data"]
        (port,) = container["ports"]
        assert str(port["containerPort"]) == env[f"{service.upper()}_METRICS_PORT"], name
        assert env[f"{service.upper()}_HTTP_HOST"] == "0.0.0.0"
        assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
        assert scraped["prometheus.io/port"] == str(port["containerPort"]), name


def test_every_deployment_has_a_budget_and_apis_and_workers_scale(rendered: Rendered) -> None:
    deployments = rendered.of_kind("Deployment")
    budgets = rendered.of_kind("PodDisruptionBudget")
    hpas = rendered.of_kind("HorizontalPodAutoscaler")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        if name.endswith(("-api", "-worker", "-gateway")):
            assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
            assert "replicas" not in deployment["spec"]  # the HPA owns it
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert container["resources"]["requests"]["cpu"]  # the HPA's utilization base


def test_migrations_are_hooks_reading_the_database_url_only(rendered: Rendered) -> None:
    jobs = rendered.of_kind("Job")
    assert len(jobs) == 5
    for name, job in jobs.items():
        annotations = job["metadata"]["annotations"]
        hook = annotations["helm.sh/hook"]
        assert hook in ("pre-install,pre-upgrade", "post-install,pre-upgrade"), name
        (container,) = job["spec"]["template"]["spec"]["containers"]
        (env,) = container["env"]
        assert env["name"].endswith("_DATABASE_URL"), name
        secret = env["valueFrom"]["secretKeyRef"]["name"]
        secrets = rendered.of_kind("Secret")
        if secret in secrets:  # the chart's own: a hook made before the Job
            assert int(secrets[secret]["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
                annotations["helm.sh/hook-weight"]
            )


SCRAPERS = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def test_network_policies_cover_every_pod(rendered: Rendered) -> None:
    """Each process has a policy of its own; only installer and hooks reach catalog's API, and
    only the dispatcher reaches outside the cluster."""
    policies = rendered.of_kind("NetworkPolicy")
    deployments = rendered.of_kind("Deployment")
    for name in deployments:
        assert name in policies, name
    for name, policy in policies.items():
        ingress = policy["spec"]["ingress"]
        assert isinstance(ingress, list), name  # null would read as "no rules" only by luck
        if name.endswith("-migrate"):
            assert ingress == [], name
        elif not name.endswith("-gateway"):
            # Every process may be scraped, and only on its metrics port, by the scrapers named.
            ports = {p["port"] for rule in ingress for p in rule["ports"]}
            assert ports, name
            assert ports <= {8000, 9464}, name
            assert any(rule.get("from") == SCRAPERS for rule in ingress), name
            if not name.endswith("-api"):
                assert ports == {9464}, name
        egress = policy["spec"]["egress"]
        to_catalog = any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            == "catalog"
            for rule in egress
            for peer in rule.get("to", [])
        )
        expected = name.startswith(("opscenter-installer-", "opscenter-hooks-"))
        expected = expected and not name.endswith("-migrate")
        assert to_catalog == (expected or name == "opscenter-gateway"), name
        internet = any("ipBlock" in peer for rule in egress for peer in rule.get("to", []))
        assert internet == (name == "opscenter-hooks-dispatcher"), name


def test_shared_folders_are_claims_every_pod_of_the_process_mounts(
    rendered: Rendered, case: str
) -> None:
    """Catalog's artifacts and hooks' storage folders must be one volume across replicas (any
    API pod serves any download; any dispatcher runs any installation's handler)."""
    claims = set(rendered.of_kind("PersistentVolumeClaim"))
    mounted = {}
    for name, deployment in rendered.of_kind("Deployment").items():
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "persistentVolumeClaim" in volume:
                mounted[volume["persistentVolumeClaim"]["claimName"]] = name
    assert set(mounted) == claims
    if case == "production":
        assert mounted == {
            "opscenter-artifacts": "opscenter-catalog-api",
            "opscenter-hooks-storage": "opscenter-hooks-dispatcher",
        }
