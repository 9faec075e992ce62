"""`make run` as a user runs it: one command, four services, clean stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from deploy.infra import free_port
from tests.helpers import wait_for


def test_the_one_command_run_serves_all_four_services_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("order", "payment", "wallet", "notify")}
    infrastructure = ("AMQP_URL", "SMTP_HOST")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL") and k not in infrastructure}
    env.update({f"{n.upper()}_PORT": str(p) for n, p in ports.items()})
    env.update(VAR_DIR=str(tmp_path / "var"), SMTP_SINK_PORT=str(free_port()), LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", "deploy.run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parents[2])
    try:
        for name, port in ports.items():
            body = wait_for(lambda port=port: _health(port), timeout=30, what=f"{name} to answer")
            assert body == {"status": "ok", "service": name}
        assert (tmp_path / "var" / "order.db").exists(), "SQLite under VAR_DIR"
        shop = requests.get(f"http://127.0.0.1:{ports['order']}/", timeout=5)
        assert shop.ok and shop.headers["Content-Type"].startswith("text/html"), "the storefront at /"
        time.sleep(3)  # idle: nothing to say
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{ports['order']}/   (the storefront" in output
    assert "OPERATOR_TOKEN is the development default" in output
    assert "ALLOW_DEV_SECRETS=true" in output, "says it runs on public secrets deliberately"
    assert "stopped." in output
    # Idle, it says nothing: only the start-up's own warnings (the public secrets, per-process
    # address limits), never kombu's "No hostname was supplied" (67 a second once: issue 12).
    assert "No hostname was supplied" not in output, "kombu's, once per consumer start and per retry"
    warnings = [line for line in output.splitlines() if "warning" in line.lower()]
    expected = ("public_secrets_allowed", "address_limits_per_process", "WARNING: ")
    assert [line for line in warnings if not any(kind in line for kind in expected)] == []
    assert len(warnings) <= 12, warnings


def _health(port: int) -> dict[str, str] | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()  # type: ignore[no-any-return]
    except requests.RequestException:
        return None
