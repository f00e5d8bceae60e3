"""Messages for pages: field errors from the service's errors, and notices after a redirect (a fixed list
of codes in the URL, never text from the URL)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekonto.core.errors import FormInvalid, ServicekontoError
from servicekonto.core.i18n import LazyString, _l
from servicekonto.domain.normalise import FieldInvalid
from servicekonto.domain.passwords import PasswordRejected


@dataclass(frozen=True, slots=True)
class Message:
    code: str
    text: str
    kind: str = "info"


NOTICES: dict[str, tuple[LazyString, str]] = {
    "verified": (_l("Your e-mail address is confirmed. You can log in now."), "success"),
    "password_reset": (_l("Your new password is saved and every session was logged out. Please log in."), "success"),
    "logged_out": (_l("You are logged out."), "success"),
    "deleted": (_l("Your account and its personal data were deleted."), "success"),
    "resent": (_l("If the registration is still waiting for confirmation, we have sent the mail again."), "info"),
    "master_data_saved": (_l("Your master data is saved."), "success"),
    "nothing_changed": (_l("You did not change anything."), "info"),
    "password_changed": (_l("Your password is changed. Your other sessions were logged out."), "success"),
    "email_change_sent": (_l("We have sent a link to the new address. The change takes effect when you open it."),
                          "info"),
    "email_changed": (_l("Your new e-mail address is confirmed."), "success"),
    "session_expired": (_l("Your session has ended. Please log in again."), "info"),
    "totp_removed": (_l("The authenticator app was removed. Your login needs only your password again."), "success"),
}


def notice(code: str | None) -> Message | None:
    if code and code in NOTICES:
        text, kind = NOTICES[code]
        return Message(code=f"notice.{code}", text=str(text), kind=kind)
    return None


def error_message(error: ServicekontoError) -> Message:
    return Message(code=error.code, text=error.user_message(), kind="error")


def field_errors(error: ServicekontoError, *, default_field: str) -> dict[str, Message]:
    """Map an error to the form field(s) it concerns."""
    if isinstance(error, FormInvalid):
        found: dict[str, Message] = {}
        for name, inner in error.errors.items():
            found.update(field_errors(inner, default_field=name))
        return found
    if isinstance(error, FieldInvalid):
        return {error.field: Message(code=f"field.{error.field}.invalid", text=error.user_message(), kind="error")}
    if isinstance(error, PasswordRejected):
        return {default_field: Message(code=error.reason, text=error.user_message(), kind="error")}
    return {default_field: error_message(error)}
