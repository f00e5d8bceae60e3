"""The administration console (/verwaltung): server-rendered, no JavaScript, the same use cases as the
management API (services/admin.py). Admins log in with their citizen account; managing needs the
administration's trust level (a second factor by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import update_wrapper
from typing import Any, Concatenate, ParamSpec

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core.errors import InvalidInput, ServicekontoError
from servicekonto.core.i18n import LazyString, _l
from servicekonto.domain.admins import AdminTrustTooLow, LastOperator, Principal, TenantAction
from servicekonto.domain.saml_sp import MAX_METADATA_BYTES
from servicekonto.domain.service_settings import METHODS, RESTRICTABLE_KEYS, ServiceSettingsInvalid
from servicekonto.domain.tenants import Tenant, TenantStatus
from servicekonto.services.admin import AdminService, RotatedSecret, TenantRequestsThrottled
from servicekonto.services.oidc_clients import NewClient
from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import components
from servicekonto.web.data_pages import attribute_label
from servicekonto.web.feedback import Message, error_message, field_errors
from servicekonto.web.forms import MAX_FIELD_LENGTH, Form, FormTooLarge, check_csrf, finish, form_page
from servicekonto.web.page_helpers import redirect_to, service
from servicekonto.web.page_helpers import render as render_page
from servicekonto.web.session_context import require_account

NO_STORE = {"Cache-Control": "no-store"}
STATUS_ACTIONS = {
    TenantStatus.REQUESTED: (TenantAction.APPROVE, TenantAction.REJECT),
    TenantStatus.ACTIVE: (TenantAction.SUSPEND,),
    TenantStatus.SUSPENDED: (TenantAction.REACTIVATE,),
    TenantStatus.REJECTED: (),
}

NOTICES: dict[str, LazyString] = {
    "tenant_requested": _l("The tenant is requested. The operator will check the request; until then you cannot "
                           "register services."),
    "tenant_approve": _l("The tenant is approved and active."),
    "tenant_reject": _l("The tenant request is rejected."),
    "tenant_suspend": _l("The tenant is suspended: its services no longer answer."),
    "tenant_reactivate": _l("The tenant is active again."),
    "saml_sp_added": _l("The SAML service provider is registered."),
    "service_deleted": _l("The service is deleted."),
    "service_updated": _l("The settings of the service are saved."),
    "metadata_refreshed": _l("The metadata were fetched again."),
    "metadata_refresh_failed": _l("The metadata could not be fetched; the previous metadata stay in use."),
    "admin_added": _l("The account is now an administrator of this tenant."),
    "admin_removed": _l("The account is no longer an administrator of this tenant."),
    "operator_removed": _l("The account is no longer an operator."),
}
METHOD_CHOICES = (("password", _l("password")), ("totp", _l("authenticator app")), ("passkey", _l("passkey")),
                  ("eid", _l("ID card")))
AUTH_METHOD_CHOICES = (("client_secret_basic", _l("Secret in the Authorization header (client_secret_basic)")),
                       ("client_secret_post", _l("Secret in the request body (client_secret_post)")),
                       ("private_key_jwt", _l("Signed assertion with the client's own key (private_key_jwt)")))
TOKEN_FORMAT_CHOICES = (("jwt", _l("JWT (RFC 9068): resource servers check it themselves")),
                        ("opaque", _l("Opaque: resource servers ask the introspection endpoint")))


STATUS_LABELS = {
    TenantStatus.REQUESTED: _l("Requested"),
    TenantStatus.ACTIVE: _l("Active"),
    TenantStatus.SUSPENDED: _l("Suspended"),
    TenantStatus.REJECTED: _l("Rejected"),
}
ACTION_LABELS = {
    TenantAction.APPROVE: _l("Approve"),
    TenantAction.REJECT: _l("Reject"),
    TenantAction.SUSPEND: _l("Suspend"),
    TenantAction.REACTIVATE: _l("Reactivate"),
}


def render(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    return render_page(request, template, status_code,
                       status_labels={k.value: str(v) for k, v in STATUS_LABELS.items()},
                       action_labels={k.value: str(v) for k, v in ACTION_LABELS.items()},
                       base_url=components(request).base_url.rstrip("/"), **context)


def notice(code: str | None) -> Message | None:
    if code and code in NOTICES:
        return Message(code=f"notice.console.{code}", text=str(NOTICES[code]), kind="success")
    return None


def _admin(request: Request) -> AdminService:
    found: AdminService = service(request, "admin")
    return found


def _principal(request: Request) -> Principal | Response:
    """The acting admin, or the page that says what is missing (a login, or a second factor)."""
    session, account = require_account(request)
    try:
        return _admin(request).principal_of_account(account.id, session.trust_level)
    except AdminTrustTooLow as exc:
        return render(request, "console/trust_required.html", 403, notice=error_message(exc),
                      level=int(_admin(request).min_trust_level))


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


P = ParamSpec("P")


def _as_admin(handler: Callable[Concatenate[Request, Principal, P], Response]
              ) -> Callable[Concatenate[Request, P], Response]:
    """Runs the handler for the acting admin; without one, answers with the page `_principal` returns."""
    def run(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        who = _principal(request)
        if isinstance(who, Response):
            return who
        return handler(request, who, *args, **kwargs)

    update_wrapper(run, handler)
    return run


def console_page(handler: Callable[[Request, Principal, Form], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A `form_page` for the acting admin."""
    return form_page(_as_admin(handler))


