"""eID pages (DESIGN.md §6): log in, register and raise the trust level with the ID card. The citizen's eID
client fetches the TC token here (BSI TR-03124), talks to the eID server, and sends the browser back to the
refresh address; only then do we ask the eID server for the result (never the browser)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain import normalise
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.auth_request import AuthRequest, OrganisationMode
from servicekonto.domain.eid import EidFailed
from servicekonto.domain.normalise import FieldInvalid
from servicekonto.services.eid import SESSION_METHOD, CardOfAnotherAccount, Identified, Purpose
from servicekonto.web.components import components
from servicekonto.web.consent_pages import allow_form_target, pending_request_origin, protocol_response
from servicekonto.web.feedback import Message, error_message, field_errors
from servicekonto.web.forms import Form, browser_id, form_page
from servicekonto.web.page_helpers import redirect_to, render, service
from servicekonto.web.pages import safe_local_path
from servicekonto.web.request_context import content_security_policy
from servicekonto.web.second_factor_pages import start_session
from servicekonto.web.session_context import current_session, require_account, set_session_cookie
from servicekonto.web.settings_pages import FIELD_LABELS, LEVEL_LABELS, SOURCE_LABELS, display_value

TC_TOKEN = "/eid/tc-token"
REFRESH = "/eid/zurueck"
PAOS_BINDING = "urn:liberty:paos:2006-08"
PSK_PROTOCOL = "urn:ietf:rfc:4279"
SIMULATOR_CLIENT = "/eid-simulator/client"
START = {Purpose.LOGIN: "/anmelden/ausweis", Purpose.REGISTER: "/registrieren/ausweis",
         Purpose.UPGRADE: "/konto/vertrauensniveau", Purpose.TEMPORARY: "/ausweisen/einmalig"}
TEMPORARY_RELEASE = "/ausweisen/einmalig/freigabe"
RECEIPT_ZONE = ZoneInfo("Europe/Berlin")
MOBILE_SCHEME = "eid"  # TR-03124 / [EUMW]: eid://127.0.0.1:24727/eID-Client?tcTokenURL=… on smartphones

HEADINGS = {Purpose.LOGIN: _l("Log in with your ID card"), Purpose.REGISTER: _l("Register with your ID card"),
            Purpose.UPGRADE: _l("Raise your trust level with your ID card"),
            Purpose.TEMPORARY: _l("Identify once with your ID card")}


def _eid(request: Request):  # type: ignore[no-untyped-def]
    return components(request).services.get("eid")


def mobile_client_url(desktop: str) -> str:
    """The smartphone's activation URL: the desktop one with the `eid` scheme (BSI TR-03124-1 §2.2)."""
    return MOBILE_SCHEME + "://" + desktop.split("://", 1)[-1]


def activation_url(request: Request, ref: str, *, mobile: bool = False) -> str:
    """Where the browser goes to start the eID client: AusweisApp's local URL (`http://127.0.0.1:24727/…` on
    this computer, `eid://127.0.0.1:24727/…` on a smartphone), or the simulator's page in a test system."""
    base = components(request).base_url.rstrip("/")
    tc_token_url = f"{base}{TC_TOKEN}?" + urlencode({"ref": ref})
    if service(request, "eid_simulated"):
        client = SIMULATOR_CLIENT  # a test system has no AusweisApp: both choices lead to the simulator
    else:
        client = service(request, "eid_client_url")
        client = mobile_client_url(client) if mobile else client
    return f"{client}?" + urlencode({"tcTokenURL": tc_token_url})


def _allow_eid_client(request: Request, response: Response, portal: str | None) -> Response:
    """The start form is answered with a redirect to the eID client, which Chromium checks against
    `form-action`: the client's local origin and the `eid:` scheme are allowed there (and a waiting portal)."""
    sources = ["'self'"]
    if not service(request, "eid_simulated"):
        parts = urlsplit(service(request, "eid_client_url"))
        sources += [f"{parts.scheme}://{parts.netloc}", f"{MOBILE_SCHEME}:"]
    if portal:
        sources.append(portal)
    response.headers["content-security-policy"] = content_security_policy(tuple(sources))
    return response


def _temporary_request(request: Request, return_to: str) -> AuthRequest | None:
    """The portal request a temporary identification answers: alive, and one that allows it."""
    if not return_to.startswith("/anmeldung/"):
        return None
    auth_request = service(request, "auth_requests").get(return_to.removeprefix("/anmeldung/"))
    if auth_request is None or not auth_request.temporary_allowed:
        return None
    # Without an account there is no organisation to act for (issue #10).
    return auth_request if auth_request.organisation_mode is not OrganisationMode.REQUIRED else None


