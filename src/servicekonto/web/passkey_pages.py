"""Passkeys: the account page that lists, adds and removes them, the login without a username, and the
passkey as the login's second step (after the password) or as a step-up (a portal's request for level 2,
or for level 3 with a passkey bound to the ID card).

Every ceremony form works in two posts, both with the CSRF token: `/static/passkeys.js` first posts the form
with `step=options` and gets the WebAuthn options as JSON (with a ceremony id), lets the browser create or use
the passkey, then submits the form with the ceremony id and the browser's answer. Without JavaScript the pages
render and explain; the ceremony itself is the one thing that needs it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.accounts import Account
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.flows import Flow, FlowKind, FlowState
from servicekonto.domain.passkeys import BINDING_LEVEL, BOUND_LEVEL, NAME_MAX, PASSKEY_METHOD, Passkey
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.authentication import CredentialsInvalid
from servicekonto.services.eid import SESSION_METHOD
from servicekonto.services.passkeys import Ceremony, NoPasskey
from servicekonto.services.second_factor import RECOVERY_METHOD, TOTP_METHOD
from servicekonto.services.sessions import Session
from servicekonto.services.throttle import LoginLocked
from servicekonto.web.consent_pages import allow_form_target, pending_request_origin
from servicekonto.web.feedback import Message, error_message
from servicekonto.web.forms import Form, browser_id, form_page
from servicekonto.web.page_helpers import client_address, flow_for, redirect_to, render, service
from servicekonto.web.pages import safe_local_path
from servicekonto.web.second_factor_pages import password_refused, pending_flow, start_session
from servicekonto.web.session_context import current_session, require_account, set_session_cookie

ACCOUNT_PAGE = "/konto/passkeys"
ADD = "/konto/passkeys/hinzufuegen"
LOGIN = "/anmelden/passkey"
CONFIRM = "/anmelden/passkey-bestaetigen"
FRESH_SECONDS = 10 * 60  # a login this recent needs no password again to add or remove a passkey
OPTIONS_STEP = "options"
SECOND_FACTOR_METHODS = frozenset({TOTP_METHOD, RECOVERY_METHOD})

NOTICES = {
    "passkey_added": (_l("The passkey is saved. You can use it to log in from now on."), "success"),
    "passkey_removed": (_l("The passkey was removed."), "success"),
}


def _notice(request: Request) -> Message | None:
    code = request.query_params.get("hinweis")
    if code in NOTICES:
        text, kind = NOTICES[code]
        return Message(code=f"notice.{code}", text=str(text), kind=kind)
    return None


def _options(ceremony: Ceremony) -> Response:
    return JSONResponse({"ceremony": ceremony.id, "publicKey": ceremony.options},
                        headers={"cache-control": "no-store"})


def _json_error(exc: ServicekontoError) -> Response:
    status = 429 if isinstance(exc, LoginLocked) else exc.http_status
    return JSONResponse({"code": exc.code, "error": exc.user_message()}, status_code=status,
                        headers={"cache-control": "no-store"})


def _status(exc: ServicekontoError) -> int:
    return 429 if isinstance(exc, LoginLocked) else 400


def _refused(response: Response, exc: ServicekontoError) -> Response:
    """A refused assertion; while the passkey step is locked, with Retry-After as the code step does."""
    if isinstance(exc, LoginLocked):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def is_fresh(request: Request, session: Session) -> bool:
    return service(request, "auth_requests").now() - session.auth_time <= FRESH_SECONDS


def _password(request: Request, session: Session, form: Form) -> str | None:
    """None when the login is fresh; else what the citizen typed (checked by the service)."""
    return None if is_fresh(request, session) else form.get("password", "")


# -- account settings ---------------------------------------------------------------------------------------

def _account_page(request: Request, session: Session, account: Account, status: int = 200,
                  **extra: object) -> Response:
    passkeys = service(request, "passkeys")
    return render(request, "account/passkeys.html", status, passkeys=passkeys.passkeys(account.id),
                  fresh=is_fresh(request, session), binding=session.trust_level >= BINDING_LEVEL,
                  name_max=NAME_MAX, notice=_notice(request), **extra)


@form_page
def account_page(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    return _account_page(request, session, account, errors={}, values={})


@form_page
def add(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    if request.method == "GET":
        return redirect_to(ACCOUNT_PAGE)
    passkeys = service(request, "passkeys")
    values = {"name": form.get("name", "")}
    if form.get("step") == OPTIONS_STEP:
        try:
            ceremony = passkeys.start_registration(
                account, binding=browser_id(request), name=form.get("name", ""),
                bound=session.trust_level >= BINDING_LEVEL, password=_password(request, session, form),
                address=client_address(request))
        except ServicekontoError as exc:
            if exc.http_status >= 500:
                raise
            return _json_error(exc)
        return _options(ceremony)
    try:
        passkeys.finish_registration(account, ceremony_id=form.get("ceremony", ""), binding=browser_id(request),
                                     credential=form.get("credential", ""))
    except ServicekontoError as exc:
        if exc.http_status >= 500:
            raise
        return _account_page(request, session, account, 400, errors={"name": error_message(exc)}, values=values)
    return redirect_to(ACCOUNT_PAGE, hinweis="passkey_added")


@form_page
def remove(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    passkey_id = request.path_params["passkey_id"]
    passkeys = service(request, "passkeys")
    found = next((p for p in passkeys.passkeys(account.id) if p.id == passkey_id), None)
    if found is None:
        return redirect_to(ACCOUNT_PAGE)
    context: dict[str, object] = {"passkey": found, "fresh": is_fresh(request, session)}
    if request.method == "GET":
        return render(request, "account/passkey_remove.html", **context)
    try:
        removed = passkeys.remove(account, passkey_id, password=_password(request, session, form),
                                  address=client_address(request))
    except (CredentialsInvalid, LoginLocked) as exc:
        return password_refused(request, "account/passkey_remove.html", exc, **context)
    except NoPasskey:
        return redirect_to(ACCOUNT_PAGE, hinweis="passkey_removed")  # removed meanwhile (another tab)
    response = redirect_to(ACCOUNT_PAGE, hinweis="passkey_removed")
    lowered = _level_without(removed, session)
    if lowered is not None:
        renewed = start_session(request, account, level=lowered[0], methods=lowered[1], auth_time=session.auth_time)
        set_session_cookie(request, response, renewed)
    return response


def _level_without(removed: Passkey, session: Session) -> tuple[TrustLevel, list[str]] | None:
    """The level and methods a session keeps once a passkey it may rest on is gone, as removing the
    authenticator app lowers a session to the password's level; None when the level does not rest on it.

    Which passkey a login used is not recorded, so any removed passkey that gives the session's level
    counts: a password with an app keeps "niedrig", a password alone (or nothing else) "basic registration";
    the ID card's level never rests on a passkey."""
    if PASSKEY_METHOD not in session.methods or SESSION_METHOD in session.methods \
            or removed.trust_level < session.trust_level:
        return None
    others = [m for m in session.methods if m != PASSKEY_METHOD]
    level = TrustLevel.LOW if any(m in SECOND_FACTOR_METHODS for m in others) else TrustLevel.BASIC
    if level >= session.trust_level:
        return None
    return level, others or list(session.methods)


