"""Where a portal's request meets the citizen (DESIGN.md §1): log in (again, or higher) if needed, consent
to the release, and back to the portal through its protocol. One page for OIDC and SAML alike: protocols
register a finisher (`finish`, `refuse`) under their name in the services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.domain.attributes import ORGANISATION_KEYS, AttributeSource
from servicekonto.domain.auth_request import AuthRequest, OrganisationMode
from servicekonto.domain.organisations import Membership
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.release import NotAMember
from servicekonto.services.sessions import Session
from servicekonto.web.forms import Form, form_page
from servicekonto.web.page_helpers import render, service
from servicekonto.web.request_context import content_security_policy
from servicekonto.web.session_context import current_session
from servicekonto.web.settings_pages import FIELD_LABELS, LEVEL_LABELS, SOURCE_LABELS, display_value

# The highest level a login in this deployment can reach today (password + second factor); a request that
# needs more cannot be met.
REACHABLE_LEVEL = TrustLevel.LOW
# With an eID server configured, the ID card and its PIN reach "hoch" (issue #6).
EID_LEVEL = TrustLevel.HIGH
# A passkey bound to the ID card (registered in a session at level 4) reaches "substanziell" (issue #9).
BOUND_PASSKEY_LEVEL = TrustLevel.SUBSTANTIAL
PASSKEY_STEP = "/anmelden/passkey-bestaetigen"


class Finisher(Protocol):
    def finish(self, auth_request: AuthRequest, result: Any, *, session_hash: str | None) -> Any: ...

    def refuse(self, auth_request: AuthRequest, error: str = ..., description: str = ...) -> Any: ...

    def session_hash(self, session_id: str) -> str: ...


def protocol_response(response: Any) -> Response:
    """A protocol's answer to the browser: a redirect (OIDC) or an auto-submitting form (SAML POST)."""
    if response.location:
        return RedirectResponse(response.location, status_code=303)
    body = response.body if isinstance(response.body, bytes | str) else ""
    page = Response(body, status_code=response.status, headers=dict(response.headers))
    return allow_form_target(page, getattr(response, "form_target", None))


def allow_form_target(response: Response, origin: str | None) -> Response:
    """Chromium applies `form-action` to every redirect after a form is sent: a page whose form leads on
    to the portal (consent; login while a portal waits) names the portal's origin, and only that."""
    if origin:
        response.headers["content-security-policy"] = content_security_policy(("'self'", origin))
    return response


def pending_request_origin(request: Request, return_to: str | None) -> str | None:
    """The origin of the portal waiting behind a login page's `return_to=/anmeldung/{id}`."""
    if not return_to or not return_to.startswith("/anmeldung/"):
        return None
    auth_request = service(request, "auth_requests").get(return_to.removeprefix("/anmeldung/"))
    return auth_request.return_origin if auth_request else None


def _finisher(request: Request, auth_request: AuthRequest) -> Finisher:
    return service(request, auth_request.protocol)  # type: ignore[no-any-return]


def _login_page(auth_request: AuthRequest, *, again: bool) -> Response:
    query = {"return_to": f"/anmeldung/{auth_request.id}"}
    if again:
        query["erneut"] = "1"
    return RedirectResponse("/anmelden?" + urlencode(query), status_code=303)


def _needs_login(auth_request: AuthRequest, session: Session, now: float) -> bool:
    """prompt=login and max_age (OIDC Core §3.1.2.1), ForceAuthn (SAML): a login after the request."""
    fresh = session.auth_time >= auth_request.created_at
    too_old = auth_request.max_age is not None and now - session.auth_time > auth_request.max_age
    return (auth_request.force_login or too_old) and not fresh


