"""Interop fixtures: the real server as a subprocess (its own, with its own data dir), a tenant, clients
registered with the command line, a citizen, the portal's pages, relying parties on openid-client, and
Chromium on a thread of its own (see `harness.BrowserThread` for why not the e2e tests' browser).

Without Node.js, openid-client (`npm ci`), Chromium or axe-core the interop tests skip on a laptop and fail
in CI. A failing test's report shows what the server printed and every exchange with the drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from tests.interop.harness import (
    NODE,
    OPENID_CLIENT,
    BrowserTab,
    BrowserThread,
    Citizen,
    OpenIdClient,
    Portal,
    RegisteredClient,
    create_citizen,
    register_client,
    servicekonto_json,
)
from tests.support.axe import AXE_FILE
from tests.support.browser import CHROMIUM
from tests.support.postgres import IN_CI
from tests.support.server import LiveServer, running_server

_RUNNING: dict[str, LiveServer] = {}
_DRIVERS = pytest.StashKey[list[OpenIdClient]]()
_LOG_OFFSETS = pytest.StashKey[dict[str, int]]()


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what}; CI must run the interop tests", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`servicekonto migrate` and `servicekonto serve` on a free port; mail goes to the test system's outbox."""
    with running_server(tmp_path_factory.mktemp("interop-server"), name="servicekonto") as server:
        _RUNNING["live_server"] = server
        yield server
        del _RUNNING["live_server"]


@pytest.fixture(scope="session")
def tenant_id(live_server: LiveServer) -> str:
    return str(servicekonto_json(live_server, "tenant", "create", "--name", "Interop Musterstadt")["id"])


@pytest.fixture
def new_portal() -> Iterator[Callable[..., Portal]]:
    """`new_portal(host="localhost")`: the pages of one more portal, stopped after the test."""
    served: list[Portal] = []

    def make(host: str = "127.0.0.1") -> Portal:
        served.append(Portal(host))
        return served[-1]

    yield make
    for one in served:
        one.stop()


@pytest.fixture
def portal(new_portal: Callable[..., Portal]) -> Portal:
    return new_portal()


@pytest.fixture
def oidc_client(live_server: LiveServer, tenant_id: str, portal: Portal) -> Callable[..., RegisteredClient]:
    """`oidc_client(name=…, scopes=(…), public=False, at=portal)`: a client of the tenant whose redirect URIs
    are those of the portal `at` (the `portal` fixture's unless another is named)."""

    def create(*, name: str, scopes: tuple[str, ...], public: bool = False,
               at: Portal | None = None) -> RegisteredClient:
        return register_client(live_server, tenant_id=tenant_id, name=name, portal=at or portal, scopes=scopes,
                               public=public)

    return create


@pytest.fixture
def citizen(live_server: LiveServer) -> Citizen:
    return create_citizen(live_server)


@pytest.fixture(scope="session")
def browser_thread() -> Iterator[BrowserThread]:
    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if not AXE_FILE.exists():
        _missing(f"axe-core is not installed at {AXE_FILE} (npm ci)")
    thread = BrowserThread()
    try:
        thread.start()
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def new_tab(browser_thread: BrowserThread) -> Iterator[Callable[..., BrowserTab]]:
    """`new_tab(locale="en-GB")`: a page in a fresh browser context, driven with `tab.run(step, …)`."""
    tabs: list[BrowserTab] = []

    def make(*, locale: str = "de-DE", **options: Any) -> BrowserTab:
        tab = browser_thread.new_tab(locale=locale, **options)
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


@pytest.fixture
def relying_party(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Callable[[str], OpenIdClient]]:
    """`relying_party(name)`: a fresh openid-client driver process, stopped after the test."""
    if NODE is None:
        _missing("Node.js is not installed (node is not on PATH)")
    if not OPENID_CLIENT.exists():
        _missing(f"openid-client is not installed at {OPENID_CLIENT.parent} (npm ci)")
    drivers: list[OpenIdClient] = []
    request.node.stash[_DRIVERS] = drivers
    log_dir = tmp_path_factory.mktemp("openid-client")

    def start(name: str) -> OpenIdClient:
        driver = OpenIdClient(name, log_dir)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[_LOG_OFFSETS] = {name: server.output_size() for name, server in _RUNNING.items()}
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing interop test shows what the server printed while it ran and what the drivers exchanged."""
    report = yield
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for name, server in _RUNNING.items():
            report.sections.append((f"{name} output", server.output(offsets.get(name, 0))[-20_000:]))
        for driver in item.stash.get(_DRIVERS, []):
            exchange = "\n".join(driver.transcript)[-20_000:]
            report.sections.append((f"openid-client {driver.name}", f"{exchange}\n{driver.stderr()}"))
    return report
