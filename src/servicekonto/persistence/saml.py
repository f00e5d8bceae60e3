"""SAML service providers on SQLAlchemy. The lookup by entityID (every AuthnRequest and every Response) is one
indexed point query on a statement built once, straight through the driver on PostgreSQL
(persistence/statements.py); lists are JSON text, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from servicekonto.core.errors import Conflict
from servicekonto.domain.saml_sp import MAX_ENTITY_ID, AssertionConsumerService, Endpoint, SamlServiceProvider
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database

_SP = models.SamlServiceProvider
_SP_COLUMNS = [c for c in _SP.__table__.columns]  # type: ignore[attr-defined]
_SP_BY_ENTITY_ID = select(*_SP_COLUMNS).where(_SP.entity_id == bindparam("entity_id"))


def _dump(values: Sequence[object]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _sp(row: Any) -> SamlServiceProvider:
    return SamlServiceProvider(
        id=str(row.id), entity_id=row.entity_id, tenant_id=str(row.tenant_id), name=row.name,
        acs=tuple(AssertionConsumerService(binding=a["binding"], location=a["location"], index=a["index"],
                                           is_default=a["is_default"]) for a in json.loads(row.acs)),
        slo=tuple(Endpoint(binding=e["binding"], location=e["location"], response_location=e["response_location"])
                  for e in json.loads(row.slo)),
        signing_certificates=tuple(json.loads(row.signing_certificates)),
        encryption_certificates=tuple(json.loads(row.encryption_certificates)),
        encryption_methods=tuple(json.loads(row.encryption_methods)),
        signing_methods=tuple(json.loads(row.signing_methods)), digest_methods=tuple(json.loads(row.digest_methods)),
        want_assertions_signed=row.want_assertions_signed, authn_requests_signed=row.authn_requests_signed,
        metadata_xml=row.metadata_xml, created_at=row.created_at,
        allowed_attributes=None if row.allowed_attributes is None else tuple(json.loads(row.allowed_attributes)),
        allowed_methods=None if row.allowed_methods is None else tuple(json.loads(row.allowed_methods)),
        min_trust_level=TrustLevel(row.min_trust_level), metadata_url=row.metadata_url,
        metadata_fetched_at=row.metadata_fetched_at, metadata_checked_at=row.metadata_checked_at,
        metadata_error=row.metadata_error)


class SqlSamlServiceProviderRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, sp: SamlServiceProvider) -> None:
        row = models.SamlServiceProvider(
            id=uuid.UUID(sp.id), entity_id=sp.entity_id, tenant_id=uuid.UUID(sp.tenant_id), name=sp.name,
            acs=_dump([{"binding": a.binding, "location": a.location, "index": a.index, "is_default": a.is_default}
                       for a in sp.acs]),
            slo=_dump([{"binding": e.binding, "location": e.location, "response_location": e.response_location}
                       for e in sp.slo]),
            signing_certificates=_dump(sp.signing_certificates),
            encryption_certificates=_dump(sp.encryption_certificates),
            encryption_methods=_dump(sp.encryption_methods), signing_methods=_dump(sp.signing_methods),
            digest_methods=_dump(sp.digest_methods), want_assertions_signed=sp.want_assertions_signed,
            authn_requests_signed=sp.authn_requests_signed, metadata_xml=sp.metadata_xml, created_at=sp.created_at,
            allowed_attributes=None if sp.allowed_attributes is None else _dump(sp.allowed_attributes),
            allowed_methods=None if sp.allowed_methods is None else _dump(sp.allowed_methods),
            min_trust_level=int(sp.min_trust_level), metadata_url=sp.metadata_url,
            metadata_fetched_at=sp.metadata_fetched_at, metadata_checked_at=sp.metadata_checked_at,
            metadata_error=sp.metadata_error)
        try:
            with self._db.transaction() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict("entityID taken") from None

    def get(self, entity_id: str) -> SamlServiceProvider | None:
        if not entity_id or len(entity_id) > MAX_ENTITY_ID:
            return None
        row = self._db.statements.first(_SP_BY_ENTITY_ID, {"entity_id": entity_id})
        return _sp(row) if row else None

    def for_tenant(self, tenant_id: str) -> Sequence[SamlServiceProvider]:
        try:
            key = uuid.UUID(tenant_id)
        except ValueError:
            return []
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(select(*_SP_COLUMNS).where(_SP.tenant_id == key).order_by(_SP.name)).all()
        return [_sp(row) for row in rows]
