"""Log lines never carry personal data or secrets."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from servicekonto.core.logging import REDACTED, access_log, configure_logging, drop_personal_data


def test_sensitive_keys_and_addresses_are_redacted() -> None:
    event = drop_personal_data(None, "info", {
        "event": "mail sent to erika@example.de",
        "password": "hunter2hunter2",
        "client_secret": "abc",
        "tenant_name": "Musterstadt",
        "route": "/login",
        "status": 200,
    })
    assert event["password"] == REDACTED
    assert event["client_secret"] == REDACTED
    assert "erika@example.de" not in event["event"]
    assert event["route"] == "/login" and event["status"] == 200


def test_json_logs_for_our_code_and_the_standard_library(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        structlog.get_logger("servicekonto.test").info("login_failed", username="erika", attempts=3)
        logging.getLogger("uvicorn.error").info("started for max@example.org")
        lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert lines[0]["event"] == "login_failed" and lines[0]["username"] == REDACTED
    assert lines[0]["attempts"] == 3 and lines[0]["level"] == "info"
    assert "max@example.org" not in lines[1]["event"]


def test_the_access_log_line_is_json_like_every_other_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        access_log("0123456789ab", "GET", '/a/"{id}"', 404, 1.25)
        configure_logging("WARNING", "json")
        access_log("0123456789ab", "GET", "/b", 200, 1.0)
        lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert len(lines) == 1
    assert lines[0] | {"timestamp": None} == {
        "method": "GET", "route": '/a/"{id}"', "status": 404, "duration_ms": 1.25, "event": "request",
        "request_id": "0123456789ab", "level": "info", "logger": "servicekonto.http", "timestamp": None}
    assert lines[0]["timestamp"].endswith("Z")
