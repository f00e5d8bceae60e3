"""Second factor: the login step after the password (and the step-up a portal's request for level 2 asks
for), and the account pages that set up an authenticator app and recovery codes. No JavaScript: the QR
code is an inline SVG drawn on the server, and the secret is shown as text as well."""

from __future__ import annotations

import segno
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import ServicekontoError
from servicekonto.domain.accounts import Account
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.flows import Flow, FlowKind, FlowState
from servicekonto.domain.privacy import device_label
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.authentication import CredentialsInvalid
from servicekonto.services.second_factor import (
    NoSecondFactor,
    RecoveryCodeInvalid,
    SecondFactorInvalid,
    TotpSetupExpired,
)
from servicekonto.services.sessions import Session
from servicekonto.services.throttle import LoginLocked
from servicekonto.web.consent_pages import allow_form_target, pending_request_origin
from servicekonto.web.feedback import Message, error_message, notice
from servicekonto.web.forms import Form, browser_id, form_page
from servicekonto.web.page_helpers import client_address, redirect_to, render, service
from servicekonto.web.pages import safe_local_path
from servicekonto.web.session_context import current_session, require_account, set_session_cookie

SECOND_STEP = "/anmelden/zweiter-faktor"
RECOVERY_MODE = "wiederherstellungscode"


def start_session(request: Request, account: Account, *, level: TrustLevel, methods: list[str],
                  auth_time: float | None = None) -> Session:
    """A new session id for every login and every step up (no session fixation, ASVS 3.2.1)."""
    sessions = service(request, "sessions")
    old = current_session(request)
    if old is not None:
        sessions.end(old.id)
    session: Session = sessions.create(account, level=level, methods=list(dict.fromkeys(methods)),
                                       auth_time=auth_time, device=device_label(request.headers.get("user-agent")))
    if (privacy := service(request, "privacy")) is not None:  # new-device notice (issue #8)
        privacy.login_from(account, browser_id(request), session.data.get("device", ""))
    request.state.session = session  # a page rendered by this request binds its forms to the new session
    return session


def second_step(request: Request, flow: Flow, account: Account, methods: list[str]) -> Response:
    """After the password: the stored flow remembers whose password was right; the code page follows."""
    flows = service(request, "flows")
    flows.advance(flow, FlowState.SECOND_FACTOR)
    flow.data.update(account_id=account.id, methods=methods)
    flows.save(flow)
    return redirect_to(SECOND_STEP, flow=flow.id)


def grouped(secret: str) -> str:
    """The base32 secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_code(uri: str) -> Markup:
    """The otpauth URI as an inline SVG (no image request, nothing inline for the CSP to refuse)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr-code",
                                                lineclass=None)
    label = escape(i18n.gettext("QR code for your authenticator app"))
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))  # noqa: S704 - segno's SVG


def pending_flow(request: Request) -> tuple[Flow, Account] | None:
    """The login flow (`?flow=`) waiting for its second step in this browser, and its account; the passkey
    pages (web/passkey_pages.py) use it too."""
    flows = service(request, "flows")
    try:
        flow = flows.load(request.query_params.get("flow"), FlowKind.LOGIN, binding=browser_id(request))
        flows.require(flow, FlowState.SECOND_FACTOR)
    except ServicekontoError:
        return None
    account = service(request, "accounts_repo").get(str(flow.data.get("account_id", "")))
    if account is None or not account.is_active:
        return None
    if flow.data.get("step_up"):
        session = current_session(request)
        if session is None or session.account_id != account.id:
            return None  # logged out (or in as someone else) since: the step-up no longer applies
    return flow, account


def _start_step_up(request: Request) -> Response:
    """A logged-in citizen asked (by a portal) for level 2: the second step for the session's account."""
    session, account = require_account(request)
    return_to = safe_local_path(request.query_params.get("return_to"), "/konto")
    if not service(request, "second_factors").has_second_factor(account.id):
        return redirect_to("/konto/zwei-faktor")
    flows = service(request, "flows")
    flow = flows.start(FlowKind.LOGIN, binding=browser_id(request),
                       data={"return_to": return_to, "step_up": "1"})
    flows.advance(flow, FlowState.SECOND_FACTOR)
    flow.data.update(account_id=account.id, methods=list(session.methods))
    flows.save(flow)
    params = {"flow": flow.id}
    if request.query_params.get("art") == RECOVERY_MODE:
        params["art"] = RECOVERY_MODE
    return redirect_to(SECOND_STEP, **params)


