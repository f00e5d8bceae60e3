"""The SMTP mailer speaks real SMTP: a registration's confirmation mail reaches an SMTP server, in the
citizen's language, as plain text and HTML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servicekonto.domain.ports import OutgoingMail
from servicekonto.mail import SmtpMailer
from servicekonto.services.mail import MailComposer
from tests.support.smtp_sink import SmtpSink, running_smtp_sink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with running_smtp_sink() as sink:
        yield sink


def test_composed_mail_arrives_in_german_and_english(smtp_sink: SmtpSink) -> None:
    composer = MailComposer(mailer=SmtpMailer(smtp_sink.url, sender="Servicekonto <konto@example.de>"),
                            site_name="Servicekonto", base_url="https://konto.example.de")
    composer.send("verify_email", to="erika@example.de", locale="de", username="erika",
                  link="https://konto.example.de/registrieren/bestaetigen?token=abc")
    composer.send("verify_email", to="max@example.de", locale="en", username="max",
                  link="https://konto.example.de/registrieren/bestaetigen?token=def")
    german = smtp_sink.wait_for_mail_to("erika@example.de")
    english = smtp_sink.wait_for_mail_to("max@example.de")
    assert german["Subject"].startswith("Bitte bestätigen Sie Ihre E-Mail-Adresse")
    assert english["Subject"].startswith("Please confirm your e-mail address")
    text = german.get_body(preferencelist=("plain",)).get_content()
    html = german.get_body(preferencelist=("html",)).get_content()
    assert "Hallo erika," in text and "token=abc" in text
    assert '<html lang="de">' in html and 'href="https://konto.example.de/registrieren/bestaetigen?token=abc"' in html
    assert german["Auto-Submitted"] == "auto-generated" and german["Message-ID"]


def test_html_mail_escapes_what_the_citizen_typed(smtp_sink: SmtpSink) -> None:
    composer = MailComposer(mailer=SmtpMailer(smtp_sink.url, sender="konto@example.de"), site_name="Servicekonto",
                            base_url="https://konto.example.de")
    composer.send("username_taken", to="x@example.de", locale="en", username="<script>alert(1)</script>",
                  register_link="https://konto.example.de/registrieren")
    html = smtp_sink.wait_for_mail_to("x@example.de").get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_unreachable_smtp_server_raises(tmp_path: Path) -> None:
    mailer = SmtpMailer("smtp://127.0.0.1:1", sender="konto@example.de", timeout=2)
    with pytest.raises(OSError):
        mailer.send(OutgoingMail(to="a@example.de", subject="s", text="t", html="<p>t</p>"))


def test_smtp_url_is_validated() -> None:
    with pytest.raises(ValueError):
        SmtpMailer("http://mail.example.de", sender="konto@example.de")
