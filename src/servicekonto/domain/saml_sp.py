"""SAML service providers (a tenant's portals) and BundID's rules for registering them from their metadata
(BundID Schnittstellenbeschreibung §7.2; egov-interfaces.md §1.2).

The entityID is fixed once registered: its host is the SP's pseudonym sector (DESIGN.md §3), so a new
entityID is a new service with new pseudonyms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from servicekonto.core.errors import Conflict, InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.trust import TrustLevel

SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
MAX_METADATA_BYTES = 1024 * 1024
MAX_ENTITY_ID = 1024  # SAML core §8.3.6: entity identifiers are at most 1024 characters
MAX_NAME = 200
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SpMetadataInvalid(InvalidInput):
    """The detail names the rule that was broken, so the operator knows what to ask the SP to change."""

    code = "saml_sp.invalid"
    message = _l("The SAML metadata of the service provider are not valid.")


class SpMetadataUnavailable(InvalidInput):
    """The file or URL named for the metadata gave nothing usable (missing, unreachable, too large)."""

    code = "saml_sp.metadata_unavailable"
    message = _l("The SAML metadata could not be read.")


class SpAlreadyRegistered(Conflict):
    code = "saml_sp.entity_id_taken"
    message = _l("A SAML service provider with this entityID is already registered.")


@dataclass(frozen=True, slots=True)
class AssertionConsumerService:
    binding: str
    location: str
    index: int
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A SingleLogoutService; `response_location` only when the SP answers elsewhere (SAML metadata §2.2.2)."""

    binding: str
    location: str
    response_location: str | None = None


@dataclass(frozen=True, slots=True)
class SpMetadata:
    """What an SP's metadata say, once they passed every rule."""

    entity_id: str
    name: str
    acs: tuple[AssertionConsumerService, ...]
    slo: tuple[Endpoint, ...]
    signing_certificates: tuple[str, ...]  # PEM
    encryption_certificates: tuple[str, ...]  # PEM
    encryption_methods: tuple[str, ...] = ()  # md:EncryptionMethod of the encryption KeyDescriptors
    signing_methods: tuple[str, ...] = ()  # alg:SigningMethod (SAML V2.0 Metadata Profile for Algorithm Support)
    digest_methods: tuple[str, ...] = ()  # alg:DigestMethod
    want_assertions_signed: bool = False
    authn_requests_signed: bool = False
    metadata_xml: str = ""


@dataclass(frozen=True, slots=True)
class SamlServiceProvider:
    id: str
    entity_id: str
    tenant_id: str
    name: str
    acs: tuple[AssertionConsumerService, ...]
    slo: tuple[Endpoint, ...]
    signing_certificates: tuple[str, ...]
    encryption_certificates: tuple[str, ...]
    encryption_methods: tuple[str, ...] = ()
    signing_methods: tuple[str, ...] = ()
    digest_methods: tuple[str, ...] = ()
    want_assertions_signed: bool = False
    authn_requests_signed: bool = False
    metadata_xml: str = ""  # the original, as the operator supplied it
    created_at: datetime | None = field(default=None, compare=False)
    # per-service settings (issue #7, domain/service_settings.py); None: no restriction
    allowed_attributes: tuple[str, ...] | None = None
    allowed_methods: tuple[str, ...] | None = None
    min_trust_level: TrustLevel = TrustLevel.BASIC
    # metadata registered from a URL are fetched again by `servicekonto maintenance`
    metadata_url: str | None = None
    metadata_fetched_at: datetime | None = field(default=None, compare=False)  # last success
    metadata_checked_at: datetime | None = field(default=None, compare=False)  # last attempt
    metadata_error: str | None = None  # why the last attempt failed (the old metadata stay in use)

    @classmethod
    def registered(cls, metadata: SpMetadata, *, id: str, tenant_id: str,
                   created_at: datetime) -> SamlServiceProvider:
        return cls(id=id, entity_id=metadata.entity_id, tenant_id=tenant_id, name=metadata.name, acs=metadata.acs,
                   slo=metadata.slo, signing_certificates=metadata.signing_certificates,
                   encryption_certificates=metadata.encryption_certificates,
                   encryption_methods=metadata.encryption_methods, signing_methods=metadata.signing_methods,
                   digest_methods=metadata.digest_methods, want_assertions_signed=metadata.want_assertions_signed,
                   authn_requests_signed=metadata.authn_requests_signed, metadata_xml=metadata.metadata_xml,
                   created_at=created_at)

    @property
    def sector(self) -> str:
        """The pseudonym sector: the entityID's host (BundID bPK2, DESIGN.md §3)."""
        return (urlsplit(self.entity_id).hostname or "").lower()

    @property
    def default_acs(self) -> AssertionConsumerService | None:
        """The HTTP-POST endpoint an unaddressed response goes to: the one marked default, else the lowest
        index (SAML metadata §2.2.3)."""
        posts = sorted((acs for acs in self.acs if acs.binding == BINDING_HTTP_POST), key=lambda acs: acs.index)
        return next((acs for acs in posts if acs.is_default), posts[0] if posts else None)


