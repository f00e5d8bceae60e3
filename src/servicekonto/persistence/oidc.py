"""OIDC clients, consents and grants on SQLAlchemy. Hot paths (client lookup at every token request, the
refresh token) are single indexed point queries on statements built once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from servicekonto.core.errors import Conflict
from servicekonto.domain.accounts import Account, StoredAttribute
from servicekonto.domain.clients import AccessTokenFormat, GrantType, OidcClient
from servicekonto.domain.grants import Grant, RefreshTokenState
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.accounts import ACCOUNT_COLUMNS, account_of, attribute_of
from servicekonto.persistence.database import Database

_CLIENT = models.OidcClient
_CLIENT_COLUMNS = [c for c in _CLIENT.__table__.columns]  # type: ignore[attr-defined]
_CLIENT_BY_ID = select(*_CLIENT_COLUMNS).where(_CLIENT.client_id == bindparam("client_id"))
_GRANT = models.OidcGrant
_GRANT_COLUMNS = [c for c in _GRANT.__table__.columns]  # type: ignore[attr-defined]
_GRANT_BY_ID = select(*_GRANT_COLUMNS).where(_GRANT.id == bindparam("grant_id"))
_TOKEN = models.OidcRefreshToken
_MARK_USED = (update(_TOKEN).where(_TOKEN.token_hash == bindparam("old_hash"), _TOKEN.used_at.is_(None))
              .values(used_at=bindparam("now")))
_REVOKE = (update(_GRANT).where(_GRANT.id == bindparam("grant_id"), _GRANT.revoked_at.is_(None))
           .values(revoked_at=bindparam("now")))
_INSERT_TOKEN = insert(_TOKEN)
_INSERT_GRANT = insert(_GRANT)
# userinfo's read: the grant, its account and the account's attributes in one round trip (a row per
# attribute, the grant and account columns repeated; an account without attributes gives one row).
_ACCOUNT = models.Account
_ATTR = models.AccountAttribute
_GRANT_WITH_ACCOUNT = (
    select(*_GRANT_COLUMNS, *[c.label(f"acc_{c.key}") for c in ACCOUNT_COLUMNS],
           _ATTR.key.label("attr_key"), _ATTR.value.label("attr_value"), _ATTR.source.label("attr_source"),
           _ATTR.trust_level.label("attr_trust_level"), _ATTR.updated_at.label("attr_updated_at"))
    .join(_ACCOUNT, _ACCOUNT.id == _GRANT.account_id)
    .outerjoin(_ATTR, _ATTR.account_id == _ACCOUNT.id)
    .where(_GRANT.id == bindparam("grant_id")))
_GRANT_OF_TOKEN = (select(*_GRANT_COLUMNS, _TOKEN.used_at, _TOKEN.expires_at.label("token_expires_at"))
                   .join(_TOKEN, _TOKEN.grant_id == _GRANT.id).where(_TOKEN.token_hash == bindparam("token_hash")))
# A refresh token is good only while its grant's account exists (the grant goes with it: ON DELETE CASCADE);
# joined here, that costs no round trip of its own.
_GRANT_OF_TOKEN_WITH_ACCOUNT = _GRANT_OF_TOKEN.join(_ACCOUNT, _ACCOUNT.id == _GRANT.account_id)
# Rotation on PostgreSQL: the old token marked used and its successor added by one statement (atomic on
# its own, one round trip instead of BEGIN, UPDATE, INSERT, COMMIT); no row inserted when the old token was
# used in the meantime.
# The casts name the parameters' types for drivers that prepare the statement before binding (asyncpg).
_ROTATE = text(
    "WITH used AS (UPDATE oidc_refresh_tokens SET used_at = :now"
    " WHERE token_hash = :old_hash AND used_at IS NULL RETURNING grant_id)"
    " INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at, used_at)"
    " SELECT CAST(:new_hash AS VARCHAR), grant_id, CAST(:now AS TIMESTAMP WITH TIME ZONE),"
    " CAST(:expires_at AS TIMESTAMP WITH TIME ZONE), CAST(NULL AS TIMESTAMP WITH TIME ZONE) FROM used")


def _client(row: Any) -> OidcClient:
    return OidcClient(
        id=str(row.id), client_id=row.client_id, tenant_id=str(row.tenant_id), name=row.name,
        secret_hash=row.secret_hash, redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        grant_types=tuple(GrantType(g) for g in json.loads(row.grant_types)), scopes=tuple(json.loads(row.scopes)),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        id_token_signed_response_alg=row.id_token_signed_response_alg,
        userinfo_signed_response_alg=row.userinfo_signed_response_alg,
        access_token_format=AccessTokenFormat(row.access_token_format),
        backchannel_logout_uri=row.backchannel_logout_uri, jwks=row.jwks,
        min_trust_level=TrustLevel(row.min_trust_level), created_at=row.created_at,
        allowed_attributes=_optional_list(row.allowed_attributes), allowed_methods=_optional_list(row.allowed_methods),
        jwks_uri=row.jwks_uri)


def _optional_list(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


def _optional_json(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _grant(row: Any) -> Grant:
    return Grant(id=row.id, client_id=row.client_id, account_id=str(row.account_id), session_hash=row.session_hash,
                 subject=row.subject, scope=row.scope, claims=tuple(json.loads(row.claims)), acr=row.acr,
                 amr=tuple(row.amr.split()), auth_time=row.auth_time, created_at=row.created_at,
                 expires_at=row.expires_at, revoked_at=row.revoked_at,
                 organisation_id=str(row.organisation_id) if row.organisation_id else None)


def _with_account(rows: list[Any]) -> tuple[Grant, Account, list[StoredAttribute]] | None:
    """The rows of _GRANT_WITH_ACCOUNT as the grant, its account and the account's attributes."""
    if not rows:
        return None
    first = rows[0]
    account = account_of(SimpleNamespace(**{c.key: getattr(first, f"acc_{c.key}") for c in ACCOUNT_COLUMNS}))
    attributes = [attribute_of(SimpleNamespace(key=r.attr_key, value=r.attr_value, source=r.attr_source,
                                               trust_level=r.attr_trust_level, updated_at=r.attr_updated_at))
                  for r in rows if r.attr_key is not None]
    return _grant(first), account, attributes


class SqlOidcClientRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, client: OidcClient) -> None:
        row = models.OidcClient(
            id=uuid.UUID(client.id), client_id=client.client_id, tenant_id=uuid.UUID(client.tenant_id),
            name=client.name, secret_hash=client.secret_hash, redirect_uris=json.dumps(list(client.redirect_uris)),
            post_logout_redirect_uris=json.dumps(list(client.post_logout_redirect_uris)),
            grant_types=json.dumps([g.value for g in client.grant_types]), scopes=json.dumps(list(client.scopes)),
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            id_token_signed_response_alg=client.id_token_signed_response_alg,
            userinfo_signed_response_alg=client.userinfo_signed_response_alg,
            access_token_format=client.access_token_format.value, backchannel_logout_uri=client.backchannel_logout_uri,
            jwks=client.jwks, min_trust_level=int(client.min_trust_level), created_at=client.created_at,
            allowed_attributes=_optional_json(client.allowed_attributes),
            allowed_methods=_optional_json(client.allowed_methods),
            jwks_uri=client.jwks_uri)
        try:
            with self._db.transaction() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict("client id taken") from None

    def get(self, client_id: str) -> OidcClient | None:
        if not client_id or len(client_id) > 64:
            return None
        row = self._db.statements.first(_CLIENT_BY_ID, {"client_id": client_id})
        return _client(row) if row else None

    def for_tenant(self, tenant_id: str) -> Sequence[OidcClient]:
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(select(*_CLIENT_COLUMNS).where(_CLIENT.tenant_id == uuid.UUID(tenant_id))
                                      .order_by(_CLIENT.name)).all()
        return [_client(row) for row in rows]


class SqlConsentRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def granted(self, account_id: str, service_id: str) -> frozenset[str] | None:
        with self._db.autocommit_engine.connect() as connection:
            value = connection.scalar(select(models.Consent.attributes).where(
                models.Consent.account_id == uuid.UUID(account_id), models.Consent.service_id == service_id))
        return None if value is None else frozenset(json.loads(value))

    def grant(self, account_id: str, service_id: str, keys: Collection[str], *, now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(models.Consent, (uuid.UUID(account_id), service_id))
            if row is None:
                session.add(models.Consent(account_id=uuid.UUID(account_id), service_id=service_id,
                                           attributes=json.dumps(sorted(keys)), granted_at=now))
            else:
                row.attributes = json.dumps(sorted(set(json.loads(row.attributes)) | set(keys)))
                row.granted_at = now

    def revoke(self, account_id: str, service_id: str) -> bool:
        with self._db.transaction() as session:
            result = session.execute(delete(models.Consent).where(
                models.Consent.account_id == uuid.UUID(account_id), models.Consent.service_id == service_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlGrantRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    # Every column is named in the inserts: the direct path (persistence/statements.py) applies no defaults.

    def add(self, grant: Grant, refresh_token_hash: str | None, *, refresh_expires_at: datetime | None) -> None:
        with self._db.statements.transaction() as statements:
            statements.run(_INSERT_GRANT, {
                "id": grant.id, "client_id": grant.client_id, "account_id": uuid.UUID(grant.account_id),
                "session_hash": grant.session_hash, "subject": grant.subject, "scope": grant.scope,
                "claims": json.dumps(list(grant.claims)), "acr": grant.acr, "amr": " ".join(grant.amr),
                "auth_time": grant.auth_time, "created_at": grant.created_at, "expires_at": grant.expires_at,
                "revoked_at": None,
                "organisation_id": uuid.UUID(grant.organisation_id) if grant.organisation_id else None})
            if refresh_token_hash and refresh_expires_at:
                statements.run(_INSERT_TOKEN, {"token_hash": refresh_token_hash, "grant_id": grant.id,
                                               "created_at": grant.created_at, "expires_at": refresh_expires_at,
                                               "used_at": None})

    def get(self, grant_id: str) -> Grant | None:
        row = self._db.statements.first(_GRANT_BY_ID, {"grant_id": grant_id})
        return _grant(row) if row else None

    def with_account(self, grant_id: str) -> tuple[Grant, Account, list[StoredAttribute]] | None:
        return _with_account(self._db.statements.all(_GRANT_WITH_ACCOUNT, {"grant_id": grant_id}))

    # The same reads on the event loop (persistence/statements.py, AsyncStatements): PostgreSQL only.

    def reads_on_loop(self) -> bool:
        """True when the async reads below may run: PostgreSQL, opened on the running loop."""
        return self._db.async_statements is not None and self._db.async_statements.ready()

    async def get_on_loop(self, grant_id: str) -> Grant | None:
        assert self._db.async_statements is not None
        row = await self._db.async_statements.first(_GRANT_BY_ID, {"grant_id": grant_id})
        return _grant(row) if row else None

    async def with_account_on_loop(self, grant_id: str) -> tuple[Grant, Account, list[StoredAttribute]] | None:
        assert self._db.async_statements is not None
        return _with_account(await self._db.async_statements.all(_GRANT_WITH_ACCOUNT, {"grant_id": grant_id}))

    async def valid_refresh_grant_on_loop(self, token_hash: str, *, now: datetime) -> Grant | None:
        """The grant of a refresh token that `use_refresh_token` would call VALID, read without its side
        effects; None for anything else (the caller then takes the thread path, which decides)."""
        assert self._db.async_statements is not None
        row = await self._db.async_statements.first(_GRANT_OF_TOKEN_WITH_ACCOUNT, {"token_hash": token_hash})
        if row is None or row.used_at is not None or row.token_expires_at <= now:
            return None
        grant = _grant(row)
        return grant if grant.is_live(now) else None

    async def rotate_refresh_token_on_loop(self, grant: Grant, old_hash: str, new_hash: str, *,
                                           now: datetime) -> bool:
        """`rotate_refresh_token`'s one statement; False (nothing changed) when the old token was used in the
        meantime: the caller then takes the thread path, which finds the reuse and ends the grant."""
        assert self._db.async_statements is not None
        values = {"old_hash": old_hash, "new_hash": new_hash, "now": now, "expires_at": grant.expires_at}
        return await self._db.async_statements.run(_ROTATE, values) == 1

    def grant_of_refresh_token(self, token_hash: str) -> Grant | None:
        row = self._db.statements.first(_GRANT_OF_TOKEN, {"token_hash": token_hash})
        return _grant(row) if row else None

    def use_refresh_token(self, token_hash: str, *, now: datetime) -> tuple[str, Grant | None]:
        """Read the token and its grant; a token used before revokes the grant (reuse, RFC 9700 §4.14.2)."""
        row = self._db.statements.first(_GRANT_OF_TOKEN_WITH_ACCOUNT, {"token_hash": token_hash})
        if row is None:
            return RefreshTokenState.UNKNOWN, None
        grant = _grant(row)
        if row.used_at is not None:
            self.revoke(grant.id, now=now)
            return RefreshTokenState.REUSED, grant
        if not grant.is_live(now) or row.token_expires_at <= now:
            return RefreshTokenState.UNKNOWN, grant
        return RefreshTokenState.VALID, grant

    def rotate_refresh_token(self, grant: Grant, old_hash: str, new_hash: str, *, now: datetime) -> bool:
        """Mark the old token used and add its successor, in one transaction; False when the old one was
        used in the meantime (two requests raced with one token: the second loses, and the grant ends)."""
        if self._db.dialect == "postgresql":
            values = {"old_hash": old_hash, "new_hash": new_hash, "now": now, "expires_at": grant.expires_at}
            if self._db.statements.run(_ROTATE, values) == 1:
                return True
            self.revoke(grant.id, now=now)
            return False
        with self._db.statements.transaction() as statements:
            if statements.run(_MARK_USED, {"old_hash": old_hash, "now": now}) != 1:
                statements.run(_REVOKE, {"grant_id": grant.id, "now": now})
                return False
            statements.run(_INSERT_TOKEN, {"token_hash": new_hash, "grant_id": grant.id, "created_at": now,
                                           "expires_at": grant.expires_at, "used_at": None})
            return True

    def revoke(self, grant_id: str, *, now: datetime) -> None:
        self._db.statements.run(_REVOKE, {"grant_id": grant_id, "now": now})

    def revoke_for_session(self, session_hash: str, *, now: datetime) -> list[Grant]:
        with self._db.transaction() as session:
            rows = session.execute(select(*_GRANT_COLUMNS).where(
                _GRANT.session_hash == session_hash, _GRANT.revoked_at.is_(None))).all()
            if rows:
                session.execute(update(_GRANT).where(_GRANT.session_hash == session_hash,
                                                     _GRANT.revoked_at.is_(None)).values(revoked_at=now))
            return [_grant(row) for row in rows]
