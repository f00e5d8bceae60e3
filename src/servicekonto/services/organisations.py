"""Organisation accounts (issue #10), the self-service part: create, edit, invite, accept, roles, leave,
remove, dissolve; the operator's verification; the service roles tenants define.

Every use case checks who may do it here, never in the page: a non-member is told the organisation does not
exist (`organisation.not_found`, no enumeration), a member who is no admin gets `organisation.forbidden`.
The rule "an organisation never ends without an admin" is the repository's, checked in the transaction that
writes (domain/organisations.py `OrganisationRepository.set_role` / `remove_member`).

Editing rule (documented in docs/organisations.md): data the operator verified turns back to
self-declared when the organisation changes anything but its contact fields (e-mail, phone) — the evidence
covered the name, the register entry and the address, not how to reach the organisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.i18n import _l
from servicekonto.core.ids import new_uuid, random_token
from servicekonto.domain import normalise
from servicekonto.domain.accounts import Account, canonical_email
from servicekonto.domain.admins import AdminForbidden, Principal, ServiceNotFound
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.organisations import (
    FOUNDER_LEVEL,
    INVITATION_DAYS,
    MAX_NOTE,
    MAX_OPEN_INVITATIONS,
    AlreadyMember,
    FounderLevelTooLow,
    Invitation,
    InvitationForOtherAddress,
    InvitationInvalid,
    LastAdmin,
    LastAdminAccount,
    Member,
    MemberNotFound,
    Membership,
    NotOnlyMember,
    Organisation,
    OrganisationForbidden,
    OrganisationNotFound,
    OrganisationRepository,
    OrganisationRole,
    ServiceRole,
    ServiceRoleUnknown,
    TooManyInvitations,
    VerificationNoteMissing,
    check_organisation,
    check_service_role,
    only_contact_changed,
)
from servicekonto.domain.transfers import Transfer
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor
from servicekonto.services.mail import MailComposer
from servicekonto.services.oidc_clients import OidcClientService
from servicekonto.services.saml_sps import SamlSpService
from servicekonto.services.tenants import TenantNotFound

TRANSFERS_PAGE = 50


class OrganisationTransfers(Protocol):
    """The organisation's history (persistence/transfers.py, the (organisation_id, occurred_at) index)."""

    def of_organisation(self, organisation_id: str, *, offset: int = 0,
                        limit: int = 50) -> tuple[Sequence[Transfer], bool]: ...