def temporary_link(request: Request, return_to: str | None) -> str | None:
    """For the login page of a portal request: the way to identify once without an account, if offered."""
    if _eid(request) is None or not return_to or _temporary_request(request, return_to) is None:
        return None
    return START[Purpose.TEMPORARY] + "?" + urlencode({"return_to": return_to})


def _request_gone(request: Request) -> Response:
    return render(request, "eid_failed.html", 410, notice=Message(
        code="eid.request_gone", kind="error",
        text=i18n.gettext("This login request has expired or was already completed. Please start again at the "
                          "online service.")), again="")


def _failed(request: Request, exc: EidFailed, purpose: str, return_to: str) -> Response:
    again = START[purpose] + ("?" + urlencode({"return_to": return_to}) if return_to else "")
    page = render(request, "eid_failed.html", exc.http_status if exc.http_status >= 400 else 400,
                  notice=error_message(exc), again=again)
    return allow_form_target(page, pending_request_origin(request, return_to))


def _start(request: Request, form: Form, purpose: str, *, account_id: str | None = None) -> Response:
    eid = _eid(request)
    return_to = safe_local_path(request.query_params.get("return_to"), "")
    if eid is None:
        return render(request, "eid_failed.html", 503, notice=Message(
            code="eid.unavailable", kind="error",
            text=i18n.gettext("Identification with the ID card is not available here.")), again="")
    service_name = ""
    if purpose == Purpose.TEMPORARY:
        auth_request = _temporary_request(request, return_to)
        if auth_request is None:
            return _request_gone(request)
        service_name = auth_request.service_name
    if request.method == "GET":
        action = request.url.path + ("?" + urlencode({"return_to": return_to}) if return_to else "")
        page = render(request, "eid_start.html", purpose=purpose, heading=str(HEADINGS[purpose]), action=action,
                      service_name=service_name, simulated=bool(service(request, "eid_simulated")))
        return _allow_eid_client(request, page, pending_request_origin(request, return_to))
    try:
        pending = eid.start(purpose, binding=browser_id(request), return_to=return_to, account_id=account_id)
    except EidFailed as exc:
        return _failed(request, exc, purpose, return_to)
    return redirect_to(activation_url(request, pending.ref, mobile=form.get("client") == "mobile"))


@form_page
def login_start(request: Request, form: Form) -> Response:
    return _start(request, form, Purpose.LOGIN)


@form_page
def register_start(request: Request, form: Form) -> Response:
    return _start(request, form, Purpose.REGISTER)


@form_page
def upgrade_start(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    return _start(request, form, Purpose.UPGRADE, account_id=account.id)


@form_page
def temporary_start(request: Request, form: Form) -> Response:
    return _start(request, form, Purpose.TEMPORARY)


def tc_token(request: Request) -> Response:
    """TR-03124 TC token; an unknown or finished session is HTTP 400 (TR-03130 ≥ 2.0)."""
    eid = _eid(request)
    pending = eid.pending(request.query_params.get("ref", "")) if eid is not None else None
    if pending is None:
        return Response("unknown session", status_code=400, media_type="text/plain")
    base = components(request).base_url.rstrip("/")
    root = etree.Element("TCTokenType")
    etree.SubElement(root, "ServerAddress").text = pending.server_address or ""
    etree.SubElement(root, "SessionIdentifier").text = pending.session_id
    etree.SubElement(root, "RefreshAddress").text = f"{base}{REFRESH}?" + urlencode({"ref": pending.ref})
    etree.SubElement(root, "CommunicationErrorAddress").text = f"{base}{REFRESH}?" + urlencode(
        {"ref": pending.ref})
    etree.SubElement(root, "Binding").text = PAOS_BINDING
    if pending.psk_key:
        etree.SubElement(root, "PathSecurity-Protocol").text = PSK_PROTOCOL
        etree.SubElement(etree.SubElement(root, "PathSecurity-Parameters"), "PSK").text = pending.psk_key
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type="text/xml; charset=utf-8", headers={"cache-control": "no-store"})


@form_page
def refresh(request: Request, form: Form) -> Response:
    """Back from the eID client. Whatever the URL says (ResultMajor …), the result comes from the eID server."""
    eid = _eid(request)
    ref = request.query_params.get("ref", "")
    pending = eid.pending(ref) if eid is not None else None
    purpose = pending.purpose if pending else Purpose.LOGIN
    return_to = pending.return_to if pending else ""
    try:
        if eid is None:
            raise EidFailed()
        identified = eid.finish(ref, binding=browser_id(request))
    except EidFailed as exc:
        return _failed(request, exc, purpose, return_to)
    if identified.purpose == Purpose.LOGIN:
        return _log_in(request, identified)
    if identified.purpose == Purpose.TEMPORARY:
        return redirect_to(TEMPORARY_RELEASE, id=eid.keep(identified, binding=browser_id(request)))
    if identified.purpose == Purpose.REGISTER:
        if eid.account_of(identified) is not None:
            return _log_in(request, identified)  # a known card: the citizen is registered already
        return redirect_to("/registrieren/ausweis/daten", id=eid.keep(identified, binding=browser_id(request)))
    return redirect_to("/konto/vertrauensniveau/bestaetigen", id=eid.keep(identified, binding=browser_id(request)))


