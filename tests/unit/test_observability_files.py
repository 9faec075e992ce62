"""The Grafana dashboard and the Prometheus alert rules ask only for metrics the services
export (a renamed metric would leave a panel empty and an alert silent, without a word),
and docker-compose.yml is a file `docker-compose config` accepts, with what it promises:
Prometheus, Grafana with the dashboard, Jaeger, and the services sending to them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from services.notify import app as notify_app
from services.order import app as order_app
from services.payment import app as payment_app
from shared import metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
#: the gauges the workers read from their databases when scraped (not in the registry until then)
STATE_GAUGES = {gauge[0] for gauge in (metrics.OUTBOX_WAITING, metrics.OUTBOX_AGE, order_app.NEEDS_OPERATOR,
                                       payment_app.REFUNDS, notify_app.EMAILS_UNSENT, notify_app.EMAILS_FAILING)}
#: from other exporters: Prometheus' own, RabbitMQ's
OTHERS = {"up"}


def exported() -> set[str]:
    """Every series name the services' processes can export."""
    names = set(STATE_GAUGES) | {"topup_state_read_errors_total"}
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def asked_for(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (its words that are not functions,
    keywords, labels or label values)."""
    without_strings = re.sub(r'"[^"]*"', "", expression)
    without_labels = re.sub(r"\{[^}]*\}|\bby\s*\([^)]*\)|\bwithout\s*\([^)]*\)|\[[^]]*\]", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))
    functions = {"sum", "rate", "increase", "max", "min", "avg", "histogram_quantile", "by", "and", "or", "unless"}
    return {w for w in words if w not in functions}


def test_the_dashboard_asks_only_for_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "topup.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(expressions) >= 20
    unknown = {name for expr in expressions for name in asked_for(expr)} - exported() - OTHERS
    assert not unknown, f"the dashboard asks for metrics nobody exports: {unknown}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_alert_reads_exported_metrics_and_says_what_to_do() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"TopupOutboxStuck", "TopupMessagesParked", "TopupOrdersNeedOperator", "TopupServerErrors"} <= names
    for rule in rules:
        unknown = asked_for(rule["expr"]) - exported() - OTHERS
        assert not unknown, f"{rule['alert']} reads metrics nobody exports: {unknown}"
        assert rule["labels"]["severity"] in {"page", "ticket"} and rule["annotations"]["summary"]


def test_the_check_above_finds_a_misspelt_metric() -> None:
    assert asked_for('sum(rate(topup_topup_total{ending="completed"}[5m]))') - exported() == {"topup_topup_total"}


def compose_config() -> str:
    if shutil.which("docker-compose") is None:
        if os.environ.get("TOPUP_COMPOSE_REQUIRED"):
            pytest.fail("docker-compose is missing (apt-get install docker-compose; .ci/run does)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    done = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_docker_compose_runs_the_services_with_metrics_traces_and_a_dashboard() -> None:
    config = yaml.safe_load(compose_config())
    services = config["services"]
    assert {"prometheus", "grafana", "jaeger", "postgres", "rabbitmq"} <= set(services)
    for name in ("order", "payment", "wallet", "notify"):
        worker = services[f"{name}-worker"]["environment"]
        assert worker["METRICS_PORT"] == "9100" and worker["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in scraped["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert {f"{n}-{role}" for n in ("order", "payment", "wallet", "notify") for role in ("web", "worker")} <= {
        target.split(":")[0] for target in targets}
    mounted = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "deploy/grafana/dashboards" in mounted and "deploy/grafana/provisioning" in mounted
