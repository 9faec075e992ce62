"""Ratios of an interleaved A/B (deploy/ab.sh): machine CPU per completed top-up (our
processes, PostgreSQL and RabbitMQ, and the sandbox gateways' processes where they have their
own; not the load generator) head ÷ base for each pair, their median and range, and the
counts that do not drift."""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path


def figures(path: Path) -> dict[str, float]:
    text = path.read_text()

    def number(pattern: str, default: float | None = None) -> float:
        found = re.search(pattern, text)
        if found is None:
            if default is not None:
                return default
            raise SystemExit(f"{path}: no {pattern!r} (did the bench fail? see the log)")
        return float(found.group(1))

    machine = number(r"CPU ms\s+(\d+) \(") - number(r"load generator and mail sink (\d+)")
    return {
        "machine CPU ms": machine,
        # the sandbox gateways in their own processes (since issue 13; inside the payment
        # service's before, where their share cannot be told apart)
        "machine CPU ms, without the sandbox's processes": machine - number(r"sandbox gateways (\d+)", 0.0),
        "ours CPU ms": number(r"in all; (\d+) in our processes"),
        "PostgreSQL CPU ms": number(r"PostgreSQL (\d+)"),
        "RabbitMQ CPU ms": number(r"RabbitMQ (\d+)"),
        "SQL statements": number(r"SQL statements\s+([\d.]+)"),
        "SQL statements, ours": number(r"sandbox_\* tables\); ours ([\d.]+)"),
        "commits": number(r"commits\s+([\d.]+)"),
        "commits, ours": number(r"tables alone\); ours ([\d.]+)"),
        "broker messages": number(r"broker messages\s+([\d.]+)"),
        "frontend requests": number(r"frontend requests\s+([\d.]+)"),
        "frontend requests, ours": number(r"at the provider\); ours ([\d.]+)"),
        "completed/s": number(r"completed/s\s+([\d.]+)"),
    }


def main(folder: str) -> None:
    root = Path(folder)
    pairs = sorted(int(p.stem.split("-")[1]) for p in root.glob("head-*.log"))
    rows = [(figures(root / f"base-{i}.log"), figures(root / f"head-{i}.log")) for i in pairs]
    for name in rows[0][0]:
        values = " / ".join(f"{b[name]:.1f} -> {h[name]:.1f}" for b, h in rows)
        ratios = [h[name] / b[name] for b, h in rows if b[name]]
        print(f"{name:20} {values}   median ratio {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "var/ab")
