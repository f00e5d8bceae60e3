"""The `servicekonto` command (DESIGN.md §4). With `--json` a command prints one JSON object on stdout and
nothing else; errors go to stderr, German first and English second, with a non-zero exit code."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from servicekonto.core import i18n
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.core.ids import error_id
from servicekonto.domain.audit import AuditEvent
from servicekonto.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1


def both_languages(message: object) -> str:
    """German first, English second: an operator reads whichever they need."""
    with i18n.use_locale("de"):
        german = str(message)
    with i18n.use_locale("en"):
        english = str(message)
    return german if german == english else f"{german}\n{english}"


def fail(message: object, code: int = EXIT_ERROR) -> None:
    click.echo(both_languages(message), err=True)
    sys.exit(code)


DETAILED = {"configuration", "oidc_client.invalid", "not_found", "saml_sp.invalid", "saml_sp.metadata_unavailable",
            "saml_sp.entity_id_taken"}  # the detail names what to fix


def _message_of(exc: ServicekontoError) -> object:
    class _Rendered:
        def __str__(self) -> str:
            text = exc.user_message()
            return f"{text} ({exc.detail})" if exc.code in DETAILED and exc.detail else text
    return _Rendered()


def handles_errors(func: F) -> F:
    """Expected errors become their message; unexpected ones a message with an error id (the traceback
    only with SERVICEKONTO_LOG_LEVEL=DEBUG), never a bare stack trace."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ServicekontoError as exc:
            fail(_message_of(exc))
        except OperationalError:
            fail(_l("The database cannot be reached. Check SERVICEKONTO_DATABASE_URL and that the database "
                    "server is running."))
        except Exception as exc:  # noqa: BLE001 - the CLI's boundary: a message, never a bare traceback
            if os.environ.get("SERVICEKONTO_LOG_LEVEL", "").upper() == "DEBUG":
                traceback.print_exc()
            reference = error_id()
            click.echo(f"[{reference}] {type(exc).__name__}", err=True)
            fail(_l("An unexpected error occurred. Run again with SERVICEKONTO_LOG_LEVEL=DEBUG for details."))
    return wrapper  # type: ignore[return-value]


@contextmanager
def container_for(settings: Settings) -> Iterator[Any]:
    from servicekonto.app import build_container

    container = build_container(settings)
    try:
        yield container
    finally:
        container.close()


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Servicekonto: citizen account and identity provider."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes; one per core.")
@handles_errors
def serve(host: str, port: int, workers: int) -> None:
    """Serve HTTP (uvicorn with uvloop and httptools)."""
    import uvicorn

    from servicekonto.core.logging import configure_logging
    from servicekonto.persistence.migrate import is_current

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    with container_for(settings) as container:
        if not is_current(container.database):
            fail(_l("The database schema is not up to date. Run `servicekonto migrate` first."))
        container.keys.ensure()
    uvicorn.run(
        "servicekonto.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        server_header=False,
        date_header=True,
    )


@main.command()
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def migrate(as_json: bool) -> None:
    """Upgrade the database schema to the newest version (idempotent)."""
    from servicekonto.persistence.migrate import upgrade

    settings = load_settings()
    with container_for(settings) as container:
        upgrade(container.database)
        container.keys.ensure()
    emit(as_json, {"status": "ok"}, "Datenbank ist aktuell. / Database is up to date.")


