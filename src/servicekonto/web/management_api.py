"""The management REST API (FastAPI, mounted at /api; OpenAPI at /api/openapi.json): tenants, their OIDC
clients and SAML service providers, and the admin audit log.

Authentication, either of:
- `Authorization: Bearer <access token>` from our own token endpoint (client credentials, RFC 6749 §4.4) of
  a tenant's client that holds the `servicekonto:manage` scope: it acts for its own tenant only;
- the console session cookie, at the administration's trust level; unsafe methods then also need the
  `X-CSRF-Token` header (the value the console pages put in their forms).

Errors are `application/problem+json` (RFC 9457) with a stable `code` and `type` = `urn:servicekonto:problem:<code>`.
"""

from __future__ import annotations

import hmac
import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekonto.core.errors import Conflict, InvalidInput, ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.admins import AdminLoginRequired, Principal, TenantAction
from servicekonto.domain.audit import AuditRecord
from servicekonto.domain.clients import OidcClient
from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.service_settings import METHODS, RESTRICTABLE_KEYS
from servicekonto.domain.tenants import Tenant
from servicekonto.services.admin import AdminService, AdminView, TenantRequestsThrottled
from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import Components
from servicekonto.web.forms import CsrfFailed, csrf_token
from servicekonto.web.management_api_roles import router as service_roles_router
from servicekonto.web.session_context import SESSION_COOKIE

PROBLEM_TYPE = "urn:servicekonto:problem:"
log = structlog.get_logger("servicekonto.api")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_URIS = 20
MAX_METADATA_CHARS = 1024 * 1024


class RequestInvalid(ServicekontoError):
    code = "request.invalid"
    http_status = 400
    message = _l("The request is not valid.")


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable, `detail` is for people (in the request's language)."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": PROBLEM_CONTENT}
    for status, description in ((400, "Bad input; nothing changed"), (401, "Not authenticated"),
                                (403, "Not allowed, or the tenant is suspended"),
                                (404, "No such tenant or service (or not yours)"),
                                (409, "Conflicts with the current state"),
                                (429, "Too many requests; see Retry-After"))}
Method = Literal["password", "totp", "passkey", "eid"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
TokenFormat = Literal["jwt", "opaque"]
ATTRIBUTES_HELP = ("Catalogue keys the service may receive at all (null: every one): "
                   + ", ".join(RESTRICTABLE_KEYS))
METHODS_HELP = ("Login methods the service accepts (null: every one): " + ", ".join(METHODS)
                + ". Enforced as a trust-level floor: only eid means level 4.")
AttributeList = Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=40,
                                                                                  description=ATTRIBUTES_HELP)]
MethodList = Annotated[list[Method] | None, Field(max_length=4, description=METHODS_HELP)]


# -- schemas --------------------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantOut(BaseModel):
    id: str
    name: str
    status: str
    organisation: str
    contact: str
    purpose: str
    created_at: datetime


class TenantRequestIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=3, max_length=320, description="An e-mail address for the operator")
    purpose: str = Field(min_length=1, max_length=2000)


class OidcClientOut(BaseModel):
    client_id: str
    tenant_id: str
    name: str
    public: bool
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    token_endpoint_auth_method: str
    min_trust_level: int
    created_at: datetime | None
    access_token_format: str
    jwks_uri: str | None
    has_keys: bool = Field(description="Public keys for private_key_jwt are registered")
    has_secret: bool = Field(description="A secret is registered (never shown again)")
    allowed_attributes: list[str] | None
    allowed_methods: list[str] | None


class OidcClientIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=MAX_URIS)
    post_logout_redirect_uris: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list,
                                                                                     max_length=MAX_URIS)
    grant_types: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=3)
    scopes: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=20)
    public: bool = False
    min_trust_level: int = Field(1, ge=1, le=4)
    manage: bool = Field(False, description="A machine client for this API (client credentials with the "
                                            "`servicekonto:manage` scope, for its own tenant)")
    token_endpoint_auth_method: AuthMethod | None = Field(
        None, description="Default: client_secret_basic (none for a public client)")
    jwks: dict[str, Any] | None = Field(None, description="Public keys (a JWKS) for private_key_jwt")
    jwks_uri: str | None = Field(None, max_length=2000, description="https URL of the keys for private_key_jwt; "
                                                                    "fetched now and again periodically")
    access_token_format: TokenFormat = "jwt"
    allowed_attributes: AttributeList = None
    allowed_methods: MethodList = None


