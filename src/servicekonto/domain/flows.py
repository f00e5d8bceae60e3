"""Self-service flows as stored objects (like ORY Kratos): an id, a kind, a state from the kind's enum,
an expiry and a transition table. The browser carries only the id; the flow lives in the ephemeral store.

Each kind's diagram is `flow_diagrams/<kind>.mermaid` beside this file; a test keeps it equal to the table.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l


class FlowKind(enum.StrEnum):
    REGISTRATION = "registration"
    LOGIN = "login"
    RECOVERY = "recovery"
    DELETION = "deletion"


class FlowState(enum.StrEnum):
    """States across all kinds; each kind's table says which of them it uses."""

    CHOOSE_METHOD = "choose_method"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    PASSWORD = "password"
    SECOND_FACTOR = "second_factor"
    AUTHENTICATED = "authenticated"
    MAIL_SENT = "mail_sent"
    NEW_PASSWORD = "new_password"
    PASSWORD_SET = "password_set"
    CONFIRM = "confirm"
    DELETED = "deleted"


S = FlowState
TRANSITIONS: dict[FlowKind, dict[FlowState, frozenset[FlowState]]] = {
    FlowKind.REGISTRATION: {
        S.CHOOSE_METHOD: frozenset({S.AWAITING_VERIFICATION}),
        S.AWAITING_VERIFICATION: frozenset({S.AWAITING_VERIFICATION, S.VERIFIED}),
        S.VERIFIED: frozenset(),
    },
    FlowKind.LOGIN: {
        S.PASSWORD: frozenset({S.SECOND_FACTOR, S.AUTHENTICATED}),
        S.SECOND_FACTOR: frozenset({S.AUTHENTICATED}),
        S.AUTHENTICATED: frozenset(),
    },
    FlowKind.RECOVERY: {
        S.CHOOSE_METHOD: frozenset({S.MAIL_SENT}),
        S.MAIL_SENT: frozenset({S.MAIL_SENT, S.NEW_PASSWORD}),
        S.NEW_PASSWORD: frozenset({S.PASSWORD_SET}),
        S.PASSWORD_SET: frozenset(),
    },
    FlowKind.DELETION: {
        S.CONFIRM: frozenset({S.DELETED}),
        S.DELETED: frozenset(),
    },
}
INITIAL: dict[FlowKind, FlowState] = {
    FlowKind.REGISTRATION: S.CHOOSE_METHOD,
    FlowKind.LOGIN: S.PASSWORD,
    FlowKind.RECOVERY: S.CHOOSE_METHOD,
    FlowKind.DELETION: S.CONFIRM,
}
LIFETIME: dict[FlowKind, timedelta] = {
    FlowKind.REGISTRATION: timedelta(hours=1),
    FlowKind.LOGIN: timedelta(minutes=30),
    FlowKind.RECOVERY: timedelta(hours=1),
    FlowKind.DELETION: timedelta(minutes=10),
}


class FlowExpired(ServicekontoError):
    code = "flow.expired"
    http_status = 410
    message = _l("This page has expired for your security. Please start again.")


class InvalidFlowTransition(ServicekontoError):
    code = "flow.invalid_transition"
    http_status = 409
    message = _l("This step is not possible now. Please start again.")


class FlowNotFound(ServicekontoError):
    code = "flow.not_found"
    http_status = 410
    message = _l("This page has expired for your security. Please start again.")


@dataclass
class Flow:
    id: str
    kind: FlowKind
    state: FlowState
    issued_at: datetime
    expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, kind: FlowKind, *, flow_id: str, now: datetime, data: dict[str, Any] | None = None) -> Flow:
        return cls(id=flow_id, kind=kind, state=INITIAL[kind], issued_at=now, expires_at=now + LIFETIME[kind],
                   data=dict(data or {}))

    def check_alive(self, *, now: datetime) -> None:
        if now >= self.expires_at:
            raise FlowExpired()

    def advance(self, to: FlowState, *, now: datetime) -> None:
        """Move to `to` if the table allows it and the flow has not expired (STYLE.md §4)."""
        self.check_alive(now=now)
        if to not in TRANSITIONS[self.kind].get(self.state, frozenset()):
            raise InvalidFlowTransition(f"{self.kind}: {self.state} -> {to}")
        self.state = to

    def require(self, *states: FlowState, now: datetime) -> None:
        self.check_alive(now=now)
        if self.state not in states:
            raise InvalidFlowTransition(f"{self.kind}: in {self.state}, needs {states}")

    def ttl(self, *, now: datetime) -> float:
        return max(1.0, (self.expires_at - now).total_seconds())

    def to_json(self) -> bytes:
        return json.dumps({
            "kind": self.kind.value, "state": self.state.value,
            "issued_at": self.issued_at.isoformat(), "expires_at": self.expires_at.isoformat(), "data": self.data,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Flow:
        value = json.loads(raw)
        return cls(id=value.get("id", ""), kind=FlowKind(value["kind"]), state=FlowState(value["state"]),
                   issued_at=datetime.fromisoformat(value["issued_at"]),
                   expires_at=datetime.fromisoformat(value["expires_at"]), data=value["data"])


def mermaid(kind: FlowKind) -> str:
    """The state diagram of a kind, generated from its table (the .mermaid files are compared to this)."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL[kind].value}"]
    for source, targets in TRANSITIONS[kind].items():
        if not targets:
            lines.append(f"    {source.value} --> [*]")
        for target in sorted(targets):
            lines.append(f"    {source.value} --> {target.value}")
    return "\n".join(lines) + "\n"