def _tenant(request: Request, who: Principal) -> tuple[AdminService, Tenant]:
    """The admin service and the tenant the path names (`tenant_id`), as `who` may see it."""
    admin = _admin(request)
    return admin, admin.tenant(who, request.path_params["tenant_id"])


def _secret_page(request: Request, tenant: Tenant, created: NewClient | RotatedSecret, *,
                 rotated: bool) -> Response:
    response = render(request, "console/oidc_client_created.html", tenant=tenant, client=created.client,
                      secret=created.secret, rotated=rotated)
    response.headers.update(NO_STORE)  # the secret is shown once and never cached
    return response


@console_page
def overview(request: Request, who: Principal, form: Form) -> Response:
    return render(request, "console/overview.html", tenants=_admin(request).tenants(who), operator=who.operator,
                  notice=notice(request.query_params.get("hinweis")))


@console_page
def request_tenant(request: Request, who: Principal, form: Form) -> Response:
    if request.method == "GET":
        return render(request, "console/tenant_request.html", errors={}, values={})
    try:
        tenant = _admin(request).request_tenant(who, name=form.get("name", ""),
                                                organisation=form.get("organisation", ""),
                                                contact=form.get("contact", ""), purpose=form.get("purpose", ""))
    except InvalidInput as exc:
        return render(request, "console/tenant_request.html", 400, errors=field_errors(exc, default_field="name"),
                      values=form)
    except ServicekontoError as exc:
        if exc.http_status not in (409, 429):  # name taken; too many requests
            raise
        response = render(request, "console/tenant_request.html", exc.http_status,
                          errors={"name": error_message(exc)}, values=form)
        if isinstance(exc, TenantRequestsThrottled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="tenant_requested")


def _tenant_page(request: Request, who: Principal, *, status_code: int = 200,
                 errors: dict[str, Message] | None = None, values: Form | None = None) -> Response:
    admin, tenant = _tenant(request, who)
    return render(request, "console/tenant.html", status_code, tenant=tenant, operator=who.operator,
                  actions=STATUS_ACTIONS[tenant.status] if who.operator else (),
                  clients=admin.oidc_clients(who, tenant.id), sps=admin.saml_sps(who, tenant.id),
                  admins=admin.tenant_admins(who, tenant.id), me=who.id,
                  events=admin.audit_log(who, tenant.id, limit=50),
                  notice=notice(request.query_params.get("hinweis")), errors=errors or {}, values=values or {})


@console_page
def tenant_detail(request: Request, who: Principal, form: Form) -> Response:
    return _tenant_page(request, who)


@console_page
def add_tenant_admin(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    try:
        admin.add_tenant_admin(who, tenant.id, form.get("username", ""))
    except InvalidInput as exc:
        return _tenant_page(request, who, status_code=400, errors={"username": error_message(exc)},
                            values={"username": form.get("username", "")})
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="admin_added")


