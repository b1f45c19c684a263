"""The Kubernetes manifests validate against the API schemas and hang together (selectors, probes, HPAs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # hostUsers + procMount: Unmasked need user namespaces (1.33+ nodes)


def _kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def _resources() -> list[dict[str, Any]]:
    docs = []
    for name in _kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _resources() if d["kind"] == kind]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("resource", _resources(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_validates_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    (deployment, *_) = _of_kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_deployment_is_probed_limited_and_non_root() -> None:
    for deployment in _of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/v1/health")
            assert container["livenessProbe"]
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"] in {image["name"] for image in _kustomization()["images"]}


def test_services_and_autoscalers_point_at_deployments() -> None:
    deployments = {d["metadata"]["name"]: d for d in _of_kind("Deployment")}
    for service in _of_kind("Service"):
        selector = service["spec"]["selector"]
        matches = [
            name
            for name, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matches == [service["metadata"]["name"]]
        ports = {
            p["name"] for c in deployments[matches[0]]["spec"]["template"]["spec"]["containers"] for p in c["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in _of_kind("HorizontalPodAutoscaler")}
    assert targets == set(deployments)


def test_the_verifier_finds_the_sandbox_service_by_its_name() -> None:
    (config,) = _of_kind("ConfigMap")
    (sandbox,) = [s for s in _of_kind("Service") if s["metadata"]["name"] == "sandbox"]
    url = yaml.safe_load(config["data"]["VERIFIER_PLUGIN_OPTIONS__CODE__URLS"])
    assert url == [f"http://sandbox:{sandbox['spec']['ports'][0]['port']}"]
