"""OrganisationRepository on SQLAlchemy. The rule "an organisation never ends without an admin" is checked
in the same transaction as the write that could break it, with the organisation's row locked first
(SELECT … FOR UPDATE on PostgreSQL; SQLite serialises writers anyway), so two admins demoting or removing
each other at once cannot both win. Membership reads (the login's "acting for") are point queries by the
(organisation_id, account_id) key and the account_id index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.organisations import (
    Invitation,
    Member,
    Membership,
    Organisation,
    OrganisationRole,
    ServiceRole,
)
from servicekonto.persistence import models
from servicekonto.persistence.database import Database

_ORG = models.Organisation
_MEMBER = models.OrganisationMember
_ROLE = models.OrganisationMemberRole
_INVITATION = models.OrganisationInvitation
_SERVICE_ROLE = models.ServiceRole


def _organisation(row: models.Organisation) -> Organisation:
    return Organisation(
        id=str(row.id), name=row.name, legal_form=row.legal_form, register_type=row.register_type,
        register_court=row.register_court, register_number=row.register_number, street_address=row.street_address,
        postal_code=row.postal_code, locality=row.locality, country=row.country, contact_email=row.contact_email,
        contact_phone=row.contact_phone, source=AttributeSource(row.source), created_at=row.created_at,
        verified_at=row.verified_at, verified_by=str(row.verified_by) if row.verified_by else None,
        verification_note=row.verification_note)


def _values(organisation: Organisation) -> dict[str, Any]:
    return {"name": organisation.name, "legal_form": organisation.legal_form,
            "register_type": organisation.register_type, "register_court": organisation.register_court,
            "register_number": organisation.register_number, "street_address": organisation.street_address,
            "postal_code": organisation.postal_code, "locality": organisation.locality,
            "country": organisation.country, "contact_email": organisation.contact_email,
            "contact_phone": organisation.contact_phone, "source": organisation.source.value,
            "created_at": organisation.created_at, "verified_at": organisation.verified_at,
            "verified_by": parse_uuid(organisation.verified_by) if organisation.verified_by else None,
            "verification_note": organisation.verification_note}


def _invitation(row: models.OrganisationInvitation) -> Invitation:
    return Invitation(id=str(row.id), organisation_id=str(row.organisation_id), email=row.email,
                      role=OrganisationRole(row.role), invited_by=str(row.invited_by) if row.invited_by else None,
                      created_at=row.created_at, expires_at=row.expires_at, used_at=row.used_at)


def _service_roles(session: Session, organisation: uuid.UUID, account: uuid.UUID) -> frozenset[tuple[str, str]]:
    return frozenset((r.service_id, r.role) for r in session.execute(
        select(_ROLE.service_id, _ROLE.role).where(_ROLE.organisation_id == organisation,
                                                   _ROLE.account_id == account)))


def _lock(session: Session, organisation: uuid.UUID) -> bool:
    """Serialise changes to one organisation's members (PostgreSQL row lock; a no-op on SQLite)."""
    return session.scalar(select(_ORG.id).where(_ORG.id == organisation).with_for_update()) is not None


def _admins(session: Session, organisation: uuid.UUID) -> set[uuid.UUID]:
    return set(session.scalars(select(_MEMBER.account_id).where(
        _MEMBER.organisation_id == organisation, _MEMBER.role == OrganisationRole.ADMIN.value)))


class SqlOrganisationRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- OrganisationMemberships (the login reads these) ------------------------------------------------------

    def memberships_of(self, account_id: str) -> Sequence[Membership]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        with self._db.sessions() as session:
            rows = session.execute(select(_ORG, _MEMBER.role, _MEMBER.joined_at)
                                   .join(_MEMBER, _MEMBER.organisation_id == _ORG.id)
                                   .where(_MEMBER.account_id == account).order_by(_ORG.name, _ORG.id)).all()
            roles: dict[uuid.UUID, set[tuple[str, str]]] = {}
            for row in session.execute(select(_ROLE.organisation_id, _ROLE.service_id, _ROLE.role)
                                       .where(_ROLE.account_id == account)):
                roles.setdefault(row.organisation_id, set()).add((row.service_id, row.role))
            return [Membership(organisation=_organisation(org), account_id=account_id, role=OrganisationRole(role),
                               service_roles=frozenset(roles.get(org.id, ())), joined_at=joined)
                    for org, role, joined in rows]

    def membership(self, organisation_id: str, account_id: str) -> Membership | None:
        organisation, account = parse_uuid(organisation_id), parse_uuid(account_id)
        if organisation is None or account is None:
            return None
        with self._db.sessions() as session:
            row = session.execute(select(_ORG, _MEMBER.role, _MEMBER.joined_at)
                                  .join(_MEMBER, _MEMBER.organisation_id == _ORG.id)
                                  .where(_MEMBER.organisation_id == organisation,
                                         _MEMBER.account_id == account)).first()
            if row is None:
                return None
            return Membership(organisation=_organisation(row[0]), account_id=account_id,
                              role=OrganisationRole(row[1]), joined_at=row[2],
                              service_roles=_service_roles(session, organisation, account))

    # -- the organisation -----------------------------------------------------------------------------------

    def add(self, organisation: Organisation, *, founder_id: str) -> None:
        key = uuid.UUID(organisation.id)
        with self._db.transaction() as session:
            session.add(_ORG(id=key, **_values(organisation)))
            session.flush()
            session.add(_MEMBER(organisation_id=key, account_id=uuid.UUID(founder_id),
                                role=OrganisationRole.ADMIN.value, joined_at=organisation.created_at))

    def get(self, organisation_id: str) -> Organisation | None:
        key = parse_uuid(organisation_id)
        if key is None:
            return None
        with self._db.sessions() as session:
            row = session.get(_ORG, key)
            return _organisation(row) if row is not None else None

    def update(self, organisation: Organisation) -> None:
        values = _values(organisation)
        del values["created_at"]
        with self._db.transaction() as session:
            session.execute(update(_ORG).where(_ORG.id == uuid.UUID(organisation.id)).values(**values))

    def delete(self, organisation_id: str) -> bool:
        key = parse_uuid(organisation_id)
        if key is None:
            return False
        with self._db.transaction() as session:
            result = session.execute(delete(_ORG).where(_ORG.id == key))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def all(self, *, limit: int = 500) -> Sequence[Organisation]:
        with self._db.sessions() as session:
            return [_organisation(r) for r in session.scalars(select(_ORG).order_by(_ORG.name, _ORG.id).limit(limit))]

    # -- members --------------------------------------------------------------------------------------------

    def members(self, organisation_id: str) -> Sequence[Member]:
        key = parse_uuid(organisation_id)
        if key is None:
            return []
        with self._db.sessions() as session:
            rows = session.execute(select(_MEMBER.account_id, _MEMBER.role, _MEMBER.joined_at,
                                          models.Account.username)
                                   .join(models.Account, models.Account.id == _MEMBER.account_id)
                                   .where(_MEMBER.organisation_id == key)
                                   .order_by(_MEMBER.joined_at, models.Account.username)).all()
            roles: dict[uuid.UUID, set[tuple[str, str]]] = {}
            for row in session.execute(select(_ROLE.account_id, _ROLE.service_id, _ROLE.role)
                                       .where(_ROLE.organisation_id == key)):
                roles.setdefault(row.account_id, set()).add((row.service_id, row.role))
            return [Member(account_id=str(r.account_id), username=r.username, role=OrganisationRole(r.role),
                           service_roles=frozenset(roles.get(r.account_id, ())), joined_at=r.joined_at)
                    for r in rows]

    def add_member(self, organisation_id: str, account_id: str, role: OrganisationRole, *, now: datetime) -> bool:
        try:
            with self._db.transaction() as session:
                session.add(_MEMBER(organisation_id=uuid.UUID(organisation_id), account_id=uuid.UUID(account_id),
                                    role=role.value, joined_at=now))
        except IntegrityError:
            return False
        return True

    def set_role(self, organisation_id: str, account_id: str, role: OrganisationRole, *,
                 keep_an_admin: bool = True) -> bool:
        organisation, account = uuid.UUID(organisation_id), uuid.UUID(account_id)
        with self._db.transaction() as session:
            if not _lock(session, organisation):
                return False
            admins = _admins(session, organisation)
            if keep_an_admin and role is not OrganisationRole.ADMIN and admins <= {account}:
                return False
            result = session.execute(update(_MEMBER).where(_MEMBER.organisation_id == organisation,
                                                           _MEMBER.account_id == account).values(role=role.value))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def remove_member(self, organisation_id: str, account_id: str) -> bool:
        organisation, account = uuid.UUID(organisation_id), uuid.UUID(account_id)
        with self._db.transaction() as session:
            if not _lock(session, organisation):
                return False
            if _admins(session, organisation) <= {account}:
                return False
            session.execute(delete(_ROLE).where(_ROLE.organisation_id == organisation, _ROLE.account_id == account))
            result = session.execute(delete(_MEMBER).where(_MEMBER.organisation_id == organisation,
                                                           _MEMBER.account_id == account))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def member_count(self, organisation_id: str) -> int:
        key = parse_uuid(organisation_id)
        if key is None:
            return 0
        with self._db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(_MEMBER)
                                      .where(_MEMBER.organisation_id == key)) or 0)

    def set_service_roles(self, organisation_id: str, account_id: str, roles: frozenset[tuple[str, str]]) -> None:
        organisation, account = uuid.UUID(organisation_id), uuid.UUID(account_id)
        with self._db.transaction() as session:
            session.execute(delete(_ROLE).where(_ROLE.organisation_id == organisation, _ROLE.account_id == account))
            for service_id, role in sorted(roles):
                session.add(_ROLE(organisation_id=organisation, account_id=account, service_id=service_id, role=role))

    # -- invitations ----------------------------------------------------------------------------------------

    def add_invitation(self, invitation: Invitation, token_hash: str) -> None:
        with self._db.transaction() as session:
            session.add(_INVITATION(
                id=uuid.UUID(invitation.id), organisation_id=uuid.UUID(invitation.organisation_id),
                token_hash=token_hash, email=invitation.email, role=invitation.role.value,
                invited_by=parse_uuid(invitation.invited_by) if invitation.invited_by else None,
                created_at=invitation.created_at, expires_at=invitation.expires_at, used_at=None))

    def invitation(self, token_hash: str) -> Invitation | None:
        with self._db.sessions() as session:
            row = session.scalar(select(_INVITATION).where(_INVITATION.token_hash == token_hash))
            return _invitation(row) if row is not None else None

    def use_invitation(self, invitation_id: str, *, now: datetime) -> bool:
        with self._db.transaction() as session:
            result = session.execute(update(_INVITATION).where(_INVITATION.id == uuid.UUID(invitation_id),
                                                               _INVITATION.used_at.is_(None),
                                                               _INVITATION.expires_at > now)
                                     .values(used_at=now))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def open_invitations(self, organisation_id: str, *, now: datetime) -> Sequence[Invitation]:
        key = parse_uuid(organisation_id)
        if key is None:
            return []
        with self._db.sessions() as session:
            return [_invitation(r) for r in session.scalars(
                select(_INVITATION).where(_INVITATION.organisation_id == key, _INVITATION.used_at.is_(None),
                                          _INVITATION.expires_at > now).order_by(_INVITATION.created_at))]

    def withdraw_invitation(self, organisation_id: str, invitation_id: str) -> bool:
        organisation, invitation = parse_uuid(organisation_id), parse_uuid(invitation_id)
        if organisation is None or invitation is None:
            return False
        with self._db.transaction() as session:
            result = session.execute(delete(_INVITATION).where(_INVITATION.id == invitation,
                                                               _INVITATION.organisation_id == organisation))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- service roles --------------------------------------------------------------------------------------

    def service_roles(self, service_ids: Sequence[str]) -> Sequence[ServiceRole]:
        if not service_ids:
            return []
        with self._db.sessions() as session:
            return [ServiceRole(tenant_id=str(r.tenant_id), service_id=r.service_id, name=r.name, label=r.label)
                    for r in session.scalars(select(_SERVICE_ROLE).where(_SERVICE_ROLE.service_id.in_(service_ids))
                                             .order_by(_SERVICE_ROLE.service_id, _SERVICE_ROLE.name))]

    def service_roles_of_tenant(self, tenant_id: str) -> Sequence[ServiceRole]:
        key = parse_uuid(tenant_id)
        if key is None:
            return []
        with self._db.sessions() as session:
            return [ServiceRole(tenant_id=str(r.tenant_id), service_id=r.service_id, name=r.name, label=r.label)
                    for r in session.scalars(select(_SERVICE_ROLE).where(_SERVICE_ROLE.tenant_id == key)
                                             .order_by(_SERVICE_ROLE.service_id, _SERVICE_ROLE.name))]

    def all_service_roles(self) -> Sequence[ServiceRole]:
        with self._db.sessions() as session:
            return [ServiceRole(tenant_id=str(r.tenant_id), service_id=r.service_id, name=r.name, label=r.label)
                    for r in session.scalars(select(_SERVICE_ROLE).order_by(_SERVICE_ROLE.service_id,
                                                                            _SERVICE_ROLE.name))]

    def add_service_role(self, role: ServiceRole) -> bool:
        try:
            with self._db.transaction() as session:
                session.add(_SERVICE_ROLE(service_id=role.service_id, name=role.name,
                                          tenant_id=uuid.UUID(role.tenant_id), label=role.label))
        except IntegrityError:
            return False
        return True

    def remove_service_role(self, service_id: str, name: str) -> bool:
        with self._db.transaction() as session:
            session.execute(delete(_ROLE).where(_ROLE.service_id == service_id, _ROLE.role == name))
            result = session.execute(delete(_SERVICE_ROLE).where(_SERVICE_ROLE.service_id == service_id,
                                                                 _SERVICE_ROLE.name == name))
            return bool(result.rowcount)  # type: ignore[attr-defined]