@console_page
def remove_tenant_admin(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    admin.revoke_tenant_admin(who, tenant.id, request.path_params["account_id"])
    if request.path_params["account_id"] == who.id and not who.operator:
        return redirect_to("/verwaltung", hinweis="admin_removed")
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="admin_removed")


@console_page
def operators(request: Request, who: Principal, form: Form) -> Response:
    """The operator admins (operators only); the last one cannot be removed."""
    found = _admin(request).operators(who)
    return render(request, "console/operators.html", operators=found, me=who.id, operator=True,
                  notice=notice(request.query_params.get("hinweis")))


@console_page
def remove_operator(request: Request, who: Principal, form: Form) -> Response:
    admin = _admin(request)
    try:
        admin.revoke_operator(who, request.path_params["account_id"])
    except LastOperator as exc:
        return render(request, "console/operators.html", 409, operators=admin.operators(who), me=who.id,
                      operator=True, notice=error_message(exc))
    if request.path_params["account_id"] == who.id:
        return redirect_to("/verwaltung", hinweis="operator_removed")
    return redirect_to("/verwaltung/betreiber-admins", hinweis="operator_removed")


@console_page
def tenant_status(request: Request, who: Principal, form: Form) -> Response:
    tenant_id = request.path_params["tenant_id"]
    try:
        action = TenantAction(form.get("action", ""))
    except ValueError:
        return redirect_to(f"/verwaltung/mandanten/{tenant_id}")
    _admin(request).change_tenant(who, tenant_id, action)
    return redirect_to(f"/verwaltung/mandanten/{tenant_id}", hinweis=f"tenant_{action.value}")


@console_page
def new_oidc_client(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    context: dict[str, Any] = {"tenant": tenant, "values": form}
    if request.method == "GET":
        return render(request, "console/oidc_client_new.html", errors={}, **context)
    try:
        created = admin.create_oidc_client(
            who, tenant.id, name=form.get("name", ""), redirect_uris=_lines(form.get("redirect_uris", "")),
            post_logout_redirect_uris=_lines(form.get("post_logout_redirect_uris", "")),
            public=form.get("client_type") == "public", manage=form.get("client_type") == "manage",
            min_trust_level=int(form.get("min_trust_level", "1")) if form.get("min_trust_level", "1").isdigit()
            else 0)
    except InvalidInput as exc:
        return render(request, "console/oidc_client_new.html", 400,
                      errors=field_errors(exc, default_field="redirect_uris"), **context)
    return _secret_page(request, tenant, created, rotated=False)


@console_page
def oidc_client_action(request: Request, who: Principal, form: Form) -> Response:
    """Rotate the secret (shown once) or delete the client."""
    admin, tenant = _tenant(request, who)
    client_id = request.path_params["client_id"]
    if form.get("action") == "rotate":
        return _secret_page(request, tenant, admin.rotate_secret(who, tenant.id, client_id), rotated=True)
    if form.get("action") == "delete":
        admin.delete_oidc_client(who, tenant.id, client_id)
        return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="service_deleted")
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}")


def upload_page(handler: Callable[[Request, Form, bytes | None], Response]) -> Callable[[Request], Awaitable[Response]]:
    """Like `form_page`, for a form with one file (multipart, at most `MAX_METADATA_BYTES`)."""
    async def endpoint(request: Request) -> Response:
        form: Form = {}
        upload: bytes | None = None
        if request.method == "POST":
            try:
                data = await request.form(max_files=1, max_fields=10, max_part_size=MAX_METADATA_BYTES + 1)
            except Exception as exc:
                raise FormTooLarge() from exc
            try:
                for key, value in data.items():
                    if isinstance(value, str):
                        if len(value) > MAX_FIELD_LENGTH:
                            raise FormTooLarge()
                        form[key] = value
                    elif key == "metadata_file" and value.filename:
                        upload = await value.read(MAX_METADATA_BYTES + 1)
                        if len(upload) > MAX_METADATA_BYTES:
                            raise FormTooLarge()
            finally:
                await data.close()  # the upload's temporary file
        response: Response = await run_blocking(_run_upload, handler, request, form, upload)
        return finish(request, response)

    return endpoint