class SpMetadataReader(Protocol):
    """Turns metadata bytes into checked `SpMetadata` or raises `SpMetadataInvalid` (protocols/saml)."""

    def __call__(self, xml: bytes) -> SpMetadata: ...


class SamlServiceProviderRepository(Protocol):
    def add(self, sp: SamlServiceProvider) -> None:
        """Raises Conflict when the entityID is taken."""

    def get(self, entity_id: str) -> SamlServiceProvider | None: ...

    def for_tenant(self, tenant_id: str) -> Sequence[SamlServiceProvider]: ...


def _is_loopback(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS


def check_entity_id(entity_id: str, *, test_system: bool) -> str:
    """https without a port (BundID §7.2); a test system also accepts SPs on this machine (loopback, with
    a port, http or https), for tests and local development."""
    if not entity_id or entity_id != entity_id.strip():
        raise SpMetadataInvalid("the EntityDescriptor needs an entityID without surrounding spaces")
    if len(entity_id) > MAX_ENTITY_ID:
        raise SpMetadataInvalid(f"the entityID is longer than {MAX_ENTITY_ID} characters")
    parts = urlsplit(entity_id)
    try:
        port = parts.port
    except ValueError:
        raise SpMetadataInvalid(f"the entityID {entity_id!r} has an invalid port") from None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise SpMetadataInvalid(f"the entityID {entity_id!r} must be an https URL with a host")
    if test_system and _is_loopback(parts.hostname) and parts.scheme in {"http", "https"}:
        return entity_id
    if parts.scheme != "https":
        raise SpMetadataInvalid(f"the entityID {entity_id!r} must be an https URL")
    if port is not None or parts.netloc.endswith(":"):
        raise SpMetadataInvalid(f"the entityID {entity_id!r} must not name a port")
    return entity_id


def check_endpoint_location(location: str, *, element: str, test_system: bool) -> str:
    """Responses carry personal data: only to https, or to the loopback interface of a test system."""
    parts = urlsplit(location)
    if not parts.hostname or parts.fragment:
        raise SpMetadataInvalid(f"{element} location {location!r} must be an absolute URL without fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and test_system and _is_loopback(parts.hostname)):
        return location
    raise SpMetadataInvalid(f"{element} location {location!r} must be an https URL"
                            + (" (or http on 127.0.0.1/localhost)" if test_system else ""))


def display_name(name: str | None, entity_id: str) -> str:
    """The OrganizationDisplayName, single-spaced and at most 200 characters; else the entityID's host."""
    clean = " ".join((name or "").split())[:MAX_NAME]
    return clean or (urlsplit(entity_id).hostname or entity_id)[:MAX_NAME]
