"""The whole system in one process: four web apps and four workers on threads, and (when
SANDBOX_ENABLED) the sandbox gateways' web app and worker beside them.

This is what `make run` starts. On the embedded default it has to be one process: kombu's
in-memory transport only connects threads of the same process. With AMQP_URL and the
*_DATABASE_URL variables set, the same launcher runs against RabbitMQ and PostgreSQL (in
production each web app runs under gunicorn and each worker as its own process instead).
The end-to-end tests use it too, on both backends.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from deploy.infra import free_port
from shared.config import SANDBOX, SERVICES, Settings
from shared.messaging.broker import is_memory
from shared.messaging.worker import Worker, declare_topology
from shared.service import ServiceContext


@dataclass
class LocalSystem:
    settings: Settings
    mail_sink: Any = None
    contexts: dict[str, ServiceContext] = field(default_factory=dict)
    servers: list[tuple[BaseWSGIServer, threading.Thread]] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://{self.settings.host}:{self.settings.ports[service]}"

    def start(self, sink_port: int = 0, services: tuple[str, ...] = SERVICES) -> LocalSystem:
        """Every service's web app on its port and its worker on threads (or only `services`)."""
        # A development launcher (`make run`, the tests), never the deployed shape: it starts
        # with the public development secrets on any backend, as ALLOW_DEV_SECRETS=true, and
        # `make run` says so. Deployed services refuse them (ServiceContext.start).
        self.settings = self.settings.with_changes(allow_dev_secrets=True)
        # The operator console (served by the order service) calls the payment and wallet
        # operator APIs from the browser: their CORS allows its origin on this development run.
        console = f"http://{self.settings.host}:{self.settings.ports['order']}"
        if console not in self.settings.cors_allowed_origins:
            self.settings = self.settings.with_changes(cors_allowed_origins=(*self.settings.cors_allowed_origins,
                                                                             console))
        if self.settings.smtp_host is None:
            from services.notify.sink import MailSink

            self.mail_sink = MailSink(Path(self.settings.var_dir) / "mail", self.settings.host, sink_port)
            self.mail_sink.start()
            self.settings = self.settings.with_changes(smtp_host=self.settings.host, smtp_port=self.mail_sink.port)
        if not is_memory(self.settings.amqp_url):
            declare_topology(self.settings)
        if self.settings.sandbox_enabled and "payment" in services:
            if SANDBOX not in self.settings.ports:  # a test's ports: the sandbox gets a free one too
                self.settings = self.settings.with_changes(ports={**self.settings.ports, SANDBOX: free_port()})
            services = (SANDBOX, *services)  # the provider first: it is there when a checkout opens
        for name in services:
            module = importlib.import_module(f"services.{name}.app")
            ctx = module.start(self.settings)
            self.contexts[name] = ctx
            server = make_server(self.settings.host, self.settings.ports[name], module.create_app(ctx=ctx),
                                 threaded=True)
            thread = threading.Thread(target=server.serve_forever, name=f"{name}-web", daemon=True)
            thread.start()
            self.servers.append((server, thread))
            worker = module.create_worker(ctx=ctx)
            worker.start()
            self.workers.append(worker)
        return self

    def stop(self) -> None:
        for server, thread in self.servers:
            server.shutdown()
            thread.join(5)
        for worker in self.workers:
            worker.stop_event.set()
        for worker in self.workers:
            worker.stop()
        for ctx in self.contexts.values():
            ctx.stop()
        if self.mail_sink is not None:
            self.mail_sink.stop()