@form_page
def login_second_factor(request: Request, form: Form) -> Response:
    if request.method == "GET" and not request.query_params.get("flow"):
        return _start_step_up(request)
    pending = pending_flow(request)
    if pending is None:
        return redirect_to("/anmelden", hinweis="session_expired")
    flow, account = pending
    recovery = request.query_params.get("art") == RECOVERY_MODE
    return_to = safe_local_path(str(flow.data.get("return_to", "")), "/konto")
    origin = pending_request_origin(request, return_to)
    context: dict[str, object] = {"flow_id": flow.id, "recovery": recovery, "recovery_mode": RECOVERY_MODE,
                                  "step_up": bool(flow.data.get("step_up")),
                                  "passkey": service(request, "passkeys").has_passkey(account.id)}
    if request.method == "GET":
        return allow_form_target(render(request, "login_second_factor.html", **context), origin)
    factors = service(request, "second_factors")
    field = "recovery_code" if recovery else "code"
    try:
        if recovery:
            result = factors.verify_recovery_code(account, form.get(field, ""), address=client_address(request))
        else:
            result = factors.verify_totp(account, form.get(field, ""), address=client_address(request))
    except (SecondFactorInvalid, RecoveryCodeInvalid, LoginLocked) as exc:
        locked = isinstance(exc, LoginLocked)
        response = allow_form_target(render(request, "login_second_factor.html", 429 if locked else 400, **context,
                                            errors={field: error_message(exc)}), origin)
        if isinstance(exc, LoginLocked):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except NoSecondFactor:
        return redirect_to("/anmelden")
    flows = service(request, "flows")
    flows.advance(flow, FlowState.AUTHENTICATED)
    flows.finish(flow)
    methods = [*[str(m) for m in flow.data.get("methods", [])], result.method]
    old = current_session(request)
    level = max(result.trust_level, old.trust_level) if old is not None and flow.data.get("step_up") \
        else result.trust_level
    session = start_session(request, account, level=level, methods=methods)
    service(request, "auditor").record(
        AuditEvent.SECOND_FACTOR_SUCCEEDED if flow.data.get("step_up") else AuditEvent.LOGIN_SUCCEEDED,
        account_id=account.id, method="+".join(dict.fromkeys(methods)))
    response = redirect_to(return_to)
    set_session_cookie(request, response, session)
    return response


# -- account settings ---------------------------------------------------------------------------------------

@form_page
def overview(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    status = service(request, "second_factors").status(account)
    return render(request, "account/second_factor.html", status=status,
                  notice=notice(request.query_params.get("hinweis")))


def _codes_page(request: Request, codes: list[str], *, continue_to: str) -> Response:
    return render(request, "account/recovery_codes_shown.html", codes=codes, continue_to=continue_to)


@form_page
def setup(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    factors = service(request, "second_factors")
    return_to = safe_local_path(request.query_params.get("return_to"), "")

    def page(status: int = 200, **extra: object) -> Response:
        pending = factors.pending_setup(account, setup_id=session.id)  # the same key until it expires
        return render(request, "account/totp_setup.html", status, secret=grouped(pending.secret),
                      qr=qr_code(pending.uri), return_to=return_to,
                      replacing=factors.has_second_factor(account.id), **extra)

    if request.method == "GET":
        return page()
    try:
        codes = factors.confirm_setup(account, setup_id=session.id, code=form.get("code", ""),
                                      password=form.get("password", ""), address=client_address(request))
    except (CredentialsInvalid, LoginLocked, SecondFactorInvalid, TotpSetupExpired) as exc:
        field = "password" if isinstance(exc, CredentialsInvalid | LoginLocked) else "code"
        return page(429 if isinstance(exc, LoginLocked) else 400, errors={field: _password_error(exc)})
    # Password and a code from the app, both just now: this login has two factors.
    renewed = start_session(request, account, level=max(session.trust_level, TrustLevel.LOW),
                            methods=[*session.methods, "totp"])
    response = _codes_page(request, codes, continue_to=return_to or "/konto/zwei-faktor")
    set_session_cookie(request, response, renewed)
    return response


@form_page
def regenerate_codes(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    factors = service(request, "second_factors")
    if not factors.has_second_factor(account.id):
        return redirect_to("/konto/zwei-faktor")
    if request.method == "GET":
        return render(request, "account/recovery_codes.html")
    try:
        codes = factors.regenerate_recovery_codes(account, password=form.get("password", ""),
                                                  address=client_address(request))
    except (CredentialsInvalid, LoginLocked) as exc:
        return password_refused(request, "account/recovery_codes.html", exc)
    return _codes_page(request, codes, continue_to="/konto/zwei-faktor")


@form_page
def remove(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    factors = service(request, "second_factors")
    if not factors.has_second_factor(account.id):
        return redirect_to("/konto/zwei-faktor")
    if request.method == "GET":
        return render(request, "account/totp_remove.html")
    try:
        factors.disable(account, password=form.get("password", ""), address=client_address(request))
    except (CredentialsInvalid, LoginLocked) as exc:
        return password_refused(request, "account/totp_remove.html", exc)
    # The second factor of this login is gone with the app: the session is level 1 again.
    renewed = start_session(request, account, level=TrustLevel.BASIC, methods=["pwd"], auth_time=session.auth_time)
    response = redirect_to("/konto/zwei-faktor", hinweis="totp_removed")
    set_session_cookie(request, response, renewed)
    return response


def password_refused(request: Request, template: str, exc: ServicekontoError, **context: object) -> Response:
    """The page that asked for the current password again, saying why it was refused (429 while locked);
    the passkey pages (web/passkey_pages.py) use it too."""
    return render(request, template, 429 if isinstance(exc, LoginLocked) else 400,
                  errors={"password": _password_error(exc)}, **context)


def _password_error(exc: ServicekontoError) -> Message:
    if isinstance(exc, CredentialsInvalid):
        return Message(code=exc.code, kind="error", text=i18n.gettext("The current password is not correct."))
    return error_message(exc)


routes = [
    Route(SECOND_STEP, login_second_factor, methods=["GET", "POST"], name="login_second_factor"),
    Route("/konto/zwei-faktor", overview, name="second_factor"),
    Route("/konto/zwei-faktor/einrichten", setup, methods=["GET", "POST"], name="totp_setup"),
    Route("/konto/zwei-faktor/wiederherstellungscodes", regenerate_codes, methods=["GET", "POST"],
          name="recovery_codes"),
    Route("/konto/zwei-faktor/entfernen", remove, methods=["GET", "POST"], name="totp_remove"),
]
