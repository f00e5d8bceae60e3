"""The SMTP sink the mail tests rely on: a multipart mail with German text arrives whole and readable."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from tests.support.smtp_sink import SmtpSink, running_smtp_sink

GREETING = "Grüß Gott, Frau Müßig! Ihre Bestätigung für Straße und Ärger-Öl."


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with running_smtp_sink() as sink:
        yield sink


def german_mail(recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Servicekonto <servicekonto@example.org>"
    message["To"] = recipient
    message["Subject"] = "Bestätigen Sie Ihre E-Mail-Adresse – Grüße"
    message.set_content(GREETING + "\n")
    message.add_alternative(f"<!doctype html><html lang=\"de\"><p>{GREETING}</p></html>\n", subtype="html")
    return message


def test_multipart_mail_with_umlauts_arrives_intact(smtp_sink: SmtpSink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.send_message(german_mail("erika.mustermann@example.org"))

    received = smtp_sink.wait_for_mail_to("erika.mustermann@example.org")
    assert received["Subject"] == "Bestätigen Sie Ihre E-Mail-Adresse – Grüße"
    assert received.is_multipart()
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == GREETING
    assert f"<p>{GREETING}</p>" in html.get_content()
    assert text.get_content_charset() == "utf-8"
    assert smtp_sink.envelopes[-1].rcpt_tos == ("erika.mustermann@example.org",)


def test_internationalised_address_over_smtputf8(smtp_sink: SmtpSink) -> None:
    """RFC 6531 addresses reach the sink unchanged when the client asks for SMTPUTF8."""
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.send_message(german_mail("jürgen@münchen.example"), mail_options=["SMTPUTF8"])

    received = smtp_sink.wait_for_mail_to("jürgen@münchen.example")
    assert received["To"] == "jürgen@münchen.example"
    assert smtp_sink.messages_to("JÜRGEN@münchen.example") == [received]


def test_wait_for_gives_up_with_what_arrived(smtp_sink: SmtpSink) -> None:
    with pytest.raises(AssertionError, match="no matching mail"):
        smtp_sink.wait_for(lambda _message: False, timeout=0.2)