def _run_upload(handler: Callable[[Request, Form, bytes | None], Response], request: Request, form: Form,
                upload: bytes | None) -> Response:
    if request.method == "POST":
        check_csrf(request, form)
    return handler(request, form, upload)


def _new_saml_sp(request: Request, who: Principal, form: Form, upload: bytes | None) -> Response:
    admin, tenant = _tenant(request, who)
    context: dict[str, Any] = {"tenant": tenant, "values": form}
    if request.method == "GET":
        return render(request, "console/saml_sp_new.html", errors={}, **context)
    url = form.get("metadata_url", "").strip()
    try:
        admin.add_saml_sp(who, tenant.id, metadata_xml=upload if upload else None,
                          metadata_url=url if url and not upload else None)
    except InvalidInput as exc:
        return render(request, "console/saml_sp_new.html", 400,
                      errors=field_errors(exc, default_field="metadata_file"), **context)
    except ServicekontoError as exc:
        if exc.http_status != 409:
            raise
        return render(request, "console/saml_sp_new.html", 409, errors={"metadata_file": error_message(exc)},
                      **context)
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="saml_sp_added")


new_saml_sp = upload_page(_as_admin(_new_saml_sp))


@console_page
def delete_saml_sp(request: Request, who: Principal, form: Form) -> Response:
    admin = _admin(request)
    tenant_id = request.path_params["tenant_id"]
    sp = admin.saml_sp_by_id(who, tenant_id, request.path_params["sp_id"])
    admin.delete_saml_sp(who, tenant_id, sp.entity_id)
    return redirect_to(f"/verwaltung/mandanten/{tenant_id}", hinweis="service_deleted")


# -- per-service settings ---------------------------------------------------------------------------------

def _chosen(form: Form, prefix: str, scope: str, known: tuple[str, ...]) -> list[str] | None:
    """A restriction from the form: None ("every one") unless the scope radio says "selected"."""
    if form.get(scope) != "selected":
        return None
    return [key for key in known if form.get(f"{prefix}{key}") == "on"]


def _settings_values(name: str, level: int, attributes: tuple[str, ...] | None,
                     methods: tuple[str, ...] | None) -> Form:
    values: Form = {"name": name, "min_trust_level": str(level),
                    "attribute_scope": "all" if attributes is None else "selected",
                    "method_scope": "all" if methods is None else "selected"}
    values.update({f"attr_{key}": "on" for key in attributes or ()})
    values.update({f"method_{key}": "on" for key in methods or ()})
    return values


def _settings_context(request: Request) -> dict[str, Any]:
    return {"attribute_choices": [(key, attribute_label(key)) for key in RESTRICTABLE_KEYS],
            "method_choices": [(key, str(label)) for key, label in METHOD_CHOICES]}


def _level(form: Form) -> int:
    value = form.get("min_trust_level", "")
    return int(value) if value.isdigit() and len(value) < 3 else 0


def _settings_error(exc: InvalidInput, default: str) -> dict[str, Message]:
    """The form field an error concerns, so the message stands beside it."""
    if isinstance(exc, ServiceSettingsInvalid):
        return {exc.field: error_message(exc)}
    detail = (exc.detail or "").lower()
    for word, field in (("jwks_uri", "jwks_uri"), ("jwks", "jwks"), ("key set", "jwks"),
                        ("auth method", "token_endpoint_auth_method"), ("name", "name"),
                        ("access token format", "access_token_format")):
        if word in detail:
            return {field: error_message(exc)}
    return {default: error_message(exc)}


