"""The administration console (/verwaltung): server-rendered, no JavaScript, the same use cases as the
management API (services/admin.py). Admins log in with their citizen account; managing needs the
administration's trust level (a second factor by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import update_wrapper
from typing import Concatenate, ParamSpec

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core.errors import InvalidInput, ServicekontoError
from servicekonto.core.i18n import LazyString, _l
from servicekonto.domain.admins import AdminTrustTooLow, Principal, TenantAction
from servicekonto.domain.saml_sp import MAX_METADATA_BYTES
from servicekonto.domain.tenants import Tenant, TenantStatus
from servicekonto.services.admin import AdminService, RotatedSecret
from servicekonto.services.oidc_clients import NewClient
from servicekonto.web.components import components
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
}


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
        if exc.http_status != 409:
            raise
        return render(request, "console/tenant_request.html", 409, errors={"name": error_message(exc)}, values=form)
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}", hinweis="tenant_requested")


@console_page
def tenant_detail(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    return render(request, "console/tenant.html", tenant=tenant, operator=who.operator,
                  actions=STATUS_ACTIONS[tenant.status] if who.operator else (),
                  clients=admin.oidc_clients(who, tenant.id), sps=admin.saml_sps(who, tenant.id),
                  events=admin.audit_log(who, tenant.id, limit=50),
                  notice=notice(request.query_params.get("hinweis")))


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
    context = {"tenant": tenant, "values": form}
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
        response: Response = await run_in_threadpool(_run_upload, handler, request, form, upload)
        return finish(request, response)

    return endpoint


def _run_upload(handler: Callable[[Request, Form, bytes | None], Response], request: Request, form: Form,
                upload: bytes | None) -> Response:
    if request.method == "POST":
        check_csrf(request, form)
    return handler(request, form, upload)


def _new_saml_sp(request: Request, who: Principal, form: Form, upload: bytes | None) -> Response:
    admin, tenant = _tenant(request, who)
    context = {"tenant": tenant, "values": form}
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


CHART_WIDTH = 720
CHART_HEIGHT = 200
CHART_LEFT = 40
CHART_BOTTOM = 24


def login_chart(per_day: list[tuple[date, dict[int, int]]]) -> dict[str, object]:
    """Geometry of a stacked bar chart (logins per day, one colour class per trust level) for an inline SVG
    drawn on the server: no script, no external assets."""
    peak = max((sum(levels.values()) for _day, levels in per_day), default=0) or 1
    plot_height = CHART_HEIGHT - CHART_BOTTOM - 8
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(per_day), 1)
    bars = []
    for index, (day, levels) in enumerate(per_day):
        base = CHART_HEIGHT - CHART_BOTTOM
        for level in sorted(levels):
            height = levels[level] / peak * plot_height
            base -= height
            bars.append({"x": round(CHART_LEFT + index * slot + 1, 1), "y": round(base, 1),
                         "width": round(max(slot - 2, 1), 1), "height": round(height, 1), "level": level,
                         "title": f"{day.isoformat()}: {levels[level]} (Level {level})"})
    labels = [{"x": round(CHART_LEFT + index * slot + slot / 2, 1), "text": day.strftime("%d.%m.")}
              for index, (day, _levels) in enumerate(per_day) if index % 7 == 0]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT, "axis_y": CHART_HEIGHT - CHART_BOTTOM,
            "peak": peak, "bars": bars, "labels": labels}


@console_page
def tenant_statistics(request: Request, who: Principal, form: Form) -> Response:
    admin, tenant = _tenant(request, who)
    found = admin.statistics(who, tenant.id, days=30)
    per_day = found.per_day()
    return render(request, "console/statistics.html", tenant=tenant, counts=found.counts,
                  total=sum(c.count for c in found.counts), chart=login_chart(per_day), first_day=found.first_day,
                  last_day=per_day[-1][0])


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
]
