"""Key management (placeholder until the key service lands in this change)."""

from __future__ import annotations


class KeyService:
    def ensure(self) -> None:
        return None

    def rotate(self) -> list[str]:
        return []
