"""Configuration, read once from the environment.

Every setting the services understand is listed here with its default, so that the README's
configuration table and the code cannot drift apart. Defaults are the embedded development
setup of `make run`: SQLite under var/, kombu's in-memory transport, and secrets that are
printed at start so nobody mistakes them for production values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from shared.durations import parse_duration

SERVICES = ("order", "payment", "wallet", "notify")
#: the sandbox gateways: the provider on the other side of the wire, its own web app, worker
#: and database (services/sandbox), started beside the four when SANDBOX_ENABLED
SANDBOX = "sandbox"
DEFAULT_PORTS = {"order": 8001, "payment": 8002, "wallet": 8003, "notify": 8004, SANDBOX: 8005}
DEV_SECRETS = {
    "OPERATOR_TOKEN": "dev-operator-token",
    "WEBHOOK_SECRET": "dev-webhook-secret",
    "JWT_SECRET": "dev-jwt-secret-change-me-in-production",
    "PLATFORM_TOKEN": "dev-platform-token",
}
#: placeholders shipped in examples (docker-compose.yml had `change-me-operator`...): as public
PLACEHOLDER_PREFIX = "change-me"
#: a secret shorter than this is guessable (and below HS256's key length, RFC 7518 3.2)
MIN_SECRET_LENGTH = 32


class PublicSecretsError(RuntimeError):
    """A secret is one anyone can know or guess, and ALLOW_DEV_SECRETS is off.

    With the development JWT_SECRET anyone can forge a customer's token, with the development
    WEBHOOK_SECRET a gateway notification that credits an unpaid order: a service refuses to
    start with them rather than serve a public system."""

    def __init__(self, public: Mapping[str, str]) -> None:
        self.names = list(public)
        named = ", ".join(f"{name} ({why})" for name, why in public.items())
        super().__init__(
            f"refusing to start with secrets anyone can know or guess: {named}. "
            "Set each to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            "or set ALLOW_DEV_SECRETS=true on a development or test system nobody else can reach.")


def why_public(value: str) -> str | None:
    """What makes a secret's value one anyone can know, or None when it may be a secret."""
    if not value.strip():
        return "empty"
    if value in DEV_SECRETS.values():
        return "the development default"
    if value.strip().lower().startswith(PLACEHOLDER_PREFIX):
        return "a change-me placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    return None


#: the name OPERATOR_TOKEN's operator is recorded under
SINGLE_OPERATOR = "operator"
OPERATOR_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


