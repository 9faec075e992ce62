"""Structured logs (structlog), one JSON object a line in production, readable in a terminal.

Log lines carry ids (order, payment, message), never card numbers, CVCs, passwords,
tokens or signatures.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

from shared import tracing


def add_trace_ids(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The trace (and span) the line was written in (shared/tracing.py), to find its trace
    from a log line and the other way round."""
    ids = tracing.trace_ids()
    if ids is not None:
        event.setdefault("trace_id", ids[0])
        event.setdefault("span_id", ids[1])
    return event


def configure_logging(level: str | None = None) -> None:
    level_name = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    renderer: structlog.typing.Processor
    if os.environ.get("LOG_FORMAT", "console" if sys.stderr.isatty() else "json") == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level_name)
    # The local mail sink's per-connection chatter is not news.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level_name]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
