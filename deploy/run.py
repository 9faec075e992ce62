"""`make run`: the four services, web and workers, and the sandbox gateways, in one command.

Embedded default: SQLite under var/, kombu's in-memory transport, a local SMTP sink that
keeps mail under var/mail/. Set AMQP_URL and ORDER/PAYMENT/WALLET/NOTIFY_DATABASE_URL to run
on RabbitMQ and PostgreSQL instead; SMTP_HOST to send real mail.
"""

from __future__ import annotations

import os
import signal
import threading

from deploy.local import LocalSystem
from shared.config import DEV_SECRETS, SANDBOX, Settings
from shared.logging import configure_logging


def main() -> None:
    configure_logging()
    settings = Settings.from_env()
    # Handlers first: a Ctrl-C during start-up must still stop everything cleanly.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    system = LocalSystem(settings).start(sink_port=int(os.environ.get("SMTP_SINK_PORT", "8025")))
    embedded = settings.amqp_url.startswith("memory")
    backend = "in-memory transport + SQLite" if embedded else "AMQP_URL + the *_DATABASE_URL databases"
    print(f"\ntopup is running ({backend}):")
    print(f"  shop     {system.url('order')}/   (the storefront: top up in a browser)")
    for name in ("order", "payment", "wallet", "notify"):
        print(f"  {name:<8} {system.url(name)}   (OpenAPI: {system.url(name)}/openapi.json)")
    if SANDBOX in system.contexts:
        print(f"  {SANDBOX:<8} {system.url(SANDBOX)}   (the sandbox gateways: their pages and API)")
    if system.mail_sink is not None:
        print(f"  mail     smtp://{settings.host}:{system.mail_sink.port} -> {system.mail_sink.directory}/")
    public = system.settings.dev_secrets_in_use()
    for name, why in public.items():
        value = getattr(system.settings, name.lower(), None)  # None: a named operator's token
        shown = f"{why} {value!r}" if value == DEV_SECRETS.get(name) else why  # never a real secret's value
        print(f"  WARNING: {name} is {shown}; set it in production.")
    if public and system.settings.allow_dev_secrets:
        print("  ALLOW_DEV_SECRETS=true: started with these public secrets anyway, for development only (anyone "
              "can forge tokens, webhooks and operator calls with them); without it a deployed service refuses them.")
    print("Press Ctrl-C to stop.\n", flush=True)
    stop.wait()
    print("stopping...", flush=True)
    system.stop()
    print("stopped.", flush=True)


if __name__ == "__main__":
    main()
