"""Mails to citizens: rendered in the account's language, as plain text and HTML, from the templates
in `mail_templates/`; delivered through the Mailer port (SMTP, or the local outbox of a test system)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from servicekonto.core import i18n
from servicekonto.core.i18n import LazyString, _l
from servicekonto.domain.eid import has_mailbox
from servicekonto.domain.ports import Mailer, OutgoingMail

TEMPLATES = Path(__file__).resolve().parent / "mail_templates"

SUBJECTS: dict[str, LazyString] = {
    "verify_email": _l("Please confirm your e-mail address"),
    "already_registered": _l("Someone tried to register with your e-mail address"),
    "username_taken": _l("Your registration: please choose another username"),
    "account_locked": _l("Your login was locked after failed attempts"),
    "password_reset": _l("Reset your password"),
    "password_changed": _l("Your password was changed"),
    "email_change": _l("Please confirm your new e-mail address"),
    "email_change_notice": _l("Your e-mail address is being changed"),
    "email_changed": _l("Your e-mail address was changed"),
    "email_in_use": _l("This e-mail address already belongs to an account"),
    "account_deleted": _l("Your account was deleted"),
    "totp_enabled": _l("An authenticator app was set up for your account"),
    "totp_disabled": _l("The authenticator app was removed from your account"),
    "recovery_code_used": _l("A recovery code was used to log in"),
    "second_factor_locked": _l("Wrong codes were entered after your password"),
    "passkey_added": _l("A passkey was added to your account"),
    "passkey_removed": _l("A passkey was removed from your account"),
    "new_device": _l("A login to your account from a new device"),
    "organisation_invitation": _l("You are invited to act for an organisation"),
}


class MailComposer:
    def __init__(self, *, mailer: Mailer, site_name: str, base_url: str) -> None:
        self._mailer = mailer
        self._site_name = site_name
        self._base_url = base_url
        self._text = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,  # noqa: S701 - text/plain
                                 undefined=StrictUndefined, extensions=["jinja2.ext.i18n"], keep_trailing_newline=True,
                                 auto_reload=False)
        self._html = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                                 undefined=StrictUndefined, extensions=["jinja2.ext.i18n"], auto_reload=False)
        for env in (self._text, self._html):
            env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]

    def send(self, template: str, *, to: str, locale: str, **context: Any) -> None:
        if not has_mailbox(to):
            return  # an account registered with the ID card and no address: nobody to tell
        with i18n.use_locale(locale):
            values = {"site_name": self._site_name, "base_url": self._base_url, "lang": i18n.current_locale(),
                      **context}
            subject = f"{SUBJECTS[template]} – {self._site_name}"
            text = self._text.get_template(f"{template}.txt").render(**values)
            html = self._html.get_template(f"{template}.html").render(subject=subject, **values)
        self._mailer.send(OutgoingMail(to=to, subject=subject, text=text, html=html,
                                       headers={"X-Servicekonto-Template": template}))
