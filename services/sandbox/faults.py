"""Faults on purpose: SANDBOX_FAULTS makes the sandbox misbehave the way real providers do,
so that our side is seen surviving it (issue 13).

    SANDBOX_FAULTS="timeout=0.1,error=0.05,slow=0.1,duplicate=0.1,reorder=0.1"

Each kind is the fraction of calls it hits (drawn independently per call):

- `timeout`: an API call does its work and commits, then answers only after `hang`
  seconds: the caller has given up by then and does not know what happened;
- `error`: an API call answers 503 before doing anything;
- `slow`: an API call answers after `lag` seconds, within the caller's patience;
- `duplicate`: a webhook the merchant took is sent a second time;
- `reorder`: a webhook waits `lag` to 4 `lag` seconds before its first sending, so later
  ones overtake it.

`hang` (default 15 s, longer than the payment service's GATEWAY_TIMEOUT default of 10 s)
and `lag` (default 1 s) are seconds, set in the same variable: `timeout=0.2,hang=2`.
The API calls faulted are the merchant's: create, retrieve, refund and cancel; `on=` names
some of them (`on=refund+cancel`). `limit=N` stops after N faults (per process), so a test
can say "the first refund call times out" (`timeout=1,on=refund,limit=1`). The settlement
reports and the merchant's keys are never faulted (an operator's download).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    TIMEOUT = "timeout"
    ERROR = "error"
    SLOW = "slow"
    DUPLICATE = "duplicate"
    REORDER = "reorder"


API_FAULTS = (Fault.ERROR, Fault.TIMEOUT, Fault.SLOW)
OPERATIONS = ("create", "retrieve", "refund", "cancel")
SECONDS = ("hang", "lag")


@dataclass
class Faults:
    rates: dict[Fault, float]
    hang: float = 15.0
    lag: float = 1.0
    on: frozenset[str] = frozenset(OPERATIONS)
    limit: int | None = None
    _drawn: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        rates: dict[Fault, float] = {}
        seconds: dict[str, float] = {}
        on, limit = frozenset(OPERATIONS), None
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            if name == "on":
                on = frozenset(value.strip().lower().split("+"))
                if not on <= set(OPERATIONS):
                    raise ValueError(f"SANDBOX_FAULTS: on= names some of {'+'.join(OPERATIONS)}")
                continue
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"SANDBOX_FAULTS: {item!r} is not kind=number") from None
            if not sep or number < 0:
                raise ValueError(f"SANDBOX_FAULTS: {item!r} is not kind=number")
            if name == "limit":
                limit = int(number)
            elif name in SECONDS:
                seconds[name] = number
            elif name in Fault.__members__.values():
                if number > 1:
                    raise ValueError(f"SANDBOX_FAULTS: {name} is a fraction of calls, 0 to 1")
                rates[Fault(name)] = number
            else:
                kinds = ", ".join([*(f.value for f in Fault), *SECONDS])
                raise ValueError(f"SANDBOX_FAULTS: {name!r} is not one of {kinds}")
        return cls(rates, seconds.get("hang", 15.0), seconds.get("lag", 1.0), on, limit)

    def __bool__(self) -> bool:
        return any(self.rates.values())

    def hits(self, fault: Fault) -> bool:
        rate = self.rates.get(fault, 0.0)
        if rate <= 0 or random.random() >= rate:
            return False
        with self._lock:
            if self.limit is not None and self._drawn >= self.limit:
                return False
            self._drawn += 1
            return True

    @property
    def drawn(self) -> int:
        """How many faults were met so far (this process)."""
        return self._drawn

    def api_fault(self, operation: str) -> Fault | None:
        """The fault this API call meets, if any (at most one)."""
        if operation not in self.on:
            return None
        return next((fault for fault in API_FAULTS if self.hits(fault)), None)

    def reorder_delay(self) -> float:
        """How long a webhook waits before its first sending (0: no reordering)."""
        return random.uniform(self.lag, self.lag * 4) if self.hits(Fault.REORDER) else 0.0