class OidcClientUpdate(_Strict):
    """Only the fields sent change; `null` for the lists of allowed attributes or methods lifts the
    restriction."""

    name: str | None = Field(None, min_length=1, max_length=200)
    redirect_uris: list[Annotated[str, Field(max_length=2000)]] | None = Field(None, max_length=MAX_URIS)
    post_logout_redirect_uris: list[Annotated[str, Field(max_length=2000)]] | None = Field(None,
                                                                                            max_length=MAX_URIS)
    token_endpoint_auth_method: AuthMethod | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(None, max_length=2000)
    access_token_format: TokenFormat | None = None
    min_trust_level: int | None = Field(None, ge=1, le=4)
    allowed_attributes: AttributeList = None
    allowed_methods: MethodList = None


class NewOidcClientOut(BaseModel):
    client: OidcClientOut
    client_secret: str | None = Field(description="Shown once; only a keyed hash is stored")


class SamlSpOut(BaseModel):
    id: str
    entity_id: str
    tenant_id: str
    name: str
    assertion_consumer_services: list[str]
    created_at: datetime | None
    min_trust_level: int
    allowed_attributes: list[str] | None
    allowed_methods: list[str] | None
    metadata_url: str | None = Field(description="Where the metadata are fetched again periodically")
    metadata_fetched_at: datetime | None
    metadata_checked_at: datetime | None
    metadata_error: str | None = Field(description="Why the last fetch failed; the metadata before stay in use")


class SamlSpUpdate(_Strict):
    """Only the fields sent change; `null` for a list lifts the restriction."""

    name: str | None = Field(None, min_length=1, max_length=200)
    min_trust_level: int | None = Field(None, ge=1, le=4)
    allowed_attributes: AttributeList = None
    allowed_methods: MethodList = None


class AdminOut(BaseModel):
    account_id: str
    username: str
    role: str
    tenant_id: str | None
    granted_at: datetime


class AdminIn(_Strict):
    username: str = Field(min_length=1, max_length=320, description="The account's username or e-mail address")


class SamlSpIn(_Strict):
    metadata_xml: str | None = Field(None, max_length=MAX_METADATA_CHARS, description="The SP's metadata")
    metadata_url: str | None = Field(None, max_length=2000, description="https URL of the SP's metadata")


class LoginCountOut(BaseModel):
    day: date
    methods: list[str]
    trust_level: int
    count: int


class FailureCountOut(BaseModel):
    day: date
    kind: str = Field(description="The audit event counted, e.g. account:consent:refused")
    count: int


class StatisticsOut(BaseModel):
    first_day: date
    days: int
    logins: list[LoginCountOut]
    failures: list[FailureCountOut] = Field(description="Refused requests per day, from the audit log")


class AuditEventOut(BaseModel):
    event: str
    occurred_at: datetime
    actor: str | None
    details: dict[str, str]


def tenant_out(tenant: Tenant) -> TenantOut:
    return TenantOut(id=tenant.id, name=tenant.name, status=tenant.status.value, organisation=tenant.organisation,
                     contact=tenant.contact, purpose=tenant.purpose, created_at=tenant.created_at)


def client_out(client: OidcClient) -> OidcClientOut:
    return OidcClientOut(client_id=client.client_id, tenant_id=client.tenant_id, name=client.name,
                         public=client.is_public, redirect_uris=list(client.redirect_uris),
                         post_logout_redirect_uris=list(client.post_logout_redirect_uris),
                         grant_types=[g.value for g in client.grant_types], scopes=list(client.scopes),
                         token_endpoint_auth_method=client.token_endpoint_auth_method,
                         min_trust_level=int(client.min_trust_level), created_at=client.created_at,
                         access_token_format=client.access_token_format.value, jwks_uri=client.jwks_uri,
                         has_keys=bool(client.jwks), has_secret=bool(client.secret_hash),
                         allowed_attributes=_listed(client.allowed_attributes),
                         allowed_methods=_listed(client.allowed_methods))


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def sp_out(sp: SamlServiceProvider) -> SamlSpOut:
    return SamlSpOut(id=sp.id, entity_id=sp.entity_id, tenant_id=sp.tenant_id, name=sp.name,
                     assertion_consumer_services=[a.location for a in sp.acs], created_at=sp.created_at,
                     min_trust_level=int(sp.min_trust_level), allowed_attributes=_listed(sp.allowed_attributes),
                     allowed_methods=_listed(sp.allowed_methods), metadata_url=sp.metadata_url,
                     metadata_fetched_at=sp.metadata_fetched_at, metadata_checked_at=sp.metadata_checked_at,
                     metadata_error=sp.metadata_error)


