"""Typed configuration: environment variables `SERVICEKONTO_*`, optionally a TOML file named by
`SERVICEKONTO_CONFIG`; validated once at start and passed into `create_app(settings)`.

Every field is documented in docs/configuration.md (a test keeps the two in sync).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from servicekonto.core.errors import ConfigurationError

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "secret", "password", "servicekonto", "test", "dev",
     "development", "insecure", "placeholder", "todo", "xxx"}
)
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICEKONTO_", extra="forbid", frozen=True)

    environment: Literal["test", "production"] = Field(
        "test", description="`test` runs a test system (eID simulator, test identities, mail outbox); "
        "`production` refuses all of them.")
    base_url: str = Field(
        "http://127.0.0.1:8000", description="Public URL of the service; also the OpenID Connect issuer "
        "and the base of the SAML entityID. No trailing slash, no query.")
    data_dir: Path = Field(
        Path("./var"), description="Folder for the SQLite database, the generated secret key of a test "
        "system and the local mail outbox.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the system of record, e.g. "
        "`postgresql+psycopg://user@db/servicekonto`. Default: SQLite file `DATA_DIR/servicekonto.sqlite3`.")
    database_pool_size: int = Field(
        10, ge=1, le=200, description="Connections per process and pool (PostgreSQL): one pool for transactions, "
        "one for single statements; each opens up to twice this under load and keeps them open.")
    redis_url: str | None = Field(
        None, description="Redis or Valkey URL for sessions, flow state, one-time codes and rate-limit "
        "counters, e.g. `redis://127.0.0.1:6379/0`. Without it they are kept in the database.")
    redis_prefix: str = Field(
        "servicekonto:", description="Prefix of every Redis key, so several deployments can share a server.")
    secret_key: SecretStr | None = Field(
        None, description="Deployment secret (at least 32 characters): encrypts private keys at rest and "
        "keys the pseudonyms. Required in production. A test system without it generates one in "
        "`DATA_DIR/secret_key`. Changing it makes every stored private key unreadable and every "
        "pseudonym different.")
    secret_key_file: Path | None = Field(
        None, description="Read the deployment secret from this file instead (for container secrets).")
    smtp_url: str | None = Field(
        None, description="`smtp://host:port` (STARTTLS when offered), `smtps://host:port` (TLS), with "
        "optional `user:password@`. Default in a test system: the local outbox under `DATA_DIR/outbox`.")
    smtp_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the mail server's certificate, when it is not a "
        "public one (an internal relay). TLS is always verified.")
    mail_from: str = Field(
        "Servicekonto <servicekonto@localhost>", description="Sender address of every mail.")
    eid_backend: Literal["simulator", "tr03130", "none"] | None = Field(
        None, description="`simulator` (test system only), `tr03130` (a real eID server) or `none`. "
        "Default: `simulator` in a test system, `none` in production.")
    eid_server_url: str | None = Field(
        None, description="SOAP endpoint of the eID server (BSI TR-03130 `useID`/`getResult`), e.g. "
        "`https://eid.example.de/eID-Server/eID`. Required with `EID_BACKEND=tr03130`; the simulator's "
        "default is `BASE_URL/eid-simulator/soap`.")
    eid_tls_cert_file: Path | None = Field(
        None, description="PEM file of the TLS client certificate the eID server knows this service by.")
    eid_tls_key_file: Path | None = Field(
        None, description="PEM file of the private key of `EID_TLS_CERT_FILE`.")
    eid_server_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the eID server's TLS certificate, when it is not a "
        "public one. TLS is always verified.")
    eid_client_url: str = Field(
        "http://127.0.0.1:24727/eID-Client", description="Activation URL of the citizen's eID client "
        "(AusweisApp, BSI TR-03124); `?tcTokenURL=…` is appended. Ignored by the simulator, whose client page "
        "stands in for it.")
    key_publish_seconds: int = Field(
        7 * 24 * 3600, ge=3600, description="How long a retired signing key stays published after "
        "`servicekonto keys rotate`; longer than any token or assertion signed with it lives.")
    keys_cache_seconds: int = Field(
        60, ge=0, le=3600, description="How long a process keeps the key set before it reads it again "
        "(a rotation reaches every process within this time).")
    admin_min_trust_level: int = Field(
        2, ge=1, le=4, description="The trust level a login needs for the administration console and the "
        "management API session (2: password and a second factor — authenticator app or passkey). Only a "
        "test system may lower it to 1.")
    session_limits: dict[int, tuple[int, int]] = Field(
        default_factory=dict, description="Per trust level (1–4) the absolute and idle lifetime of a login "
        "session in seconds, e.g. `{\"1\": [43200, 3600]}`. Levels not named keep the TR-03160-1 defaults: "
        "12 h / 60 min (levels 1–2), 2 h / 30 min (3), 30 min / 5 min (4).")
    password_hash_concurrency: int = Field(
        1, ge=1, le=64, description="Argon2id hashes a process runs at once. With one worker process per core "
        "(the recommended set-up) 1 is fastest; more only add cache misses and memory (19 MiB each).")
    transfer_retention_days: int = Field(
        730, ge=1, le=36500, description="How long the citizen's data-transfer history keeps an entry (days; "
        "default two years). `servicekonto maintenance` deletes older entries.")
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"], description="Addresses of reverse proxies whose "
        "X-Forwarded-For/-Proto headers are believed.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field(
        "json", description="`json` (one object per line, for log shippers) or `console` (for a terminal).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SERVICEKONTO_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_origin_and_path(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("session_limits")
    @classmethod
    def _session_limits_are_sane(cls, value: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
        for level, (absolute, idle) in value.items():
            if level not in {1, 2, 3, 4}:
                raise ValueError("trust levels are 1 to 4")
            if not 60 <= idle <= absolute <= 7 * 24 * 3600:
                raise ValueError("need 60 s <= idle <= absolute <= 7 days")
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.eid_backend == "tr03130" and not self.eid_server_url:
            raise ValueError("SERVICEKONTO_EID_BACKEND=tr03130 needs SERVICEKONTO_EID_SERVER_URL")
        if (self.eid_tls_cert_file is None) != (self.eid_tls_key_file is None):
            raise ValueError("SERVICEKONTO_EID_TLS_CERT_FILE and SERVICEKONTO_EID_TLS_KEY_FILE go together")
        if self.environment != "production":
            return self
        if self.eid_backend == "tr03130" and (not (self.eid_server_url or "").startswith("https://")
                                             or self.eid_tls_cert_file is None):
            raise ValueError("production needs an https eID server URL and a TLS client certificate")
        if self.eid_backend == "simulator":
            raise ValueError("the eID simulator is for test systems only; production refuses it")
        if self.admin_min_trust_level < 2:
            raise ValueError("production needs SERVICEKONTO_ADMIN_MIN_TRUST_LEVEL of 2 or more")
        if not self.base_url.startswith("https://"):
            raise ValueError("production needs an https base_url")
        if not self.smtp_url:
            raise ValueError("production needs SERVICEKONTO_SMTP_URL; the local mail outbox is for test systems")
        if self.secret_key is None and self.secret_key_file is None:
            raise ValueError("production needs SERVICEKONTO_SECRET_KEY or SERVICEKONTO_SECRET_KEY_FILE")
        if self.secret_key is not None:
            check_secret(self.secret_key.get_secret_value())
        return self

    @property
    def is_test_system(self) -> bool:
        return self.environment == "test"

    @property
    def effective_eid_backend(self) -> str:
        return self.eid_backend or ("simulator" if self.is_test_system else "none")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'servicekonto.sqlite3').resolve()}"

    @property
    def uses_https(self) -> bool:
        return self.base_url.startswith("https://")

    def deployment_secret(self) -> bytes:
        """The deployment secret; a test system creates and keeps one in DATA_DIR on first use."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.secret_key_file is not None:
            value = self.secret_key_file.read_text().strip()
            if self.environment == "production":
                check_secret(value)
            return value.encode()
        if self.environment == "production":  # unreachable after validation; kept for the type checker
            raise ConfigurationError("production needs a secret key")
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_urlsafe(48).encode())
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        return path.read_text().strip().encode()


def check_secret(value: str) -> None:
    """Refuse placeholders and short secrets (ASVS 2.10.4 / 6.4)."""
    if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"the secret key is a placeholder or shorter than {MIN_SECRET_LENGTH} characters")
    if len(set(value)) < 10:
        raise ValueError("the secret key is not random enough")


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration once; a readable ConfigurationError instead of a traceback."""
    try:
        return Settings(**overrides)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigurationError(_describe(exc)) from None


def _describe(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for error in errors():
        location = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        name = f"SERVICEKONTO_{location.upper()}" if location != "settings" else "settings"
        lines.append(f"{name}: {error.get('msg')}")
    return "; ".join(lines)
