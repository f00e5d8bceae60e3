"""The login session of a request: read once from the cookie, cached on the request; set and cleared on
responses with the cookie flags of ASVS 3.4 (HttpOnly, SameSite=Lax, Secure over https)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from servicekonto.domain.accounts import Account
from servicekonto.services.sessions import Session
from servicekonto.web.components import components

SESSION_COOKIE = "sk_session"
_MISSING = object()


def current_session(request: Request) -> Session | None:
    cached = getattr(request.state, "session", _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    session = components(request).services["sessions"].load(request.cookies.get(SESSION_COOKIE))
    request.state.session = session
    return session  # type: ignore[no-any-return]


class LoginRequired(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def require_account(request: Request) -> tuple[Session, Account]:
    """The session and its account, or a redirect to the login page that comes back here afterwards."""
    session = current_session(request)
    account = session.account if session else None
    if session is None or account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(RedirectResponse("/anmelden?" + urlencode({"return_to": target}), status_code=303))
    return session, account


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    request.state.session = session
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="lax", secure=components(request).https,
                        path="/")


def clear_session_cookie(request: Request, response: Response) -> None:
    request.state.session = None
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=components(request).https)
