"""An SMTP server in the test process (aiosmtpd) that keeps every mail it receives, parsed.

Mail tests send through real SMTP to it and read the result back: the same path production takes, without
a mail server. `wait_for` waits on a condition variable, not a sleep.
"""

from __future__ import annotations

import email
import email.policy
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._sink._received(message, Envelope(envelope.mail_from, tuple(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """`host`, `port`, `url` (for SERVICEKONTO_SMTP_URL), `messages` (parsed), `envelopes`, `wait_for`."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        for _attempt in range(5):
            port = _free_port(self.host)
            controller = Controller(_Handler(self), hostname=self.host, port=port, enable_SMTPUTF8=True,
                                    decode_data=False, ready_timeout=10.0)
            try:
                controller.start()
            except OSError as exc:  # the port was taken between finding and binding it
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError("no free port for the SMTP sink")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _received(self, message: EmailMessage, envelope: Envelope) -> None:
        with self._changed:
            self.messages.append(message)
            self.envelopes.append(envelope)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()
            self.envelopes.clear()

    def messages_to(self, address: str) -> list[EmailMessage]:
        wanted = address.lower()
        with self._changed:
            return [m for m, e in zip(self.messages, self.envelopes, strict=True)
                    if wanted in (r.lower() for r in e.rcpt_tos)]

    def wait_for(self, predicate: Callable[[EmailMessage], bool] = lambda _m: True, *,
                 timeout: float = DEFAULT_TIMEOUT) -> EmailMessage:
        """The first received message that satisfies `predicate`; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [str(m.get("Subject", "")) for m in self.messages]
                    raise AssertionError(f"no matching mail within {timeout} s; received: {subjects!r}")
                self._changed.wait(remaining)

    def wait_for_mail_to(self, address: str, *, timeout: float = DEFAULT_TIMEOUT) -> EmailMessage:
        wanted = address.lower()
        return self.wait_for(
            lambda m: any(wanted in str(v).lower() for v in (m.get_all("To") or [])), timeout=timeout)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
