"""A local SMTP server that keeps what it receives as .eml files: the mail server of
`make run` (var/mail/) and of the tests, so receipts are really sent over SMTP and can be
read back, without a real MTA.

    python -m services.notify.sink var/mail --port 2525
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def pick_free_port(host: str) -> int:
    """aiosmtpd's Controller connects to its own port to check it is up, so it cannot be
    given port 0: we choose the port first."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SaveToDirectory:
    """aiosmtpd handler: one file per message, written whole then renamed, so a reader never
    sees half an email. Names start with the arrival time, so sorting them is arrival order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def _next_name(self) -> str:
        with self._lock:
            return f"{time.time_ns():020d}-{next(self._sequence):06d}-{os.getpid()}.eml"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = self._next_name()
        partial = self.directory / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.replace(self.directory / name)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, directory: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or pick_free_port(host)
        self._controller: Controller | None = None

    def start(self) -> MailSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(SaveToDirectory(self.directory), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Every message received so far (including by earlier runs into the same directory),
        oldest first."""
        if not self.directory.exists():
            return []
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(path.read_bytes()) for path in sorted(self.directory.glob("*.eml"))]


def main() -> None:
    parser = argparse.ArgumentParser(description="Keep every email sent to this SMTP server as an .eml file.")
    parser.add_argument("directory", nargs="?", default="var/mail")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    sink = MailSink(args.directory, args.host, args.port).start()
    print(f"SMTP sink on {sink.host}:{sink.port}, saving to {sink.directory}/")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
