"""axe-core in Playwright: `assert_accessible(page)` fails on every serious or critical violation.

axe-core comes from the npm registry (`package.json` at the project root; `npm ci` installs it). The pages
send `script-src 'self'`, so axe is not added as a script tag: `page.evaluate` runs it through the DevTools
protocol, which the page's Content Security Policy does not govern. The page itself stays untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AXE_FILE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"

# BITV 2.0 points at EN 301 549, which asks for WCAG 2.1 A and AA; best-practice rules add checks such as
# landmarks and heading order. Only serious and critical findings fail a test.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
FAILING_IMPACTS = frozenset({"serious", "critical"})


class AxeMissing(RuntimeError):
    """axe-core is not installed: run `npm ci` in the project root."""


@cache
def axe_source() -> str:
    if not AXE_FILE.exists():
        raise AxeMissing(f"{AXE_FILE} is missing: run `npm ci` in {PROJECT_ROOT}")
    return AXE_FILE.read_text(encoding="utf-8")


def axe_version() -> str:
    manifest = AXE_FILE.parent / "package.json"
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


@dataclass(frozen=True)
class Violation:
    id: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def describe(self) -> str:
        where = ", ".join(self.targets[:8]) + (f" (+{len(self.targets) - 8} more)" if len(self.targets) > 8 else "")
        return f"- {self.id} [{self.impact}] {self.help}\n    at: {where}\n    see: {self.help_url}"


def run_axe(page: Page, *, tags: tuple[str, ...] = WCAG_TAGS) -> list[Violation]:
    """Every violation axe finds on the current page, whatever its impact."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # `;0` makes the script's completion value plain data, whatever the bundle's last statement is.
        page.evaluate(axe_source() + "\n;0")
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await window.axe.run(document, "
        "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        list(tags),
    )
    return [
        Violation(
            id=item["id"],
            impact=item.get("impact") or "unknown",
            help=item["help"],
            help_url=item["helpUrl"],
            targets=tuple(_selector(node["target"]) for node in item["nodes"]),
        )
        for item in result["violations"]
    ]


def _selector(target: list[Any]) -> str:
    """axe gives a path of selectors (through iframes and shadow roots); one string reads better."""
    return " >> ".join(part if isinstance(part, str) else " ".join(part) for part in target)


def assert_accessible(page: Page, *, context: str = "", tags: tuple[str, ...] = WCAG_TAGS) -> list[Violation]:
    """Fail on any serious or critical violation; return all of them (a test may look at the others)."""
    violations = run_axe(page, tags=tags)
    failing = [v for v in violations if v.impact in FAILING_IMPACTS]
    if failing:
        heading = f"axe-core {axe_version()}: {len(failing)} serious/critical violation(s) on {page.url}"
        if context:
            heading += f" ({context})"
        raise AssertionError(heading + "\n" + "\n".join(v.describe() for v in failing))
    return violations
