"""Mailer adapters: real SMTP, and a local outbox folder for test systems without a mail server."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from servicekonto.core.clock import Clock, SystemClock
from servicekonto.core.ids import random_token
from servicekonto.domain.ports import Mailer, OutgoingMail

if TYPE_CHECKING:
    from servicekonto.settings import Settings


def build_message(mail: OutgoingMail, *, sender: str, clock: Clock) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class SmtpMailer:
    """`smtp://host:port` (STARTTLS when the server offers it, required with credentials),
    `smtps://host:port` (implicit TLS); optional `user:password@`."""

    def __init__(self, url: str, *, sender: str, clock: Clock | None = None, timeout: float = 10.0,
                 ca_file: Path | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._ca_file = ca_file  # a relay with a certificate of an internal CA

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, sender=self._sender, clock=self._clock)
        context = ssl.create_default_context(cafile=str(self._ca_file) if self._ca_file else None)
        if self._tls:
            with smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context) as smtp:
                self._deliver(smtp, message)
            return
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif self._user:
                raise smtplib.SMTPException("refusing to send credentials without STARTTLS")
            self._deliver(smtp, message)

    def _deliver(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        if self._user and self._password is not None:
            smtp.login(self._user, self._password)
        smtp.send_message(message)


class OutboxMailer:
    """Writes each mail as an .eml file into a folder; the test system shows them at /entwicklung/postausgang."""

    def __init__(self, folder: Path, *, sender: str, clock: Clock | None = None) -> None:
        self.folder = folder
        self._sender = sender
        self._clock = clock or SystemClock()

    def send(self, mail: OutgoingMail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        message = build_message(mail, sender=self._sender, clock=self._clock)
        name = f"{time.time_ns():020d}-{random_token(6)}.eml"  # sorts in the order of writing
        temporary = self.folder / (name + ".tmp")
        temporary.write_bytes(bytes(message))
        temporary.replace(self.folder / name)  # readers never see half a mail


def make_mailer(settings: Settings, *, clock: Clock) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, sender=settings.mail_from, clock=clock, ca_file=settings.smtp_ca_file)
    return OutboxMailer(settings.data_dir / "outbox", sender=settings.mail_from, clock=clock)
