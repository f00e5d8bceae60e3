"""The demo portal as a Starlette app: `create_portal(issuer, client_id, client_secret, base_url)`.

All of OpenID Connect is Authlib's, in `login`, `callback` and `logout`: the provider's metadata from its
discovery document, the authorization code flow with PKCE (S256), state and nonce, the ID token checked
(signature, iss, aud, exp, nonce, at_hash), the claims from userinfo, and RP-initiated logout. The login lives
in the portal's own signed session cookie; the portal stores nothing on its side.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from hmac import compare_digest
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.starlette_client import OAuth, OAuthError  # type: ignore[import-untyped]
from httpx2 import HTTPError  # Authlib 1.9 speaks HTTP through httpx2
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from servicekonto.demo_portal.texts import LANGUAGES, TEXTS

HERE = Path(__file__).resolve().parent
SCOPE = "openid profile email address organisation"  # a member of organisations chooses whom to act for
SESSION_SECONDS = 30 * 60  # idle time: the signed cookie is issued anew with every response
FIELDS = ("academic_title", "given_name", "family_name", "birthdate", "street_address", "postal_code", "locality",
          "email", "licence_plate")
REQUIRED = ("given_name", "family_name", "street_address", "postal_code", "locality", "licence_plate")
PATTERNS = {"postal_code": re.compile(r"\d{5}"),
            "licence_plate": re.compile(r"[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} [1-9]\d{0,3}[EH]?")}
PAGES = ("/", "/antrag", "/antrag/eingegangen")  # what the language switch may link back to
OAUTH_ERROR_CODE = re.compile(r"[a-z_]{1,40}")  # shown to the citizen, so only what looks like one

log = logging.getLogger("servicekonto.demo_portal")
templates = Jinja2Templates(directory=HERE / "templates")


def create_portal(issuer: str, client_id: str, client_secret: str, base_url: str, *,
                  session_secret: str | None = None) -> Starlette:
    """The portal at `base_url`, a client of the OpenID Provider `issuer`. Without a `session_secret`, each
    start makes a new one (and so logs everybody out)."""
    issuer, base_url = issuer.rstrip("/"), base_url.rstrip("/")
    oauth = OAuth()
    oauth.register(
        "servicekonto",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/antrag", application, methods=["GET", "POST"]),
            Route("/antrag/eingegangen", received),
            Route("/logout", logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(
            SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(32),
            session_cookie="musterstadt_session", max_age=SESSION_SECONDS, same_site="lax",
            https_only=base_url.startswith("https://"))],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.oidc = oauth.servicekonto
    app.state.base_url = base_url
    issuer_origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    app.state.headers = {
        # form-action: the logout form's redirect goes on to the provider's end_session_endpoint
        "content-security-policy": f"default-src 'self'; form-action 'self' {issuer_origin}; "
                                   "frame-ancestors 'none'; base-uri 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }
    return app


# -- OpenID Connect -----------------------------------------------------------------------------------------

async def login(request: Request) -> Response:
    """Off to Servicekonto. Authlib adds state, nonce and the PKCE challenge and keeps them in the session."""
    redirect_uri = f"{request.app.state.base_url}/callback"
    # One login at a time: Authlib keeps each pending one (state, nonce, PKCE verifier) in the session, as
    # `_state_<name>_<state>` for an hour, and a cookie holds no more than 4 KB.
    for key in [key for key in request.session if key.startswith("_state_")]:
        del request.session[key]
    try:
        return await oidc(request).authorize_redirect(request, redirect_uri,  # type: ignore[no-any-return]
                                                      ui_locales=language(request))
    except HTTPError as exc:
        log.warning("the provider's discovery document cannot be fetched: %r", exc)
        return problem(request, "unavailable", 503)


async def callback(request: Request) -> Response:
    """Back from Servicekonto with a code, or an error. Authlib checks the state, redeems the code with the
    PKCE verifier and validates the ID token; then the released claims come from userinfo."""
    client = oidc(request)
    try:
        token = await client.authorize_access_token(request)
        claims = await client.userinfo(token=token)
    except OAuthError as exc:
        if exc.error == "access_denied":  # the citizen declined on the consent page
            return problem(request, "refused", 403)
        log.warning("login failed: %s", exc.error)
        return problem(request, "failed", 400, code=exc.error)
    except JoseError as exc:
        log.warning("ID token rejected: %r", exc)
        return problem(request, "failed", 400)
    except HTTPError as exc:
        log.warning("the provider cannot be reached: %r", exc)
        return problem(request, "unavailable", 503)
    id_claims = token.get("userinfo") or {}  # what Authlib validated in the ID token
    if not id_claims.get("sub") or claims.get("sub") != id_claims["sub"]:  # OIDC Core §5.3.2
        log.warning("userinfo is not about the person of the ID token")
        return problem(request, "failed", 400)
    request.session.pop("reference", None)
    request.session.update(
        id_token=token["id_token"],  # kept only as the id_token_hint of the logout
        applicant=applicant_from(claims),
        organisation=organisation_from(claims),
        csrf=secrets.token_urlsafe(32),
    )
    return RedirectResponse("/antrag", status_code=303)


async def logout(request: Request) -> Response:
    """RP-initiated logout: end the portal's login, then Servicekonto's (the id_token_hint names the session
    there), and come back to the start page with a state that Authlib checks there."""
    async with request.form() as form:
        token = str(form.get("csrf_token", ""))
    id_token = request.session.get("id_token")
    if id_token is None or not csrf_valid(request, token):
        return RedirectResponse("/", status_code=303)
    lang = language(request)
    request.session.clear()
    request.session["lang"] = lang
    try:
        return await oidc(request).logout_redirect(  # type: ignore[no-any-return]
            request, post_logout_redirect_uri=f"{request.app.state.base_url}/", id_token_hint=id_token,
            ui_locales=lang)
    except HTTPError as exc:
        log.warning("the provider cannot be reached for the logout: %r", exc)
        return problem(request, "unavailable", 503)


def oidc(request: Request) -> Any:
    return request.app.state.oidc


def organisation_from(claims: dict[str, Any]) -> dict[str, str] | None:
    """Whom the citizen acts for (docs/integration/oidc.md, "Acting for an organisation"): its name and the
    person's roles, or None when acting for themselves."""
    organisation = claims.get("organisation")
    if not isinstance(organisation, dict) or not isinstance(organisation.get("name"), str):
        return None
    roles = organisation.get("roles")
    return {"name": organisation["name"],
            "roles": ", ".join(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ""}


def applicant_from(claims: dict[str, Any]) -> dict[str, str]:
    """The form's fields from the released claims; what was not released stays empty."""
    address = claims.get("address")
    address = address if isinstance(address, dict) else {}
    values = {
        "academic_title": claims.get("title"),  # FIM "Doktorgrad" (docs/integration/prefill.md)
        "given_name": claims.get("given_name"),
        "family_name": claims.get("family_name"),
        "birthdate": claims.get("birthdate"),
        "street_address": address.get("street_address"),
        "postal_code": address.get("postal_code"),
        "locality": address.get("locality"),
        "email": claims.get("email"),
    }
    # street_address may span lines (OIDC Core §5.1.1); the form has one line for it
    return {name: " ".join(str(values.get(name) or "").split()) for name in FIELDS}


# -- pages ----------------------------------------------------------------------------------------------------

async def home(request: Request) -> Response:
    logged_out = False
    if request.query_params.get("state"):  # back from Servicekonto's logout (RP-Initiated Logout 1.0 §3)
        try:
            await oidc(request).validate_logout_response(request)
            logged_out = True
        except OAuthError:
            log.info("a logout response with an unknown state")
    return render(request, "home.html", "home.title", logged_out=logged_out)


async def application(request: Request) -> Response:
    """The application form, pre-filled; a valid submission gets a reference number and is forgotten."""
    applicant = request.session.get("applicant")
    if applicant is None:
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return render(request, "form.html", "form.title", values=applicant, errors={}, required=REQUIRED,
                      organisation=request.session.get("organisation"))
    async with request.form() as form:
        values = {name: " ".join(str(form.get(name, "")).split()) for name in FIELDS}
        token = str(form.get("csrf_token", ""))
    if not csrf_valid(request, token):
        return problem(request, "expired", 400)
    values["licence_plate"] = values["licence_plate"].upper()
    errors = {name: "error.required" for name in REQUIRED if not values[name]}
    errors |= {name: f"error.{name}" for name, pattern in PATTERNS.items()
               if values[name] and not pattern.fullmatch(values[name])}
    if errors:
        return render(request, "form.html", "form.title", values=values, errors=errors, required=REQUIRED,
                      organisation=request.session.get("organisation"), status_code=400)
    request.session["reference"] = f"BPA-{datetime.now(UTC):%Y}-{secrets.randbelow(10**6):06d}"
    request.session["plate"] = values["licence_plate"]
    return RedirectResponse("/antrag/eingegangen", status_code=303)


async def received(request: Request) -> Response:
    if "reference" not in request.session:
        return RedirectResponse("/antrag", status_code=303)
    return render(request, "done.html", "done.title", reference=request.session["reference"],
                  plate=request.session["plate"])


def csrf_valid(request: Request, token: str) -> bool:
    expected = request.session.get("csrf", "")
    return bool(expected) and compare_digest(token.encode(), expected.encode())


# -- rendering, language, errors ------------------------------------------------------------------------------

def language(request: Request) -> str:
    """`?lang=` switches and is remembered in the session; else the browser's first choice; else German."""
    session = request.scope.get("session", {})
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LANGUAGES:
        return str(session["lang"])
    for item in request.headers.get("accept-language", "").split(","):
        tag = item.split(";")[0].strip()[:2].lower()
        if tag in LANGUAGES:
            return tag
    return LANGUAGES[0]


def render(request: Request, template: str, title: str, *, status_code: int = 200, **context: Any) -> Response:
    lang = language(request)
    session = request.scope.get("session", {})
    return templates.TemplateResponse(request, template, {
        "lang": lang,
        "t": TEXTS[lang],
        "title": TEXTS[lang][title],
        "logged_in": "id_token" in session,
        "csrf_token": session.get("csrf", ""),
        "here": request.url.path if request.url.path in PAGES else "/",
        **context,
    }, status_code=status_code, headers=getattr(request.app.state, "headers", {}))


def problem(request: Request, key: str, status_code: int, *, code: str | None = None) -> Response:
    """A page that says what went wrong in the citizen's words; never a stack trace."""
    shown = code if code and OAUTH_ERROR_CODE.fullmatch(code) else None
    return render(request, "problem.html", f"{key}.title", status_code=status_code, key=key, code=shown,
                  offer_login=key in {"refused", "failed", "unavailable", "expired"})


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return problem(request, "not_found" if status in {404, 405} else "internal", status)


async def internal_error(request: Request, exc: Exception) -> Response:
    return problem(request, "internal", 500)  # Starlette logs the exception itself
