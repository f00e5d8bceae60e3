"""The web shell in Chromium, in German and English: start page, accessibility statement and the error pages
(404, 405, 500) have no serious or critical axe-core violation, say their language in `<html lang>`, open
with a visible skip link on the first Tab, and switch language without JavaScript.

How each page is reached, honestly:
- 404: an unknown path.
- 405: the browser really sends a POST to `/` (a GET-only page): Playwright rewrites the navigation's method
  on its way out, so Chromium renders the server's real 405 answer with its real headers.
- 500: a second server runs the real app plus one test-only route that raises (`tests.support.failing_app`);
  the product itself has no such route.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, Response, Route, expect

from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.failing_app import FAILING_PATH, SECRET_DETAIL
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

BROWSER_LOCALES = {"de": "de-DE", "en": "en-GB"}
OTHER = {"de": "en", "en": "de"}
SWITCH_LABELS = {"de": "Deutsch", "en": "English"}


FOLLOWS_MAIN = """() => {
  const main = document.querySelector('main'), active = document.activeElement;
  return main.contains(active) || Boolean(main.compareDocumentPosition(active) & Node.DOCUMENT_POSITION_FOLLOWING);
}"""


@dataclass(frozen=True)
class ShellPage:
    name: str
    path: str
    status: int
    method: str = "GET"
    server: str = "live_server"


PAGES = [
    ShellPage("start", "/", 200),
    ShellPage("accessibility-statement", "/barrierefreiheit", 200),
    ShellPage("not-found", "/gibt-es-nicht", 404),
    ShellPage("method-not-allowed", "/", 405, method="POST"),
    ShellPage("internal-error", FAILING_PATH, 500, server="failing_server"),
]
PAGE_IDS = [p.name for p in PAGES]


def server_for(shell_page: ShellPage, request: pytest.FixtureRequest) -> LiveServer:
    server: LiveServer = request.getfixturevalue(shell_page.server)
    return server


def open_shell_page(page: Page, shell_page: ShellPage, server: LiveServer) -> Response:
    url = server.url(shell_page.path)
    if shell_page.method == "GET":
        response = page.goto(url)
    else:
        def rewrite(route: Route) -> None:
            route.continue_(method=shell_page.method, post_data="")

        page.route(url, rewrite)
        response = page.goto(url)
        page.unroute(url, rewrite)
    assert response is not None
    assert response.status == shell_page.status, f"{shell_page.method} {url}"
    return response


def choose_language_by_switch(page: Page, server: LiveServer, language: str) -> None:
    """Open the start page in the other language and follow the visible language link."""
    page.goto(server.url("/"))
    expect(page.locator("html")).to_have_attribute("lang", OTHER[language])
    page.get_by_role("link", name=SWITCH_LABELS[language], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("chosen_by", ["accept-language", "language-switch"])
@pytest.mark.parametrize("shell_page", PAGES, ids=PAGE_IDS)
def test_page_has_no_serious_accessibility_violation(
    new_page: PageFactory, request: pytest.FixtureRequest, shell_page: ShellPage, language: str, chosen_by: str,
) -> None:
    server = server_for(shell_page, request)
    if chosen_by == "accept-language":
        page = new_page(locale=BROWSER_LOCALES[language])
    else:
        page = new_page(locale=BROWSER_LOCALES[OTHER[language]])
        choose_language_by_switch(page, server, language)

    open_shell_page(page, shell_page, server)

    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_have_count(1)
    assert page.title().strip(), "every page has a title (WCAG 2.4.2)"
    expect(page.get_by_role("link", name=SWITCH_LABELS[language], exact=True)).to_have_attribute(
        "aria-current", "true")
    assert_accessible(page, context=f"{shell_page.name}, {language} by {chosen_by}")


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("shell_page", PAGES, ids=PAGE_IDS)
def test_first_tab_shows_skip_link_and_enter_moves_focus_to_main(
    new_page: PageFactory, request: pytest.FixtureRequest, shell_page: ShellPage, language: str,
) -> None:
    page = new_page(locale=BROWSER_LOCALES[language])
    open_shell_page(page, shell_page, server_for(shell_page, request))

    page.keyboard.press("Tab")
    skip_link = page.locator("a[href='#main']")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport(ratio=1.0)
    outline = skip_link.evaluate("link => getComputedStyle(link).outlineStyle")
    assert outline not in ("", "none"), "the focused skip link shows a focus indicator (WCAG 2.4.7)"
    # Now that it is on screen, its contrast counts too.
    assert_accessible(page, context=f"{shell_page.name}, {language}, skip link focused")

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    assert page.url.endswith("#main")

    page.keyboard.press("Tab")  # reading goes on from the main content, not from the header again
    assert page.evaluate(FOLLOWS_MAIN), "the Tab after the skip link lands in or after <main>"


@pytest.mark.parametrize("shell_page", [p for p in PAGES if p.method == "GET"], ids=lambda p: p.name)
def test_language_switch_works_without_javascript(
    page_without_js: Page, request: pytest.FixtureRequest, shell_page: ShellPage,
) -> None:
    page = page_without_js
    server = server_for(shell_page, request)
    open_shell_page(page, shell_page, server)
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "de")

    with page.expect_navigation() as navigation:
        page.get_by_role("link", name="English", exact=True).click()
    assert navigation.value is not None and navigation.value.status == shell_page.status
    expect(html).to_have_attribute("lang", "en")
    assert page.url == server.url(shell_page.path), "the switch returns to the same page"

    with page.expect_navigation():
        page.get_by_role("link", name="Deutsch", exact=True).click()
    expect(html).to_have_attribute("lang", "de")
    assert page.url == server.url(shell_page.path)


def test_pages_need_no_javascript(page_without_js: Page, live_server: LiveServer) -> None:
    """The shell loads no script at all, so nothing breaks without it."""
    page_without_js.goto(live_server.url("/"))
    expect(page_without_js.locator("script")).to_have_count(0)
    expect(page_without_js.locator("main h1")).to_be_visible()


@pytest.mark.parametrize("language", ["de", "en"])
def test_internal_error_page_shows_error_id_and_no_traceback(
    new_page: PageFactory, failing_server: LiveServer, language: str,
) -> None:
    page = new_page(locale=BROWSER_LOCALES[language])
    log_offset = failing_server.output_size()
    open_shell_page(page, PAGES[-1], failing_server)

    error_id = page.locator("code.error-id").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{12}", error_id), error_id
    body = page.content()
    for leak in ("Traceback", "DeliberateFailure", SECRET_DETAIL, "hunter2", 'File "', "failing_app.py"):
        assert leak not in body, f"the 500 page shows {leak!r}"
    expect(page.locator("[data-message-id='error.500']")).to_be_visible()
    # The id finds the log line of the failure.
    assert error_id in failing_server.output(log_offset)


@pytest.mark.parametrize("shell_page", PAGES, ids=PAGE_IDS)
def test_page_reflows_at_320_css_pixels_without_horizontal_scrolling(
    new_page: PageFactory, request: pytest.FixtureRequest, shell_page: ShellPage,
) -> None:
    """WCAG 1.4.10 Reflow: 320 CSS pixels wide (1280 px at 400 % zoom) needs no sideways scrolling."""
    page = new_page(viewport={"width": 320, "height": 640})
    open_shell_page(page, shell_page, server_for(shell_page, request))
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px of horizontal scrolling at 320 CSS px"
