"""Settings are validated once; production refuses placeholders, plain http and the eID simulator."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from servicekonto.core.errors import ConfigurationError
from servicekonto.settings import load_settings

STRONG = "Zq4r8TwX2mN6pL0vB3yK7hJ5gF1dS9aQ"
SMTP = "smtp://mail.example.de:25"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SERVICEKONTO_"):
            monkeypatch.delenv(name)


def test_defaults_are_a_test_system_on_sqlite(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.environment == "test"
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'servicekonto.sqlite3').resolve()}"
    assert settings.effective_eid_backend == "simulator"
    assert settings.base_url == "http://127.0.0.1:8000"


def test_test_system_generates_and_keeps_its_secret(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path).deployment_secret()
    again = load_settings(data_dir=tmp_path).deployment_secret()
    assert first == again and len(first) >= 48
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-random-9f", "a" * 40])
def test_production_refuses_weak_secrets(secret: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment="production", base_url="https://konto.example.de", secret_key=secret,
                      smtp_url="smtp://mail.example.de:25")
    assert "SECRET_KEY" in (caught.value.detail or "") or "secret" in (caught.value.detail or "")


def test_production_refuses_the_eid_simulator() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment="production", base_url="https://konto.example.de", secret_key=STRONG,
                      smtp_url=SMTP, eid_backend="simulator")
    assert "simulator" in (caught.value.detail or "")


def test_production_refuses_the_local_outbox() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment="production", base_url="https://konto.example.de", secret_key=STRONG)
    assert "SMTP_URL" in (caught.value.detail or "")


def test_production_refuses_plain_http_and_missing_secret() -> None:
    with pytest.raises(ConfigurationError):
        load_settings(environment="production", base_url="http://konto.example.de", secret_key=STRONG)
    with pytest.raises(ConfigurationError):
        load_settings(environment="production", base_url="https://konto.example.de", smtp_url=SMTP)


def test_production_with_real_values_starts_without_eid_simulator() -> None:
    settings = load_settings(environment="production", base_url="https://konto.example.de/", secret_key=STRONG,
                             smtp_url=SMTP)
    assert settings.base_url == "https://konto.example.de"
    assert settings.effective_eid_backend == "none"
    assert settings.uses_https


def test_environment_variables_and_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "servicekonto.toml"
    config.write_text('base_url = "http://localhost:9000"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("SERVICEKONTO_CONFIG", str(config))
    monkeypatch.setenv("SERVICEKONTO_LOG_LEVEL", "WARNING")
    settings = load_settings()
    assert settings.base_url == "http://localhost:9000"
    assert settings.log_level == "WARNING"  # the environment wins over the file


def test_unknown_and_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEKONTO_ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "SERVICEKONTO_ENVIRONMENT" in (caught.value.detail or "")


def test_base_url_must_be_plain_origin() -> None:
    with pytest.raises(ConfigurationError):
        load_settings(base_url="ftp://example.de")
    with pytest.raises(ConfigurationError):
        load_settings(base_url="https://example.de/?x=1")
