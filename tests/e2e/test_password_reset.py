"""A forgotten password, through the public APIs and the customer's mailbox, on both
backends: the order service records the request, the notify service emails the token in
the customer's language, the token sets a new password once, and every earlier access
token ends."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from services.order.models import OutboxMessage, PasswordReset
from tests.e2e.frontend import Frontend
from tests.helpers import wait_for


def reset_email(frontend: Frontend, address: str) -> Any:
    def found() -> Any:
        mails = [m for m in frontend.system.mail_sink.messages() if m["To"] == address]
        return mails[0] if mails else None

    return wait_for(found, timeout=30, what=f"the reset email to {address}")


def test_a_chinese_speaking_traveller_resets_a_forgotten_password_by_email(frontend: Frontend) -> None:
    who = frontend.register(country="CN")
    url = f"{frontend.order_url}/v1/auth"
    assert frontend.get(who, "/v1/me").status_code == 200

    for email in (who["email"], "nobody-here@example.com"):
        asked = frontend.http.post(f"{url}/password-reset", json={"email": email})
        assert asked.status_code == 202 and asked.content == b""

    email = reset_email(frontend, who["email"])
    assert email["Subject"] == "重置您的密码" and email["Content-Language"] == "zh-CN"
    body = str(email.get_body(("plain",)).get_content())
    token = re.search(r"[A-Za-z0-9_-]{43}", body)
    assert token, body
    assert [m for m in frontend.system.mail_sink.messages() if m["To"] == "nobody-here@example.com"] == []
    def kept() -> list[str]:
        with frontend.system.contexts["order"].sessions() as session:
            return list(session.scalars(select(OutboxMessage.body).where(
                OutboxMessage.type == "customer.password_reset_requested")))

    # The body goes with the published row's mark, written a moment after the publish.
    wait_for(lambda: kept() and all(token.group(0) not in body for body in kept()), timeout=5,
             what="the outbox keeps no token once published")
    with frontend.system.contexts["order"].sessions() as session:
        stored = session.scalars(select(PasswordReset.token_hash).where(PasswordReset.token_hash.is_not(None))).all()
    assert token.group(0) not in stored and len(stored) == 1, "only the token's hash is stored"

    done = frontend.http.post(f"{url}/password-reset/confirm", json={"token": token.group(0),
                                                                     "password": "a new horse staple"})
    assert done.status_code == 204, done.text
    assert frontend.get(who, "/v1/me").status_code == 401, "the token from before the reset has ended"
    login = frontend.http.post(f"{url}/login", json={"email": who["email"], "password": "a new horse staple"})
    assert login.status_code == 200
    again = frontend.http.post(f"{url}/password-reset/confirm", json={"token": token.group(0),
                                                                      "password": "yet another one"},
                               headers={"Accept-Language": "zh-CN"})
    assert again.status_code == 400 and again.json()["code"] == "reset_token_invalid"
