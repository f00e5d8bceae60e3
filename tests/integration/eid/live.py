"""The app under uvicorn in a thread on a free port, so the eID connector reaches the simulator over real HTTP
SOAP, and a cookie-keeping HTTP client that fills in forms as a browser would."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import uvicorn

from servicekonto.app import Container, build_container, create_app
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action
from tests.support.server import free_port


@dataclass
class Live:
    base_url: str
    container: Container
    settings: Settings

    def browser(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base_url, follow_redirects=False, trust_env=False, timeout=20.0)


@contextmanager
def live_app(settings: Settings) -> Iterator[Live]:
    port = free_port()
    configured = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    container = build_container(configured)
    app = create_app(configured, container=container)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Live(base_url=configured.base_url, container=container, settings=configured)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        container.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def post_form(browser: httpx2.Client, page: str, data: dict[str, str], *, action_prefix: str | None = None
              ) -> httpx2.Response:
    html = browser.get(page).text
    action, token = form_action(html, action_prefix or urlsplit(page).path)
    return browser.post(action, data={**data, "csrf_token": token})


def identify(browser: httpx2.Client, start: str, *, identity: str = "erika", pin: str = "123456",
             cancel: bool = False) -> httpx2.Response:
    """Start at an eID page, act as the citizen in the simulator's client page, come back: the response of
    the refresh address."""
    started = post_form(browser, start, {})
    assert started.status_code == 303, started.text
    client_page = path_of(started.headers["location"])
    assert client_page.startswith("/eid-simulator/client?tcTokenURL=")
    data = {"action": "cancel"} if cancel else {"action": "identify", "identity": identity, "pin": pin}
    back = post_form(browser, client_page, data, action_prefix="/eid-simulator/client")
    assert back.status_code == 303, back.text
    return browser.get(path_of(back.headers["location"]))


MESSAGE_ID = re.compile(r'data-message-id="([^"]+)"')


def message_ids(html: str) -> list[str]:
    return MESSAGE_ID.findall(html)
