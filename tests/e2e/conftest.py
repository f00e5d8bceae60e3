"""End-to-end fixtures: the real server as a subprocess, Debian's Chromium through Playwright (sync API), an
SMTP sink the server sends its mail to.

Chromium comes from Debian (/usr/bin/chromium), never from `playwright install`. Each test gets a new
browser context (no cookies carried over); the browser and the server live for the whole session.
Without Chromium or axe-core the e2e tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.axe import AXE_FILE
from tests.support.browser import CHROMIUM, TIMEOUT_MS, VIEWPORT, PageFactory, launch_chromium
from tests.support.failing_app import FAILING_APP_FACTORY
from tests.support.server import LiveServer, running_server, uvicorn_factory_command
from tests.support.smtp_sink import SmtpSink, running_smtp_sink

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_RUNNING: dict[str, LiveServer] = {}  # the session's servers, whose output a failing test report shows


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what}; CI must run the end-to-end tests", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """The session's SMTP sink; `live_server` sends its mail here. Tests tell their mails apart by
    recipient (`wait_for_mail_to`), since the sink lives as long as the server."""
    with running_smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, smtp_sink: SmtpSink) -> Iterator[LiveServer]:
    """`servicekonto migrate` and `servicekonto serve` on a free port with a data dir of their own."""
    with running_server(tmp_path_factory.mktemp("live-server"), name="servicekonto",
                        extra_env={"SERVICEKONTO_SMTP_URL": smtp_sink.url}) as server:
        _RUNNING["live_server"] = server
        yield server
        del _RUNNING["live_server"]


@pytest.fixture(scope="session")
def failing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app plus one route that raises (`tests.support.failing_app`), to see the 500 page."""
    with running_server(tmp_path_factory.mktemp("failing-server"), name="failing",
                        command_for_port=uvicorn_factory_command(FAILING_APP_FACTORY)) as server:
        _RUNNING["failing_server"] = server
        yield server
        del _RUNNING["failing_server"]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if not AXE_FILE.exists():
        _missing(f"axe-core is not installed at {AXE_FILE} (npm ci)")
    launched = launch_chromium(playwright_instance)
    yield launched
    launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageFactory]:
    """A page in a fresh browser context: `new_page(locale="en-GB", java_script_enabled=False)`.

    The context's locale sets both the browser's language and its Accept-Language header."""
    contexts: list[BrowserContext] = []

    def make(*, locale: str = "de-DE", java_script_enabled: bool = True, **options: Any) -> Page:
        options.setdefault("viewport", VIEWPORT)
        context = browser.new_context(locale=locale, java_script_enabled=java_script_enabled, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    return new_page()


@pytest.fixture
def page_without_js(new_page: PageFactory) -> Page:
    return new_page(java_script_enabled=False)


_LOG_OFFSETS = pytest.StashKey[dict[str, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[_LOG_OFFSETS] = {name: server.output_size() for name, server in _RUNNING.items()}
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing e2e test shows what the servers printed while it ran (all of it if it failed in setup)."""
    report = yield
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for name, server in _RUNNING.items():
            report.sections.append((f"{name} output", server.output(offsets.get(name, 0))[-20_000:]))
    return report
