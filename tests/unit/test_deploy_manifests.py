"""The Kubernetes manifests (deploy/k8s/base): valid against the API's own schemas, and each
Deployment runnable as operators expect: probed, sized, unprivileged on a read-only root;
each web autoscaled on CPU and each worker on the lengths of exactly the queues it consumes;
the settings they set are settings the services read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.messaging.topology import SUBSCRIPTIONS, Topology

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s" / "base"
#: the Kubernetes release the core kinds are checked against
KUBERNETES = "1.33"
SERVICES = ("order", "payment", "wallet", "notify")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomized() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in documents(BASE / name)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in kustomized() if doc["kind"] == kind}


#: the core kinds; KEDA's (keda.sh) are checked below against the scaler's documented fields
CORE = [doc for doc in [*kustomized(), *documents(BASE / "secret.example.yaml")] if "keda.sh" not in doc["apiVersion"]]


@pytest.mark.parametrize("doc", CORE, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_core_resource_is_valid_for_the_kubernetes_api(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_broken_resource_is_refused() -> None:
    """The check above can fail: a probe with its port misspelt is refused."""
    deployment = of_kind("Deployment")["order-web"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**container, "livenessProbe": {"httpGet": {"path": "/healthz", "prot": 8000}}}
    spec = {**deployment["spec"]["template"]["spec"], "containers": [broken]}
    doc = {**deployment, "spec": {**deployment["spec"], "template": {**deployment["spec"]["template"], "spec": spec}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_web_and_a_worker_for_each_service_each_probed_sized_and_unprivileged() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"{s}-{role}" for s in SERVICES for role in ("web", "worker")}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] and container["readinessProbe"]["httpGet"]["path"]
            if name.endswith("-web"):
                assert (container["livenessProbe"]["httpGet"]["path"],
                        container["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz"), name
            assert set(container["resources"]) == {"requests", "limits"}, name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"], name
            # a read-only root needs a writable /tmp (gunicorn's heartbeat, Prometheus' multiprocess files)
            assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"]), name
            assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]} == {
                "topup-config", "topup-secrets"}, name


def test_every_deployment_has_a_disruption_budget_and_every_web_a_service_and_a_cpu_autoscaler() -> None:
    deployments, budgets = of_kind("Deployment"), of_kind("PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert budgets[name]["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    services, autoscalers = of_kind("Service"), of_kind("HorizontalPodAutoscaler")
    for service in SERVICES:
        web = deployments[f"{service}-web"]
        assert services[f"{service}-web"]["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
        [metric] = autoscalers[f"{service}-web"]["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert autoscalers[f"{service}-web"]["spec"]["scaleTargetRef"]["name"] == f"{service}-web"


def test_each_worker_scales_on_exactly_the_queues_it_consumes() -> None:
    scaled, auth = of_kind("ScaledObject"), of_kind("TriggerAuthentication")
    config = of_kind("ConfigMap")["topup-config"]["data"]
    topology = Topology(config["AMQP_NAMESPACE"])
    for service in SERVICES:
        spec = scaled[f"{service}-worker"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"{service}-worker"
        assert spec["minReplicaCount"] >= 1, "never to zero: a worker runs its relay, mailer, sweeps"
        queues = {trigger["metadata"]["queueName"] for trigger in spec["triggers"]}
        assert queues == {topology.queue_name(s) for s in SUBSCRIPTIONS if s.service == service}, service
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
            assert trigger["authenticationRef"]["name"] in auth


def test_the_settings_they_set_are_read_by_the_services_and_production_shaped() -> None:
    config = of_kind("ConfigMap")["topup-config"]["data"]
    secret = documents(BASE / "secret.example.yaml")[0]["stringData"]
    source = (ROOT / "shared" / "config.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source)) | {f"{s.upper()}_DATABASE_URL" for s in SERVICES}
    elsewhere = {"LOG_FORMAT", "OTEL_EXPORTER_OTLP_ENDPOINT"}  # shared/logging.py, shared/tracing.py
    assert set(config) | set(secret) <= read | elsewhere, (set(config) | set(secret)) - read - elsewhere
    assert (config["AMQP_QUEUE_TYPE"], config["MIGRATE_ON_START"]) == ("quorum", "false")
    assert "ALLOW_DEV_SECRETS" not in config, "production refuses public secrets"
    job = of_kind("Job")["topup-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "deploy.migrate"]
