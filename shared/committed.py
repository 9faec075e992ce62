"""What a transaction leaves to do once it has committed: kept on its session, done only when
the whole transaction commits, dropped with whatever rolls back, a savepoint's part included.

The direct publisher keeps the messages to publish this way (shared/messaging/direct.py),
and the metrics their counts (shared/metrics.py): a message or a count of a change that
rolled back would tell of something that never happened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, SessionTransaction


class AfterCommit:
    """A list per session under `key` in `session.info`. Listen with `began` on
    after_transaction_create and `rolled_back` on after_soft_rollback; on after_commit,
    `take` answers the list once the outermost transaction committed (None for a savepoint's
    release, which commits nothing yet)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.savepoints = f"{key}.savepoints"  # how long the list was when each savepoint began

    def add(self, session: Session, item: Any) -> None:
        session.info.setdefault(self.key, []).append(item)

    def began(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.nested:
            session.info.setdefault(self.savepoints, {})[id(transaction)] = len(session.info.get(self.key, ()))

    def rolled_back(self, session: Session, previous_transaction: SessionTransaction) -> None:
        """What was added in a rolled-back savepoint, or transaction, is never done."""
        if previous_transaction.nested:
            kept = session.info.get(self.savepoints, {}).pop(id(previous_transaction), 0)
            del session.info.get(self.key, [])[kept:]
            return
        session.info.pop(self.key, None)
        session.info.pop(self.savepoints, None)

    def take(self, session: Session) -> list[Any] | None:
        if session.in_nested_transaction():
            return None
        session.info.pop(self.savepoints, None)
        taken: list[Any] | None = session.info.pop(self.key, None)
        return taken
