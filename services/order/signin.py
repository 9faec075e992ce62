"""The doors to an account (log in, register, reset or change the password), each behind
the account's throttle: while it waits, the door answers 429 before any password is hashed
or checked, so a flood of guesses costs the attacker time and us no argon2 work.

Transactions are short and never span an argon2 computation: the throttle is read, the
password checked outside any transaction, then the outcome written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.order import auth, customers, passwords, throttles
from services.order.domain.errors import EmailTaken, InvalidCredentials, OrderError
from services.order.domain.throttle import ThrottlePolicy
from services.order.models import Customer
from services.order.texts import _
from services.order.throttles import Throttle, TooManyAttempts
from shared.db import unit_of_work


@dataclass(frozen=True)
class SignedIn:
    customer_id: str
    language: str
    credentials_version: int


@dataclass(frozen=True)
class SignIn:
    sessions: sessionmaker[Session]
    throttle: Throttle

    @classmethod
    def with_policy(cls, sessions: sessionmaker[Session], failures_allowed: int) -> SignIn:
        return cls(sessions, Throttle(ThrottlePolicy(allowed=failures_allowed)))

    # -- log in ----------------------------------------------------------------------------
    def log_in(self, email: str, password: str, now: datetime) -> SignedIn:
        key = throttles.key_for(throttles.LOGIN, email)
        with unit_of_work(self.sessions) as session:
            attempt = self.throttle.take(session, key, now)
            customer = session.execute(
                select(Customer.id, Customer.password_hash, Customer.language, Customer.credentials_version)
                .where(Customer.email == email.strip().lower())).first()
        attempt.refuse_if_waiting()
        if not auth.password_matches(customer.password_hash if customer else None, password):
            raise attempt.refusal_if_it_failed(InvalidCredentials(_("The email or the password is wrong.")))
        assert customer is not None
        with unit_of_work(self.sessions) as session:
            self.throttle.forget(session, key)
        return SignedIn(customer.id, customer.language, customer.credentials_version)

    # -- register ----------------------------------------------------------------------------
    def register(self, email: str, password: str, country: str, language: str | None, now: datetime) -> Customer:
        """A taken email counts on the email's throttle (so that registering again and again
        cannot tell who is registered faster than it can log in)."""
        key = throttles.key_for(throttles.REGISTER, email)
        try:
            with self.sessions() as session:
                self.throttle.check(session, key, now)
                customers.may_register(session, email, password, country)
        except EmailTaken as exc:
            self._failed(key, now, exc)
        password_hash = auth.hash_password(password)
        try:
            with unit_of_work(self.sessions) as session:
                return customers.register(session, email, password_hash, country, language)
        except IntegrityError:  # registered a moment ago by a request racing this one
            self._failed(key, now, EmailTaken(_("An account with this email already exists.")))

    # -- reset the password ------------------------------------------------------------------
    def request_reset(self, email: str, now: datetime) -> passwords.ResetRequest:
        """At most a few emails per account and hour: every request counts."""
        key = throttles.key_for(throttles.PASSWORD_RESET, email)
        with unit_of_work(self.sessions) as session:
            attempt = self.throttle.take(session, key, now)
            request = passwords.request_reset(session, email, now) if attempt.wait is None else None
        if request is None:
            raise TooManyAttempts(attempt.wait or 1)
        return request

    def confirm_reset(self, token: str, password: str, now: datetime) -> str:
        with self.sessions() as session:
            passwords.reset_owner(session, token, now)
        passwords.check_strength(password)
        new_hash = auth.hash_password(password)
        with unit_of_work(self.sessions) as session:
            customer_id = passwords.complete_reset(session, token, new_hash, now)
            email = session.execute(select(Customer.email).where(Customer.id == customer_id)).scalar_one()
            self.throttle.forget(session, throttles.key_for(throttles.LOGIN, email))
        return customer_id

    # -- change the password -----------------------------------------------------------------
    def change_password(self, customer_id: str, current: str, new: str, now: datetime) -> None:
        """The current password is a guess like a login's: it counts on the same throttle."""
        passwords.check_strength(new)
        with unit_of_work(self.sessions) as session:
            customer = session.execute(select(Customer.email, Customer.password_hash)
                                       .where(Customer.id == customer_id)).one()
            key = throttles.key_for(throttles.LOGIN, customer.email)
            attempt = self.throttle.take(session, key, now)
        attempt.refuse_if_waiting()
        if not auth.password_matches(customer.password_hash, current):
            raise attempt.refusal_if_it_failed(passwords.WrongPassword(_("The current password is wrong.")))
        new_hash = auth.hash_password(new)
        with unit_of_work(self.sessions) as session:
            passwords.set_password(session, customer_id, new_hash, now)
            self.throttle.forget(session, key)

    def _failed(self, key: str, now: datetime, refusal: OrderError) -> NoReturn:
        """Count a failure found before anything costly (a taken email); refuse with 429 if
        it made the account wait, else as refused."""
        with unit_of_work(self.sessions) as session:
            attempt = self.throttle.take(session, key, now)
        if attempt.wait is not None:
            raise TooManyAttempts(attempt.wait) from None
        raise refusal