# (service id, display name) of a tenant's services: its OIDC clients and SAML SPs (wired in app.py)
TenantServices = Callable[[str], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class AcceptableInvitation:
    invitation: Invitation
    organisation: Organisation


@dataclass(frozen=True, slots=True)
class ServiceWithRoles:
    """A service whose tenant defined roles, with those roles: what an organisation admin can hand out."""

    service_id: str
    name: str
    roles: tuple[ServiceRole, ...]


class OrganisationService:
    def __init__(self, *, organisations: OrganisationRepository, mails: MailComposer, auditor: Auditor,
                 clock: Clock, token_key: bytes, base_url: str, tenant_services: TenantServices,
                 transfers: OrganisationTransfers | None = None) -> None:
        self._orgs = organisations
        self._mails = mails
        self._auditor = auditor
        self._clock = clock
        self._key = token_key
        self._base = base_url.rstrip("/")
        self._tenant_services = tenant_services
        self._transfers = transfers

    # -- reading ----------------------------------------------------------------------------------------------

    def memberships(self, account: Account) -> Sequence[Membership]:
        return self._orgs.memberships_of(account.id)

    def membership(self, account: Account, organisation_id: str) -> Membership:
        """The account's membership, or `organisation.not_found` (also for someone else's organisation)."""
        found = self._orgs.membership(organisation_id, account.id)
        if found is None:
            raise OrganisationNotFound()
        return found

    def _as_admin(self, account: Account, organisation_id: str) -> Membership:
        found = self.membership(account, organisation_id)
        if found.role is not OrganisationRole.ADMIN:
            raise OrganisationForbidden()
        return found

    def members(self, account: Account, organisation_id: str) -> Sequence[Member]:
        """The member list: for the organisation's admins (issue #10)."""
        self._as_admin(account, organisation_id)
        return self._orgs.members(organisation_id)

    def open_invitations(self, account: Account, organisation_id: str) -> Sequence[Invitation]:
        self._as_admin(account, organisation_id)
        return self._orgs.open_invitations(organisation_id, now=self._clock.now())

    def transfers(self, account: Account, organisation_id: str, *, page: int = 1) -> tuple[Sequence[Transfer], bool]:
        """What members released to portals while acting for the organisation: for its admins."""
        self._as_admin(account, organisation_id)
        if self._transfers is None:
            return [], False
        return self._transfers.of_organisation(organisation_id, offset=(max(page, 1) - 1) * TRANSFERS_PAGE,
                                               limit=TRANSFERS_PAGE)

    def assignable_roles(self, account: Account, organisation_id: str) -> Sequence[ServiceWithRoles]:
        """Every service that defines roles, with its roles (admins hand them out)."""
        self._as_admin(account, organisation_id)
        return self._services_with_roles(self._orgs.all_service_roles())

    def _services_with_roles(self, roles: Sequence[ServiceRole]) -> list[ServiceWithRoles]:
        by_service: dict[str, list[ServiceRole]] = {}
        names: dict[str, str] = {}
        for tenant_id in sorted({r.tenant_id for r in roles}):
            names.update(dict(self._tenant_services(tenant_id)))
        for role in roles:
            by_service.setdefault(role.service_id, []).append(role)
        return sorted((ServiceWithRoles(service_id=s, name=names.get(s, s), roles=tuple(r))
                       for s, r in by_service.items()), key=lambda s: (s.name.casefold(), s.service_id))

    # -- the organisation -------------------------------------------------------------------------------------

    def create(self, account: Account, trust_level: TrustLevel, form: dict[str, str]) -> Organisation:
        """Only an identified founder (a session at FOUNDER_LEVEL or above); they become the first admin."""
        if not trust_level.satisfies(FOUNDER_LEVEL):
            raise FounderLevelTooLow()
        clean = check_organisation(form)
        organisation = Organisation(
            id=str(new_uuid()), name=clean["name"] or "", legal_form=clean["legal_form"] or "",
            register_type=clean["register_type"], register_court=clean["register_court"],
            register_number=clean["register_number"], street_address=clean["street_address"] or "",
            postal_code=clean["postal_code"] or "", locality=clean["locality"] or "", country=clean["country"] or "DE",
            contact_email=clean["contact_email"] or "", contact_phone=clean["contact_phone"],
            source=AttributeSource.SELF_DECLARED, created_at=self._clock.now())
        self._orgs.add(organisation, founder_id=account.id)
        self._auditor.record(AuditEvent.ORGANISATION_CREATED, account_id=account.id, organisation_id=organisation.id)
        return organisation

    def edit(self, account: Account, organisation_id: str, form: dict[str, str]) -> list[str]:
        """Admins only. Returns the changed fields. Verified data stays verified only if just the contact
        fields changed."""
        organisation = self._as_admin(account, organisation_id).organisation
        clean = check_organisation(form)
        changed = sorted(f for f, v in clean.items() if getattr(organisation, f) != v)
        if not changed:
            return []
        keep = organisation.source is AttributeSource.OPERATOR and only_contact_changed(organisation, clean)
        updated = replace(organisation, **{f: clean[f] for f in changed})  # type: ignore[arg-type]
        if not keep:
            updated = replace(updated, source=AttributeSource.SELF_DECLARED, verified_at=None, verified_by=None,
                              verification_note=None)
        self._orgs.update(updated)
        self._auditor.record(AuditEvent.ORGANISATION_CHANGED, account_id=account.id, organisation_id=organisation_id,
                             fields=",".join(changed), source=updated.source.value)
        return changed

    def dissolve(self, account: Account, organisation_id: str) -> None:
        """Explicitly, by its admin, and only when no one else is a member (nobody loses their organisation
        without being asked)."""
        self._as_admin(account, organisation_id)
        if any(m.account_id != account.id for m in self._orgs.members(organisation_id)):
            raise NotOnlyMember()
        self._orgs.delete(organisation_id)
        self._auditor.record(AuditEvent.ORGANISATION_DISSOLVED, account_id=account.id,
                             organisation_id=organisation_id)

    # -- invitations ------------------------------------------------------------------------------------------

    def _hash(self, token: str) -> str:
        return keyed_hash(self._key, token)

    def invite(self, account: Account, organisation_id: str, email: str, *, role: str = "member",
               locale: str = "de") -> Invitation:
        """Admins only: a single-use link, valid INVITATION_DAYS days, to the given address; only its keyed hash
        is stored."""
        organisation = self._as_admin(account, organisation_id).organisation
        address = normalise.email("email", email)
        try:
            wanted = OrganisationRole(role)
        except ValueError:
            raise normalise.FieldInvalid("role", _l("Please choose one of the options.")) from None
        now = self._clock.now()
        if len(self._orgs.open_invitations(organisation_id, now=now)) >= MAX_OPEN_INVITATIONS:
            raise TooManyInvitations()
        token = random_token(32)
        invitation = Invitation(id=str(new_uuid()), organisation_id=organisation_id, email=address, role=wanted,
                                invited_by=account.id, created_at=now, expires_at=now + timedelta(days=INVITATION_DAYS))
        self._orgs.add_invitation(invitation, self._hash(token))
        self._mails.send("organisation_invitation", to=address, locale=locale, inviter=account.username,
                         organisation=organisation.name, days=INVITATION_DAYS,
                         link=f"{self._base}/konto/organisationen/einladung/{token}")
        self._auditor.record(AuditEvent.ORGANISATION_INVITATION_SENT, account_id=account.id,
                             organisation_id=organisation_id, invitation_id=invitation.id, role=wanted.value)
        return invitation

    def withdraw_invitation(self, account: Account, organisation_id: str, invitation_id: str) -> None:
        self._as_admin(account, organisation_id)
        if self._orgs.withdraw_invitation(organisation_id, invitation_id):
            self._auditor.record(AuditEvent.ORGANISATION_INVITATION_WITHDRAWN, account_id=account.id,
                                 organisation_id=organisation_id, invitation_id=invitation_id)

    def check_invitation(self, token: str) -> AcceptableInvitation:
        """The invitation behind a link, if it can still be used (shown before accepting)."""
        invitation = self._orgs.invitation(self._hash(token)) if 20 <= len(token) <= 100 else None
        if invitation is None or not invitation.usable(self._clock.now()):
            raise InvitationInvalid()
        organisation = self._orgs.get(invitation.organisation_id)
        if organisation is None:
            raise InvitationInvalid()
        return AcceptableInvitation(invitation=invitation, organisation=organisation)

    def accept(self, account: Account, token: str) -> Membership:
        """By the account of the invited address (compared case-insensitively); the token works once."""
        found = self.check_invitation(token)
        if canonical_email(account.email) != canonical_email(found.invitation.email):
            raise InvitationForOtherAddress()
        if self._orgs.membership(found.organisation.id, account.id) is not None:
            raise AlreadyMember()
        now = self._clock.now()
        if not self._orgs.use_invitation(found.invitation.id, now=now):
            raise InvitationInvalid()  # used in the meantime (two tabs, two people)
        if not self._orgs.add_member(found.organisation.id, account.id, found.invitation.role, now=now):
            raise AlreadyMember()
        self._auditor.record(AuditEvent.ORGANISATION_MEMBER_JOINED, account_id=account.id,
                             organisation_id=found.organisation.id, invitation_id=found.invitation.id,
                             role=found.invitation.role.value)
        return self.membership(account, found.organisation.id)

    # -- members and roles ------------------------------------------------------------------------------------

    def _member(self, organisation_id: str, member_id: str) -> Membership:
        found = self._orgs.membership(organisation_id, member_id)
        if found is None:
            raise MemberNotFound()
        return found

    def set_role(self, account: Account, organisation_id: str, member_id: str, role: str) -> None:
        """Admins only: make a member an admin (grant, or hand over) or a member again; never the last admin."""
        self._as_admin(account, organisation_id)
        member = self._member(organisation_id, member_id)
        try:
            wanted = OrganisationRole(role)
        except ValueError:
            raise normalise.FieldInvalid("role", _l("Please choose one of the options.")) from None
        if member.role is wanted:
            return
        if not self._orgs.set_role(organisation_id, member_id, wanted):
            raise LastAdmin()
        self._auditor.record(AuditEvent.ORGANISATION_ROLE_CHANGED, account_id=account.id,
                             organisation_id=organisation_id, member=member_id, role=wanted.value)

    def transfer_admin(self, account: Account, organisation_id: str, member_id: str) -> None:
        """Hand the admin role over: the other member becomes admin, then this account becomes a member."""
        self.set_role(account, organisation_id, member_id, OrganisationRole.ADMIN.value)
        if member_id != account.id:
            self.set_role(account, organisation_id, account.id, OrganisationRole.MEMBER.value)

    def set_service_roles(self, account: Account, organisation_id: str, member_id: str,
                          roles: Sequence[tuple[str, str]]) -> None:
        """Admins only; each (service id, role) must be one a service defines (service_roles)."""
        self._as_admin(account, organisation_id)
        member = self._member(organisation_id, member_id)
        wanted = frozenset(roles)
        defined = {(r.service_id, r.name) for r in self._orgs.service_roles(sorted({s for s, _ in wanted}))}
        if not wanted <= defined:
            raise ServiceRoleUnknown()
        if wanted == member.service_roles:
            return
        self._orgs.set_service_roles(organisation_id, member_id, wanted)
        self._auditor.record(AuditEvent.ORGANISATION_SERVICE_ROLES_CHANGED, account_id=account.id,
                             organisation_id=organisation_id, member=member_id,
                             roles=" ".join(sorted(r for _, r in wanted))[:500])

    def leave(self, account: Account, organisation_id: str) -> None:
        self.membership(account, organisation_id)
        if not self._orgs.remove_member(organisation_id, account.id):
            raise LastAdmin()
        self._auditor.record(AuditEvent.ORGANISATION_MEMBER_LEFT, account_id=account.id,
                             organisation_id=organisation_id)

    def remove(self, account: Account, organisation_id: str, member_id: str) -> None:
        """Admins only; removing oneself is leaving (the same last-admin rule)."""
        self._as_admin(account, organisation_id)
        self._member(organisation_id, member_id)
        if not self._orgs.remove_member(organisation_id, member_id):
            raise LastAdmin()
        self._auditor.record(AuditEvent.ORGANISATION_MEMBER_REMOVED, account_id=account.id,
                             organisation_id=organisation_id, member=member_id)

    # -- account deletion (a hook of services/accounts.py) ----------------------------------------------------

    def before_account_deletion(self, account: Account) -> None:
        """An account that is the last admin of an organisation with other members hands over first; an
        organisation whose only member it is goes with it."""
        memberships = self._orgs.memberships_of(account.id)
        blocking: list[str] = []
        alone: list[str] = []
        for membership in memberships:
            if membership.role is not OrganisationRole.ADMIN:
                continue
            members = self._orgs.members(membership.organisation.id)
            others = [m for m in members if m.account_id != account.id]
            if not others:
                alone.append(membership.organisation.id)
            elif not any(m.role is OrganisationRole.ADMIN for m in others):
                blocking.append(membership.organisation.name)
        if blocking:
            raise LastAdminAccount(names=", ".join(sorted(blocking)))
        for organisation_id in alone:
            self._orgs.delete(organisation_id)
            self._auditor.record(AuditEvent.ORGANISATION_DISSOLVED, account_id=account.id,
                                 organisation_id=organisation_id, reason="account_deleted")

    # -- the operator -----------------------------------------------------------------------------------------

    def all_organisations(self, principal: Principal) -> Sequence[Organisation]:
        if not principal.operator:
            raise AdminForbidden("operator only")
        return self._orgs.all()

    def verify(self, principal: Principal, organisation_id: str, note: str) -> Organisation:
        """An operator admin saw evidence (e.g. a register extract): the data's source becomes OPERATOR."""
        if not principal.operator:
            raise AdminForbidden("operator only")
        organisation = self._orgs.get(organisation_id)
        if organisation is None:
            raise OrganisationNotFound()
        clean = normalise.clean_text(note)
        if not clean or len(clean) > MAX_NOTE or not clean.isprintable():
            raise VerificationNoteMissing()
        verified = replace(organisation, source=AttributeSource.OPERATOR, verified_at=self._clock.now(),
                           verified_by=principal.id if principal.kind == "account" else None,
                           verification_note=clean)
        self._orgs.update(verified)
        self._auditor.record(AuditEvent.ORGANISATION_VERIFIED, actor=principal.actor, organisation_id=organisation_id)
        return verified

    # -- service roles (tenant admins, operators) -------------------------------------------------------------

    def _tenant_service(self, principal: Principal, tenant_id: str, service_id: str) -> None:
        if not principal.may_manage(tenant_id):  # as for every tenant endpoint (services/admin.py)
            raise TenantNotFound()
        if service_id not in {s for s, _ in self._tenant_services(tenant_id)}:
            raise ServiceNotFound()

    def services_with_roles(self, principal: Principal, tenant_id: str) -> list[ServiceWithRoles]:
        """Every service of the tenant, with the roles it defines (possibly none)."""
        if not principal.may_manage(tenant_id):
            raise TenantNotFound()
        roles: dict[str, list[ServiceRole]] = {}
        for role in self._orgs.service_roles_of_tenant(tenant_id):
            roles.setdefault(role.service_id, []).append(role)
        return [ServiceWithRoles(service_id=s, name=n, roles=tuple(roles.get(s, ())))
                for s, n in self._tenant_services(tenant_id)]

    def service_roles(self, principal: Principal, tenant_id: str, service_id: str) -> Sequence[ServiceRole]:
        self._tenant_service(principal, tenant_id, service_id)
        return self._orgs.service_roles([service_id])

    def define_service_role(self, principal: Principal, tenant_id: str, service_id: str, name: str,
                            label: str = "") -> ServiceRole:
        self._tenant_service(principal, tenant_id, service_id)
        clean_name, clean_label = check_service_role(name, label)
        role = ServiceRole(tenant_id=tenant_id, service_id=service_id, name=clean_name, label=clean_label)
        if self._orgs.add_service_role(role):
            self._auditor.record(AuditEvent.SERVICE_ROLE_ADDED, tenant_id=tenant_id, actor=principal.actor,
                                 service_id=service_id[:200], role=clean_name)
        return role

    def remove_service_role(self, principal: Principal, tenant_id: str, service_id: str, name: str) -> None:
        """The role goes from every member that held it, too."""
        self._tenant_service(principal, tenant_id, service_id)
        if not self._orgs.remove_service_role(service_id, name):
            raise ServiceRoleUnknown()
        self._auditor.record(AuditEvent.SERVICE_ROLE_REMOVED, tenant_id=tenant_id, actor=principal.actor,
                             service_id=service_id[:200], role=name[:64])


def tenant_services(oidc_clients: OidcClientService, saml_sps: SamlSpService) -> TenantServices:
    """(service id, name) of a tenant's OIDC clients and SAML SPs: the services that may define roles."""
    def of(tenant_id: str) -> list[tuple[str, str]]:
        return [*((c.client_id, c.name) for c in oidc_clients.for_tenant(tenant_id)),
                *((sp.entity_id, sp.name) for sp in saml_sps.for_tenant(tenant_id))]

    return of
