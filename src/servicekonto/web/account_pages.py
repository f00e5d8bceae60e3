"""Public self-service pages: registration and confirmation, login and logout, password recovery."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import FormInvalid, InvalidInput, ServicekontoError
from servicekonto.domain.accounts import USERNAME_RULES
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.flows import FlowKind, FlowState
from servicekonto.domain.passwords import STRENGTH_LABELS, PasswordRejected, strength
from servicekonto.services.accounts import PasswordsDiffer
from servicekonto.services.authentication import CredentialsInvalid
from servicekonto.services.throttle import LoginLocked
from servicekonto.services.tokens import TokenInvalid
from servicekonto.web.consent_pages import allow_form_target, pending_request_origin
from servicekonto.web.eid_pages import temporary_link
from servicekonto.web.feedback import Message, error_message, field_errors, notice
from servicekonto.web.forms import Form, browser_id, form_page, values_without_secrets
from servicekonto.web.page_helpers import client_address, confirm_token_page, flow_for, redirect_to, render, service
from servicekonto.web.pages import safe_local_path
from servicekonto.web.passkey_pages import to_second_step as passkey_second_step
from servicekonto.web.second_factor_pages import routes as second_factor_routes
from servicekonto.web.second_factor_pages import second_step, start_session
from servicekonto.web.session_context import (
    clear_session_cookie,
    current_session,
    set_session_cookie,
)

# -- registration -------------------------------------------------------------------------------------------

@form_page
def register(request: Request, form: Form) -> Response:
    flow, expired = flow_for(request, FlowKind.REGISTRATION)
    context: dict[str, object] = {"flow_id": flow.id, "username_rules": str(USERNAME_RULES), "notice": expired}
    if request.method == "GET" or expired:
        if flow.state is FlowState.AWAITING_VERIFICATION:
            return redirect_to("/registrieren/gesendet", flow=flow.id)
        return render(request, "register.html", **context, values=values_without_secrets(form))
    try:
        service(request, "accounts").register(
            username=form.get("username", ""), email=form.get("email", ""), password=form.get("password", ""),
            password_repeat=form.get("password_repeat", ""), accepted_terms=form.get("accept_terms") == "yes",
            locale=i18n.current_locale())
    except ServicekontoError as exc:
        if not isinstance(exc, InvalidInput):
            raise
        errors = field_errors(exc, default_field="password")
        password_refused = isinstance(exc, FormInvalid) and "password" in exc.errors
        hint = None
        if form.get("password") and not password_refused and len(form["password"]) >= 10:
            hint = str(STRENGTH_LABELS[strength(form["password"])])
        return render(request, "register.html", 400, **context, errors=errors, strength=hint,
                       values=values_without_secrets(form))
    flows = service(request, "flows")
    flows.advance(flow, FlowState.AWAITING_VERIFICATION)
    flow.data["email"] = form.get("email", "")[:320]
    flows.save(flow)
    return redirect_to("/registrieren/gesendet", flow=flow.id)


@form_page
def registration_sent(request: Request, form: Form) -> Response:
    flows = service(request, "flows")
    try:
        flow = flows.load(request.query_params.get("flow"), FlowKind.REGISTRATION, binding=browser_id(request))
        flows.require(flow, FlowState.AWAITING_VERIFICATION)
    except ServicekontoError:
        return redirect_to("/registrieren")
    return render(request, "register_sent.html", flow_id=flow.id,
                   notice=notice(request.query_params.get("hinweis")))


@form_page
def resend(request: Request, form: Form) -> Response:
    flows = service(request, "flows")
    try:
        flow = flows.load(request.query_params.get("flow"), FlowKind.REGISTRATION, binding=browser_id(request))
        flows.advance(flow, FlowState.AWAITING_VERIFICATION)
    except ServicekontoError:
        return redirect_to("/registrieren")
    flows.save(flow)
    service(request, "accounts").resend_verification(flow.data.get("email", ""), locale=i18n.current_locale())
    return redirect_to("/registrieren/gesendet", flow=flow.id, hinweis="resent")


@form_page
def verify(request: Request, form: Form) -> Response:
    accounts = service(request, "accounts")
    return confirm_token_page(
        request, form, check=accounts.check_verification, use=accounts.verify,
        done=redirect_to("/anmelden", hinweis="verified"),
        title=i18n.gettext("Confirm your e-mail address"), button=i18n.gettext("Confirm e-mail address"),
        text=i18n.gettext("Please confirm your e-mail address to complete your registration."),
        restart_link="/registrieren", restart_text=i18n.gettext("Register again"))


# -- login and logout ---------------------------------------------------------------------------------------

@form_page
def login(request: Request, form: Form) -> Response:
    again = bool(request.query_params.get("erneut"))  # a portal asked for a fresh login (prompt=login, max_age)
    if (request.method == "GET" and current_session(request) is not None and not request.query_params.get("flow")
            and not again):
        return redirect_to(safe_local_path(request.query_params.get("return_to"), "/konto"))
    return_to = safe_local_path(request.query_params.get("return_to"), "/konto")
    flow, expired = flow_for(request, FlowKind.LOGIN, data={"return_to": return_to})
    context: dict[str, object] = {"flow_id": flow.id,
                                  "notice": expired or notice(request.query_params.get("hinweis")),
                                  "temporary_link": temporary_link(request, return_to)}
    if request.method == "GET" or expired:
        page = render(request, "login.html", **context, values=values_without_secrets(form))
        return allow_form_target(page, pending_request_origin(request, return_to))
    try:
        result = service(request, "authenticator").authenticate(
            form.get("identifier", ""), form.get("password", ""), address=client_address(request))
    except (CredentialsInvalid, LoginLocked) as exc:
        status = 429 if isinstance(exc, LoginLocked) else 400
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LoginLocked) else None
        response = allow_form_target(
            render(request, "login.html", status, **context, errors={"password": error_message(exc)},
                   values=values_without_secrets(form)), pending_request_origin(request, return_to))
        if headers:
            response.headers.update(headers)
        return response
    steps = result.second_steps  # read with the account
    has_passkey, has_app = (steps.passkey, steps.app) if steps else service(request, "accounts_repo").second_steps(
        result.account.id)
    if has_passkey:  # the passkey step, the app as alternative
        second_step(request, flow, result.account, [result.method])
        return allow_form_target(passkey_second_step(flow), pending_request_origin(request, return_to))
    if has_app:
        return allow_form_target(second_step(request, flow, result.account, [result.method]),
                                 pending_request_origin(request, return_to))
    flows = service(request, "flows")
    flows.advance(flow, FlowState.AUTHENTICATED)
    flows.finish(flow)
    session = start_session(request, result.account, level=result.trust_level, methods=[result.method])
    service(request, "auditor").record(AuditEvent.LOGIN_SUCCEEDED, account_id=result.account.id, method=result.method)
    response = redirect_to(safe_local_path(str(flow.data.get("return_to")), "/konto"))
    set_session_cookie(request, response, session)
    return response


@form_page
def logout(request: Request, form: Form) -> Response:
    session = current_session(request)
    response = redirect_to("/", hinweis="logged_out")
    if session is not None:
        service(request, "sessions").end(session.id)
        oidc = service(request, "oidc")
        oidc.logout_session(oidc.session_hash(session.id))  # portals' refresh tokens of this login end too
        service(request, "auditor").record(AuditEvent.LOGGED_OUT, account_id=session.account_id)
    clear_session_cookie(request, response)
    return response


# -- password recovery --------------------------------------------------------------------------------------

@form_page
def recovery(request: Request, form: Form) -> Response:
    flow, expired = flow_for(request, FlowKind.RECOVERY)
    context: dict[str, object] = {"flow_id": flow.id, "notice": expired, "sent": False}
    if request.method == "GET" or expired:
        return render(request, "recovery.html", **context)
    identifier = form.get("identifier", "").strip()
    if not identifier:
        missing = Message(code="recovery.identifier_missing", kind="error",
                          text=i18n.gettext("Please enter your username or e-mail address."))
        return render(request, "recovery.html", 400, **context, errors={"identifier": missing})
    service(request, "accounts").request_password_reset(identifier)
    flows = service(request, "flows")
    flows.advance(flow, FlowState.MAIL_SENT)
    flows.save(flow)
    return render(request, "recovery.html", **{**context, "sent": True})


@form_page
def reset(request: Request, form: Form) -> Response:
    accounts = service(request, "accounts")
    token = form.get("token", "") if request.method == "POST" else request.query_params.get("token", "")
    try:
        if request.method == "GET":
            accounts.check_reset(token)
            return render(request, "reset.html", valid=True, token=token)
        accounts.reset_password(token, password=form.get("password", ""),
                                password_repeat=form.get("password_repeat", ""))
    except TokenInvalid as exc:
        return render(request, "reset.html", 400, valid=False, token="", notice=error_message(exc))
    except (PasswordRejected, PasswordsDiffer) as exc:
        field = "password_repeat" if isinstance(exc, PasswordsDiffer) else "password"
        return render(request, "reset.html", 400, valid=True, token=token,
                       errors=field_errors(exc, default_field=field))
    response = redirect_to("/anmelden", hinweis="password_reset")
    clear_session_cookie(request, response)
    return response


routes = [
    Route("/registrieren", register, methods=["GET", "POST"], name="register"),
    Route("/registrieren/gesendet", registration_sent, name="registration_sent"),
    Route("/registrieren/erneut-senden", resend, methods=["POST"], name="resend"),
    Route("/registrieren/bestaetigen", verify, methods=["GET", "POST"], name="verify"),
    Route("/anmelden", login, methods=["GET", "POST"], name="login"),
    Route("/abmelden", logout, methods=["POST"], name="logout"),
    Route("/passwort-vergessen", recovery, methods=["GET", "POST"], name="recovery"),
    Route("/passwort-zuruecksetzen", reset, methods=["GET", "POST"], name="reset"),
    *second_factor_routes,
]
