"""How a gateway call whose outcome is unknown is settled (services/payment/connectors/http.py),
and how SANDBOX_FAULTS is read (services/sandbox/faults.py)."""

from __future__ import annotations

import pytest

from services.payment.connectors.http import OutcomeUnknown, ProviderApi
from services.payment.domain.errors import GatewayRefused, GatewayTimeout
from services.sandbox.faults import Fault, Faults


def api(attempts: int = 3) -> ProviderApi:
    return ProviderApi("http://provider.invalid", "sk_test", timeout=0.1, attempts=attempts, pause=0.0)


class Script:
    """A provider that answers `attempt` and `ask` calls from lists (an exception is raised)."""

    def __init__(self, attempts: list[object], asks: list[object]) -> None:
        self.attempts, self.asks = list(attempts), list(asks)
        self.calls: list[str] = []

    def _next(self, answers: list[object], name: str) -> object:
        self.calls.append(name)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def attempt(self) -> object:
        return self._next(self.attempts, "attempt")

    def ask(self) -> object:
        return self._next(self.asks, "ask")


def test_an_answered_call_is_its_answer() -> None:
    script = Script(["cs_1"], [])
    assert api().settle("create", script.attempt, script.ask) == "cs_1"
    assert script.calls == ["attempt"]


def test_an_unknown_outcome_is_asked_about_and_the_work_found_done_is_not_done_again() -> None:
    script = Script([OutcomeUnknown("timed out")], ["cs_1"])
    assert api().settle("create", script.attempt, script.ask) == "cs_1"
    assert script.calls == ["attempt", "ask"]


def test_an_unknown_outcome_found_not_done_is_tried_again() -> None:
    script = Script([OutcomeUnknown("503"), "cs_1"], [None])
    assert api().settle("create", script.attempt, script.ask) == "cs_1"
    assert script.calls == ["attempt", "ask", "attempt"]


def test_a_question_that_is_not_answered_either_leads_to_another_try() -> None:
    script = Script([OutcomeUnknown("reset"), "cs_1"], [OutcomeUnknown("reset")])
    assert api().settle("create", script.attempt, script.ask) == "cs_1"


def test_after_the_budget_the_operation_is_left_for_later() -> None:
    script = Script([OutcomeUnknown("1"), OutcomeUnknown("2")], [None, None])
    with pytest.raises(GatewayTimeout, match="no answer after 2 calls"):
        api(attempts=2).settle("refund", script.attempt, script.ask)
    assert script.calls == ["attempt", "ask", "attempt", "ask"]


def test_a_refusal_is_an_answer_not_an_unknown_outcome() -> None:
    script = Script([GatewayRefused("no", "refund_declined")], [])
    with pytest.raises(GatewayRefused):
        api().settle("refund", script.attempt, script.ask)
    assert script.calls == ["attempt"], "a provider that said no is not asked whether it did it"


def test_sandbox_faults_are_read_with_their_seconds_and_scope() -> None:
    faults = Faults.parse("timeout=0.2, error=0.05,slow=1,hang=2,lag=0.5,on=refund+cancel,limit=3")
    assert faults.rates == {Fault.TIMEOUT: 0.2, Fault.ERROR: 0.05, Fault.SLOW: 1.0}
    assert (faults.hang, faults.lag, faults.on, faults.limit) == (2.0, 0.5, frozenset({"refund", "cancel"}), 3)
    assert not Faults.parse("") and Faults.parse("duplicate=0.1")


@pytest.mark.parametrize("spec", ["timeout", "timeout=often", "timeout=2", "crash=0.1", "on=refund+explode",
                                  "error=-1"])
def test_a_mistaken_fault_spec_is_refused_naming_it(spec: str) -> None:
    with pytest.raises(ValueError, match="SANDBOX_FAULTS"):
        Faults.parse(spec)


def test_a_limited_fault_stops_after_its_count_and_only_where_it_is_asked() -> None:
    faults = Faults.parse("error=1,on=refund,limit=2")
    assert faults.api_fault("create") is None
    assert [faults.api_fault("refund") for _ in range(3)] == [Fault.ERROR, Fault.ERROR, None]
    assert faults.drawn == 2