@console_page
def oidc_client_settings(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    client = admin.oidc_client(who, tenant.id, request.path_params["client_id"])
    context: dict[str, Any] = {
        "tenant": tenant, "client": client, "auth_methods": [(k, str(v)) for k, v in AUTH_METHOD_CHOICES],
        "token_formats": [(k, str(v)) for k, v in TOKEN_FORMAT_CHOICES], **_settings_context(request)}
    if request.method == "GET":
        values = _settings_values(client.name, int(client.min_trust_level), client.allowed_attributes,
                                  client.allowed_methods)
        values.update({"redirect_uris": "\n".join(client.redirect_uris),
                       "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
                       "token_endpoint_auth_method": client.token_endpoint_auth_method,
                       "access_token_format": client.access_token_format.value, "jwks_uri": client.jwks_uri or ""})
        return render(request, "console/oidc_client_settings.html", errors={}, values=values, **context)
    keys: dict[str, Any] = {}
    if not client.is_public:
        keys["token_endpoint_auth_method"] = form.get("token_endpoint_auth_method", "")
        if form.get("jwks", "").strip():
            keys["jwks"] = form["jwks"].strip()
        if form.get("jwks_uri", "").strip() != (client.jwks_uri or ""):
            keys["jwks_uri"] = form.get("jwks_uri", "").strip() or None
    try:
        admin.update_oidc_client(
            who, tenant.id, client.client_id, name=form.get("name", ""),
            redirect_uris=_lines(form.get("redirect_uris", "")),
            post_logout_redirect_uris=_lines(form.get("post_logout_redirect_uris", "")),
            access_token_format=form.get("access_token_format", ""), min_trust_level=_level(form),
            allowed_attributes=_chosen(form, "attr_", "attribute_scope", RESTRICTABLE_KEYS),
            allowed_methods=_chosen(form, "method_", "method_scope", METHODS), **keys)
    except InvalidInput as exc:
        return render(request, "console/oidc_client_settings.html", 400,
                      errors=_settings_error(exc, "redirect_uris"), values=form, **context)
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="service_updated")


@console_page
def saml_sp_settings(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    sp = admin.saml_sp_by_id(who, tenant.id, request.path_params["sp_id"])
    context: dict[str, Any] = {"tenant": tenant, "sp": sp, "notice": notice(request.query_params.get("hinweis")),
                               **_settings_context(request)}
    if request.method == "GET":
        values = _settings_values(sp.name, int(sp.min_trust_level), sp.allowed_attributes, sp.allowed_methods)
        return render(request, "console/saml_sp_settings.html", errors={}, values=values, **context)
    try:
        admin.update_saml_sp(who, tenant.id, sp.id, name=form.get("name", ""), min_trust_level=_level(form),
                             allowed_attributes=_chosen(form, "attr_", "attribute_scope", RESTRICTABLE_KEYS),
                             allowed_methods=_chosen(form, "method_", "method_scope", METHODS))
    except InvalidInput as exc:
        return render(request, "console/saml_sp_settings.html", 400, errors=_settings_error(exc, "name"),
                      values=form, **context)
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="service_updated")


@console_page
def refresh_saml_sp(request: Request, who: Principal, form: Form) -> Response:
    """Fetch the SP's metadata from its URL now (they are fetched again periodically anyway)."""
    admin, tenant = _tenant(request, who)
    sp = admin.refresh_saml_sp(who, tenant.id, request.path_params["sp_id"])
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}/saml-sps/{sp.id}/einstellungen",
                       hinweis="metadata_refresh_failed" if sp.metadata_error else "metadata_refreshed")


CHART_WIDTH = 720
CHART_HEIGHT = 200
CHART_LEFT = 40
CHART_BOTTOM = 24