def _log_in(request: Request, identified: Identified) -> Response:
    account = _eid(request).account_of(identified)
    if account is None:
        return render(request, "eid_unknown_card.html", 404, return_to=identified.return_to)
    session = current_session(request)
    if session is not None and session.account_id != account.id:
        session = None  # a card of another person logs this browser in as that person: a new session
    methods = [*(session.methods if session else []), SESSION_METHOD]
    new = start_session(request, account, level=_eid(request).level, methods=methods)
    service(request, "auditor").record(AuditEvent.LOGIN_SUCCEEDED, account_id=account.id, method=SESSION_METHOD)
    response = redirect_to(safe_local_path(identified.return_to, "/konto"))
    set_session_cookie(request, response, new)
    return response


def _rows(identified: Identified) -> list[dict[str, str]]:
    return [{"label": str(FIELD_LABELS.get(key, key)), "value": display_value(key, value)}
            for key, value in identified.data.attributes().items() if key in FIELD_LABELS]


@form_page
def register_confirm(request: Request, form: Form) -> Response:
    eid = _eid(request)
    result_id = request.query_params.get("id", "")
    identified = eid.kept(result_id, binding=browser_id(request)) if eid is not None else None
    if identified is None:
        return redirect_to(START[Purpose.REGISTER])
    context: dict[str, object] = {"rows": _rows(identified), "result_id": result_id}
    origin = pending_request_origin(request, identified.return_to)
    if request.method == "GET":
        return allow_form_target(render(request, "eid_register.html", **context), origin)
    email = form.get("email", "").strip()
    errors: dict[str, Message] = {}
    if email:
        try:
            email = normalise.email("email", email)
        except FieldInvalid as exc:
            errors.update(field_errors(exc, default_field="email"))
    try:
        if errors:
            raise InvalidInput()
        account = eid.register(identified, locale=i18n.current_locale(),
                               accepted_terms=form.get("accept_terms") == "yes")
    except CardOfAnotherAccount as exc:
        return render(request, "eid_failed.html", 409, notice=error_message(exc), again="")
    except InvalidInput as exc:
        if not errors:
            errors = field_errors(exc, default_field="accept_terms")
        return allow_form_target(render(request, "eid_register.html", 400, **context, errors=errors,
                                        values={"email": form.get("email", "")}), origin)
    eid.forget(result_id)
    if email:
        service(request, "accounts").request_email_change(account, email)
    session = start_session(request, account, level=eid.level, methods=[SESSION_METHOD])
    service(request, "auditor").record(AuditEvent.LOGIN_SUCCEEDED, account_id=account.id, method=SESSION_METHOD)
    response = redirect_to(safe_local_path(identified.return_to, "/konto"),
                           **({"hinweis": "email_change_sent"} if email else {}))
    set_session_cookie(request, response, session)
    return response


