"""The system as it is deployed: per service, a gunicorn web process and a worker process;
the sandbox gateways likewise when `ports` names a port for them.

Used by the benchmark and by the end-to-end test that proves the services need nothing but
RabbitMQ, their databases and their environment to work together.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared.config import DEV_SECRETS, SANDBOX, SERVICES

ROOT = Path(__file__).resolve().parents[1]
#: the sandbox gateways stand in for providers that never run out of threads: an answer it
#: holds back on purpose (SANDBOX_FAULTS timeout, slow) must not keep the others waiting
PROVIDER_WEB = {"WEB_THREADS": "32"}


@dataclass
class ProcessSystem:
    env: dict[str, str]
    ports: dict[str, int]
    web_workers: int = 1
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "logs")
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: how each process was started, to start it again (kill_and_restart)
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = field(default_factory=dict)
    #: service -> the port its worker answers Prometheus on (METRICS_PORT); none: no metrics
    metrics_ports: dict[str, int] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(argv, env={**os.environ, **self.env, **(extra_env or {})}, cwd=ROOT,
                                                stdout=log, stderr=subprocess.STDOUT)
        self.commands[name] = (argv, extra_env)

    def kill_and_restart(self, name: str) -> None:
        """What a crashed container and its restart do: SIGKILL (no cleanup), then the same
        command again (a gunicorn master takes its workers with it: post_fork)."""
        process = self.processes[name]
        if process.poll() is None:
            process.kill()
            process.wait(30)
        argv, extra_env = self.commands[name]
        self._spawn(name, argv, extra_env)

    def restart_worker(self, service: str, extra_env: dict[str, str] | None = None) -> None:
        """Stop a service's worker (if it still runs) and start it again, with `extra_env`."""
        old = self.processes[f"{service}-worker"]
        if old.poll() is None:
            old.send_signal(signal.SIGTERM)
            old.wait(30)
        self._spawn(f"{service}-worker", [sys.executable, "-m", f"services.{service}.worker"],
                    {**self._worker_env(service), **(extra_env or {})})

    def _worker_env(self, service: str) -> dict[str, str]:
        port = self.metrics_ports.get(service)
        return {"METRICS_PORT": str(port)} if port else {}

    @property
    def services(self) -> tuple[str, ...]:
        """What runs: the provider first (it is there when a checkout opens), then the four."""
        return (SANDBOX, *SERVICES) if SANDBOX in self.ports else SERVICES

    def start(self, timeout: float = 60.0) -> ProcessSystem:
        for service in self.services:
            self._spawn(f"{service}-web", [
                sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                "--bind", f"127.0.0.1:{self.ports[service]}", "--workers", str(self.web_workers),
                f"services.{service}.wsgi:app"], PROVIDER_WEB if service == SANDBOX else None)
            self._spawn(f"{service}-worker", [sys.executable, "-m", f"services.{service}.worker"],
                        self._worker_env(service))
        deadline = time.monotonic() + timeout
        for service in self.services:
            while not self._healthy(service):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{service} did not start; see {self.log_dir}")
                time.sleep(0.1)
        return self

    def ready(self, name: str) -> bool:
        """A web answers its health check; a worker runs."""
        service, _, kind = name.rpartition("-")
        return self._healthy(service) if kind == "web" else self.processes[name].poll() is None

    def _healthy(self, service: str) -> bool:
        try:
            return requests.get(f"{self.url(service)}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each process and its children (gunicorn's workers), from
        /proc (Linux): where a benchmark's cores went."""
        stats = process_table()
        used = {}
        for name, process in self.processes.items():
            own = stats.get(process.pid, ("", 0, 0.0))[2]
            used[name] = own + sum(cpu for _, ppid, cpu in stats.values() if ppid == process.pid)
        return used


    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM everything (as a container runtime does) and return each exit code."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = None
        return codes


def fresh_secrets() -> dict[str, str]:
    """A random value for every secret, as a deployment sets them: the deployed processes
    refuse the public development defaults (unless ALLOW_DEV_SECRETS)."""
    return {name: secrets.token_urlsafe(32) for name in DEV_SECRETS}


def process_table() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, CPU seconds used so far), from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, _, rest = (entry / "stat").read_text().rpartition(")")
            except OSError:
                continue
            fields = rest.split()
            table[int(entry.name)] = (head.partition("(")[2], int(fields[1]),
                                      (int(fields[11]) + int(fields[12])) / ticks)
    return table


def cpu_by_command(*names: str) -> dict[str, float]:
    """CPU seconds used so far by every process whose command name starts with one of `names`
    (the database's and the broker's own processes, which are not ours to spawn)."""
    used = dict.fromkeys(names, 0.0)
    for command, _, cpu in process_table().values():
        for name in names:
            if command.startswith(name):
                used[name] += cpu
    return used


#: command names of the servers' processes -> how the bench names them
SERVERS = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ"}


def own_cpu() -> float:
    """CPU seconds of this process so far (a load generator's own share)."""
    times = os.times()
    return times.user + times.system


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks
