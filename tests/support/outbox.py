"""Read the mails a test system wrote into its outbox folder (the OutboxMailer)."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

LINK = re.compile(r"https?://[^\s<>\"]+")


def mails(folder: Path, *, to: str | None = None) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        with path.open("rb") as fh:
            message = BytesParser(policy=policy.default).parse(fh)
        assert isinstance(message, EmailMessage)
        if to is None or message["To"] == to:
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def template_of(message: EmailMessage) -> str:
    return str(message["X-Servicekonto-Template"])


def last_link(folder: Path, *, to: str, containing: str) -> str:
    for message in reversed(mails(folder, to=to)):
        for link in LINK.findall(text_of(message)):
            if containing in link:
                return link
    raise AssertionError(f"no mail to {to} with a link containing {containing!r}")
