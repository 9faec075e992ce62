"""Settings read from the environment: the defaults that depend on the backend."""

from __future__ import annotations

from shared.config import Settings

POSTGRES = {f"{name}_DATABASE_URL": f"postgresql://postgres@db/{name.lower()}"
            for name in ("ORDER", "PAYMENT", "WALLET", "NOTIFY")}


def test_loops_poll_rarely_on_either_backend_where_a_doorbell_wakes_them() -> None:
    """PostgreSQL's notifications, or on SQLite the process's own commits (shared/localbell.py)."""
    assert Settings.from_env({}).poll_seconds("order") == 1.0
    assert Settings.from_env(POSTGRES).poll_seconds("order") == 1.0


def test_an_operator_setting_wins_on_either_backend() -> None:
    assert Settings.from_env({**POSTGRES, "OUTBOX_POLL_SECONDS": "0.2"}).poll_seconds("wallet") == 0.2
    assert Settings.from_env({"OUTBOX_POLL_SECONDS": "2"}).poll_seconds("wallet") == 2.0


def test_the_mailers_claim_lease_is_a_setting() -> None:
    from services.notify.mailer import CLAIM_LEASE_SECONDS, Mailer

    assert Settings.from_env({}).mail_claim_lease_seconds == CLAIM_LEASE_SECONDS == 300.0
    short = Settings.from_env({"MAIL_CLAIM_LEASE": "15"})
    assert Mailer.from_settings(short, None).lease_seconds == 15.0  # type: ignore[arg-type]
