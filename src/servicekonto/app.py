"""Composition root: `create_app(settings)` builds adapters, services, routes and middleware.

Nothing else in the package reads configuration or picks an adapter; `app_from_environment()` is the
factory uvicorn's workers call.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from servicekonto.core.clock import Clock, SystemClock
from servicekonto.core.crypto import derive_key
from servicekonto.core.logging import configure_logging
from servicekonto.domain.ports import AccountRepository, EphemeralStore, Mailer
from servicekonto.domain.trust import DEFAULT_SESSION_LIMITS, SessionLimits, TrustLevel
from servicekonto.eid.connector import Tr03130EidServer
from servicekonto.eid.simulator.server import SOAP_PATH, SimulatedEidServer
from servicekonto.mail import make_mailer
from servicekonto.persistence.accounts import SqlAccountRepository
from servicekonto.persistence.admins import SqlAdminStore, SqlRoleRepository
from servicekonto.persistence.async_ephemeral import AsyncRedisReader
from servicekonto.persistence.audit import SqlAuditLog
from servicekonto.persistence.database import Database
from servicekonto.persistence.eid_cards import SqlEidCardRepository
from servicekonto.persistence.ephemeral import make_ephemeral_store
from servicekonto.persistence.keys import SqlKeyRepository
from servicekonto.persistence.oidc import SqlConsentRepository, SqlGrantRepository, SqlOidcClientRepository
from servicekonto.persistence.organisations import SqlOrganisationRepository
from servicekonto.persistence.passkeys import SqlPasskeyRepository
from servicekonto.persistence.privacy import SqlAccountData
from servicekonto.persistence.saml import SqlSamlServiceProviderRepository
from servicekonto.persistence.second_factors import SqlSecondFactorRepository
from servicekonto.persistence.tenants import SqlTenantRepository
from servicekonto.persistence.transfers import SqlTransferLog
from servicekonto.protocols.fetch import fetch_jwks
from servicekonto.protocols.oidc.backchannel import BackchannelSender
from servicekonto.protocols.oidc.discovery import metadata_bytes as oidc_metadata_bytes
from servicekonto.protocols.oidc.provider import OpenIdProvider
from servicekonto.protocols.saml.idp import SamlIdentityProvider
from servicekonto.protocols.saml.idp_metadata import IdpMetadata
from servicekonto.protocols.saml.sp_metadata import fetch_sp_metadata, read_sp_metadata
from servicekonto.services.accounts import AccountService
from servicekonto.services.admin import AdminService
from servicekonto.services.audit import Auditor
from servicekonto.services.auth_requests import AuthRequestStore
from servicekonto.services.authentication import PasswordAuthenticator
from servicekonto.services.eid import EidService
from servicekonto.services.flows import FlowStore
from servicekonto.services.keys import KeyService
from servicekonto.services.mail import MailComposer
from servicekonto.services.oidc_clients import OidcClientService
from servicekonto.services.organisations import OrganisationService, tenant_services
from servicekonto.services.passkeys import PASSKEY_THROTTLE, PasskeyService
from servicekonto.services.passwords import PasswordHasher
from servicekonto.services.privacy import PrivacyService
from servicekonto.services.release import ReleaseService
from servicekonto.services.saml_sps import SamlSpService
from servicekonto.services.second_factor import SECOND_FACTOR_THROTTLE, SecondFactorService
from servicekonto.services.sessions import SessionService
from servicekonto.services.tenants import TenantService
from servicekonto.services.throttle import LoginThrottle
from servicekonto.services.tokens import TokenService
from servicekonto.services.transfers import TransferService
from servicekonto.settings import Settings, load_settings
from servicekonto.web import (
    account_pages,
    consent_pages,
    console_pages,
    data_pages,
    dev_pages,
    eid_pages,
    eid_simulator_pages,
    errors,
    health,
    oidc_routes,
    organisation_console_pages,
    organisation_pages,
    pages,
    passkey_pages,
    saml_routes,
    settings_pages,
)
from servicekonto.web import keys as key_routes
from servicekonto.web.components import Components
from servicekonto.web.management_api import create_api
from servicekonto.web.metrics import Metrics
from servicekonto.web.prebuilt import PrebuiltFront, PrebuiltJson
from servicekonto.web.request_context import RequestContextMiddleware
from servicekonto.web.routing import IndexedRouter
from servicekonto.web.templating import TEMPLATE_DIR, Templates

SITE_NAME = "Servicekonto"


@dataclass
class Container:
    """Everything a process holds: adapters and services, built once from the settings."""

    settings: Settings
    clock: Clock
    database: Database
    ephemeral: EphemeralStore
    tenants: TenantService
    keys: KeyService
    mailer: Mailer
    account_repository: AccountRepository
    auditor: Auditor
    sessions: SessionService
    flows: FlowStore
    authenticator: PasswordAuthenticator
    accounts: AccountService
    csrf_key: bytes
    oidc_clients: OidcClientService
    release: ReleaseService
    auth_requests: AuthRequestStore
    oidc: OpenIdProvider
    saml_sps: SamlSpService
    saml_metadata: IdpMetadata
    saml: SamlIdentityProvider
    second_factors: SecondFactorService
    passkeys: PasskeyService | None = None
    eid: EidService | None = None
    eid_simulator: SimulatedEidServer | None = None
    transfers: TransferService | None = None
    privacy: PrivacyService | None = None
    admin: AdminService | None = None
    organisations: OrganisationService | None = None
    loop_reads: AsyncRedisReader | None = None  # the hot OIDC endpoints' Redis reads on the event loop

    def close(self) -> None:
        if self.oidc.backchannel is not None:
            self.oidc.backchannel.close()
        self.database.dispose()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    database = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    ephemeral = make_ephemeral_store(settings=settings, database=database, clock=clock)
    secret = settings.deployment_secret()
    mailer = make_mailer(settings, clock=clock)
    mails = MailComposer(mailer=mailer, site_name=SITE_NAME, base_url=settings.base_url)
    account_repository = SqlAccountRepository(database)
    auditor = Auditor(log=SqlAuditLog(database), clock=clock)
    hasher = PasswordHasher(concurrency=settings.password_hash_concurrency)
    throttle = LoginThrottle(store=ephemeral, clock=clock, key=derive_key(secret, "servicekonto/throttle/v1"))
    authenticator = PasswordAuthenticator(accounts=account_repository, hasher=hasher, throttle=throttle,
                                          auditor=auditor, mails=mails, clock=clock, base_url=settings.base_url)
    accounts = AccountService(
        accounts=account_repository, hasher=hasher,
        tokens=TokenService(store=ephemeral, key=derive_key(secret, "servicekonto/tokens/v1")),
        mails=mails, auditor=auditor, throttle=throttle, authenticator=authenticator, store=ephemeral, clock=clock,
        base_url=settings.base_url)
    second_factors = SecondFactorService(
        factors=SqlSecondFactorRepository(database), authenticator=authenticator,
        throttle=LoginThrottle(store=ephemeral, clock=clock, key=derive_key(secret, "servicekonto/throttle-2fa/v1"),
                               policy=SECOND_FACTOR_THROTTLE),
        auditor=auditor, mails=mails, store=ephemeral, clock=clock,
        seal_key=derive_key(secret, "servicekonto/second-factors/seal/v1"),
        code_key=derive_key(secret, "servicekonto/second-factors/codes/v1"), issuer=SITE_NAME,
        base_url=settings.base_url)
    base = urlsplit(settings.base_url)
    passkeys = PasskeyService(
        passkeys=SqlPasskeyRepository(database), accounts=account_repository, authenticator=authenticator,
        throttle=LoginThrottle(store=ephemeral, clock=clock, policy=PASSKEY_THROTTLE,
                               key=derive_key(secret, "servicekonto/throttle-passkey/v1")),
        auditor=auditor, mails=mails, store=ephemeral, clock=clock,
        key=derive_key(secret, "servicekonto/passkeys/v1"), rp_id=base.hostname or "localhost", rp_name=SITE_NAME,
        origin=f"{base.scheme}://{base.netloc}", base_url=settings.base_url)
    tenant_repository = SqlTenantRepository(database)
    keys = KeyService(
        keys=SqlKeyRepository(database),
        secret=secret,
        clock=clock,
        issuer_host=urlsplit(settings.base_url).hostname or "localhost",
        publish_seconds=settings.key_publish_seconds,
        cache_seconds=settings.keys_cache_seconds,
    )
    oidc_clients = OidcClientService(clients=SqlOidcClientRepository(database), tenants=tenant_repository,
                                     clock=clock, key=derive_key(secret, "servicekonto/client-secrets/v1"),
                                     test_system=settings.is_test_system)
    release = ReleaseService(consents=SqlConsentRepository(database), accounts=account_repository, auditor=auditor,
                             pseudonym_key=derive_key(secret, "servicekonto/pseudonyms/v1"), clock=clock)
    oidc = OpenIdProvider(issuer=settings.base_url.rstrip("/"), clients=oidc_clients,
                          grants=SqlGrantRepository(database), accounts=account_repository, release=release,
                          store=ephemeral, keys=keys, auditor=auditor, clock=clock,
                          key=derive_key(secret, "servicekonto/oidc/v1"), backchannel=BackchannelSender())
    loop_reads = None
    if database.async_statements is not None and settings.redis_url:  # opened by create_app's lifespan
        loop_reads = AsyncRedisReader(settings.redis_url, prefix=settings.redis_prefix)
        oidc.read_on_loop(store=loop_reads, grants=SqlGrantRepository(database))
    saml_metadata = IdpMetadata(keys=keys, base_url=settings.base_url, site_name=SITE_NAME)
    saml_sps = SamlSpService(sps=SqlSamlServiceProviderRepository(database), tenants=tenant_repository,
                             read_metadata=partial(read_sp_metadata, test_system=settings.is_test_system),
                             clock=clock)
    eid, eid_simulator = build_eid(settings, database=database, ephemeral=ephemeral, accounts=account_repository,
                                   auditor=auditor, clock=clock, secret=secret)
    if eid is not None:
        release.use_card_pseudonyms(eid.card_pseudonym)
    transfer_log = SqlTransferLog(database)
    release.record_transfers(transfer_log)
    release.use_organisations(SqlOrganisationRepository(database))
    transfers = TransferService(log=transfer_log, clock=clock, retention_days=settings.transfer_retention_days)
    privacy = PrivacyService(data=SqlAccountData(database), consents=SqlConsentRepository(database),
                             clients=oidc_clients, saml_sps=saml_sps, auditor=auditor, mails=mails, clock=clock,
                             device_key=derive_key(secret, "servicekonto/devices/v1"), base_url=settings.base_url)
    organisations = OrganisationService(
        organisations=SqlOrganisationRepository(database), mails=mails, auditor=auditor, clock=clock,
        token_key=derive_key(secret, "servicekonto/organisations/invitations/v1"), base_url=settings.base_url,
        tenant_services=tenant_services(oidc_clients, saml_sps), transfers=transfer_log)
    accounts.before_deletion(organisations.before_account_deletion)
    return Container(
        loop_reads=loop_reads,
        organisations=organisations,
        eid=eid,
        eid_simulator=eid_simulator,
        settings=settings,
        clock=clock,
        database=database,
        ephemeral=ephemeral,
        tenants=TenantService(tenants=tenant_repository, clock=clock),
        keys=keys,
        mailer=mailer,
        account_repository=account_repository,
        auditor=auditor,
        sessions=SessionService(store=ephemeral, accounts=account_repository, clock=clock,
                                key=derive_key(secret, "servicekonto/sessions/v1"),
                                limits=session_limits(settings), sid_of=oidc.session_hash),
        flows=FlowStore(store=ephemeral, clock=clock, key=derive_key(secret, "servicekonto/flows/v1")),
        authenticator=authenticator,
        accounts=accounts,
        csrf_key=derive_key(secret, "servicekonto/csrf/v1"),
        oidc_clients=oidc_clients,
        release=release,
        auth_requests=AuthRequestStore(store=ephemeral, clock=clock),
        oidc=oidc,
        saml_sps=saml_sps,
        saml_metadata=saml_metadata,
        saml=SamlIdentityProvider(sps=saml_sps, metadata=saml_metadata, keys=keys, store=ephemeral, clock=clock,
                                  key=derive_key(secret, "servicekonto/saml/v1")),
        second_factors=second_factors,
        passkeys=passkeys,
        transfers=transfers,
        privacy=privacy,
        admin=AdminService(roles=SqlRoleRepository(database), store=SqlAdminStore(database), tenants=tenant_repository,
                           accounts=account_repository, oidc_clients=oidc_clients, saml_sps=saml_sps, auditor=auditor,
                           clock=clock, fetch_metadata=partial(fetch_sp_metadata, test_system=settings.is_test_system),
                           test_system=settings.is_test_system, min_trust_level=settings.admin_min_trust_level,
                           fetch_jwks=partial(fetch_jwks, test_system=settings.is_test_system), ephemeral=ephemeral),
    )


def build_eid(settings: Settings, *, database: Database, ephemeral: EphemeralStore, accounts: AccountRepository,
              auditor: Auditor, clock: Clock, secret: bytes) -> tuple[EidService | None, SimulatedEidServer | None]:
    """The eID server connector (to a real server, or over HTTP to our own simulator) and the use cases."""
    backend = settings.effective_eid_backend
    if backend == "none":
        return None, None
    simulator = None
    if backend == "simulator":
        simulator = SimulatedEidServer(store=ephemeral, base_url=settings.base_url)
    url = settings.eid_server_url or settings.base_url.rstrip("/") + SOAP_PATH
    cert = (settings.eid_tls_cert_file, settings.eid_tls_key_file) \
        if settings.eid_tls_cert_file and settings.eid_tls_key_file else None
    server = Tr03130EidServer(url=url, client_cert=cert, ca_file=settings.eid_server_ca_file)
    service = EidService(server=server, cards=SqlEidCardRepository(database), accounts=accounts, store=ephemeral,
                         auditor=auditor, clock=clock, key=derive_key(secret, "servicekonto/eid/v1"),
                         card_key=derive_key(secret, "servicekonto/eid/cards/v1"))
    return service, simulator


def session_limits(settings: Settings) -> dict[TrustLevel, SessionLimits]:
    limits = dict(DEFAULT_SESSION_LIMITS)
    for level, (absolute, idle) in settings.session_limits.items():
        limits[TrustLevel(level)] = SessionLimits(absolute=absolute, idle=idle)
    return limits


def create_app(settings: Settings, *, container: Container | None = None) -> Starlette:
    container = container or build_container(settings)
    metrics = Metrics()
    readiness = {"database": container.database.ping}
    if settings.redis_url:
        readiness["redis"] = container.ephemeral.ping
    web = Components(
        templates=Templates(site_name=SITE_NAME, is_test_system=settings.is_test_system),
        metrics=metrics,
        readiness_checks=readiness,
        base_url=settings.base_url,
        https=settings.uses_https,
        csrf_key=container.csrf_key,
        services={
            "tenants": container.tenants, "keys": container.keys, "accounts": container.accounts,
            "accounts_repo": container.account_repository, "sessions": container.sessions,
            "flows": container.flows, "authenticator": container.authenticator, "auditor": container.auditor,
            "outbox": getattr(container.mailer, "folder", None) if settings.is_test_system else None,
            "release": container.release, "auth_requests": container.auth_requests, "oidc": container.oidc,
            "oidc_discovery": oidc_metadata_bytes(settings.base_url.rstrip("/")),
            "saml_metadata": container.saml_metadata, "saml": container.saml,
            "second_factors": container.second_factors, "passkeys": container.passkeys,
            "eid": container.eid, "eid_simulator": container.eid_simulator,
            "transfers": container.transfers, "privacy": container.privacy, "admin": container.admin,
            "organisations": container.organisations,
            "eid_simulated": container.eid_simulator is not None, "eid_client_url": settings.eid_client_url,
        },
    )
    routes = [
        *pages.routes,
        *account_pages.routes,
        *passkey_pages.routes,
        *settings_pages.routes,
        *dev_pages.routes,
        *health.routes,
        *key_routes.routes,
        *oidc_routes.routes,
        *saml_routes.routes,
        *consent_pages.routes,
        *data_pages.routes,
        *organisation_pages.routes,
        *organisation_console_pages.routes,
        *console_pages.routes,
        *eid_pages.routes,
        *(container.eid_simulator.routes() + eid_simulator_pages.routes if container.eid_simulator else []),
        Mount("/static", app=StaticFiles(directory=TEMPLATE_DIR.parent / "static"), name="static"),
        *([Mount("/api", app=create_api(admin=container.admin, components=web), name="api")]
          if container.admin is not None else []),
    ]
    router = IndexedRouter(routes)
    documents = {path: route.endpoint for path, route in router.fixed.items()
                 if isinstance(route.endpoint, PrebuiltJson) and {"GET", "HEAD"} <= set(route.methods or ())}
    app = Starlette(
        middleware=[Middleware(PrebuiltFront, documents=documents, metrics=metrics, https=settings.uses_https),
                    Middleware(RequestContextMiddleware, metrics=metrics, https=settings.uses_https,
                               error_response=errors.internal_error_page)],
        exception_handlers=errors.exception_handlers,  # type: ignore[arg-type]
    )
    app.router = router
    app.router.lifespan_context = partial(_lifespan, container)
    app.state.components = web
    app.state.container = container
    return app


@asynccontextmanager
async def _lifespan(container: Container, _app: Starlette) -> AsyncIterator[None]:
    """The async drivers of the hot OIDC endpoints belong to the server's event loop: opened here, closed here."""
    drivers = [d for d in (container.database.async_statements, container.loop_reads) if d is not None]
    for driver in drivers:
        await driver.open()
    try:
        yield
    finally:
        for driver in drivers:
            await driver.close()


def app_from_environment() -> Starlette:
    """The uvicorn factory: each worker process reads and validates the same environment."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """What was built at start lives as long as the process (modules, routes, templates, services): move it
    out of the garbage collector's reach, so that its full collections, triggered by every request's
    short-lived objects, do not walk those ~120,000 objects again and again."""
    gc.collect()
    gc.freeze()
