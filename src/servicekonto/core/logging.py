"""JSON logs through structlog, for our code and for uvicorn alike; personal data and secrets never
reach a log line (ASVS 7.1.1, GDPR Art. 5(1)(c))."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
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
    global _json_handler
    _json_handler = handler if fmt == "json" else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own loggers follow ours: our handler, our level
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).disabled = False
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # "Context impl SQLiteImpl." is noise
    # Our own access log replaces uvicorn's, which would log query strings (codes, tokens) and addresses.
    logging.getLogger("uvicorn.access").disabled = True


_json_handler: logging.StreamHandler[Any] | None = None
ACCESS_LOGGER = "servicekonto.http"
_access_fallback = structlog.get_logger(ACCESS_LOGGER)
_access_level = logging.getLogger(ACCESS_LOGGER)


@lru_cache(maxsize=1024)
def _access_prefix(method: str, route: str) -> str:
    return f'{{"method": {json.dumps(method)}, "route": {json.dumps(route)}, '


def access_log(request_id: str, method: str, route: str, status: int, duration_ms: float) -> None:
    """One line per request, the same JSON as every other line. Rendered here rather than by the processor
    chain, which costs more than a cached route answer: the fields are fixed and none is personal (a route
    template, never a path or query), so there is nothing to redact."""
    handler = _json_handler
    if handler is None or handler not in logging.root.handlers:  # not configured, or reconfigured since
        _access_fallback.info("request", method=method, route=route, status=status, duration_ms=duration_ms)
        return
    if not _access_level.isEnabledFor(logging.INFO):
        return
    timestamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    line = (f'{_access_prefix(method, route)}"status": {status}, "duration_ms": {duration_ms}, "event": "request", '
            f'"request_id": "{request_id}", "level": "info", "logger": "{ACCESS_LOGGER}", '
            f'"timestamp": "{timestamp}"}}')
    handler.acquire()
    try:
        handler.stream.write(line + "\n")
    finally:
        handler.release()
