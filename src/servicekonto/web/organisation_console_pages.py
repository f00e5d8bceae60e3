"""The administration console's part of organisation accounts (issue #10): operator admins see every
organisation and verify one with an evidence note; tenant admins (and operators) define the roles of their
tenant's services. Same rules as everywhere: the service (services/organisations.py) checks who acts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import LazyString, _l
from servicekonto.domain.admins import AdminForbidden, Principal
from servicekonto.domain.organisations import OrganisationError
from servicekonto.services.organisations import OrganisationService
from servicekonto.web.console_pages import _tenant, console_page, render
from servicekonto.web.feedback import Message, error_message, field_errors
from servicekonto.web.forms import Form
from servicekonto.web.organisation_pages import source_badge
from servicekonto.web.page_helpers import redirect_to, service

NOTICES: dict[str, LazyString] = {
    "verified": _l("The organisation's data is marked as verified by the operator."),
    "role_added": _l("The role is defined for the service."),
    "role_removed": _l("The role is removed; members who held it no longer have it."),
}


def _service(request: Request) -> OrganisationService:
    found: OrganisationService = service(request, "organisations")
    return found


def _notice(code: str | None) -> Message | None:
    if code and code in NOTICES:
        return Message(code=f"notice.console.{code}", text=str(NOTICES[code]), kind="success")
    return None


def _organisations_page(request: Request, who: Principal, status_code: int = 200, *,
                        errors: dict[str, Message] | None = None, failed: str = "") -> Response:
    rows = [{"organisation": o, "badge": source_badge(o)} for o in _service(request).all_organisations(who)]
    return render(request, "organisations/console_list.html", status_code, rows=rows, errors=errors or {},
                  failed=failed, operator=who.operator, notice=_notice(request.query_params.get("hinweis")))


@console_page
def organisations(request: Request, who: Principal, form: Form) -> Response:
    if not who.operator:
        raise AdminForbidden("operator only")
    return _organisations_page(request, who)


@console_page
def verify(request: Request, who: Principal, form: Form) -> Response:
    organisation_id = request.path_params["organisation_id"]
    try:
        _service(request).verify(who, organisation_id, form.get("note", ""))
    except InvalidInput as exc:
        return _organisations_page(request, who, 400, errors=field_errors(exc, default_field=f"note-{organisation_id}"),
                                   failed=organisation_id)
    return redirect_to("/verwaltung/organisationen", hinweis="verified")


def _roles_page(request: Request, who: Principal, status_code: int = 200, *, errors: dict[str, Message] | None = None,
                values: dict[str, str] | None = None, notice: Message | None = None) -> Response:
    _admin, tenant = _tenant(request, who)
    services = _service(request).services_with_roles(who, tenant.id)
    return render(request, "organisations/console_service_roles.html", status_code, tenant=tenant, services=services,
                  errors=errors or {}, values=values or {},
                  notice=notice or _notice(request.query_params.get("hinweis")))


@console_page
def service_roles(request: Request, who: Principal, form: Form) -> Response:
    if request.method == "GET":
        return _roles_page(request, who)
    _admin, tenant = _tenant(request, who)
    try:
        _service(request).define_service_role(who, tenant.id, form.get("service_id", ""), form.get("name", ""),
                                              form.get("label", ""))
    except InvalidInput as exc:
        return _roles_page(request, who, 400, errors=field_errors(exc, default_field="name"), values=form)
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}/dienstrollen", hinweis="role_added")


@console_page
def remove_service_role(request: Request, who: Principal, form: Form) -> Response:
    _admin, tenant = _tenant(request, who)
    try:
        _service(request).remove_service_role(who, tenant.id, form.get("service_id", ""), form.get("name", ""))
    except OrganisationError as exc:
        return _roles_page(request, who, exc.http_status, notice=error_message(exc))
    return redirect_to(f"/verwaltung/mandanten/{tenant.id}/dienstrollen", hinweis="role_removed")


routes = [
    Route("/verwaltung/organisationen", organisations, name="console_organisations"),
    Route("/verwaltung/organisationen/{organisation_id}/pruefen", verify, methods=["POST"],
          name="console_organisation_verify"),
    Route("/verwaltung/mandanten/{tenant_id}/dienstrollen", service_roles, methods=["GET", "POST"],
          name="console_service_roles"),
    Route("/verwaltung/mandanten/{tenant_id}/dienstrollen/entfernen", remove_service_role, methods=["POST"],
          name="console_service_role_remove"),
]