def continue_request(request: Request, auth_request: AuthRequest, *, fresh: bool = False) -> Response:
    """The next step for a request: login, consent, or the answer to the portal."""
    finisher = _finisher(request, auth_request)
    silent = bool(auth_request.protocol_state.get("prompt_none"))
    session = current_session(request)
    if session is None or session.account is None:
        if silent:
            return protocol_response(finisher.refuse(auth_request, "login_required", "No login session."))
        service(request, "auth_requests").save(auth_request)
        return _login_page(auth_request, again=False)
    if _needs_login(auth_request, session, service(request, "auth_requests").now()):
        if silent:
            return protocol_response(finisher.refuse(auth_request, "login_required", "A new login is required."))
        service(request, "auth_requests").save(auth_request)
        return _login_page(auth_request, again=True)
    if session.trust_level < auth_request.min_level:
        by_eid = auth_request.min_level == EID_LEVEL and service(request, "eid") is not None
        if auth_request.min_level == BOUND_PASSKEY_LEVEL and not silent:
            # Level 3: a passkey bound to the ID card; without one, an essential level explains how to get it.
            if service(request, "passkeys").has_bound_passkey(session.account.id):
                service(request, "auth_requests").save(auth_request)
                return RedirectResponse(PASSKEY_STEP + "?" + urlencode(
                    {"stufe": str(int(BOUND_PASSKEY_LEVEL)), "return_to": f"/anmeldung/{auth_request.id}"}),
                    status_code=303)
            if auth_request.level_essential:
                service(request, "auth_requests").save(auth_request)
                return _bound_passkey_page(request, auth_request)
        if auth_request.level_essential and ((auth_request.min_level > REACHABLE_LEVEL and not by_eid) or silent):
            return _refuse_level(request, auth_request)
        if by_eid and auth_request.level_essential:
            # Only the ID card reaches this level: identify with it (DESIGN.md §6), then come back here.
            service(request, "auth_requests").save(auth_request)
            return RedirectResponse("/konto/vertrauensniveau?" + urlencode(
                {"return_to": f"/anmeldung/{auth_request.id}"}), status_code=303)
        if auth_request.min_level <= REACHABLE_LEVEL and not silent:
            # Step up (DESIGN.md §2): the second factor if the account has one; if not, an essential level
            # is explained (set one up, or go back), a voluntary one is answered with the level reached.
            if service(request, "passkeys").has_passkey(session.account.id):
                service(request, "auth_requests").save(auth_request)
                return RedirectResponse(PASSKEY_STEP + "?" + urlencode(
                    {"return_to": f"/anmeldung/{auth_request.id}"}), status_code=303)
            if service(request, "second_factors").has_second_factor(session.account.id):
                service(request, "auth_requests").save(auth_request)
                return RedirectResponse("/anmelden/zweiter-faktor?" + urlencode(
                    {"return_to": f"/anmeldung/{auth_request.id}"}), status_code=303)
            if auth_request.level_essential:
                service(request, "auth_requests").save(auth_request)
                return _step_up_page(request, auth_request)
    if auth_request.organisation_mode is not OrganisationMode.NONE and auth_request.acting_for is None:
        choice = _acting_for_step(request, auth_request, session, silent)
        if choice is not None:
            return choice
    release = service(request, "release")
    try:
        plan = release.plan(session.account, auth_request)
    except NotAMember:  # removed from the organisation since choosing it: choose again
        auth_request.acting_for = None
        return continue_request(request, auth_request)
    if plan.needs_consent:
        if silent:
            return protocol_response(finisher.refuse(auth_request, "consent_required", "Consent is required."))
        service(request, "auth_requests").save(auth_request)
        return RedirectResponse(f"/anmeldung/{auth_request.id}", status_code=303) if fresh else \
            _consent_page(request, auth_request, plan)
    return _answer(request, auth_request, session)


def _acting_for_step(request: Request, auth_request: AuthRequest, session: Session, silent: bool) -> Response | None:
    """Issue #10: a citizen who belongs to organisations chooses whom this login acts for; one who belongs to
    none acts for themselves, unless the portal admits organisations only. None: go on (the choice is made)."""
    assert session.account is not None
    memberships = service(request, "release").memberships(session.account.id)
    required = auth_request.organisation_mode is OrganisationMode.REQUIRED
    if not memberships and not required:
        auth_request.acting_for = ""
        service(request, "auth_requests").save(auth_request)
        return None
    if silent:
        return protocol_response(_finisher(request, auth_request).refuse(
            auth_request, "account_selection_required" if memberships else "access_denied",
            "The citizen must choose whom to act for." if memberships else "The citizen acts for no organisation."))
    service(request, "auth_requests").save(auth_request)
    return _acting_for_page(request, auth_request, memberships)


def _acting_for_page(request: Request, auth_request: AuthRequest, memberships: Sequence[Membership],
                     status: int = 200, error: bool = False) -> Response:
    options = [{"value": m.organisation.id, "name": m.organisation.name, "legal_form": m.organisation.legal_form,
                "roles": " ".join(m.roles_for(auth_request.service_id))} for m in memberships]
    page = render(request, "acting_for.html", status, service_name=auth_request.service_name, options=options,
                  for_self=auth_request.organisation_mode is OrganisationMode.OFFERED, request_id=auth_request.id,
                  error=error)
    return allow_form_target(page, auth_request.return_origin)


def _choose_acting_for(request: Request, auth_request: AuthRequest, session: Session, choice: str) -> Response:
    """The chooser's answer: oneself (when the portal admits persons) or an organisation of the account's own;
    anything else shows the choice again with a message, and nothing changes."""
    assert session.account is not None
    memberships = service(request, "release").memberships(session.account.id)
    allowed = {m.organisation.id for m in memberships}
    if auth_request.organisation_mode is OrganisationMode.OFFERED:
        allowed.add("self")
    if auth_request.organisation_mode is OrganisationMode.NONE or choice not in allowed:
        return _acting_for_page(request, auth_request, memberships, 400, error=True)
    auth_request.acting_for = "" if choice == "self" else choice
    service(request, "auth_requests").save(auth_request)
    return continue_request(request, auth_request)


def _refuse_level(request: Request, auth_request: AuthRequest) -> Response:
    service(request, "auth_requests").finish(auth_request.id)
    return protocol_response(_finisher(request, auth_request).refuse(
        auth_request, "unmet_authentication_requirements",
        f"The trust level {auth_request.min_level.stork} cannot be reached with the methods available."))


