"""Real service processes for the tests of how they start: spawned in their own process
group, so that a gunicorn master's workers (and any it leaves orphaned) go down with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

from deploy.processes import ROOT, process_table


def gunicorn(app: str, port: int, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), app]


def worker(service: str) -> list[str]:
    return [sys.executable, "-m", f"services.{service}.worker"]


@contextlib.contextmanager
def spawned(argv: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The process, its output in `log`; on leaving, its whole group is stopped (SIGTERM,
    then SIGKILL after 20 s)."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            stop_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
            stop_group(process.pid, signal.SIGKILL)
            process.wait(5)


def stop_group(pgid: int, sig: signal.Signals = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def health(port: int) -> dict[str, object] | None:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except requests.RequestException:
        return None
    return answer.json() if answer.ok else None  # type: ignore[no-any-return]


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's reaper may be slow, or absent in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"



def children(pid: int) -> list[int]:
    return [child for child, (_, parent, _) in process_table().items() if parent == pid]
