"""One error hierarchy: every error has a stable code, an HTTP status and a translatable message.

Each surface maps these once (page, problem+json, OAuth error, SAML status); lower layers never raise
HTTP errors.
"""

from __future__ import annotations

from typing import ClassVar

from servicekonto.core.i18n import LazyString, _l


class ServicekontoError(Exception):
    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    message: ClassVar[LazyString] = _l("Something went wrong on our side.")

    def __init__(self, detail: str | None = None, **params: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params

    def user_message(self) -> str:
        text = str(self.message)
        return text.format(**self.params) if self.params else text


class NotFound(ServicekontoError):
    code = "not_found"
    http_status = 404
    message = _l("The page you asked for does not exist.")


class InvalidInput(ServicekontoError):
    code = "invalid_input"
    http_status = 400
    message = _l("The input is not valid.")


class FormInvalid(InvalidInput):
    """Several fields at once: `errors` maps each field to its own error, so a page shows every message
    together instead of one per attempt."""

    code = "form.invalid"
    message = _l("Some entries need your attention. Nothing has been changed.")

    def __init__(self, errors: dict[str, ServicekontoError]) -> None:
        super().__init__("form invalid")
        self.errors = errors


class Conflict(ServicekontoError):
    code = "conflict"
    http_status = 409
    message = _l("This already exists.")


class ConfigurationError(ServicekontoError):
    """The deployment is configured wrongly; raised at start-up, never on a request path."""

    code = "configuration"
    http_status = 500
    message = _l("The service is not configured correctly.")
