"""The accessibility check itself: it fails on serious and critical findings, names them readably, and lets
lesser ones through (returned, not raised)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.support.axe import assert_accessible

pytestmark = pytest.mark.e2e

BROKEN = """<!doctype html><html><head><title>Broken</title></head><body><main><h1>Broken</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#c8c8c8;background:#ffffff" id="faint">Barely readable</p>
</main></body></html>"""

MODERATE_ONLY = """<!doctype html><html lang="en"><head><title>Loose</title></head><body>
<p>Text outside any landmark, and no heading at all.</p></body></html>"""


def test_serious_and_critical_violations_fail_with_a_readable_list(page: Page) -> None:
    page.set_content(BROKEN)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, context="deliberately broken")
    message = str(failure.value)
    assert "deliberately broken" in message
    assert "- image-alt [critical]" in message and "at: img" in message
    assert "- color-contrast [serious]" in message and "#faint" in message
    assert "- html-has-lang [serious]" in message
    assert "dequeuniversity.com" in message  # each finding links its explanation


def test_moderate_findings_are_returned_not_raised(page: Page) -> None:
    page.set_content(MODERATE_ONLY)
    found = assert_accessible(page)
    assert {v.impact for v in found} <= {"moderate", "minor"}
    assert "region" in {v.id for v in found}
