"""Render docs/dashboard.png: a few of the `topup` dashboard's panels (deploy/grafana/), drawn
from the metrics the services export while a minute of top-ups runs on the embedded default.
Grafana cannot run on the machine the docs are made on, so this draws the same queries'
answers itself (SVG in Debian's Chromium, as the browser tests use it).

    .venv/bin/python -m docs.dashboard          # about 90 s; writes docs/dashboard.png
"""

from __future__ import annotations

import itertools
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from deploy.infra import free_port
from deploy.local import LocalSystem
from shared.config import SERVICES, Settings
from tests.e2e.browser import chromium
from tests.e2e.frontend import Frontend, decide
from tests.helpers import Scraped, scrape
from tests.helpers import metric as total

OUT = Path(__file__).with_name("dashboard.png")
SECONDS, EVERY = 60, 2.0


def customer_journeys(frontend: Frontend, stop: threading.Event) -> None:
    who = frontend.register()
    while not stop.is_set():
        roll = random.random()
        try:
            if roll < 0.15:
                order = frontend.top_up(who, random.choice((1000, 2000, 5000)), method="paypal")
                decide(frontend, order, "approve" if roll < 0.1 else "cancel")
            else:
                order = frontend.top_up(who, random.choice((1000, 2000, 5000)))
                frontend.pay_declined(order) if roll > 0.9 else frontend.pay(order)
        except AssertionError:
            pass  # a journey refused (a balance cap reached): the next one
        time.sleep(random.uniform(0.2, 0.8))


def polyline(points: list[float], width: int, height: int, top: float) -> str:
    if len(points) < 2:
        return ""
    step = width / (len(points) - 1)
    return " ".join(f"{i * step:.1f},{height - (v / top) * height if top else height:.1f}"
                    for i, v in enumerate(points))


def panel(title: str, series: dict[str, list[float]], unit: str) -> str:
    width, height = 520, 180
    top = max([max(values) for values in series.values() if values] + [1e-9]) * 1.15
    colours = ["#73bf69", "#f2495c", "#5794f2", "#ff9830", "#b877d9"]
    lines = "".join(f'<polyline fill="none" stroke="{colours[i % 5]}" stroke-width="2" '
                    f'points="{polyline(values, width, height, top)}"/>' for i, values in enumerate(series.values()))
    legend = "".join(f'<span style="color:{colours[i % 5]}">■ {name} {values[-1]:.2f}{unit}</span>'
                     for i, (name, values) in enumerate(series.items()) if values)
    return (f'<div class="panel"><h2>{title}</h2><svg width="{width}" height="{height}">'
            f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#444"/>{lines}</svg>'
            f'<div class="legend">{legend}</div></div>')


def main() -> None:
    tmp = tempfile.mkdtemp()
    settings = Settings.from_env({"VAR_DIR": tmp, "ALLOW_DEV_SECRETS": "true",
                                  **{f"{s.upper()}_PORT": str(free_port()) for s in SERVICES}})
    system = LocalSystem(settings.with_changes(auth_rate_limit="100000 per minute")).start()
    url, stop = system.url("order"), threading.Event()
    samples: list[Scraped] = []
    threads = [threading.Thread(target=customer_journeys, args=(Frontend(system), stop), daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(int(SECONDS / EVERY)):
        samples.append(scrape(url))
        time.sleep(EVERY)
    stop.set()
    for thread in threads:
        thread.join(30)
    system.stop()

    def rate(name: str, **labels: str) -> list[float]:
        values = [total(s, name, **labels) for s in samples]
        return [(b - a) / EVERY for a, b in itertools.pairwise(values)]

    def mean_seconds(ending: str) -> list[float]:
        sums, counts = rate("topup_placed_to_ending_seconds_sum", ending=ending), rate(
            "topup_placed_to_ending_seconds_count", ending=ending)
        return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]

    panels = [
        panel("Top-ups ended, by ending (per second)", {e: rate("topup_topups_total", ending=e)
                                                          for e in ("completed", "failed", "cancelled")}, "/s"),
        panel("Placed to completed, mean (seconds; the page included)",
              {"completed": mean_seconds("completed")}, " s"),
        panel("Requests by service (per second)", {s: rate("topup_http_requests_total", service=s)
                                                   for s in ("order", "payment")}, "/s"),
        panel("Messages consumed and published (per second)", {
            "consumed": rate("topup_messages_consumed_total"), "published": rate("topup_messages_published_total")},
            "/s"),
    ]
    page: Any
    html = ("<html><body style='background:#111217;color:#ccccdc;font-family:sans-serif;margin:16px'>"
            "<h1 style='font-size:20px'>topup: top-ups, messages, money (a minute of make run)</h1>"
            "<style>.panel{display:inline-block;width:524px;background:#181b1f;border:1px solid #2c3235;margin:6px;"
            "padding:8px;vertical-align:top}h2{font-size:14px;margin:0 0 6px}.legend span{margin-right:12px;"
            "font-size:12px}</style>" + "".join(panels) + "</body></html>")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 560})
        page.set_content(html)
        page.screenshot(path=str(OUT), full_page=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
