"""SMTP with STARTTLS and credentials, as a real relay speaks it: the certificate is verified (with the
operator's CA file), and credentials never travel without TLS."""

from __future__ import annotations

import datetime
import ipaddress
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servicekonto.domain.ports import OutgoingMail
from servicekonto.mail import SmtpMailer
from tests.support.server import free_port
from tests.support.smtp_sink import running_smtp_sink

MAIL = OutgoingMail(to="erika@example.de", subject="Grüße", text="Hallo Erika", html="<p>Hallo Erika</p>")


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail relay (test)")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "relay.pem", folder / "relay.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Relay:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = auth_data.login == b"konto" and auth_data.password == b"geheim-und-lang"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[Relay, int, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    relay, port = Relay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=relay.authenticate, auth_require_tls=True, ready_timeout=10.0)
    controller.start()
    try:
        yield relay, port, cert_file
    finally:
        controller.stop()


def test_starttls_with_credentials_and_the_operators_ca(tls_relay: tuple[Relay, int, Path]) -> None:
    relay, port, ca_file = tls_relay
    SmtpMailer(f"smtp://konto:geheim-und-lang@127.0.0.1:{port}", sender="konto@example.de",
               ca_file=ca_file).send(MAIL)
    assert relay.logins == ["konto"] and len(relay.received) == 1
    assert b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=" in relay.received[0]


def test_an_unknown_certificate_is_refused(tls_relay: tuple[Relay, int, Path]) -> None:
    relay, port, _ca = tls_relay
    with pytest.raises(ssl.SSLCertVerificationError):
        SmtpMailer(f"smtp://konto:geheim-und-lang@127.0.0.1:{port}", sender="konto@example.de").send(MAIL)
    assert relay.received == []


def test_credentials_never_travel_without_tls() -> None:
    with running_smtp_sink() as plain, pytest.raises(smtplib.SMTPException, match="STARTTLS"):
        SmtpMailer(f"smtp://konto:geheim-und-lang@127.0.0.1:{plain.port}", sender="konto@example.de").send(MAIL)
