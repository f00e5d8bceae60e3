"""The simulator's eID-client page (test systems only), in place of AusweisApp: it fetches the TC token over
HTTP like a real eID client, lets the tester pick a test card and type the PIN (or cancel), tells the
simulated eID server (the PAOS conversation of real life), and sends the browser to the refresh address."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import httpx2
from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.eid.simulator.identities import CARDS
from servicekonto.web.components import components
from servicekonto.web.eid_pages import SIMULATOR_CLIENT
from servicekonto.web.forms import Form, form_page
from servicekonto.web.page_helpers import redirect_to, render, service

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _tc_token(request: Request, url: str) -> tuple[str, str] | None:
    """(SessionIdentifier, RefreshAddress) from the TC token at `url` — only ever on this deployment."""
    base = urlsplit(components(request).base_url)
    parts = urlsplit(url)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None
    try:
        with httpx2.Client(timeout=10.0, trust_env=False, follow_redirects=False) as client:
            response = client.get(url)
        if response.status_code != 200:
            return None
        root = etree.fromstring(response.content, _PARSER)
    except (httpx2.HTTPError, etree.XMLSyntaxError):
        return None
    session_id, refresh = root.findtext("SessionIdentifier"), root.findtext("RefreshAddress")
    return (session_id, refresh) if session_id and refresh else None


@form_page
def client_page(request: Request, form: Form) -> Response:
    url = request.query_params.get("tcTokenURL")
    token = _tc_token(request, url or "")
    simulator = service(request, "eid_simulator")
    if token is None or not simulator.pending(token[0]):
        return render(request, "eid_simulator_client.html", 400, invalid=True, cards=CARDS, tc_token_url="")
    session_id, refresh = token
    if request.method == "GET":
        return render(request, "eid_simulator_client.html", invalid=False, cards=CARDS,
                      tc_token_url=urlencode({"tcTokenURL": url}))
    if form.get("action") == "cancel":
        simulator.cancel(session_id)
        minor: str | None = "cancelled"
    else:
        minor = simulator.present(session_id, form.get("identity", ""), form.get("pin", ""))
    # TR-03124: the eID client appends the result to the refresh address; we never rely on it.
    params = {"ResultMajor": "ok"} if minor is None else {"ResultMajor": "error"}
    separator = "&" if "?" in refresh else "?"
    return redirect_to(refresh + separator + urlencode(params))


routes = [Route(SIMULATOR_CLIENT, client_page, methods=["GET", "POST"], name="eid_simulator_client")]