def _step_up_page(request: Request, auth_request: AuthRequest, status: int = 200) -> Response:
    """This service needs level 2 and the account has no second factor yet: how to get one, or back."""
    page = render(request, "step_up_required.html", status, service_name=auth_request.service_name,
                  level=str(LEVEL_LABELS[int(auth_request.min_level)]), request_id=auth_request.id,
                  setup_link="/konto/zwei-faktor/einrichten?" + urlencode(
                      {"return_to": f"/anmeldung/{auth_request.id}"}))
    return allow_form_target(page, auth_request.return_origin)


def _bound_passkey_page(request: Request, auth_request: AuthRequest) -> Response:
    """This service needs level 3 and the account has no passkey bound to the ID card: how to get one (log
    in with the card, then add a passkey), the card itself (level 4 satisfies 3), or back."""
    eid_link = "/konto/vertrauensniveau?" + urlencode({"return_to": f"/anmeldung/{auth_request.id}"}) \
        if service(request, "eid") is not None else ""
    page = render(request, "passkey_level_required.html", service_name=auth_request.service_name,
                  level=str(LEVEL_LABELS[int(auth_request.min_level)]), request_id=auth_request.id,
                  eid_link=eid_link)
    return allow_form_target(page, auth_request.return_origin)


def _answer(request: Request, auth_request: AuthRequest, session: Session) -> Response:
    assert session.account is not None
    finisher = _finisher(request, auth_request)
    try:
        result = service(request, "release").release(
            session.account, auth_request, trust_level=session.trust_level, methods=tuple(session.methods),
            auth_time=int(session.auth_time), session_id=session.id)
    except NotAMember:  # removed from the organisation a moment ago: choose again
        auth_request.acting_for = None
        return continue_request(request, auth_request)
    service(request, "auth_requests").finish(auth_request.id)
    return protocol_response(finisher.finish(auth_request, result, session_hash=finisher.session_hash(session.id)))


def _consent_page(request: Request, auth_request: AuthRequest, plan: Any, status: int = 200) -> Response:
    rows = [{"label": str(FIELD_LABELS.get(item.key, item.key)), "value": display_value(item.key, item.value),
             "source": str(SOURCE_LABELS[AttributeSource(item.source)]) if item.source else "",
             "level": str(LEVEL_LABELS[int(item.trust_level)]) if item.trust_level else "",
             "essential": item.essential} for item in plan.available]
    missing = [str(FIELD_LABELS.get(item.key, item.key)) for item in plan.items
               if item.value is None and item.key not in ORGANISATION_KEYS]  # not from the master data
    organisation = next((item.value for item in plan.items if item.key == "org_name"), None) \
        if auth_request.acting_for else None
    page = render(request, "consent.html", status, service_name=auth_request.service_name, rows=rows,
                  missing=missing, request_id=auth_request.id, organisation=organisation)
    return allow_form_target(page, auth_request.return_origin)


@form_page
def login_request(request: Request, form: Form) -> Response:
    """GET: the next step for the request in the URL; POST: the citizen's decision on the consent page."""
    auth_request = service(request, "auth_requests").get(request.path_params["request_id"])
    if auth_request is None:
        return render(request, "oidc_error.html", 410, error="expired",
                      description=i18n.gettext("This login request has expired or was already completed. "
                                               "Please start again at the online service."))
    if request.method == "GET":
        return continue_request(request, auth_request)
    session = current_session(request)
    if session is None or session.account is None:
        return _login_page(auth_request, again=False)
    decision = form.get("decision")
    if decision == "cancel":  # from the step-up page: the portal hears that its level was not reached
        return _refuse_level(request, auth_request)
    if decision == "act":  # the "acting for" choice (issue #10)
        return _choose_acting_for(request, auth_request, session, form.get("acting_for") or "")
    if decision == "back":  # from the "acting for" page: the citizen went back without a choice
        service(request, "auth_requests").finish(auth_request.id)
        return protocol_response(_finisher(request, auth_request).refuse(
            auth_request, "access_denied", "The citizen did not choose an organisation."))
    try:
        return _decide(request, auth_request, session, decision)
    except NotAMember:  # removed from the organisation while the page was open: choose again
        auth_request.acting_for = None
        return continue_request(request, auth_request)


def _decide(request: Request, auth_request: AuthRequest, session: Session, decision: str | None) -> Response:
    """The consent page's answer: allow (and on), deny (back to the portal), or the page again."""
    assert session.account is not None
    release = service(request, "release")
    if decision == "allow":
        release.consent(session.account, auth_request, allowed=True)
        return continue_request(request, auth_request)
    if decision == "deny":
        release.consent(session.account, auth_request, allowed=False)
        service(request, "auth_requests").finish(auth_request.id)
        return protocol_response(_finisher(request, auth_request).refuse(auth_request))
    return _consent_page(request, auth_request, release.plan(session.account, auth_request), 400)


routes = [
    Route("/anmeldung/{request_id}", login_request, methods=["GET", "POST"], name="login_request"),
]