# -- login without a username -------------------------------------------------------------------------------

@form_page
def login(request: Request, form: Form) -> Response:
    return_to = safe_local_path(request.query_params.get("return_to"), "/konto")
    origin = pending_request_origin(request, return_to)
    if request.method == "GET":
        return redirect_to("/anmelden", **({"return_to": return_to} if return_to != "/konto" else {}))
    passkeys = service(request, "passkeys")
    if form.get("step") == OPTIONS_STEP:
        return _options(passkeys.start_authentication(binding=browser_id(request)))
    try:
        result = passkeys.authenticate(ceremony_id=form.get("ceremony", ""), binding=browser_id(request),
                                       credential=form.get("credential", ""), address=client_address(request))
    except ServicekontoError as exc:
        if exc.http_status >= 500:
            raise
        flow, _expired = flow_for(request, FlowKind.LOGIN, data={"return_to": return_to})
        return _refused(allow_form_target(render(request, "login.html", _status(exc), flow_id=flow.id, notice=None,
                                                 errors={"passkey": error_message(exc)}, values={},
                                                 temporary_link=_temporary_link(request, return_to)), origin), exc)
    session = start_session(request, result.account, level=result.trust_level, methods=[result.method])
    service(request, "auditor").record(AuditEvent.LOGIN_SUCCEEDED, account_id=result.account.id,
                                       method=result.method)
    response = redirect_to(return_to)
    set_session_cookie(request, response, session)
    return response


