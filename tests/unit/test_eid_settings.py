"""eID settings: a real eID server needs its URL; production needs https and a TLS client certificate, and
refuses the simulator (tests/unit/test_settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicekonto.core.errors import ConfigurationError
from servicekonto.settings import load_settings

SECRET = "Zq8vN3kLp0Xr7Tb2Wm5Yc9Hd4Jf6Gs1Ae-Ru"
PRODUCTION = {"environment": "production", "base_url": "https://konto.example.de", "secret_key": SECRET,
              "smtp_url": "smtp://mail.example.de:587"}


def test_a_real_eid_server_needs_its_url() -> None:
    with pytest.raises(ConfigurationError):
        load_settings(eid_backend="tr03130")


def test_production_needs_https_and_a_client_certificate_for_the_eid_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(**PRODUCTION, eid_backend="tr03130", eid_server_url="http://eid.example.de/soap")
    with pytest.raises(ConfigurationError):
        load_settings(**PRODUCTION, eid_backend="tr03130", eid_server_url="https://eid.example.de/soap")
    settings = load_settings(**PRODUCTION, eid_backend="tr03130", eid_server_url="https://eid.example.de/soap",
                             eid_tls_cert_file=tmp_path / "c.pem", eid_tls_key_file=tmp_path / "k.pem")
    assert settings.effective_eid_backend == "tr03130"


def test_production_refuses_the_simulator() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**PRODUCTION, eid_backend="simulator")
    assert "simulator" in (caught.value.detail or "")


def test_certificate_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(eid_tls_cert_file=tmp_path / "c.pem")
