"""Reconciling a day with a provider (`GET /v1/reconciliations/<provider>/<day>`, `make
reconcile`): its settlement report, fetched as the provider gives it and read by its
connector, against our payments of that day and every payment the report names
(domain/settlement.py says what differs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import structlog
from marshmallow import Schema, fields
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.payment import store
from services.payment.connectors import settlement as reports
from services.payment.domain.errors import GatewayError
from services.payment.domain.settlement import (
    Difference,
    DifferenceKind,
    OurPayment,
    SettlementLine,
    reconcile,
    summary,
)
from services.payment.texts import _
from shared.money import Money
from shared.openapi import OPERATOR, Blueprint, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator

log = structlog.get_logger(__name__)


class ReportSource(Protocol):
    """Where the providers' settlement reports come from (today the sandbox's API,
    connectors/sandbox.py; a real provider's adapter downloads its own)."""

    def settlement_report(self, provider: str, day: date) -> bytes:
        ...
#: the providers whose settlement reports we read (connectors/settlement.py)
PROVIDERS = sorted(reports.READERS)


@dataclass(frozen=True)
class Reconciliation:
    provider: str
    day: date
    lines: list[SettlementLine]
    differences: list[Difference]

    @property
    def summary(self) -> str:
        return summary(self.provider, self.day, self.lines, self.differences)


def our_payments(session: Session, provider: str, day: date, named: set[str]) -> list[OurPayment]:
    """Our payments at `provider` captured or refunded on `day` (UTC), and those `named`."""
    payments = store.PAYMENTS
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    on_the_day = or_(payments.c.captured_at.between(start, end), payments.c.refunded_at.between(start, end))
    rows = session.execute(select(payments).where(
        or_((payments.c.gateway == provider) & on_the_day, payments.c.id.in_(sorted(named))))).all()
    found = [store.record_of(row) for row in rows]
    return [OurPayment(p.id, p.gateway or "", Money(p.amount_minor, p.currency), p.status,
                       _day(p.captured_at), _day(p.refunded_at)) for p in found]


def _day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment is not None else None


def reconcile_day(session: Session, api: ReportSource, provider: str, day: date) -> Reconciliation:
    lines = reports.read(provider, api.settlement_report(provider, day))
    ours = our_payments(session, provider, day, {line.payment_id for line in lines})
    return Reconciliation(provider, day, lines, reconcile(provider, day, lines, ours))


# -- the operator API ------------------------------------------------------------------------
class DifferenceSchema(Schema):
    kind = fields.String(metadata={"enum": [k.value for k in DifferenceKind]})
    payment_id = fields.String()
    words = fields.String(metadata={"description": "what differs, in words an operator acts on"})


class ReconciliationSchema(Schema):
    provider = fields.String()
    day = fields.Date()
    clean = fields.Boolean(metadata={"description": "no difference: every line matched and nothing is missing"})
    summary = fields.String()
    lines = fields.Integer(metadata={"description": "captures and refunds in the provider's report"})
    differences = fields.List(fields.Nested(DifferenceSchema))


NO_REPORT = refusal(404, "no_such_report", _("No such settlement report."),
                    note="No provider of this name here, or the day is not YYYY-MM-DD.")
REPORT_UNAVAILABLE = refusal(502, "report_unavailable", _("The provider's report could not be had."),
                             note="The provider did not answer, or its report could not be read.")
RECONCILIATION_EXAMPLE = {
    "provider": "alipay", "day": "2026-11-28", "clean": False, "lines": 212,
    "summary": "alipay 2026-11-28: 1 difference(s) in 212 settled lines",
    "differences": [{"kind": "taken_not_credited", "payment_id": "pay_2d9e41",
                     "words": "alipay took CN¥450.00 for pay_2d9e41 (2026112822001) that we never credited: "
                              "our payment is failed"}]}


def view(done: Reconciliation) -> dict[str, Any]:
    return {"provider": done.provider, "day": done.day, "clean": not done.differences, "summary": done.summary,
            "lines": len(done.lines), "differences": [
                {"kind": d.kind.value, "payment_id": d.payment_id, "words": d.words} for d in done.differences]}


def build_blueprint(ctx: ServiceContext, api: ReportSource | None) -> Blueprint:
    blp = Blueprint("reconciliations", __name__, url_prefix="/v1/reconciliations",
                    description="Operator API (Bearer OPERATOR_TOKEN): our payments against what providers settled")
    operator = require_operator(ctx.settings.operators)

    @blp.get("/<provider>/<day>")
    @operator
    @blp.response(200, ReconciliationSchema, example=RECONCILIATION_EXAMPLE)
    @blp.doc(security=[{"bearer": []}], parameters=[
        {"in": "path", "name": "provider", "required": True, "schema": {"type": "string", "enum": PROVIDERS}},
        {"in": "path", "name": "day", "required": True, "description": "the UTC day, YYYY-MM-DD",
         "schema": {"type": "string", "example": "2026-11-28"}}])
    @problems(OPERATOR, NO_REPORT, REPORT_UNAVAILABLE)
    def reconcile_with(provider: str, day: str) -> dict[str, Any]:
        """A provider's settlement report of a day against our payments: every difference in
        words (money it took that we never credited, refunds we think we paid that it never
        settled, captures it did not settle, amounts that disagree), or a clean day."""
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            wanted = None
        if api is None or provider not in PROVIDERS or wanted is None:
            raise Problem(404, NO_REPORT.code, NO_REPORT.title,
                          _("There is no settlement report of {provider} for {day}.", provider=provider, day=day))
        try:
            with ctx.sessions() as session:
                done = reconcile_day(session, api, provider, wanted)
        except (GatewayError, reports.UnreadableReport) as exc:
            raise Problem(502, REPORT_UNAVAILABLE.code, REPORT_UNAVAILABLE.title,
                          _("The report could not be had or read: {error}", error=str(exc))) from exc
        log.info("reconciled", provider=provider, day=day, lines=len(done.lines), differences=len(done.differences))
        return view(done)

    return blp