def _temporary_link(request: Request, return_to: str) -> str | None:
    """The login page's offer of a temporary identification (web/eid_pages.py), where there is one."""
    try:
        from servicekonto.web.eid_pages import temporary_link
    except ImportError:  # pragma: no cover - the eID pages are being extended alongside
        return None
    return temporary_link(request, return_to)


# -- second step and step-up --------------------------------------------------------------------------------

def to_second_step(flow: Flow) -> Response:
    """After the right password, for an account with a passkey (the flow is in SECOND_FACTOR already)."""
    return redirect_to(CONFIRM, flow=flow.id)


def _start_step_up(request: Request) -> Response:
    """A logged-in citizen asked (by a portal) for level 2, or for level 3 (`stufe=3`: a bound passkey)."""
    session, account = require_account(request)
    return_to = safe_local_path(request.query_params.get("return_to"), "/konto")
    bound_only = request.query_params.get("stufe") == str(int(BOUND_LEVEL))
    passkeys = service(request, "passkeys")
    if not (passkeys.has_bound_passkey(account.id) if bound_only else passkeys.has_passkey(account.id)):
        return redirect_to(ACCOUNT_PAGE)
    flows = service(request, "flows")
    flow = flows.start(FlowKind.LOGIN, binding=browser_id(request),
                       data={"return_to": return_to, "step_up": "1", "bound_only": "1" if bound_only else ""})
    flows.advance(flow, FlowState.SECOND_FACTOR)
    flow.data.update(account_id=account.id, methods=list(session.methods))
    flows.save(flow)
    return redirect_to(CONFIRM, flow=flow.id)


@form_page
def confirm(request: Request, form: Form) -> Response:
    if request.method == "GET" and not request.query_params.get("flow"):
        return _start_step_up(request)
    pending = pending_flow(request)
    if pending is None:
        if form.get("step") == OPTIONS_STEP:
            return JSONResponse({"code": "notice.session_expired", "error": i18n.gettext(
                "Your session has ended. Please log in again.")}, status_code=400)
        return redirect_to("/anmelden", hinweis="session_expired")
    flow, account = pending
    return_to = safe_local_path(str(flow.data.get("return_to", "")), "/konto")
    origin = pending_request_origin(request, return_to)
    bound_only = bool(flow.data.get("bound_only"))
    step_up = bool(flow.data.get("step_up"))
    context: dict[str, object] = {"flow_id": flow.id, "step_up": step_up, "bound_only": bound_only,
                                  "totp": not bound_only and service(request, "second_factors").has_second_factor(
                                      account.id)}
    passkeys = service(request, "passkeys")
    if request.method == "GET":
        return allow_form_target(render(request, "login_passkey.html", **context), origin)
    if form.get("step") == OPTIONS_STEP:
        try:
            return _options(passkeys.start_authentication(binding=browser_id(request), account=account,
                                                          bound_only=bound_only))
        except NoPasskey as exc:
            return _json_error(exc)
    try:
        result = passkeys.authenticate(ceremony_id=form.get("ceremony", ""), binding=browser_id(request),
                                       credential=form.get("credential", ""), account=account,
                                       address=client_address(request))
    except ServicekontoError as exc:
        if exc.http_status >= 500:
            raise
        return _refused(allow_form_target(render(request, "login_passkey.html", _status(exc), **context,
                                                 errors={"passkey": error_message(exc)}), origin), exc)
    flows = service(request, "flows")
    flows.advance(flow, FlowState.AUTHENTICATED)
    flows.finish(flow)
    methods = [*[str(m) for m in flow.data.get("methods", [])], result.method]
    old = current_session(request)
    level: TrustLevel = result.trust_level
    if old is not None and step_up:
        level = max(level, old.trust_level)
    session = start_session(request, account, level=level, methods=methods)
    service(request, "auditor").record(
        AuditEvent.SECOND_FACTOR_SUCCEEDED if step_up else AuditEvent.LOGIN_SUCCEEDED,
        account_id=account.id, method="+".join(dict.fromkeys(methods)))
    response = redirect_to(return_to)
    set_session_cookie(request, response, session)
    return response


routes = [
    Route(ACCOUNT_PAGE, account_page, name="passkeys"),
    Route(ADD, add, methods=["GET", "POST"], name="passkey_add"),
    Route("/konto/passkeys/{passkey_id}/entfernen", remove, methods=["GET", "POST"], name="passkey_remove"),
    Route(LOGIN, login, methods=["GET", "POST"], name="passkey_login"),
    Route(CONFIRM, confirm, methods=["GET", "POST"], name="passkey_confirm"),
]