DEMO_TENANT = "Musterstadt"
DEMO_PORTAL_NAME = "Bürgerportal Musterstadt"
DEMO_PORTAL_URL = "http://127.0.0.1:8001"  # the demo portal's own default (servicekonto.demo_portal)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def demo(as_json: bool) -> None:
    """Create the demo tenant and register the demo portal (src/servicekonto/demo_portal) as its OpenID
    Connect client, for the portal's URL in DEMO_PORTAL_URL; the portal reads its credentials from
    DATA_DIR/demo-portal.json. Idempotent: the client is kept while it exists and fits. Test systems only."""
    settings = load_settings()
    if not settings.is_test_system:
        fail(_l("Demo data belongs on a test system only."))
    portal_url = os.environ.get("DEMO_PORTAL_URL", DEMO_PORTAL_URL).rstrip("/")
    wanted = {"issuer": settings.base_url.rstrip("/"), "redirect_uri": f"{portal_url}/callback",
              "post_logout_redirect_uri": f"{portal_url}/"}
    path = settings.data_dir / "demo-portal.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    saved = saved if isinstance(saved, dict) else {}
    with container_for(settings) as container:
        tenant = container.tenants.ensure(DEMO_TENANT)
        client = container.oidc_clients.get(str(saved.get("client_id", "")))
        if client is None or client.tenant_id != tenant.id or any(saved.get(k) != v for k, v in wanted.items()) \
                or "organisation" not in client.scopes:
            created = container.oidc_clients.create(
                tenant_id=tenant.id, name=DEMO_PORTAL_NAME, redirect_uris=(wanted["redirect_uri"],),
                post_logout_redirect_uris=(wanted["post_logout_redirect_uri"],),
                scopes=("openid", "profile", "email", "address", "organisation"))
            container.auditor.record(AuditEvent.OIDC_CLIENT_CREATED, tenant_id=tenant.id, actor="cli",
                                     client=created.client.client_id)
            saved = {"client_id": created.client.client_id, "client_secret": created.secret, **wanted}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # created anew, so that the mode 0600 applies
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
                json.dump(saved, fh, indent=2)
    emit(as_json, {"tenant_id": tenant.id, "client_id": saved["client_id"]},
         f"Demo-Mandant / demo tenant: {tenant.name} ({tenant.id})\n"
         f"Demo-Portal / demo portal: {DEMO_PORTAL_NAME} ({saved['client_id']}), {path}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def maintenance(as_json: bool) -> None:
    """Housekeeping to run every hour (cron or a systemd timer): remove registrations never confirmed
    within 48 hours, expired short-lived state kept in the database, and data-transfer history older than
    SERVICEKONTO_TRANSFER_RETENTION_DAYS; fetch again the metadata of SAML SPs registered from a URL (each
    every 6 hours) and the keys of OIDC clients registered with a jwks_uri. A failed fetch keeps what was
    there and is recorded in the tenant's audit log."""
    settings = load_settings()
    with container_for(settings) as container:
        registrations = container.accounts.remove_stale_registrations()
        sweep = getattr(container.ephemeral, "sweep", None)
        entries = sweep() if callable(sweep) else 0
        transfers = container.transfers.purge() if container.transfers is not None else 0
        refresh = container.admin.refresh_due()
    emit(as_json, {"stale_registrations": registrations, "expired_entries": entries, "expired_transfers": transfers,
                   "metadata_refreshed": refresh.refreshed, "metadata_unchanged": refresh.unchanged,
                   "metadata_failed": refresh.failed},
         f"stale registrations removed: {registrations}; expired entries removed: {entries}; "
         f"expired transfers removed: {transfers}; metadata and keys fetched again: {refresh.refreshed} new, "
         f"{refresh.unchanged} unchanged, {refresh.failed} failed (kept the previous ones)")


@main.group()
def tenant() -> None:
    """Manage tenants (Mandanten)."""


@tenant.command("create")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def tenant_create(name: str, as_json: bool) -> None:
    """Create a tenant."""
    settings = load_settings()
    with container_for(settings) as container:
        created = container.admin.create_tenant(container.admin.command_line(), name)
    emit(as_json, {"id": created.id, "name": created.name}, created.id)


@main.group()
def admin() -> None:
    """Manage administrators (citizen accounts with a role in the console and the management API)."""


@admin.command("grant")
@click.option("--account", "username", required=True, help="The account's username or e-mail address.")
@click.option("--operator", is_flag=True, help="Operator admin: the whole deployment.")
@click.option("--tenant", "tenant_id", help="Tenant admin of this tenant (its id).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def admin_grant(username: str, operator: bool, tenant_id: str | None, as_json: bool) -> None:
    """Give an account a role: --operator, or --tenant ID. Idempotent."""
    if operator == (tenant_id is not None):
        fail(_l("Name exactly one of --operator and --tenant."))
    settings = load_settings()
    with container_for(settings) as container:
        granted = container.admin.grant(username, operator=operator, tenant_id=tenant_id)
    emit(as_json, {"account_id": granted.account_id, "role": granted.role.value, "tenant_id": granted.tenant_id},
         f"{granted.role.value}: {granted.account_id}" + (f" ({granted.tenant_id})" if granted.tenant_id else ""))


@admin.command("revoke")
@click.option("--account", "username", required=True, help="The account's username or e-mail address.")
@click.option("--operator", is_flag=True, help="Take the operator role (never from the last operator).")
@click.option("--tenant", "tenant_id", help="Take the tenant admin role of this tenant (its id).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def admin_revoke(username: str, operator: bool, tenant_id: str | None, as_json: bool) -> None:
    """Take a role from an account: --operator, or --tenant ID."""
    if operator == (tenant_id is not None):
        fail(_l("Name exactly one of --operator and --tenant."))
    settings = load_settings()
    with container_for(settings) as container:
        container.admin.revoke(username, operator=operator, tenant_id=tenant_id)
    emit(as_json, {"revoked": "operator" if operator else "tenant_admin", "tenant_id": tenant_id},
         "revoked" + (f" ({tenant_id})" if tenant_id else " (operator)"))


@main.group("oidc-client")
def oidc_client() -> None:
    """Manage OpenID Connect clients."""


@oidc_client.command("create")
@click.option("--tenant", "tenant_id", required=True, help="The tenant's id (servicekonto tenant create).")
@click.option("--name", required=True, help="The portal's display name, shown on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI; repeat for more.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
              help="Default: authorization_code and refresh_token.")
@click.option("--scope", "scopes", multiple=True, help="Allowed scopes; default: openid profile email address "
              "phone offline_access.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE S256 required).")
@click.option("--token-endpoint-auth-method", type=click.Choice(
    ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]))
@click.option("--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False),
              help="The client's public keys (JWKS file) for private_key_jwt.")
@click.option("--id-token-alg", default="ES256", type=click.Choice(["ES256", "RS256", "PS256"]))
@click.option("--userinfo-alg", type=click.Choice(["ES256", "RS256", "PS256"]),
              help="Sign userinfo responses (default: plain JSON).")
@click.option("--access-token-format", default="jwt", type=click.Choice(["jwt", "opaque"]))
@click.option("--backchannel-logout-uri")
@click.option("--min-trust-level", default=1, type=click.IntRange(1, 4))
@click.option("--jwks-uri", help="https URL of the client's public keys for private_key_jwt (fetched now and by "
              "`servicekonto maintenance`).")
@click.option("--allowed-attribute", "allowed_attributes", multiple=True,
              help="A catalogue key the client may receive; repeat for more (default: every attribute).")
@click.option("--allowed-method", "allowed_methods", multiple=True,
              type=click.Choice(["password", "totp", "passkey", "eid"]),
              help="A login method the client accepts; repeat for more (default: every method).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def oidc_client_create(tenant_id: str, name: str, redirect_uris: tuple[str, ...],
                       post_logout_redirect_uris: tuple[str, ...], grant_types: tuple[str, ...],
                       scopes: tuple[str, ...], public: bool, token_endpoint_auth_method: str | None,
                       jwks_file: str | None, id_token_alg: str, userinfo_alg: str | None, access_token_format: str,
                       backchannel_logout_uri: str | None, min_trust_level: int, jwks_uri: str | None,
                       allowed_attributes: tuple[str, ...], allowed_methods: tuple[str, ...], as_json: bool) -> None:
    """Register an OpenID Connect client. The secret is shown once; only its HMAC is stored."""
    settings = load_settings()
    jwks = Path(jwks_file).read_text(encoding="utf-8") if jwks_file else None
    with container_for(settings) as container:
        admin = container.admin
        created = admin.create_oidc_client(
            admin.command_line(), tenant_id, name=name, redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris, grant_types=grant_types, scopes=scopes,
            public=public, token_endpoint_auth_method=token_endpoint_auth_method, jwks=jwks, jwks_uri=jwks_uri,
            id_token_signed_response_alg=id_token_alg, userinfo_signed_response_alg=userinfo_alg,
            access_token_format=access_token_format, backchannel_logout_uri=backchannel_logout_uri,
            min_trust_level=min_trust_level, allowed_attributes=_listed(allowed_attributes),
            allowed_methods=_listed(allowed_methods))
    data = {"client_id": created.client.client_id, "client_secret": created.secret,
            "issuer": settings.base_url.rstrip("/"),
            "discovery": f"{settings.base_url.rstrip('/')}/.well-known/openid-configuration"}
    emit(as_json, data, "\n".join(f"{key}: {value}" for key, value in data.items() if value))


def _listed(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """A repeated option: not given means no restriction."""
    return values or None


@main.group("saml-sp")
def saml_sp() -> None:
    """Manage SAML service providers."""


@saml_sp.command("add")
@click.option("--tenant", "tenant_id", required=True, help="The tenant's id (servicekonto tenant create).")
@click.option("--metadata", "source", required=True, metavar="FILE_OR_URL",
              help="The SP's metadata: a file, or an https URL (http://127.0.0.1 in a test system).")
@click.option("--signature-algorithm", type=click.Choice(["rsa-pss-sha256", "rsa-sha256"]), default=None,
              help="Sign this SP's assertions and logout responses with this algorithm, whatever its metadata "
                   "declare.")
@click.option("--encryption", type=click.Choice(["aes256-gcm+rsa-oaep", "aes256-cbc+rsa-oaep-mgf1p"]), default=None,
              help="Encrypt this SP's assertions with these algorithms, whatever its metadata declare.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def saml_sp_add(tenant_id: str, source: str, signature_algorithm: str | None, encryption: str | None,
                as_json: bool) -> None:
    """Register a SAML service provider from its metadata, checked against BundID's rules (https entityID
    without port, no validUntil, no ID, an HTTP-POST AssertionConsumerService, signing and encryption
    certificates). Unsigned metadata are accepted: the operator vouches for the file or URL. Metadata from a
    URL are fetched again by `servicekonto maintenance`."""
    from servicekonto.domain.saml_sp import MAX_METADATA_BYTES, SpMetadataUnavailable
    from servicekonto.protocols.saml.response import ENCRYPTION_OVERRIDES, SIGNATURE_OVERRIDES, choose_algorithms
    from servicekonto.protocols.saml.sp_metadata import is_url, too_large

    settings = load_settings()
    metadata: bytes | None = None
    if not is_url(source):
        try:
            with Path(source).open("rb") as fh:
                metadata = fh.read(MAX_METADATA_BYTES + 1)
        except OSError as exc:
            raise SpMetadataUnavailable(f"{source}: {exc.strerror or type(exc).__name__}") from None
        if len(metadata) > MAX_METADATA_BYTES:
            raise too_large(MAX_METADATA_BYTES)
    with container_for(settings) as container:
        admin = container.admin
        sp = admin.add_saml_sp(
            admin.command_line(), tenant_id, metadata_xml=metadata, metadata_url=source if metadata is None else None,
            signing_methods=SIGNATURE_OVERRIDES[signature_algorithm] if signature_algorithm else None,
            encryption_methods=ENCRYPTION_OVERRIDES[encryption] if encryption else None)
    base = settings.base_url.rstrip("/")
    data = {"entity_id": sp.entity_id, "name": sp.name, "tenant_id": sp.tenant_id,
            "idp_metadata": f"{base}/saml/metadata"}
    if signature_algorithm or encryption:  # the override, as it will be applied
        chosen = choose_algorithms(sp)
        data.update({"signature_algorithm": chosen.signature, "encryption": chosen.encryption.content,
                     "key_transport": chosen.encryption.key_transport})
    emit(as_json, data, "\n".join(f"{key}: {value}" for key, value in data.items()))


@main.group()
def keys() -> None:
    """Manage the signing and encryption keys."""


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def keys_rotate(as_json: bool) -> None:
    """Create new keys; the retired ones stay published until what they signed has expired."""
    settings = load_settings()
    with container_for(settings) as container:
        rotated = container.keys.rotate()
    emit(as_json, {"kids": rotated}, "\n".join(rotated))


@main.group("service-role")
def service_role() -> None:
    """Manage the roles a tenant's services define for organisation accounts."""


@service_role.command("add")
@click.option("--tenant", "tenant_id", required=True, help="The tenant's id.")
@click.option("--service", "service_id", required=True, help="The service: OIDC client_id or SAML entityID.")
@click.option("--role", "name", required=True, help="The role's name, e.g. antragsteller.")
@click.option("--label", default="", help="What organisation admins read (default: the name).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def service_role_add(tenant_id: str, service_id: str, name: str, label: str, as_json: bool) -> None:
    """Define a role for one of the tenant's services (idempotent)."""
    settings = load_settings()
    with container_for(settings) as container:
        role = container.organisations.define_service_role(container.admin.command_line(), tenant_id, service_id,
                                                           name, label)
    emit(as_json, {"tenant_id": role.tenant_id, "service_id": role.service_id, "name": role.name,
                   "label": role.label}, f"{role.service_id}: {role.name} ({role.label})")