def login_chart(per_day: list[tuple[date, dict[int, int]]],
                failures: list[tuple[date, int]] | None = None) -> dict[str, object]:
    """Geometry of a stacked bar chart (logins per day, one colour class per trust level) with the refused
    requests per day as a line of points over it, for an inline SVG drawn on the server: no script, no
    external assets. Failures are a separate shape (not only a colour), so the chart reads without colour."""
    failures = failures or []
    peak = max([*(sum(levels.values()) for _day, levels in per_day), *(n for _day, n in failures)], default=0) or 1
    plot_height = CHART_HEIGHT - CHART_BOTTOM - 8
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(per_day), 1)
    bars = []
    points = [{"x": round(CHART_LEFT + index * slot + slot / 2, 1),
               "y": round(CHART_HEIGHT - CHART_BOTTOM - count / peak * plot_height, 1),
               "title": f"{day.isoformat()}: {count}"} for index, (day, count) in enumerate(failures)]
    for index, (day, levels) in enumerate(per_day):
        base: float = CHART_HEIGHT - CHART_BOTTOM
        for level in sorted(levels):
            height = levels[level] / peak * plot_height
            base -= height
            bars.append({"x": round(CHART_LEFT + index * slot + 1, 1), "y": round(base, 1),
                         "width": round(max(slot - 2, 1), 1), "height": round(height, 1), "level": level,
                         "title": f"{day.isoformat()}: {levels[level]} (Level {level})"})
    labels = [{"x": round(CHART_LEFT + index * slot + slot / 2, 1), "text": day.strftime("%d.%m.")}
              for index, (day, _levels) in enumerate(per_day) if index % 7 == 0]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT, "axis_y": CHART_HEIGHT - CHART_BOTTOM,
            "peak": peak, "bars": bars, "labels": labels, "points": points if any(n for _d, n in failures) else [],
            "line": " ".join(f"{p['x']},{p['y']}" for p in points)}


@console_page
def tenant_statistics(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    found = admin.statistics(who, tenant.id, days=30)
    per_day = found.per_day()
    failures = found.failures_per_day()
    return render(request, "console/statistics.html", tenant=tenant, counts=found.counts,
                  total=sum(c.count for c in found.counts), chart=login_chart(per_day, failures),
                  first_day=found.first_day, last_day=per_day[-1][0],
                  failures=[(day, count) for day, count in failures if count],
                  total_failures=sum(count for _day, count in failures))


routes = [
    Route("/verwaltung", overview, name="console"),
    Route("/verwaltung/mandant-beantragen", request_tenant, methods=["GET", "POST"], name="console_tenant_request"),
    Route("/verwaltung/mandanten/{tenant_id}", tenant_detail, name="console_tenant"),
    Route("/verwaltung/mandanten/{tenant_id}/statistik", tenant_statistics, name="console_statistics"),
    Route("/verwaltung/mandanten/{tenant_id}/status", tenant_status, methods=["POST"], name="console_tenant_status"),
    Route("/verwaltung/mandanten/{tenant_id}/oidc-clients/neu", new_oidc_client, methods=["GET", "POST"],
          name="console_oidc_client_new"),
    Route("/verwaltung/mandanten/{tenant_id}/oidc-clients/{client_id}", oidc_client_action, methods=["POST"],
          name="console_oidc_client"),
    Route("/verwaltung/mandanten/{tenant_id}/saml-sps/neu", new_saml_sp, methods=["GET", "POST"],
          name="console_saml_sp_new"),
    Route("/verwaltung/mandanten/{tenant_id}/saml-sps/{sp_id}/loeschen", delete_saml_sp, methods=["POST"],
          name="console_saml_sp_delete"),
    Route("/verwaltung/mandanten/{tenant_id}/admins", add_tenant_admin, methods=["POST"], name="console_admin_add"),
    Route("/verwaltung/mandanten/{tenant_id}/admins/{account_id}/entfernen", remove_tenant_admin, methods=["POST"],
          name="console_admin_remove"),
    Route("/verwaltung/betreiber-admins", operators, name="console_operators"),
    Route("/verwaltung/betreiber-admins/{account_id}/entfernen", remove_operator, methods=["POST"],
          name="console_operator_remove"),
    Route("/verwaltung/mandanten/{tenant_id}/oidc-clients/{client_id}/einstellungen", oidc_client_settings,
          methods=["GET", "POST"], name="console_oidc_client_settings"),
    Route("/verwaltung/mandanten/{tenant_id}/saml-sps/{sp_id}/einstellungen", saml_sp_settings,
          methods=["GET", "POST"], name="console_saml_sp_settings"),
    Route("/verwaltung/mandanten/{tenant_id}/saml-sps/{sp_id}/aktualisieren", refresh_saml_sp, methods=["POST"],
          name="console_saml_sp_refresh"),
]