def admin_out(view: AdminView) -> AdminOut:
    return AdminOut(account_id=view.account_id, username=view.username, role=view.role.value,
                    tenant_id=view.tenant_id, granted_at=view.granted_at)


def _changes(body: BaseModel, *, lists: tuple[str, ...] = ("allowed_attributes", "allowed_methods")) -> dict[str, Any]:
    """What a PATCH body sets: fields not sent stay UNCHANGED; `null` counts only for the lists, where it
    lifts a restriction."""
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in lists:
            continue
        changes[name] = json.dumps(value) if name == "jwks" and value is not None else value
    return changes


def audit_out(record: AuditRecord) -> AuditEventOut:
    return AuditEventOut(event=record.event.value, occurred_at=record.occurred_at, actor=record.actor,
                         details=dict(record.details))


# -- errors ---------------------------------------------------------------------------------------------------

def problem(request: Request, status: int, code: str, title: str, detail: str | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + code, "title": title, "status": status, "code": code, "detail": detail or title,
            "instance": getattr(request.state, "request_id", None) or None, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="servicekonto"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServicekontoError)
    status = exc.http_status if exc.http_status in PROBLEMS else (500 if exc.http_status >= 500 else 400)
    if status >= 500:
        log.error("service_error", code=exc.code, exc_info=exc)
    # the detail of bad input names the rule that was broken (never a secret: inputs are not echoed)
    detail = exc.detail if isinstance(exc, InvalidInput | Conflict) and exc.detail != exc.code else None
    answer = problem(request, status, exc.code, exc.user_message(), detail)
    if isinstance(exc, TenantRequestsThrottled):
        answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(part) for part in e.get("loc", ())], "type": str(e.get("type", ""))}
              for e in exc.errors()][:20]  # no input values: they may be secrets or personal data
    return problem(request, 400, RequestInvalid.code, RequestInvalid().user_message(), errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "request.invalid")
    return problem(request, exc.status_code, code, str(exc.detail))


# -- authentication -------------------------------------------------------------------------------------------

