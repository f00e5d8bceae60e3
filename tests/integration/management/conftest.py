"""The administration's tests log in with a password only: the second-factor requirement is relaxed to
level 1 here (`admin_min_trust_level`), and tested on its own in test_api_auth.py."""

from __future__ import annotations

import pytest

from servicekonto.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_min_trust_level": 1})
