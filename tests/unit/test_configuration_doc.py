"""docs/configuration.md lists every setting, and only settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

from servicekonto.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TABLE_ROW = re.compile(r"^\|\s*`(SERVICEKONTO_[A-Z0-9_]+)`\s*\|", re.MULTILINE)
NOT_A_FIELD = {"SERVICEKONTO_CONFIG"}  # names the TOML file; read before the settings


def documented() -> set[str]:
    return set(TABLE_ROW.findall(DOC.read_text(encoding="utf-8")))


def test_every_setting_has_a_row_in_the_configuration_doc() -> None:
    expected = {f"SERVICEKONTO_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(expected - documented())
    assert not missing, f"add to docs/configuration.md: {missing}"


def test_the_configuration_doc_names_no_setting_that_does_not_exist() -> None:
    known = {f"SERVICEKONTO_{name.upper()}" for name in Settings.model_fields} | NOT_A_FIELD
    unknown = sorted(documented() - known)
    assert not unknown, f"docs/configuration.md documents settings that do not exist: {unknown}"