def _principal(request: Request) -> Principal:
    admin: AdminService = request.app.state.admin
    components: Components = request.app.state.components
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AdminLoginRequired("unsupported authorization")
        claims = components.services["oidc"].access_token_claims(token.strip())
        return admin.principal_of_token(claims)
    session = components.services["sessions"].load(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise AdminLoginRequired()
    request.state.session = session
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not sent or not hmac.compare_digest(sent, csrf_token(request)):
            raise CsrfFailed()
    return admin.principal_of_account(session.account_id, session.trust_level)


async def principal(request: Request) -> Principal:
    return await run_blocking(_principal, request)


Acting = Annotated[Principal, Depends(principal)]


def _admin(request: Request) -> AdminService:
    found: AdminService = request.app.state.admin
    return found


# -- the application ------------------------------------------------------------------------------------------

def create_api(*, admin: AdminService, components: Components) -> FastAPI:
    api = FastAPI(
        title="Servicekonto management API", version="1",
        description=__doc__, openapi_url="/openapi.json", docs_url=None, redoc_url=None,
        responses=PROBLEMS,
    )
    api.state.admin = admin

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description,
                                 routes=api.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}")
            schema["servers"] = [{"url": "/api"}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    api.state.components = components
    api.add_exception_handler(ServicekontoError, _service_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.include_router(service_roles_router)

    @api.get("/tenants", response_model=list[TenantOut], tags=["tenants"],
             summary="Tenants you manage (all for an operator)")
    def list_tenants(request: Request, who: Acting) -> list[TenantOut]:
        return [tenant_out(t) for t in _admin(request).tenants(who)]

    @api.post("/tenants", response_model=TenantOut, status_code=201, tags=["tenants"],
              summary="Request a new tenant (console session only); you become its admin")
    def request_tenant(request: Request, who: Acting, body: TenantRequestIn) -> TenantOut:
        return tenant_out(_admin(request).request_tenant(who, name=body.name, organisation=body.organisation,
                                                         contact=body.contact, purpose=body.purpose))

    @api.get("/tenants/{tenant_id}", response_model=TenantOut, tags=["tenants"])
    def get_tenant(request: Request, who: Acting, tenant_id: str) -> TenantOut:
        return tenant_out(_admin(request).tenant(who, tenant_id))

    for action in TenantAction:
        _tenant_action(api, action)

    @api.get("/tenants/{tenant_id}/audit-events", response_model=list[AuditEventOut], tags=["audit"],
             summary="The admin audit log of a tenant, newest first")
    def tenant_audit(request: Request, who: Acting, tenant_id: str) -> list[AuditEventOut]:
        return [audit_out(r) for r in _admin(request).audit_log(who, tenant_id)]

    @api.get("/tenants/{tenant_id}/statistics", response_model=StatisticsOut, tags=["statistics"],
             summary="Logins at the tenant's services per day (UTC), by methods and trust level")
    def tenant_statistics(request: Request, who: Acting, tenant_id: str,
                          days: Annotated[int, Query(ge=1, le=366)] = 30) -> StatisticsOut:
        found = _admin(request).statistics(who, tenant_id, days=days)
        return StatisticsOut(first_day=found.first_day, days=found.days, logins=[
            LoginCountOut(day=c.day, methods=c.methods.split(), trust_level=c.trust_level, count=c.count)
            for c in found.counts], failures=[FailureCountOut(day=f.day, kind=f.kind, count=f.count)
                                              for f in found.failures])

    @api.get("/tenants/{tenant_id}/oidc-clients", response_model=list[OidcClientOut], tags=["oidc-clients"])
    def list_clients(request: Request, who: Acting, tenant_id: str) -> list[OidcClientOut]:
        return [client_out(c) for c in _admin(request).oidc_clients(who, tenant_id)]

    @api.post("/tenants/{tenant_id}/oidc-clients", response_model=NewOidcClientOut, status_code=201,
              tags=["oidc-clients"], summary="Register an OIDC client; the secret is shown once")
    def create_client(request: Request, who: Acting, tenant_id: str, body: OidcClientIn) -> NewOidcClientOut:
        created = _admin(request).create_oidc_client(
            who, tenant_id, name=body.name, redirect_uris=body.redirect_uris,
            post_logout_redirect_uris=body.post_logout_redirect_uris, grant_types=body.grant_types,
            scopes=body.scopes, public=body.public, min_trust_level=body.min_trust_level, manage=body.manage,
            token_endpoint_auth_method=body.token_endpoint_auth_method,
            jwks=json.dumps(body.jwks) if body.jwks is not None else None, jwks_uri=body.jwks_uri,
            access_token_format=body.access_token_format, allowed_attributes=body.allowed_attributes,
            allowed_methods=body.allowed_methods)
        return NewOidcClientOut(client=client_out(created.client), client_secret=created.secret)

    @api.get("/tenants/{tenant_id}/oidc-clients/{client_id}", response_model=OidcClientOut, tags=["oidc-clients"])
    def get_client(request: Request, who: Acting, tenant_id: str, client_id: str) -> OidcClientOut:
        return client_out(_admin(request).oidc_client(who, tenant_id, client_id))

    @api.patch("/tenants/{tenant_id}/oidc-clients/{client_id}", response_model=OidcClientOut,
               tags=["oidc-clients"], summary="Change the client's settings (only the fields sent)")
    def update_client(request: Request, who: Acting, tenant_id: str, client_id: str,
                      body: OidcClientUpdate) -> OidcClientOut:
        return client_out(_admin(request).update_oidc_client(who, tenant_id, client_id, **_changes(body)))

    @api.post("/tenants/{tenant_id}/oidc-clients/{client_id}/secret", response_model=NewOidcClientOut,
              tags=["oidc-clients"], summary="A new secret (shown once); the old one stops working")
    def rotate_secret(request: Request, who: Acting, tenant_id: str, client_id: str) -> NewOidcClientOut:
        rotated = _admin(request).rotate_secret(who, tenant_id, client_id)
        return NewOidcClientOut(client=client_out(rotated.client), client_secret=rotated.secret)

    @api.delete("/tenants/{tenant_id}/oidc-clients/{client_id}", status_code=204, tags=["oidc-clients"],
                response_class=Response)
    def delete_client(request: Request, who: Acting, tenant_id: str, client_id: str) -> Response:
        _admin(request).delete_oidc_client(who, tenant_id, client_id)
        return Response(status_code=204)

    @api.get("/tenants/{tenant_id}/saml-sps", response_model=list[SamlSpOut], tags=["saml-sps"])
    def list_sps(request: Request, who: Acting, tenant_id: str) -> list[SamlSpOut]:
        return [sp_out(sp) for sp in _admin(request).saml_sps(who, tenant_id)]

    @api.post("/tenants/{tenant_id}/saml-sps", response_model=SamlSpOut, status_code=201, tags=["saml-sps"],
              summary="Register a SAML SP from its metadata (XML in the body, or an https URL)")
    def add_sp(request: Request, who: Acting, tenant_id: str, body: SamlSpIn) -> SamlSpOut:
        if (body.metadata_xml is None) == (body.metadata_url is None):
            raise RequestInvalid("exactly one of metadata_xml and metadata_url")
        return sp_out(_admin(request).add_saml_sp(
            who, tenant_id, metadata_xml=body.metadata_xml.encode() if body.metadata_xml is not None else None,
            metadata_url=body.metadata_url))

    @api.get("/tenants/{tenant_id}/saml-sps/{sp_id}", response_model=SamlSpOut, tags=["saml-sps"])
    def get_sp(request: Request, who: Acting, tenant_id: str, sp_id: str) -> SamlSpOut:
        return sp_out(_admin(request).saml_sp_by_id(who, tenant_id, sp_id))

    @api.patch("/tenants/{tenant_id}/saml-sps/{sp_id}", response_model=SamlSpOut, tags=["saml-sps"],
               summary="Change the SP's settings (only the fields sent)")
    def update_sp(request: Request, who: Acting, tenant_id: str, sp_id: str, body: SamlSpUpdate) -> SamlSpOut:
        return sp_out(_admin(request).update_saml_sp(who, tenant_id, sp_id, **_changes(body)))

    @api.post("/tenants/{tenant_id}/saml-sps/{sp_id}/refresh", response_model=SamlSpOut, tags=["saml-sps"],
              summary="Fetch the metadata from the SP's URL now; a failure keeps the old ones (see metadata_error)")
    def refresh_sp(request: Request, who: Acting, tenant_id: str, sp_id: str) -> SamlSpOut:
        return sp_out(_admin(request).refresh_saml_sp(who, tenant_id, sp_id))

    @api.get("/tenants/{tenant_id}/admins", response_model=list[AdminOut], tags=["admins"],
             summary="The tenant's admins")
    def list_admins(request: Request, who: Acting, tenant_id: str) -> list[AdminOut]:
        return [admin_out(v) for v in _admin(request).tenant_admins(who, tenant_id)]

    @api.post("/tenants/{tenant_id}/admins", response_model=AdminOut, status_code=201, tags=["admins"],
              summary="Make an account an admin of the tenant")
    def add_admin(request: Request, who: Acting, tenant_id: str, body: AdminIn) -> AdminOut:
        return admin_out(_admin(request).add_tenant_admin(who, tenant_id, body.username))

    @api.delete("/tenants/{tenant_id}/admins/{account_id}", status_code=204, tags=["admins"],
                response_class=Response, summary="Take the admin role of the tenant from an account")
    def remove_admin(request: Request, who: Acting, tenant_id: str, account_id: str) -> Response:
        _admin(request).revoke_tenant_admin(who, tenant_id, account_id)
        return Response(status_code=204)

    @api.get("/operators", response_model=list[AdminOut], tags=["admins"], summary="Operator admins (operators only)")
    def list_operators(request: Request, who: Acting) -> list[AdminOut]:
        return [admin_out(v) for v in _admin(request).operators(who)]

    @api.delete("/operators/{account_id}", status_code=204, tags=["admins"], response_class=Response,
                summary="Take the operator role from an account (operators only; never the last one)")
    def remove_operator(request: Request, who: Acting, account_id: str) -> Response:
        _admin(request).revoke_operator(who, account_id)
        return Response(status_code=204)

    @api.delete("/tenants/{tenant_id}/saml-sps/{sp_id}", status_code=204, tags=["saml-sps"],
                response_class=Response)
    def delete_sp(request: Request, who: Acting, tenant_id: str, sp_id: str) -> Response:
        admin = _admin(request)
        sp = admin.saml_sp_by_id(who, tenant_id, sp_id)
        admin.delete_saml_sp(who, tenant_id, sp.entity_id)
        return Response(status_code=204)

    return api


def _tenant_action(api: FastAPI, action: TenantAction) -> None:
    def change(request: Request, who: Acting, tenant_id: str) -> TenantOut:
        return tenant_out(_admin(request).change_tenant(who, tenant_id, action))

    api.post(f"/tenants/{{tenant_id}}/{action.value}", response_model=TenantOut, tags=["tenants"],
             summary=f"{action.value.capitalize()} the tenant (operators only)",
             operation_id=f"{action.value}_tenant")(change)
