"""The citizen's organisations (issue #10): list and create, the organisation page (data, members, roles,
invitations, leaving), accepting an invitation from the mail, and the organisation's transfer history.

Plain forms; admin-only controls are shown only to admins, and every rule is enforced again in
services/organisations.py. A failed action re-renders the organisation page with the message; nothing
changed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import InvalidInput, ServicekontoError
from servicekonto.domain.accounts import Account
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.organisations import (
    DATA_FIELDS,
    FOUNDER_LEVEL,
    INVITATION_DAYS,
    REGISTER_TYPES,
    InvitationForOtherAddress,
    InvitationInvalid,
    Membership,
    Organisation,
    OrganisationError,
    OrganisationRole,
)
from servicekonto.services.organisations import OrganisationService
from servicekonto.web.data_pages import transfer_row
from servicekonto.web.feedback import Message, error_message, field_errors
from servicekonto.web.forms import Form, form_page, values_without_secrets
from servicekonto.web.page_helpers import redirect_to, render, service
from servicekonto.web.session_context import require_account
from servicekonto.web.settings_pages import LEVEL_LABELS, countries

BASE = "/konto/organisationen"

ROLE_LABELS = {OrganisationRole.ADMIN: i18n._l("Administrator"), OrganisationRole.MEMBER: i18n._l("Member")}
REGISTER_LABELS = {
    "HRA": i18n._l("HRA – commercial register, partnerships"), "HRB": i18n._l("HRB – commercial register, companies"),
    "GnR": i18n._l("GnR – register of cooperatives"), "PR": i18n._l("PR – register of partnerships (professions)"),
    "VR": i18n._l("VR – register of associations"), "GsR": i18n._l("GsR – register of civil-law partnerships"),
}
ORGANISATION_FIELD_LABELS = {
    "name": i18n._l("Name of the organisation"), "legal_form": i18n._l("Legal form"),
    "register_type": i18n._l("Register"), "register_court": i18n._l("Register court"),
    "register_number": i18n._l("Register number"), "street_address": i18n._l("Street and house number"),
    "postal_code": i18n._l("Postcode"), "locality": i18n._l("City"), "country": i18n._l("Country"),
    "contact_email": i18n._l("Contact e-mail address"), "contact_phone": i18n._l("Contact phone"),
}
NOTICES = {
    "created": (i18n._l("The organisation is created. You are its administrator."), "success"),
    "saved": (i18n._l("The organisation's data is saved."), "success"),
    "nothing_changed": (i18n._l("You did not change anything."), "info"),
    "invited": (i18n._l("The invitation is sent. The link in it works once and for %(days)s days."), "success"),
    "invitation_withdrawn": (i18n._l("The invitation is withdrawn; its link no longer works."), "success"),
    "role_changed": (i18n._l("The role is changed."), "success"),
    "service_roles_changed": (i18n._l("The roles for online services are saved."), "success"),
    "member_removed": (i18n._l("The member is removed from the organisation."), "success"),
    "admin_transferred": (i18n._l("The administrator role is handed over. You are a member now."), "success"),
    "joined": (i18n._l("You are now a member of the organisation."), "success"),
    "left": (i18n._l("You have left the organisation."), "success"),
    "dissolved": (i18n._l("The organisation is dissolved."), "success"),
}


def _service(request: Request) -> OrganisationService:
    found: OrganisationService = service(request, "organisations")
    return found


def page_notice(code: str | None) -> Message | None:
    if code and code in NOTICES:
        text, kind = NOTICES[code]
        return Message(code=f"notice.organisation.{code}", text=str(text).replace("%(days)s", str(INVITATION_DAYS)),
                       kind=kind)
    return None


def source_badge(organisation: Organisation) -> dict[str, str]:
    verified = organisation.source is AttributeSource.OPERATOR
    return {"verified": "yes" if verified else "no",
            "text": str(i18n._l("verified by the operator") if verified else i18n._l("self-declared")),
            "level": str(LEVEL_LABELS[int(organisation.trust_level)])}


def _form_context() -> dict[str, object]:
    return {"countries": countries(i18n.current_locale()),
            "register_types": [(r, str(REGISTER_LABELS[r])) for r in REGISTER_TYPES],
            "labels": {k: str(v) for k, v in ORGANISATION_FIELD_LABELS.items()}}


def _values(organisation: Organisation) -> dict[str, str]:
    return {f: getattr(organisation, f) or "" for f in DATA_FIELDS}


# -- list and create ---------------------------------------------------------------------------------------------

@form_page
def organisations(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    rows = [{"id": m.organisation.id, "name": m.organisation.name, "role": str(ROLE_LABELS[m.role]),
             "badge": source_badge(m.organisation)} for m in _service(request).memberships(account)]
    return render(request, "organisations/list.html", rows=rows,
                  can_create=session.trust_level.satisfies(FOUNDER_LEVEL),
                  founder_level=str(LEVEL_LABELS[int(FOUNDER_LEVEL)]),
                  session_level=str(LEVEL_LABELS[int(session.trust_level)]),
                  eid_available=service(request, "eid") is not None,
                  notice=page_notice(request.query_params.get("hinweis")))


@form_page
def create(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    context: dict[str, Any] = {**_form_context(), "action": f"{BASE}/neu", "editing": False,
               "can_create": session.trust_level.satisfies(FOUNDER_LEVEL),
               "founder_level": str(LEVEL_LABELS[int(FOUNDER_LEVEL)])}
    if request.method == "GET":
        return render(request, "organisations/form.html", values={"country": "DE"}, errors={}, **context)
    try:
        organisation = _service(request).create(account, session.trust_level, form)
    except InvalidInput as exc:
        return render(request, "organisations/form.html", 400, values=values_without_secrets(form),
                      errors=field_errors(exc, default_field="name"), **context)
    except OrganisationError as exc:
        return render(request, "organisations/form.html", exc.http_status, values=values_without_secrets(form),
                      errors={}, notice=error_message(exc), **context)
    return redirect_to(f"{BASE}/{organisation.id}", hinweis="created")


# -- the organisation page ---------------------------------------------------------------------------------------

def _detail(request: Request, account: Account, organisation_id: str, status_code: int = 200, *,
            notice: Message | None = None, errors: dict[str, Message] | None = None,
            values: dict[str, str] | None = None) -> Response:
    organisations = _service(request)
    membership = organisations.membership(account, organisation_id)
    admin = membership.role is OrganisationRole.ADMIN
    services = organisations.assignable_roles(account, organisation_id) if admin else []
    names = {s.service_id: s.name for s in services}
    labels = {(r.service_id, r.name): r.label for s in services for r in s.roles}
    members = []
    if admin:
        for m in organisations.members(account, organisation_id):
            members.append({
                "account_id": m.account_id, "username": m.username, "role": m.role.value,
                "role_label": str(ROLE_LABELS[m.role]), "self": m.account_id == account.id,
                "joined_iso": m.joined_at.isoformat(), "joined": m.joined_at.strftime("%d.%m.%Y"),
                "service_roles": sorted(f"{names.get(s, s)}: {labels.get((s, r), r)}" for s, r in m.service_roles),
                "held": {f"{s} {r}" for s, r in m.service_roles}})
    invitations = [{"id": i.id, "email": i.email, "role": str(ROLE_LABELS[i.role]),
                    "expires_iso": i.expires_at.isoformat(), "expires": i.expires_at.strftime("%d.%m.%Y %H:%M")}
                   for i in organisations.open_invitations(account, organisation_id)] if admin else []
    own_roles = _own_service_roles(membership, names, labels)
    organisation = membership.organisation
    data = [{"label": str(ORGANISATION_FIELD_LABELS[f]), "value": _shown(organisation, f)}
            for f in DATA_FIELDS if getattr(organisation, f)]
    return render(request, "organisations/detail.html", status_code, organisation=organisation, data=data,
                  badge=source_badge(organisation), membership=membership, admin=admin,
                  role_label=str(ROLE_LABELS[membership.role]), members=members, services=services,
                  invitations=invitations, own_roles=own_roles, others=sum(1 for m in members if not m["self"]),
                  admins=sum(1 for m in members if m["role"] == "admin"), invitation_days=INVITATION_DAYS,
                  roles=[(r.value, str(label)) for r, label in ROLE_LABELS.items()], errors=errors or {},
                  values=values or {}, notice=notice or page_notice(request.query_params.get("hinweis")),
                  base=f"{BASE}/{organisation.id}")


def _shown(organisation: Organisation, field: str) -> str:
    value = str(getattr(organisation, field))
    if field == "country":
        return dict(countries(i18n.current_locale())).get(value, value)
    if field == "register_type":
        return str(REGISTER_LABELS.get(value, value))
    return value


def _own_service_roles(membership: Membership, names: dict[str, str],
                       labels: dict[tuple[str, str], str]) -> list[str]:
    return sorted(f"{names.get(s, s)}: {labels.get((s, r), r)}" for s, r in membership.service_roles)


@form_page
def detail(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    return _detail(request, account, request.path_params["organisation_id"])


def _act(request: Request, form: Form, action: str) -> Response:
    """Run one POSTed action; a refused one re-renders the organisation page with its message."""
    _session, account = require_account(request)
    organisation_id = request.path_params["organisation_id"]
    organisations = _service(request)
    member_id = request.path_params.get("member_id", "")
    try:
        if action == "invite":
            organisations.invite(account, organisation_id, form.get("email", ""), role=form.get("role", "member"),
                                 locale=i18n.current_locale())
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="invited")
        if action == "withdraw":
            organisations.withdraw_invitation(account, organisation_id, request.path_params["invitation_id"])
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="invitation_withdrawn")
        if action == "role":
            organisations.set_role(account, organisation_id, member_id, form.get("role", ""))
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="role_changed")
        if action == "service_roles":
            wanted = [tuple(v.split(" ", 1)) for k, v in form.items() if k.startswith("sr_") and " " in v]
            organisations.set_service_roles(account, organisation_id, member_id,
                                            [(s, r) for s, r in wanted])
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="service_roles_changed")
        if action == "remove":
            organisations.remove(account, organisation_id, member_id)
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="member_removed")
        if action == "transfer":
            organisations.transfer_admin(account, organisation_id, form.get("member_id", ""))
            return redirect_to(f"{BASE}/{organisation_id}", hinweis="admin_transferred")
        if action == "leave":
            organisations.leave(account, organisation_id)
            return redirect_to(BASE, hinweis="left")
        if action == "dissolve":
            if form.get("confirm") != "yes":
                return _detail(request, account, organisation_id, 400, errors={"confirm": Message(
                    code="organisation.dissolve_unconfirmed", kind="error",
                    text=i18n.gettext("Please confirm that the organisation shall be dissolved."))})
            organisations.dissolve(account, organisation_id)
            return redirect_to(BASE, hinweis="dissolved")
    except InvalidInput as exc:
        return _detail(request, account, organisation_id, 400, errors=field_errors(exc, default_field="email"),
                       values=values_without_secrets(form))
    except OrganisationError as exc:
        if exc.http_status == 403 and action != "leave":
            raise  # not an admin: the error page, nothing of the organisation shown again
        return _detail(request, account, organisation_id, exc.http_status, notice=error_message(exc))
    return redirect_to(f"{BASE}/{organisation_id}")


def _action(name: str):  # type: ignore[no-untyped-def]
    @form_page
    def endpoint(request: Request, form: Form) -> Response:
        return _act(request, form, name)

    endpoint.__name__ = f"organisation_{name}"
    return endpoint


@form_page
def edit(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    organisations = _service(request)
    organisation_id = request.path_params["organisation_id"]
    membership = organisations.membership(account, organisation_id)
    context: dict[str, Any] = {**_form_context(), "action": f"{BASE}/{organisation_id}/bearbeiten", "editing": True,
               "organisation": membership.organisation, "badge": source_badge(membership.organisation),
               "can_create": True}
    if membership.role is not OrganisationRole.ADMIN:
        raise_forbidden(organisations, account, organisation_id)
    if request.method == "GET":
        return render(request, "organisations/form.html", values=_values(membership.organisation), errors={},
                      **context)
    try:
        changed = organisations.edit(account, organisation_id, form)
    except InvalidInput as exc:
        return render(request, "organisations/form.html", 400, values=values_without_secrets(form),
                      errors=field_errors(exc, default_field="name"), **context)
    return redirect_to(f"{BASE}/{organisation_id}", hinweis="saved" if changed else "nothing_changed")


def raise_forbidden(organisations: OrganisationService, account: Account, organisation_id: str) -> None:
    organisations.members(account, organisation_id)  # raises organisation.forbidden for a non-admin


@form_page
def transfers(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    organisation_id = request.path_params["organisation_id"]
    organisations = _service(request)
    page = request.query_params.get("seite", "1")
    number = min(int(page), 10_000) if page.isdigit() and int(page) >= 1 else 1
    entries, more = organisations.transfers(account, organisation_id, page=number)
    members = {m.account_id: m.username for m in organisations.members(account, organisation_id)}
    rows = [{**transfer_row(e), "member": members.get(e.account_id, i18n.gettext("former member"))} for e in entries]
    link = f"{BASE}/{organisation_id}/datenuebermittlungen?seite="
    return render(request, "organisations/transfers.html",
                  organisation=organisations.membership(account, organisation_id).organisation, rows=rows,
                  previous_link=f"{link}{number - 1}" if number > 1 else None,
                  next_link=f"{link}{number + 1}" if more else None)


# -- accepting an invitation -------------------------------------------------------------------------------------

@form_page
def invitation(request: Request, form: Form) -> Response:
    """Needs a login (and comes back here after it); GET shows what is offered, only the POST accepts, so a
    mail scanner opening the link cannot use it up."""
    _session, account = require_account(request)
    token = request.path_params["token"]
    organisations = _service(request)
    try:
        found = organisations.check_invitation(token)
    except InvitationInvalid as exc:
        return render(request, "organisations/invitation.html", 400, valid=False, notice=error_message(exc))
    context: dict[str, Any] = {
        "valid": True, "organisation": found.organisation, "badge": source_badge(found.organisation),
        "role": str(ROLE_LABELS[found.invitation.role]), "action": request.url.path, "account": account}
    if request.method == "GET":
        return render(request, "organisations/invitation.html", **context)
    try:
        membership = organisations.accept(account, token)
    except InvitationForOtherAddress as exc:
        return render(request, "organisations/invitation.html", 403, **context, notice=error_message(exc))
    except ServicekontoError as exc:
        if not isinstance(exc, OrganisationError):
            raise
        return render(request, "organisations/invitation.html", exc.http_status, **{**context, "valid": False},
                      notice=error_message(exc))
    return redirect_to(f"{BASE}/{membership.organisation.id}", hinweis="joined")


ORG = BASE + "/{organisation_id}"
routes = [
    Route(BASE, organisations, name="organisations"),
    Route(f"{BASE}/neu", create, methods=["GET", "POST"], name="organisation_new"),
    Route(f"{BASE}/einladung/{{token}}", invitation, methods=["GET", "POST"], name="organisation_invitation"),
    Route(ORG, detail, name="organisation"),
    Route(f"{ORG}/bearbeiten", edit, methods=["GET", "POST"], name="organisation_edit"),
    Route(f"{ORG}/datenuebermittlungen", transfers, name="organisation_transfers"),
    Route(f"{ORG}/einladen", _action("invite"), methods=["POST"], name="organisation_invite"),
    Route(f"{ORG}/einladungen/{{invitation_id}}/zurueckziehen", _action("withdraw"), methods=["POST"],
          name="organisation_invitation_withdraw"),
    Route(f"{ORG}/mitglieder/{{member_id}}/rolle", _action("role"), methods=["POST"], name="organisation_role"),
    Route(f"{ORG}/mitglieder/{{member_id}}/dienstrollen", _action("service_roles"), methods=["POST"],
          name="organisation_service_roles"),
    Route(f"{ORG}/mitglieder/{{member_id}}/entfernen", _action("remove"), methods=["POST"],
          name="organisation_remove"),
    Route(f"{ORG}/uebergeben", _action("transfer"), methods=["POST"], name="organisation_transfer"),
    Route(f"{ORG}/verlassen", _action("leave"), methods=["POST"], name="organisation_leave"),
    Route(f"{ORG}/aufloesen", _action("dissolve"), methods=["POST"], name="organisation_dissolve"),
]