def parse_operator_tokens(value: str) -> tuple[tuple[str, str], ...]:
    """OPERATOR_TOKENS: `name:token` pairs separated by commas (a token may hold colons,
    not commas). Names are lowercase letters, digits, `.`, `_`, `-`, each used once."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, token = item.partition(":")
        name = name.strip()
        if not sep:  # nothing of it is shown: it may be a token
            raise ValueError("OPERATOR_TOKENS: an entry is not `name:token`")
        if not OPERATOR_NAME.match(name) or not token.strip():
            raise ValueError(f"OPERATOR_TOKENS: {name!r} is not `name:token` with a name of lowercase "
                             "letters, digits, '.', '_' or '-' and a token")
        if name in dict(pairs):
            raise ValueError(f"OPERATOR_TOKENS: {name!r} is named twice")
        pairs.append((name, token.strip()))
    return tuple(pairs)


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    return int(env.get(key, default))


def _origins(value: str) -> tuple[str, ...]:
    """A comma-separated list of origins (`https://shop.example`), without trailing slashes."""
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    return float(env.get(key, default))


def _duration(env: Mapping[str, str], key: str, default: timedelta) -> timedelta:
    value = env.get(key)
    if not value:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _queue_type(value: str) -> str:
    kind = value.strip().lower() or "classic"
    if kind not in QUEUE_TYPES:
        raise ValueError(f"AMQP_QUEUE_TYPE: {value!r} is not one of {', '.join(QUEUE_TYPES)}")
    return kind


#: the RabbitMQ queue types the topology declares (shared/messaging/topology.py)
QUEUE_TYPES = ("classic", "quorum")


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = env.get(key)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_urls: dict[str, str]
    amqp_url: str = "memory://"
    amqp_namespace: str = "topup"
    amqp_heartbeat: int = 30
    amqp_prefetch: int = 32
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    host: str = "127.0.0.1"
    #: the single operator's token (an operator named "operator"); "" when only named ones
    operator_token: str = DEV_SECRETS["OPERATOR_TOKEN"]
    #: named operators, OPERATOR_TOKENS=`name:token,name:token`: each action is recorded with the name
    operator_tokens: tuple[tuple[str, str], ...] = ()
    webhook_secret: str = DEV_SECRETS["WEBHOOK_SECRET"]
    jwt_secret: str = DEV_SECRETS["JWT_SECRET"]
    jwt_ttl_seconds: int = 3600
    #: gunicorn's threads per web process (deploy/gunicorn.conf.py reads the same variable)
    web_threads: int = 4
    payment_public_url: str = "http://127.0.0.1:8002"
    #: where the operator console (served by the order service) reaches the payment and
    #: wallet operator APIs from the operator's browser; their CORS_ALLOWED_ORIGINS must
    #: name the console's origin. None: http://HOST:<the service's port>
    console_urls: dict[str, str] | None = None
    sandbox_enabled: bool = True
    #: where the sandbox posts its webhooks (the payment service's, for the card processor;
    #: the wallets post beside it, `.../v1/webhooks/<provider>`)
    sandbox_webhook_url: str = "http://127.0.0.1:8002/v1/webhooks/sandbox"
    #: where customers' browsers reach the sandbox's pages; None: http://HOST:SANDBOX_PORT
    sandbox_public_url: str | None = None
    #: the sandbox's misbehaviour on purpose (services/sandbox/faults.py); "": none
    sandbox_faults: str = ""
    #: how long the payment service waits for one answer of a gateway's API, and how many
    #: calls one operation may take (the first and its retries, each after asking how the
    #: last one ended) before it is left for later (services/payment/connectors/http.py)
    gateway_timeout_seconds: float = 10.0
    gateway_attempts: int = 3
    webhook_tolerance_seconds: int = 300
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "receipts@topup.example"
    #: how long a mailer's claim on an email keeps other mailers away (services/notify/mailer.py):
    #: a mailer that dies holding one delays that email this long
    mail_claim_lease_seconds: float = 300.0
    #: None: 1 s (the doorbell wakes the loops: PostgreSQL's notifications, or on SQLite the
    #: commits of the process itself, shared/localbell.py)
    outbox_poll_seconds: float | None = None
    retry_max_attempts: int = 5
    retry_base_seconds: float = 1.0
    quote_ttl_seconds: int = 900
    order_payment_timeout_seconds: int = 900
    #: how long a top-up's credit stays on the balance (the quote shows when it ends)
    credit_validity: timedelta = timedelta(days=365)
    #: how long before a credit expires its owner is reminded (once per credit)
    expiry_reminder_before: timedelta = timedelta(days=7)
    #: the eSIM platform's bearer token for debits (its own secret, not the operator's)
    platform_token: str = DEV_SECRETS["PLATFORM_TOKEN"]
    #: who issues the receipts: business travellers file them for expenses
    merchant_name: str = "topup"
    merchant_address: str = ""
    merchant_tax_id: str = ""
    #: the promotions file (TOML); None: services/order/promotions.toml
    promotions_file: str | None = None
    #: where a customer tops up, linked from the low-balance reminder (else a hint only)
    topup_url: str | None = None
    refund_max_attempts: int = 5
    payment_query_after_seconds: float = 60.0
    payment_query_every_seconds: float = 5.0
    sandbox_api_url: str | None = None
    var_dir: str = "var"
    #: start even with a secret anyone can know or guess (its development default, a
    #: `change-me` placeholder, empty, short); without it a service refuses to start.
    #: `make run` sets it
    allow_dev_secrets: bool = False
    #: the largest request body a service reads (413 payload_too_large beyond it)
    max_body_bytes: int = 64 * 1024
    #: the largest webhook body the payment service reads (gateways send more than clients)
    webhook_max_body_bytes: int = 1024 * 1024
    #: where the per-client-address limits live (the `limits` library's URI): memory:// is
    #: per process; redis://host:6379 shares them across web processes and replicas
    ratelimit_storage_uri: str = "memory://"
    #: how many tries of login, registration and password reset one client address gets
    auth_rate_limit: str = "30 per minute;300 per hour;1000 per day"
    #: failed logins on one account before it is throttled (the wait then doubles per failure)
    login_failures_allowed: int = 5
    #: proxies in front of the web processes whose X-Forwarded-For is believed (0: none)
    proxy_hops: int = 0
    #: origins whose pages may call the order API from a browser (CORS); empty: none
    cors_allowed_origins: tuple[str, ...] = ()
    #: the frontend page a password-reset email links to (`?token=...`); None: the token only
    password_reset_url: str | None = None
    #: origins an order's `return_url` may point to; None: the order service's own (its storefront)
    return_url_origins: tuple[str, ...] | None = None
    #: card or wallet tries one payment gets before its order fails (a decline leaves the page open)
    payment_attempts: int = 3
    #: where a worker process answers Prometheus (web processes answer /metrics on their own
    #: port); None: a worker serves no metrics
    metrics_port: int | None = None
    #: the kind of queue declared: "classic", or "quorum" (replicated over a RabbitMQ cluster;
    #: the manifests' default). A queue keeps the kind it was declared with: switching means
    #: new queues (AMQP_NAMESPACE) or emptied and deleted ones (deploy/SCALING.md)
    amqp_queue_type: str = "classic"
    #: a process brings its database to the newest migration when it starts; off where a
    #: Job does it first (python -m deploy.migrate; the Kubernetes manifests), and /readyz
    #: keeps a process out of rotation until its database is where its code expects
    migrate_on_start: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = env.get("VAR_DIR", "var")
        ports = {name: _int(env, f"{name.upper()}_PORT", port) for name, port in DEFAULT_PORTS.items()}
        host = env.get("HOST", "127.0.0.1")
        payment_url = env.get("PAYMENT_PUBLIC_URL", f"http://{host}:{ports['payment']}")
        embedded = "AMQP_URL" not in env
        return cls(
            database_urls={
                name: env.get(f"{name.upper()}_DATABASE_URL", f"sqlite:///{var_dir}/{name}.db")
                for name in (*SERVICES, SANDBOX)
            },
            amqp_url=env.get("AMQP_URL", "memory://"),
            amqp_namespace=env.get("AMQP_NAMESPACE", "topup"),
            amqp_heartbeat=_int(env, "AMQP_HEARTBEAT", 30),
            amqp_prefetch=_int(env, "AMQP_PREFETCH", 32),
            ports=ports,
            host=host,
            # With named operators the single token is off unless it is set as well.
            operator_token=env.get("OPERATOR_TOKEN",
                                   "" if env.get("OPERATOR_TOKENS") else DEV_SECRETS["OPERATOR_TOKEN"]),
            operator_tokens=parse_operator_tokens(env.get("OPERATOR_TOKENS", "")),
            console_urls={service: url for service in ("payment", "wallet")
                          if (url := env.get(f"CONSOLE_{service.upper()}_URL"))} or None,
            webhook_secret=env.get("WEBHOOK_SECRET", DEV_SECRETS["WEBHOOK_SECRET"]),
            jwt_secret=env.get("JWT_SECRET", DEV_SECRETS["JWT_SECRET"]),
            jwt_ttl_seconds=_int(env, "JWT_TTL_SECONDS", 3600),
            web_threads=_int(env, "WEB_THREADS", 4),
            payment_public_url=payment_url,
            sandbox_enabled=_bool(env, "SANDBOX_ENABLED", embedded),
            sandbox_webhook_url=env.get("SANDBOX_WEBHOOK_URL", f"{payment_url}/v1/webhooks/sandbox"),
            sandbox_public_url=env.get("SANDBOX_PUBLIC_URL") or None,
            sandbox_faults=env.get("SANDBOX_FAULTS", ""),
            gateway_timeout_seconds=_float(env, "GATEWAY_TIMEOUT", 10.0),
            gateway_attempts=max(1, _int(env, "GATEWAY_ATTEMPTS", 3)),
            webhook_tolerance_seconds=_int(env, "WEBHOOK_TOLERANCE_SECONDS", 300),
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int(env, "SMTP_PORT", 25),
            smtp_from=env.get("SMTP_FROM", "receipts@topup.example"),
            mail_claim_lease_seconds=_float(env, "MAIL_CLAIM_LEASE", 300.0),
            outbox_poll_seconds=float(env["OUTBOX_POLL_SECONDS"]) if env.get("OUTBOX_POLL_SECONDS") else None,
            retry_max_attempts=_int(env, "RETRY_MAX_ATTEMPTS", 5),
            retry_base_seconds=_float(env, "RETRY_BASE_SECONDS", 1.0),
            quote_ttl_seconds=_int(env, "QUOTE_TTL_SECONDS", 900),
            order_payment_timeout_seconds=_int(env, "ORDER_PAYMENT_TIMEOUT", 900),
            credit_validity=_duration(env, "CREDIT_VALIDITY", timedelta(days=365)),
            expiry_reminder_before=_duration(env, "EXPIRY_REMINDER_BEFORE", timedelta(days=7)),
            platform_token=env.get("PLATFORM_TOKEN", DEV_SECRETS["PLATFORM_TOKEN"]),
            merchant_name=env.get("MERCHANT_NAME", "topup"),
            merchant_address=env.get("MERCHANT_ADDRESS", ""),
            merchant_tax_id=env.get("MERCHANT_TAX_ID", ""),
            promotions_file=env.get("PROMOTIONS_FILE") or None,
            topup_url=env.get("TOPUP_URL") or None,
            refund_max_attempts=_int(env, "REFUND_MAX_ATTEMPTS", 5),
            payment_query_after_seconds=_float(env, "PAYMENT_QUERY_AFTER", 60.0),
            payment_query_every_seconds=_float(env, "PAYMENT_QUERY_EVERY", 5.0),
            sandbox_api_url=env.get("SANDBOX_API_URL") or None,
            var_dir=var_dir,
            allow_dev_secrets=_bool(env, "ALLOW_DEV_SECRETS", False),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024),
            webhook_max_body_bytes=_int(env, "WEBHOOK_MAX_BODY_BYTES", 1024 * 1024),
            ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI") or "memory://",
            auth_rate_limit=env.get("AUTH_RATE_LIMIT") or "30 per minute;300 per hour;1000 per day",
            login_failures_allowed=_int(env, "LOGIN_FAILURES_ALLOWED", 5),
            proxy_hops=_int(env, "PROXY_HOPS", 0),
            cors_allowed_origins=_origins(env.get("CORS_ALLOWED_ORIGINS", "")),
            password_reset_url=env.get("PASSWORD_RESET_URL") or None,
            return_url_origins=_origins(env["RETURN_URL_ORIGINS"]) if "RETURN_URL_ORIGINS" in env else None,
            payment_attempts=max(1, _int(env, "PAYMENT_ATTEMPTS", 3)),
            metrics_port=_int(env, "METRICS_PORT", 0) or None,
            amqp_queue_type=_queue_type(env.get("AMQP_QUEUE_TYPE", "classic")),
            migrate_on_start=_bool(env, "MIGRATE_ON_START", True),
        )

    @property
    def embedded(self) -> bool:
        """The development run of `make run`: in-memory transport and SQLite files only."""
        return self.amqp_url.startswith("memory") and all(
            url.startswith("sqlite") for url in self.database_urls.values())

    @property
    def allowed_return_origins(self) -> tuple[str, ...]:
        """Where a customer may be sent back after paying: RETURN_URL_ORIGINS, else the order
        service's own origin, where its storefront is served."""
        if self.return_url_origins is not None:
            return self.return_url_origins
        port = self.ports["order"]
        return tuple(dict.fromkeys((f"http://{self.host}:{port}", f"http://127.0.0.1:{port}",
                                    f"http://localhost:{port}")))

    def database_url(self, service: str) -> str:
        if service == SANDBOX and SANDBOX not in self.database_urls:
            return f"sqlite:///{self.var_dir}/{SANDBOX}.db"  # a provider's books: beside ours, never in them
        return self.database_urls[service]

    @property
    def sandbox_public(self) -> str:
        """Where customers' browsers reach the sandbox's pages (SANDBOX_PUBLIC_URL)."""
        return (self.sandbox_public_url or f"http://{self.host}:{self.ports.get(SANDBOX, DEFAULT_PORTS[SANDBOX])}"
                ).rstrip("/")

    @property
    def sandbox_api_key(self) -> str:
        """The sandbox's secret API key (a provider's `sk_...`), which the payment service
        sends as a bearer token: an HMAC of a fixed label under WEBHOOK_SECRET, so both
        sides of one deployment agree on it with nothing more to configure, and the webhook
        secret itself never travels in a header."""
        digest = hmac.new(self.webhook_secret.encode(), b"topup sandbox api key v1", hashlib.sha256).hexdigest()
        return "sk_sandbox_" + digest[:40]

    @property
    def sandbox_api(self) -> str:
        """Where the payment service reaches the sandbox's API (SANDBOX_API_URL; inside
        docker-compose not the public address), else where browsers do."""
        return (self.sandbox_api_url or self.sandbox_public).rstrip("/")

    def poll_seconds(self, service: str) -> float:
        """How often a service's loops look for work that nothing woke them for: rarely,
        since the doorbell wakes them (shared/doorbell.py: PostgreSQL's notifications, or
        on SQLite the process's own commits, shared/localbell.py); polling is the safety net."""
        if self.outbox_poll_seconds is not None:
            return self.outbox_poll_seconds
        return 1.0

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def console_url(self, service: str) -> str:
        return (self.console_urls or {}).get(service) or f"http://{self.host}:{self.ports[service]}"

    def operators(self) -> dict[str, str]:
        """Who may call the operator APIs: name -> token. OPERATOR_TOKEN is one operator,
        named "operator"; OPERATOR_TOKENS names each. An empty token lets nobody in."""
        named = dict(self.operator_tokens)
        if self.operator_token:
            named.setdefault(SINGLE_OPERATOR, self.operator_token)
        return named

    def dev_secrets_in_use(self) -> dict[str, str]:
        """The secrets anyone can know or guess (a development default, a `change-me`
        placeholder, empty, shorter than 32 characters), by variable name, each with what
        makes it public. Printed by `make run`; refused without ALLOW_DEV_SECRETS
        (refuse_public_secrets)."""
        current = {
            **({"OPERATOR_TOKEN": self.operator_token} if self.operator_token or not self.operator_tokens else {}),
            **{f"OPERATOR_TOKENS[{name}]": token for name, token in self.operator_tokens},
            "WEBHOOK_SECRET": self.webhook_secret,
            "JWT_SECRET": self.jwt_secret,
            "PLATFORM_TOKEN": self.platform_token,
        }
        return {name: why for name, value in current.items() if (why := why_public(value)) is not None}

    def refuse_public_secrets(self) -> None:
        """Raise PublicSecretsError when a secret is public, unless ALLOW_DEV_SECRETS. On any
        backend: a gunicorn started without its environment would otherwise serve on SQLite,
        on every interface, with the development JWT_SECRET. `make run` (deploy/local.py)
        sets ALLOW_DEV_SECRETS and prints which secrets are public as it starts."""
        public = self.dev_secrets_in_use()
        if public and not self.allow_dev_secrets:
            raise PublicSecretsError(public)