@form_page
def upgrade_confirm(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    eid = _eid(request)
    result_id = request.query_params.get("id", "")
    identified = eid.kept(result_id, binding=browser_id(request)) if eid is not None else None
    if identified is None or identified.account_id != account.id:
        return redirect_to(START[Purpose.UPGRADE])
    name_change = eid.name_change(account, identified)
    context: dict[str, object] = {"rows": _rows(identified), "result_id": result_id, "name_change": name_change,
                                  "renewal": eid.renews(account, identified)}
    origin = pending_request_origin(request, identified.return_to)
    if request.method == "GET":
        return allow_form_target(render(request, "eid_upgrade.html", **context), origin)
    if form.get("decision") == "cancel":
        eid.forget(result_id)
        return redirect_to("/konto")
    try:
        eid.upgrade(account, identified, name_confirmed=form.get("confirm_name") == "yes")
    except CardOfAnotherAccount as exc:
        eid.forget(result_id)
        return render(request, "eid_failed.html", 409, notice=error_message(exc), again="")
    except InvalidInput as exc:
        return allow_form_target(render(request, "eid_upgrade.html", 400, **context,
                                        errors=field_errors(exc, default_field="confirm_name")), origin)
    eid.forget(result_id)
    renewed = start_session(request, account, level=eid.level, methods=[*session.methods, SESSION_METHOD])
    service(request, "auditor").record(AuditEvent.LOGIN_SUCCEEDED, account_id=account.id, method=SESSION_METHOD)
    response = redirect_to(safe_local_path(identified.return_to, "/konto"))
    set_session_cookie(request, response, renewed)
    return response


# -- temporary identification: one portal request, no account ------------------------------------------------

def _plan_rows(plan: Any) -> list[dict[str, object]]:
    return [{"label": str(FIELD_LABELS.get(item.key, item.key)), "value": display_value(item.key, item.value),
             "source": str(SOURCE_LABELS[AttributeSource(item.source)]) if item.source else "",
             "level": str(LEVEL_LABELS[int(item.trust_level)]) if item.trust_level else "",
             "essential": item.essential} for item in plan.available]


def _continue(answer: Any) -> dict[str, object]:
    """How the receipt page hands the answer on: a link for a redirect (OIDC), or the HTTP-POST binding's
    form (SAML), read back from the IdP's own page so the receipt carries exactly what it would send."""
    if answer.location:
        return {"href": answer.location}
    form = lxml.html.document_fromstring(answer.body).find(".//form")
    assert form is not None
    fields = [(i.get("name"), i.get("value") or "") for i in form.iter("input") if i.get("type") == "hidden"]
    return {"action": form.get("action"), "fields": fields}


@form_page
def temporary_release(request: Request, form: Form) -> Response:
    """The card's data, shown before it is sent (nothing is remembered: asked every time); after "send",
    a receipt of what went to whom, with the way on to the portal. No session, account or consent is
    created; the result is forgotten here and only an audit record without personal data stays."""
    eid = _eid(request)
    result_id = request.query_params.get("id", "")
    identified = eid.kept(result_id, binding=browser_id(request)) if eid is not None else None
    if identified is None or identified.purpose != Purpose.TEMPORARY:
        return _request_gone(request)
    auth_request = _temporary_request(request, identified.return_to)
    if auth_request is None:
        eid.forget(result_id)
        return _request_gone(request)
    release = service(request, "release")
    values = eid.card_values(identified)
    plan = release.plan_identified(values, auth_request)
    missing = [str(FIELD_LABELS.get(i.key, i.key)) for i in plan.items if i.value is None]
    blocked = [str(FIELD_LABELS.get(i.key, i.key)) for i in plan.items if i.value is None and i.essential]
    context: dict[str, object] = {"service_name": auth_request.service_name, "rows": _plan_rows(plan),
                                  "missing": missing, "blocked": blocked, "result_id": result_id}
    if request.method == "GET":
        return allow_form_target(render(request, "eid_temporary.html", **context), auth_request.return_origin)
    finisher = service(request, auth_request.protocol)
    eid.forget(result_id)
    service(request, "auth_requests").finish(auth_request.id)
    if form.get("decision") != "send" or blocked:
        service(request, "auditor").record(AuditEvent.CONSENT_REFUSED, tenant_id=auth_request.tenant_id,
                                           service=auth_request.service_id, temporary="true")
        return protocol_response(finisher.refuse(auth_request))
    now = service(request, "auth_requests").now()
    result = release.release_identified(values, auth_request, trust_level=eid.level, methods=(SESSION_METHOD,),
                                        auth_time=int(now))
    answer = finisher.finish(auth_request, result, session_hash=None)
    sent = datetime.fromtimestamp(now, RECEIPT_ZONE)
    page = render(request, "eid_temporary_receipt.html", service_name=auth_request.service_name,
                  rows=context["rows"], sent_at=sent.strftime("%d.%m.%Y %H:%M"), proceed=_continue(answer))
    page.headers["cache-control"] = "no-store"
    return allow_form_target(page, getattr(answer, "form_target", None) or auth_request.return_origin)


routes = [
    Route(START[Purpose.LOGIN], login_start, methods=["GET", "POST"], name="eid_login"),
    Route(START[Purpose.REGISTER], register_start, methods=["GET", "POST"], name="eid_register"),
    Route("/registrieren/ausweis/daten", register_confirm, methods=["GET", "POST"], name="eid_register_confirm"),
    Route(START[Purpose.UPGRADE], upgrade_start, methods=["GET", "POST"], name="eid_upgrade"),
    Route("/konto/vertrauensniveau/bestaetigen", upgrade_confirm, methods=["GET", "POST"],
          name="eid_upgrade_confirm"),
    Route(START[Purpose.TEMPORARY], temporary_start, methods=["GET", "POST"], name="eid_temporary"),
    Route(TEMPORARY_RELEASE, temporary_release, methods=["GET", "POST"], name="eid_temporary_release"),
    Route(TC_TOKEN, tc_token, name="eid_tc_token"),
    Route(REFRESH, refresh, name="eid_refresh"),
]
