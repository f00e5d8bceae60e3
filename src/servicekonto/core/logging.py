"""JSON logs through structlog, for our code and for uvicorn alike; personal data and secrets never
reach a log line (ASVS 7.1.1, GDPR Art. 5(1)(c))."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

import structlog

# Keys whose values are personal data or secrets. Matched on the lower-cased key, also as a suffix.
SENSITIVE_KEYS = frozenset({
    "password", "new_password", "current_password", "secret", "client_secret", "token", "access_token",
    "refresh_token", "id_token", "authorization_code", "one_time_code", "otp", "pin", "authorization",
    "cookie", "set-cookie", "session",
    "email", "e_mail", "username", "given_name", "family_name", "name", "birth_name", "birthdate",
    "date_of_birth", "place_of_birth", "address", "street_address", "postal_code", "locality", "phone",
    "phone_number", "de_mail", "ip", "client_ip", "remote_addr", "user_agent", "query", "query_string",
    "saml_response", "samlresponse", "samlrequest", "assertion", "restricted_id", "private_key",
})
REDACTED = "[redacted]"
_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")


@lru_cache(maxsize=4096)
def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or any(lowered.endswith("_" + k) for k in SENSITIVE_KEYS)


def drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: redact sensitive keys, and e-mail addresses anywhere in string values."""
    for key in list(event_dict):
        value = event_dict[key]
        if _is_sensitive(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and "@" in value:
            event_dict[key] = _EMAIL.sub(REDACTED, value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library (uvicorn, SQLAlchemy) through one renderer on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_data,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        # Drop below-level events before any processor runs (the access log costs nothing at WARNING).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # "Context impl SQLiteImpl." is noise
    # Our own access log replaces uvicorn's, which would log query strings (codes, tokens) and addresses.
    logging.getLogger("uvicorn.access").disabled = True
