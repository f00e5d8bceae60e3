"""The citizen's control over their data (issue #8): consents listed and withdrawn, the export of
everything stored (GDPR Art. 15 and 20), and the notice after a login from an unknown device.

Withdrawing an OIDC client's consent revokes that client's live grants for this account (their refresh
tokens stop working at once); the caller hands the revoked grants to the OpenID Provider, which tells
clients that registered for it (Back-Channel Logout 1.0) — services do not speak protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.domain.accounts import Account
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.eid import has_mailbox
from servicekonto.domain.grants import Grant
from servicekonto.domain.ports import ConsentRepository
from servicekonto.domain.privacy import AccountData, KnownDevice
from servicekonto.services.audit import Auditor
from servicekonto.services.mail import MailComposer
from servicekonto.services.oidc_clients import OidcClientService
from servicekonto.services.saml_sps import SamlSpService

EXPORT_FORMAT = "servicekonto-export/1"


@dataclass(frozen=True, slots=True)
class ConsentView:
    service_id: str
    service_name: str
    protocol: str  # "oidc" | "saml" | "" (the service is no longer registered)
    attributes: tuple[str, ...]
    granted_at: datetime


class PrivacyService:
    def __init__(self, *, data: AccountData, consents: ConsentRepository, clients: OidcClientService,
                 saml_sps: SamlSpService, auditor: Auditor, mails: MailComposer, clock: Clock, device_key: bytes,
                 base_url: str) -> None:
        self._data = data
        self._consents = consents
        self._clients = clients
        self._saml_sps = saml_sps
        self._auditor = auditor
        self._mails = mails
        self._clock = clock
        self._device_key = device_key
        self._base = base_url

    # -- consents ---------------------------------------------------------------------------------------

    def _service(self, service_id: str) -> tuple[str, str]:
        client = self._clients.registration(service_id) if len(service_id) <= 64 else None
        if client is not None:
            return client.name, "oidc"
        sp = self._saml_sps.registration(service_id)
        if sp is not None:
            return sp.name, "saml"
        return service_id, ""

    def consents(self, account: Account) -> list[ConsentView]:
        found = []
        for entry in self._data.consents(account.id):
            name, protocol = self._service(entry.service_id)
            found.append(ConsentView(service_id=entry.service_id, service_name=name, protocol=protocol,
                                     attributes=entry.attributes, granted_at=entry.granted_at))
        return found

    def withdraw_consent(self, account: Account, service_id: str) -> tuple[bool, list[Grant]]:
        """(whether there was a consent, the OIDC grants revoked with it). The next login to the service asks
        again; an OIDC client's refresh tokens for this account end now."""
        if not self._consents.revoke(account.id, service_id):
            return False, []
        _name, protocol = self._service(service_id)
        grants = self._data.revoke_grants(account.id, now=self._clock.now(), client_id=service_id) \
            if protocol == "oidc" else []
        self._auditor.record(AuditEvent.CONSENT_WITHDRAWN, account_id=account.id, service=service_id)
        for grant in grants:
            self._auditor.record(AuditEvent.OIDC_GRANT_REVOKED, account_id=account.id, actor=grant.client_id)
        return True, grants

    def live_grants(self, account: Account) -> list[Grant]:
        """Before a deletion: the grants whose clients are to be told (the rows go with the account)."""
        return self._data.live_grants(account.id, now=self._clock.now())

    # -- devices ----------------------------------------------------------------------------------------

    def device_hash(self, device_cookie: str) -> str:
        return keyed_hash(self._device_key, device_cookie)

    def login_from(self, account: Account, device_cookie: str, label: str) -> bool:
        """Remember this browser for the account; mail the owner when it is new and the owner asked for it
        (and it is not the account's very first login). True when the device was new."""
        new = self._data.device_seen(account.id, self.device_hash(device_cookie), label, now=self._clock.now())
        if (new and has_mailbox(account.email) and self._data.new_device_notice(account.id)
                and len(self._data.devices(account.id)) > 1):
            self._mails.send("new_device", to=account.email, locale=account.locale, username=account.username,
                             device=label, sessions_link=f"{self._base}/konto/sitzungen",
                             reset_link=f"{self._base}/passwort-vergessen")
        return new

    def devices(self, account: Account) -> Sequence[KnownDevice]:
        return self._data.devices(account.id)

    def new_device_notice(self, account: Account) -> bool:
        return self._data.new_device_notice(account.id)

    def set_new_device_notice(self, account: Account, enabled: bool) -> None:
        self._data.set_new_device_notice(account.id, enabled, now=self._clock.now())

    # -- export -----------------------------------------------------------------------------------------

    def export(self, account: Account, *, sessions: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Everything stored about the account (GDPR Art. 15, and Art. 20 as machine-readable JSON): the rows
        of every table that holds it, without secrets, plus the live login sessions of the ephemeral store."""
        return {"format": EXPORT_FORMAT, "generated_at": self._clock.now().isoformat(), "account_id": account.id,
                "tables": self._data.export(account.id), "sessions": list(sessions)}
